"""Where a command's log records go: readable lines, or one JSON object per line.

``CIVICPULSE_LOG_FORMAT=json`` is for log shippers (Loki, Elasticsearch, CloudWatch): each record
becomes a single line with its time, level, logger, message and any structured fields a caller
passed with ``extra=``, so no one has to parse free text with regular expressions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``. Uvicorn's
# ``color_message`` repeats the message with terminal colour codes: not for a log shipper.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: ``ts``, ``level``, ``logger``, ``message``, ``pid``, the
    caller's ``extra`` fields, and ``exc`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a field orjson cannot encode (a Path, an exception) is logged as its text
        # rather than losing the whole record.
        return orjson.dumps(entry, default=str).decode()


def configure(level: int, log_format: LogFormat) -> None:
    """Send the root logger's records to stderr in ``log_format``.

    Like :func:`logging.basicConfig`, it does nothing when the root logger has handlers already
    (a test runner's, or an embedding application's)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
