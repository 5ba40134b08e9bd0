"""Root conftest: registers the shared fixtures of kontaxa_e2e for every test tier."""

pytest_plugins = ["kontaxa_e2e.fixtures"]
