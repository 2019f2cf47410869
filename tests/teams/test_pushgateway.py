"""Run status pushed to a real Pushgateway, scraped by a real Prometheus, read back with
PromQL; the example alert rule fires on a rollback pushed by a real `harness canary`."""

from __future__ import annotations

import contextlib
import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.metrics.pushgateway import (
    MetricState,
    Pusher,
    RunState,
    check_url,
    exposition,
    group_path,
)
from tests.canary.conftest import (
    ROLLBACK_PACE,
    add_revision,
    run_canary,
    run_harness,
    spec_traffic,
)
from tests.conftest import RunningEmulator
from tests.teams.servers import (
    ALERT_RULES,
    firing_alerts,
    free_port,
    prometheus,
    pushgateway,
    query,
    wait_query,
)

EXAMPLES = ALERT_RULES.parent


# ------------------------------------------------------------------ pure formatting
def test_exposition_has_every_gauge_and_keeps_inf_finite() -> None:
    text = exposition(
        RunState(
            status="rolled_back",
            duration_s=12.5,
            decision="rolled_back",
            weight=0,
            looks=7,
            metrics=(
                MetricState("errors", "client", e_value=math.inf, threshold=40.0),
                MetricState(
                    "latency_median", "server", e_value=0.5, threshold=40.0, max_e_value=3.0
                ),
            ),
        )
    )
    lines = text.splitlines()
    assert "harness_run_status 2.0" in lines
    assert 'harness_run_decision{decision="rolled_back"} 1.0' in lines
    assert "harness_canary_weight 0.0" in lines
    assert "harness_run_duration_seconds 12.5" in lines
    assert 'harness_metric_e_value{metric="errors",judge="client"} 1.7976931348623157e+308' in lines
    assert 'harness_metric_threshold{metric="latency_median",judge="server"} 40.0' in lines
    assert 'harness_metric_max_e_value{metric="latency_median",judge="server"} 3.0' in lines
    assert not any("inf" in line.lower() for line in lines if not line.startswith("#"))


def test_group_path_validates_every_label() -> None:
    path = group_path("canary", "default", "hello", "20261202-051500-ab12")
    assert path == (
        "/metrics/job/knative-harness/kind/canary/namespace/default/service/hello"
        "/run_id/20261202-051500-ab12"
    )
    with pytest.raises(BadInput):
        group_path("canary", "default", "Hello/../x", "r1")
    with pytest.raises(BadInput):
        group_path("canary", "default", "hello", "a/b")
    with pytest.raises(BadInput):
        check_url("ftp://127.0.0.1:9091")


# ------------------------------------------------------------------ failure never blocks
def test_unreachable_pushgateway_warns_once_and_returns_quickly() -> None:
    warnings: list[str] = []
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    pusher = Pusher(url, group_path("perf", "default", "hello", "r1"), warn=warnings.append)
    for i in range(20):
        pusher.push(RunState(status="running", duration_s=float(i)))
    assert time.monotonic() - started < 2.0  # push() only queues (generous: a loaded machine)
    pusher.close(RunState(status="done", duration_s=20.0))
    # close() waits at most twice the push timeout (plus 0.5 s), plus slack for the
    # threads on a loaded machine
    assert time.monotonic() - started < 2 * pusher.timeout_s + 4
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: pushing to the Pushgateway")
    assert pusher.failed >= 1 and pusher.sent == 0


def test_a_pushgateway_that_never_answers_costs_at_most_the_bounded_wait() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections into the backlog, never answers
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        warnings: list[str] = []
        port = listener.getsockname()[1]
        pusher = Pusher(
            f"http://127.0.0.1:{port}",
            group_path("gate", "default", "hello", "g1"),
            warn=warnings.append,
            timeout_s=0.5,
        )
        started = time.monotonic()
        pusher.push(RunState(status="running", duration_s=0.0))
        pusher.close(RunState(status="passed", duration_s=1.0))
        # the bounded wait (close(): at most twice the timeout, plus 0.5 s), plus slack for
        # a loaded machine; an unbounded wait never ends here (the server never answers)
        assert time.monotonic() - started < 2 * 0.5 + 3.0
        pusher.close()
        deadline = time.monotonic() + 60
        while not warnings and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(warnings) == 1 and "timed out" in warnings[0].lower(), warnings
    finally:
        stop.set()
        holder.join()
        for conn in accepted:
            conn.close()
        listener.close()


