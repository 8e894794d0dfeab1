"""Plantower PMS5003 frames from the UART byte stream (active mode, 9600 baud, 8N1).

A frame is 32 bytes: ``0x42 0x4D``, a 16-bit frame length (28), thirteen 16-bit big-endian data
words and a 16-bit checksum, the sum of the 30 bytes before it. Words 3-5 are the "atmospheric
environment" concentrations in µg/m³, the ones meant for ambient air; words 0-2 use the
factory "CF=1" calibration. The parser resynchronises after noise or a torn frame by searching for
the next header, one byte further on.
"""

import struct

FRAME_LENGTH = 32
_HEADER = b"\x42\x4d"
_DATA_LENGTH = 28  # the length field: 13 data words and the checksum


class Frame:
    """Concentrations in µg/m³ (``pm1``, ``pm25``, ``pm10`` atmospheric; ``*_cf1`` factory)
    and particle counts per 0.1 L above 0.3, 0.5, 1.0, 2.5, 5 and 10 µm."""

    def __init__(self, words):
        self.pm1_cf1, self.pm25_cf1, self.pm10_cf1 = words[2], words[3], words[4]
        self.pm1, self.pm25, self.pm10 = words[5], words[6], words[7]
        self.counts = tuple(words[8:14])


def checksum_ok(frame):
    return sum(frame[:30]) & 0xFFFF == (frame[30] << 8 | frame[31])


class Pms5003Parser:
    """Feed it whatever the UART returned; it returns the complete, valid frames found."""

    def __init__(self):
        self._pending = b""
        self.rejected = 0  # bad checksums and impossible lengths (noise, torn frames)

    def feed(self, data):
        buf = self._pending + data if self._pending else bytes(data)
        frames = []
        start = 0
        while True:
            at = buf.find(_HEADER, start)
            if at < 0:
                # Keep a trailing 0x42: it may be the first half of the next header.
                start = len(buf) - 1 if buf[-1:] == _HEADER[:1] else len(buf)
                break
            if len(buf) - at < 4:
                start = at
                break
            if (buf[at + 2] << 8 | buf[at + 3]) != _DATA_LENGTH:
                self.rejected += 1
                start = at + 1
                continue
            if len(buf) - at < FRAME_LENGTH:
                start = at
                break
            frame = buf[at : at + FRAME_LENGTH]
            if checksum_ok(frame):
                frames.append(Frame(struct.unpack(">16H", frame)))
                start = at + FRAME_LENGTH
            else:
                self.rejected += 1
                start = at + 1
        self._pending = buf[start:]
        return frames
