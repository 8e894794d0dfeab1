"""Migration 2: hourly and daily rollups, now made with each type's table.

The rollups are generated from the device type plugins by ``storage.schema``; this version stays
in the history so that databases migrated before that change keep their numbering.
"""

from __future__ import annotations


def statements() -> list[str]:
    return []
