"""The integrator path: an EHR adapter shipped as an installed distribution with an entry point
``ehr.acme`` is found by the registry, passes the conformance suite, and books through the saga
with no edit to workflows or activities."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus
from core.settings import Settings
from durable.booking import BookingRequest, Bookings
from integrations.registry import ENTRY_POINT_GROUP, AdapterContext, AdapterRegistry
from tests.integrations.test_local_conformance import LocalSchedule
from tests.support.booking import free_slots, seeded_patient, use_adapter
from tests.support.workers import running_worker
from workflows.contracts import BookingOutcome

PACKAGE = '''
"""Acme PM's EHR adapter (here it keeps the schedule locally, under its own name)."""
from integrations.ehr.local import LocalEhr


class AcmeEhr(LocalEhr):
    vendor = "acme"
'''


@pytest.fixture(scope="module")
def installed_acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``pip install receptionist-ehr-acme``, as the files it leaves in site-packages."""
    root = tmp_path_factory.mktemp("site")
    module = f"receptionist_ehr_acme_{uuid.uuid4().hex[:6]}"
    (root / f"{module}.py").write_text(PACKAGE)
    dist = root / "receptionist_ehr_acme-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: receptionist-ehr-acme\nVersion: 1.0.0\n"
    )
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nehr.acme = {module}:AcmeEhr\n")
    sys.path.insert(0, str(root))
    try:
        yield module
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(module, None)


def acme(context: AdapterContext) -> Any:
    return AdapterRegistry().create("ehr", {"name": "acme"}, context)


def test_registry_finds_the_entry_point(installed_acme: str) -> None:
    factory = AdapterRegistry().factory("ehr", "acme")
    assert factory.__module__ == installed_acme and factory.__name__ == "AcmeEhr"


class TestAcmeConformance(LocalSchedule):
    """The same suite, with the adapter loaded through its entry point."""

    @pytest.fixture
    async def ehr(self, db: Database, demo: SeedReport, installed_acme: str) -> Any:
        adapter = acme(AdapterContext(db=db, settings=Settings()))
        assert type(adapter).__module__ == installed_acme
        return adapter


async def test_saga_books_through_the_entry_point_adapter(
    db: Database, demo: SeedReport, temporal_client: Client, installed_acme: str
) -> None:
    await use_adapter(db, demo.clinic_id, "ehr", "acme")
    patient = await seeded_patient(db)
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db) as prefix:
        decision = await Bookings(temporal_client, db, task_queue_prefix=prefix).book(
            BookingRequest(
                clinic_id=demo.clinic_id,
                request_id=uuid.uuid4().hex[:12],
                provider_id=slot.provider_id,
                appointment_type="cleaning",
                starts_at=slot.starts_at,
                patient_id=patient.id,
            )
        )
        assert decision.accepted is not None
        result = await temporal_client.get_workflow_handle(
            decision.workflow_id, result_type=BookingOutcome
        ).result()
    assert result.status == "booked"
    async with db.read() as session:
        stored = await session.get(Appointment, decision.accepted.appointment_id)
    assert stored is not None and stored.status == AppointmentStatus.BOOKED
