"""``config.json``: Wi-Fi, broker, identity and tuning, checked once at boot.

Provisioning writes the file (see docs/firmware.md): ``device_id`` is the registered id, the MQTT
username defaults to it and the MQTT password is the secret ``civicpulse devices provision``
printed. Each firmware passes its own ``node`` defaults. Durations are in seconds in the file
and in milliseconds once loaded (keys ending ``_ms``).
"""

import json

_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:"
# Hard limits of the platform's codec (devices/contract.py Limits): a bigger batch is rejected.
MAX_BATCH_ITEMS = 1000
MAX_BATCH_BYTES = 65536

DEFAULTS = {
    "wifi": {"timeout_s": 20},
    "mqtt": {
        "port": 1883,
        "tls": False,
        "ca_file": None,
        "cert_file": None,
        "key_file": None,
        "keepalive_s": 60,
        "response_s": 5,
    },
    "sample_s": 60,
    # A batch must also fit the heap: 8 KiB is safe on an ESP32 without PSRAM.
    "buffer": {
        "capacity": 500,
        "batch_items": 50,
        "batch_bytes": 8192,
        "rtc_bytes": 2000,
        "seq_block": 100,
    },
    "backoff_s": [1, 300],
    "ntp": {"host": "pool.ntp.org", "interval_s": 6 * 3600},
    "watchdog_s": 60,
    "node": {},
}


class ConfigError(ValueError):
    """A missing or invalid setting; the message names the key."""


def valid_device_id(device_id):
    if not isinstance(device_id, str) or not 0 < len(device_id) <= 64:
        return False
    return all(char in _ID_CHARS for char in device_id)


def _merge(defaults, given):
    out = {}
    for key in defaults:
        out[key] = defaults[key]
    for key in given:
        value = given[key]
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = _merge(out[key], value)
        out[key] = value
    return out


def _ms(seconds, key):
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise ConfigError(f"{key} must be a number of seconds >= 0")
    return int(seconds * 1000 + 0.5)


def _need(section, key, where, kind):
    value = section.get(key)
    if not isinstance(value, kind) or value == "":
        raise ConfigError(f"{where}.{key} is missing or has the wrong type")
    return value


def parse(document, node_defaults=None):
    """Validate a decoded config document and fill in defaults."""
    if not isinstance(document, dict):
        raise ConfigError("config.json must hold a JSON object")
    defaults = _merge(DEFAULTS, {"node": node_defaults or {}})
    cfg = _merge(defaults, document)
    if not valid_device_id(cfg.get("device_id")):
        raise ConfigError("device_id must be 1-64 characters of A-Z a-z 0-9 - _ . :")
    wifi, mqtt, buf = cfg["wifi"], cfg["mqtt"], cfg["buffer"]
    _need(wifi, "ssid", "wifi", str)
    if not isinstance(wifi.get("password", ""), str):
        raise ConfigError("wifi.password must be a string")
    wifi["timeout_ms"] = _ms(wifi["timeout_s"], "wifi.timeout_s")
    _need(mqtt, "host", "mqtt", str)
    port = _need(mqtt, "port", "mqtt", int)
    if not 0 < port < 65536:
        raise ConfigError("mqtt.port must be 1-65535")
    if mqtt["tls"] and not mqtt.get("ca_file"):
        # MicroPython has no CA store: without a CA the server could not be verified.
        raise ConfigError("mqtt.tls needs mqtt.ca_file (the broker's CA certificate)")
    if bool(mqtt.get("cert_file")) != bool(mqtt.get("key_file")):
        raise ConfigError("mqtt.cert_file and mqtt.key_file go together")
    if mqtt.get("password") is not None and mqtt.get("username") is None:
        mqtt["username"] = cfg["device_id"]  # the platform's convention: username = device id
    mqtt["keepalive_ms"] = _ms(mqtt["keepalive_s"], "mqtt.keepalive_s")
    mqtt["response_ms"] = _ms(mqtt["response_s"], "mqtt.response_s")
    if not 0 < mqtt["keepalive_ms"] <= 65535000:
        raise ConfigError("mqtt.keepalive_s must be 1-65535")
    for key in ("capacity", "batch_items", "batch_bytes", "rtc_bytes", "seq_block"):
        if _need(buf, key, "buffer", int) < 1:
            raise ConfigError(f"buffer.{key} must be >= 1")
    if buf["batch_items"] > MAX_BATCH_ITEMS or buf["batch_bytes"] > MAX_BATCH_BYTES:
        raise ConfigError("buffer batches are limited to 1000 items and 65536 bytes")
    low, high = cfg["backoff_s"]
    cfg["backoff_ms"] = (_ms(low, "backoff_s[0]"), _ms(high, "backoff_s[1]"))
    cfg["sample_ms"] = _ms(cfg["sample_s"], "sample_s")
    cfg["ntp"]["interval_ms"] = _ms(cfg["ntp"]["interval_s"], "ntp.interval_s")
    cfg["watchdog_ms"] = _ms(cfg["watchdog_s"], "watchdog_s")
    return cfg


def load(path, node_defaults=None):
    """Read and validate ``path``; raises :class:`ConfigError` (or ``OSError`` if unreadable)."""
    with open(path) as f:
        try:
            document = json.load(f)
        except ValueError as error:
            raise ConfigError(f"{path} is not valid JSON: {error}") from error
    cfg = parse(document, node_defaults)
    cfg["root"] = path[: path.rfind("/") + 1]  # other files live beside config.json
    return cfg
