"""The sender's events: the template path gives the same headers and body as the
cloudevents SDK building each event, in both modes. Pure: no process."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from harness.events.cloudevent import Encoder, EventShape


def _sdk_stamp(send_ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=send_ns // 1000)


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize(
    "send_ns", [1_796_199_734_794_759_354, 1_796_199_734_000_000_999, 1_700_000_000_123_456_000]
)
def test_template_equals_the_sdk(mode: str, send_ns: int) -> None:
    encoder = Encoder(EventShape(type="com.example.order", source="/orders", mode=mode), "ab12")
    fast = encoder.encode("ab12.123-0.42", send_ns)
    sdk = encoder.encode_with_sdk("ab12.123-0.42", send_ns, _sdk_stamp(send_ns))
    assert fast == sdk
    headers, body = fast
    if mode == "binary":
        assert headers["ce-id"] == "ab12.123-0.42" and body == b""
        assert headers["ce-harnesssendtime"] == str(send_ns)
    else:
        document = json.loads(body)
        assert document["id"] == "ab12.123-0.42"
        assert document["harnesssendtime"] == str(send_ns)


def test_a_type_that_looks_like_a_mark_falls_back_to_the_sdk() -> None:
    encoder = Encoder(EventShape(type="x.harnessidmark", mode="structured"), "ab12")
    now = time.time_ns()
    headers, body = encoder.encode("ab12.1-0.1", now)
    assert json.loads(body)["type"] == "x.harnessidmark"
    assert json.loads(body)["id"] == "ab12.1-0.1"
    assert (headers, body) == encoder.encode_with_sdk("ab12.1-0.1", now, _sdk_stamp(now))


def test_the_template_is_cheaper_than_the_sdk() -> None:
    encoder = Encoder(EventShape(), "ab12")
    stamp = datetime.now(UTC)

    def cost(fn: object) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for i in range(2000):
                fn(f"ab12.1-0.{i}", 1_796_199_734_794_759_354)  # type: ignore[operator]
            best = min(best, time.perf_counter() - started)
        return best

    fast = cost(encoder.encode)
    slow = cost(lambda i, ns: encoder.encode_with_sdk(i, ns, stamp))
    assert fast < slow, (fast, slow)
