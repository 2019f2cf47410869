"""Knative's update checks (creator/lastModifier, BYO revision name, immutable Revision
spec), ``SetUserInfo``, go-cmp's short diff, and ``harness lint --previous``.

Pure logic, plus the CLI as a process for ``--previous``. The corpus
(``test_knative_corpus.py``) holds Knative's own update cases; these are the edges.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.knative.cluster import ClusterConfig
from harness.knative.go_diff import go_equal, short_diff
from harness.knative.lint import lint_text
from harness.knative.previous import previous_objects
from harness.knative.user_info import CREATOR, UPDATER, set_user_info
from harness.knative.validation import validate_object


def service(image: str = "x", name: str | None = None, **meta: Any) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"containers": [{"image": image}]}}
    if name:
        template["metadata"] = {"name": name}
    metadata: dict[str, Any] = {"name": "s", **meta}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"template": template},
    }


def test_quantities_compare_by_value_and_print_like_go_cmp() -> None:
    spec = {"containers": [{"resources": {"limits": {"memory": "1Gi"}}}]}
    same = copy.deepcopy(spec)
    same["containers"][0]["resources"]["limits"]["memory"] = "1024Mi"
    assert go_equal(spec, same, "RevisionSpec")
    other = copy.deepcopy(spec)
    other["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    assert short_diff(spec, other, "RevisionSpec") == (
        '{v1.RevisionSpec}.PodSpec.Containers[0].Resources.Limits["memory"]:\n'
        '\t-: resource.Quantity: "{i:{value:1073741824 scale:0} d:{Dec:<nil>} s:1Gi '
        'Format:BinarySI}"\n'
        '\t+: resource.Quantity: "{i:{value:2147483648 scale:0} d:{Dec:<nil>} s:2Gi '
        'Format:BinarySI}"\n'
    )


def test_short_diff_walks_go_field_order_and_map_keys() -> None:
    old = {"metadata": {"annotations": {"a": "1"}}, "spec": {"containers": [{"image": "x"}]}}
    new = {
        "metadata": {"annotations": {"b": "2"}},
        "spec": {"containers": [{"image": "x", "args": ["-v"]}], "timeoutSeconds": 3},
    }
    assert short_diff(old, new, "RevisionTemplateSpec", pointer=True) == (
        '{*v1.RevisionTemplateSpec}.ObjectMeta.Annotations["a"]:\n\t-: "1"\n'
        '{*v1.RevisionTemplateSpec}.ObjectMeta.Annotations["b"]:\n\t+: "2"\n'
        '{*v1.RevisionTemplateSpec}.Spec.PodSpec.Containers[0].Args[0]:\n\t+: "-v"\n'
        '{*v1.RevisionTemplateSpec}.Spec.TimeoutSeconds:\n\t-: "<nil>"\n\t+: "&3"\n'
    )


def test_absent_value_field_equals_its_zero_value() -> None:
    assert go_equal(
        {"containers": [{"image": "x"}]},
        {"containers": [{"image": "x", "workingDir": ""}]},
        "RevisionSpec",
    )
    assert not go_equal(
        {"containers": [{}]}, {"containers": [{}], "timeoutSeconds": 0}, "RevisionSpec"
    )


def test_user_info_on_create_update_and_owned_routes() -> None:
    created = service()
    set_user_info(created, None, "ana")
    assert created["metadata"]["annotations"] == {CREATOR: "ana", UPDATER: "ana"}
    unchanged = copy.deepcopy(created)
    set_user_info(unchanged, created, "bob")
    assert unchanged["metadata"]["annotations"][UPDATER] == "ana"
    changed = copy.deepcopy(created)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "y"
    set_user_info(changed, created, "bob")
    assert changed["metadata"]["annotations"] == {CREATOR: "ana", UPDATER: "bob"}
    owned = {
        "kind": "Route",
        "metadata": {"name": "r", "ownerReferences": [{"kind": "Service", "name": "r"}]},
        "spec": {},
    }
    set_user_info(owned, None, "ana")
    assert "annotations" not in owned["metadata"]


def test_a_template_keeping_its_name_may_not_change_but_its_traffic_may() -> None:
    old = service("a", "s-one")
    traffic_only = copy.deepcopy(old)
    traffic_only["spec"]["traffic"] = [{"revisionName": "s-one", "percent": 100}]
    assert [e for e in validate_object(traffic_only, old=old) if e.level == "error"] == []
    new = service("b", "s-one")
    errors = [e for e in validate_object(new, old=old) if e.level == "error"]
    assert [(e.rule, e.paths) for e in errors] == [
        ("revision-name-change", ("spec.template.metadata.name",))
    ]
    assert '-: "a"' in errors[0].details and '+: "b"' in errors[0].details


def test_a_revision_update_reports_only_the_spec_change() -> None:
    old: dict[str, Any] = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {"name": "r"},
        "spec": {"containers": [{"image": "a"}]},
    }
    new = copy.deepcopy(old)
    new["metadata"]["name"] = "Bad_Name"
    new["spec"]["containers"][0]["image"] = "b"
    (error,) = validate_object(new, old=old, defaults=False)
    assert (error.message, error.paths) == ("Immutable fields changed (-old +new)", ("spec",))


def test_lint_with_previous_checks_an_update_and_keeps_stored_annotations() -> None:
    # As `kubectl get -o yaml` shows an object created without kubectl apply.
    stored = service("a", "s-one", uid="4d1c0c39-0a4e-4bd8-9a32-59c1c5a3a1f0")
    stored["metadata"]["annotations"] = {CREATOR: "ana", UPDATER: "ana"}
    previous = previous_objects(yaml.safe_dump(stored), ClusterConfig())
    # kubectl apply keeps the stored creator: the re-sent manifest is fine.
    resent = service("a", "s-one")
    assert lint_text(yaml.safe_dump(resent), "m", previous=previous).errors == 0
    forged = service("a", "s-one", annotations={CREATOR: "eve"})
    findings = lint_text(yaml.safe_dump(forged), "m", previous=previous).findings
    assert [(f.rule, f.field) for f in findings if f.severity == "error"] == [
        ("creator-immutable", f"metadata.annotations.{CREATOR}")
    ]
    # Another object of the same file is a create.
    other = service("b", "s-two")
    other["metadata"]["name"] = "s2"
    other["spec"]["template"]["metadata"]["name"] = "s2-two"
    assert lint_text(yaml.safe_dump(other), "m", previous=previous).errors == 0


def test_cli_previous_flag(tmp_path: Path) -> None:
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(yaml.safe_dump(service("a", "s-one")), encoding="utf-8")
    after.write_text(yaml.safe_dump(service("b", "s-one")), encoding="utf-8")

    def lint(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harness.cli", "lint", "--no-security-warnings", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert lint(str(after)).returncode == 0
    refused = lint("--previous", str(before), str(after))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "error spec.template.metadata.name: Saw the following changes" in refused.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [", encoding="utf-8")
    bad = lint("--previous", str(broken), str(after))
    assert bad.returncode == 2
    assert "--previous" in bad.stderr and "Traceback" not in bad.stderr
    missing = lint("--previous", str(tmp_path / "nope.yaml"), str(after))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
