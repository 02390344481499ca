"""The keyring, AES-256-GCM values and blobs, blind indexes, and the local development keyring."""

from __future__ import annotations

import base64
import io
import json
import logging
import stat
from pathlib import Path

import pytest

from core.security import crypto
from core.settings import Settings


def test_text_round_trip_names_its_key_and_is_randomised() -> None:
    ring = crypto.generate_keyring()
    first, second = ring.encrypt_text("Alex Rivera"), ring.encrypt_text("Alex Rivera")
    assert first != second  # a fresh nonce each time: equal values are not recognisable
    assert "Alex" not in first and crypto.text_key_id(first) == ring.active
    assert ring.decrypt_text(first) == ring.decrypt_text(second) == "Alex Rivera"


def test_tampering_and_unknown_keys_are_refused() -> None:
    ring = crypto.generate_keyring()
    token = ring.encrypt_text("1985-03-14")
    prefix, body = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(crypto.DecryptionError, match="authentication"):
        ring.decrypt_text(f"{prefix}.{base64.urlsafe_b64encode(bytes(raw)).decode()}")
    other = crypto.generate_keyring()
    with pytest.raises(crypto.DecryptionError, match="no key"):
        other.decrypt_text(token)
    # Relabelling a ciphertext to another key id fails too: the key id is authenticated.
    relabelled = crypto.with_new_active_key(ring)
    forged = token.replace(f".{ring.active}.", f".{relabelled.active}.")
    with pytest.raises(crypto.DecryptionError):
        relabelled.decrypt_text(forged)


def test_rotated_keyring_reads_old_ciphertexts_and_writes_under_the_new_key() -> None:
    old = crypto.generate_keyring()
    token, blob = old.encrypt_text("+12075550111"), old.encrypt_bytes(b"RIFF audio")
    new = crypto.with_new_active_key(old)
    assert new.active != old.active
    assert new.decrypt_text(token) == "+12075550111"
    assert new.decrypt_bytes(blob) == b"RIFF audio"
    assert crypto.blob_key_id(new.encrypt_bytes(b"x")) == new.active


def test_blind_indexes_normalise_and_depend_on_the_index_key() -> None:
    ring = crypto.generate_keyring()
    assert ring.blind_index("phone", "(207) 555-0111") == ring.blind_index("phone", "+12075550111")
    assert ring.blind_index("name", "  RIVERA ") == ring.blind_index("name", "rivera")
    assert ring.blind_index("member_id", "dd-100 200301") == ring.blind_index(
        "member_id", "DD100200301"
    )
    assert ring.blind_index("phone", "+12075550111") != ring.blind_index("phone", "+12075550112")
    # Purposes are separated: the same text under two purposes gives two indexes.
    assert ring.blind_index("name", "may") != ring.blind_index("email", "may")
    assert crypto.generate_keyring().blind_index("name", "rivera") != ring.blind_index(
        "name", "rivera"
    )


def test_keyring_configuration_errors_are_explained() -> None:
    ring = crypto.generate_keyring()
    text = crypto.dump_keyring(ring)
    assert crypto.parse_keyring(text).keys == ring.keys
    assert crypto.parse_keyring(base64.b64encode(text.encode()).decode()).active == ring.active
    broken = json.loads(text)
    broken["active"] = "missing"
    with pytest.raises(crypto.KeyringError, match="active key 'missing'"):
        crypto.parse_keyring(json.dumps(broken))
    short = json.loads(text)
    short["keys"][ring.active] = base64.b64encode(b"short").decode()
    with pytest.raises(crypto.KeyringError, match="32 bytes"):
        crypto.parse_keyring(json.dumps(short))
    with pytest.raises(crypto.KeyringError, match="must be JSON"):
        crypto.parse_keyring('{"keys": {}}')


def test_local_keyring_is_created_once_private_and_announced(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    logger = logging.getLogger("core.security.crypto")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        first = crypto.load_keyring(settings)
        second = crypto.load_keyring(settings)
    finally:
        logger.removeHandler(handler)
    path = tmp_path / crypto.KEYRING_FILE
    assert first == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stream.getvalue().count("LOCAL DEVELOPMENT keyring") == 1  # created once


def test_configured_keyring_wins_and_a_missing_file_is_an_error(tmp_path: Path) -> None:
    ring = crypto.generate_keyring()
    configured = crypto.load_keyring(Settings(data_dir=tmp_path, keyring=crypto.dump_keyring(ring)))
    assert configured.keys == ring.keys
    assert not (tmp_path / crypto.KEYRING_FILE).exists()
    with pytest.raises(crypto.KeyringError, match="does not exist"):
        crypto.load_keyring(Settings(data_dir=tmp_path, keyring_file=tmp_path / "nope.json"))
