"""The managers flow: its source, target and pure rules."""
