"""PHI columns are ciphertext in the database, found by blind index, and survive key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import select

from core.db import Database, sync_url
from core.demo.seed import SeedReport
from core.migrate import downgrade, upgrade
from core.models import Appointment, Call, InsuranceCoverage, Patient
from core.security import crypto, recordings
from core.security.columns import EncryptedColumnComparisonError
from core.security.rotation import rotate_keys
from core.settings import Settings
from tests.security.dumps import database_dump, leaks
from tests.security.phi import ALEX_RIVERA, DATE_OF_BIRTH, FIRST, LAST, MEMBER_ID, PHONE


async def _raw_patient(db: Database, patient_id: str) -> dict[str, str]:
    async with db.read() as session:
        row = (
            await (await session.connection()).execute(
                text(
                    "SELECT first_name, last_name, date_of_birth, phone FROM patient WHERE id = :i"
                ),
                {"i": patient_id},
            )
        ).one()
    return dict(row._mapping)


async def alex(db: Database) -> Patient:
    async with db.read() as session:
        return (
            await session.exec(
                select(Patient).where(Patient.phone_index == crypto.blind_index("phone", PHONE))
            )
        ).one()


async def test_seeded_patients_are_ciphertext_on_disk_and_plaintext_in_python(
    db: Database, database_url: str, demo: SeedReport
) -> None:
    patient = await alex(db)
    assert (patient.first_name, patient.last_name, patient.date_of_birth) == (
        FIRST, LAST, DATE_OF_BIRTH,
    )  # fmt: skip
    raw = await _raw_patient(db, patient.id)
    assert all(crypto.is_encrypted_text(v) for v in raw.values()), raw
    assert leaks(database_dump(db, database_url), ALEX_RIVERA) == []


async def test_free_text_reasons_and_ehr_ids_are_ciphertext_on_disk(
    db: Database, database_url: str, demo: SeedReport
) -> None:
    """A transfer or cancellation reason is the agent's or caller's words (clinical detail); the
    EHR's patient id is a record number, found by its blind index."""
    reason, record_number = "swelling with fever since Tuesday", "MRN-4433217"
    patient = await alex(db)
    async with db.write() as session:
        call = Call(clinic_id=demo.clinic_id, call_sid="CA" + "7" * 32, transfer_reason=reason)
        appointment = (await session.exec(select(Appointment))).first()
        assert appointment is not None
        appointment.cancel_reason = reason
        patient.external_ehr_id = record_number
        session.add_all([call, appointment, patient])
    async with db.read() as session:
        assert (await session.get(Call, call.id)).transfer_reason == reason  # type: ignore[union-attr]
        found = (
            await session.exec(
                select(Patient).where(
                    Patient.external_ehr_index == crypto.blind_index("ehr_id", record_number)
                )
            )
        ).one()
    assert found.id == patient.id and found.external_ehr_id == record_number
    assert leaks(database_dump(db, database_url), [reason, record_number]) == []


async def test_equality_lookups_use_blind_indexes(db: Database, demo: SeedReport) -> None:
    patient = await alex(db)
    async with db.read() as session:
        by_identity = (
            await session.exec(
                select(Patient).where(
                    Patient.identity_index
                    == crypto.identity_index(" alex", "RIVERA", DATE_OF_BIRTH)
                )
            )
        ).one()
        coverage = (
            await session.exec(
                select(InsuranceCoverage).where(
                    InsuranceCoverage.member_index == crypto.blind_index("member_id", MEMBER_ID)
                )
            )
        ).one()
        # Comparing ciphertext would silently match nothing: it is refused instead.
        with pytest.raises(EncryptedColumnComparisonError, match="blind index"):
            select(Patient).where(Patient.last_name == LAST)
    assert by_identity.id == patient.id and coverage.member_id == MEMBER_ID


