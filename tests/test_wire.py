"""The consumer's MQTT packet codec (civicpulse.mqtt.wire): pure, so property-tested here.

Packets are built by an independent encoder below (a broker's view of the specification), then fed
to the decoder in reads cut at arbitrary places; malformed frames must raise MalformedPacket and
nothing else.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.mqtt import wire
from civicpulse.mqtt.wire import (
    MQTT_5,
    MQTT_311,
    ConnAck,
    Decoder,
    Disconnect,
    MalformedPacket,
    Packet,
    PingResp,
    PubAck,
    Publish,
    SubAck,
    UnsubAck,
)

VERSIONS = [pytest.param(MQTT_5, id="mqtt5"), pytest.param(MQTT_311, id="mqtt311")]


def _length(n: int) -> bytes:
    out = []
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _frame(first: int, body: bytes) -> bytes:
    return bytes([first]) + _length(len(body)) + body


def broker_publish(message: Publish, version: int, properties: bytes = b"") -> bytes:
    """A PUBLISH as a broker sends it (§3.3)."""
    topic = message.topic.encode()
    body = len(topic).to_bytes(2, "big") + topic
    if message.qos:
        body += message.packet_id.to_bytes(2, "big")
    if version == MQTT_5:
        body += _length(len(properties)) + properties
    first = 0x30 | (message.qos << 1) | (0x08 if message.dup else 0) | int(message.retain)
    return _frame(first, body + message.payload)


def broker_control(packet: Packet, version: int) -> bytes:
    v5 = version == MQTT_5
    if isinstance(packet, ConnAck):
        if v5:
            props = (
                b""
                if packet.receive_maximum == 65_535
                else b"\x21" + (packet.receive_maximum.to_bytes(2, "big"))
            )
            code = packet.reason_code
            return _frame(0x20, bytes([packet.session_present, code]) + _length(len(props)) + props)
        code = {0x00: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}[packet.reason_code]
        return _frame(0x20, bytes([packet.session_present, code]))
    if isinstance(packet, SubAck):
        props = b"\x00" if v5 else b""
        return _frame(
            0x90, packet.packet_id.to_bytes(2, "big") + props + bytes(packet.reason_codes)
        )
    if isinstance(packet, UnsubAck):
        rest = b"\x00" + bytes(packet.reason_codes) if v5 else b""
        return _frame(0xB0, packet.packet_id.to_bytes(2, "big") + rest)
    if isinstance(packet, PubAck):
        return _frame(0x40, packet.packet_id.to_bytes(2, "big"))
    if isinstance(packet, PingResp):
        return b"\xd0\x00"
    assert isinstance(packet, Disconnect) and v5
    return _frame(0xE0, bytes([packet.reason_code]))


def encode(packet: Packet, version: int) -> bytes:
    if isinstance(packet, Publish):
        return broker_publish(packet, version)
    return broker_control(packet, version)


topics = st.text(
    alphabet=st.characters(exclude_characters="+#\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=40,
)
publishes = st.builds(
    lambda topic, payload, qos, pid, retain, dup: Publish(
        topic, payload, qos, pid if qos else 0, retain, dup and qos == 1
    ),
    topics,
    st.binary(max_size=300),
    st.integers(0, 1),
    st.integers(1, 65_535),
    st.booleans(),
    st.booleans(),
)
controls = st.one_of(
    st.builds(ConnAck, st.booleans(), st.sampled_from([0, 0x86, 0x87])),
    st.builds(
        SubAck,
        st.integers(1, 65_535),
        st.lists(st.sampled_from([0, 1, 0x80]), min_size=1, max_size=4).map(tuple),
    ),
    st.builds(PubAck, st.integers(1, 65_535)),
    st.just(PingResp()),
)
streams = st.lists(st.one_of(publishes, publishes, controls), max_size=30)


def feed_in_pieces(decoder: Decoder, data: bytes, cuts: list[int]) -> list[Packet]:
    out: list[Packet] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    return out


@pytest.mark.parametrize("version", VERSIONS)
@given(packets=streams, cuts=st.lists(st.integers(0, 20_000), max_size=12))
@settings(max_examples=150, deadline=None)
def test_packets_cut_anywhere_decode_the_same(
    version: int, packets: list[Packet], cuts: list[int]
) -> None:
    data = b"".join(encode(p, version) for p in packets)
    decoder = Decoder(version=version)
    assert feed_in_pieces(decoder, data, [c for c in cuts if c <= len(data)]) == packets
    assert decoder.buffered == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stream_split_at_every_byte(version: int) -> None:
    packets: list[Packet] = [
        ConnAck(True, 0),
        SubAck(1, (1, 1, 0, 0)),
        Publish("civicpulse/v1/devices/a/telemetry", b'{"v": 1}', 1, 7, False, False),
        Publish("$SYS/broker/uptime", b"12 seconds", 0, 0, False, False),
        Publish("t/" + "x" * 200, b"y" * 20_000, 1, 65_535, True, True),  # a 3-byte length
        PubAck(9),
        PingResp(),
    ]
    data = b"".join(encode(p, version) for p in packets)
    for cut in range(len(data) + 1):
        decoder = Decoder(version=version)
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) == packets, cut
    one_by_one = Decoder(version=version)
    got: list[Packet] = []
    for index in range(len(data)):
        got += one_by_one.feed(data[index : index + 1])
    assert got == packets


def test_mqtt5_publish_properties_are_skipped() -> None:
    message = Publish("a/b", b"payload", 1, 3, False, False)
    # Message expiry (4 bytes), content type (a string), a user property (a string pair).
    properties = b"\x02\x00\x00\x00\x3c" + b"\x03\x00\x04json" + b"\x26\x00\x01k\x00\x01v"
    assert Decoder().feed(broker_publish(message, MQTT_5, properties)) == [message]


def test_connack_properties_and_311_return_codes() -> None:
    body = b"\x00\x00" + b"\x0a" + b"\x21\x00\x0a" + b"\x1f\x00\x04okay"
    assert Decoder().feed(_frame(0x20, body)) == [ConnAck(False, 0, 10, "okay")]
    refused = Decoder(version=MQTT_311).feed(b"\x20\x02\x00\x04")
    assert refused == [ConnAck(False, 0x86)]
    assert wire.reason_name(0x86) == "bad user name or password"
    assert isinstance(refused[0], ConnAck) and refused[0].failed


def test_server_disconnect_with_reason_string() -> None:
    body = b"\x8e" + b"\x08" + b"\x1f\x00\x05taken"
    assert Decoder().feed(_frame(0xE0, body)) == [Disconnect(0x8E, "taken")]
    assert Decoder().feed(b"\xe0\x00") == [Disconnect(0)]


# Sizes.


@pytest.mark.parametrize(
    "n", [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, wire.MAX_REMAINING_LENGTH]
)
def test_variable_length_boundaries(n: int) -> None:
    encoded = wire.varint(n)
    assert encoded == _length(n)
    assert len(encoded) == 1 + (n >= 128) + (n >= 16_384) + (n >= 2_097_152)


def test_a_length_beyond_four_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        wire.varint(wire.MAX_REMAINING_LENGTH + 1)
    with pytest.raises(MalformedPacket, match="longer than four bytes"):
        Decoder().feed(b"\x30\xff\xff\xff\xff\x01")


def test_the_largest_packet_header_is_buffered_not_refused() -> None:
    decoder = Decoder()
    assert decoder.feed(b"\x30\xff\xff\xff\x7f" + b"\x00\x01t\x00") == []
    assert decoder.buffered == 9


def test_large_topics_and_payloads() -> None:
    message = Publish("t" * 65_535, bytes(range(256)) * 4_096, 1, 1, False, False)
    data = broker_publish(message, MQTT_5)
    decoder = Decoder()
    got: list[Packet] = []
    for start in range(0, len(data), 65_536):  # reads of a socket's size
        got += decoder.feed(data[start : start + 65_536])
    assert got == [message]


def test_a_packet_over_the_limit_is_refused_from_its_header() -> None:
    decoder = Decoder(max_packet_size=1_000)
    with pytest.raises(MalformedPacket, match="more than the 1000"):
        decoder.feed(b"\x30\xe9\x07")  # 1,001 bytes of body announced; none sent yet


# Malformed frames.

MALFORMED = [
    ("QoS 3", b"\x36\x05\x00\x01t\x00\x01\x00", "PUBLISH"),
    ("QoS 2", b"\x34\x05\x00\x01t\x00\x01\x00", "QoS 2"),
    ("packet id 0", b"\x32\x06\x00\x01t\x00\x00\x00", "packet identifier 0"),
    ("wildcard topic", b"\x30\x04\x00\x01+\x00", "invalid topic name"),
    ("empty topic", b"\x30\x03\x00\x00\x00", "invalid topic name"),
    ("bad UTF-8", b"\x30\x05\x00\x02\xc3\x28\x00", "not valid UTF-8"),
    ("topic past the end", b"\x30\x03\x00\x09t", "runs past"),
    ("DUP at QoS 0", b"\x38\x04\x00\x01t\x00", "DUP"),
    ("topic alias", b"\x30\x07\x00\x01t\x03\x23\x00\x01", "topic alias"),
    ("unknown property", b"\x30\x06\x00\x01t\x02\x7f\x00", "unknown property"),
    ("properties past the end", b"\x30\x05\x00\x01t\x09\x01", "past"),
    ("client-only SUBSCRIBE", b"\x82\x02\x00\x01", "does not receive"),
    ("reserved type 0", b"\x00\x00", "does not receive"),
    ("AUTH", b"\xf0\x00", "does not receive"),
    ("CONNACK flags", b"\x21\x03\x00\x00\x00", "reserved flags"),
    ("CONNACK reserved bits", b"\x20\x03\x02\x00\x00", "reserved acknowledge"),
    ("CONNACK without properties", b"\x20\x02\x00\x00", "no properties"),
    ("PINGRESP with a body", b"\xd0\x01\x00", "no body"),
    ("SUBACK without codes", b"\x90\x03\x00\x01\x00", "no reason codes"),
    ("SUBACK too short", b"\x90\x01\x00", "too short"),
]


@pytest.mark.parametrize(("case", "data", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_frames_raise_clear_errors(case: str, data: bytes, message: str) -> None:
    with pytest.raises(MalformedPacket, match=message) as caught:
        Decoder().feed(data)
    assert str(caught.value).startswith("malformed MQTT packet (")


def test_mqtt311_rules() -> None:
    with pytest.raises(MalformedPacket, match="does not send DISCONNECT"):
        Decoder(version=MQTT_311).feed(b"\xe0\x00")
    with pytest.raises(MalformedPacket, match="unknown return code"):
        Decoder(version=MQTT_311).feed(b"\x20\x02\x00\x09")
    with pytest.raises(MalformedPacket, match="2 bytes long"):
        Decoder(version=MQTT_311).feed(b"\x40\x03\x00\x01\x00")


@given(st.binary(max_size=400), st.sampled_from([MQTT_5, MQTT_311]))
@settings(max_examples=500, deadline=None)
def test_any_bytes_decode_or_raise_malformed(data: bytes, version: int) -> None:
    decoder = Decoder(version=version)
    try:
        for packet in decoder.feed(data):
            assert isinstance(
                packet, Publish | ConnAck | SubAck | UnsubAck | PubAck | PingResp | Disconnect
            )
    except MalformedPacket:
        pass


# Encoding.


def test_connect_mqtt5() -> None:
    packet = wire.connect(
        "ingest",
        keepalive=30,
        clean_start=False,
        session_expiry=3600,
        receive_maximum=20_000,
        username="svc",
        password="pw",
    )
    props = b"\x11\x00\x00\x0e\x10\x21\x4e\x20"
    body = b"\x00\x04MQTT\x05\xc0\x00\x1e" + bytes([len(props)]) + props
    body += b"\x00\x06ingest\x00\x03svc\x00\x02pw"
    assert packet == _frame(0x10, body)


def test_connect_mqtt311_keeps_the_session() -> None:
    packet = wire.connect("i", version=MQTT_311, keepalive=30, clean_start=False)
    assert packet == _frame(0x10, b"\x00\x04MQTT\x04\x00\x00\x1e\x00\x01i")


def test_subscribe_unsubscribe_publish_disconnect() -> None:
    options = wire.subscription_options(1, retain_handling=1)
    assert options == 0x11
    assert wire.subscribe(5, [("$share/g/a/#", options)]) == _frame(
        0x82, b"\x00\x05\x00\x00\x0c$share/g/a/#\x11"
    )
    assert wire.subscribe(5, [("a", options)], version=MQTT_311) == _frame(
        0x82, b"\x00\x05\x00\x01a\x01"
    )
    assert wire.unsubscribe(6, ["a", "b"]) == _frame(0xA2, b"\x00\x06\x00\x00\x01a\x00\x01b")
    assert wire.publish("s", b"", packet_id=2) == _frame(0x32, b"\x00\x01s\x00\x02\x00")
    assert wire.publish("s", b"x", packet_id=2, version=MQTT_311) == _frame(
        0x32, b"\x00\x01s\x00\x02x"
    )
    assert wire.disconnect() == b"\xe0\x00"
    assert wire.disconnect(session_expiry=0) == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"
    assert wire.disconnect(version=MQTT_311, session_expiry=0) == b"\xe0\x00"


@given(st.lists(st.integers(1, 65_535), max_size=50))
def test_pubacks_in_one_write(ids: list[int]) -> None:
    data = wire.pubacks(ids)
    assert Decoder().feed(data) == [PubAck(i) for i in ids]
