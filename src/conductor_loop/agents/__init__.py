"""Agent backends behind one protocol (spec §5)."""
