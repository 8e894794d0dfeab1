"""Mosquitto's password and ACL files, written from the platform's accounts (file adapter)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from devices.credentials import Account, acl_file, password_file


def write_broker_files(
    directory: Path,
    accounts: Sequence[Account],
    *,
    mode: int = 0o640,
    owner: tuple[int, int] | None = None,
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` atomically (a broker reload never sees half a file).

    ``mode`` 0640 suits a broker in the files' group; a broker running as another user (the
    Mosquitto image's uid 1883) needs ``owner`` set to it."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "passwd", directory / "acl"
    for path, text in zip(paths, (password_file(accounts), acl_file()), strict=True):
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        if owner is not None:  # e.g. 1883:1883, the uid Mosquitto's image reads files as
            os.chown(temporary, *owner)
        os.replace(temporary, path)
    return paths
