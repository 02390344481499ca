"""Voice outreach through the real twilio SDK against a local Twilio API: Calls.create with
asynchronous answering-machine detection, a voicemail for a machine, the receptionist's
stream (in outbound mode, with an opaque outreach id) for a person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Clinic, OutboxMessage, OutreachAttempt
from durable.campaigns import Campaigns, NewCampaign, RunOverrides
from realtime.agent.profile import load_clinic_profile
from realtime.agent.protocol import Conversation, ToolCall
from realtime.agent.rule import RuleAgent
from realtime.outbound_calls import outbound_context
from stack.devserver import DevServer
from tests.campaigns.support import (
    ALWAYS_OPEN,
    add_recall_patients,
    configure_outreach,
    finished,
    post_signed,
    wait_until,
)
from tests.fakes.twilio_api import FakeTwilio
from tests.support.voice import AUTH_TOKEN, serve_voice
from tests.support.workers import running_worker

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ACCOUNT_SID = "AC" + "7" * 32


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    with fake.running():
        yield fake


async def _use_twilio_dialer(db: Database, clinic_id: str, url: str) -> None:
    async with db.write() as session:
        clinic = await session.get(Clinic, clinic_id)
        assert clinic is not None
        clinic.adapters = {
            **clinic.adapters,
            "dialer": {"name": "twilio", "settings": {
                "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base_url": url}},
        }  # fmt: skip
        session.add(clinic)


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1]


async def test_voice_outreach_voicemail_for_machines_receptionist_for_people(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path, twilio: FakeTwilio,
) -> None:  # fmt: skip
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 2)
    await _use_twilio_dialer(db, demo.clinic_id, twilio.url)
    async with (
        running_worker(temporal_client, db) as prefix,
        serve_voice(database_url, temporal_server.address, prefix, tmp_path) as api,
    ):
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(
            NewCampaign(demo.clinic_id, "Call", "hygiene_recall", channel="voice")
        )
        await campaigns.start(demo.clinic_id, campaign.id, RunOverrides(window=ALWAYS_OPEN))
        total = (await campaigns.preview(demo.clinic_id, campaign.id)).total

        async def all_dialled() -> bool:
            return len(twilio.requests_to("POST", "/Calls.json")) >= total

        await wait_until(all_dialled)
        placed = [r.form() for r in twilio.requests_to("POST", "/Calls.json")]
        for form in placed:
            assert form["MachineDetection"] == "DetectMessageEnd" and form["AsyncAmd"] == "true"
            assert form["Url"].endswith("/answer") and form["StatusCallback"].endswith("/status")
            assert form["AsyncAmdStatusCallback"].endswith("/amd")
        sids = {c["to"]: c["sid"] for c in twilio.calls.values()}
        for call in twilio.calls.values():
            call["status"] = "in-progress"  # everyone picks up

        machine, *people = placed
        machine_sid = sids[machine["To"]]
        amd = {"CallSid": machine_sid, "AnsweredBy": "machine_end_beep", "AccountSid": ACCOUNT_SID}
        reply = await post_signed(
            api.base_url, AUTH_TOKEN, "/" + _path(machine["AsyncAmdStatusCallback"]), amd
        )
        assert reply.status_code == 204

        async def voicemail_played() -> bool:
            return any(
                r.form().get("Twiml")
                for r in twilio.requests_to("POST", f"/Calls/{machine_sid}.json")
            )

        await wait_until(voicemail_played)
        [update] = twilio.requests_to("POST", f"/Calls/{machine_sid}.json")
        twiml = ElementTree.fromstring(update.form()["Twiml"])
        said = twiml.find("Say")
        assert said is not None and twiml.find("Hangup") is not None
        assert "Bright Smile Dental" in (said.text or "") and len(said.text or "") < 600

        for form in people:
            sid = sids[form["To"]]
            params = {"CallSid": sid, "From": form["From"], "To": form["To"],
                      "Direction": "outbound-api", "AccountSid": ACCOUNT_SID}  # fmt: skip
            answer = await post_signed(api.base_url, AUTH_TOKEN, "/" + _path(form["Url"]), params)
            stream = ElementTree.fromstring(answer.text).find("Connect/Stream")
            assert stream is not None and stream.get("url", "").startswith("ws")
            parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
            attempt_id = _path(form["Url"]).split("/")[-2]
            assert parameters == {"clinic_id": demo.clinic_id, "outreach": attempt_id}
            assert form["To"] not in answer.text  # no PHI in the TwiML
            human = {"CallSid": sid, "AnsweredBy": "human", "AccountSid": ACCOUNT_SID}
            await post_signed(
                api.base_url, AUTH_TOKEN, "/" + _path(form["AsyncAmdStatusCallback"]), human
            )
            done = {"CallSid": sid, "CallStatus": "completed", "AccountSid": ACCOUNT_SID}
            await post_signed(api.base_url, AUTH_TOKEN, "/" + _path(form["StatusCallback"]), done)
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
    assert progress.status == "completed" and progress.sent == total
    async with db.read() as session:
        attempts = (await session.exec(select(OutreachAttempt))).all()
        voicemails = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.channel == "voice"))
        ).all()
    assert sorted(a.status for a in attempts) == ["answered"] * (total - 1) + ["voicemail"]
    assert len(voicemails) == 1 and voicemails[0].provider_message_id == machine_sid


async def test_outbound_session_knows_why_it_called_and_books_on_a_yes(
    db: Database, demo: SeedReport
) -> None:
    [patient] = await add_recall_patients(db, demo.clinic_id, 1)
    attempt = OutreachAttempt(
        clinic_id=demo.clinic_id, patient_id=patient, kind="recall", channel="voice",
        status="called", workflow_id="outreach-x", idempotency_key="outreach-x/call",
    )  # fmt: skip
    async with db.write() as session:
        session.add(attempt)
    profile, purpose = await outbound_context(
        db, attempt.id, await load_clinic_profile(db, demo.clinic_id)
    )
    assert purpose == "recall:cleaning"
    assert profile.greeting.startswith("Hi, this is Ava from Bright Smile Dental. I'm calling")
    conversation = Conversation(profile, datetime.now(UTC), caller_phone="+12075560000",
                                direction="outbound", purpose=purpose)  # fmt: skip
    conversation.add_agent(profile.greeting)
    conversation.add_caller("yes please")
    agent = RuleAgent()
    events = [e async for e in agent.respond(conversation)]
    calls = [e for e in events if isinstance(e, ToolCall)]
    # It goes straight to booking the recall visit: first, who is on the line.
    assert agent.state.task == "book" and agent.state.wish.type_code == "cleaning"
    assert [c.name for c in calls] == ["lookup_patient"]
