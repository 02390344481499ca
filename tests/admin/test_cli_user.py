"""`receptionist user create`: the first operator and clinic admin from the command line."""

from __future__ import annotations

from pathlib import Path

from core.accounts.tokens import resolve_token
from core.accounts.users import authenticate
from core.db import Database
from core.demo.seed import seed_demo
from core.models import Role
from tests.conftest import DEMO_NOW
from tests.test_cli import receptionist

PASSWORD = "correct horse battery staple"


async def test_operator_then_clinic_admin_with_a_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'receptionist.db'}"
    env = {"DATABASE_URL": url, "RECEPTIONIST_NEW_PASSWORD": PASSWORD}
    operator = receptionist(
        "user",
        "create",
        "--email",
        "Ops@Example.test",
        "--role",
        "operator",
        tmp_path=tmp_path,
        **env,
    )
    assert operator.returncode == 0, operator.stderr
    db = Database(url)
    try:
        await seed_demo(db, now=DEMO_NOW)
        admin = receptionist(
            "user", "create", "--email", "admin@example.test", "--role", "admin",
            "--clinic", "bright-smile", "--token", "setup", tmp_path=tmp_path, **env,
        )  # fmt: skip
        assert admin.returncode == 0, admin.stderr
        token = admin.stdout.split("store it now): ")[1].strip()
        user = await resolve_token(db, token)
        assert user is not None and user.role == Role.ADMIN and user.clinic_id
        logged_in = await authenticate(db, "ops@example.test", PASSWORD)
        assert logged_in is not None and logged_in.clinic_id is None
    finally:
        await db.dispose()
    assert PASSWORD not in operator.stdout + admin.stdout


def test_refusals_are_explained(tmp_path: Path) -> None:
    env = {"RECEPTIONIST_NEW_PASSWORD": PASSWORD}
    for args, message in [
        (("--role", "admin"), "every other role needs one"),
        (("--role", "admin", "--clinic", "nowhere"), "no clinic 'nowhere'"),
        (("--role", "operator", "--email", "not-an-email"), "is not an e-mail address"),
    ]:
        email = () if "--email" in args else ("--email", "x@example.test")
        result = receptionist("user", "create", *email, *args, tmp_path=tmp_path, **env)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr
    weak = receptionist(
        "user", "create", "--email", "y@example.test", "--role", "operator", tmp_path=tmp_path,
        RECEPTIONIST_NEW_PASSWORD="short",
    )  # fmt: skip
    assert weak.returncode == 2 and "at least 12 characters" in weak.stderr
