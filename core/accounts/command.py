"""``receptionist user create``: the first operator or clinic admin, from the command line.

The password comes from ``RECEPTIONIST_NEW_PASSWORD`` or is asked twice on the terminal (it is
never an argument, which other users of the machine could read in the process list).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable

from sqlmodel import or_, select

from core.accounts.passwords import WeakPassword
from core.accounts.tokens import issue_token
from core.accounts.users import AccountError, create_user
from core.db import Database
from core.models import Clinic, Role
from core.settings import Settings

PASSWORD_ENV = "RECEPTIONIST_NEW_PASSWORD"


def _password() -> str:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise AccountError(f"set {PASSWORD_ENV} or run in a terminal to type the password")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat it: "):
        raise AccountError("the passwords differ")
    return first


async def _create(settings: Settings, args: argparse.Namespace, password: str) -> None:
    db = Database(settings.resolved_database_url)
    try:
        role = Role(args.role)
        clinic_id = None
        if args.clinic:
            async with db.read() as session:
                clinic = (
                    await session.exec(
                        select(Clinic).where(
                            or_(Clinic.slug == args.clinic, Clinic.id == args.clinic)
                        )
                    )
                ).first()
            if clinic is None:
                raise AccountError(f"no clinic {args.clinic!r} (give its slug or id)")
            clinic_id = clinic.id
        async with db.write() as session:
            user = await create_user(
                session, email=args.email, password=password, role=role, clinic_id=clinic_id
            )
        print(f"User {user.email} ({role.value}) created, id {user.id}.")
        if args.token:
            issued = await issue_token(db, user, args.token)
            print(f"API token (shown once, store it now): {issued.secret}")
    finally:
        await db.dispose()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             migrate: Callable[[Settings], None]) -> None:  # fmt: skip
    """Add ``user create`` to the ``receptionist`` command."""

    def run(settings: Settings, args: argparse.Namespace) -> None:
        migrate(settings)
        try:
            asyncio.run(_create(settings, args, _password()))
        except (AccountError, WeakPassword) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    users = sub.add_parser("user", help="dashboard and API accounts")
    commands = users.add_subparsers(dest="user_command", required=True)
    create = commands.add_parser(
        "create", help=f"create a user (password from {PASSWORD_ENV} or typed)"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--clinic", help="the clinic's slug or id (not for operators)")
    create.add_argument("--token", metavar="NAME", help="also issue an API token with this name")
    create.set_defaults(func=run)