# ------------------------------------------------------------------ real servers
@pytest.fixture(scope="module")
def monitoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(Pushgateway URL, Prometheus URL) with the example alert rules loaded."""
    folder = tmp_path_factory.mktemp("monitoring")
    with pushgateway(folder) as gateway:
        target = gateway.removeprefix("http://")
        with prometheus(target, folder) as prom:
            yield gateway, prom


def test_pushed_state_is_queryable_and_kept_after_the_run(monitoring: tuple[str, str]) -> None:
    gateway, prom = monitoring
    pusher = Pusher(gateway, group_path("canary", "team-a", "shop", "run-1"), warn=print)
    pusher.push(
        RunState(
            status="running",
            duration_s=3.0,
            decision="continue",
            weight=25,
            looks=3,
            metrics=(MetricState("errors", "client", e_value=2.5, threshold=40.0),),
        )
    )
    sel = 'namespace="team-a",service="shop",run_id="run-1",kind="canary"'
    e_value = wait_query(prom, f'harness_metric_e_value{{{sel},metric="errors",judge="client"}}')
    assert float(e_value[0]["value"][1]) == 2.5
    assert e_value[0]["metric"]["job"] == "knative-harness"
    weight = wait_query(prom, f"harness_canary_weight{{{sel}}} == 25")
    assert float(weight[0]["value"][1]) == 25.0
    pusher.close(
        RunState(status="promoted", duration_s=9.0, decision="promoted", weight=100, looks=9)
    )
    wait_query(prom, f"harness_run_status{{{sel}}} == 1")
    wait_query(prom, f'harness_run_decision{{{sel},decision="promoted"}} == 1')
    # The whole group is replaced by each push: the look's decision is gone (stale after
    # the next scrape), the final one stays.
    deadline = time.monotonic() + 60
    while query(prom, f'harness_run_decision{{{sel},decision="continue"}}'):
        assert time.monotonic() < deadline, "the look's decision is still scraped"
        time.sleep(0.2)
    assert query(prom, f'harness_run_decision{{{sel},decision="promoted"}} == 1')
    assert float(query(prom, f"harness_canary_weight{{{sel}}}")[0]["value"][1]) == 100.0
    assert pusher.failed == 0 and pusher.sent == 2


def test_dashboard_queries_are_valid_promql(monitoring: tuple[str, str]) -> None:
    import json

    _, prom = monitoring
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 6
    for expr in exprs:
        concrete = expr.replace("$namespace", ".*").replace("$service", ".*")
        query(prom, concrete)  # asserts status success (a syntax error is status error)


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package ships it)")
    proc = subprocess.run(
        [promtool, "test", "rules", "harness-alerts-test.yaml"],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rollback_by_harness_canary_fires_the_example_alert(
    monitoring: tuple[str, str], fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    gateway, prom = monitoring
    add_revision(fresh_emulator, "hello-v3", {"TARGET": "v3", "SIM_ERROR_RATE": "0.08"})
    before = spec_traffic(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v3",
        *ROLLBACK_PACE,
        "--pushgateway",
        gateway,
    )
    assert proc.returncode == 1, proc.stderr
    assert spec_traffic(fresh_emulator) == before
    assert "warning: pushing" not in proc.stderr
    # Every traffic change printed its kn equivalent; the rollback restores hello-v1=100.
    kn_lines = [line for line in proc.stderr.splitlines() if "kn equivalent:" in line]
    assert any("--traffic hello-v3=10" in line for line in kn_lines), proc.stderr
    assert "--traffic hello-v1=100" in kn_lines[-1], kn_lines
    sel = 'kind="canary",namespace="default",service="hello"'
    status = wait_query(prom, f"harness_run_status{{{sel}}} == 2")
    run_id = status[0]["metric"]["run_id"]
    assert run_id in proc.stderr
    weight = query(prom, f'harness_canary_weight{{{sel},run_id="{run_id}"}}')
    assert float(weight[0]["value"][1]) == 0.0
    e_values = query(prom, f'harness_metric_e_value{{{sel},run_id="{run_id}"}}')
    thresholds = query(prom, f'harness_metric_threshold{{{sel},run_id="{run_id}"}}')
    assert {s["metric"]["metric"] for s in e_values} == {s["metric"]["metric"] for s in thresholds}
    crossed = [
        s["metric"]["metric"]
        for s in query(
            prom,
            f'harness_metric_max_e_value{{{sel},run_id="{run_id}"}} >= on (metric, judge) '
            f'harness_metric_threshold{{{sel},run_id="{run_id}"}}',
        )
    ]
    assert any("error" in name for name in crossed), crossed
    deadline = time.monotonic() + 60
    while True:
        alerts = [
            a
            for a in firing_alerts(prom)
            if a["labels"]["alertname"] == "KnativeCanaryRolledBack"
            and a["labels"].get("run_id") == run_id
        ]
        if alerts:
            break
        assert time.monotonic() < deadline, firing_alerts(prom)
        time.sleep(0.5)
    assert alerts[0]["labels"]["service"] == "hello"
    assert alerts[0]["annotations"]["summary"] == "Canary of default/hello rolled back"


def test_bad_pushgateway_url_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = run_harness(
        "gate",
        "hello",
        "--store",
        str(tmp_path / "h.sqlite"),
        "--pushgateway",
        "ftp://127.0.0.1:9091",
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--pushgateway" in lines[0], proc.stderr
