"""The machine side of the voice benchmarks: CPU pinning, event loops, CPU, memory and
run-queue readings of this process (Linux ``/proc``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator

SERVER_CPU, CALLER_CPU = 0, 1


def new_loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def pin_process_tree(pid: int, cpu: int) -> None:
    """Every thread of another process (``sched_setaffinity`` on a pid is per thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(tid), {cpu})


@contextlib.contextmanager
def affinity(cpu: int | None) -> Iterator[None]:
    """Run the calling thread on ``cpu`` for a moment (a child started here inherits it)."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.asynccontextmanager
async def tempdir() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="receptionist-voice-bench-") as path:
        yield path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def runqueue_wait_s() -> float:
    """Time the calling thread has spent runnable but waiting for a CPU (another process had
    it): the share of a window lost to other load on the machine."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def children_cpu_seconds(pids: list[int]) -> float:
    """CPU time of live child processes (the offline engines' decoder workers), by ``/proc``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def reaped_children_cpu_seconds() -> float:
    """CPU time of child processes that have exited (flite runs one per sentence)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
