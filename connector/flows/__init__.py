"""Flows: a source and a target for each mapping, chosen by the mapping's systems and entities."""
