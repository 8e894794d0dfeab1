"""Households' contact details, read from the council's own systems at send time.

CivicPulse knows households only by a pseudonymous id. Their email addresses, phone numbers and
postal addresses stay where the council keeps them; an export of them (CSV, refreshed by the
council) is read when messages go out and never stored in the database:

    household_id,email,phone,address,ihd_topic
    hh-0001,resident@example.org,+447700900123,"1 Camden Road|London|NW1 9AA",

``address`` lines are separated by ``|`` (GOV.UK Notify letters need at least three, the
postcode last). ``ihd_topic`` is the MQTT command topic of the household's in-home display.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from civicpulse.errors import ConfigError
from delivery.model import Contact

COLUMNS = ("household_id", "email", "phone", "address", "ihd_topic")


def read_contacts(path: Path) -> dict[str, Contact]:
    """The contact directory in ``path``, or one clear error naming the problem."""
    setting = "CIVICPULSE_CONTACTS_FILE"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(setting, f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(setting, f"{path}: {error}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [c.strip().lower() for c in reader.fieldnames or []]
    if "household_id" not in header or any(c not in COLUMNS for c in header):
        raise ConfigError(setting, f"{path}: columns must be {', '.join(COLUMNS)}")
    contacts: dict[str, Contact] = {}
    for row in reader:
        values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        household = values.get("household_id", "")
        if not household:
            continue
        contacts[household] = Contact(
            email=values.get("email") or None,
            phone=values.get("phone") or None,
            address=tuple(
                line.strip() for line in values.get("address", "").split("|") if line.strip()
            ),
            mqtt_topic=values.get("ihd_topic") or None,
        )
    return contacts


def contact_for(contacts: Mapping[str, Contact], household_id: str) -> Contact:
    """The household's contact, or an empty one (every channel then says why it was skipped)."""
    return contacts.get(household_id, Contact())
