"""``receptionist campaign ...``: create, preview, start, pause, resume, cancel, status, list.

The same facade as the admin API (``durable.campaigns``); ids are printed so each step can be
scripted. A refused request (bad template, unknown audience) prints the reason and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlmodel import or_, select

from core.db import Database
from core.models import Campaign, Clinic
from core.settings import Settings
from core.temporal import connect
from durable.campaigns import CampaignError, CampaignNotFound, Campaigns, NewCampaign, Preview
from durable.campaigns import Progress as CampaignProgress


async def _clinic_id(db: Database, ref: str) -> str:
    async with db.read() as session:
        clinic = (
            await session.exec(select(Clinic).where(or_(Clinic.slug == ref, Clinic.id == ref)))
        ).first()
    if clinic is None:
        raise CampaignNotFound(f"no clinic {ref!r} (give its slug or id)")
    return clinic.id


async def _owner(db: Database, campaign_id: str) -> str:
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"no campaign {campaign_id!r}")
    return campaign.clinic_id


def _show_campaign(campaign: Campaign) -> None:
    when = campaign.cron or (campaign.start_at.isoformat() if campaign.start_at else "at once")
    print(f"{campaign.id}  {campaign.status:<9}  {campaign.audience:<20} {campaign.channel:<14}"
          f" {when}  {campaign.name}")  # fmt: skip


def _show_preview(preview: Preview) -> None:
    print(f"{preview.total} targets, {preview.will_contact} would be contacted now.")
    for row in preview.rows:
        skip = f"  (skipped: {row.would_skip})" if row.would_skip else ""
        print(f"  {row.patient_id}  {row.name:<16} {row.reason}{skip}")
    if preview.sample_message:
        print(f"First message: {preview.sample_message}")


def _show_progress(progress: CampaignProgress) -> None:
    for key, value in asdict(progress).items():
        if key == "skipped":
            value = ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "none"
        print(f"{key:>12}: {value}")


def run(settings: Settings, args: argparse.Namespace) -> None:
    async def main() -> None:
        db = Database(settings.resolved_database_url)
        try:
            campaigns = Campaigns(
                await connect(settings), db, task_queue_prefix=settings.task_queue_prefix
            )
            await ACTIONS[args.action](campaigns, db, args)
        finally:
            await db.dispose()

    try:
        asyncio.run(main())
    except (CampaignError, CampaignNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def _create(campaigns: Campaigns, db: Database, args: argparse.Namespace) -> None:
    campaign = await campaigns.create(
        NewCampaign(
            clinic_id=await _clinic_id(db, args.clinic), name=args.name, audience=args.audience,
            channel=args.channel, template=args.template, cron=args.cron,
            start_at=datetime.fromisoformat(args.at) if args.at else None,
            max_targets=args.max_targets, window=args.window, created_by="cli",
        )
    )  # fmt: skip
    _show_campaign(campaign)


async def _list(campaigns: Campaigns, db: Database, args: argparse.Namespace) -> None:
    for campaign in await campaigns.of_clinic(await _clinic_id(db, args.clinic)):
        _show_campaign(campaign)


def _on_one(
    act: Callable[[Campaigns, str, str], Awaitable[Any]], show: Callable[[Any], None]
) -> Callable[[Campaigns, Database, argparse.Namespace], Awaitable[None]]:
    async def action(campaigns: Campaigns, db: Database, args: argparse.Namespace) -> None:
        show(await act(campaigns, await _owner(db, args.campaign), args.campaign))

    return action


ACTIONS: dict[str, Callable[[Campaigns, Database, argparse.Namespace], Awaitable[None]]] = {
    "create": _create,
    "list": _list,
    "preview": _on_one(lambda c, clinic, cid: c.preview(clinic, cid), _show_preview),
    "start": _on_one(lambda c, clinic, cid: c.start(clinic, cid), _show_campaign),
    "pause": _on_one(lambda c, clinic, cid: c.pause(clinic, cid), _show_campaign),
    "resume": _on_one(lambda c, clinic, cid: c.resume(clinic, cid), _show_campaign),
    "cancel": _on_one(lambda c, clinic, cid: c.cancel(clinic, cid), _show_campaign),
    "status": _on_one(lambda c, clinic, cid: c.progress(clinic, cid), _show_progress),
}


def register(sub: Any) -> None:
    """Add ``campaign`` and its actions to the CLI's subcommands."""
    campaign = sub.add_parser("campaign", help="recall and reminder campaigns")
    actions = campaign.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a campaign (validated, not started)")
    create.add_argument("--clinic", required=True, help="clinic slug or id")
    create.add_argument("--name", required=True)
    audiences = "hygiene_recall | unconfirmed_tomorrow | no_shows_last_week"
    create.add_argument("--audience", required=True, help=audiences)
    create.add_argument("--channel", default="sms", help="sms | voice | sms_then_voice")
    create.add_argument("--template", help="a template name or the message text")
    create.add_argument("--cron", help="recurring, clinic time (e.g. '0 10 * * MON')")
    create.add_argument("--at", help="one-off start, ISO time with offset")
    create.add_argument("--max-targets", type=int, default=10_000)
    create.add_argument("--window", type=int, default=100, help="patients in flight at once")
    listing = actions.add_parser("list", help="a clinic's campaigns")
    listing.add_argument("--clinic", required=True, help="clinic slug or id")
    for name, text in (
        ("preview", "who would be contacted and why (sends nothing)"),
        ("start", "schedule it (runs at once without --cron/--at)"),
        ("pause", "stop new contacts"), ("resume", "carry on"),
        ("cancel", "stop for good"), ("status", "live progress"),
    ):  # fmt: skip
        actions.add_parser(name, help=text).add_argument("campaign", help="campaign id")
    campaign.set_defaults(func=run)
