"""A kubeconfig that is not one (``/etc/passwd``, an empty file, a broken one) is one line
on stderr and exit 2 on every command that talks to a cluster, before any traffic or write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store import open_store


def _one_cluster(cluster: str, user: str = "{token: t}") -> str:
    return (
        f"clusters:\n- name: a\n  cluster: {{{cluster}}}\n"
        f"users:\n- name: u\n  user: {user}\n"
        "contexts:\n- name: a\n  context: {cluster: a, user: u}\ncurrent-context: a\n"
    )


def _exec(command: str) -> str:
    return f"{{exec: {{command: {command}, apiVersion: client.authentication.k8s.io/v1beta1}}}}"


KUBECONFIGS: dict[str, tuple[str | None, str]] = {
    # name: (content, or None for an existing path; expected words)
    "etc-passwd": (None, "is not a kubeconfig"),
    "empty": ("", "is not a kubeconfig: empty"),
    "a-list": ("- a\n- b\n", "is not a kubeconfig"),
    "no-clusters": ("apiVersion: v1\nkind: Config\n", "no clusters list"),
    "unknown-cluster": (
        "clusters:\n- name: a\n  cluster: {server: 'http://127.0.0.1:9'}\n"
        "contexts:\n- name: a\n  context: {cluster: b}\ncurrent-context: a\n",
        "names cluster 'b', which is not in clusters",
    ),
    "a-directory": (None, "is not a regular file"),
    # Found by the issue-17 re-probe: these raised from lightkube/httpx/ssl (exit 1).
    "server-not-a-url": (_one_cluster("server: 'http://[::1'"), "Invalid port"),
    "ca-not-base64": (
        _one_cluster("server: 'https://127.0.0.1:9', certificate-authority-data: '!!!x'"),
        "Invalid base64",
    ),
    "ca-not-a-certificate": (
        _one_cluster("server: 'https://127.0.0.1:9', certificate-authority: /etc/passwd"),
        "NO_CERTIFICATE",
    ),
    "exec-fails": (
        _one_cluster("server: 'https://127.0.0.1:9'", _exec("/bin/false")),
        "returned 1",
    ),
    "exec-missing": (
        _one_cluster("server: 'https://127.0.0.1:9'", _exec("/nonexistent/plugin")),
        "No such file or directory",
    ),
    "exec-prints-no-credential": (
        _one_cluster("server: 'https://127.0.0.1:9'", _exec("/bin/echo")),
        "kubeconfig user for https://127.0.0.1:9",
    ),
    "token-file-missing": (
        _one_cluster("server: 'https://127.0.0.1:9'", "{tokenFile: /nonexistent/token}"),
        "Token file /nonexistent/token not found",
    ),
}

COMMANDS: dict[str, list[str]] = {
    "canary": ["canary", "hello", "--from", "v1", "--to", "v2"],
    "status": ["status", "hello"],
    "perf": ["perf", "hello", "--duration", "1s"],
    "load": ["load", "hello", "--duration", "1s"],
    "rollback": ["rollback", "hello"],
}


def _kubeconfig(name: str, folder: Path) -> Path:
    content, _ = KUBECONFIGS[name]
    if name == "etc-passwd":
        return Path("/etc/passwd")
    if name == "a-directory":
        return folder
    path = folder / f"kubeconfig-{name}"
    path.write_text(content or "")
    return path


def _store_with_a_run(path: Path) -> None:
    """A canary run that changed traffic, so that `rollback` goes on to the cluster."""
    store = open_store(path)
    try:
        run = store.create_run(
            "canary",
            "default",
            "hello",
            revisions=("hello-v1", "hello-v2"),
            spec={},
            original_traffic=[{"revisionName": "hello-v1", "percent": 100}],
        )
        action = store.begin_action(run.id, "set_traffic", {"percent": 5})
        store.complete_action(run.id, action.seq)
    finally:
        store.close()


@pytest.mark.parametrize("kubeconfig", sorted(KUBECONFIGS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_kubeconfig_is_one_line_and_exit_2(
    command: str, kubeconfig: str, tmp_path: Path
) -> None:
    path = _kubeconfig(kubeconfig, tmp_path)
    args = [*COMMANDS[command], "--kubeconfig", str(path)]
    if command == "rollback":
        store = tmp_path / "history.sqlite"
        _store_with_a_run(store)
        args += ["--store", str(store)]
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: kubeconfig "), proc.stderr
    assert KUBECONFIGS[kubeconfig][1] in proc.stderr, proc.stderr
