"""``PrometheusClient``: the harness's one way to ask Prometheus (HTTP API v1).

Every Prometheus read of the harness goes through here: the canary's and perf's
``PrometheusSource``, the PromQL check before a run, perf's autoscaler series and the
``prometheus:`` trace of ``harness autoscale``. So the errors read the same everywhere,
each one line, with the URL's password masked:

- no answer (refused, reset, timed out) after the retries, or an answer that is not the
  Prometheus API's JSON -> ``Unavailable``
  (``Prometheus at URL did not answer: ...``);
- Prometheus rejects the query (``bad_data``/``execution`` with HTTP 400/422), or an
  instant query returns a range vector or a string -> ``PromQLError``, a ``BadInput`` carrying
  Prometheus's own error and the query;
- any other HTTP status -> ``Unavailable`` (``... answered HTTP 503 to a query``).

A failed connection and HTTP 408/429/500/502/503/504 are retried ``retries`` times, the
first at once, then after 2 s, 4 s, ... Range queries are split into requests of at
most `MAX_RANGE_POINTS` points per series (Prometheus refuses more than 11,000) and
joined again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.errors import BadInput, Unavailable
from harness.printable import printable
from harness.redact import redact_text, redact_url

__all__ = ["MAX_RANGE_POINTS", "PromQLError", "PrometheusClient", "RangeSeries", "Sample"]

MAX_RANGE_POINTS = 10_000
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Sample:
    """One series of an instant query: its labels (``__name__`` included when
    Prometheus sends it) and its value (NaN and infinities as Prometheus sent them)."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and ``(unix_time, value)`` points in
    time order."""

    labels: Mapping[str, str]
    points: list[tuple[float, float]]


class PromQLError(BadInput):
    """Prometheus rejected a query: ``error`` is its reason (one line), ``query`` the
    query it was asked. Exit 2, like any ``BadInput``."""

    def __init__(self, message: str, *, error: str, query: str) -> None:
        super().__init__(message)
        self.error = error
        self.query = query


class PrometheusClient:
    """Instant and range queries against the Prometheus at ``url``.

    ``timeout`` bounds each HTTP request; ``retries`` is how many times a failed
    connection or a 408/429/500/502/503/504 answer is tried again. Usable as a context manager;
    ``close`` frees the connections (a client that is never closed frees them when it
    is collected).
    """

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self._http: httpx.Client | None = None

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (a later query opens a new one)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """The instant vector ``promql`` evaluates to, now or at Unix time ``at``.

        A scalar is one sample without labels; a range vector or a string is a
        ``PromQLError`` (callers need numbers at one instant).
        """
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params, promql)
        kind = data.get("resultType")
        result: Any = data.get("result")
        try:
            if kind == "scalar":
                return [Sample({}, float(result[1]))]
            if kind == "vector":
                return [Sample(_labels(item), float(item["value"][1])) for item in result]
        except (KeyError, IndexError, TypeError, ValueError):
            raise self._not_prometheus() from None
        if kind in ("matrix", "string"):
            what = "a range vector" if kind == "matrix" else "a string"
            error = f"it returns {what} where an instant vector is needed"
            raise PromQLError(
                f"Prometheus at {self._shown()} rejected a query ({error}): {_clip(promql, 200)}",
                error=error,
                query=promql,
            )
        raise self._not_prometheus()

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[RangeSeries]:
        """``promql`` evaluated every ``step`` seconds from ``start`` to ``end`` (Unix
        times, sent as given to the millisecond), in requests of at most
        `MAX_RANGE_POINTS` points, joined per series."""
        if not step > 0 or not math.isfinite(step):
            raise ValueError(f"step must be a positive number of seconds, not {step!r}")
        by_labels: dict[tuple[tuple[str, str], ...], RangeSeries] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + (MAX_RANGE_POINTS - 1) * step)
            params = {
                "query": promql,
                "start": f"{chunk_start:.3f}",
                "end": f"{chunk_end:.3f}",
                "step": f"{step:g}",
            }
            data = self._get("/api/v1/query_range", params, promql)
            if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
                raise self._not_prometheus()
            try:
                for item in data["result"]:
                    labels = _labels(item)
                    key = tuple(sorted(labels.items()))
                    series = by_labels.setdefault(key, RangeSeries(labels, []))
                    series.points.extend((float(t), float(v)) for t, v in item["values"])
            except (KeyError, TypeError, ValueError):
                raise self._not_prometheus() from None
            chunk_start = chunk_end + step
        return list(by_labels.values())

    # -------------------------------------------------------------- the one translation

    def _get(self, path: str, params: dict[str, str], promql: str) -> dict[str, Any]:
        response = self._send(path, params)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            error = _clip(str(body.get("error", "")), 300)
            if response.status_code in (400, 422) and body.get("errorType") in (
                "bad_data",
                "execution",
            ):
                raise PromQLError(
                    f"Prometheus at {self._shown()} rejected a query ({error}): "
                    f"{_clip(promql, 200)}",
                    error=error,
                    query=promql,
                )
            raise Unavailable(
                f"Prometheus at {self._shown()} answered HTTP {response.status_code} to a "
                f"query ({body.get('errorType')}: {error})"
            )
        if response.status_code != 200:
            raise Unavailable(
                f"Prometheus at {self._shown()} answered HTTP {response.status_code} to a query"
            )
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise self._not_prometheus()
        return body["data"]

    def _send(self, path: str, params: dict[str, str]) -> httpx.Response:
        attempt = 0
        while True:
            if attempt:
                time.sleep(0.0 if attempt == 1 else 2.0 ** (attempt - 1))
            attempt += 1
            try:
                if self._http is None:
                    self._http = httpx.Client(base_url=self.url, timeout=self.timeout)
                response = self._http.get(path, params=params)
            except _RETRY_ERRORS as exc:
                if attempt <= self.retries:
                    continue
                raise Unavailable(
                    f"Prometheus at {self._shown()} did not answer: {self._why(exc)}"
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise Unavailable(
                    f"Prometheus at {self._shown()} did not answer: {self._why(exc)}"
                ) from None
            if response.status_code in _RETRY_STATUS and attempt <= self.retries:
                continue
            return response

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {self.timeout:g} s ({type(exc).__name__})"
        lines = str(exc).splitlines()
        return _clip(redact_text(lines[0]), 200) if lines else type(exc).__name__

    def _not_prometheus(self) -> Unavailable:
        return Unavailable(
            f"Prometheus at {self._shown()} did not answer: the answer is not the "
            "Prometheus HTTP API's JSON (is the URL Prometheus's?)"
        )

    def _shown(self) -> str:
        return printable(redact_url(self.url))


def _labels(item: Any) -> dict[str, str]:
    metric = item.get("metric", {}) if isinstance(item, dict) else None
    if not isinstance(metric, dict):
        raise TypeError("metric is not an object")
    return {str(k): str(v) for k, v in metric.items()}


def _clip(text: str, limit: int) -> str:
    return printable(" ".join(text.split()))[:limit]
