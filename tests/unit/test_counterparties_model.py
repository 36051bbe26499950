"""Pure rules of the counterparties flow: validation, kinds, names, match keys, candidates, twins, requisites."""

from __future__ import annotations

from typing import Any

import pytest

from connector.flows.counterparties.model import (
    Candidate,
    Party,
    choose,
    new_values,
    normalize_phone,
    party_of,
    requisite_change,
    split_ref,
    target_ref,
    twins,
)
from connector.records import Action, Mapped

RULES = ["inn_kpp", "external_key", "phone", "email"]


def party(key: str = "k1", **fields: Any) -> Party:
    fields.setdefault("TITLE", "ООО «Ромашка»")
    made = party_of(Action("create", Mapped(key, None, fields)))
    assert isinstance(made, Party), made
    return made


def problem(**fields: Any) -> str:
    made = party_of(Action("create", Mapped("k", None, fields)))
    assert isinstance(made, str)
    return made


def test_legal_entity_needs_a_ten_digit_inn_and_a_valid_kpp() -> None:
    assert "RQ_INN is empty" in problem(TITLE="ООО «А»")
    assert "not an ИНН of a company (10 digits)" in problem(TITLE="А", RQ_INN="770123456789")
    assert "RQ_KPP '7701' is not a КПП" in problem(TITLE="А", RQ_INN="7701234567", RQ_KPP="7701")
    p = party(RQ_INN=" 7701234567 ", RQ_KPP="7701AB001")
    assert (p.entity, p.preset, p.inn, p.kpp) == ("company", 1, "7701234567", "7701AB001")
    assert p.requisite["NAME"] == "ООО «Ромашка»"


def test_entrepreneur_is_a_company_with_preset_2_and_no_kpp() -> None:
    p = party(KIND="entrepreneur", RQ_INN="770123456789", RQ_KPP="770101001")
    assert (p.entity, p.preset, p.kpp) == ("company", 2, "")
    assert "12 digits" in problem(KIND="entrepreneur", TITLE="ИП", RQ_INN="7701234567")


def test_person_becomes_a_contact_with_split_name_and_optional_inn() -> None:
    p = party(KIND="person", TITLE="Иванова Анна Петровна")
    assert p.entity == "contact" and p.preset == 3 and "TITLE" not in p.fields
    assert p.fields == {"LAST_NAME": "Иванова", "NAME": "Анна", "SECOND_NAME": "Петровна"}
    assert p.requisite == {} and requisite_change(p, [], "1C") is None


def test_unknown_kind_bad_contacts_and_empty_title_are_reasons() -> None:
    assert "KIND is 'alien'" in problem(KIND="alien", TITLE="x")
    assert "TITLE is empty" in problem(TITLE=" ", RQ_INN="7701234567")
    assert "EMAIL 'nope' is not an e-mail" in problem(TITLE="x", RQ_INN="7701234567", EMAIL="a@b.ru; nope")
    assert "PHONE '12-3'" in problem(TITLE="x", RQ_INN="7701234567", PHONE="12-3")


def test_phones_and_emails_split_and_normalize() -> None:
    p = party(RQ_INN="7701234567", PHONE="+7 (912) 000-11-22; 8 912 000 11 23", EMAIL=["A@B.ru"])
    assert p.phones == ("+7 (912) 000-11-22", "8 912 000 11 23") and p.emails == ("A@B.ru",)
    assert normalize_phone("8 (912) 000-11-22") == normalize_phone("+79120001122") == "9120001122"
    assert ("email", "company", "a@b.ru") in p.match_keys(RULES)
    assert new_values("PHONE", ["+7 912 000-11-22", "8 999 1112233"], ["89120001122"]) == ["8 999 1112233"]


def test_contact_ids_carry_the_bitrix_prefix() -> None:
    assert target_ref("contact", "5") == "C_5" and split_ref("C_5") == ("contact", "5")
    assert split_ref(target_ref("company", "5")) == ("company", "5")


def test_choose_follows_the_rule_order_and_takes_the_lowest_id() -> None:
    p = party(RQ_INN="7701234567", PHONE="+79120001122")
    found = {"phone": ["3"], "inn_kpp": ["9", "4"]}
    assert choose(p, RULES, found, {}, "1C") == ("4", "inn_kpp")
    assert choose(p, ["phone", "inn_kpp"], found, {}, "1C") == ("3", "phone")


