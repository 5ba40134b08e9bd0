"""The Kontaxa e2e suite's support code, shared by every test tier."""
