"""The performance budgets of DESIGN.md §7, in one place for every benchmark."""

OVERHEAD_P95_MS_1_CALL = 15.0  # our own per-turn overhead, p95, at 1 call
OVERHEAD_P95_MS_MANY = 40.0  # ... at up to 200 concurrent calls on one core
BARGE_IN_MS = 120.0  # caller speech onset -> clear sent
JITTER_P99_MS = 20.0  # outbound pacing jitter, p99, while holding the calls
CALLS_PER_CORE = 200  # concurrent calls per core with instant providers
MEMORY_MB_PER_CALL = 2.0  # cloud or instant providers
BOOK_P95_MS = 150.0  # hold + Update-with-Start answer on the local dev server
CONFIRMATION_P95_MS = 2000.0  # call end -> confirmation SMS queued


def overhead_goal(calls: int) -> float:
    return OVERHEAD_P95_MS_1_CALL if calls <= 1 else OVERHEAD_P95_MS_MANY
