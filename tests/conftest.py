"""Shared fixtures. `emulator`: a running Knative emulator with the demo Service.

Use it in any test that needs a cluster::

    def test_something(emulator):
        backend = KubeBackend(emulator.kubeconfig)          # the same code path as a cluster
        httpx.get(emulator.ingress, headers={"Host": emulator.host("hello", tag="v2")})

`emulator` is module-scoped: one daemon per test module, started with `--demo` (Service
`hello` in `default`: `hello-v1` 100% tag `v1`, `hello-v2` 0% tag `v2`) on free ports in a
temporary state folder. Tests in a module share it, so a test that changes `hello` should
put it back or use `fresh_emulator` (function-scoped, a new daemon per test, ~1 s).
At teardown the daemon is stopped and the fixture fails the test if any process it
spawned (revisions, Prometheus) is still alive.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.local.api_client import client_options, credentials
from harness.local.launcher import Emulator, alive, descendants
from harness.local.state import EmulatorInfo


@dataclass(frozen=True)
class RunningEmulator:
    """Where a test's emulator answers. `prometheus` is None where none is installed."""

    api: str
    ingress: str
    prometheus: str | None
    kubeconfig: Path
    state_dir: Path
    pid: int
    domain: str
    # `headers` (the bearer token) and `verify` (the emulator's CA) for httpx.
    api_options: dict[str, Any]

    def api_client(self, timeout: float = 60.0) -> httpx.Client:
        """An httpx client of the API, authenticated as the kubeconfig is (a generous
        timeout: the daemon may answer slowly on a loaded machine, and it costs nothing
        when it answers at once)."""
        return httpx.Client(base_url=self.api, timeout=timeout, **self.api_options)

    def host(self, route: str, namespace: str = "default", tag: str | None = None) -> str:
        """The Host header for a route (or one of its tags): `v2-hello.default.example.com`."""
        prefix = f"{tag}-" if tag else ""
        return f"{prefix}{route}.{namespace}.{self.domain}"


def _running(info: EmulatorInfo, state_dir: Path) -> RunningEmulator:
    return RunningEmulator(
        api=info.api,
        ingress=info.ingress,
        prometheus=info.prometheus,
        kubeconfig=Path(info.kubeconfig),
        state_dir=state_dir,
        pid=info.pid,
        domain=info.domain,
        api_options=client_options(credentials(info)),
    )


def start_emulator(state_dir: Path, *, demo: bool = True) -> Iterator[RunningEmulator]:
    """Start an emulator in `state_dir`, yield it, stop it and check nothing is left."""
    info = Emulator.start(state_dir, demo=demo)
    try:
        yield _running(info, state_dir)
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        left = [pid for pid in spawned if alive(pid)]
        assert not left, f"emulator processes left after stop: {left}"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A demo emulator shared by the tests of one module (see the module docstring)."""
    yield from start_emulator(tmp_path_factory.mktemp("emulator"))


@pytest.fixture
def fresh_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A demo emulator of this test's own."""
    yield from start_emulator(tmp_path / "emulator")


# ------------------------------------------------------------------ test tiers
#
# `make test-fast` (pytest -m "not slow") runs every test that starts no process, in
# under a minute; `make test` runs all of them. A test is slow when its module is in
# SLOW_MODULES, it uses a fixture in PROCESS_FIXTURES (directly or through another
# fixture), it is in SLOW_TESTS, or it is marked `@pytest.mark.slow` itself. In the fast
# tier a test that starts a process anyway fails, naming the process, so a new
# end-to-end test cannot slip into it unmarked.

