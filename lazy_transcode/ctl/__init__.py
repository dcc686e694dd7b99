"""ltctl: the thin client of ltd."""
