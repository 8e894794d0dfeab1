"""Readings as contract JSON (devices/codec.py): one object, or an array of them as a batch.

Values are kept as scaled integers and written as exact decimals: the ESP32 port's floats are
32-bit, which cannot hold a meter register such as 12873.412 kWh to the last digit.

A node describes its fields as ``(name, scale)`` pairs: ``scale`` is the number of decimals of
the stored integer, or ``None`` for a boolean. ``None`` values are left out of the payload.
"""

from cpfw.clock import rfc3339


def decimal(value, scale):
    """``decimal(12873412, 3) == "12873.412"``; ``decimal(-5, 1) == "-0.5"``."""
    if not scale:
        return str(int(value))
    whole, fraction = divmod(abs(int(value)), 10**scale)
    fraction = str(fraction)
    sign = "-" if value < 0 else ""
    return sign + str(whole) + "." + "0" * (scale - len(fraction)) + fraction


def item_json(fields, item):
    """One reading ``[seq, ts_ms, value, ...]`` as a JSON object (str)."""
    parts = ['"ts":"' + rfc3339(item[1]) + '"', '"seq":' + str(item[0])]
    for index in range(len(fields)):
        value = item[2 + index]
        if value is None:
            continue
        name, scale = fields[index]
        text = ("true" if value else "false") if scale is None else decimal(value, scale)
        parts.append('"' + name + '":' + text)
    return "{" + ",".join(parts) + "}"


def next_batch(buffer, fields, max_items, max_bytes):
    """The oldest readings that fit the limits: ``(payload bytes, last seq, count)``.

    One reading goes out as an object (a live reading); several as an array (a backlog batch).
    A reading larger than ``max_bytes`` on its own is still sent alone, never split. The join is
    the only allocation as large as the payload (see ``mqttpkt.publish``).
    """
    count = min(len(buffer), max_items)
    if count == 0:
        return None
    parts = []
    size = 1  # the closing bracket; each part adds its length plus "[" or ","
    for index in range(count):
        text = item_json(fields, buffer.peek(index)).encode()
        if parts and size + len(text) + 1 > max_bytes:
            break
        parts.append(text)
        size += len(text) + 1
    last_seq = buffer.peek(len(parts) - 1)[0]
    if len(parts) == 1:
        return parts[0], last_seq, 1
    parts[0] = b"[" + parts[0]
    parts[-1] += b"]"
    return b",".join(parts), last_seq, len(parts)
