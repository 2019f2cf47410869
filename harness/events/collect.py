"""Read the receivers' reports of a run over HTTP (`harness.events.receiver` serves them).

A source is one receiver reachable at a URL: a tag URL of the subscriber Service (one
revision; through the ingress with a ``Host`` header when the tag host does not resolve
here), or a dedicated receiver Service that the pods post their records to. Reports are
read page by page; two sources that reach the same receiver process (two tags of one
revision) are read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import Unavailable
from harness.events.receiver import REPORT_PATH, Delivery, parse_delivery
from harness.load.targets import Arm

MAX_DELIVERIES = 5_000_000
MAX_PAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Collected:
    """Every delivery of a run over all sources, and what the receivers could not keep."""

    deliveries: tuple[Delivery, ...]
    overflow: int
    receivers: tuple[str, ...]


def collect(sources: Sequence[Arm], run: str, *, timeout_s: float = 10.0) -> Collected:
    """All deliveries of ``run``; ``Unavailable`` when a source does not answer a report."""
    import httpx

    out: list[Delivery] = []
    seen: set[tuple[str, str]] = set()
    overflow = 0
    receivers: list[str] = []
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for source in sources:
            after = 0
            first = True
            while True:
                page = _page(client, source, run, after)
                key = (str(page.get("revision", "")), str(page.get("pod", "")))
                if first:
                    first = False
                    if key in seen:
                        break
                    seen.add(key)
                    receivers.append(f"{source.name}: {key[0] or '?'}")
                    overflow += _count(page, "overflow")
                rows = page.get("records")
                if not isinstance(rows, list):
                    raise Unavailable(f"receiver {source.name}: a report without records")
                try:
                    out.extend(parse_delivery(row) for row in rows)
                except ValueError as exc:
                    raise Unavailable(
                        f"receiver {source.name}: a malformed record: {exc}"
                    ) from None
                if len(out) > MAX_DELIVERIES:
                    raise Unavailable(f"more than {MAX_DELIVERIES:,} deliveries to read")
                nxt, total = _count(page, "next"), _count(page, "total")
                if not rows or nxt >= total:
                    break
                after = nxt
    return Collected(tuple(out), overflow, tuple(receivers))


def read_new(client: Any, source: Arm, run: str, after: int) -> tuple[list[Delivery], int, str]:
    """The records of ``run`` after row ``after`` at one source (all pages), the next row
    and the answering revision. For a caller that keeps reading as a run goes."""
    out: list[Delivery] = []
    revision = ""
    while True:
        page = _page(client, source, run, after)
        revision = str(page.get("revision", ""))
        rows = page.get("records")
        if not isinstance(rows, list):
            raise Unavailable(f"receiver {source.name}: a report without records")
        try:
            out.extend(parse_delivery(row) for row in rows)
        except ValueError as exc:
            raise Unavailable(f"receiver {source.name}: a malformed record: {exc}") from None
        nxt, total = _count(page, "next"), _count(page, "total")
        if nxt < after:
            raise Unavailable(f"receiver {source.name} restarted: its records were lost")
        after = nxt
        if not rows or nxt >= total or len(out) > MAX_DELIVERIES:
            return out, after, revision


def _count(page: dict[str, Any], key: str) -> int:
    value = page.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _page(client: Any, source: Arm, run: str, after: int) -> dict[str, Any]:
    import httpx

    url = source.base_url + REPORT_PATH
    headers = {"Host": source.host_header} if source.host_header else {}
    try:
        response = client.get(url, params={"run": run, "after": after}, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"receiver {source.name} ({url}): {type(exc).__name__}") from None
    if response.status_code != 200:
        raise Unavailable(
            f"receiver {source.name} ({url}) answered {response.status_code}: is the app in "
            "receiver mode (EVENTS_RECEIVER=true)?"
        )
    if len(response.content) > MAX_PAGE_BYTES:
        raise Unavailable(f"receiver {source.name}: a report page over {MAX_PAGE_BYTES} bytes")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Unavailable(
            f"receiver {source.name} ({url}) answered no report: is the app in receiver mode "
            "(EVENTS_RECEIVER=true)?"
        )
    return data
