"""GitOps check of `harness canary`: is the Service owned by Argo CD or Flux, and may the
canary own its ``spec.traffic``?

A GitOps controller that syncs the Service back to git undoes the canary's traffic patch
mid-run (knative/serving#13024, argoproj/argo-rollouts#2186). Before the first change the
canary reads the Service's labels and annotations:

* Argo CD: label ``argocd.argoproj.io/instance`` (the usual custom tracking label),
  annotation ``argocd.argoproj.io/tracking-id`` (annotation tracking), or label
  ``app.kubernetes.io/instance`` (Argo CD's default tracking label; Helm sets it too);
* Flux kustomize-controller: labels ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``;
* Flux helm-controller: labels ``helm.toolkit.fluxcd.io/name`` and ``/namespace``.

What the harness can see of the settings that let the canary own ``spec.traffic``:

* Flux: ``kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`` (or ``Ignore``) or
  ``kustomize.toolkit.fluxcd.io/reconcile: disabled``; helm-controller's
  ``helm.toolkit.fluxcd.io/driftDetection: disabled``. All are on the object itself.
* Argo CD's ``ignoreDifferences`` live in the Application, which the harness does not read
  (another namespace, other permissions). The Service then carries the harness'
  acknowledgement ``knative-harness/gitops-traffic: ignored``, put in git next to the
  Application's setting. The same annotation acknowledges any setting the harness cannot
  see (e.g. a HelmRelease's ``driftDetection.ignore`` of ``/spec/traffic``).

``--gitops-check warn`` (default) prints the finding and the setting; ``fail`` stops with
exit 2 (nothing changed) when a GitOps owner is found without a setting; ``off`` skips.
docs/gitops.md shows both set-ups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.errors import BadInput

ACK_ANNOTATION = "knative-harness/gitops-traffic"
ACK_VALUE = "ignored"
MODES = ("warn", "fail", "off")

ARGO_INSTANCE_LABEL = "argocd.argoproj.io/instance"
ARGO_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
K8S_INSTANCE_LABEL = "app.kubernetes.io/instance"
K8S_MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
FLUX_KS_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_KS_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
FLUX_KS_SSA = "kustomize.toolkit.fluxcd.io/ssa"
FLUX_KS_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
FLUX_HELM_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
FLUX_HELM_DRIFT = "helm.toolkit.fluxcd.io/driftDetection"


@dataclass(frozen=True)
class GitOpsFinding:
    """One GitOps owner of the Service."""

    tool: str
    owner: str
    evidence: str
    setting: str | None  # the setting seen that lets the canary own spec.traffic
    remedy: str  # YAML that lets it

    @property
    def settled(self) -> bool:
        return self.setting is not None


def detect(
    service: str,
    namespace: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> list[GitOpsFinding]:
    """Every GitOps owner the Service's metadata shows (pure)."""
    ack = annotations.get(ACK_ANNOTATION) == ACK_VALUE
    ack_text = f"annotation {ACK_ANNOTATION}: {ACK_VALUE}" if ack else None
    found: list[GitOpsFinding] = []

    argo_app, argo_evidence = _argo(labels, annotations)
    if argo_app is not None:
        found.append(
            GitOpsFinding(
                tool="Argo CD",
                owner=f"Application {argo_app}",
                evidence=argo_evidence,
                setting=ack_text,
                remedy=argo_remedy(argo_app, service, namespace),
            )
        )
    if FLUX_KS_NAME in labels:
        owner = f"Kustomization {labels.get(FLUX_KS_NAMESPACE, '?')}/{labels[FLUX_KS_NAME]}"
        setting = None
        if annotations.get(FLUX_KS_SSA) in ("IfNotPresent", "Ignore"):
            setting = f"annotation {FLUX_KS_SSA}: {annotations[FLUX_KS_SSA]}"
        elif annotations.get(FLUX_KS_RECONCILE) == "disabled":
            setting = f"annotation {FLUX_KS_RECONCILE}: disabled"
        found.append(
            GitOpsFinding(
                tool="Flux",
                owner=owner,
                evidence=f"label {FLUX_KS_NAME}={labels[FLUX_KS_NAME]}",
                setting=setting or ack_text,
                remedy=flux_kustomize_remedy(service, namespace),
            )
        )
    if FLUX_HELM_NAME in labels:
        helm_ns = labels.get(FLUX_HELM_NAMESPACE, "?")
        setting = None
        if annotations.get(FLUX_HELM_DRIFT) == "disabled":
            setting = f"annotation {FLUX_HELM_DRIFT}: disabled"
        found.append(
            GitOpsFinding(
                tool="Flux (helm-controller)",
                owner=f"HelmRelease {helm_ns}/{labels[FLUX_HELM_NAME]}",
                evidence=f"label {FLUX_HELM_NAME}={labels[FLUX_HELM_NAME]}",
                setting=setting or ack_text,
                remedy=flux_helm_remedy(service, namespace),
            )
        )
    return found


