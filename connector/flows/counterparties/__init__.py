"""The counterparties flow: its source, target and pure rules."""
