"""AES-256-GCM encryption with a rotating keyring, and keyed blind indexes for equality lookups.

Every ciphertext names the key that sealed it, so a new key can become active while data under
older keys still reads; ``receptionist keys rotate`` then re-encrypts in batches. Equality
lookups on encrypted values (a caller's phone, name + date of birth) use blind indexes: an
HMAC-SHA256 of the normalised value under a separate index key, so the database can match
without ever holding the plaintext.

The keyring comes from settings (``RECEPTIONIST_KEYRING`` inline, or ``RECEPTIONIST_KEYRING_FILE``).
With neither, a keyring is generated once in the data directory so the zero-configuration demo
works; that is announced loudly, because a key stored beside the data it protects protects only
against a leaked database dump, not a stolen disk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

KEYRING_FILE = "keyring.json"
TEXT_PREFIX = "ENC1."  # text columns: ENC1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>
BLOB_MAGIC = b"RCE1"  # files and Temporal payloads: magic ‖ len(key id) ‖ key id ‖ nonce ‖ ct
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringError(ValueError):
    """The keyring configuration is unusable; the message says what to fix."""


class DecryptionError(ValueError):
    """A ciphertext is malformed, was tampered with, or names a key the keyring lacks."""


def _aad(key_id: str) -> bytes:
    # Binding the key id into the tag stops a ciphertext from being relabelled to another key.
    return b"receptionist/v1/" + key_id.encode()


@dataclass(frozen=True)
class Keyring:
    """Data keys by id (one active for new ciphertexts) and the blind-index key."""

    active: str
    keys: dict[str, bytes]
    index_key: bytes
    source: str = field(default="memory", compare=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"the active key {self.active!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise KeyringError(f"key id {key_id!r} must be 1-32 of [A-Za-z0-9_-]")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        if len(self.index_key) < KEY_BYTES:
            raise KeyringError(f"the index key must be at least {KEY_BYTES} bytes")

    # --- raw AEAD ---------------------------------------------------------------------------

    def seal(self, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt under the active key: (key id, nonce ‖ ciphertext ‖ tag)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, _aad(self.active))
        return self.active, nonce + sealed

    def open(self, key_id: str, sealed: bytes) -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"no key {key_id!r} in the keyring ({self.source})")
        try:
            return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(key_id))
        except InvalidTag:
            raise DecryptionError(f"ciphertext under {key_id!r} failed authentication") from None

    # --- text (database columns) ------------------------------------------------------------

    def encrypt_text(self, value: str) -> str:
        key_id, sealed = self.seal(value.encode())
        return f"{TEXT_PREFIX}{key_id}.{base64.urlsafe_b64encode(sealed).decode()}"

    def decrypt_text(self, token: str) -> str:
        key_id, _, body = token.removeprefix(TEXT_PREFIX).partition(".")
        if not token.startswith(TEXT_PREFIX) or not body:
            raise DecryptionError("not an encrypted text value")
        try:
            sealed = base64.urlsafe_b64decode(body)
        except (binascii.Error, ValueError):
            raise DecryptionError("encrypted text is not valid base64") from None
        return self.open(key_id, sealed).decode()

    # --- bytes (recordings, Temporal payloads) ----------------------------------------------

    def encrypt_bytes(self, data: bytes) -> bytes:
        key_id, sealed = self.seal(data)
        return BLOB_MAGIC + bytes([len(key_id)]) + key_id.encode() + sealed

    def decrypt_bytes(self, blob: bytes) -> bytes:
        key_id = blob_key_id(blob)
        return self.open(key_id, blob[len(BLOB_MAGIC) + 1 + len(key_id) :])

    # --- blind indexes ----------------------------------------------------------------------

    def blind_index(self, purpose: str, value: str) -> str:
        normalised = normalise(purpose, value)
        message = purpose.encode() + b"\x00" + normalised.encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()


def is_encrypted_text(value: str) -> bool:
    return value.startswith(TEXT_PREFIX)


def text_key_id(token: str) -> str | None:
    """The key id an encrypted text names, or None for plaintext."""
    if not is_encrypted_text(token):
        return None
    return token.removeprefix(TEXT_PREFIX).partition(".")[0]


def blob_key_id(blob: bytes) -> str:
    if not blob.startswith(BLOB_MAGIC) or len(blob) < len(BLOB_MAGIC) + 1:
        raise DecryptionError("not an encrypted blob")
    length = blob[len(BLOB_MAGIC)]
    return blob[len(BLOB_MAGIC) + 1 : len(BLOB_MAGIC) + 1 + length].decode()


# --- normalisation for blind indexes ---------------------------------------------------------


def _phone(value: str) -> str:
    """E.164: digits with a leading +; ten-digit North American numbers get the +1."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 10 and not value.strip().startswith("+"):
        digits = "1" + digits
    return "+" + digits


def _words(value: str) -> str:
    return " ".join(value.casefold().split())


def _dob(value: str) -> str:
    return date.fromisoformat(value.strip()).isoformat()


