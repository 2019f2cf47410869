"""GitOps check: Argo CD and Flux markers (pure), and `harness canary` against emulator
Services labelled as Argo CD and Flux label them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import BadInput
from harness.gitops import ACK_ANNOTATION, check, detect
from tests.canary.conftest import FAST, patch_service, run_canary, service, spec_traffic
from tests.conftest import RunningEmulator

ARGO_TRACKING = {"argocd.argoproj.io/tracking-id": "shop:serving.knative.dev/Service:default/hello"}
FLUX_LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}
HELM_LABELS = {
    "helm.toolkit.fluxcd.io/name": "hello",
    "helm.toolkit.fluxcd.io/namespace": "apps",
    "app.kubernetes.io/instance": "hello",
    "app.kubernetes.io/managed-by": "Helm",
}


# ------------------------------------------------------------------ markers (pure)
@pytest.mark.parametrize(
    ("labels", "annotations", "tool", "owner"),
    [
        ({}, ARGO_TRACKING, "Argo CD", "Application shop"),
        ({"argocd.argoproj.io/instance": "shop"}, {}, "Argo CD", "Application shop"),
        ({"app.kubernetes.io/instance": "shop"}, {}, "Argo CD", "Application shop"),
        (
            {},
            {"argocd.argoproj.io/tracking-id": "team_shop:serving.knative.dev/Service:d/h"},
            "Argo CD",
            "Application team/shop",
        ),
        (FLUX_LABELS, {}, "Flux", "Kustomization flux-system/apps"),
        (HELM_LABELS, {}, "Flux (helm-controller)", "HelmRelease apps/hello"),
    ],
)
def test_each_marker_is_detected(
    labels: dict[str, str], annotations: dict[str, str], tool: str, owner: str
) -> None:
    found = detect("hello", "default", labels, annotations)
    assert [(f.tool, f.owner, f.settled) for f in found] == [(tool, owner, False)]


def test_no_marker_and_helm_alone_are_not_gitops() -> None:
    assert detect("hello", "default", {"app": "hello"}, {}) == []
    helm_only = {"app.kubernetes.io/instance": "hello", "app.kubernetes.io/managed-by": "Helm"}
    assert detect("hello", "default", helm_only, {}) == []


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        (FLUX_LABELS, {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}),
        (FLUX_LABELS, {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}),
        (HELM_LABELS, {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}),
        ({}, {**ARGO_TRACKING, ACK_ANNOTATION: "ignored"}),
        (FLUX_LABELS, {ACK_ANNOTATION: "ignored"}),
    ],
)
def test_settings_on_the_object_are_recognised(
    labels: dict[str, str], annotations: dict[str, str]
) -> None:
    found = detect("hello", "default", labels, annotations)
    assert found and all(f.settled for f in found)
    said: list[str] = []
    check("hello", "default", labels, annotations, "fail", said.append)
    assert any("lets the canary own spec.traffic" in line for line in said)


def test_remedies_are_the_exact_settings() -> None:
    said: list[str] = []
    check("hello", "default", {}, ARGO_TRACKING, "warn", said.append)
    text = "\n".join(said)
    for needle in (
        "ignoreDifferences:",
        "group: serving.knative.dev",
        "kind: Service",
        "name: hello",
        "- /spec/traffic",
        "RespectIgnoreDifferences=true",
        f"{ACK_ANNOTATION}: ignored",
    ):
        assert needle in text, needle
    said.clear()
    check("hello", "default", FLUX_LABELS, {}, "warn", said.append)
    flux = "\n".join(said)
    assert "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent" in flux
    assert "driftIgnoreRules:" in flux and 'paths: ["/spec/traffic"]' in flux
    said.clear()
    check("hello", "default", HELM_LABELS, {}, "warn", said.append)
    assert 'paths: ["/spec/traffic"]' in "\n".join(said)


def test_fail_mode_raises_and_off_says_nothing() -> None:
    with pytest.raises(BadInput, match="--gitops-check fail"):
        check("hello", "default", FLUX_LABELS, {}, "fail", lambda _: None)
    said: list[str] = []
    assert check("hello", "default", FLUX_LABELS, {}, "off", said.append) == []
    assert said == []
    with pytest.raises(BadInput, match="must be one of"):
        check("hello", "default", {}, {}, "maybe", said.append)


# ------------------------------------------------------------------ harness canary
def _label(emu: RunningEmulator, labels: dict[str, str], annotations: dict[str, str]) -> None:
    patch_service(emu, {"metadata": {"labels": labels, "annotations": annotations}})
    meta: dict[str, Any] = service(emu)["metadata"]
    assert all(meta["labels"].get(k) == v for k, v in labels.items())


def test_fail_stops_an_argo_managed_service_before_any_change(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    _label(fresh_emulator, {}, ARGO_TRACKING)
    before = service(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        "--gitops-check",
        "fail",
        *FAST,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "--gitops-check fail" in line]
    assert len(errors) == 1 and "Argo CD (Application shop)" in errors[0], proc.stderr
    assert "- /spec/traffic" in proc.stderr and "RespectIgnoreDifferences=true" in proc.stderr
    after = service(fresh_emulator)
    assert after["spec"]["traffic"] == before["spec"]["traffic"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    report = tmp_path / "report"
    assert not report.exists() or not any(report.iterdir())  # no run, so no report


def test_flux_with_ssa_if_not_present_passes_fail_and_dry_run_prints_kn_plan(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    _label(fresh_emulator, FLUX_LABELS, {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"})
    before = spec_traffic(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        "--gitops-check",
        "fail",
        "--dry-run",
        *FAST,
        "--max-duration",
        "6s",
    )
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert "managed by Flux (Kustomization flux-system/apps" in proc.stderr
    assert "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent lets the canary own" in proc.stderr
    plan = [line.strip() for line in proc.stderr.splitlines() if "kn service update" in line]
    assert plan[0] == (
        "step 50%: kn service update hello -n default --tag hello-v1=v1 --tag hello-v2=v2 "
        "--traffic hello-v1=50 --traffic hello-v2=50"
    ), proc.stderr
    assert plan[-1].startswith("rollback: ") and "--traffic hello-v1=100" in plan[-1]
    assert not any(line.startswith("kn equivalent:") for line in plan)  # nothing was changed
    assert spec_traffic(fresh_emulator) == before


def test_warn_lets_the_run_go_on(emulator: RunningEmulator, tmp_path: Path) -> None:
    _label(emulator, FLUX_LABELS, {})
    try:
        proc = run_canary(
            emulator,
            tmp_path / "h.sqlite",
            tmp_path / "report",
            "hello",
            "--from",
            "v1",
            "--to",
            "v2",
            "--dry-run",
            *FAST,
            "--max-duration",
            "6s",
        )
        assert proc.returncode in (0, 1, 3), proc.stderr
        assert "may put spec.traffic back from git" in proc.stderr
        assert "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent" in proc.stderr
        assert (tmp_path / "report" / "report.json").exists()
    finally:
        _label(emulator, dict.fromkeys(FLUX_LABELS), {})  # type: ignore[arg-type]
