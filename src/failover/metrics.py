"""metrics (being built)."""
