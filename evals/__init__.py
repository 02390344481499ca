"""Conversation evals: scenarios as data, run as text calls or as audio calls."""
