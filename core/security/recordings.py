"""Call recordings at rest: ``<data dir>/calls/<call sid>.wav.enc``, AES-256-GCM sealed.

The file is the whole WAV encrypted under the keyring's active key (the key id is in the file
header, so rotation can re-seal it). ``read`` hands back the playable WAV bytes. A plaintext
``<call sid>.wav`` left by an older version still plays, and ``receptionist keys rotate``
(``reseal_all``) seals it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from core.security import crypto

DIRECTORY = "calls"
SEALED = ".wav.enc"
PLAIN = ".wav"
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # no dots or slashes: no path walking


class RecordingError(ValueError):
    """A call sid that cannot name a recording file."""


def _directory(data_dir: Path) -> Path:
    return data_dir / DIRECTORY


def _checked(call_sid: str) -> str:
    if not _SID.match(call_sid):
        raise RecordingError("not a call sid")
    return call_sid


def sealed_path(data_dir: Path, call_sid: str) -> Path:
    return _directory(data_dir) / f"{_checked(call_sid)}{SEALED}"


def find(data_dir: Path, call_sid: str) -> Path | None:
    """The stored recording of ``call_sid`` (sealed, or a legacy plaintext file), if any."""
    if not _SID.match(call_sid):
        return None
    for path in (sealed_path(data_dir, call_sid), _directory(data_dir) / f"{call_sid}{PLAIN}"):
        if path.is_file():
            return path
    return None


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def store(data_dir: Path, call_sid: str, wav: bytes) -> Path:
    """Seal and keep a call's WAV; returns where it went."""
    path = sealed_path(data_dir, call_sid)
    _write_private(path, crypto.encrypt_bytes(wav))
    return path


def read(path: Path) -> bytes:
    """The playable WAV bytes of a stored recording."""
    data = path.read_bytes()
    return crypto.decrypt_bytes(data) if path.name.endswith(SEALED) else data


def stored(data_dir: Path) -> Iterator[tuple[str, Path]]:
    """(call sid, path) of every stored recording."""
    directory = _directory(data_dir)
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        for suffix in (SEALED, PLAIN):
            if path.name.endswith(suffix) and _SID.match(path.name[: -len(suffix)]):
                yield path.name[: -len(suffix)], path
                break


def reseal_all(data_dir: Path, keyring: crypto.Keyring) -> int:
    """Seal plaintext recordings and re-seal those under older keys; returns files rewritten."""
    rewritten = 0
    for call_sid, path in stored(data_dir):
        data = path.read_bytes()
        if path.name.endswith(SEALED):
            if crypto.blob_key_id(data) == keyring.active:
                continue
            data = keyring.decrypt_bytes(data)
        _write_private(sealed_path(data_dir, call_sid), keyring.encrypt_bytes(data))
        if not path.name.endswith(SEALED):
            path.unlink()
        rewritten += 1
    return rewritten


def delete(data_dir: Path, call_sid: str) -> bool:
    """Remove a call's recording (both forms); True if there was one."""
    removed = False
    while (path := find(data_dir, call_sid)) is not None:
        path.unlink()
        removed = True
    return removed
