"""The Bitrix24 portal emulator: REST routes, envelope, limits, batch, CRM entities."""
