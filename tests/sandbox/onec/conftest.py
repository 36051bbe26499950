"""Fixtures for the 1C emulator suites (helpers live in onecemu.py)."""

from onecemu import onec, onec_profile  # noqa: F401 - fixtures re-exported for pytest
