"""Knative's own validation unit tests, translated into manifests, agree with ours.

Source: knative/serving at 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944 (five commits after
knative-v1.23.0), translated by ``benchmarks/knative_validation_translate.py`` into
``tests/knative/corpus/*.yaml`` (data: a manifest, the config-features flags, Knative's
verdict and, where the Go test states it, its error text with paths from the root).

What was translated (counts are asserted below, so this docstring cannot drift):

* ``pkg/apis/serving/k8s_validation_test.go``: 317 Go cases (the common container cases
  run for user, sidecar and init containers; TestPodSpecFeatureValidation's 12 gated
  fields x 4 flag/presence combinations), 307 translated. Left out: the 10 cases of
  TestObjectReferenceValidation, whose ``ValidateNamespacedObjectReference`` no manifest
  field reaches.
* ``pkg/apis/serving/v1/service_validation_test.go``: 23 cases, all translated; 11 are
  updates with the stored object as ``old`` (TestImmutableServiceFields 4,
  TestServiceSubresourceUpdate 4, TestServiceAnnotationUpdate 3).
* ``pkg/apis/serving/v1/configuration_validation_test.go``: 31 cases, all translated; 14
  updates (TestImmutableConfigurationFields 4, TestConfigurationSubresourceUpdate 4,
  TestConfigurationAnnotationUpdate 6; the owner of "owned by service" gets a name and
  uid, which the API server requires and Knative does not look at).
* ``pkg/apis/serving/v1/route_validation_test.go``: 51 cases, 48 translated (traffic
  targets placed in a Route, or in a Service for ``WithDefaultConfigurationName``;
  TestRouteAnnotationUpdate's 8, 6 of them updates). Left out: 3 traffic targets
  validated within ``status``, which a user does not write.
* ``pkg/apis/serving/v1/revision_validation_test.go``: 67 cases, all translated (Revision
  objects, revision specs and templates in a Service named ``parent``, the queue-proxy
  annotations with their warning, timeouts, revision names; TestImmutableFields' 7
  updates).
* ``pkg/apis/autoscaling/annotation_validation_test.go``: 82 cases (one unnamed), all
  translated, with the autoscaler settings each case's ``configMutator`` sets.
* ``pkg/apis/serving/metadata_validation_test.go``: 42 cases, all translated;
  TestAnnotationCreate (2) and TestAnnotationUpdate (2) check ``SetUserInfo``: a Service
  with the requesting ``user`` and the annotations it must end with.

In all: 613 Go cases, 600 translated (44 of them updates or user info, translated by
hand: the translator writes them as ``skip``), 13 left out (10 object references, 3
status). The update cases' details (go-cmp's ``-old +new`` diff) are compared too.
Cluster settings a Go test puts in its context (config-features,
config-defaults, config-autoscaler) are the case's ``features`` and ``config``.

Every error-level case also goes through ``lint_text`` (the CLI's code, which defaults
first as a cluster does; an update case with ``old`` as ``--previous``): its verdict is
Knative's, except for the cases defaulting changes (``corpus_cases.DEFAULTED``) and
manifests with fields outside Knative's CRD schema, which get the API server's
unknown-field errors instead (what kubectl's strict field validation answers). Left out
of the lint path: the status-subresource updates (the controller's writes, not a
manifest's) and the ``SetUserInfo`` cases (defaulting with a user, which lint has not).
A sample also runs the ``harness lint`` CLI itself, update cases with ``--previous``.

Every translated case runs through ``validate_object`` (the code path of ``harness lint``
and of the emulator's admission) and must give Knative's verdict and, where stated, its
exact message and field paths. Paths outside the part of the manifest the Go test
validated (``scope``) are not compared: they belong to the surrounding manifest.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from harness.knative.cluster_settings import setting_of
from harness.knative.field_error import FieldError
from harness.knative.lint import lint_text
from harness.knative.previous import previous_objects
from harness.knative.unknown_fields import unknown_fields
from tests.knative.corpus_cases import (
    DEFAULTED,
    CorpusCase,
    _in_scope,
    case_config,
    judge,
    load_corpus,
)

CASES = load_corpus()
TRANSLATED = [c for c in CASES if not c.skip]
EXPECTED_COUNTS = {
    # file: (Go cases, translated)
    "k8s_validation_test.yaml": (317, 307),
    "service_validation_test.yaml": (23, 23),
    "configuration_validation_test.yaml": (31, 31),
    "route_validation_test.yaml": (51, 48),
    "revision_validation_test.yaml": (67, 67),
    "annotation_validation_test.yaml": (82, 82),
    "metadata_validation_test.yaml": (42, 42),
}


def test_corpus_counts_match_the_docstring() -> None:
    totals: Counter[str] = Counter(c.file for c in CASES)
    done: Counter[str] = Counter(c.file for c in TRANSLATED)
    assert {f: (totals[f], done[f]) for f in totals} == EXPECTED_COUNTS


def test_every_left_out_case_says_why() -> None:
    for case in CASES:
        if case.skip:
            assert len(case.skip) > 10, case.id


def _lint_left_out(case: CorpusCase) -> str:
    raw = case.raw
    if raw.get("subresource") == "status":
        return "a status-subresource update: the controller's write, not a manifest's"
    if "want_annotations" in raw:
        return "SetUserInfo: defaulting with the requesting user, which lint does not have"
    return ""


@pytest.mark.parametrize("case", TRANSLATED, ids=[c.id for c in TRANSLATED])
def test_knative_verdict_and_message(case: CorpusCase) -> None:
    verdict = judge(case)
    assert verdict.valid == verdict.want_valid, verdict.errors
    if verdict.want_errors is not None:
        assert verdict.errors == verdict.want_errors


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in TRANSLATED
        if c.raw["scope"] in ("spec.template.spec", "")
        and "level" not in c.raw
        and not _lint_left_out(c)
    ][::8],
    ids=lambda c: c.id,
)
def test_harness_lint_gives_the_same_verdict(case: CorpusCase, tmp_path: Path) -> None:
    """A sample through the CLI itself: exit 0 for what Knative accepts, else 1."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(case.raw["manifest"]), encoding="utf-8")
    flags = [f"--feature={k}={v}" for k, v in (case.raw.get("features") or {}).items()]
    for key, value in (case.raw.get("config") or {}).items():
        flags.append(f"--cluster-config={setting_of(key, value)}")
    if "old" in case.raw:
        stored = tmp_path / "previous.yaml"
        stored.write_text(yaml.safe_dump(case.raw["old"]), encoding="utf-8")
        flags.append(f"--previous={stored}")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", *flags, str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == (0 if case.raw["valid"] else 1), proc.stdout + proc.stderr


