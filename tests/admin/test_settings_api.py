"""Clinic settings, phone numbers, adapters, providers and appointment types through the API:
validated like the clinic configuration, refused changes store nothing, secrets write-only."""

from __future__ import annotations

from sqlmodel import select

from adminapi.clinic_document import load_document
from core.clinic_config import ClinicConfig, apply_clinic_config, parse_clinic_config
from core.models import AuditEvent, Clinic, Provider
from realtime.agent.profile import load_clinic_profile
from tests.admin.conftest import AdminApi


def url(api: AdminApi, path: str) -> str:
    return f"/api/clinics/{api.a.clinic_id}{path}"


async def test_the_document_round_trips_every_configuration_field(admin_api: AdminApi) -> None:
    """Editing goes read → change → validate → apply: a field the export forgot would be reset
    by every edit, so each ClinicConfig field must be exported, and unchanged on a round trip."""
    async with admin_api.db.read() as session:
        before = await load_document(session, admin_api.a.clinic_id)
    assert set(before) == set(ClinicConfig.model_fields)
    async with admin_api.db.write() as session:
        await apply_clinic_config(session, parse_clinic_config(before))
    async with admin_api.db.read() as session:
        after = await load_document(session, admin_api.a.clinic_id)
    assert parse_clinic_config(after) == parse_clinic_config(before)


async def test_greeting_change_reaches_the_next_calls_profile(admin_api: AdminApi) -> None:
    response = await admin_api.client.patch(
        url(admin_api, "/settings"),
        json={"greeting": "Good day, Bright Smile here.", "agent_name": "Robin"},
        headers=admin_api.a.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["greeting"] == "Good day, Bright Smile here."
    profile = await load_clinic_profile(admin_api.db, admin_api.a.clinic_id)
    assert (profile.greeting, profile.agent_name) == ("Good day, Bright Smile here.", "Robin")


async def test_bad_settings_are_refused_with_their_field_and_change_nothing(
    admin_api: AdminApi,
) -> None:
    headers = admin_api.a.admin.headers
    response = await admin_api.client.patch(
        url(admin_api, "/settings"),
        json={
            "greeting": "This must not be stored",
            "transfer_number": "555-1234",
            "business_hours": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]},
        },
        headers=headers,
    )
    assert response.status_code == 422
    text = response.text
    assert "transfer_number" in text and "E.164" in text
    assert "overlaps" in text
    current = (await admin_api.client.get(url(admin_api, "/settings"), headers=headers)).json()
    assert current["greeting"] != "This must not be stored"
    for body in ({"max_call_seconds": 5}, {"time_zone": "Mars/Olympus"}):
        refused = await admin_api.client.patch(
            url(admin_api, "/settings"), json=body, headers=headers
        )
        assert refused.status_code == 422, body


async def test_holidays_faq_and_insurance(admin_api: AdminApi) -> None:
    headers = admin_api.a.admin.headers
    body = {
        "holidays": [{"day": "2026-12-24", "name": "Christmas Eve"}],
        "faq": {"parking": "Behind the building."},
        "accepted_insurance": ["Delta Dental"],
    }
    response = await admin_api.client.patch(url(admin_api, "/settings"), json=body, headers=headers)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["holidays"] == body["holidays"] and got["faq"] == body["faq"]
    assert got["accepted_insurance"] == ["Delta Dental"]


async def test_staff_reads_settings_but_cannot_change_them(admin_api: AdminApi) -> None:
    staff = next(acc for role, acc in admin_api.a.accounts.items() if role.value == "staff")
    assert (
        await admin_api.client.get(url(admin_api, "/settings"), headers=staff.headers)
    ).status_code == 200
    refused = await admin_api.client.patch(
        url(admin_api, "/settings"), json={"greeting": "x"}, headers=staff.headers
    )
    assert refused.status_code == 403


