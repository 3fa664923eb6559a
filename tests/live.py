"""Fixtures for live servers and browsers (filled in with the server)."""