# Fixtures that start processes (emulator daemons, servers, Locust, Prometheus).
PROCESS_FIXTURES = frozenset(
    {"emulator", "fresh_emulator", "serve", "sample_app", "run_load", "plane"}
)
# Modules whose tests start processes (the CLI, an emulator, Prometheus, a browser).
SLOW_MODULES = frozenset(
    {
        "tests/autoscale/test_autoscale_cli.py",
        "tests/autoscale/test_autoscale_emulator.py",
        "tests/canary/test_canary_e2e.py",
        "tests/canary/test_canary_late_failures.py",
        "tests/canary/test_canary_lease.py",
        "tests/canary/test_canary_noise.py",
        "tests/canary/test_sample_ratio_guard.py",
        "tests/eventing/test_kubectl_eventing.py",
        "tests/eventing/test_otel_metrics_emulator.py",
        "tests/gate/test_report_render.py",
        "tests/knative/test_lint_cli.py",
        "tests/knative/test_lint_escapes.py",
        "tests/kube/test_kube_backend.py",
        "tests/kube/test_kubectl.py",
        "tests/kube/test_kubectl_routes.py",
        "tests/load/test_accuracy.py",
        "tests/load/test_cli.py",
        "tests/load/test_driver.py",
        "tests/load/test_pacing.py",
        "tests/load/test_service.py",
        "tests/local_api/test_api_security.py",
        "tests/local_api/test_apply_semantics.py",
        "tests/local_api/test_gradual_rollout.py",
        "tests/local_api/test_knative_semantics.py",
        "tests/local_api/test_local_cli.py",
        "tests/local_api/test_rest.py",
        "tests/local_api/test_routes.py",
        "tests/local_dataplane/test_autoscaler_emulator.py",
        "tests/local_dataplane/test_queue_proxy.py",
        "tests/local_dataplane/test_scaling.py",
        "tests/local_dataplane/test_scaling_emulator.py",
        "tests/local_dataplane/test_supervisor.py",
        "tests/perf/test_cold_start_scale_to_zero.py",
        "tests/perf/test_perf_cli.py",
        "tests/perf/test_server_metrics.py",
        "tests/report/test_chromium.py",
        "tests/store/test_store_commands.py",
        "tests/teams/test_locust_operator.py",
        "tests/teams/test_pushgateway.py",
        "tests/teams/test_store_pg.py",
        "tests/test_bad_kubeconfig.py",
        "tests/test_hostile_input.py",
        "tests/test_secrets.py",
    }
)
# Single tests of otherwise fast modules: they start a process, or compute for seconds
# (the judge's and the e-processes' error-rate simulations).
SLOW_TESTS = frozenset(
    {
        "tests/analysis/test_bench.py::test_cost_report_runs",
        "tests/knative/test_update_validation.py::test_cli_previous_flag",
        "tests/eventing/test_cesql.py::test_huge_expression_under_a_memory_cap",
        "tests/analysis/test_bench.py::test_fixed_n_limit_shows_why_the_error_margin_is_two",
        "tests/analysis/test_blocks.py::test_error_bursts_in_either_arm_do_not_roll_back_identical_arms",
        "tests/analysis/test_blocks.py::test_identical_arms_through_knative_buckets_never_look_different_at_any_rate",
        "tests/analysis/test_blocks.py::test_realistic_noise_same_code_is_not_rolled_back_and_regressions_are_fast",
        "tests/analysis/test_blocks.py::test_stalls_in_either_arm_do_not_roll_back_identical_arms_and_a_shift_is_caught",
        "tests/analysis/test_eprocess.py::test_proportion_bounds_cover_the_rate_at_all_times",
        "tests/analysis/test_judge.py::test_a_canary_on_the_median_margin_is_promoted_at_most_promote_alpha_of_the_time",
        "tests/analysis/test_judge.py::test_aa_false_rollbacks_stay_below_alpha_across_traffic_steps",
        "tests/analysis/test_judge.py::test_identical_arms_with_rare_errors_promote_within_20000_requests",
        "tests/eventing/test_lint_eventing.py::test_lint_command",
        "tests/gate/test_gate.py::test_a_corrupt_store_is_a_clear_error_and_never_rewritten",
        "tests/knative/test_cluster_settings.py::test_lint_config_flag",
        "tests/knative/test_knative_corpus.py::test_harness_lint_gives_the_same_verdict",
        "tests/local_dataplane/test_app.py::test_app_file_needs_only_aiohttp_as_the_dockerfile_assumes",
        "tests/local_dataplane/test_app.py::test_app_process_with_a_bad_knob_exits_2_with_one_line",
        "tests/local_dataplane/test_app.py::test_error_rate_of_a_running_revision_is_within_binomial_bounds",
        "tests/local_dataplane/test_app.py::test_latency_of_a_running_revision_centres_on_its_median",
        "tests/local_dataplane/test_app.py::test_sample_app_manifests_pass_the_linter",
        "tests/local_dataplane/test_app.py::test_standalone_app_says_hello_with_its_revision_after_its_cold_start",
        "tests/local_dataplane/test_metrics.py::test_legacy_histograms_use_knative_millisecond_buckets",
        "tests/local_dataplane/test_metrics.py::test_legacy_request_count_has_knative_labels_and_route_tags",
        "tests/local_dataplane/test_metrics.py::test_otel_metrics_carry_the_revision_only_on_target_info",
        "tests/local_dataplane/test_metrics.py::test_without_tag_header_routing_route_tag_is_disabled",
        "tests/local_dataplane/test_prometheus.py::test_prometheus_scrapes_a_revisions_series",
        "tests/metrics/test_prometheus_source.py::test_counter_deltas_match_the_requests_sent",
        "tests/metrics/test_prometheus_source.py::test_unreachable_prometheus_is_unavailable",
        "tests/perf/test_examples.py::test_the_cronjob_runs_nightly_saves_history_on_its_volume_and_gates",
        "tests/perf/test_examples.py::test_the_cronjob_script_is_valid_shell",
        "tests/perf/test_examples.py::test_the_workflow_runs_perf_and_gate_on_pull_requests_and_uploads_reports",
        "tests/perf/test_examples.py::test_the_workflow_scripts_are_valid_shell",
        "tests/store/test_store_safety.py::test_a_look_written_before_sigkill_survives",
        "tests/store/test_store_safety.py::test_two_processes_creating_the_store_at_once_share_one_file",
        "tests/teams/test_gitops.py::test_fail_stops_an_argo_managed_service_before_any_change",
        "tests/teams/test_gitops.py::test_flux_with_ssa_if_not_present_passes_fail_and_dry_run_prints_kn_plan",
        "tests/teams/test_gitops.py::test_warn_lets_the_run_go_on",
        "tests/test_cli.py::test_every_command_has_help",
        "tests/test_cli.py::test_unknown_command_exits_2_without_traceback",
        "tests/test_cli.py::test_unusable_arguments_are_one_line_and_exit_2",
    }
)
_PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.system"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        module = Path(str(item.path)).relative_to(root).as_posix()
        test = f"{module}::{getattr(item, 'originalname', item.name)}"
        if (
            module in SLOW_MODULES
            or test in SLOW_TESTS
            or PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.slow)


class _ProcessWatch:
    """In the fast tier, what process the running test started (an audit hook)."""

    def __init__(self) -> None:
        self.active = False
        self.started: list[str] = []

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if self.active and event in _PROCESS_EVENTS and not self.started:
            what = args[0] if args else ""
            self.started.append(f"{event} {what!r}"[:200])


_WATCH = _ProcessWatch()
_FAST_TIER = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    if "not slow" in (config.getoption("markexpr", "") or ""):
        sys.addaudithook(_WATCH)  # audit hooks cannot be removed: one per process
        config.stash[_FAST_TIER] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _WATCH.started and report.passed and item.config.stash.get(_FAST_TIER, False):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} started a process in the fast tier ({_WATCH.started[0]}) during "
            f"{call.when}: mark it slow (tests/conftest.py SLOW_MODULES, PROCESS_FIXTURES "
            "or SLOW_TESTS, or @pytest.mark.slow)"
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Arm the fast tier's process watch from this test's setup to its teardown."""
    _WATCH.started.clear()
    _WATCH.active = item.config.stash.get(_FAST_TIER, False)
    try:
        return (yield)
    finally:
        _WATCH.active = False