async def test_indexes_follow_updates(db: Database, demo: SeedReport) -> None:
    patient = await alex(db)
    async with db.write() as session:
        row = await session.get(Patient, patient.id)
        assert row is not None
        row.phone = "+12075550999"
        session.add(row)
    async with db.read() as session:
        moved = (
            await session.exec(
                select(Patient).where(
                    Patient.phone_index == crypto.blind_index("phone", "(207) 555-0999")
                )
            )
        ).one()
    assert moved.id == patient.id


async def test_rotation_reencrypts_every_row_and_recording_and_old_data_still_reads(
    db: Database, database_url: str, demo: SeedReport, tmp_path: Path
) -> None:
    ring = crypto.keyring()
    file_ring = tmp_path / "keyring.json"
    crypto.write_keyring_file(file_ring, ring)
    settings = Settings(database_url=database_url, data_dir=tmp_path, keyring_file=file_ring)
    recordings.store(tmp_path, "CArotation", b"RIFF....WAVE")
    (tmp_path / recordings.DIRECTORY / "CAlegacy.wav").write_bytes(b"RIFF plain")
    patient = await alex(db)
    old_key = ring.active
    try:
        with crypto.using_keyring(crypto.with_new_active_key(ring)) as rotated:
            crypto.write_keyring_file(file_ring, rotated)
            report = await rotate_keys(settings, new_key=False, batch_size=3)
            assert report.active_key == rotated.active != old_key
            assert report.rows["patient"] >= 1 and report.recordings == 2
            raw = await _raw_patient(db, patient.id)
            assert {crypto.text_key_id(v) for v in raw.values()} == {rotated.active}
            # The old key is no longer needed: drop it and everything still reads.
            only_new = crypto.Keyring(
                rotated.active, {rotated.active: rotated.keys[rotated.active]}, ring.index_key
            )
            with crypto.using_keyring(only_new):
                assert (await alex(db)).last_name == LAST
                assert recordings.read(recordings.sealed_path(tmp_path, "CAlegacy")) == (
                    b"RIFF plain"
                )
                assert not (tmp_path / recordings.DIRECTORY / "CAlegacy.wav").exists()
            # Nothing left to do: a second run rewrites nothing.
            again = await rotate_keys(settings, new_key=False)
            assert sum(again.rows.values()) == 0 and again.recordings == 0
    finally:
        crypto.install_keyring(ring)


def test_migration_encrypts_existing_plaintext_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clinic (id, slug, name, time_zone, specialty, address, agent_name, "
                "greeting, voice, max_call_seconds, transfer_number, emergency_number, "
                "emergency_instructions, business_hours, faq, accepted_insurance, adapters, "
                "slot_step_minutes, grid_minutes, min_notice_minutes, booking_horizon_days, "
                "hold_ttl_seconds, created_at) VALUES ('c1', 's', 'n', 'UTC', 'dental', '', 'a', "
                "'', '', 900, '', '', '', '{}', '{}', '[]', '{}', 15, 5, 60, 90, 300, "
                "'2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO patient (id, clinic_id, first_name, last_name, date_of_birth, phone, "
                "sms_opt_out, created_at) VALUES ('p1', 'c1', :f, :l, :d, :p, 0, '2026-01-01')"
            ),
            {"f": FIRST, "l": LAST, "d": DATE_OF_BIRTH, "p": PHONE},
        )
    engine.dispose()
    upgrade(url)
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT first_name, phone, phone_index, identity_index FROM patient")
        ).one()
    engine.dispose()
    assert crypto.decrypt(row.first_name) == FIRST and crypto.decrypt(row.phone) == PHONE
    assert row.phone_index == crypto.blind_index("phone", PHONE)
    assert row.identity_index == crypto.identity_index(FIRST, LAST, DATE_OF_BIRTH)
    assert LAST.encode() not in (tmp_path / "old.db").read_bytes()
    # And back: a downgrade decrypts.
    downgrade(url, "0003")
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_name, phone FROM patient")).one() == (LAST, PHONE)
    engine.dispose()