def _argo(labels: Mapping[str, str], annotations: Mapping[str, str]) -> tuple[str | None, str]:
    tracking = annotations.get(ARGO_TRACKING_ANNOTATION)
    if tracking:
        # <app>:<group>/<kind>:<namespace>/<name>; <app> may be <app-namespace>_<app>.
        return tracking.split(":", 1)[0].replace("_", "/", 1), (
            f"annotation {ARGO_TRACKING_ANNOTATION}={tracking}"
        )
    if ARGO_INSTANCE_LABEL in labels:
        value = labels[ARGO_INSTANCE_LABEL]
        return value, f"label {ARGO_INSTANCE_LABEL}={value}"
    if K8S_INSTANCE_LABEL in labels and FLUX_HELM_NAME not in labels:
        # Argo CD's default tracking label; Helm charts set it too (managed-by: Helm).
        value = labels[K8S_INSTANCE_LABEL]
        if labels.get(K8S_MANAGED_BY_LABEL, "").lower() != "helm":
            return value, f"label {K8S_INSTANCE_LABEL}={value} (Argo CD's default tracking label)"
    return None, ""


def argo_remedy(app: str, service: str, namespace: str) -> str:
    name = app.split("/")[-1]
    return f"""\
# Argo CD Application {name}: leave spec.traffic of the Service to the canary
spec:
  ignoreDifferences:
    - group: serving.knative.dev
      kind: Service
      name: {service}
      namespace: {namespace}
      jsonPointers:
        - /spec/traffic
  syncPolicy:
    syncOptions:
      - RespectIgnoreDifferences=true
# and on the Service in git, so the harness knows:
metadata:
  annotations:
    {ACK_ANNOTATION}: {ACK_VALUE}"""


def flux_kustomize_remedy(service: str, namespace: str) -> str:
    return f"""\
# Kustomization (Flux with drift ignore rules): leave spec.traffic of the Service alone
spec:
  driftIgnoreRules:
    - paths: ["/spec/traffic"]
      target:
        group: serving.knative.dev
        kind: Service
        name: {service}
        namespace: {namespace}
# and on the Service in git, so the harness knows (also when spec.traffic is not in git):
metadata:
  annotations:
    {ACK_ANNOTATION}: {ACK_VALUE}
# or, on any Flux version: Flux creates the Service but no longer overwrites it
# (new revisions then come from `harness canary --apply`, not from git)
metadata:
  annotations:
    {FLUX_KS_SSA}: IfNotPresent"""


def flux_helm_remedy(service: str, namespace: str) -> str:
    return f"""\
# HelmRelease: drift detection leaves spec.traffic of the Service alone
spec:
  driftDetection:
    mode: enabled
    ignore:
      - paths: ["/spec/traffic"]
        target:
          group: serving.knative.dev
          kind: Service
          name: {service}
          namespace: {namespace}
# and on the Service (chart values), so the harness knows:
metadata:
  annotations:
    {ACK_ANNOTATION}: {ACK_VALUE}"""


def check(
    service: str,
    namespace: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    mode: str,
    say: Callable[[str], None],
) -> list[GitOpsFinding]:
    """Say what each GitOps owner will do; with ``mode`` fail, ``BadInput`` (exit 2,
    nothing changed) when one has no setting letting the canary own ``spec.traffic``."""
    if mode not in MODES:
        raise BadInput(f"--gitops-check {mode!r} must be one of {', '.join(MODES)}")
    if mode == "off":
        return []
    findings = detect(service, namespace, labels, annotations)
    where = f"{namespace}/{service}"
    missing = [f for f in findings if not f.settled]
    for f in findings:
        if f.settled:
            say(
                f"gitops: {where} is managed by {f.tool} ({f.owner}, {f.evidence}); "
                f"{f.setting} lets the canary own spec.traffic"
            )
        else:
            say(
                f"gitops: {where} is managed by {f.tool} ({f.owner}, {f.evidence}); "
                "a sync may put spec.traffic back from git in the middle of the run. "
                "This setting lets the canary own spec.traffic:"
            )
            say(f.remedy)
    if missing and mode == "fail":
        tools = ", ".join(f"{f.tool} ({f.owner})" for f in missing)
        raise BadInput(
            f"--gitops-check fail: {where} is managed by {tools} without a setting that "
            "leaves spec.traffic to the canary (see above and docs/gitops.md)"
        )
    return findings
