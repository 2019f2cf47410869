"""One run per Service at a time: a lease in an annotation of the Service itself.

A local lock is not enough (two runs may be on two machines), so the lease lives where
every run sees it: ``metadata.annotations["harness.knative.dev/canary-lease"]``, a JSON
object ``{"holder": "<run>@<host>:<pid>", "renewed": RFC 3339, "expires": RFC 3339}``.
It is taken, renewed and released with merge patches that carry the ``resourceVersion``
the run last read, so of two runs racing for it the API server accepts one and answers
the other 409 (``StaleWrite``); the loser re-reads and sees the winner.

A lease is renewed every ``period`` seconds by a thread (independent of look intervals)
and expires ``ttl = max(60 s, 3 x period)`` after its last renewal. An expired lease is
stale and can be taken over. A holder on this same host whose process is gone is stale
too (``--resume`` after a crash, ``harness rollback``), without waiting for the expiry.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from harness.errors import Aborted, BadInput, HarnessError
from harness.knative.backend import AnnotationBackend, StaleWrite, TrafficBackend
from harness.knative.model import ServiceState

LEASE_ANNOTATION = "harness.knative.dev/canary-lease"
RENEW_PERIOD_S = 15.0
MIN_TTL_S = 60.0
_RETRIES = 10

Say = Callable[[str], None]


class LeaseLost(Aborted):
    """Another holder took the lease while this run held it (this run looked dead)."""


def lease_ttl(period: float) -> float:
    """How long a lease lives after its last renewal: 3 periods, at least a minute."""
    return max(MIN_TTL_S, 3.0 * period)


def holder_name(run: str) -> str:
    """``<run>@<host>:<pid>`` for this process."""
    return f"{run}@{socket.gethostname()}:{os.getpid()}"


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _printable(text: str) -> str:
    """The annotation is anyone's text: no control characters reach a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


@dataclass(frozen=True)
class LeaseRecord:
    """A lease as found on a Service. ``expires`` None: unreadable, treated as stale."""

    holder: str
    renewed: float | None
    expires: float | None

    @classmethod
    def parse(cls, text: str | None) -> LeaseRecord | None:
        if text is None:
            return None
        from harness.inputs import load_json

        try:
            data = load_json(text)  # anyone who can edit the Service writes this text
        except ValueError:  # also the bounds' InputError: 100 levels, 4,300 digits
            data = None
        if not isinstance(data, dict):
            return cls(holder=_printable(text[:120]), renewed=None, expires=None)
        return cls(
            holder=_printable(str(data.get("holder", "?"))[:200]),
            renewed=_parse_stamp(data.get("renewed")),
            expires=_parse_stamp(data.get("expires")),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "holder": self.holder,
                "renewed": _stamp(self.renewed or 0.0),
                "expires": _stamp(self.expires or 0.0),
            },
            separators=(",", ":"),
        )

    @property
    def run(self) -> str:
        return self.holder.split("@", 1)[0]

    def expired(self, now: float) -> bool:
        return self.expires is None or now >= self.expires

    def holder_gone(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        _, _, where = self.holder.partition("@")
        host, _, pid_text = where.rpartition(":")
        if host != socket.gethostname() or not pid_text.isdigit():
            return False
        pid = int(pid_text)
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self, now: float) -> str:
        if self.expires is None:
            return f"{self.holder} (unreadable lease)"
        left = self.expires - now
        when = f"expires in {left:.0f}s" if left > 0 else f"expired {-left:.0f}s ago"
        return f"{self.holder} ({when}, at {_stamp(self.expires)})"


