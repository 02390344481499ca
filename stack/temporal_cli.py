"""Find or build the Temporal CLI, whose dev server is the embedded workflow engine.

Order: ``TEMPORAL_CLI_PATH``, then ``temporal`` on PATH, then our cache, then a one-time
``go install`` of the pinned tag into the cache (outside the checkout, shared by all clones).
v1.5.1 is the newest tag ``go install`` accepts: later tags carry a ``replace`` directive.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from core.settings import TEMPORAL_CLI_VERSION, Settings

log = logging.getLogger(__name__)
MODULE = "github.com/temporalio/cli/cmd/temporal"
MIN_GO = (1, 25)


class TemporalCliUnavailable(RuntimeError):
    """No binary, and it cannot be built here; the message says what to install."""


def cached_binary(settings: Settings) -> Path:
    return settings.cache_dir / f"temporal-{TEMPORAL_CLI_VERSION}" / "temporal"


def find_temporal_cli(settings: Settings) -> Path | None:
    if settings.temporal_cli_path:
        if not settings.temporal_cli_path.exists():
            raise TemporalCliUnavailable(
                f"TEMPORAL_CLI_PATH={settings.temporal_cli_path} does not exist"
            )
        return settings.temporal_cli_path
    on_path = shutil.which("temporal")
    if on_path:
        return Path(on_path)
    cached = cached_binary(settings)
    return cached if cached.exists() else None


def _go_version(go: str) -> tuple[int, int]:
    out = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout
    major, minor = out.strip().removeprefix("go").split(".")[:2]
    return int(major), int(minor)


def build_temporal_cli(settings: Settings) -> Path:
    """``go install`` the pinned CLI into the cache. Takes a few minutes the first time."""
    go = shutil.which("go")
    if go is None:
        raise TemporalCliUnavailable(
            "The Temporal dev server is needed and no `temporal` binary was found. Install Go "
            f">= {MIN_GO[0]}.{MIN_GO[1]} (https://go.dev/dl) so it can be built once, or put a "
            "`temporal` binary on PATH, or set TEMPORAL_CLI_PATH."
        )
    if _go_version(go) < MIN_GO:
        raise TemporalCliUnavailable(
            f"Go {'.'.join(map(str, _go_version(go)))} is too old to build the Temporal CLI "
            f"{TEMPORAL_CLI_VERSION}; it needs Go >= {MIN_GO[0]}.{MIN_GO[1]}."
        )
    target = cached_binary(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(target.parent), GOFLAGS="-buildvcs=false")
    print(
        f"Building the Temporal CLI {TEMPORAL_CLI_VERSION} with Go into {target.parent} "
        "(one time only; takes 3-10 minutes on 2 cores)...",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    result = subprocess.run(
        [go, "install", "-ldflags", "-s -w", f"{MODULE}@{TEMPORAL_CLI_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not target.exists():
        raise TemporalCliUnavailable(
            "Building the Temporal CLI failed. Check that the Go module proxy is reachable "
            "(GOPROXY) and checksums verify (GOSUMDB).\n" + result.stderr[-4000:]
        )
    print(f"Built {target} in {time.monotonic() - started:.0f} s.", file=sys.stderr, flush=True)
    return target


def ensure_temporal_cli(settings: Settings) -> Path:
    return find_temporal_cli(settings) or build_temporal_cli(settings)


def main() -> None:
    """``python -m stack.temporal_cli``: print the binary's path, building it if needed."""
    from core.settings import get_settings

    try:
        print(ensure_temporal_cli(get_settings()))
    except TemporalCliUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
