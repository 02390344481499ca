"""`receptionist`: one entry point for every process and chore.

receptionist dev        the whole local stack (Temporal dev server, worker, API) + a demo call
receptionist call ...   a scripted call into the running stack
receptionist api        the HTTP/WebSocket edge
receptionist worker     the Temporal worker
receptionist temporal   only the Temporal dev server
receptionist migrate    apply database migrations
receptionist ehr-sync   pull a clinic's EHR schedule into the local store now
receptionist seed       migrate, then load the demo clinic (or --config clinic.json)
receptionist user create  an operator or clinic user (the first admin), optionally with a token
receptionist mllp-listen  receive HL7 SIU messages from a practice-management system
receptionist keys rotate  make a new encryption key active and re-encrypt PHI under it
receptionist campaign ... create, preview, start, pause, resume, cancel, status of campaigns
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.accounts.command import register as register_user_commands
from core.clinic_config import ClinicConfigError, parse_clinic_config
from core.db import Database, DatabaseUnavailable, explain_unreachable
from core.logging import configure_logging
from core.security.crypto import KeyringError
from core.settings import Settings, get_settings
from core.temporal import TemporalUnavailable
from durable.campaign_command import register as register_campaign_commands
from stack.devserver import DevServerError
from stack.temporal_cli import TemporalCliUnavailable

# Failures that have a message for a human, not a traceback.
EXPECTED = (
    ClinicConfigError,
    DatabaseUnavailable,
    TemporalUnavailable,
    TemporalCliUnavailable,
    DevServerError,
    KeyringError,
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
        # Media frames are base64 μ-law, which deflate cannot shrink: compressing them cost
        # ~11% of the API's CPU per call (bench/voice).
        ws_per_message_deflate=False,
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

    async def run(stop: asyncio.Event) -> None:
        if not settings.mllp_listen_in_dev:
            await run_local_stack(settings, stop, demo=not args.no_demo)
            return
        await asyncio.gather(
            run_local_stack(settings, stop, demo=not args.no_demo),
            _listen_mllp(settings, stop, settings.mllp_listen_host, settings.mllp_listen_port),
        )

    _run_until_signal(run)


async def _listen_mllp(settings: Settings, stop: asyncio.Event, host: str, port: int) -> None:
    from integrations.ehr.hl7.listener import MllpListener

    db = Database(settings.resolved_database_url)
    try:
        listener = MllpListener(db, host, port)
        await listener.start()
        print(f"HL7 SIU listener on {host}:{listener.port} (MLLP).", flush=True)
        try:
            await stop.wait()
        finally:
            await listener.close()
    finally:
        await db.dispose()


def cmd_mllp_listen(settings: Settings, args: argparse.Namespace) -> None:
    migrate(settings)
    host = args.host or settings.mllp_listen_host
    port = settings.mllp_listen_port if args.port is None else args.port
    _run_until_signal(lambda stop: _listen_mllp(settings, stop, host, port))


def cmd_ehr_sync(settings: Settings, args: argparse.Namespace) -> None:
    """Pull the clinic's EHR schedule now (the worker must be running), and print what changed."""
    from sqlmodel import select
    from temporalio.common import WorkflowIDConflictPolicy

    from activities.ehr_sync import SyncInput, SyncResult
    from core.models import Clinic
    from core.temporal import connect
    from workflows import queues
    from workflows.ehr_sync import EhrSyncWorkflow, sync_now_id

    async def run() -> SyncResult:
        db = Database(settings.resolved_database_url)
        try:
            async with db.read() as session:
                found = await session.exec(select(Clinic).where(Clinic.slug == args.clinic))
                clinic = found.first()
        finally:
            await db.dispose()
        if clinic is None:
            raise SystemExit(f"No clinic with slug {args.clinic!r}.")
        client = await connect(settings)
        return await client.execute_workflow(
            EhrSyncWorkflow.run,
            SyncInput(clinic.id),
            id=sync_now_id(clinic.id),
            task_queue=queues.named(settings.task_queue_prefix, queues.SIDE_EFFECTS),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # join a run in progress
        )

    result = asyncio.run(run())
    if result.skipped:
        print(f"Nothing pulled: {result.skipped}.")
        return
    print(json.dumps(result.counts(), sort_keys=True))


def cmd_call(settings: Settings, args: argparse.Namespace) -> None:
    from stack.demo import DEMO_CALLER, DEMO_LINES, run_call

    lines = args.lines or DEMO_LINES
    raise SystemExit(asyncio.run(run_call(settings, lines, from_number=args.caller or DEMO_CALLER)))


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> None:
    from core.security.rotation import rotate_keys

    migrate(settings)
    report = asyncio.run(
        rotate_keys(settings, new_key=not args.reencrypt_only, batch_size=args.batch_size)
    )
    print(
        f"Active key {report.active_key}: re-encrypted {sum(report.rows.values())} rows and "
        f"{report.recordings} recordings. Restart the API and worker so they load the keyring."
    )


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
    mllp = sub.add_parser("mllp-listen", help="receive HL7 SIU messages (MLLP) into the schedule")
    mllp.add_argument("--host", help="bind address (default RECEPTIONIST_MLLP_LISTEN_HOST)")
    mllp.add_argument("--port", type=int, help="port (default RECEPTIONIST_MLLP_LISTEN_PORT)")
    mllp.set_defaults(func=cmd_mllp_listen)
    ehr_sync = sub.add_parser("ehr-sync", help="pull a clinic's EHR schedule now")
    ehr_sync.add_argument("clinic", help="the clinic's slug")
    ehr_sync.set_defaults(func=cmd_ehr_sync)
    sub.add_parser("temporal", help="run only the Temporal dev server").set_defaults(
        func=cmd_temporal
    )
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    register_user_commands(sub, migrate)
    register_campaign_commands(sub)
    seed = sub.add_parser("seed", help="load the demo clinic, or a clinic from a JSON file")
    seed.add_argument("--config", help="clinic configuration JSON (default: the demo clinic)")
    seed.set_defaults(func=cmd_seed)
    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="keys", required=True)
    rotate = keys.add_parser("rotate", help="new active key; re-encrypt PHI and recordings")
    rotate.add_argument(
        "--reencrypt-only", action="store_true",
        help="keep the configured active key (set in RECEPTIONIST_KEYRING); only re-encrypt",
    )  # fmt: skip
    rotate.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
    rotate.set_defaults(func=cmd_keys_rotate)
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