class ServiceLease:
    """The lease of one run on one Service: ``acquire``, renew in the background, ``release``.

    Use as a context manager around everything the run changes; ``check()`` raises
    ``LeaseLost`` once another holder has taken the lease.
    """

    def __init__(
        self,
        backend: TrafficBackend,
        namespace: str,
        service: str,
        holder: str,
        *,
        say: Say,
        period: float = RENEW_PERIOD_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(backend, AnnotationBackend):
            raise BadInput("this cluster connection cannot hold a run lease")
        self.backend: AnnotationBackend = backend
        self.namespace = namespace
        self.service = service
        self.holder = holder
        self.say = say
        self.period = period
        self.ttl = lease_ttl(period)
        self.clock = clock
        self.lost: str | None = None
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.service}"

    def _record(self) -> LeaseRecord:
        now = self.clock()
        return LeaseRecord(holder=self.holder, renewed=now, expires=now + self.ttl)

    def _write(self, state: ServiceState, value: str | None) -> ServiceState:
        return self.backend.patch_annotations(
            self.namespace,
            self.service,
            {LEASE_ANNOTATION: value},
            resource_version=state.resource_version,
        )

    # -- taking it
    def acquire(self, *, force: bool = False) -> None:
        """Take the lease, or ``BadInput`` naming the live holder.

        A stale lease (expired, or its holder's process gone on this host, as after a
        crash before ``--resume`` or ``harness rollback``) is taken over with a message.
        ``force``: take it from a live holder too (``rollback --force``).
        """
        for _ in range(_RETRIES):
            state = self.backend.get_service(self.namespace, self.service)
            current = LeaseRecord.parse(state.annotations.get(LEASE_ANNOTATION))
            now = self.clock()
            if current is not None and current.holder != self.holder:
                if current.expired(now) or current.holder_gone():
                    why = "expired" if current.expired(now) else "its process is gone"
                    self.say(
                        f"taking over the stale lease on {self.where} of "
                        f"{current.describe(now)}: {why}"
                    )
                elif force:
                    self.say(f"taking over the lease on {self.where} of {current.describe(now)}")
                else:
                    raise BadInput(
                        f"service {self.where} is in use by canary run "
                        f"{current.describe(now)}; wait for it to end (or for its lease to "
                        "expire if it died), or take it over with harness rollback --force"
                    )
            try:
                self._write(state, self._record().to_json())
            except StaleWrite:
                continue  # someone wrote in between: look again at who holds it now
            self.held = True
            return
        raise Aborted(f"service {self.where} kept changing; the run lease was not taken")

    # -- keeping it
    def renew(self) -> None:
        """Extend the lease once; ``LeaseLost`` when another holder has it now."""
        for _ in range(_RETRIES):
            state = self.backend.get_service(self.namespace, self.service)
            current = LeaseRecord.parse(state.annotations.get(LEASE_ANNOTATION))
            if current is None or current.holder != self.holder:
                taker = current.describe(self.clock()) if current else "nobody (removed)"
                raise LeaseLost(f"the run lease on {self.where} was taken over by {taker}")
            try:
                self._write(state, self._record().to_json())
                return
            except StaleWrite:
                continue
        raise Aborted(f"service {self.where} kept changing; the run lease was not renewed")

    def _renew_loop(self) -> None:
        last_ok = self.clock()
        while not self._stop.wait(self.period):
            try:
                self.renew()
                last_ok = self.clock()
            except LeaseLost as exc:
                self.lost = exc.message
                return
            except HarnessError as exc:  # the cluster did not answer: try again next period
                if self.clock() - last_ok >= self.ttl:
                    self.lost = f"the run lease on {self.where} expired: {exc.message}"
                    return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise ``LeaseLost`` when this run no longer holds the lease."""
        if self.lost is not None:
            raise LeaseLost(self.lost)

    # -- giving it back
    def release(self) -> None:
        """Remove the lease if this run still holds it; never raises (it would expire)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if not self.held:
            return
        self.held = False
        try:
            for _ in range(_RETRIES):
                state = self.backend.get_service(self.namespace, self.service)
                current = LeaseRecord.parse(state.annotations.get(LEASE_ANNOTATION))
                if current is None or current.holder != self.holder:
                    return
                try:
                    self._write(state, None)
                    return
                except StaleWrite:
                    continue
        except HarnessError as exc:
            self.say(
                f"could not release the run lease on {self.where} ({exc.message}); "
                f"it expires within {self.ttl:.0f}s"
            )

    def __enter__(self) -> ServiceLease:
        if not self.held:
            self.acquire()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
