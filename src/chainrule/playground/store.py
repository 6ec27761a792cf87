"""The server's sessions: at most `max_sessions` of them, each forgotten after `idle` seconds
without a request, the least recently used evicted to make room for a new one.

A forgotten id is remembered (a bounded list) with the reason, so a page whose session went
away is told why ("evicted: ..." or "expired ...") instead of "unknown". The clock is a
parameter so that tests can move time without sleeping.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from chainrule.errors import ChainruleError
from chainrule.playground.session import Session

MAX_SESSIONS = 64
IDLE_SECONDS = 30 * 60
REMEMBERED = 1024  # forgotten ids whose reason is kept


class SessionGoneError(ChainruleError, LookupError):
    """The id names no live session; `status` is 404 (never existed) or 410 (gone)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Entry:
    """A live session, its lock (one request at a time works on it) and when it was last used."""

    session: Session
    used: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        idle: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle = idle
        self.clock = clock
        self._live: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._gone: OrderedDict[str, str] = OrderedDict()
        self._guard = threading.Lock()

    def __len__(self) -> int:
        with self._guard:
            self._expire()
            return len(self._live)

    def add(self, session: Session) -> str:
        """Keep `session` under a new id, evicting the least recently used one if full."""
        with self._guard:
            self._expire()
            while len(self._live) >= self.max_sessions:
                old, _ = self._live.popitem(last=False)
                self._forget(
                    old,
                    f"session {old} was evicted: the server keeps at most {self.max_sessions} "
                    f"sessions and this was the least recently used; create a new one",
                )
            sid = secrets.token_urlsafe(12)
            self._live[sid] = Entry(session, self.clock())
            return sid

    def get(self, sid: str) -> Entry:
        """The live entry for `sid`, marked as used now; SessionGoneError if there is none."""
        with self._guard:
            self._expire()
            entry = self._live.get(sid)
            if entry is None:
                if sid in self._gone:
                    raise SessionGoneError(self._gone[sid], 410)
                shown = sid if len(sid) <= 40 else sid[:40] + "…"
                raise SessionGoneError(
                    f"no session {shown!r}: create one with POST /api/sessions", 404
                )
            entry.used = self.clock()
            self._live.move_to_end(sid)
            return entry

    def remove(self, sid: str) -> None:
        self.get(sid)
        with self._guard:
            self._live.pop(sid, None)
            self._forget(sid, f"session {sid} was deleted")

    def _expire(self) -> None:
        now = self.clock()
        minutes = f"{self.idle / 60:g} minutes"
        for sid in [s for s, e in self._live.items() if now - e.used > self.idle]:
            del self._live[sid]
            self._forget(sid, f"session {sid} expired after {minutes} idle; create a new one")

    def _forget(self, sid: str, reason: str) -> None:
        self._gone[sid] = reason
        while len(self._gone) > REMEMBERED:
            self._gone.popitem(last=False)
