"""Thin Temporal activities: validate input, call an integration, classify errors."""
