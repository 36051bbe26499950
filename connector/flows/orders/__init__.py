"""The orders flow: its source, target and pure rules."""
