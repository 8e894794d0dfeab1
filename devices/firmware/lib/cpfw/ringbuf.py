"""The store-and-forward buffer: a bounded FIFO of readings that drops the oldest when full.

Items are lists ``[seq, ts_ms, value, ...]`` (compact enough for RTC memory). Items leave only
through :meth:`RingBuffer.ack_through`, which the uplink calls after the broker's PUBACK, so a
reading is never lost to a publish that failed half-way.
"""


class RingBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.dropped = 0  # readings discarded because the buffer was full; see the device log
        self._items = [None] * capacity
        self._head = 0
        self._len = 0

    def __len__(self):
        return self._len

    def push(self, item):
        """Append ``item``; returns True if the oldest reading had to be dropped for it."""
        dropped = self._len == self.capacity
        if dropped:
            self._items[self._head] = None
            self._head = (self._head + 1) % self.capacity
            self._len -= 1
            self.dropped += 1
        self._items[(self._head + self._len) % self.capacity] = item
        self._len += 1
        return dropped

    def peek(self, index):
        """The ``index``-th oldest item."""
        if not 0 <= index < self._len:
            raise IndexError("ring buffer index out of range")
        return self._items[(self._head + index) % self.capacity]

    def ack_through(self, seq):
        """Remove the oldest items up to and including sequence number ``seq``.

        By seq rather than by count: if the buffer overflowed while a batch was in flight, some
        of that batch was already dropped, and a count would remove unsent readings.
        """
        removed = 0
        while self._len and self._items[self._head][0] <= seq:
            self._items[self._head] = None
            self._head = (self._head + 1) % self.capacity
            self._len -= 1
            removed += 1
        return removed

    def items(self):
        """All items, oldest first."""
        return [self.peek(i) for i in range(self._len)]
