"""The state of a backend that can go away (a Triton server): up, or down and reconnecting.

After a fault, requests are not sent at all (no per-frame timeout while the server is gone); a
background thread calls the backend's ``reconnect()`` at growing intervals (0.2 s doubling up to
``max_wait``) until it answers, then requests resume by themselves. No ROS import: the nodes
read :attr:`Link.state` for diagnostics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ReconnectConfig:
    """How a remote backend's link waits between reconnection attempts (``triton.reconnect_max``)."""

    max_wait: float = 5.0
    min_wait: float = 0.2


@runtime_checkable
class Reconnectable(Protocol):
    """A backend that can lose its server and connect again (Triton)."""

    def reconnect(self) -> bool:
        """Try to connect once; True when the server answers again."""
        ...


def remote_link(backend: Any, verify: Callable[[], None], max_wait: float) -> Link | None:
    """The link of a backend that can go away, or None for a local one.

    ``verify`` (the model check) runs now when the backend is connected; a backend that started
    before its server (``connected`` False) starts with the link down, so nothing is sent and
    the model is checked on the first successful reconnection.
    """
    if not isinstance(backend, Reconnectable):
        verify()
        return None
    link = Link(backend, verify=verify, max_wait=max_wait)
    if getattr(backend, "connected", True):
        verify()
    else:
        link.fault(str(getattr(backend, "pending_error", "") or "not connected"))
    return link


class Link:
    """Whether requests may go to a remote backend now, and the reconnection attempts while not."""

    def __init__(
        self,
        backend: Reconnectable,
        *,
        verify: Callable[[], None] | None = None,
        min_wait: float = 0.2,
        max_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``verify`` runs after the backend reconnected (the model may have changed on the server);
        an exception from it keeps the link down with that reason."""
        self.backend = backend
        self.verify = verify
        self.min_wait, self.max_wait = min_wait, max_wait
        self.clock = clock
        self._lock = threading.Lock()
        self._up = True
        self._wait = min_wait
        self._next = 0.0
        self._thread: threading.Thread | None = None
        self.last_error = ""
        self.faults = 0
        self.reconnects = 0
        self.attempts = 0

    @property
    def up(self) -> bool:
        """Whether requests may be sent now."""
        return self._up

    @property
    def state(self) -> str:
        """``ok`` or ``down, reconnecting: <last error>`` (what diagnostics show)."""
        return "ok" if self._up else f"down, reconnecting: {self.last_error}"

    def fault(self, message: str) -> None:
        """A request failed: stop sending until a reconnection succeeds."""
        with self._lock:
            if self._up:
                self.faults += 1
                self._wait = self.min_wait
                self._next = self.clock() + self._wait
            self._up = False
            self.last_error = message

    def ready(self) -> bool:
        """True when requests may be sent; while down, starts a reconnection attempt when due."""
        if self._up:
            return True
        with self._lock:
            due = self.clock() >= self._next and (self._thread is None or not self._thread.is_alive())
            if due:
                self._thread = threading.Thread(target=self._attempt, name="backend-reconnect", daemon=True)
                self._thread.start()
        return False

    def _attempt(self) -> None:
        self.attempts += 1
        ok = False
        try:
            ok = bool(self.backend.reconnect())
            if ok and self.verify is not None:
                self.verify()
        except Exception as exc:  # a failed attempt is only a reason to wait longer
            ok = False
            self.last_error = str(exc)
        with self._lock:
            if ok:
                self._up = True
                self.reconnects += 1
                self._wait = self.min_wait
            else:
                self._wait = min(self._wait * 2.0, self.max_wait)
                self._next = self.clock() + self._wait

    def wait_attempt(self, timeout: float = 10.0) -> None:
        """Block until a running attempt ends (tests and shutdown)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
