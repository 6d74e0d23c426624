"""api (being built)."""
