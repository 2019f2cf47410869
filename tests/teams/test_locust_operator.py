"""`harness load manifests --operator`: a LocustTest valid under the official operator's
CRD (fixture at a named version), whose locustfile runs in plain Locust; the plain
manifests pass kubectl's client-side dry run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.canary.conftest import run_harness
from tests.conftest import RunningEmulator
from tests.teams.openapi import validate

FIXTURE = Path(__file__).parent / "fixtures" / "locusttest-crd-0.1.6.yaml"
LOCUST = Path(sys.executable).parent / "locust"


def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    return document


def schema() -> dict[str, Any]:
    (version,) = [v for v in crd()["spec"]["versions"] if v["name"] == "v1"]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return run_harness("load", "manifests", *args)


def operator_document(*args: str) -> dict[str, Any]:
    proc = harness("--operator", *args)
    assert proc.returncode == 0, proc.stderr
    documents = list(yaml.safe_load_all(proc.stdout))
    assert len(documents) == 1
    document: dict[str, Any] = documents[0]
    return document


def test_the_fixture_is_the_operators_locusttest_crd() -> None:
    spec = crd()["spec"]
    assert spec["group"] == "locust.io" and spec["names"]["kind"] == "LocustTest"
    assert "6b50cadef8314376c038067982551f7263859b41" in FIXTURE.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://hello.default.svc.cluster.local/"],
        [
            "--url",
            "baseline=http://baseline-hello.default.example.com/",
            "--url",
            "canary=http://canary-hello.default.example.com/",
            "--ingress",
            "http://kourier-internal.kourier-system.svc.cluster.local",
            "--rate",
            "200",
            "--workers",
            "8",
            "--duration",
            "10m",
            "-n",
            "load",
            "--image",
            "registry.example.com/locust:2.47.0",
        ],
        ["--url", "http://hello.default.svc.cluster.local/", "--users", "50", "-w", "1"],
    ],
)
def test_locusttest_validates_against_the_crd_schema(args: list[str]) -> None:
    document = operator_document(*args)
    spec = crd()["spec"]
    assert document["apiVersion"] == f"{spec['group']}/v1"
    assert document["kind"] == spec["names"]["kind"]
    assert validate(document["spec"], schema()["properties"]["spec"], "spec") == []
    assert set(document) == {"apiVersion", "kind", "metadata", "spec"}


def test_options_map_to_the_operators_fields() -> None:
    document = operator_document(
        "--url",
        "a=http://a.example.com/",
        "--url",
        "b=http://b.example.com/",
        "--users",
        "7",
        "--workers",
        "3",
        "--duration",
        "90s",
        "-n",
        "team-a",
    )
    spec = document["spec"]
    assert document["metadata"] == {"name": "harness-load", "namespace": "team-a"}
    assert spec["workers"] == 3
    assert spec["image"].startswith("locustio/locust:")
    args = spec["args"].split()
    assert args[args.index("--users") + 1] == "14"  # 7 per arm, two arms
    assert args[args.index("--run-time") + 1] == "90s"
    assert args[args.index("--expect-workers") + 1] == "3"
    assert "--headless" in args
    content = spec["locustfile"]["content"]
    assert '"name": "a"' in content and '"name": "b"' in content


def test_the_validator_rejects_what_the_api_server_would() -> None:
    good = operator_document("--url", "http://hello.default.svc.cluster.local/")["spec"]
    spec_schema = schema()["properties"]["spec"]
    bad_cases = {
        "unknown field": {**good, "replicas": 2},
        "wrong type": {**good, "workers": "3"},
        "below minimum": {**good, "workers": 0},
        "missing required": {k: v for k, v in good.items() if k != "workers"},
        "enum": {**good, "imagePullPolicy": "Sometimes"},
        "oneOf": {**good, "locustfile": {"content": "x", "configMap": {"name": "c"}}},
        "nested unknown": {**good, "worker": {"resources": {"limits": {"cpu": True}}}},
    }
    for case, value in bad_cases.items():
        assert validate(value, spec_schema, "spec"), case


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[Counter[tuple[str, str]]] = Counter()

    def do_GET(self) -> None:
        type(self).seen[(self.headers.get("Host", ""), self.path)] += 1
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, Counter[tuple[str, str]]]]:
    _Recorder.seen = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_locustfile_runs_in_plain_locust_with_each_arm(
    recorder: tuple[str, Counter[tuple[str, str]]], tmp_path: Path
) -> None:
    ingress, seen = recorder
    document = operator_document(
        "--url",
        "a=http://a.example.com/a",
        "--url",
        "b=http://b.example.com/b?x=1",
        "--ingress",
        ingress,
        "--rate",
        "20",
        "--duration",
        "3s",
    )
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(document["spec"]["locustfile"]["content"])
    args = document["spec"]["args"].split()
    args[args.index("--locustfile") + 1] = str(locustfile)
    at = args.index("--expect-workers")  # one local process here, not master and workers
    del args[at : at + 2]
    # The 3 s run stops by itself (its --run-time): the timeout, 20x that, fails a run
    # that does not; Locust's start-up on a loaded machine is no part of what is tested.
    proc = subprocess.run(
        [str(LOCUST), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = seen[("a.example.com", "/a")], seen[("b.example.com", "/b?x=1")]
    assert set(seen) == {("a.example.com", "/a"), ("b.example.com", "/b?x=1")}, seen
    # Capped at 20 req/s per arm for 3 s (fewer while users spawn, or on a loaded machine):
    # an uncapped user would send thousands on loopback.
    assert 5 <= a <= 80 and 5 <= b <= 80, (a, b)
    assert " a " in proc.stderr + proc.stdout or "GET      a" in proc.stderr + proc.stdout


def test_operator_with_master_host_is_one_line_exit_2() -> None:
    proc = harness("--operator", "--url", "http://a.example.com/", "--master-host", "10.0.0.1")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --master-host: the Locust operator runs its own master"
    ], proc.stderr


def _model_errors(value: Any, type_name: str, path: str) -> list[str]:
    """Strictly check ``value`` against a model of the kubernetes client (generated from
    the Kubernetes OpenAPI): unknown fields and wrong types are errors."""
    import kubernetes.client

    if type_name.startswith("List["):
        if not isinstance(value, list):
            return [f"{path}: must be a list"]
        inner = type_name[5:-1]
        return [e for i, v in enumerate(value) for e in _model_errors(v, inner, f"{path}[{i}]")]
    if type_name.startswith("Dict[str, "):
        if not isinstance(value, dict):
            return [f"{path}: must be a map"]
        inner = type_name[10:-1]
        return [e for k, v in value.items() for e in _model_errors(v, inner, f"{path}.{k}")]
    basic: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "int": int,
        "bool": bool,
        "float": (int, float),
    }
    if type_name in basic:
        ok = isinstance(value, basic[type_name]) and not (
            type_name == "int" and isinstance(value, bool)
        )
        return [] if ok else [f"{path}: must be {type_name}, not {type(value).__name__}"]
    if type_name in ("object", "datetime"):
        return []
    model = getattr(kubernetes.client, type_name)
    if not isinstance(value, dict):
        return [f"{path}: must be an object ({type_name})"]
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{path}: unknown field {key!r} in {type_name}")
        else:
            errors += _model_errors(item, model.openapi_types[fields[key]], f"{path}.{key}")
    return errors


def test_plain_manifests_match_the_kubernetes_api_models() -> None:
    proc = harness("--url", "http://hello.default.svc.cluster.local/", "--workers", "3")
    assert proc.returncode == 0, proc.stderr
    documents = list(yaml.safe_load_all(proc.stdout))
    assert [d["kind"] for d in documents] == ["Service", "Job", "Job"]
    pytest.importorskip(
        "kubernetes", reason="the kubernetes client (dev dependency) has the models"
    )
    import kubernetes.client

    for document in documents:
        kind = {"Service": "V1Service", "Job": "V1Job"}[document["kind"]]
        assert _model_errors(document, kind, document["kind"]) == []
        # Required fields: the client's models refuse to build without them.
        kubernetes.client.ApiClient()._ApiClient__deserialize(document, kind)  # type: ignore[attr-defined]
    assert _model_errors({"spec": {"parallelism": "3"}}, "V1Job", "Job")  # the check can fail


def test_plain_manifests_kubectl_client_dry_run(emulator: RunningEmulator) -> None:
    proc = harness("--url", "http://hello.default.svc.cluster.local/", "--workers", "3")
    assert proc.returncode == 0, proc.stderr
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    dry = subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(emulator.kubeconfig),
            "apply",
            "--dry-run=client",
            "--validate=false",
            "-f",
            "-",
        ],
        input=proc.stdout,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "no matches for kind" in dry.stderr:
        pytest.skip(
            "kubectl --dry-run=client needs the API server to serve the kinds; the emulator "
            f"serves serving.knative.dev only: {dry.stderr.strip()}"
        )
    assert dry.returncode == 0, dry.stderr


def test_the_args_run_a_master_and_workers_as_the_operator_starts_them(
    recorder: tuple[str, Counter[tuple[str, str]]], tmp_path: Path
) -> None:
    # The operator's pods run `locust --master ARGS` and `locust --worker --master-host
    # SVC ARGS` (locust_operator/objects.py at the fixture's commit): the same here, on
    # loopback, with two workers.
    from tests.teams.servers import free_port

    ingress, seen = recorder
    document = operator_document(
        *("--url", "a=http://a.example.com/a", "--url", "b=http://b.example.com/b"),
        *("--ingress", ingress, "--rate", "10", "--duration", "4s", "--workers", "2"),
    )
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(document["spec"]["locustfile"]["content"])
    args = document["spec"]["args"].split()
    args[args.index("--locustfile") + 1] = str(locustfile)
    port = free_port()
    master = subprocess.Popen(
        [
            str(LOCUST),
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    workers = [
        subprocess.Popen(
            [
                str(LOCUST),
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(document["spec"]["workers"])
    ]
    try:
        out, _ = master.communicate(timeout=90)
        assert master.returncode == 0, out[-3000:]
        for worker in workers:
            assert worker.wait(timeout=30) == 0
    finally:
        processes: list[subprocess.Popen[Any]] = [master, *workers]
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    a, b = seen[("a.example.com", "/a")], seen[("b.example.com", "/b")]
    assert set(seen) == {("a.example.com", "/a"), ("b.example.com", "/b")}, seen
    assert 5 <= a <= 60 and 5 <= b <= 60, (a, b)  # 10 req/s per arm for 4 s, capped
