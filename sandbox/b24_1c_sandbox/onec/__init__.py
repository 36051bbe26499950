"""1C:Enterprise emulator (OData / SOAP sandbox)."""
