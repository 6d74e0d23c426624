"""logs (being built)."""
