"""`harness load` as a user runs it: JSON summary, bad input, Ctrl-C, own locustfile, manifests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, CountingServer, free_port, harness_command

FIGURES = {"requests", "failures", "rps", "latency_ms", "errors"}
LATENCY_KEYS = {"p50", "p90", "p99", "max"}


def _check_figures(figures: dict[str, object]) -> None:
    assert set(figures) >= FIGURES
    assert isinstance(figures["requests"], int)
    assert isinstance(figures["failures"], int)
    assert isinstance(figures["rps"], float)
    latency = figures["latency_ms"]
    assert isinstance(latency, dict) and set(latency) == LATENCY_KEYS
    assert all(isinstance(v, float) for v in latency.values())
    assert latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]


def test_json_summary_has_totals_and_every_arm(
    serve: Callable[..., CountingServer], run_load: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    server = serve("--revision", "hello-v1")
    result = run_load(
        "--url", f"base={server.url}", "--url", f"canary={server.url}c",
        "--rate", "40", "--duration", "1.5s", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    _check_figures(document)
    assert set(document["arms"]) == {"base", "canary"}
    for arm in document["arms"].values():
        _check_figures(arm)
        assert arm["revisions"] == {"hello-v1": arm["requests"]}
        assert abs(arm["requests"] - 60) <= 3
    assert document["requests"] == server.count()
    assert document["interrupted"] is False


BAD_INPUTS = {
    "no target": [],
    "not a url": ["--url", "ftp://127.0.0.1/"],
    "arm name is not a DNS label": ["--url", "Bad_Arm=http://127.0.0.1:{port}/"],
    "zero duration": ["--url", "{url}", "--duration", "0s"],
    "bad duration": ["--url", "{url}", "--duration", "soon"],
    "unreachable ingress": ["--url", "http://hello.example.com/", "--ingress", "http://127.0.0.1:{closed}"],
    "unreachable url": ["--url", "http://127.0.0.1:{closed}/"],
    "worker without master": ["--worker"],
    "unclosed ipv6 url": ["--url", "http://[::1"],
    "unclosed ipv6 named url": ["--url", "a=http://[::1"],
    "unclosed ipv6 ingress": ["--url", "{url}", "--ingress", "http://[::1"],
    "rate beyond a machine": ["--url", "{url}", "--rate", "1e12"],
    "infinite rate": ["--url", "{url}", "--rate", "inf"],
    "rate over two arms": ["--url", "a={url}", "--url", "b={url}", "--rate", "60000"],
    "too many users": ["--url", "{url}", "--users", "10000000"],
    "more workers than cores": ["--url", "{url}", "--workers", "1000", "--duration", "2s"],
}  # fmt: skip


@pytest.mark.parametrize("args", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_exit_2_and_no_request(
    args: list[str],
    serve: Callable[..., CountingServer],
    run_load: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    server = serve()
    values = {"url": server.url, "port": str(server.port), "closed": str(free_port())}
    result = run_load("--duration", "5s", *(arg.format(**values) for arg in args))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert server.count() == 0


def test_broken_locustfile_is_bad_input_and_sends_nothing(
    tmp_path: Path,
    serve: Callable[..., CountingServer],
    run_load: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    server = serve()
    broken = tmp_path / "broken.py"
    broken.write_text("from locust import FastHttpUser\nclass U(FastHttpUser:\n    pass\n")
    result = run_load("--url", server.url, "--locustfile", str(broken), "--duration", "5s")
    assert result.returncode == 2, result.stderr
    assert "broken.py" in result.stderr and "Traceback" not in result.stderr
    assert server.count() == 0


def test_own_locustfile_requests_are_attributed_to_arms(
    tmp_path: Path,
    serve: Callable[..., CountingServer],
    run_load: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    server = serve("--revision", "hello-v7")
    locustfile = tmp_path / "shop.py"
    locustfile.write_text(
        "from locust import FastHttpUser, constant, task\n"
        "class Shopper(FastHttpUser):\n"
        "    wait_time = constant(0.05)\n"
        "    @task\n"
        "    def browse(self):\n"
        "        self.client.get('/items', name='items')\n"
        "        self.client.get('/cart', name='cart')\n"
    )
    result = run_load(
        "--url", f"one={server.url}", "--url", f"two={server.url}",
        "--locustfile", str(locustfile), "--users", "2", "--duration", "1.5s", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    for name in ("one", "two"):
        arm = document["arms"][name]
        assert arm["requests"] > 10
        assert arm["revisions"] == {"hello-v7": arm["requests"]}
    assert document["requests"] == server.count()


def test_ctrl_c_stops_the_run_and_still_prints_the_summary(
    serve: Callable[..., CountingServer],
) -> None:
    server = serve("--delay-ms", "1")
    process = subprocess.Popen(
        harness_command(
            "--url", server.url, "--users", "2", "--duration", "5m", "--format", "json"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        # A shell without job control starts background jobs with SIGINT ignored, and
        # Python keeps an ignored SIGINT (a CI run started so ignored this Ctrl-C): the
        # harness must see it as a user's Ctrl-C in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while server.count() < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 3, err
    document = json.loads(out)
    assert document["interrupted"] is True
    assert document["requests"] == server.count() >= 50
    assert "Traceback" not in err


def test_manifests_print_a_master_job_and_worker_pods(
    run_load: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = run_load(
        "manifests", "--workers", "3", "--url", "http://hello.default.svc.cluster.local",
        "--rate", "50", "-n", "perf",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert sorted(doc["kind"] for doc in documents) == ["Job", "Job", "Service"]
    assert {doc["metadata"]["namespace"] for doc in documents} == {"perf"}
    jobs = [doc for doc in documents if doc["kind"] == "Job"]
    master = next(job for job in jobs if job["metadata"]["name"] == "harness-load-master")
    workers = next(job for job in jobs if job["metadata"]["name"] == "harness-load-worker")
    master_command = master["spec"]["template"]["spec"]["containers"][0]["command"]
    assert master_command[master_command.index("--expect-workers") + 1] == "3"
    assert "http://hello.default.svc.cluster.local" in master_command
    assert workers["spec"]["parallelism"] == 3
    worker_command = workers["spec"]["template"]["spec"]["containers"][0]["command"]
    assert worker_command[worker_command.index("--master-host") + 1] == (
        "harness-load-master.perf.svc.cluster.local"
    )


def test_cli_process_never_imports_locust() -> None:
    # Importing Locust monkey-patches a process with gevent; only Locust processes may.
    code = (
        "import sys, harness.cli, harness.load.driver, harness.load.render\n"
        "import harness.load.manifests, harness.load.summary, harness.load.targets\n"
        "print('locust' in sys.modules, 'gevent' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_shapes_give_each_arm_the_same_users_over_time() -> None:
    # In a subprocess: importing the shapes imports Locust.
    code = (
        "from locustfiles.shapes import SHAPES\n"
        "for name, cls in SHAPES.items():\n"
        "    s = cls(users=10, duration_s=100.0, arm_count=2)\n"
        "    print(name, *[s.users_at(t) for t in (0, 25, 50, 55, 99)])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    rows = {
        line.split()[0]: [int(v) for v in line.split()[1:]] for line in result.stdout.splitlines()
    }
    assert rows["steady"] == [10, 10, 10, 10, 10]
    assert rows["ramp"] == [1, 3, 5, 6, 10]
    assert rows["spike"] == [10, 10, 50, 50, 10]
    assert rows["soak"] == [1, 10, 10, 10, 10]


# Start-up of local workers (each imports Locust) and stopping (request timeout + final
# counts) on a loaded 2-core machine: docs/limits.md.
WORKERS_GRACE_S = 90.0


@pytest.mark.parametrize("workers", [1000, 2])
def test_local_workers_finish_within_duration_and_a_bounded_grace(
    workers: int,
    serve: Callable[..., CountingServer],
    run_load: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    server = serve()
    started = time.monotonic()
    result = run_load(
        "--url", server.url, "--workers", str(workers), "--duration", "2s", "--rate", "20",
        "--format", "json", timeout=2 + WORKERS_GRACE_S + 30,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert elapsed < 2 + WORKERS_GRACE_S, f"took {elapsed:.1f} s"
    if workers == 1000:  # more than 4 per core: refused before anything starts
        assert result.returncode == 2 and "--workers 1000" in result.stderr
        assert server.count() == 0
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["requests"] == server.count() > 0


def test_progress_lines_on_a_pipe_are_not_broken_at_80_columns(
    serve: Callable[..., CountingServer], run_load: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """On a pipe (a CI log) rich assumed 80 columns and broke each progress line of two
    arms in the middle ('... v2: 104.2/s 506 req 0 \\nerr p50 ...')."""
    server = serve("--revision", "hello-v1")
    result = run_load(
        "--url", f"baseline-with-a-long-name={server.url}",
        "--url", f"candidate-with-a-long-name={server.url}c",
        "--rate", "20", "--duration", "6s",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if "req" in line]
    assert progress, result.stderr
    for line in progress:
        assert "baseline-with-a-long-name:" in line and line.endswith(" ms"), result.stderr
        assert "candidate-with-a-long-name:" in line, result.stderr
