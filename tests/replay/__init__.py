"""Replay of recorded workflow histories: the determinism guard."""
