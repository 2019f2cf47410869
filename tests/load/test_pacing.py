"""Open and closed pacing: the open model keeps its schedule and shows a server stall in
its latency; a naive closed loop sends less during the stall and hides it (coordinated
omission)."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.load.driver import LoadDriver, LoadStatus
from harness.load.plan import Pacing
from harness.load.targets import url_arm

from .conftest import CountingServer

STALL_MS = 1000
RATE = 100.0
DURATION_S = 3.0


def _run(server: CountingServer, pacing: Pacing) -> LoadStatus:
    with LoadDriver() as driver:
        driver.start([url_arm(server.url, "a")], pacing, DURATION_S)
        while not driver.status().finished:
            time.sleep(0.2)
        return driver.finish()


def test_open_model_shows_a_stall_that_a_closed_loop_hides(
    serve: Callable[..., CountingServer],
) -> None:
    stall = ("--stall-after", "100", "--stall-ms", str(STALL_MS))
    open_server = serve(*stall)
    open_run = _run(open_server, Pacing.open(rate=RATE)).arms["a"]
    closed_run = _run(serve(*stall), Pacing.closed(users=2, wait_s=0.005)).arms["a"]

    # Both runs met the stall: their slowest request waited for it.
    assert open_run.latency.max is not None and open_run.latency.max >= 0.8 * STALL_MS
    assert closed_run.latency.max is not None and closed_run.latency.max >= 0.8 * STALL_MS
    # Open model: every request due during the stall counts its wait, so about a third
    # of the run is slow and the p99 is close to the stall itself.
    assert open_run.latency.quantile(0.99) >= 0.7 * STALL_MS
    assert open_run.latency.quantile(0.9) >= 0.25 * STALL_MS
    # Closed loop: only the two requests in flight saw the stall, however few requests a
    # busy machine let it send (with under 200 of them, those two alone are its p99).
    assert closed_run.latency.count_above(0.1 * STALL_MS) <= 2
    if closed_run.latency.count >= 300:
        assert closed_run.latency.quantile(0.99) < 0.1 * STALL_MS
    # The open model kept its schedule through the stall: the backlog went out after it.
    expected = RATE * DURATION_S
    assert abs(open_run.requests - expected) <= 0.05 * expected
    assert open_run.requests == open_server.count()
