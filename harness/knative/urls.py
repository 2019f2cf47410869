"""Route and tag hosts from Knative's default domain and tag templates.

Templates (knative/networking ``config/config-network.yaml``): domain
``{{.Name}}.{{.Namespace}}.{{.Domain}}``, tag ``{{.Tag}}-{{.Name}}``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.errors import BadInput
from harness.knative.names import dns1123_subdomain_problems, require_dns_label

# The emulator's domain, and Knative's own default before v1.8 (since then
# ``svc.cluster.local``); a real cluster's domain is read from a Service's status.url.
DEFAULT_DOMAIN = "example.com"


def require_domain(domain: str) -> str:
    """Return ``domain`` if it is a DNS-1123 subdomain (``example.com``), else ``BadInput``."""
    if not isinstance(domain, str) or dns1123_subdomain_problems(domain):
        raise BadInput(f"domain {domain!r} is not a valid DNS name")
    return domain


def route_host(route: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """The host a route answers on: ``hello.default.example.com``. Names are validated first."""
    require_dns_label(route, "route")
    require_dns_label(namespace, "namespace")
    return f"{route}.{namespace}.{require_domain(domain)}"


def tag_host(tag: str, route: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """The host of one tag of a route: ``staging-hello.default.example.com``."""
    require_dns_label(tag, "tag")
    host = route_host(route, namespace, domain)
    label = f"{tag}-{route}"
    # The tag template makes one DNS label of tag and route; longer is unroutable.
    require_dns_label(label, "tag host label")
    return f"{tag}-{host}"


def http_url(host: str) -> str:
    """``http://host``: Knative serves plain HTTP unless a cluster configures TLS."""
    return f"http://{host}"


def domain_from_url(url: str, route: str, namespace: str) -> str | None:
    """The cluster domain in a route's ``status.url`` (``http://hello.default.example.com``
    -> ``example.com``), or None when the URL does not follow the default domain template."""
    host = urlsplit(url).hostname or ""
    prefix = f"{route}.{namespace}."
    if not host.startswith(prefix):
        return None
    domain = host[len(prefix) :]
    if not domain or dns1123_subdomain_problems(domain):
        return None
    return domain
