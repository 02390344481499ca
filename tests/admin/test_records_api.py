"""Appointments, calls, staff tasks, live calls and metrics through the API: the data, the
filters, the durable cancel path, and an audit event for every read and write of PHI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    Call,
    CallOutcome,
    OutboxMessage,
    TranscriptTurn,
    utcnow,
)
from stack.devserver import DevServer
from tests.admin.conftest import AdminApi, api_settings, serve_admin_api
from tests.support.workers import running_worker


async def _audit(db: Database, record_type: str, record_id: str) -> list[AuditEvent]:
    async with db.read() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.record_type == record_type, AuditEvent.record_id == record_id
                    )
                )
            ).all()
        )


def url(api: AdminApi, path: str) -> str:
    return f"/api/clinics/{api.a.clinic_id}{path}"


async def test_appointments_list_filters_and_audits_each_patient_record(
    admin_api: AdminApi,
) -> None:
    staff = next(acc for role, acc in admin_api.a.accounts.items() if role.value == "staff")
    response = await admin_api.client.get(url(admin_api, "/appointments"), headers=staff.headers)
    assert response.status_code == 200
    rows = response.json()
    assert admin_api.a.appointment_id in {r["id"] for r in rows}
    assert admin_api.b.appointment_id not in {r["id"] for r in rows}
    assert all(r["patient_name"] for r in rows)
    events = await _audit(admin_api.db, "appointment", admin_api.a.appointment_id)
    assert [(e.actor, e.action, e.clinic_id) for e in events] == [
        (staff.user_id, "read", admin_api.a.clinic_id)
    ]
    pending = await admin_api.client.get(
        url(admin_api, "/appointments"), params={"status": "pending"}, headers=staff.headers
    )
    assert {r["status"] for r in pending.json()} <= {"pending"}
    assert admin_api.a.appointment_id in {r["id"] for r in pending.json()}
    later = await admin_api.client.get(
        url(admin_api, "/appointments"),
        params={"from": "2030-01-01T00:00:00Z"},
        headers=staff.headers,
    )
    assert later.json() == []


async def test_call_detail_has_transcript_latencies_tools_and_workflows(
    admin_api: AdminApi,
) -> None:
    staff = next(acc for role, acc in admin_api.a.accounts.items() if role.value == "staff")
    listed = await admin_api.client.get(url(admin_api, "/calls"), headers=staff.headers)
    [summary] = [c for c in listed.json() if c["id"] == admin_api.a.call_id]
    assert summary["outcome"] == "booked" and summary["duration_seconds"] == 95.0
    assert summary["has_recording"] is True
    assert "from_number" not in summary  # the list carries no patient details
    detail = await admin_api.client.get(
        url(admin_api, f"/calls/{admin_api.a.call_id}"), headers=staff.headers
    )
    assert detail.status_code == 200
    call = detail.json()
    assert [t["text"] for t in call["transcript"]] == [
        "Thanks for calling, how can I help?", "I need a cleaning",
    ]  # fmt: skip
    assert [t["first_media_ms"] for t in call["turn_latencies"]] == [420.0, 610.0]
    assert call["tools_used"] == ["find_slots", "book_appointment"]
    assert call["workflow_ids"][1] == f"call-{admin_api.a.call_sid}"
    assert call["patient_name"] and call["from_number"]
    assert [e.actor for e in await _audit(admin_api.db, "call", admin_api.a.call_id)] == [
        staff.user_id
    ]
    assert await _audit(admin_api.db, "patient", admin_api.a.patient_id)
    outcome = await admin_api.client.get(
        url(admin_api, "/calls"), params={"outcome": "transferred"}, headers=staff.headers
    )
    assert outcome.json() == []


async def test_recording_is_served_authenticated_and_audited(admin_api: AdminApi) -> None:
    a = admin_api.a
    recording = url(admin_api, f"/calls/{a.call_id}/recording")
    response = await admin_api.client.get(recording, headers=a.admin.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.content[:4] == b"RIFF"
    assert "no-store" in response.headers["cache-control"]
    assert await _audit(admin_api.db, "call_recording", a.call_id)
    assert (await admin_api.client.get(recording)).status_code == 401
    integrator = next(acc for role, acc in a.accounts.items() if role.value == "integrator")
    assert (await admin_api.client.get(recording, headers=integrator.headers)).status_code == 403
    Path(admin_api.settings.data_dir, "calls", f"{a.call_sid}.wav").unlink()
    gone = await admin_api.client.get(recording, headers=a.admin.headers)
    assert gone.status_code == 404


async def test_tasks_list_detail_and_resolve(admin_api: AdminApi) -> None:
    staff = next(acc for role, acc in admin_api.a.accounts.items() if role.value == "staff")
    task_id = admin_api.a.task_id
    open_tasks = await admin_api.client.get(url(admin_api, "/tasks"), headers=staff.headers)
    assert [t["id"] for t in open_tasks.json()] == [task_id]
    assert "detail" not in open_tasks.json()[0]
    detail = await admin_api.client.get(url(admin_api, f"/tasks/{task_id}"), headers=staff.headers)
    assert "asked for a call back" in detail.json()["detail"]
    resolved = await admin_api.client.post(
        url(admin_api, f"/tasks/{task_id}/resolve"), headers=staff.headers
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"]
    again = await admin_api.client.post(
        url(admin_api, f"/tasks/{task_id}/resolve"), headers=staff.headers
    )
    assert again.json()["resolved_at"] == resolved.json()["resolved_at"]
    assert (
        await admin_api.client.get(url(admin_api, "/tasks"), headers=staff.headers)
    ).json() == []
    done = await admin_api.client.get(
        url(admin_api, "/tasks"), params={"status": "resolved"}, headers=staff.headers
    )
    assert [t["id"] for t in done.json()] == [task_id]
    actions = [e.action for e in await _audit(admin_api.db, "staff_task", task_id)]
    assert actions == ["read", "update", "update"]


async def test_live_view_streams_calls_in_progress_of_this_clinic_only(
    admin_api: AdminApi,
) -> None:
    a, b = admin_api.a, admin_api.b
    async with admin_api.db.write() as session:
        live_a = Call(clinic_id=a.clinic_id, call_sid="CA-live-a", outcome=CallOutcome.IN_PROGRESS)
        live_b = Call(clinic_id=b.clinic_id, call_sid="CA-live-b", outcome=CallOutcome.IN_PROGRESS)
        session.add_all([live_a, live_b])
        await session.flush()
        session.add(TranscriptTurn(call_id=live_a.id, seq=0, role="caller", text="is it open"))
    response = await admin_api.client.get(
        url(admin_api, "/calls/live"), params={"once": "true"}, headers=a.admin.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [chunk for chunk in response.text.split("\n\n") if chunk.startswith("event: calls")]
    [event] = events
    calls = json.loads(event.split("data: ", 1)[1])
    assert [c["call_sid"] for c in calls] == ["CA-live-a"]
    assert calls[0]["transcript"][0]["text"] == "is it open"
    assert await _audit(admin_api.db, "call", live_a.id)


async def test_metrics_per_day(admin_api: AdminApi) -> None:
    response = await admin_api.client.get(
        url(admin_api, "/metrics"), headers=admin_api.a.admin.headers
    )
    assert response.status_code == 200
    metrics = response.json()
    assert len(metrics["days"]) == 14
    total = metrics["total"]
    assert total["calls_handled"] == 1 and total["average_handle_seconds"] == 95.0
    assert total["booking_completion_rate"] == 1.0 and total["transfer_rate"] == 0.0
    assert (total["turn_latency_p50_ms"], total["turn_latency_p95_ms"]) == (420.0, 610.0)
    assert sum(d["calls_handled"] for d in metrics["days"]) == 1
    refused = await admin_api.client.get(
        url(admin_api, "/metrics"), params={"from": "2026-05-02", "to": "2026-05-01"},
        headers=admin_api.a.admin.headers,
    )  # fmt: skip
    assert refused.status_code == 422


async def test_prometheus_counts_each_finished_call_once(admin_api: AdminApi) -> None:
    assert (await admin_api.client.get("/metrics")).status_code == 401
    assert (
        await admin_api.client.get("/metrics", headers=admin_api.a.admin.headers)
    ).status_code == 403
    operator = admin_api.operator.headers
    first = await admin_api.client.get("/metrics", headers=operator)
    assert first.status_code == 200
    assert "receptionist_calls_in_progress" in first.text
    # A call finishing now is counted at the next scrape, and only once.
    async with admin_api.db.write() as session:
        session.add(
            Call(
                clinic_id=admin_api.a.clinic_id, call_sid="CA-prom", outcome=CallOutcome.TRANSFERRED,
                started_at=utcnow(), ended_at=utcnow(), workflow_ids=["call-CA-prom"],
                turn_latencies=[{"first_media_ms": 300.0}],
            )
        )  # fmt: skip
    for _ in range(2):
        text = (await admin_api.client.get("/metrics", headers=operator)).text
    assert 'receptionist_calls_total{direction="inbound",outcome="transferred"} 1.0' in text
    assert 'receptionist_workflows_started_total{kind="call"} 1.0' in text
    assert 'receptionist_turn_latency_seconds_count{stage="first_media"} 1.0' in text


@pytest.fixture
async def with_temporal(
    database_url: str, tmp_path: Path, temporal_client: Client, temporal_server: DevServer
) -> AsyncIterator[AdminApi]:
    db = Database(database_url)
    try:
        async with running_worker(temporal_client, db) as prefix:
            settings = api_settings(
                database_url, tmp_path,
                temporal_address=temporal_server.address, task_queue_prefix=prefix,
            )  # fmt: skip
            async for api in serve_admin_api(settings):
                yield api
    finally:
        await db.dispose()


async def test_cancel_runs_the_durable_cancel_path(with_temporal: AdminApi) -> None:
    api = with_temporal
    staff = next(acc for role, acc in api.a.accounts.items() if role.value == "staff")
    async with api.db.write() as session:
        appointment = await session.get(Appointment, api.a.appointment_id)
        assert appointment is not None
        appointment.status = AppointmentStatus.BOOKED
        session.add(appointment)
    started = utcnow()
    response = await api.client.post(
        url(api, f"/appointments/{api.a.appointment_id}/cancel"),
        json={"reason": "patient called the front desk"},
        headers=staff.headers,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] in ("accepted", "done")
    assert result["workflow_id"] == f"cancel-{api.a.clinic_id}-{api.a.appointment_id}"
    client = await api.app.state.services.temporal()
    await client.get_workflow_handle(result["workflow_id"]).result()
    async with api.db.read() as session:
        appointment = await session.get(Appointment, api.a.appointment_id)
        sms = (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.created_at) >= started)
            )
        ).all()
    assert appointment is not None and appointment.status == AppointmentStatus.CANCELLED
    assert [m.purpose for m in sms] == ["cancelled"]
    again = await api.client.post(
        url(api, f"/appointments/{api.a.appointment_id}/cancel"), json={}, headers=staff.headers
    )
    assert again.status_code == 409
    actions = [e.action for e in await _audit(api.db, "appointment", api.a.appointment_id)]
    assert actions == ["update"]
