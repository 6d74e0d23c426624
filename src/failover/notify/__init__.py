"""notify (being built)."""