def _member_id(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


NORMALISERS: dict[str, Callable[[str], str]] = {
    "phone": _phone,
    "name": _words,
    "dob": _dob,
    "member_id": _member_id,
    "email": lambda v: v.strip().casefold(),
    "ehr_id": str.strip,  # an EHR's patient id (a record number): exact, case and all
}


def normalise(purpose: str, value: str) -> str:
    """The canonical form hashed for ``purpose``; unknown purposes compare case-blind words."""
    return NORMALISERS.get(purpose, _words)(value)


# --- the process keyring ---------------------------------------------------------------------


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{what} is not valid base64") from None


def parse_keyring(text: str, source: str = "settings") -> Keyring:
    """A keyring from its JSON (or base64 of the JSON)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        stripped = _b64(stripped, "RECEPTIONIST_KEYRING").decode()
    try:
        raw = json.loads(stripped)
        keys = {kid: _b64(value, f"key {kid!r}") for kid, value in raw["keys"].items()}
        return Keyring(raw["active"], keys, _b64(raw["index_key"], "index_key"), source)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise KeyringError(
            f'keyring ({source}) must be JSON {{"active": id, "keys": {{id: base64}}, '
            f'"index_key": base64}} ({type(exc).__name__}: {exc})'
        ) from None


def dump_keyring(keyring: Keyring) -> str:
    return json.dumps(
        {
            "active": keyring.active,
            "keys": {kid: base64.b64encode(key).decode() for kid, key in keyring.keys.items()},
            "index_key": base64.b64encode(keyring.index_key).decode(),
        },
        indent=2,
    )


def new_key_id() -> str:
    return f"k{secrets.token_hex(4)}"


def generate_keyring() -> Keyring:
    return Keyring(
        (kid := new_key_id()), {kid: AESGCM.generate_key(256)}, secrets.token_bytes(KEY_BYTES)
    )


def with_new_active_key(keyring: Keyring) -> Keyring:
    """The keyring plus a fresh key that becomes active (old keys stay, to read old data)."""
    kid = new_key_id()
    keys = {**keyring.keys, kid: AESGCM.generate_key(256)}
    return Keyring(kid, keys, keyring.index_key, keyring.source)


def write_keyring_file(path: Path, keyring: Keyring) -> None:
    """Replace the file atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(dump_keyring(keyring))
    os.replace(tmp, path)


def _create_local_keyring(path: Path) -> None:
    """Create the development keyring once; a process that loses the race reads the winner's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(dump_keyring(generate_keyring()))
    log.warning(
        "SECURITY: no RECEPTIONIST_KEYRING configured; generated a LOCAL DEVELOPMENT keyring "
        "beside the data. Configure keys from a key management service in production.",
        extra={"keyring_file": str(path)},
    )


def _read_keyring_file(path: Path) -> Keyring:
    for _ in range(50):  # another process may be between O_EXCL and its write
        text = path.read_text()
        if text.strip():
            return parse_keyring(text, source=str(path))
        threading.Event().wait(0.02)
    raise KeyringError(f"keyring file {path} is empty")


class KeyringSettings(Protocol):
    """The settings fields the keyring needs."""

    @property
    def keyring(self) -> str | None: ...
    @property
    def keyring_file(self) -> Path | None: ...
    @property
    def data_dir(self) -> Path: ...


def local_keyring_path(settings: KeyringSettings) -> Path:
    return settings.keyring_file or settings.data_dir / KEYRING_FILE


def load_keyring(settings: KeyringSettings) -> Keyring:
    if settings.keyring:
        return parse_keyring(settings.keyring)
    path = local_keyring_path(settings)
    if settings.keyring_file is None and not path.exists():
        _create_local_keyring(path)
    if not path.exists():
        raise KeyringError(f"RECEPTIONIST_KEYRING_FILE {path} does not exist")
    keyring = _read_keyring_file(path)
    if settings.keyring_file is None:
        log.warning(
            "SECURITY: using the local development keyring; not for production",
            extra={"keyring_file": str(path)},
        )
    return keyring


_lock = threading.Lock()
_current: Keyring | None = None


def keyring() -> Keyring:
    """The process's keyring, loaded once from the process settings (environment)."""
    global _current
    with _lock:
        if _current is None:
            from core.settings import get_settings

            _current = load_keyring(get_settings())
        return _current


@contextmanager
def using_keyring(replacement: Keyring) -> Iterator[Keyring]:
    """Run with another keyring (rotation, tests), restoring the previous one after."""
    global _current
    previous = _current
    _current = replacement
    try:
        yield replacement
    finally:
        _current = previous


def install_keyring(replacement: Keyring) -> None:
    """Replace the process keyring (after ``keys rotate`` added a key, for instance)."""
    global _current
    with _lock:
        _current = replacement


# --- the API the rest of the code uses -------------------------------------------------------


def encrypt(value: str) -> str:
    return keyring().encrypt_text(value)


def decrypt(token: str) -> str:
    return keyring().decrypt_text(token)


def encrypt_bytes(data: bytes) -> bytes:
    return keyring().encrypt_bytes(data)


def decrypt_bytes(blob: bytes) -> bytes:
    return keyring().decrypt_bytes(blob)


def blind_index(purpose: str, value: str) -> str:
    """HMAC-SHA256 (hex) of ``value`` normalised for ``purpose`` ("phone", "name", "dob",
    "member_id", "email"; anything else compares case-blind words)."""
    return keyring().blind_index(purpose, value)


def identity_index(first_name: str, last_name: str, date_of_birth: str) -> str:
    """The blind index of a person's name and date of birth together (caller verification)."""
    parts = (normalise("name", first_name), normalise("name", last_name), _dob(date_of_birth))
    return blind_index("identity", "|".join(parts))
