"""Flood control: a token bucket, and a bounded table of buckets per client address."""

from __future__ import annotations

import time
from collections import OrderedDict


class TokenBucket:
    """``rate`` events a second on average, ``burst`` at once."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def allow(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are that many (a cost above the burst is taken
        from a full bucket, so a large item is slow, not impossible)."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        cost = min(cost, self.capacity)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


class PerAddress:
    """One bucket per address, at most ``max_tracked`` of them (least recently used go
    first), so a spray of addresses cannot grow memory."""

    def __init__(self, rate: float, burst: int, max_tracked: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_tracked = max_tracked
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, addr: str, cost: float = 1.0) -> bool:
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(addr)
        if bucket is None:
            bucket = self._buckets[addr] = TokenBucket(self.rate, self.burst)
            if len(self._buckets) > self.max_tracked:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(addr)
        return bucket.allow(cost)
