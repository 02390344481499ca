"""Temporal workflow definitions: deterministic, no I/O; activities are referenced, not run here."""
