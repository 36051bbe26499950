"""Declarative YAML mappings: schema, transforms and the pure engine."""
