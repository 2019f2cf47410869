"""The CI and scheduling examples: they parse, use only real flags, and wire what they claim."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube.config.kubeconfig import KubeConfig

from tests.gate.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKFLOW = EXAMPLES / "github-actions" / "perf-gate.yml"
CRONJOB = EXAMPLES / "cronjob" / "perf-nightly.yaml"


def harness_commands(script: str) -> list[tuple[str, set[str]]]:
    """(command, flags) of every `harness ...` command line in a shell script."""
    joined = script.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        match = re.search(r"(?:^|[;&|]\s*)harness ((?:local )?[a-z]+)\b(.*)", line.strip())
        if match:
            commands.append(
                (match.group(1), set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", match.group(2))))
            )
    return commands


def assert_flags_exist(script: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every flag of every `harness` command in ``script`` is in that command's --help."""
    monkeypatch.setenv("COLUMNS", "200")
    used = set()
    for command, flags in harness_commands(script):
        help_text = run_cli(*command.split(), "--help").stdout
        for flag in flags:
            assert re.search(rf"{re.escape(flag)}(?![\w-])", help_text), f"{command}: no {flag}"
        used.add(command)
    return used


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_workflow_runs_perf_and_gate_on_pull_requests_and_uploads_reports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    all_steps = steps(workflow)
    scripts = "\n".join(step.get("run", "") for step in all_steps)
    assert assert_flags_exist(scripts, monkeypatch) == {"perf", "gate", "local up", "local down"}

    perf = next(s for s in all_steps if "harness perf" in s.get("run", ""))
    assert "--save" in perf["run"] and "--label" in perf["run"]
    gate = next(s for s in all_steps if "harness gate" in s.get("run", ""))
    assert gate["if"] == "github.event_name == 'pull_request'" and "--against" in gate["run"]
    upload = next(s for s in all_steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
    summary = next(s for s in all_steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"] == "always()" and "summary.md" in summary["run"]
    cached = [s["with"]["path"] for s in all_steps if s.get("uses", "").startswith("actions/cache")]
    assert cached == [".harness/history.sqlite"] * 2
    assert workflow["env"]["HARNESS_STATE_DIR"].endswith("/.harness")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_workflow_scripts_are_valid_shell() -> None:
    for step in steps(yaml.safe_load(WORKFLOW.read_text())):
        if "run" in step:
            check = subprocess.run(
                ["bash", "-n"], input=step["run"], text=True, capture_output=True
            )
            assert check.returncode == 0, f"{step.get('name')}: {check.stderr}"


def cronjob_documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(CRONJOB.read_text())}


def test_the_cronjob_runs_nightly_saves_history_on_its_volume_and_gates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = cronjob_documents()
    assert set(docs) == {
        "Namespace", "ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "CronJob",
    }  # fmt: skip
    cron = docs["CronJob"]["spec"]
    assert len(cron["schedule"].split()) == 5 and cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == env["HARNESS_STATE_DIR"]
    assert (
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
        == (docs["PersistentVolumeClaim"]["metadata"]["name"])
    )
    script = container["args"][0]
    assert assert_flags_exist(script, monkeypatch) == {"perf", "gate"}
    assert "--save" in script and "--against last:7" in script
    # Read-only access, granted to the CronJob's service account.
    rules = docs["Role"]["rules"]
    assert {verb for rule in rules for verb in rule["verbs"]} == {"get", "list", "watch"}
    (subject,) = docs["RoleBinding"]["subjects"]
    assert subject["name"] == pod["serviceAccountName"]
    assert subject["namespace"] == docs["ServiceAccount"]["metadata"]["namespace"]


def test_the_cronjob_writes_a_kubeconfig_the_harness_can_read(tmp_path: Path) -> None:
    script = cronjob_documents()["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]["args"][0]
    body = re.search(r"<<KUBECONFIG\n(.*?)\nKUBECONFIG\n", script, re.S)
    assert body is not None
    values = {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "sa": str(tmp_path),
        "NAMESPACE": "default",
    }
    text = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], body.group(1))
    (tmp_path / "token").write_text("secret-token")
    config = KubeConfig.from_dict(yaml.safe_load(text)).get()
    assert config is not None
    assert config.cluster.server == "https://10.96.0.1:443"
    assert config.namespace == "default"
    assert config.user is not None and config.user.token_file == os.path.join(tmp_path, "token")


@pytest.mark.skipif(shutil.which("sh") is None, reason="sh is not installed")
def test_the_cronjob_script_is_valid_shell() -> None:
    script = cronjob_documents()["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]["args"][0]
    check = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
