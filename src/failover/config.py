"""config (being built)."""
