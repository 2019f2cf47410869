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

from tests.knative.corpus_cases import CorpusCase, judge, load_corpus

CASES = load_corpus()
TRANSLATED = [c for c in CASES if not c.skip]
EXPECTED_COUNTS = {
    # file: (Go cases, translated)
    "k8s_validation_test.yaml": (317, 307),
}


def test_corpus_counts_match_the_docstring() -> None:
    totals: Counter[str] = Counter(c.file for c in CASES)
    done: Counter[str] = Counter(c.file for c in TRANSLATED)
    assert {f: (totals[f], done[f]) for f in totals} == EXPECTED_COUNTS


def test_every_left_out_case_says_why() -> None:
    for case in CASES:
        if case.skip:
            assert len(case.skip) > 10, case.id


@pytest.mark.parametrize("case", TRANSLATED, ids=[c.id for c in TRANSLATED])
def test_knative_verdict_and_message(case: CorpusCase) -> None:
    verdict = judge(case)
    assert verdict.valid == verdict.want_valid, verdict.errors
    if verdict.want_errors is not None:
        assert verdict.errors == verdict.want_errors


@pytest.mark.parametrize(
    "case",
    [c for c in TRANSLATED if c.raw["scope"] == "spec.template.spec" and "level" not in c.raw][::8],
    ids=lambda c: c.id,
)
def test_harness_lint_gives_the_same_verdict(case: CorpusCase, tmp_path: Path) -> None:
    """A sample through the CLI itself: exit 0 for what Knative accepts, else 1."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(case.raw["manifest"]), encoding="utf-8")
    flags = [f"--feature={k}={v}" for k, v in (case.raw.get("features") or {}).items()]
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", *flags, str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == (0 if case.raw["valid"] else 1), proc.stdout + proc.stderr
