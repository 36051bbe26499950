"""1C:Enterprise clients: OData (standard.odata) and SOAP web services."""
