"""Protecting patient data: encryption, blind indexes, the audit trail and request limits.

Import the submodules directly (``core.security.crypto`` …): the models import ``crypto`` for
their column type, and ``audit`` imports the models, so this package imports nothing itself.
"""
