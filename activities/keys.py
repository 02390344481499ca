"""Idempotency keys for external writes, stable across activity retries."""

from __future__ import annotations

from temporalio import activity


def workflow_key(suffix: str = "") -> str:
    """``{workflow_id}{suffix}``: the workflow id is deterministic and PHI-free, and a retried
    activity sees the same one, so the downstream system can deduplicate on it."""
    workflow_id = activity.info().workflow_id
    if not workflow_id:
        raise RuntimeError("this activity must run inside a workflow")
    return f"{workflow_id}{suffix}"
