"""detect (being built)."""
