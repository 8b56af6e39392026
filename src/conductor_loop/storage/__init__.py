"""On-disk layout, identifiers, run-info records and atomic writes (spec §3)."""
