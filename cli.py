"""`receptionist`: one entry point for every process and chore.

receptionist dev        the whole local stack (Temporal dev server, worker, API) + a demo call
receptionist call ...   a scripted call into the running stack
receptionist api        the HTTP/WebSocket edge
receptionist worker     the Temporal worker
receptionist temporal   only the Temporal dev server
receptionist migrate    apply database migrations
receptionist seed       migrate, then load the demo clinic (or --config clinic.json)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.clinic_config import ClinicConfigError, parse_clinic_config
from core.db import Database, DatabaseUnavailable, explain_unreachable
from core.logging import configure_logging
from core.settings import Settings, get_settings
from core.temporal import TemporalUnavailable
from stack.devserver import DevServerError
from stack.temporal_cli import TemporalCliUnavailable

# Failures that have a message for a human, not a traceback.
EXPECTED = (
    ClinicConfigError,
    DatabaseUnavailable,
    TemporalUnavailable,
    TemporalCliUnavailable,
    DevServerError,
)


def _run_until_signal(make: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await make(stop)

    asyncio.run(main())


def migrate(settings: Settings) -> None:
    from core.migrate import upgrade

    try:
        upgrade(settings.resolved_database_url)
    except Exception as exc:
        if isinstance(exc, EXPECTED):
            raise
        raise explain_unreachable(settings.resolved_database_url, exc) from None


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    migrate(settings)
    print("Database is up to date.")


def cmd_seed(settings: Settings, args: argparse.Namespace) -> None:
    from core.demo.seed import seed_clinic, seed_demo

    migrate(settings)

    config = parse_clinic_config(json.loads(Path(args.config).read_text())) if args.config else None

    async def run() -> None:
        db = Database(settings.resolved_database_url)
        try:
            if config is not None:
                clinic = await seed_clinic(db, config)
                print(f"Clinic {clinic.name!r} ({clinic.slug}) saved.")
            else:
                report = await seed_demo(db)
                print(
                    f"Demo clinic {report.clinic_name!r} ready: {report.patients} patients, "
                    f"{report.appointments} appointments."
                )
        finally:
            await db.dispose()

    asyncio.run(run())


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> None:
    from worker import run_worker

    _run_until_signal(lambda stop: run_worker(settings, stop))


def cmd_api(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        "api:create_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,
        ws="websockets-sansio",
        # uvloop's subprocess pipes are socketpairs, which flite's /dev/stdin and espeak-ng's
        # WAV output do not accept; the offline TTS engines need the standard loop.
        loop="asyncio",
    )


def cmd_temporal(settings: Settings, _args: argparse.Namespace) -> None:
    from stack.devserver import DevServer
    from stack.temporal_cli import ensure_temporal_cli

    host, _, port = settings.temporal_address.rpartition(":")
    server = DevServer(
        ensure_temporal_cli(settings), settings.temporal_db_file, host=host, port=int(port),
        ui_port=settings.temporal_ui_port,
    )  # fmt: skip

    async def run(stop: asyncio.Event) -> None:
        server.start()
        try:
            await server.wait_ready()
            print(
                f"Temporal dev server on {server.address}, UI port {server.ui_port}; Ctrl-C stops."
            )
            await stop.wait()
        finally:
            server.stop()

    _run_until_signal(run)


def cmd_dev(settings: Settings, args: argparse.Namespace) -> None:
    from stack.local_stack import run_local_stack
    from stack.temporal_cli import ensure_temporal_cli

    ensure_temporal_cli(settings)  # build first, so its progress is not mixed with the rest
    cmd_seed(settings, argparse.Namespace(config=None))
    _run_until_signal(lambda stop: run_local_stack(settings, stop, demo=not args.no_demo))


def cmd_call(settings: Settings, args: argparse.Namespace) -> None:
    from stack.demo import DEMO_CALLER, DEMO_LINES, run_call

    lines = args.lines or DEMO_LINES
    raise SystemExit(asyncio.run(run_call(settings, lines, from_number=args.caller or DEMO_CALLER)))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="receptionist", description=__doc__.split("\n\n")[0])
    sub = root.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole local stack and a demo call")
    dev.add_argument("--no-demo", action="store_true", help="start the stack without the demo call")
    dev.set_defaults(func=cmd_dev)
    call = sub.add_parser("call", help="place a scripted call into the running stack")
    call.add_argument("lines", nargs="*", help="what the caller says, one argument per turn")
    call.add_argument("--caller", help="the caller's number (E.164)")
    call.set_defaults(func=cmd_call)
    api = sub.add_parser("api", help="run the HTTP/WebSocket edge")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)
    sub.add_parser("worker", help="run the Temporal worker").set_defaults(func=cmd_worker)
    sub.add_parser("temporal", help="run only the Temporal dev server").set_defaults(
        func=cmd_temporal
    )
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="load the demo clinic, or a clinic from a JSON file")
    seed.add_argument("--config", help="clinic configuration JSON (default: the demo clinic)")
    seed.set_defaults(func=cmd_seed)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        args.func(settings, args)
    except EXPECTED as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
