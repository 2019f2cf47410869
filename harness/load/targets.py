"""Where load goes: arms, their URLs, and the checks made before any request is sent.

An arm is one target with its own statistics (a baseline tag, a canary tag, a route, a
plain URL). Knative's tag hosts (``staging-hello.default.example.com``) often do not
resolve where the harness runs; then the arm is sent to an ingress address with the
``Host`` header naming the tag host, which is how Knative's ingress routes it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit, urlunsplit

from harness.errors import BadInput, Unavailable
from harness.knative.names import require_dns_label

if TYPE_CHECKING:
    from harness.knative.model import ServiceState

_HOSTNAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME_MAX_LENGTH = 253
URL_ARM_NAME = "url"


@dataclass(frozen=True)
class Arm:
    """One load target: requests go to ``url``; ``host_header``, when set, replaces Host."""

    name: str
    url: str
    host_header: str | None = None

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` of ``url``: where connections are opened."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, "", "", ""))

    @property
    def path(self) -> str:
        """Path and query of ``url`` (``/`` when empty): what each request asks for."""
        parts = urlsplit(self.url)
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path


def parse_url(url: str, what: str) -> SplitResult:
    """Split ``url`` after checking it is ``http(s)://host[:port][/path]`` with a valid host.

    Raises ``BadInput`` naming ``what`` for another scheme, credentials, a fragment, a bad
    port or a host that is neither an IP address nor a DNS name.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # 'http://[::1': an unclosed IPv6 bracket
        raise BadInput(f"{what} {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise BadInput(f"{what} {url!r} must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise BadInput(f"{what} {url!r} must not carry credentials")
    if parts.fragment:
        raise BadInput(f"{what} {url!r} must not have a #fragment")
    try:
        parts.port  # noqa: B018  # the property validates the port
    except ValueError:
        raise BadInput(f"{what} {url!r} has an invalid port") from None
    host = parts.hostname or ""
    if not is_host(host):
        raise BadInput(f"{what} {url!r} has an invalid host {host!r}")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in parts.path + parts.query):
        raise BadInput(f"{what} {url!r} has spaces or control characters in its path")
    return parts


def url_arm(url: str, name: str = URL_ARM_NAME, ingress: str | None = None) -> Arm:
    """An arm for a plain URL; with ``ingress``, sent there with ``Host`` set to the URL's host."""
    require_dns_label(name, "arm")
    parts = parse_url(url, "--url")
    return _arm(name, parts, ingress)


def service_arms(state: ServiceState, tags: Sequence[str], ingress: str | None = None) -> list[Arm]:
    """Arms for a Service's tags (arm name = tag) or, without tags, its route (arm = Service name).

    URLs come from ``status.traffic[].url`` (``status.url`` for the route). Raises
    ``BadInput`` for a tag the Service does not have or one without a URL yet.
    """
    where = f"service {state.namespace}/{state.name}"
    if not tags:
        if not state.url:
            raise BadInput(f"{where} has no URL yet (is its route ready?)")
        return [_arm(state.name, parse_url(state.url, f"{where} URL"), ingress)]
    by_tag = {target.tag: target for target in state.status_traffic if target.tag}
    arms = []
    for tag in tags:
        require_dns_label(tag, "tag")
        target = by_tag.get(tag)
        if target is None:
            known = ", ".join(sorted(by_tag)) or "none"
            raise BadInput(f"{where} has no tag {tag!r} (tags: {known})")
        if not target.url:
            raise BadInput(f"tag {tag!r} of {where} has no URL yet (is its route ready?)")
        arms.append(_arm(tag, parse_url(target.url, f"tag {tag!r} URL"), ingress))
    return arms


def require_unique_names(arms: Iterable[Arm]) -> None:
    """Raise ``BadInput`` when two arms share a name (their statistics would mix)."""
    seen: set[str] = set()
    for arm in arms:
        if arm.name in seen:
            raise BadInput(f"arm {arm.name!r} is given twice")
        seen.add(arm.name)


def check_reachable(arms: Iterable[Arm], timeout_s: float = 3.0) -> None:
    """Open (and close) one TCP connection per distinct address; no request is sent.

    Raises ``Unavailable`` naming the first address that does not resolve or accept.
    """
    checked: set[tuple[str, int]] = set()
    for arm in arms:
        parts = urlsplit(arm.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if (host, port) in checked:
            continue
        checked.add((host, port))
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                pass
        except socket.gaierror:
            hint = (
                ""
                if arm.host_header
                else "; pass --ingress http://IP:PORT to go through the ingress"
            )
            raise Unavailable(f"arm {arm.name!r}: cannot resolve host {host!r}{hint}") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {timeout_s:g}s"
            raise Unavailable(
                f"arm {arm.name!r}: cannot connect to {host}:{port}: {reason}"
            ) from None


def _arm(name: str, parts: SplitResult, ingress: str | None) -> Arm:
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    if ingress is None:
        return Arm(name=name, url=url)
    via = parse_url(ingress, "--ingress")
    if via.path not in ("", "/") or via.query:
        raise BadInput(f"--ingress {ingress!r} must be http://HOST:PORT without a path")
    routed = urlunsplit((via.scheme, via.netloc, parts.path, parts.query, ""))
    return Arm(name=name, url=routed, host_header=parts.hostname)


def is_host(host: str) -> bool:
    """True for an IP address or a DNS name (lower case labels joined by dots)."""
    return _is_ip(host) or (len(host) <= _HOSTNAME_MAX_LENGTH and _HOSTNAME.match(host) is not None)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
