"""Clients of main-api's upstreams."""
