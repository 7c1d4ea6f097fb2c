"""Exact-time pairing of two streams by stamp (what message_filters' TimeSynchronizer does).

message_filters is not installable from PyPI, and the pairing rule is simple: keep the last few
messages of each stream keyed by stamp, emit a pair when both sides have the same stamp, and
count what had to be dropped so nothing is lost silently.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class ExactTimeSync(Generic[A, B]):
    """Pairs two streams by identical stamps (message_filters' ExactTime), holding at most
    ``queue_size`` unmatched items per side; items that can never match are counted as dropped."""

    def __init__(self, queue_size: int = 10) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.queue_size = queue_size
        self._a: OrderedDict[int, A] = OrderedDict()
        self._b: OrderedDict[int, B] = OrderedDict()
        self.dropped_a = 0
        self.dropped_b = 0

    def _prune(self, stamp: int) -> None:
        """Messages older than a matched stamp can never match any more."""
        for q, side in ((self._a, "a"), (self._b, "b")):
            while q and next(iter(q)) < stamp:
                q.popitem(last=False)
                if side == "a":
                    self.dropped_a += 1
                else:
                    self.dropped_b += 1

    def add_a(self, stamp: int, item: A) -> tuple[A, B] | None:
        """Add an item of the first stream; the pair when its partner is already here."""
        if stamp in self._b:
            b = self._b.pop(stamp)
            self._prune(stamp)
            return item, b
        self._a[stamp] = item
        while len(self._a) > self.queue_size:
            self._a.popitem(last=False)
            self.dropped_a += 1
        return None

    def add_b(self, stamp: int, item: B) -> tuple[A, B] | None:
        """Add an item of the second stream; the pair when its partner is already here."""
        if stamp in self._a:
            a = self._a.pop(stamp)
            self._prune(stamp)
            return a, item
        self._b[stamp] = item
        while len(self._b) > self.queue_size:
            self._b.popitem(last=False)
            self.dropped_b += 1
        return None
