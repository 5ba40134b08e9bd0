"""Cross-cutting code shared by the Kontaxa services."""
