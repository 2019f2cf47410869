"""``--cluster-config KEY=VALUE`` (harness.knative.cluster_settings): config-defaults and
config-autoscaler keys, with the checks Knative's ConfigMap parsers make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.knative.cluster import ClusterConfig
from harness.knative.cluster_settings import apply_settings
from harness.knative.defaults import defaulted


def test_keys_set_the_settings() -> None:
    config = apply_settings(
        ClusterConfig(),
        [
            "revision-timeout-seconds=60",
            "max-revision-timeout-seconds=120",
            "container-concurrency=5",
            "allow-zero-initial-scale=true",
            "max-scale-limit=10",
            "pod-autoscaler-class=hpa.autoscaling.knative.dev",
            "revision-cpu-request=100m",
            "revision-memory-limit=1Gi",
            "enable-service-links=default",
        ],
    )
    assert config.revision_timeout_seconds == 60
    assert config.response_start_timeout_seconds == 60  # follows the revision timeout
    assert config.max_revision_timeout_seconds == 120
    assert config.container_concurrency == 5
    assert config.allow_zero_initial_scale is True
    assert config.max_scale_limit == 10
    assert config.pod_autoscaler_class == "hpa.autoscaling.knative.dev"
    assert config.enable_service_links is None
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}},
    }
    pod = defaulted(service, config)["spec"]["template"]["spec"]
    assert pod["timeoutSeconds"] == 60
    assert pod["containerConcurrency"] == 5
    assert "enableServiceLinks" not in pod
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "100m"},
        "limits": {"memory": "1Gi"},
    }


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("revision-timeout-seconds=700", "cannot be greater than max-revision-timeout-seconds"),
        ("revision-idle-timeout-seconds=400", "cannot be greater than revision-timeout-seconds"),
        ("container-concurrency=x", "is not an integer"),
        ("allow-zero-initial-scale=yes", "is not true or false"),
        ("revision-cpu-request=lots", "is not a quantity"),
        ("revision-timeout=5", "unknown key 'revision-timeout'"),
        ("novalue", "is not KEY=VALUE"),
        ("container-concurrency-max-limit=0", "is not >= 1"),
    ],
)
def test_bad_settings_name_the_problem(assignment: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_settings(ClusterConfig(), [assignment])


def test_lint_config_flag(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: s}\n"
        "spec: {template: {spec: {timeoutSeconds: 100, containers: [{image: x}]}}}\n",
        encoding="utf-8",
    )

    def lint(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harness.cli", "lint", "--no-security-warnings", *flags],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert lint(str(manifest)).returncode == 0
    tight = lint(
        "--cluster-config",
        "max-revision-timeout-seconds=50",
        "--cluster-config",
        "revision-timeout-seconds=30",
        str(manifest),
    )
    assert tight.returncode == 1
    assert "expected 0 <= 100 <= 50" in tight.stdout
    bad = lint("--cluster-config", "revision-timeout-seconds=nope", str(manifest))
    assert bad.returncode == 2
    (line,) = bad.stderr.strip().splitlines()
    assert "--cluster-config: revision-timeout-seconds: 'nope' is not an integer" in line
