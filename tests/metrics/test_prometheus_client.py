"""``PrometheusClient``'s one error translation and its range queries, against a real
Prometheus (and a closed port, and a server that is not Prometheus)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from harness.errors import BadInput, Unavailable
from harness.metrics.prometheus import MAX_RANGE_POINTS, PrometheusClient, PromQLError
from tests.perf.fakes import MetricsEndpoint, prometheus_scraping


@pytest.fixture(scope="module")
def endpoint() -> Iterator[MetricsEndpoint]:
    served = MetricsEndpoint()
    served.set('harness_test_up{job_hint="a"}', 1)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def prometheus(
    endpoint: MetricsEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with prometheus_scraping(endpoint.address, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_prometheus_is_one_unavailable_line_without_the_password() -> None:
    url = f"http://admin:s3cret@127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught, PrometheusClient(url, retries=1) as client:
        client.query("vector(1)")
    message = str(caught.value)
    assert message.startswith("Prometheus at http://admin:***@127.0.0.1:"), message
    assert "did not answer" in message and "\n" not in message
    assert "s3cret" not in message
    # One quick retry, no back-off: a refused connection is reported at once.
    assert time.monotonic() - started < 5


@pytest.mark.slow  # a real Prometheus process
def test_a_query_prometheus_rejects_is_bad_input_with_its_reason(prometheus: str) -> None:
    with PrometheusClient(prometheus) as client:
        with pytest.raises(PromQLError) as caught:
            client.query("sum(rate(harness_test_up[5s])")
        with pytest.raises(PromQLError, match="range vector"):
            client.query("harness_test_up[5s]")
        with pytest.raises(PromQLError, match="parse error"):
            client.query_range("sum(", time.time() - 10, time.time(), 1)
    error = caught.value
    assert isinstance(error, BadInput) and error.exit_code == 2
    assert "parse error" in error.error and error.query == "sum(rate(harness_test_up[5s])"
    assert str(error).startswith(f"Prometheus at {prometheus} rejected a query (")
    assert "\n" not in str(error)


def test_a_server_that_is_not_prometheus_is_unavailable(endpoint: MetricsEndpoint) -> None:
    # The metrics endpoint answers 200 with text to every path, as a wrong URL might.
    with pytest.raises(Unavailable, match="not the Prometheus HTTP API's JSON"):
        PrometheusClient(f"http://{endpoint.address}").query("vector(1)")


@pytest.mark.slow  # a real Prometheus process
def test_instant_queries_return_samples_and_scalars(prometheus: str) -> None:
    with PrometheusClient(prometheus) as client:
        at = time.time() - 3600
        (sample,) = client.query("vector(2)", at)
        assert sample.value == 2 and dict(sample.labels) == {}
        (scalar,) = client.query("scalar(vector(3))")
        assert scalar.value == 3
        assert client.query('absent_series_name{revision_name="x"}') == []


@pytest.mark.slow  # a real Prometheus process
def test_a_long_range_query_is_split_and_joined_per_series(prometheus: str) -> None:
    end = float(int(time.time()))
    start = end - 2.5 * MAX_RANGE_POINTS  # three requests at 1 s steps
    with PrometheusClient(prometheus) as client:
        (series,) = client.query_range('label_replace(vector(1), "a", "b", "", "")', start, end, 1)
    assert dict(series.labels) == {"a": "b"}
    times = [t for t, _ in series.points]
    assert times == [start + i for i in range(int(end - start) + 1)]
    assert {v for _, v in series.points} == {1.0}
