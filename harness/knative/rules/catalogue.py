"""Every lint rule: id, severity, what it checks, and the Knative source that backs it."""

from __future__ import annotations

from harness.knative.rules import Rule

_S = "knative/serving "
_VALIDATION = _S + "pkg/apis/serving/v1/route_validation.go"
_AUTOSCALING = _S + "pkg/apis/autoscaling/annotation_validation.go"
_REVISION = _S + "pkg/apis/serving/v1/revision_validation.go"
_METADATA = _S + "pkg/apis/serving/metadata_validation.go"
_K8S = _S + "pkg/apis/serving/k8s_validation.go"

RULES: dict[str, Rule] = {
    r.id: r
    for r in [
        # --- what the API server rejects before Knative sees the object
        Rule(
            "yaml-syntax",
            "error",
            "the file parses as YAML or JSON (reported as the file's error, exit 2)",
            "YAML 1.1 / RFC 8259",
        ),
        Rule(
            "schema",
            "error",
            "field types (a string where a number belongs, unquoted annotation values) and "
            "unknown traffic fields",
            _S + "config/core/300-resources/*.yaml (CRD schemas); Kubernetes API server",
        ),
        Rule(
            "unknown-field",
            "error",
            "fields outside Knative's CRD schema (typos, Kubernetes pod/container fields "
            "Knative leaves out: nodeName, lifecycle, ...): kubectl's strict field validation "
            "gets the API server's 'unknown field' refusal; where an eventing schema keeps "
            "unknown fields (a Trigger's spec, a delivery), Knative Eventing's webhook refuses "
            "what its Go types lack; with a did-you-mean",
            _S + "config/core/300-resources/*.yaml, knative/eventing config/core/resources/"
            "{broker,trigger}.yaml (CRD schemas); Kubernetes API server; knative.dev/pkg "
            "webhook/json/decode.go",
        ),
        Rule(
            "duplicate-key",
            "error",
            "a key written twice in one mapping (kubectl's strict decoding rejects it)",
            "sigs.k8s.io/yaml strict decoding",
        ),
        Rule(
            "api-version",
            "error",
            "serving.knative.dev objects use apiVersion serving.knative.dev/v1 (v1alpha1/v1beta1 "
            "are no longer served)",
            _S + "config/core/300-resources/service.yaml",
        ),
        # --- Knative's validating webhook
        Rule(
            "metadata-name",
            "error",
            "metadata.name / generateName present and DNS-1035 labels",
            "knative.dev/pkg apis/metadata_validation.go",
        ),
        Rule(
            "metadata-owner-label",
            "error",
            "a Route/Configuration labelled serving.knative.dev/service is owned by that Service",
            _S + "pkg/apis/serving/v1/configuration_validation.go",
        ),
        Rule(
            "traffic-sum",
            "error",
            "traffic percents sum to exactly 100 (an absent percent is 0)",
            _VALIDATION,
        ),
        Rule("traffic-percent-range", "error", "each percent is within 0..100", _VALIDATION),
        Rule("traffic-tag-name", "error", "each tag is a DNS-1035 label", _VALIDATION),
        Rule("traffic-tag-unique", "error", "tags are unique within a traffic block", _VALIDATION),
        Rule(
            "traffic-latest-revision",
            "error",
            "latestRevision: true has no revisionName; latestRevision: false has one",
            _VALIDATION,
        ),
        Rule(
            "traffic-configuration-name",
            "error",
            "configurationName is not set in a Service's traffic",
            _VALIDATION,
        ),
        Rule(
            "traffic-revision-or-configuration",
            "error",
            "a Route's traffic entry names exactly one of revisionName, configurationName",
            _VALIDATION,
        ),
        Rule(
            "traffic-revision-name",
            "error",
            "revisionName/configurationName are Kubernetes qualified names",
            _VALIDATION,
        ),
        Rule("traffic-url", "error", "url is not set in spec.traffic (status only)", _VALIDATION),
        Rule(
            "revision-name",
            "error",
            "spec.template.metadata.name is a DNS-1035 label (and not used with a generateName "
            "parent)",
            _REVISION,
        ),
        Rule(
            "revision-name-prefix",
            "error",
            "spec.template.metadata.name starts with '{service}-'",
            _REVISION,
        ),
        # --- on an update only (harness lint --previous FILE; the emulator's PUT/PATCH)
        Rule(
            "revision-name-change",
            "error",
            "a Service's or Configuration's template that keeps its user-chosen revision "
            "name is unchanged (Knative prints the -old +new diff)",
            _REVISION,
        ),
        Rule(
            "revision-immutable",
            "error",
            "a Revision's spec does not change (Knative prints the -old +new diff)",
            _REVISION,
        ),
        Rule(
            "creator-immutable",
            "error",
            "the serving.knative.dev/creator annotation does not change (Services; "
            "Configurations and Routes without ownerReferences)",
            "knative.dev/pkg apis/metadata_validation.go",
        ),
        Rule(
            "last-modifier",
            "error",
            "serving.knative.dev/lastModifier changes only with the spec (same objects)",
            "knative.dev/pkg apis/metadata_validation.go",
        ),
        Rule(
            "containers",
            "error",
            "the template has containers, each with an image; names unique and not "
            "queue-proxy; terminationMessagePolicy File or FallbackToLogsOnError",
            _K8S,
        ),
        Rule(
            "disallowed-field",
            "error",
            "pod spec, container, volume, probe, port, env and securityContext fields Knative "
            "does not let through (lifecycle, hostPort, privileged, capabilities.add, "
            "fieldRef, ...), or only behind a config-features flag (affinity, nodeSelector, "
            "tolerations, pod securityContext, ...); see --feature",
            _S + "pkg/apis/serving/fieldmask.go",
        ),
        Rule(
            "serving-container",
            "error",
            "exactly one port across all containers names the serving container; several "
            "containers need a port; multi-container can be switched off",
            _K8S,
        ),
        Rule(
            "container-ports",
            "error",
            "the serving port: not reserved (8008, 8012, 8013, 8022, 9090, 9091), within "
            "0..65535, protocol TCP, name empty, h2c or http1",
            _K8S,
        ),
        Rule(
            "probes",
            "error",
            "one handler per probe; user-container probe ports match its port, sidecar probes "
            "name one (multi-container-probing); readiness periodSeconds/thresholds/timeouts",
            _K8S,
        ),
        Rule(
            "env",
            "error",
            "env names set and not reserved (PORT, K_SERVICE, K_CONFIGURATION, K_REVISION); "
            "each envFrom has exactly one of configMapRef and secretRef",
            _K8S,
        ),
        Rule(
            "volumes",
            "error",
            "volumes: named (DNS-1123 label), unique, mounted, exactly one source, enabled "
            "kinds only (emptyDir, persistentVolumeClaim, hostPath, csi, ...), items with "
            "key and path, projections complete",
            _K8S,
        ),
        Rule(
            "volume-mounts",
            "error",
            "mounts: a matching volume, an absolute, unique, unreserved mountPath, readOnly "
            "unless emptyDir/PVC/ephemeral, mountPropagation only behind its flag",
            _K8S,
        ),
        Rule(
            "init-containers",
            "error",
            "init containers only with kubernetes.podspec-init-containers, without probes or "
            "lifecycle, names distinct from the containers'",
            _K8S,
        ),
        Rule(
            "security-context",
            "error",
            "runAsUser, runAsGroup, fsGroup and supplementalGroups within 0..2147483647",
            _K8S,
        ),
        Rule(
            "service-account-name",
            "error",
            "serviceAccountName is a DNS-1123 subdomain",
            _K8S,
        ),
        Rule(
            "queue-resource-annotation",
            "error",
            "queue.sidecar.serving.knative.dev/{cpu,memory,ephemeral-storage}-resource-"
            "{request,limit} values are Kubernetes quantities",
            _REVISION,
        ),
        Rule(
            "insecure-default",
            "warning",
            "Knative's own warning (what kubectl prints on apply) for containers whose "
            "securityContext leaves runAsNonRoot, allowPrivilegeEscalation, seccompProfile or "
            "capabilities.drop at Kubernetes' insecure default, one finding as Knative merges "
            "it (off with secure-pod-defaults; hidden with --no-security-warnings)",
            _K8S,
        ),
        Rule(
            "image-reference",
            "error",
            "each image parses as an image reference (go-containerregistry, weak validation)",
            _S + "pkg/apis/serving/k8s_validation.go",
        ),
        Rule(
            "container-concurrency",
            "error",
            "containerConcurrency within 0..1000 (1..1000 without "
            "allow-container-concurrency-zero)",
            _METADATA,
        ),
        Rule(
            "timeout-seconds",
            "error",
            "timeoutSeconds within 0..max-revision-timeout-seconds (600)",
            _REVISION,
        ),
        Rule(
            "autoscaling-annotation-placement",
            "error",
            "autoscaling.knative.dev/* annotations only under spec.template.metadata.annotations",
            _METADATA,
        ),
        Rule(
            "networking-annotation",
            "error",
            "only known networking.knative.dev/* annotations on a revision template",
            "knative/networking pkg/apis/networking/metadata_validation.go",
        ),
        Rule(
            "autoscaling-class",
            "error",
            "class ending in .knative.dev is kpa.autoscaling.knative.dev or "
            "hpa.autoscaling.knative.dev",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-min-scale", "error", "min-scale / minScale is an int32 >= 0", _AUTOSCALING
        ),
        Rule(
            "autoscaling-max-scale",
            "error",
            "max-scale / maxScale is an int32 >= 0, within the cluster's max-scale-limit",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-max-below-min",
            "error",
            "a non-zero max-scale is not below min-scale",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-activation-scale",
            "error",
            "activation-scale is an int >= 2, >= min-scale, <= max-scale",
            _AUTOSCALING,
        ),
        Rule("autoscaling-target", "error", "target is a float >= 0.01", _AUTOSCALING),
        Rule(
            "autoscaling-target-utilization",
            "error",
            "target-utilization-percentage / targetUtilizationPercentage within 1..100",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-target-burst-capacity",
            "error",
            "target-burst-capacity / targetBurstCapacity >= 0 or -1",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-window",
            "error",
            "window is a Go duration within 6s..1h, whole seconds",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-panic-window",
            "error",
            "panic-window-percentage / panicWindowPercentage within 1..100",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-panic-threshold",
            "error",
            "panic-threshold-percentage / panicThresholdPercentage within 110..1000",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-scale-to-zero-retention",
            "error",
            "scale-to-zero-pod-retention-period / scaleToZeroPodRetentionPeriod within 0s..1h",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-scale-down-delay",
            "error",
            "scale-down-delay / scaleDownDelay within 0s..1h, whole seconds",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-metric",
            "error",
            "metric is concurrency or rps for KPA, non-empty for HPA (class from the annotation "
            "or the cluster)",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-aggregation-algorithm",
            "error",
            "with class kpa: metric-aggregation-algorithm is linear or weighted-exponential",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-initial-scale",
            "error",
            "initial-scale / initialScale is an int >= 0",
            _AUTOSCALING,
        ),
        Rule(
            "autoscaling-initial-scale-zero",
            "error",
            "initial-scale 0 only where the cluster sets allow-zero-initial-scale (flag "
            "--allow-zero-initial-scale)",
            _AUTOSCALING,
        ),
        Rule(
            "rollout-duration",
            "error",
            "rollout-duration / rolloutDuration on Service/Route metadata is a Go duration, "
            "whole seconds, not negative",
            _METADATA,
        ),
        Rule(
            "progress-deadline",
            "error",
            "progress-deadline on the template is a Go duration, whole seconds, not negative",
            _REVISION,
        ),
        Rule(
            "queue-resource-percentage",
            "error",
            "queue.sidecar resource-percentage within 0.1..100 (Knative also warns it is "
            "deprecated)",
            _REVISION,
        ),
        # --- warnings Knative does not give
        Rule(
            "annotation-ignored",
            "warning",
            "a known annotation placed where Knative does not read it (rollout-duration under "
            "spec.template, template-only annotations on the Service, visibility as an "
            "annotation)",
            _S + "pkg/reconciler/route/traffic/rollout.go, pkg/apis/serving/register.go",
        ),
        Rule(
            "unknown-annotation",
            "warning",
            "an unknown key in a *.knative.dev annotation group, with a did-you-mean",
            _S + "pkg/apis/autoscaling/register.go, pkg/apis/serving/register.go",
        ),
        Rule(
            "duplicate-spelling",
            "warning",
            "an annotation written in both spellings; Knative reads the kebab-case one",
            "knative.dev/pkg kmap/lookup.go",
        ),
        Rule(
            "placeholder-value",
            "warning",
            "a value that is still a placeholder (<ingress-type>, {username}, ${VAR}, {{ .x }})",
            "(none: documentation snippets)",
        ),
        Rule(
            "ko-image",
            "warning",
            "a ko:// image, which only ko resolves; applied as is, no node can pull it",
            "ko (github.com/ko-build/ko)",
        ),
        Rule(
            "target-above-container-concurrency",
            "warning",
            "a soft concurrency target above containerConcurrency (Knative caps it at "
            "containerConcurrency)",
            _S + "pkg/reconciler/autoscaling/resources/target.go",
        ),
        Rule(
            "initial-scale-below-min-scale",
            "warning",
            "initial-scale below min-scale (the revision is scaled to min-scale anyway)",
            _S + "pkg/reconciler/autoscaling/kpa/kpa.go",
        ),
        Rule(
            "kpa-only-annotation",
            "warning",
            "window, panic-* or metric-aggregation-algorithm with the HPA class, which ignores "
            "them",
            _S + "pkg/apis/autoscaling/register.go",
        ),
        Rule(
            "aggregation-algorithm-unchecked",
            "warning",
            "an invalid metric-aggregation-algorithm Knative lets through because the class is "
            "not set explicitly",
            _AUTOSCALING,
        ),
        Rule(
            "revision-not-owned",
            "warning",
            "a Service's traffic names a revision without the '{service}-' prefix: not this "
            "Service's (RevisionNotOwned at reconcile)",
            _S + "pkg/reconciler/route/traffic/traffic.go",
        ),
        Rule(
            "tag-host-too-long",
            "warning",
            "'{tag}-{route}' longer than 63 characters cannot become a host name",
            _S + "pkg/reconciler/route/domains/domains.go",
        ),
        # --- infos
        Rule(
            "traffic-untagged-zero",
            "info",
            "a 0% traffic entry without a tag does nothing",
            _S + "pkg/reconciler/route/traffic/traffic.go",
        ),
        Rule(
            "skipped-kind",
            "info",
            "a document that is not a serving.knative.dev Service, Route, Configuration or "
            "Revision is skipped",
            "-",
        ),
    ]
}
