"""queue-proxy behaviour: containerConcurrency, its queue of 10 x CC, then 503."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest

from tests.local_dataplane.conftest import PlaneThread, start_plane
from tests.local_dataplane.promtext import parse, value

# Long enough that all 16 requests of the burst arrive while the first is in the app, even
# when a loaded machine sends them slowly.
LATENCY_S = 0.5


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaneThread]:
    for plane in start_plane(tmp_path_factory.mktemp("cc")):
        plane.add(
            "hello-cc1",
            {"SIM_LATENCY_MS": str(LATENCY_S * 1000), "SIM_LATENCY_SIGMA": "0"},
            cc=1,
        )
        plane.wait_ready("hello-cc1")
        yield plane


async def _burst(url: str, n: int) -> list[tuple[int, float]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, float]:
            async with session.get(url) as response:
                await response.read()
                return response.status, time.monotonic()

        return await asyncio.gather(*(one() for _ in range(n)))


def test_cc1_runs_one_at_a_time_queues_ten_and_rejects_the_rest(limited: PlaneThread) -> None:
    revision = limited.revision("hello-cc1")
    sent = time.monotonic()
    results = asyncio.run(_burst(f"http://{revision.address}/", 16))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 11 + [503] * 5
    done = sorted(at for status, at in results if status == 200)
    # One request in the app at a time: the 11 answers take 11 full latencies after the
    # burst was sent (exact: the client sees each answer after the app gave it)...
    assert done[-1] - sent >= 11 * LATENCY_S * 0.99, done[-1] - sent
    # ...one by one: two at once would finish together, while a loaded client's late
    # reading of an answer shortens a gap by far less than half a latency.
    gaps = [b - a for a, b in itertools.pairwise(done)]
    assert min(gaps) >= LATENCY_S * 0.5, gaps

    samples = parse(httpx.get(f"http://{revision.metrics_address}/metrics", timeout=60).text)
    assert value(samples, "revision_request_count", response_code="503") == 5
    assert value(samples, "revision_request_count", response_code="200") == 11
    # Rejected requests never reach the app.
    assert value(samples, "revision_app_request_count", response_code="200") == 11
    assert value(samples, "revision_app_request_count", response_code="503") is None
    assert value(samples, "revision_queue_depth") == 0
