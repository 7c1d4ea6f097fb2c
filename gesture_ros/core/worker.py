"""A one-slot worker thread: the newest item wins, older pending items are dropped and counted.

A node that waits on a remote server (Triton) hands each frame to this worker instead of
processing it in its subscription callback, so the executor never blocks on the network and
the queue can never grow: while one frame is being processed, at most one newer frame waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestWorker(Generic[T]):
    """A one-slot worker thread: the newest submitted item wins and replaced items are counted, so
    a slow consumer (a remote backend) always works on the freshest input."""

    def __init__(
        self,
        fn: Callable[[T], None],
        name: str = "latest-worker",
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.fn = fn
        self.on_error = on_error
        self._cv = threading.Condition()
        self._pending: T | None = None
        self._has_pending = False
        self._stop = False
        self.submitted = 0
        self.dropped = 0
        self.processed = 0
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> bool:
        """Queue ``item``; returns False when it replaced an older pending item (a drop)."""
        with self._cv:
            replaced = self._has_pending
            if replaced:
                self.dropped += 1
            self._pending, self._has_pending = item, True
            self.submitted += 1
            self._cv.notify()
        return not replaced

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._has_pending and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                item, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            try:
                self.fn(item)  # type: ignore[arg-type]
            except Exception as exc:  # the worker must survive a bad frame; the owner reports it
                if self.on_error is not None:
                    self.on_error(exc)
            finally:
                with self._cv:
                    self._busy = False
                    self.processed += 1
                    self._cv.notify_all()

    def idle(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is pending or running (tests, shutdown)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._has_pending and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread after the item in progress."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout)