async def test_adapter_secrets_are_write_only(admin_api: AdminApi) -> None:
    headers = admin_api.a.admin.headers
    secret = "AC-super-secret-auth-token"
    response = await admin_api.client.put(
        url(admin_api, "/adapters/sms"),
        json={"name": "twilio", "settings": {"from_number": "+12075550100", "auth_token": secret}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["settings"] == {"from_number": "+12075550100", "auth_token": "set"}
    listed = await admin_api.client.get(url(admin_api, "/adapters"), headers=headers)
    assert secret not in listed.text
    assert listed.json()["configured"]["sms"]["settings"]["auth_token"] == "set"
    # Sending "set" back keeps the stored secret; other settings change.
    kept = await admin_api.client.put(
        url(admin_api, "/adapters/sms"),
        json={"name": "twilio", "settings": {"from_number": "+12075550199", "auth_token": "set"}},
        headers=headers,
    )
    assert kept.status_code == 200
    async with admin_api.db.read() as session:
        clinic = await session.get(Clinic, admin_api.a.clinic_id)
    assert clinic is not None
    assert clinic.adapters["sms"]["settings"] == {
        "from_number": "+12075550199",
        "auth_token": secret,
    }
    unknown = await admin_api.client.put(
        url(admin_api, "/adapters/sms"), json={"name": "pigeon"}, headers=headers
    )
    assert unknown.status_code == 422 and "twilio" in unknown.text


async def test_phone_numbers_cannot_take_another_clinics_number(admin_api: AdminApi) -> None:
    headers = admin_api.a.admin.headers
    async with admin_api.db.read() as session:
        b_doc = await load_document(session, admin_api.b.clinic_id)
    taken = b_doc["phone_numbers"][0]
    refused = await admin_api.client.put(
        url(admin_api, "/phone-numbers"), json={"numbers": [taken]}, headers=headers
    )
    assert refused.status_code == 409
    assert admin_api.b.clinic_id not in refused.text
    ok = await admin_api.client.put(
        url(admin_api, "/phone-numbers"), json={"numbers": ["+12075550100", "+12075550177"]},
        headers=headers,
    )  # fmt: skip
    assert ok.status_code == 200 and ok.json()["numbers"] == ["+12075550100", "+12075550177"]
    bad = await admin_api.client.put(
        url(admin_api, "/phone-numbers"), json={"numbers": ["12345"]}, headers=headers
    )
    assert bad.status_code == 422


async def test_provider_lifecycle_with_schedule_and_time_off(admin_api: AdminApi) -> None:
    integrator = next(
        acc for role, acc in admin_api.a.accounts.items() if role.value == "integrator"
    )
    headers = integrator.headers  # integrators sync providers from the practice system
    new = {
        "key": "dr-new",
        "name": "Dr. Ada New",
        "title": "DDS",
        "weekly": {"mon": [["09:00", "12:00"]], "thu": [["13:00", "17:00"]]},
        "time_off": [
            {"starts_at": "2026-12-24T08:00:00-05:00", "ends_at": "2026-12-24T17:00:00-05:00",
             "reason": "Holiday"}
        ],
    }  # fmt: skip
    created = await admin_api.client.post(url(admin_api, "/providers"), json=new, headers=headers)
    assert created.status_code == 201, created.text
    provider = created.json()
    assert provider["weekly"] == new["weekly"] and provider["time_off"][0]["reason"] == "Holiday"
    duplicate = await admin_api.client.post(url(admin_api, "/providers"), json=new, headers=headers)
    assert duplicate.status_code == 409
    overlapping = {**new, "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}
    refused = await admin_api.client.put(
        url(admin_api, f"/providers/{provider['id']}"), json=overlapping, headers=headers
    )
    assert refused.status_code == 422 and "overlaps" in refused.text
    changed = await admin_api.client.put(
        url(admin_api, f"/providers/{provider['id']}"),
        json={**new, "name": "Dr. Ada Newer", "time_off": []},
        headers=headers,
    )
    assert changed.status_code == 200 and changed.json()["name"] == "Dr. Ada Newer"
    assert changed.json()["id"] == provider["id"]  # ids survive edits
    removed = await admin_api.client.delete(
        url(admin_api, f"/providers/{provider['id']}"), headers=headers
    )
    assert removed.status_code == 204
    async with admin_api.db.read() as session:
        row = await session.get(Provider, provider["id"])
    assert row is not None and row.active is False  # kept for past appointments
    listed = await admin_api.client.get(url(admin_api, "/providers"), headers=headers)
    assert provider["id"] not in listed.text


async def test_appointment_types_validate_against_providers_and_grid(admin_api: AdminApi) -> None:
    headers = admin_api.a.admin.headers
    providers = (await admin_api.client.get(url(admin_api, "/providers"), headers=headers)).json()
    kind = {
        "code": "night-guard", "name": "Night guard fitting", "duration_minutes": 45,
        "providers": [providers[0]["key"]], "synonyms": ["night guard"],
    }  # fmt: skip
    created = await admin_api.client.post(
        url(admin_api, "/appointment-types"), json=kind, headers=headers
    )
    assert created.status_code == 201, created.text
    off_grid = await admin_api.client.put(
        url(admin_api, f"/appointment-types/{created.json()['id']}"),
        json={**kind, "duration_minutes": 47}, headers=headers,
    )  # fmt: skip
    assert off_grid.status_code == 422 and "grid_minutes" in off_grid.text
    nobody = await admin_api.client.post(
        url(admin_api, "/appointment-types"),
        json={**kind, "code": "x-ray", "providers": ["dr-nobody"]}, headers=headers,
    )  # fmt: skip
    assert nobody.status_code == 422 and "unknown provider" in nobody.text
    profile = await load_clinic_profile(admin_api.db, admin_api.a.clinic_id)
    assert "night-guard" in {t.code for t in profile.appointment_types}
    gone = await admin_api.client.delete(
        url(admin_api, f"/appointment-types/{created.json()['id']}"), headers=headers
    )
    assert gone.status_code == 204
    profile = await load_clinic_profile(admin_api.db, admin_api.a.clinic_id)
    assert "night-guard" not in {t.code for t in profile.appointment_types}


async def test_operator_onboards_a_clinic_and_its_first_admin(admin_api: AdminApi) -> None:
    operator = admin_api.operator.headers
    async with admin_api.db.read() as session:
        doc = await load_document(session, admin_api.a.clinic_id)
    doc.update(slug="new-clinic", name="New Clinic", phone_numbers=["+12075550333"])
    created = await admin_api.client.post("/api/clinics", json=doc, headers=operator)
    assert created.status_code == 201, created.text
    clinic_id = created.json()["id"]
    again = await admin_api.client.post("/api/clinics", json=doc, headers=operator)
    assert again.status_code == 409
    not_operator = await admin_api.client.post(
        "/api/clinics", json={**doc, "slug": "other"}, headers=admin_api.a.admin.headers
    )
    assert not_operator.status_code == 403
    admin = await admin_api.client.post(
        f"/api/clinics/{clinic_id}/users",
        json={"email": "first.admin@example.test", "password": "a long enough password", "role": "admin"},
        headers=operator,
    )  # fmt: skip
    assert admin.status_code == 201, admin.text
    async with admin_api.db.read() as session:  # giving someone access is audited
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.record_id == admin.json()["id"]))
        ).one()
    assert (event.action, event.record_type, event.role) == ("create", "user", "operator")
    mine = await admin_api.client.get("/api/clinics", headers=admin_api.a.admin.headers)
    assert [c["id"] for c in mine.json()] == [admin_api.a.clinic_id]
    everyone = await admin_api.client.get("/api/clinics", headers=operator)
    assert {admin_api.a.clinic_id, admin_api.b.clinic_id, clinic_id} <= {
        c["id"] for c in everyone.json()
    }
    async with admin_api.db.read() as session:
        assert (await session.exec(select(Clinic).where(Clinic.slug == "new-clinic"))).one()
