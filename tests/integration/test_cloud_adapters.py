"""Cloud adapters against local servers speaking each provider's wire protocol.

Nothing of ours is mocked: the real ``twilio`` SDK, ``httpx`` and ``smtplib`` talk over TCP to
the fakes in ``tests/fakes``, and the tests assert on what arrived there.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.db import Database
from core.settings import Settings
from integrations.crm.hubspot import HubSpotCrm
from integrations.crm.protocol import CrmNote
from integrations.crm.salesforce import SalesforceCrm
from integrations.eligibility.clearinghouse import ClearinghouseEligibility
from integrations.eligibility.protocol import EligibilityRequest
from integrations.errors import IntegrationError, NotFoundError, PermanentError, TransientError
from integrations.messaging.protocol import OutgoingMessage
from integrations.messaging.smtp import SmtpSender
from integrations.messaging.twilio_sms import TwilioSmsSender
from integrations.registry import AdapterContext, AdapterRegistry
from tests.fakes import closed_port_url
from tests.fakes.clearinghouse_api import FakeClearinghouse, Member
from tests.fakes.hubspot_api import FakeHubSpot
from tests.fakes.salesforce_api import FakeSalesforce
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-secret"
CLINIC_NUMBER = "+15550000100"
PATIENT_NUMBER = "+15551234567"
PATIENT_EMAIL = "jane.doe@example.org"
SMS_BODY = "Hi Jane, your cleaning is confirmed for Tue 3 Mar at 10:00."
TOKEN = "crm-token"
API_KEY = "clearinghouse-key"
WHEN = datetime(2026, 3, 2, 15, 4, 5, tzinfo=UTC)


@pytest.fixture
async def memory_db() -> AsyncIterator[Database]:
    database = Database("sqlite:///:memory:")
    yield database
    await database.dispose()


def context(db: Database, **settings: Any) -> AdapterContext:
    # model_construct reads no environment, so a developer's TWILIO_* variables cannot leak in.
    return AdapterContext(db=db, settings=Settings.model_construct(**settings))


def assert_phi_free(exc: IntegrationError, *values: str) -> None:
    text = f"{exc} {exc.code}"
    for value in values:
        assert value not in text
    # Temporal stores a cause, or an unsuppressed context, in workflow history: a chained
    # SDK error would carry the provider's text (which may quote patient data) along.
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None


# --- Twilio ------------------------------------------------------------------------------


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    with fake.running():
        yield fake


def twilio_sender(fake: FakeTwilio, db: Database, **settings: Any) -> TwilioSmsSender:
    base = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base_url": fake.url}
    return TwilioSmsSender({**base, **settings}, context(db))


def sms(to: str = PATIENT_NUMBER, sender: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        clinic_id="clinic-1",
        channel="sms",
        recipient=to,
        body=SMS_BODY,
        purpose="confirmation",
        idempotency_key="wf-1/act-1",
        sender=sender,
    )


async def test_twilio_posts_form_fields_with_basic_auth(
    twilio: FakeTwilio, memory_db: Database
) -> None:
    callback = "https://receptionist.example/twilio/status"
    sender = twilio_sender(
        twilio, memory_db, from_number=CLINIC_NUMBER, status_callback_url=callback
    )
    result = await sender.send(sms())

    [request] = twilio.received
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form() == {
        "To": PATIENT_NUMBER,
        "From": CLINIC_NUMBER,
        "Body": SMS_BODY,
        "StatusCallback": callback,
    }
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert result.provider_message_id in twilio.messages


async def test_twilio_uses_the_messages_sender_and_the_messaging_service(
    twilio: FakeTwilio, memory_db: Database
) -> None:
    sender = twilio_sender(twilio, memory_db, messaging_service_sid="MG" + "1" * 32)
    await sender.send(sms())
    await sender.send(sms(sender="+15550000199"))

    first, second = (r.form() for r in twilio.received)
    assert first["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in first
    assert second["From"] == "+15550000199"


async def test_twilio_falls_back_to_process_settings(
    twilio: FakeTwilio, memory_db: Database
) -> None:
    process = context(
        memory_db,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=twilio.url,
    )
    result = await TwilioSmsSender({"from_number": CLINIC_NUMBER}, process).send(sms())
    assert result.provider_message_id in twilio.messages


@pytest.mark.parametrize(
    ("recipient", "code"), [("+15005550001", "twilio_21211"), ("+15005550004", "twilio_21610")]
)
async def test_twilio_undeliverable_recipient_is_permanent(
    twilio: FakeTwilio, memory_db: Database, recipient: str, code: str
) -> None:
    sender = twilio_sender(twilio, memory_db, from_number=CLINIC_NUMBER)
    with pytest.raises(PermanentError) as caught:
        await sender.send(sms(to=recipient))
    assert caught.value.code == code
    assert_phi_free(caught.value, recipient, SMS_BODY)
    assert twilio.messages == {}


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(429, {"Retry-After": "7"}, timedelta(seconds=7)), (500, {}, None), (503, {}, None)],
)
async def test_twilio_throttling_and_outages_are_transient(
    twilio: FakeTwilio,
    memory_db: Database,
    status: int,
    headers: dict[str, str],
    retry_after: timedelta | None,
) -> None:
    body = {
        "code": 20429 if status == 429 else 20500,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": status,
    }
    twilio.fail_next(status, body, headers)
    sender = twilio_sender(twilio, memory_db, from_number=CLINIC_NUMBER)
    with pytest.raises(TransientError) as caught:
        await sender.send(sms())
    assert caught.value.code == f"http_{status}"
    assert caught.value.retry_after == retry_after


async def test_twilio_wrong_token_is_permanent(twilio: FakeTwilio, memory_db: Database) -> None:
    sender = twilio_sender(twilio, memory_db, from_number=CLINIC_NUMBER, auth_token="stale")
    with pytest.raises(PermanentError) as caught:
        await sender.send(sms())
    assert caught.value.code == "twilio_20003"


async def test_twilio_unreachable_is_transient(memory_db: Database) -> None:
    sender = TwilioSmsSender(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": CLINIC_NUMBER,
            "api_base_url": closed_port_url(),
        },
        context(memory_db),
    )
    with pytest.raises(TransientError) as caught:
        await sender.send(sms())
    assert caught.value.code == "connection"
    assert_phi_free(caught.value, PATIENT_NUMBER)


# --- SMTP --------------------------------------------------------------------------------

EMAIL_BODY = "Bonjour Jane — your cleaning is on Tuesday.\n.A line starting with a dot.\n"


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer(username="desk", password="pw").running() as server:
        yield server


def smtp_sender(server: FakeSmtpServer, db: Database, **settings: Any) -> SmtpSender:
    base = {
        "host": server.host,
        "port": server.port,
        "username": "desk",
        "password": "pw",
        "from": "Front Desk <desk@clinic.test>",
        "starttls": False,
    }
    return SmtpSender({**base, **settings}, context(db))


def email(key: str = "wf-9/act-2", to: str = PATIENT_EMAIL) -> OutgoingMessage:
    return OutgoingMessage(
        clinic_id="clinic-1",
        channel="email",
        recipient=to,
        body=EMAIL_BODY,
        purpose="confirmation",
        idempotency_key=key,
        subject="Your appointment",
    )


async def test_smtp_delivers_with_auth_and_a_message_id_from_the_key(
    smtp_server: FakeSmtpServer, memory_db: Database
) -> None:
    sender = smtp_sender(smtp_server, memory_db)
    first = await sender.send(email())
    again = await sender.send(email())
    other = await sender.send(email(key="wf-9/act-3"))

    delivery = smtp_server.deliveries[0]
    assert (delivery.auth_user, delivery.mail_from) == ("desk", "desk@clinic.test")
    assert delivery.rcpt_to == [PATIENT_EMAIL]
    message = delivery.message()
    assert message["Subject"] == "Your appointment" and message["To"] == PATIENT_EMAIL
    assert message.get_content() == EMAIL_BODY
    assert message["Message-ID"] == first.provider_message_id
    assert first == again != other
    assert first.provider_message_id.endswith("@receptionist>")
    assert len(first.provider_message_id) == len("<@receptionist>") + 32
    assert [d.message()["Message-ID"] for d in smtp_server.deliveries] == [
        first.provider_message_id,
        first.provider_message_id,
        other.provider_message_id,
    ]
    assert "STARTTLS" not in smtp_server.commands


async def test_smtp_rejected_recipient_is_permanent(
    smtp_server: FakeSmtpServer, memory_db: Database
) -> None:
    smtp_server.rcpt_replies[PATIENT_EMAIL] = "550 5.1.1 <jane.doe@example.org>: no such user"
    with pytest.raises(PermanentError) as caught:
        await smtp_sender(smtp_server, memory_db).send(email())
    assert caught.value.code == "smtp_550"
    assert_phi_free(caught.value, PATIENT_EMAIL, "jane")
    assert smtp_server.deliveries == []


async def test_smtp_deferral_is_transient(smtp_server: FakeSmtpServer, memory_db: Database) -> None:
    smtp_server.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    with pytest.raises(TransientError) as caught:
        await smtp_sender(smtp_server, memory_db).send(email())
    assert caught.value.code == "smtp_451"


async def test_smtp_wrong_password_is_permanent(
    smtp_server: FakeSmtpServer, memory_db: Database
) -> None:
    with pytest.raises(PermanentError) as caught:
        await smtp_sender(smtp_server, memory_db, password="wrong").send(email())
    assert caught.value.code == "smtp_535"


async def test_smtp_never_falls_back_to_clear_text(
    smtp_server: FakeSmtpServer, memory_db: Database
) -> None:
    with pytest.raises(PermanentError) as caught:
        await smtp_sender(smtp_server, memory_db, starttls=True).send(email())
    assert caught.value.code == "smtp_not_supported"
    assert "MAIL" not in smtp_server.commands and smtp_server.deliveries == []


async def test_smtp_unreachable_is_transient(memory_db: Database) -> None:
    port = int(closed_port_url().rsplit(":", 1)[1])
    sender = SmtpSender(
        {"host": "127.0.0.1", "port": port, "from": "desk@clinic.test"}, context(memory_db)
    )
    with pytest.raises(TransientError) as caught:
        await sender.send(email())
    assert caught.value.code == "connection"


# --- HubSpot -----------------------------------------------------------------------------

NOTE_BODY = "Booked a cleaning.\nAsked whether <insurance> & billing match."


def note(
    key: str = "wf-5/crm-note",
    phone: str | None = PATIENT_NUMBER,
    mail: str | None = None,
    body: str = NOTE_BODY,
) -> CrmNote:
    return CrmNote(
        clinic_id="clinic-1",
        external_key=key,
        subject="Call: booked cleaning",
        body=body,
        occurred_at=WHEN,
        patient_phone=phone,
        patient_email=mail,
    )


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot(TOKEN)
    with fake.running():
        yield fake


def hubspot_crm(fake: FakeHubSpot, db: Database, token: str = TOKEN) -> HubSpotCrm:
    return HubSpotCrm({"access_token": token, "base_url": fake.url}, context(db))


async def test_hubspot_upserts_note_by_key_and_associates_contact(
    hubspot: FakeHubSpot, memory_db: Database
) -> None:
    contact = hubspot.add_contact(phone=PATIENT_NUMBER, email=PATIENT_EMAIL)
    note_id = await hubspot_crm(hubspot, memory_db).write_note(note())

    [search] = hubspot.requests_to("POST", "/crm/v3/objects/contacts/search")
    filters = [group["filters"][0] for group in search.json()["filterGroups"]]
    assert {"propertyName": "phone", "operator": "EQ", "value": PATIENT_NUMBER} in filters
    [upsert] = hubspot.requests_to("POST", "/crm/v3/objects/notes/batch/upsert")
    [item] = upsert.json()["inputs"]
    assert item["idProperty"] == "receptionist_note_key" and item["id"] == "wf-5/crm-note"
    properties = item["properties"]
    assert properties["receptionist_note_key"] == "wf-5/crm-note"
    assert properties["hs_timestamp"] == "2026-03-02T15:04:05.000+00:00"
    assert "Call: booked cleaning" in properties["hs_note_body"]
    assert "&lt;insurance&gt; &amp; billing" in properties["hs_note_body"]
    assert "<br>" in properties["hs_note_body"]
    assert hubspot.requests_to("PUT", f"/crm/v4/objects/notes/{note_id}/associations/default/")
    assert hubspot.associations == {(note_id, contact)}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hubspot.received)


async def test_hubspot_same_key_twice_leaves_one_note(
    hubspot: FakeHubSpot, memory_db: Database
) -> None:
    crm = hubspot_crm(hubspot, memory_db)
    first = await crm.write_note(note())
    second = await crm.write_note(note(body="Booked a cleaning (rescheduled)."))
    assert first == second and list(hubspot.notes) == [first]
    assert "rescheduled" in hubspot.notes[first]["hs_note_body"]


async def test_hubspot_finds_contact_by_email_and_skips_association_without_one(
    hubspot: FakeHubSpot, memory_db: Database
) -> None:
    contact = hubspot.add_contact(email=PATIENT_EMAIL)
    crm = hubspot_crm(hubspot, memory_db)
    by_email = await crm.write_note(note(key="k-1", phone=None, mail=PATIENT_EMAIL))
    unknown = await crm.write_note(note(key="k-2", phone="+15559999999"))
    assert hubspot.associations == {(by_email, contact)}
    assert unknown in hubspot.notes
    assert len(hubspot.requests_to("PUT", "/associations/")) == 1


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(429, {"Retry-After": "3"}, timedelta(seconds=3)), (500, {}, None), (502, {}, None)],
)
async def test_hubspot_throttling_and_outages_are_transient(
    hubspot: FakeHubSpot,
    memory_db: Database,
    status: int,
    headers: dict[str, str],
    retry_after: timedelta | None,
) -> None:
    hubspot.fail_next(
        status,
        {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "category": "RATE_LIMITS",
        },
        headers,
    )
    with pytest.raises(TransientError) as caught:
        await hubspot_crm(hubspot, memory_db).write_note(note())
    assert caught.value.code == f"http_{status}" and caught.value.retry_after == retry_after
    assert hubspot.notes == {}


async def test_hubspot_bad_token_is_permanent(hubspot: FakeHubSpot, memory_db: Database) -> None:
    with pytest.raises(PermanentError) as caught:
        await hubspot_crm(hubspot, memory_db, token="revoked").write_note(note())
    assert caught.value.code == "http_401"
    assert_phi_free(caught.value, PATIENT_NUMBER)


# --- Salesforce --------------------------------------------------------------------------


def salesforce_crm(fake: FakeSalesforce, db: Database) -> SalesforceCrm:
    return SalesforceCrm({"instance_url": fake.url, "access_token": TOKEN}, context(db))


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    fake = FakeSalesforce(TOKEN)
    with fake.running():
        yield fake


async def test_salesforce_upserts_completed_task_on_the_contact(
    salesforce: FakeSalesforce, memory_db: Database
) -> None:
    contact = salesforce.add_contact(Phone=PATIENT_NUMBER)
    task_id = await salesforce_crm(salesforce, memory_db).write_note(note())

    [query] = salesforce.requests_to("GET", "/services/data/v61.0/query")
    assert f"Phone = '{PATIENT_NUMBER}'" in query.query["q"]
    [upsert] = salesforce.requests_to("PATCH", "/sobjects/Task/")
    assert (
        upsert.raw_path == "/services/data/v61.0/sobjects/Task/Receptionist_Key__c/wf-5%2Fcrm-note"
    )
    assert upsert.json() == {
        "Subject": "Call: booked cleaning",
        "Description": NOTE_BODY,
        "Status": "Completed",
        "ActivityDate": "2026-03-02",
        "WhoId": contact,
    }
    assert salesforce.tasks[task_id]["Receptionist_Key__c"] == "wf-5/crm-note"
    assert upsert.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("legacy_update", [False, True], ids=["200-update", "204-update"])
async def test_salesforce_same_key_twice_leaves_one_task(
    memory_db: Database, legacy_update: bool
) -> None:
    fake = FakeSalesforce(TOKEN, legacy_update=legacy_update)
    with fake.running():
        crm = salesforce_crm(fake, memory_db)
        first = await crm.write_note(note(phone=None))
        second = await crm.write_note(note(phone=None, body="Rescheduled."))
    assert first == second and list(fake.tasks) == [first]
    assert fake.tasks[first]["Description"] == "Rescheduled."


async def test_salesforce_escapes_soql_literals(
    salesforce: FakeSalesforce, memory_db: Database
) -> None:
    tricky = "o'hara\\x@example.org"
    contact = salesforce.add_contact(Email=tricky)
    salesforce.add_contact(Email="o")  # what an unescaped quote would end the literal at
    task_id = await salesforce_crm(salesforce, memory_db).write_note(note(phone=None, mail=tricky))
    assert salesforce.tasks[task_id]["WhoId"] == contact


async def test_salesforce_ambiguous_key_is_permanent(
    salesforce: FakeSalesforce, memory_db: Database
) -> None:
    for task_id in ("00T1", "00T2"):
        salesforce.tasks[task_id] = {"Id": task_id, "Receptionist_Key__c": "wf-5/crm-note"}
    with pytest.raises(PermanentError) as caught:
        await salesforce_crm(salesforce, memory_db).write_note(note(phone=None))
    assert caught.value.code == "salesforce_duplicate_key"


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            TransientError,
            "salesforce_request_limit",
        ),
        (503, None, TransientError, "http_503"),
        (
            401,
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            PermanentError,
            "http_401",
        ),
    ],
)
async def test_salesforce_failures_are_classified(
    salesforce: FakeSalesforce,
    memory_db: Database,
    status: int,
    body: Any,
    error: type[IntegrationError],
    code: str,
) -> None:
    salesforce.fail_next(status, body)
    with pytest.raises(error) as caught:
        await salesforce_crm(salesforce, memory_db).write_note(note())
    assert caught.value.code == code
    assert_phi_free(caught.value, PATIENT_NUMBER)
    assert salesforce.tasks == {}


# --- Clearinghouse -----------------------------------------------------------------------


@pytest.fixture
def clearinghouse() -> Iterator[FakeClearinghouse]:
    fake = FakeClearinghouse(API_KEY)
    fake.members["M100"] = Member("Jane", "Doe", "19850214")
    fake.members["M200"] = Member("Ann", "Lee", "19700101", status_code="6")
    fake.members["M300"] = Member("Bob", "Ray", "19600101", aaa_code="72", aaa_http_status=400)
    fake.members["M400"] = Member("Cy", "Ng", "19900101", service_types=("30",))
    with fake.running():
        yield fake


def checker(fake: FakeClearinghouse, db: Database) -> ClearinghouseEligibility:
    settings = {
        "url": fake.endpoint,
        "api_key": API_KEY,
        "provider_npi": "1999999984",
        "provider_name": "Smile Dental",
        "payer_ids": {"Delta Dental": "DDPA1"},
    }
    return ClearinghouseEligibility(settings, context(db))


def eligibility(
    member: str = "M100",
    payer: str = "Delta Dental",
    key: str = "wf-3/eligibility",
    first: str = "Jane",
    last: str = "Doe",
    born: str = "1985-02-14",
) -> EligibilityRequest:
    return EligibilityRequest(
        clinic_id="clinic-1",
        payer=payer,
        member_id=member,
        first_name=first,
        last_name=last,
        date_of_birth=born,
        service_type="35",
        request_key=key,
    )


async def test_clearinghouse_active_coverage(
    clearinghouse: FakeClearinghouse, memory_db: Database
) -> None:
    result = await checker(clearinghouse, memory_db).check(eligibility())
    assert result.status == "active" and result.plan_name == "DENTAL PPO"
    assert result.payer == "Delta Dental" and result.details["service_type"] == "35"
    assert result.details["plan_dates"]["planBegin"] == "20260101"

    [request] = clearinghouse.received
    assert request.headers["authorization"] == API_KEY
    sent = request.json()
    assert sent.pop("controlNumber").isdigit()
    assert sent == {
        "tradingPartnerServiceId": "DDPA1",
        "provider": {"organizationName": "Smile Dental", "npi": "1999999984"},
        "subscriber": {
            "memberId": "M100",
            "firstName": "Jane",
            "lastName": "Doe",
            "dateOfBirth": "19850214",
        },
        "encounter": {"serviceTypeCodes": ["35"]},
    }


async def test_clearinghouse_control_number_follows_the_request_key(
    clearinghouse: FakeClearinghouse, memory_db: Database
) -> None:
    adapter = checker(clearinghouse, memory_db)
    await adapter.check(eligibility(payer="BCBS-TX"))
    await adapter.check(eligibility(payer="BCBS-TX"))
    await adapter.check(eligibility(key="wf-4/eligibility"))
    first, again, other = (r.json() for r in clearinghouse.received)
    assert len(first["controlNumber"]) == 9
    assert first["controlNumber"] == again["controlNumber"] != other["controlNumber"]
    assert first["tradingPartnerServiceId"] == "BCBS-TX"  # unmapped payers go as given


async def test_clearinghouse_inactive_coverage(
    clearinghouse: FakeClearinghouse, memory_db: Database
) -> None:
    request = eligibility(member="M200", first="Ann", last="Lee", born="1970-01-01")
    result = await checker(clearinghouse, memory_db).check(request)
    assert result.status == "inactive" and result.details["status_codes"] == ["6"]


async def test_clearinghouse_falls_back_to_health_benefit_plan_coverage(
    clearinghouse: FakeClearinghouse, memory_db: Database
) -> None:
    request = eligibility(member="M400", first="Cy", last="Ng", born="1990-01-01")
    result = await checker(clearinghouse, memory_db).check(request)
    assert result.status == "active" and result.details["service_type"] == "30"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (eligibility(member="NOPE"), "aaa_75"),  # unknown member, answered with HTTP 200
        (eligibility(born="1985-02-15"), "aaa_71"),  # birth date mismatch
        (eligibility(member="M300", first="Bob", last="Ray", born="1960-01-01"), "aaa_72"),  # 400
    ],
)
async def test_clearinghouse_unknown_member_is_not_found(
    clearinghouse: FakeClearinghouse,
    memory_db: Database,
    request_: EligibilityRequest,
    code: str,
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await checker(clearinghouse, memory_db).check(request_)
    assert caught.value.code == code
    assert_phi_free(caught.value, request_.member_id, request_.first_name, request_.last_name)


async def test_clearinghouse_payer_unavailable_is_transient(
    clearinghouse: FakeClearinghouse, memory_db: Database
) -> None:
    clearinghouse.payers_down.add("DDPA1")
    with pytest.raises(TransientError) as caught:
        await checker(clearinghouse, memory_db).check(eligibility())
    assert caught.value.code == "aaa_42"


async def test_clearinghouse_throttling_is_transient(
    clearinghouse: FakeClearinghouse, memory_db: Database
) -> None:
    clearinghouse.fail_next(429, {"message": "Too Many Requests"}, {"Retry-After": "2"})
    with pytest.raises(TransientError) as caught:
        await checker(clearinghouse, memory_db).check(eligibility())
    assert caught.value.retry_after == timedelta(seconds=2)


# --- Construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "settings"),
    [
        (TwilioSmsSender, {"account_sid": ACCOUNT_SID}),
        (SmtpSender, {"port": 2525}),
        (SmtpSender, {"host": "mail.example", "username": "desk"}),
        (HubSpotCrm, {"base_url": "https://api.hubapi.com"}),
        (SalesforceCrm, {"instance_url": "https://example.my.salesforce.com"}),
        (ClearinghouseEligibility, {"url": "https://ch.example/check", "api_key": API_KEY}),
    ],
)
def test_missing_credentials_fail_at_construction(
    memory_db: Database, adapter: Any, settings: dict[str, Any]
) -> None:
    with pytest.raises(PermanentError):
        adapter(settings, context(memory_db))


@pytest.mark.parametrize(
    ("kind", "name", "settings", "adapter"),
    [
        ("sms", "twilio", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}, TwilioSmsSender),
        ("email", "smtp", {"host": "mail.example"}, SmtpSender),
        ("crm", "hubspot", {"access_token": TOKEN}, HubSpotCrm),
        (
            "crm",
            "salesforce",
            {"instance_url": "https://x.example", "access_token": TOKEN},
            SalesforceCrm,
        ),
        (
            "eligibility",
            "clearinghouse",
            {
                "url": "https://ch.example",
                "api_key": API_KEY,
                "provider_npi": "1999999984",
                "provider_name": "Smile Dental",
            },
            ClearinghouseEligibility,
        ),
    ],
)
def test_registry_builds_each_cloud_adapter(
    memory_db: Database, kind: str, name: str, settings: dict[str, Any], adapter: type
) -> None:
    built = AdapterRegistry().create(kind, {"name": name, "settings": settings}, context(memory_db))
    assert isinstance(built, adapter)
