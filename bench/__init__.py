"""Benchmarks of the running system. Not tests: they print figures, they do not assert goals."""
