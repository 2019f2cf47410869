"""``harness lint``: Knative's webhook rules as errors plus the warnings users need,
placed on the lines of the manifest they are about.

``lint_text`` lints one file's text; ``lint_path`` reads a file (or ``-`` for stdin)
first. Reports are plain values; rendering (human or JSON) is the command's job.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.inputs import InputError, read_text
from harness.knative.cluster import ClusterConfig
from harness.knative.eventing_validation import (
    EVENTING_DEFAULTS,
    EVENTING_VALIDATORS,
    go_field_names,
    undecodable_fields,
    validate_eventing_object,
)
from harness.knative.field_error import FieldError
from harness.knative.manifest import Document, ManifestError, parse_manifests
from harness.knative.model import EVENTING_API_VERSION, EVENTING_GROUP
from harness.knative.previous import Previous, as_applied, previous_of
from harness.knative.rules import (
    Check,
    Issue,
    Severity,
    Subject,
    annotation_keys,
    routing,
    scaling,
    values,
)
from harness.knative.rules.catalogue import RULES
from harness.knative.unknown_fields import feature_hint, hint, prune_unknown, unknown_fields
from harness.knative.validation import API_VERSION, SERVING_GROUP, VALIDATORS, validate_object

CHECKS: list[Check] = [*annotation_keys.CHECKS, *scaling.CHECKS, *routing.CHECKS, *values.CHECKS]
_KNATIVE_KINDS = frozenset(VALIDATORS)
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One finding: severity, the field it is about, the message, its rule and line."""

    severity: Severity
    field: str
    message: str
    rule: str
    line: int | None


