"""The deals_to_orders flow: its source, target and pure rules."""
