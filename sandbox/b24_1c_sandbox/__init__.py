"""Faithful in-process emulators of a Bitrix24 portal and a 1C infobase, plus a realistic dataset."""
