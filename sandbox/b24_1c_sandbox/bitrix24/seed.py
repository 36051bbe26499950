"""What a fresh portal already holds: users, pipelines and their stages, directories, our own company."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24_1c_sandbox.bitrix24.portal import Portal

USERS: list[tuple[str, str, str, bool]] = [  # (name, last name, email, admin)
    ("Администратор", "Портала", "admin@sandbox.example", True),
    ("Ирина", "Менеджерова", "irina@sandbox.example", False),
    ("Пётр", "Продажин", "petr@sandbox.example", False),
    ("Ольга", "Бухгалтерова", "olga@sandbox.example", False),
    ("Уволен", "Бывшев", "former@sandbox.example", False),
]

# (entityTypeId, category id, name, default, stage entity, [(status id, name, semantics)])
PIPELINES: list[tuple[int, int, str, bool, str, list[tuple[str, str, str]]]] = [
    (
        2,
        0,
        "Общая",
        True,
        "DEAL_STAGE",
        [
            ("NEW", "Новая", "process"),
            ("PREPARATION", "Подготовка документов", "process"),
            ("PREPAYMENT_INVOICE", "Счёт на предоплату", "process"),
            ("EXECUTING", "В работе", "process"),
            ("FINAL_INVOICE", "Финальный счёт", "process"),
            ("WON", "Сделка успешна", "success"),
            ("LOSE", "Сделка провалена", "failure"),
            ("APOLOGY", "Анализ причины провала", "failure"),
        ],
    ),
    (
        2,
        1,
        "Опт",
        False,
        "DEAL_STAGE_1",
        [
            ("C1:NEW", "Новая", "process"),
            ("C1:PREPARATION", "Подготовка", "process"),
            ("C1:EXECUTING", "Отгрузка", "process"),
            ("C1:WON", "Успешна", "success"),
            ("C1:LOSE", "Провалена", "failure"),
        ],
    ),
    (
        31,
        3,
        "Счета",
        True,
        "SMART_INVOICE_STAGE_3",
        [
            ("DT31_3:N", "Новый", "process"),
            ("DT31_3:S", "Отправлен клиенту", "process"),
            ("DT31_3:P", "Оплачен", "success"),
            ("DT31_3:D", "Отклонён", "failure"),
        ],
    ),
    (
        1038,
        5,
        "Отгрузки",
        True,
        "DYNAMIC_1038_STAGE_5",
        [
            ("DT1038_5:NEW", "Новая", "process"),
            ("DT1038_5:PREPARATION", "Сборка", "process"),
            ("DT1038_5:SUCCESS", "Отгружено", "success"),
            ("DT1038_5:FAIL", "Отменено", "failure"),
        ],
    ),
]

DIRECTORIES: dict[str, list[tuple[str, str]]] = {
    "DEAL_TYPE": [
        ("SALE", "Продажа"),
        ("COMPLEX", "Комплексная продажа"),
        ("GOODS", "Продажа товара"),
        ("SERVICES", "Продажа услуги"),
    ],
    "SOURCE": [("CALL", "Звонок"), ("EMAIL", "Электронная почта"), ("WEB", "Веб-сайт"), ("OTHER", "Другое")],
    "CONTACT_TYPE": [("CLIENT", "Клиенты"), ("SUPPLIER", "Поставщики"), ("OTHER", "Другое")],
    "COMPANY_TYPE": [
        ("CUSTOMER", "Клиент"),
        ("SUPPLIER", "Поставщик"),
        ("PARTNER", "Партнёр"),
        ("OTHER", "Другое"),
    ],
}
_COLORS = {"process": "#39A8EF", "success": "#7BD500", "failure": "#FF5752"}


def seed_portal(portal: Portal) -> None:
    """Fill the directories of a fresh portal; entities are created through the API or the dataset."""
    now = portal.iso_now()
    for n, (name, last, email, admin) in enumerate(USERS, start=1):
        portal.users[n] = {
            "ID": str(n),
            "ACTIVE": name != "Уволен",
            "NAME": name,
            "LAST_NAME": last,
            "SECOND_NAME": "",
            "EMAIL": email,
            "PERSONAL_PHONE": "",
            "WORK_POSITION": "Администратор" if admin else "Менеджер",
            "UF_DEPARTMENT": [1],
            "USER_TYPE": "employee",
            "IS_ADMIN": admin,
            "TIME_ZONE": "",
            "DATE_REGISTER": portal.render_date("2020-01-15"),
            "TIMESTAMP_X": now,
            "LAST_LOGIN": now,
            "IS_ONLINE": "N",
        }
    status_id = 0
    for entity_type, cat_id, cat_name, default, entity_id, stages in PIPELINES:
        portal.categories.setdefault(entity_type, []).append(
            {
                "id": cat_id,
                "name": cat_name,
                "sort": 100 if default else 200,
                "entityTypeId": entity_type,
                "isDefault": "Y" if default else "N",
                "originId": "",
                "originatorId": "",
            }
        )
        for sort, (sid, name, semantics) in enumerate(stages, start=1):
            status_id += 1
            portal.statuses.append(
                _status(
                    status_id,
                    entity_id,
                    sid,
                    name,
                    sort * 10,
                    semantics,
                    cat_id if entity_id != "DEAL_STAGE" else None,
                )
            )
    for entity_id, rows in DIRECTORIES.items():
        for sort, (sid, name) in enumerate(rows, start=1):
            status_id += 1
            portal.statuses.append(_status(status_id, entity_id, sid, name, sort * 10, None, None))
    # The seller's own company ("isMyCompany"), needed by smart invoices (`mycompanyId`).
    company_id = portal.next_id("company")
    portal.store("company")[company_id] = {
        "ID": str(company_id),
        "TITLE": "ООО «Наша фирма»",
        "COMPANY_TYPE": "OTHER",
        "IS_MY_COMPANY": "Y",
        "CURRENCY_ID": "RUB",
        "REVENUE": "0.00",
        "OPENED": "Y",
        "ASSIGNED_BY_ID": "1",
        "CREATED_BY_ID": "1",
        "MODIFY_BY_ID": "1",
        "DATE_CREATE": now,
        "DATE_MODIFY": now,
        "HAS_PHONE": "N",
        "HAS_EMAIL": "N",
        "ORIGINATOR_ID": None,
        "ORIGIN_ID": None,
    }


def _status(
    n: int, entity_id: str, sid: str, name: str, sort: int, semantics: str | None, category: int | None
) -> dict[str, Any]:
    color = _COLORS.get(semantics or "", "#ACE9FB")
    legacy_sem = {"success": "S", "failure": "F"}.get(semantics or "")
    extra = {"SEMANTICS": semantics, "COLOR": color} if semantics else None
    row: dict[str, Any] = {
        "ID": str(n),
        "ENTITY_ID": entity_id,
        "STATUS_ID": sid,
        "NAME": name,
        "NAME_INIT": name,
        "SORT": str(sort),
        "SYSTEM": "Y",
        "COLOR": color,
        "SEMANTICS": legacy_sem,
        "CATEGORY_ID": None if category is None else str(category),
    }
    if extra is not None:
        row["EXTRA"] = extra
    return row


def stage_semantics(portal: Portal, stage_id: str | None) -> str:
    """P / S / F for a stage id, from the directories."""
    for row in portal.statuses:
        if row["STATUS_ID"] == stage_id and "EXTRA" in row:
            return {"success": "S", "failure": "F"}.get(row["EXTRA"]["SEMANTICS"], "P")
    return "P"


def first_stage(portal: Portal, stage_entity: str) -> str | None:
    """The first stage (lowest SORT) of a pipeline."""
    rows = [r for r in portal.statuses if r["ENTITY_ID"] == stage_entity]
    return min(rows, key=lambda r: int(r["SORT"]))["STATUS_ID"] if rows else None


def default_category(portal: Portal, entity_type: int) -> int:
    """The pipeline marked isDefault for an entity type."""
    for cat in portal.categories.get(entity_type, []):
        if cat["isDefault"] == "Y":
            return int(cat["id"])
    return 0