@pytest.mark.parametrize(
    ("cand", "ok"),
    [
        (Candidate("3"), True),
        (Candidate("3", "1C", "k1"), True),
        (Candidate("3", "1C", "other-ref"), False),  # another 1C counterparty
        (Candidate("3", inns={"7709999999"}), False),  # another legal entity
        (Candidate("3", inns={"7701234567"}), True),
    ],
)
def test_fuzzy_candidates_are_vetted(cand: Candidate, ok: bool) -> None:
    p = party(RQ_INN="7701234567", PHONE="+79120001122")
    assert (choose(p, ["phone"], {"phone": ["3"]}, {"3": cand}, "1C") is not None) is ok


def test_inn_kpp_match_adopts_even_a_company_of_another_1c_duplicate() -> None:
    p = party(RQ_INN="7701234567")
    assert choose(p, ["inn_kpp"], {"inn_kpp": ["3"]}, {"3": Candidate("3", "1C", "other")}, "1C") == (
        "3",
        "inn_kpp",
    )


def test_twins_in_one_page_share_by_inn_kpp_and_phone_but_not_across_inns() -> None:
    a = party("a", RQ_INN="7701234567", RQ_KPP="770101001", PHONE="+79120001122")
    b = party("b", RQ_INN="7701234567", RQ_KPP="770101001")
    branch = party("c", RQ_INN="7701234567", RQ_KPP="770102001")
    other = party("d", RQ_INN="7709999999", PHONE="8 912 000 11 22")
    no_inn = party("e", KIND="foreign", PHONE="89120001122")
    assert twins([a, b, branch, other, no_inn], RULES) == {"b": "a", "e": "a"}
    assert twins([a, no_inn], ["inn_kpp"]) == {}


def test_requisite_change_adds_updates_takes_over_or_leaves_alone() -> None:
    p = party("k1", RQ_INN="7701234567", RQ_KPP="770101001")
    kind, _, fields = requisite_change(p, [], "1C") or ("", None, {})
    assert kind == "add" and fields["XML_ID"] == "k1" and fields["PRESET_ID"] == "1"
    ours = {
        "ID": "7",
        "XML_ID": "k1",
        "ORIGINATOR_ID": "1C",
        "RQ_INN": "7701234567",
        "RQ_KPP": "770101002",
        "NAME": "ООО «Ромашка»",
    }
    assert requisite_change(p, [ours], "1C") == ("update", "7", {"RQ_KPP": "770101001"})
    assert requisite_change(p, [{**ours, "RQ_KPP": "770101001"}], "1C") is None
    free = {"ID": "8", "RQ_INN": "7701234567", "RQ_KPP": "770101001", "NAME": "Реквизиты"}
    assert requisite_change(p, [free], "1C") == (
        "update",
        "8",
        {"NAME": "ООО «Ромашка»", "ORIGINATOR_ID": "1C", "XML_ID": "k1"},
    )
    twin = {**free, "XML_ID": "k0", "ORIGINATOR_ID": "1C"}
    assert requisite_change(p, [twin], "1C") is None


def test_phone_and_email_kinds_carry_their_multifield_value_type() -> None:
    p = party(
        RQ_INN="7701234567",
        RQ_KPP="770101001",
        PHONE=["+7 495 111-22-33"],
        PHONE_MOBILE=["8 (912) 000-00-01"],
        EMAIL_HOME="me@example.ru",
    )
    assert p.phones == ("+7 495 111-22-33", "8 (912) 000-00-01") and p.emails == ("me@example.ru",)
    assert p.value_type("PHONE", "+7 495 111-22-33") == "WORK"
    assert p.value_type("PHONE", "+79120000001") == "MOBILE"  # the same number, as Bitrix24 compares it
    assert p.value_type("EMAIL", "ME@example.ru") == "HOME"
    assert "EMAIL_MOBILE: EMAIL has no VALUE_TYPE MOBILE (valid: WORK, HOME, MAILING, OTHER)" in problem(
        TITLE="ООО «А»", RQ_INN="7701234567", EMAIL_MOBILE="a@b.ru"
    )
