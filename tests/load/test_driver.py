"""`LoadDriver` end to end against real servers: counting, error classes, workers, bounds."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping

from harness.load.driver import LoadDriver, LoadStatus
from harness.load.plan import Distribution, Pacing
from harness.load.targets import Arm, url_arm

from .conftest import CountingServer, free_port


def _poll_until_finished(driver: LoadDriver) -> list[LoadStatus]:
    statuses = [driver.status()]
    while not statuses[-1].finished:
        time.sleep(0.2)
        statuses.append(driver.status())
    return statuses


def test_every_request_the_server_saw_is_counted_once_and_snapshots_are_cumulative(
    serve: Callable[..., CountingServer],
) -> None:
    server = serve("--delay-ms", "2", "--revision", "hello-v1")
    arms = [url_arm(server.url, "baseline"), url_arm(f"{server.url}canary", "canary")]
    with LoadDriver() as driver:
        driver.start(arms, Pacing.closed(users=3), duration_s=2.0)
        statuses = _poll_until_finished(driver)
        final = driver.finish()
    for earlier, later in itertools.pairwise(statuses):
        for name in ("baseline", "canary"):
            assert later.arms[name].requests >= earlier.arms[name].requests
            assert later.arms[name].latency.count == later.arms[name].requests
    # observed at least once while it ran (how often a loaded machine lets the 0.2 s
    # poll answer is not what this test proves)
    assert len(statuses) >= 2 and not statuses[0].finished
    total = sum(stats.requests for stats in final.arms.values())
    assert total == server.count() > 0
    for stats in final.arms.values():
        assert stats.latency.count == stats.requests
        assert stats.failures == 0
        assert dict(stats.revisions) == {"hello-v1": stats.requests}
        assert stats.to_snapshot().requests == stats.requests
    # The load ran its 2 s and stopped (a loaded machine can delay the stop a little).
    assert 1.9 <= final.elapsed_s <= 5.0


def test_errors_are_classified_5xx_4xx_connection_and_timeout(
    serve: Callable[..., CountingServer], sample_app: Callable[[Mapping[str, str]], str]
) -> None:
    failing = sample_app({"SIM_ERROR_RATE": "1", "SIM_LATENCY_MS": "1", "K_REVISION": "bad-v2"})
    missing = serve("--status", "404")
    slow = serve("--delay-ms", "3000")
    arms = [
        url_arm(failing, "e5xx"),
        url_arm(missing.url, "e4xx"),
        url_arm(f"http://127.0.0.1:{free_port()}/", "refused"),
        url_arm(slow.url, "slow"),
    ]
    with LoadDriver() as driver:
        # The refused arm cannot pass the reachability check that normally guards a run.
        driver.start(arms, Pacing.open(rate=20), 1.5, timeout_s=0.3, check_targets=False)
        final = driver.finish() if _poll_until_finished(driver) else None
    assert final is not None
    e5xx, e4xx, refused, slow_arm = (final.arms[a.name] for a in arms)
    assert e5xx.requests > 0 and e5xx.errors_5xx == e5xx.requests == e5xx.errors
    assert dict(e5xx.revisions) == {"bad-v2": e5xx.requests}
    assert e4xx.requests > 0 and e4xx.errors_4xx == e4xx.requests and e4xx.errors == 0
    assert refused.requests > 0 and refused.connection_errors == refused.requests
    assert refused.latency.count == 0
    assert slow_arm.requests > 0 and slow_arm.timeouts == slow_arm.requests
    assert slow_arm.latency.count == 0


def test_two_workers_merge_exactly_to_what_the_server_saw_and_stop_at_the_budget(
    serve: Callable[..., CountingServer],
) -> None:
    server = serve("--delay-ms", "1")
    arms: list[Arm] = [url_arm(server.url, "a"), url_arm(f"{server.url}b", "b")]
    with LoadDriver(Distribution(local_workers=2)) as driver:
        driver.start(arms, Pacing.closed(users=4), duration_s=30.0, max_requests=1500)
        _poll_until_finished(driver)
        final = driver.finish()
    # The load's own time (the workers' start-up, slow on a loaded machine, is not in it).
    assert final.elapsed_s < 30.0, "the request budget should end the run early"
    merged = sum(stats.requests for stats in final.arms.values())
    assert merged == server.count() == 1500
    for stats in final.arms.values():
        assert stats.requests > 0
        assert stats.latency.count == stats.requests


def test_request_budget_is_exact_in_one_process(serve: Callable[..., CountingServer]) -> None:
    server = serve()
    with LoadDriver() as driver:
        driver.start([url_arm(server.url, "a")], Pacing.closed(users=5), 30.0, max_requests=137)
        final = driver.finish() if _poll_until_finished(driver) else None
    assert final is not None
    assert final.arms["a"].requests == server.count() == 137
