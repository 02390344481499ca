"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright) against
the real API on loopback, a real Temporal worker and a call placed over the simulated phone
network with the offline speech engines: log in, change the greeting, call, find the call and
its transcript (and recording) in the call log, resolve a staff task."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Response, async_playwright, expect
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.models import Call, Clinic, Role, StaffTask, StaffTaskStatus
from phonesim.scripted_call import CallerLine, place_call
from realtime.engines import offline_engines
from realtime.tts.flite_tts import FliteTTS
from stack.devserver import DevServer
from tests.admin.tenants import make_tenant
from tests.conftest import DEMO_NOW, new_database_url, unavailable
from tests.support.accounts import create_account
from tests.support.voice import serve_voice
from tests.support.workers import running_worker

CHROMIUM = "/usr/bin/chromium"
NEW_GREETING = "Hello from the dashboard test, this is Ava at Bright Smile. How can I help?"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return new_database_url("sqlite", tmp_path, request)  # the browser path is backend-neutral


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which("flite") is None:
        unavailable("Debian chromium and flite are needed (./run test installs them)")
    async with async_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


def _collect_errors(page: Page, errors: list[str], base_url: str) -> None:
    """Script errors and failed requests, except asking who is logged in while nobody is."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_response(response: Response) -> None:
        expected = response.status == 401 and response.url == f"{base_url}/api/auth/me"
        if response.status >= 400 and not expected:
            errors.append(f"{response.status} {response.url}")

    page.on("response", on_response)


async def test_staff_journey_in_chromium(
    browser: Browser,
    db: Database,
    database_url: str,
    temporal_client: Client,
    temporal_server: DevServer,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant(db, tmp_path, DEMO_NOW)
    admin = await create_account(db, tenant.clinic_id, Role.ADMIN)
    errors: list[str] = []
    async with (
        running_worker(temporal_client, db) as prefix,
        serve_voice(
            database_url, temporal_server.address, prefix, tmp_path, offline_engines()
        ) as server,
    ):
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        _collect_errors(page, errors, server.base_url)

        # Log in.
        await page.goto(f"{server.base_url}/dashboard/")
        await page.get_by_label("E-mail").fill(admin.email)
        await page.get_by_label("Password").fill(admin.password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Call log")).to_be_visible()
        await expect(page.locator("#clinic-name")).to_have_text("Bright Smile Dental")

        # Change the greeting.
        await page.get_by_role("link", name="Agent settings").click()
        await page.get_by_label("Greeting").fill(NEW_GREETING)
        await page.get_by_role("button", name="Save settings").click()
        await expect(page.locator("#status")).to_contain_text("Settings saved")
        async with db.read() as session:
            clinic = await session.get(Clinic, tenant.clinic_id)
        assert clinic is not None and clinic.greeting == NEW_GREETING

        # A caller rings while staff watch the live view: the receptionist greets them with
        # the new greeting, and the live transcript shows it during the call.
        await page.get_by_role("link", name="Live calls").click()
        await expect(page.get_by_text("No calls in progress.")).to_be_visible()
        peer = server.peer()
        wav = tmp_path / "calls" / f"{peer.call_sid}.wav"  # where the stack keeps recordings
        call_task = asyncio.create_task(
            place_call(
                peer, [CallerLine("no that is all thank you")], FliteTTS(), voice="awb",
                wav=wav, turn_timeout_s=30,
            )
        )  # fmt: skip
        live = page.get_by_role("list", name="Transcript")
        await expect(live).to_contain_text(NEW_GREETING, timeout=30_000)
        await call_task
        async with db.read() as session:
            call = (await session.exec(select(Call).where(Call.call_sid == peer.call_sid))).one()

        # The call log lists it; its page shows the transcript with the greeting and a player.
        await page.get_by_role("link", name="Call log").click()
        await expect(page.get_by_role("heading", name="Call log")).to_be_visible()
        await page.locator(f'a[href="#/calls/{call.id}"]').click()
        transcript = page.get_by_role("list", name="Transcript")
        await expect(transcript.locator("li").first).to_contain_text(NEW_GREETING)
        await expect(transcript).to_contain_text("Caller:")
        player = page.locator("audio")
        await expect(player).to_have_count(1)
        recording = await page.evaluate(
            "async (src) => { const r = await fetch(src); return [r.status, r.headers.get('content-type')]; }",
            await player.get_attribute("src"),
        )
        assert recording == [200, "audio/wav"]

        # Resolve the open staff task.
        await page.get_by_role("link", name="Staff tasks").click()
        await page.get_by_role("button", name="Resolve: Call the patient back").click()
        await expect(page.locator("#status")).to_contain_text("Resolved")
        await expect(
            page.get_by_role("button", name="Resolve: Call the patient back")
        ).to_have_count(0)
        async with db.read() as session:
            task = await session.get(StaffTask, tenant.task_id)
        assert task is not None and task.status == StaffTaskStatus.RESOLVED

        # Metrics render their charts from the same data.
        await page.get_by_role("link", name="Metrics").click()
        await expect(page.get_by_role("img", name="Calls per day")).to_be_visible()

        # The other pages render: appointments with cancel buttons, the editors, campaigns.
        await page.get_by_role("link", name="Appointments").click()
        await expect(page.get_by_role("button", name="Cancel").first).to_be_visible()
        await page.get_by_role("link", name="Providers").click()
        await expect(page.get_by_role("button", name="Add provider")).to_be_visible()
        await page.get_by_role("link", name="Appointment types").click()
        await expect(page.get_by_role("button", name="Add appointment type")).to_be_visible()
        await page.get_by_role("link", name="Campaigns").click()
        await expect(page.get_by_role("button", name="Create campaign")).to_be_visible()

        # Log out: the dashboard asks for a login again and the API refuses the old session.
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        status = await page.evaluate("async () => (await fetch('/api/auth/me')).status")
        assert status == 401
        await context.close()
    assert errors == []


async def test_keyboard_login_on_a_tablet(
    browser: Browser, db: Database, database_url: str, temporal_server: DevServer, tmp_path: Path
) -> None:
    """Keyboard only, at a tablet's size: labelled fields, focus on each page's
    heading, and the navigation wrapping above the content."""
    tenant = await make_tenant(db, tmp_path, DEMO_NOW)
    staff = tenant.accounts[Role.STAFF]
    errors: list[str] = []
    async with serve_voice(database_url, temporal_server.address, "kb-", tmp_path) as server:
        context = await browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True)
        page = await context.new_page()
        _collect_errors(page, errors, server.base_url)
        await page.goto(f"{server.base_url}/dashboard/")
        await expect(page.get_by_label("E-mail")).to_be_focused()
        await page.keyboard.type(staff.email)
        await page.keyboard.press("Tab")
        await page.keyboard.type(staff.password)
        await page.keyboard.press("Enter")
        heading = page.get_by_role("heading", name="Call log")
        await expect(heading).to_be_focused()
        nav = await page.locator("nav").bounding_box()
        main = await page.locator("main").bounding_box()
        assert nav is not None and main is not None and nav["y"] + nav["height"] <= main["y"] + 1
        # Staff see neither the users page nor adapters; settings are read-only for them.
        await expect(page.get_by_role("link", name="Users and tokens")).to_be_hidden()
        await page.get_by_role("link", name="Agent settings").focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_label("Greeting")).to_be_disabled()
        await context.close()
    assert errors == []
