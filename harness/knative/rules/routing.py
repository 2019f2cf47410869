"""Traffic checks Knative makes only at reconcile time (or not at all)."""

from __future__ import annotations

from collections.abc import Iterator

from harness.knative.names import DNS1035_LABEL_MAX_LENGTH
from harness.knative.rules import Issue, Subject
from harness.knative.rules.access import dig, items, mapping


def _entries(subject: Subject) -> Iterator[tuple[int, dict[str, object]]]:
    if subject.kind not in ("Service", "Route"):
        return
    for i, entry in enumerate(items(dig(subject.obj, "spec", "traffic"))):
        yield i, dict(mapping(entry))


def _name(subject: Subject) -> str:
    name = dig(subject.obj, "metadata", "name")
    return name if isinstance(name, str) else ""


def check_revision_owned(subject: Subject) -> Iterator[Issue]:
    """A Service's revisions are all named '{service}-...'; another name is not its own."""
    service = _name(subject)
    if subject.kind != "Service" or not service:
        return
    for i, entry in _entries(subject):
        revision = entry.get("revisionName")
        if isinstance(revision, str) and revision and not revision.startswith(f"{service}-"):
            yield Issue(
                "revision-not-owned",
                f"spec.traffic[{i}].revisionName",
                f"revision {revision!r} cannot belong to Service {service!r} (its revisions "
                f"are named '{service}-...'): the route will fail with RevisionNotOwned",
            )


def check_tag_host_length(subject: Subject) -> Iterator[Issue]:
    """'{tag}-{route}' must fit one DNS label to be a host name."""
    route = _name(subject)
    for i, entry in _entries(subject):
        tag = entry.get("tag")
        if isinstance(tag, str) and tag and len(f"{tag}-{route}") > DNS1035_LABEL_MAX_LENGTH:
            yield Issue(
                "tag-host-too-long",
                f"spec.traffic[{i}].tag",
                f"'{tag}-{route}' is longer than {DNS1035_LABEL_MAX_LENGTH} characters, so "
                "the tag gets no host name and the route does not become ready",
            )


def check_untagged_zero(subject: Subject) -> Iterator[Issue]:
    """A 0% entry without a tag gets neither traffic nor a URL."""
    for i, entry in _entries(subject):
        percent = entry.get("percent", 0)
        if percent == 0 and not entry.get("tag"):
            yield Issue(
                "traffic-untagged-zero",
                f"spec.traffic[{i}]",
                "this entry has 0% and no tag, so it routes nothing; remove it or add a tag",
            )


CHECKS = [check_revision_owned, check_tag_host_length, check_untagged_zero]
