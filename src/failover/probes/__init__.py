"""probes (being built)."""
