"""service (being built)."""
