"""Accounts: users and their passwords, login sessions and API tokens."""
