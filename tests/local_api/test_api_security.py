"""The emulator's API refuses whoever does not hold the kubeconfig's token, foreign Hosts,
web pages and odd bodies; a Service's env never reaches the host interpreter
(issue 17, item 1; docs/emulator.md, "Threat model")."""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from harness.local.launcher import descendants
from harness.local.state import read_credentials
from tests.conftest import RunningEmulator
from tests.manifests import apply_ready, service_manifest

NS_PATH = "/apis/serving.knative.dev/v1/namespaces/default"
UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
KUBECTL = shutil.which("kubectl")


def anonymous(emulator: RunningEmulator, **headers: str) -> httpx.Client:
    """A client that trusts the emulator's CA but sends only `headers`."""
    return httpx.Client(
        base_url=emulator.api, verify=emulator.api_options["verify"], headers=headers, timeout=10
    )


def token(emulator: RunningEmulator) -> str:
    creds = read_credentials(emulator.kubeconfig)
    assert creds is not None
    return creds.token


def test_anonymous_and_wrong_tokens_get_401_as_kubernetes_answers(
    emulator: RunningEmulator,
) -> None:
    right = token(emulator)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {right[:-1]}"},
        {"Authorization": f"Basic {right}"},
        {"Authorization": "Bearer"},
    ):
        with anonymous(emulator, **headers) as client:
            for path in (
                "/healthz",
                "/version",
                f"{NS_PATH}/services",
                f"{NS_PATH}/services/hello",
            ):
                answer = client.get(path)
                assert answer.status_code == 401, (headers, path)
                assert answer.json() == UNAUTHORIZED
            created = client.post(f"{NS_PATH}/services", json=service_manifest("anon", "v1"))
            assert created.status_code == 401
    with emulator.api_client() as api:
        assert api.get(f"{NS_PATH}/services/anon").status_code == 404
        assert api.get("/healthz").status_code == 200


def test_a_foreign_host_or_a_web_page_is_refused(emulator: RunningEmulator) -> None:
    port = urlsplit(emulator.api).port
    auth = {"Authorization": f"Bearer {token(emulator)}"}
    for host in ("evil.example.com", f"evil.example.com:{port}", "127.0.0.1:1", f"10.0.0.1:{port}"):
        with anonymous(emulator, Host=host, **auth) as client:
            answer = client.get(f"{NS_PATH}/services")
        assert answer.status_code == 421, host
        assert answer.json()["kind"] == "Status"
        assert answer.json()["code"] == 421
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        with anonymous(emulator, Host=host, **auth) as client:
            assert client.get(f"{NS_PATH}/services").status_code == 200, host
    for origin in ("https://evil.example.com", "null", f"http://127.0.0.1:{port}"):
        with anonymous(emulator, Origin=origin, **auth) as client:
            answer = client.post(f"{NS_PATH}/services", json=service_manifest("web", "v1"))
        assert answer.status_code == 403, origin
        assert answer.json()["reason"] == "Forbidden"
    with anonymous(emulator, Origin=f"https://127.0.0.1:{port}", **auth) as client:
        assert client.get(f"{NS_PATH}/services").status_code == 200
        assert client.get(f"{NS_PATH}/services/web").status_code == 404


def test_bodies_only_in_the_media_types_kubernetes_takes(emulator: RunningEmulator) -> None:
    body = json.dumps(service_manifest("typed", "v1")).encode()
    with emulator.api_client() as api:
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            answer = api.post(f"{NS_PATH}/services", content=body, headers={"Content-Type": kind})
            assert answer.status_code == 415, kind
            assert answer.json()["reason"] == "UnsupportedMediaType"
        assert api.get(f"{NS_PATH}/services/typed").status_code == 404
        # No Content-Type at all is JSON to kube-apiserver (the kubernetes client sends none).
        bare = api.build_request("POST", f"{NS_PATH}/services", content=body)
        bare.headers.pop("Content-Type", None)
        assert api.send(bare).status_code == 201
        assert api.delete(f"{NS_PATH}/services/typed").status_code == 200
        untyped_patch = api.build_request("PATCH", f"{NS_PATH}/services/hello", content=b"{}")
        untyped_patch.headers.pop("Content-Type", None)
        assert api.send(untyped_patch).status_code == 415
        put = api.put(
            f"{NS_PATH}/services/hello", content=b"{}", headers={"Content-Type": "text/plain"}
        )
        assert put.status_code == 415
        for kind in ("application/json", "text/plain", "application/apply-patch+yaml"):
            patch = api.patch(
                f"{NS_PATH}/services/hello", content=b"{}", headers={"Content-Type": kind}
            )
            assert patch.status_code == 415, kind
        as_yaml = api.post(
            f"{NS_PATH}/services",
            content=yaml.safe_dump(service_manifest("typed", "v1")).encode(),
            headers={"Content-Type": "application/yaml"},
        )
        assert as_yaml.status_code == 201
        assert api.delete(f"{NS_PATH}/services/typed").status_code == 200


