"""The invoices flow: its source, target and pure rules."""
