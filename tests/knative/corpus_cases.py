"""The corpus translated from Knative's validation unit tests, and how we judge a case.

Each file in ``tests/knative/corpus/`` holds the cases of one Knative test file (see
``benchmarks/knative_validation_translate.py``). A case has a manifest, the
``config-features`` flags its Go test sets, Knative's verdict, and (where the Go test
states it) the error text Knative's ``FieldError.Error()`` prints, with paths from the
manifest's root. ``scope`` is the part of the manifest the Go test validated (a single
container, a volume): errors elsewhere in the surrounding manifest are not compared.
An update case also has ``old`` (the stored object, ``apis.WithinUpdate``) and maybe
``subresource``; a case of Knative's ``SetUserInfo`` has the requesting ``user`` and the
annotations it wants after defaulting (``want_annotations``) instead of a verdict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.knative.cluster import ClusterConfig
from harness.knative.features import Features
from harness.knative.field_error import FieldError, format_errors, only_errors
from harness.knative.user_info import set_user_info
from harness.knative.validation import validate_object

CORPUS = Path(__file__).parent / "corpus"

# Knative's unit tests validate without SetDefaults; a cluster (and so `harness lint` and
# the emulator) defaults first, which fills these in before the rule the Go test is
# about runs: "<test>::<name>" -> what defaulting changes.
DEFAULTED = {
    "TestUserContainerValidation::empty container": "the container gets a name and probe",
    "TestSidecarContainerValidation::empty container": "the container gets a name",
    "TestInitContainerValidation::empty container": "the container gets a name",
    "TestUserContainerValidation::out of bounds probe values": "probe thresholds defaulted",
    "TestSidecarContainerValidation::out of bounds probe values": "probe thresholds defaulted",
    "TestUserContainerValidation::has unknown volumeMounts": "the mount becomes readOnly",
    "TestSidecarContainerValidation::has unknown volumeMounts": "the mount becomes readOnly",
    "TestPodSpecMultiContainerValidation::flag enabled: probes are not allowed for non "
    "serving containers": "probe thresholds defaulted",
}


@dataclass(frozen=True)
class CorpusCase:
    """One translated case (``skip`` says why a Go case has no manifest)."""

    file: str
    test: str
    name: str
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{Path(self.file).stem}::{self.test}::{self.name}"

    @property
    def skip(self) -> str:
        return str(self.raw.get("skip", ""))


def load_corpus() -> list[CorpusCase]:
    """Every case of every corpus file, in file order."""
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for raw in doc["cases"]:
            cases.append(CorpusCase(path.name, raw["test"], raw["name"], raw))
    return cases


def _in_scope(error: FieldError, scope: str) -> bool:
    if not error.paths or not scope:
        return True
    # Knative reports the serving port's errors for all containers at containers[*].
    scopes = (scope, scope.rsplit("[", 1)[0] + "[*]") if scope.endswith("]") else (scope,)
    return any(p == s or p.startswith((f"{s}.", f"{s}[")) for p in error.paths for s in scopes)


@dataclass(frozen=True)
class Verdict:
    """What we say about a case, next to what Knative says."""

    valid: bool
    errors: str
    want_valid: bool
    want_errors: str | None

    @property
    def verdict_agrees(self) -> bool:
        return self.valid == self.want_valid

    @property
    def text_agrees(self) -> bool:
        return self.want_errors is None or self.errors == self.want_errors


def case_config(raw: dict[str, Any]) -> ClusterConfig:
    """The cluster a case runs against: its config-features flags and the
    config-defaults/config-autoscaler settings its Go test puts in the context."""
    features = Features.from_map(raw.get("features") or {})
    return ClusterConfig(features=features, **(raw.get("config") or {}))


def user_annotations(raw: dict[str, Any]) -> dict[str, str]:
    """The manifest's annotations after Knative's ``SetUserInfo`` with the case's user (and
    the stored object ``old`` on an update), called alone as the Go test calls it."""
    obj = copy.deepcopy(raw["manifest"])
    set_user_info(obj, raw.get("old"), raw["user"])
    return dict(obj["metadata"].get("annotations") or {})


def judge(case: CorpusCase) -> Verdict:
    """Run the case's manifest through ``validate_object`` with its features (and the
    stored object, on an update)."""
    raw = case.raw
    config = case_config(raw)
    if "want_annotations" in raw:
        got = user_annotations(raw)
        return Verdict(True, str(got), True, str(raw["want_annotations"]))
    # Knative's unit tests call Validate without SetDefaults; so does the corpus.
    results = validate_object(
        raw["manifest"],
        config,
        defaults=False,
        old=raw.get("old"),
        subresource=raw.get("subresource", ""),
    )
    level = raw.get("level", "error")
    if level == "all":  # the Go test compares errors and warnings together
        found = list(results)
    elif level == "error":
        found = only_errors(results)
    else:
        found = [e for e in results if e.level == level]
    scoped = [e for e in found if _in_scope(e, raw.get("scope", ""))]
    return Verdict(
        valid=not scoped,
        errors=format_errors(scoped),
        want_valid=bool(raw["valid"]),
        want_errors=raw.get("errors"),
    )