def test_the_kubeconfig_and_state_are_private(emulator: RunningEmulator) -> None:
    assert stat.S_IMODE(emulator.state_dir.stat().st_mode) == 0o700
    for name in ("kubeconfig", "emulator.json"):
        assert stat.S_IMODE((emulator.state_dir / name).stat().st_mode) == 0o600, name
    config = yaml.safe_load(emulator.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert len(config["users"][0]["user"]["token"]) >= 40
    # Nothing else in the folder holds the token (the TLS key was removed once loaded).
    secret = token(emulator).encode()
    for path in emulator.state_dir.rglob("*"):
        if path.is_file() and path.name != "kubeconfig":
            assert secret not in path.read_bytes(), path
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_each_start_has_its_own_token(fresh_emulator: RunningEmulator) -> None:
    first = token(fresh_emulator)
    state = fresh_emulator.state_dir / "again"
    from harness.local.launcher import Emulator

    info = Emulator.start(state)
    try:
        creds = read_credentials(info.kubeconfig)
        assert creds is not None and creds.token != first
        with anonymous(fresh_emulator, Authorization=f"Bearer {creds.token}") as client:
            assert client.get("/healthz").status_code == 401
    finally:
        Emulator.stop(state)


def _cap_memory(pid: int, extra: int) -> None:
    """Cap `pid`'s address space at what it maps now plus `extra` bytes."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + extra
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))


def test_hostile_bodies_get_4xx_not_500(fresh_emulator: RunningEmulator) -> None:
    # The daemon runs under a memory cap here: a body that blew up would kill it.
    _cap_memory(fresh_emulator.pid, 512 * 1024 * 1024)
    bombs: list[tuple[str, bytes]] = [
        ("application/json", b"[" * 100_000 + b"]" * 100_000),
        ("application/json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        ("application/json", json.dumps({"spec": _nested(150)}).encode()),
        ("application/yaml", b"a: " + b"[" * 50_000 + b"]" * 50_000),
        ("application/yaml", _billion_laughs()),
        ("application/json", b"[" + b"1," * 300_000 + b"1]"),  # 600 KB, 300,000 values
        ("application/json", b"[" + b"1," * 2_000_000 + b"1]"),  # 4 MB: over the size bound
    ]
    with fresh_emulator.api_client(timeout=60) as api:
        for kind, body in bombs:
            created = api.post(f"{NS_PATH}/services", content=body, headers={"Content-Type": kind})
            assert 400 <= created.status_code < 500, (kind, body[:40], created.text[:200])
            assert created.json()["kind"] == "Status"
            patched = api.patch(
                f"{NS_PATH}/services/hello",
                content=body,
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert 400 <= patched.status_code < 500, (kind, body[:40], patched.text[:200])
        assert api.get(f"{NS_PATH}/services/hello").status_code == 200
    assert "internal error" not in (fresh_emulator.state_dir / "daemon.log").read_text()


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def _billion_laughs() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{','.join('*' + prev for _ in range(9))}]")
    return ("\n".join(lines) + "\n").encode()


def test_the_official_kubernetes_client_works_with_the_token_and_not_without(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    group, version, plural = "serving.knative.dev", "v1", "services"
    api = client.CustomObjectsApi(config.new_client_from_config(str(emulator.kubeconfig)))
    listed: Any = api.list_namespaced_custom_object(group, version, "default", plural)
    assert "hello" in [o["metadata"]["name"] for o in listed["items"]]
    got: Any = api.get_namespaced_custom_object(group, version, "default", plural, "hello")
    assert got["metadata"]["name"] == "hello"
    created: Any = api.create_namespaced_custom_object(
        group, version, "default", plural, service_manifest("official", "v1")
    )
    assert created["metadata"]["generation"] == 1
    patched: Any = api.patch_namespaced_custom_object(
        group, version, "default", plural, "official", {"metadata": {"labels": {"by": "k8s"}}}
    )
    assert patched["metadata"]["labels"]["by"] == "k8s"
    api.delete_namespaced_custom_object(group, version, "default", plural, "official")

    # The same kubeconfig without its token: 401, as from a cluster.
    document = yaml.safe_load(emulator.kubeconfig.read_text())
    del document["users"][0]["user"]["token"]
    no_token = tmp_path / "kubeconfig"
    no_token.write_text(yaml.safe_dump(document))
    bare = client.CustomObjectsApi(config.new_client_from_config(str(no_token)))
    with pytest.raises(ApiException) as refused:
        bare.list_namespaced_custom_object(group, version, "default", plural)
    assert refused.value.status == 401
    assert json.loads(str(refused.value.body)) == UNAUTHORIZED


def test_kubectl_needs_the_token(emulator: RunningEmulator, tmp_path: Path) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl check needs it")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    ok = subprocess.run(
        [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "get", "ksvc", "hello", "-o", "name"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "service.serving.knative.dev/hello"
    document = yaml.safe_load(emulator.kubeconfig.read_text())
    document["users"][0]["user"]["token"] = "not-the-token"
    wrong = tmp_path / "kubeconfig"
    wrong.write_text(yaml.safe_dump(document))
    refused = subprocess.run(
        [KUBECTL, "--kubeconfig", str(wrong), "get", "ksvc"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "provide credentials" in refused.stderr or "Unauthorized" in refused.stderr


def _revision_pids(emulator: RunningEmulator, revision: str) -> list[int]:
    found = []
    for pid in descendants(emulator.pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"K_REVISION={revision}".encode() in environ:
            found.append(pid)
    return found


def test_a_services_env_never_reaches_the_host_interpreter(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    browser_marker = tmp_path / "browser-ran"
    script_marker = tmp_path / "browser-script-ran"
    startup_marker = tmp_path / "startup-ran"
    # Python's webbrowser runs an executable named by BROWSER; the emulator before this
    # fix did so at the revision's start (the antigravity import of PYTHONWARNINGS).
    script = tmp_path / "browser.sh"
    script.write_text(f"#!/bin/sh\ntouch {script_marker}\n")
    script.chmod(0o755)
    startup = tmp_path / "startup.py"
    startup.write_text(f"open({str(startup_marker)!r}, 'w').close()\n")
    hostile = {
        "TARGET": "isolated",
        "PYTHONWARNINGS": "ignore::antigravity.Foo",
        "BROWSER": f'{script}{os.pathsep}/bin/sh -c "touch {browser_marker}"',
        "LD_PRELOAD": "/nonexistent.so",
        "PYTHONSTARTUP": str(startup),
        "PYTHONPATH": str(tmp_path),
        "PYTHONINSPECT": "1",
    }
    # A module on the hostile PYTHONPATH that would run if the path were honoured.
    (tmp_path / "sitecustomize.py").write_text(f"open({str(startup_marker)!r}, 'w').close()\n")
    apply_ready(emulator.kubeconfig, service_manifest("hostile", "v1", hostile), timeout=90)
    answer = httpx.get(emulator.ingress, headers={"Host": emulator.host("hostile")}, timeout=30)
    assert answer.status_code == 200
    assert "isolated" in answer.text  # the user's env reached the app
    pids = _revision_pids(emulator, "hostile-v1")
    assert pids, "the revision's process was not found"
    for pid in pids:
        environ = dict(
            item.split(b"=", 1)
            for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        for name in hostile:
            assert name.encode() not in environ, name
        assert b"-I" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    time.sleep(1.0)  # anything spawned at start (a browser, a startup file) has run by now
    assert not browser_marker.exists()
    assert not script_marker.exists()
    assert not startup_marker.exists()
    log = "\n".join(p.read_text() for p in (emulator.state_dir / "logs").glob("*hostile*"))
    assert "LD_PRELOAD" not in log and "antigravity" not in log
    with emulator.api_client() as api:
        assert api.delete(f"{NS_PATH}/services/hostile").status_code == 200