@dataclass(frozen=True)
class FileError:
    """Why a file could not be linted: unreadable, or not YAML/JSON (line/column 1-based)."""

    message: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class FileReport:
    """The findings for one file, or the error that stopped it from being read."""

    file: str
    findings: tuple[Finding, ...] = ()
    error: FileError | None = None

    @property
    def errors(self) -> int:
        """How many findings are errors."""
        return sum(1 for f in self.findings if f.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``harness lint --format json`` for this file."""
        return {
            "file": self.file,
            "findings": [asdict(f) for f in self.findings],
            "error": asdict(self.error) if self.error else None,
        }


_KEY_IN_MESSAGE = re.compile(r'^invalid key name "([^"]+)"$')
_ARRAY_VALUE = re.compile(r"^(.*traffic)\.(tag)(\[\d+\])$")


def _from_field_error(error: FieldError, document: Document) -> Finding:
    paths = list(error.paths) or [""]
    field_path = paths[0]
    line_path = field_path
    message = error.message
    if error.details:
        # One line: a multi-line detail (the -old +new diff of an update) is folded.
        message = f"{message} ({' '.join(error.details.split())})"
    if len(paths) > 1:
        message = f"{message} (also {', '.join(paths[1:])})"
    # "invalid key name" errors point at the annotations map; the key's own line is better.
    if match := _KEY_IN_MESSAGE.match(error.message):
        line_path = f"{field_path}.{match.group(1)}"
    # Knative names a bad tag spec.traffic.tag[0]; its line is spec.traffic[0].tag's.
    line_path = _ARRAY_VALUE.sub(r"\1\3.\2", line_path)
    rule = error.rule or "schema"
    if rule == "disallowed-field":
        # Did-you-mean for a gated field: the config-features flag that lets it through.
        gates = [h for h in (feature_hint(p) for p in paths) if h]
        if gates:
            message = f"{message}; {'; '.join(gates)}"
    severity: Severity = RULES[rule].severity
    if error.level == "warning" and severity == "error":
        severity = "warning"
    return Finding(severity, field_path, message, rule, document.line_of(line_path))


def _covered(path: str, unknown: list[str]) -> bool:
    return any(path == u or path.startswith((f"{u}.", f"{u}[")) for u in unknown)


def _unknown_field(kind: str, path: str, document: Document) -> Finding:
    message = f'unknown field "{path}"'
    if suggestion := hint(kind, path):
        message = f"{message}; {suggestion}"
    return Finding("error", path, message, "unknown-field", document.line_of(path))


def _merge_insecure_defaults(errors: list[FieldError]) -> list[FieldError]:
    """Knative's insecure-default warnings (four per container) as one finding per
    message, the way Knative merges them into one warning line."""
    grouped: dict[tuple[str, str], list[str]] = {}
    rest = []
    for e in errors:
        if e.rule == "insecure-default":
            grouped.setdefault((e.message, e.details), []).extend(e.paths)
        else:
            rest.append(e)
    merged = [
        FieldError(message, tuple(sorted(paths)), details, "warning", "insecure-default")
        for (message, details), paths in grouped.items()
    ]
    return rest + merged


def _from_issue(issue: Issue, document: Document) -> Finding:
    return Finding(
        RULES[issue.rule].severity,
        issue.field,
        issue.message,
        issue.rule,
        document.line_of(issue.field),
    )


def _kind_of(api_version: object, kind: object) -> str:
    """A skipped document's apiVersion/kind as a reader would say it (either may be
    missing, e.g. in a canary spec or a workflow file)."""
    if api_version is None and kind is None:
        return "a document without apiVersion and kind"
    if api_version is None:
        return f"kind {kind} without apiVersion"
    if kind is None:
        return f"{api_version} without kind"
    return f"{api_version}/{kind}"


def lint_document(
    document: Document,
    config: ClusterConfig,
    *,
    security_warnings: bool = True,
    previous: Previous | None = None,
) -> list[Finding]:
    """Every finding for one parsed document; Knative's insecure-default warning (one
    finding, merged as Knative merges it) unless ``security_warnings`` is off. With
    ``previous`` (``harness.knative.previous``), an object found there is checked as an
    update of it."""
    obj = document.obj
    if not isinstance(obj, Mapping):
        return [
            Finding(
                "info", "", "skipped: the document is not an object", "skipped-kind", document.line
            )
        ]
    findings = [
        Finding("error", path, "duplicate key: the mapping already has it", "duplicate-key", line)
        for path, line in document.duplicate_keys
    ]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    is_serving = isinstance(api_version, str) and api_version.startswith(f"{SERVING_GROUP}/")
    if is_serving and kind in _KNATIVE_KINDS and api_version != API_VERSION:
        findings.append(
            Finding(
                "error",
                "apiVersion",
                f"{api_version} is no longer served; use {API_VERSION}",
                "api-version",
                document.line_of("apiVersion"),
            )
        )
        return findings
    if isinstance(api_version, str) and api_version.startswith(f"{EVENTING_GROUP}/"):
        return findings + _lint_eventing(obj, str(kind), api_version, document, previous)
    if not is_serving or kind not in _KNATIVE_KINDS:
        findings.append(
            Finding(
                "info",
                "kind",
                f"skipped: {_kind_of(api_version, kind)} is not a Knative Service, Route, "
                "Configuration, Revision, Broker or Trigger",
                "skipped-kind",
                document.line_of("kind"),
            )
        )
        return findings
    unknown = unknown_fields(obj, str(kind))
    findings += [_unknown_field(str(kind), path, document) for path in unknown]
    # The API server refuses (kubectl) or drops unknown fields before Knative's webhook
    # runs, so the webhook's errors about those very fields are not reported again.
    old = previous_of(obj, previous or {})
    results = (
        VALIDATORS[str(kind)](obj, config)
        if old is None
        else validate_object(as_applied(obj, old), config, old=old)
    )
    errors = [e for e in results if not e.paths or not all(_covered(p, unknown) for p in e.paths)]
    if security_warnings:
        errors = _merge_insecure_defaults(errors)
    else:
        errors = [e for e in errors if e.rule != "insecure-default"]
    findings += [_from_field_error(e, document) for e in errors]
    subject = Subject(obj, str(kind), config)
    findings += [_from_issue(issue, document) for check in CHECKS for issue in check(subject)]
    return findings


def _undecodable_field(kind: str, path: str, key: str, document: Document) -> Finding:
    message = (
        f'unknown field "{path}": Knative Eventing\'s webhook refuses it '
        f'(json: unknown field "{key}")'
    )
    close = difflib.get_close_matches(key, go_field_names(kind, path), n=1, cutoff=0.6)
    if close:
        message = f"{message}; did you mean {close[0]}?"
    return Finding("error", path, message, "unknown-field", document.line_of(path))


def _lint_eventing(
    obj: Mapping[str, Any],
    kind: str,
    api_version: str,
    document: Document,
    previous: Previous | None = None,
) -> list[Finding]:
    """Brokers and Triggers: the API server's unknown fields, then Knative Eventing's
    webhooks (harness.knative.eventing_validation): the fields its Go types lack, its
    validation, and with ``previous`` its update rules."""
    if kind not in EVENTING_VALIDATORS:
        return [
            Finding(
                "info",
                "kind",
                f"skipped: {api_version}/{kind} is not a Knative Broker or Trigger",
                "skipped-kind",
                document.line_of("kind"),
            )
        ]
    if api_version != EVENTING_API_VERSION:
        return [
            Finding(
                "error",
                "apiVersion",
                f"{api_version} is no longer served; use {EVENTING_API_VERSION}",
                "api-version",
                document.line_of("apiVersion"),
            )
        ]
    unknown = unknown_fields(obj, kind)
    findings = [_unknown_field(kind, path, document) for path in unknown]
    # The webhook sees what the API server keeps (Warn/Ignore prune the rest).
    kept = copy.deepcopy(dict(obj))
    prune_unknown(kept, kind)
    findings += [_undecodable_field(kind, p, k, document) for p, k in undecodable_fields(kept)]
    old = previous_of(obj, previous or {})
    if old is None:
        errors = validate_eventing_object(kept)
    else:
        new = as_applied(kept, old)
        prune_unknown(new, kind)
        errors = EVENTING_VALIDATORS[kind](EVENTING_DEFAULTS[kind](new), old)
    return findings + [_from_field_error(e, document) for e in errors]


def _ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(
        sorted(findings, key=lambda f: (f.line or 0, _SEVERITY_ORDER[f.severity], f.field))
    )


def lint_text(
    text: str,
    name: str,
    config: ClusterConfig | None = None,
    *,
    security_warnings: bool = True,
    previous: Previous | None = None,
) -> FileReport:
    """Lint one file's text; ``name`` is what the report calls the file; objects found in
    ``previous`` are checked as updates of them."""
    config = config or ClusterConfig()
    try:
        documents = parse_manifests(text)
    except ManifestError as exc:
        return FileReport(name, error=FileError(exc.message, exc.line, exc.column))
    findings = [
        f
        for d in documents
        for f in lint_document(d, config, security_warnings=security_warnings, previous=previous)
    ]
    return FileReport(name, _ordered(findings))


def lint_path(
    path: str,
    config: ClusterConfig | None = None,
    *,
    security_warnings: bool = True,
    previous: Previous | None = None,
) -> FileReport:
    """Read ``path`` (``-`` is stdin) and lint it; an unreadable file gives a report
    with ``error`` set, never an exception."""
    name = "<stdin>" if path == "-" else path
    try:
        text = read_text(path)
    except InputError as exc:
        return FileReport(name, error=FileError(exc.message))
    return lint_text(text, name, config, security_warnings=security_warnings, previous=previous)


@dataclass(frozen=True)
class LintSummary:
    """Totals over all files, and the exit code of the CLI contract."""

    reports: tuple[FileReport, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """2 if a file could not be read or parsed, else 1 if any error, else 0."""
        if any(r.error for r in self.reports):
            return 2
        return 1 if any(r.errors for r in self.reports) else 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``harness lint --format json``."""
        return {"files": [r.to_dict() for r in self.reports]}
