"""Bitrix24 REST client: transport, encoding, entity helpers."""
