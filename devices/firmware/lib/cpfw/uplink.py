"""Keeps the device on the network and drains the buffer to the broker, oldest first.

Order of business on every call: Wi-Fi, then (after a jittered backoff if the last attempt
failed) clock and MQTT, then at most one batch in flight. A batch leaves the buffer only when
its PUBACK arrives; if the link dies first, the same readings go again after reconnecting (the
platform stores a ``(device_id, ts)`` once, so a repeat is harmless). One batch at a time keeps
RAM use to one payload, and the order of readings intact.
"""

from cpfw import clock
from cpfw.backoff import Backoff
from cpfw.compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from cpfw.log import log
from cpfw.mqtt import MQTTClient, MQTTError
from cpfw.payload import next_batch
from cpfw.wifi import Wifi

TOPIC_ROOT = "civicpulse/v1/devices/"  # devices/contract.py, contract v1


def telemetry_topic(device_id):
    return TOPIC_ROOT + device_id + "/telemetry"


def status_topic(device_id):
    return TOPIC_ROOT + device_id + "/status"


class Uplink:
    def __init__(self, cfg, board, state, fields):
        self._cfg = cfg
        self._board = board
        self._state = state
        self._fields = fields
        wifi = cfg["wifi"]
        self.wifi = Wifi(
            board.wlan(),
            wifi["ssid"],
            wifi.get("password", ""),
            wifi["timeout_ms"],
            cfg["backoff_ms"],
        )
        self.backoff = Backoff(cfg["backoff_ms"][0], cfg["backoff_ms"][1])
        self.topic = telemetry_topic(cfg["device_id"])
        self.client = None
        self.last_sync_ms = 0  # Unix ms of the last NTP sync; the app persists it
        self.batches = 0  # payloads acknowledged, and how many readings they carried
        self.delivered = 0
        self._batch = None  # (packet id, last seq, count) of the payload in flight
        self._batch_items = cfg["buffer"]["batch_items"]  # smaller while memory is short
        self._online_pid = 0
        self._ca = None

    def idle(self):
        """Connected with nothing left to send and nothing unacknowledged."""
        client = self.client
        return (
            client is not None
            and self._batch is None
            and not client.inflight
            and len(self._state.buffer) == 0
        )

    def service(self, wait_ms):
        """One round of upkeep and delivery, returning after about ``wait_ms`` (a connection
        attempt may add up to the Wi-Fi or socket timeout). Never raises on network failure."""
        deadline = ticks_add(ticks_ms(), wait_ms)
        try:
            if not self.wifi.step():
                if self.client is not None:
                    self._lost("Wi-Fi is down")
                sleep_ms(max(0, ticks_diff(deadline, ticks_ms())))
                return
            if self.client is None:
                if not self.backoff.ready():
                    sleep_ms(min(self.backoff.remaining_ms(), max(0, wait_ms)))
                    return
                self._sync_clock()
                self._connect()
            while True:  # at least one poll, even when the caller is behind schedule
                self._send_next()
                self.client.poll(max(0, ticks_diff(deadline, ticks_ms())))
                self._check_acks()
                if ticks_diff(deadline, ticks_ms()) <= 0:
                    break
        except (OSError, MQTTError, ValueError) as error:
            self._lost(error)

    def flush(self, budget_ms, feed=None):
        """Connect and send everything within ``budget_ms``, giving up at the first failure
        (battery nodes retry on a later wake). Returns True when all was delivered."""
        deadline = ticks_add(ticks_ms(), budget_ms)
        failures = self.backoff.failures
        while ticks_diff(deadline, ticks_ms()) > 0:
            if feed is not None:
                feed()
            self.service(min(100, max(1, ticks_diff(deadline, ticks_ms()))))
            if self.idle():
                return True
            if self.backoff.failures > failures or self.wifi.backoff.failures:
                return False
        return False

    def disconnect(self):
        """Clean goodbye (the broker discards the will), e.g. before deep sleep."""
        client, self.client = self.client, None
        self._batch = None
        if client is not None:
            try:
                client.disconnect()
            except OSError as error:
                log("MQTT: no clean disconnect:", error)

    # -- internals ----------------------------------------------------------------------------

    def _sync_clock(self):
        ntp = self._cfg["ntp"]
        now = clock.unix_ms()
        if clock.valid(now) and now - self.last_sync_ms < ntp["interval_ms"]:
            return
        try:
            self._board.ntp_sync(ntp["host"])
            self.last_sync_ms = clock.unix_ms()
        except OSError as error:
            log("NTP sync failed:", error)  # keep going: the RTC may still be good enough

    def _connect(self):
        mqtt = self._cfg["mqtt"]
        device_id = self._cfg["device_id"]
        root = self._cfg["root"]
        cert = None
        if mqtt["tls"]:
            if self._ca is None:
                with open(root + mqtt["ca_file"], "rb") as f:
                    self._ca = f.read()
            if mqtt.get("cert_file"):
                cert = (root + mqtt["cert_file"], root + mqtt["key_file"])
        client = MQTTClient(
            device_id,
            mqtt["host"],
            mqtt["port"],
            username=mqtt.get("username"),
            password=mqtt.get("password"),
            keepalive_ms=mqtt["keepalive_ms"],
            will=(status_topic(device_id), b"offline", 1, True),
            ca=self._ca,
            cert=cert,
            timeout_ms=mqtt["response_ms"] * 2,
            response_ms=mqtt["response_ms"],
        )
        client.connect()
        self.client = client
        self._online_pid = client.publish(status_topic(device_id), b"online", 1, True)
        log("MQTT: connected to", mqtt["host"], "with", len(self._state.buffer), "readings queued")

    def _send_next(self):
        if self._batch is not None or len(self._state.buffer) == 0:
            return
        buffer = self._state.buffer
        while True:
            try:
                payload, last_seq, count = next_batch(
                    buffer, self._fields, self._batch_items, self._cfg["buffer"]["batch_bytes"]
                )
                self._batch = (self.client.publish(self.topic, payload, 1), last_seq, count)
                return
            except MemoryError:
                # After a long outage the heap holds the whole backlog and may have no free
                # block as large as a full batch: smaller batches still drain it, where the
                # error would end the main loop and lose all but the RTC checkpoint.
                payload = None
                if self._batch_items == 1:
                    raise
                self._batch_items = max(1, min(self._batch_items, len(buffer)) // 2)
                log("low memory: batches of", self._batch_items, "until the backlog is sent")

    def _check_acks(self):
        client = self.client
        if self.backoff.failures and not client.pending(self._online_pid):
            self.backoff.reset()  # the broker has really accepted us, not just the TCP socket
        if self._batch is not None and not client.pending(self._batch[0]):
            self._state.buffer.ack_through(self._batch[1])
            self.batches += 1
            self.delivered += self._batch[2]
            self._batch = None
            if len(self._state.buffer) == 0:
                self._batch_items = self._cfg["buffer"]["batch_items"]  # the pressure is gone

    def _lost(self, reason):
        if self.client is not None:
            self.client.close()  # no DISCONNECT: the will tells the platform we are gone
            self.client = None
        self._batch = None
        log("MQTT: connection lost (" + str(reason) + "); retrying in", self.backoff.failed(), "ms")