def _previous(case: CorpusCase) -> dict[tuple[str, str, str], dict[str, object]] | None:
    old = case.raw.get("old")
    return previous_objects(yaml.safe_dump(old), case_config(case.raw)) if old else None


def _lint_verdicts() -> list[str]:
    """Every error-level case through ``lint_text`` (the CLI's code, defaulting first, as
    a cluster): the verdict in the case's scope must be Knative's; a manifest with fields
    outside the CRD schema gets the API server's unknown-field errors instead. An update
    case's errors must also be Knative's, message and field (the details may differ: the
    stored object is defaulted, Knative's unit test's is not)."""
    wrong = []
    for case in TRANSLATED:
        raw = case.raw
        if raw.get("level", "error") != "error" or f"{case.test}::{case.name}" in DEFAULTED:
            continue
        if _lint_left_out(case):
            continue
        report = lint_text(
            yaml.safe_dump(raw["manifest"]), "m.yaml", case_config(raw), previous=_previous(case)
        )
        errors = [f for f in report.findings if f.severity == "error"]
        if unknown := unknown_fields(raw["manifest"]):
            if sorted(f.field for f in errors if f.rule == "unknown-field") != unknown:
                wrong.append(f"{case.id}: want unknown fields {unknown}")
            continue
        scope = raw.get("scope", "")
        # A finding without a field is an error without paths: in every scope.
        paths = [(f, (f.field,) if f.field else ()) for f in errors]
        scoped = [f for f, p in paths if _in_scope(FieldError("", p), scope)]
        if (not scoped) != bool(raw["valid"]):
            wrong.append(f"{case.id}: {[f.message for f in scoped]}")
        elif "old" in raw and raw.get("errors"):
            for line in _error_lines(raw["errors"]):
                message, _, path = line.rpartition(": ")
                if not any(
                    f.field == path
                    and (f.message == message or f.message.startswith(message + " ("))
                    for f in scoped
                ):
                    wrong.append(f"{case.id}: want {line!r}, got {[f.message for f in scoped]}")
    return wrong


def _error_lines(text: str) -> list[str]:
    """The ``message: path`` lines of Knative's error text (details lines left out)."""
    return [line for line in text.split("\n") if line and not line.startswith(("\t", "{", "*{"))]


def test_harness_lint_gives_knatives_verdict_on_every_case() -> None:
    assert _lint_verdicts() == []
