"""TwilioTelephony through the real ``twilio`` SDK against a local server speaking Twilio's
REST API (tests/fakes/twilio_api.py): transfer with ``<Dial>``, hang-up, and the errors of a
call that has already ended, bad credentials and outages."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import pytest

from realtime.telephony import TelephonyError, TwilioTelephony
from tests.fakes import closed_port_url
from tests.fakes.twilio_api import FakeTwilio

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-secret"
FRONT_DESK = "+15557654321"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    with fake.running():
        yield fake


@pytest.fixture
def telephony(twilio: FakeTwilio) -> TwilioTelephony:
    return TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, twilio.url)


async def test_transfer_updates_the_live_call_with_dial_twiml(
    twilio: FakeTwilio, telephony: TwilioTelephony
) -> None:
    call_sid = twilio.add_call()
    await telephony.transfer(call_sid, FRONT_DESK)
    [request] = twilio.received
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call_sid}.json"
    assert request.headers["authorization"].startswith("Basic ")
    twiml = ElementTree.fromstring(request.form()["Twiml"])
    assert twiml.tag == "Response"
    assert [child.tag for child in twiml] == ["Say", "Dial"]
    assert twiml.find("Dial").text == FRONT_DESK  # type: ignore[union-attr]
    assert twilio.calls[call_sid]["status"] == "in-progress"  # now ringing the front desk


async def test_hangup_completes_the_call(twilio: FakeTwilio, telephony: TwilioTelephony) -> None:
    call_sid = twilio.add_call()
    await telephony.hangup(call_sid)
    assert twilio.received[0].form() == {"Status": "completed"}
    assert twilio.calls[call_sid]["status"] == "completed"


async def test_acting_on_a_call_the_caller_already_ended_is_not_an_error(
    twilio: FakeTwilio, telephony: TwilioTelephony
) -> None:
    ended = twilio.add_call(status="completed")
    await telephony.transfer(ended, FRONT_DESK)  # Twilio: 21220, not in progress
    await telephony.hangup(ended)
    await telephony.hangup("CA" + "f" * 32)  # Twilio: 20404, unknown call
    assert [r.path.rsplit("/", 1)[-1] for r in twilio.received] == [
        f"{ended}.json", f"{ended}.json", f"CA{'f' * 32}.json",
    ]  # fmt: skip
    assert twilio.calls[ended]["twiml"] is None


async def test_bad_credentials_are_a_clear_error_without_retrying(twilio: FakeTwilio) -> None:
    telephony = TwilioTelephony(ACCOUNT_SID, "wrong-token", twilio.url)
    with pytest.raises(TelephonyError, match=r"HTTP 401 \(error 20003\)"):
        await telephony.hangup(twilio.add_call())
    assert len(twilio.received) == 1


async def test_a_server_error_is_retried_once(
    twilio: FakeTwilio, telephony: TwilioTelephony
) -> None:
    call_sid = twilio.add_call()
    twilio.fail_next(503, {"code": 20500, "message": "Service unavailable", "status": 503})
    await telephony.hangup(call_sid)
    assert len(twilio.received) == 2
    assert twilio.calls[call_sid]["status"] == "completed"


async def test_a_lasting_outage_raises_after_the_retry(
    twilio: FakeTwilio, telephony: TwilioTelephony
) -> None:
    for _ in range(2):
        twilio.fail_next(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
    with pytest.raises(TelephonyError, match="HTTP 500"):
        await telephony.transfer(twilio.add_call(), FRONT_DESK)
    assert len(twilio.received) == 2


async def test_an_unreachable_api_raises_a_clear_error() -> None:
    telephony = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, closed_port_url())
    with pytest.raises(TelephonyError, match="unreachable"):
        await telephony.hangup("CA" + "1" * 32)


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        TwilioTelephony(ACCOUNT_SID, "")
