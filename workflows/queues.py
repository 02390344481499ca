"""Task queue names. Kept apart so in-call work is never stuck behind bulk campaign work.

A deployment may prefix every name (``RECEPTIONIST_TASK_QUEUE_PREFIX``; tests use one per test);
a workflow finds its sibling queues from its own queue's name, deterministically.
"""

INTERACTIVE = "interactive"  # answers a caller is waiting for (booking acceptance)
SIDE_EFFECTS = "side-effects"  # EHR writes, messages, CRM, wrap-up
CAMPAIGNS = "campaigns"  # reminders and recall fan-out

ALL = (INTERACTIVE, SIDE_EFFECTS, CAMPAIGNS)


def named(prefix: str, base: str) -> str:
    return f"{prefix}{base}"


def sibling(current: str, base: str) -> str:
    """The queue ``base`` of the same deployment as the queue ``current``."""
    for name in ALL:
        if current.endswith(name):
            return current[: -len(name)] + base
    return base
