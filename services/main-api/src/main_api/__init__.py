"""Kontaxa main-api: the public API."""
