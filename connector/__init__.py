"""b24-1c: exactly-once connector between Bitrix24 CRM and 1C:Enterprise."""

__version__ = "0.1.0"
