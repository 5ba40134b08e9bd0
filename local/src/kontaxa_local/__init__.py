"""The Kontaxa local-first runner."""
