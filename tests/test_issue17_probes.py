"""Issue 17 re-probed as an attacker and a careless user: what the re-probe still found.

Each test is a probe that failed on the tree the re-probe started from (aa2510e) and
passes now; the probes that already held are covered by the tests named in the report.
Real CLI against the real emulator and its Prometheus.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import RunningEmulator
from tests.gate.helpers import run_cli

SELECTOR = 'namespace_name="{namespace}",revision_name="{revision}"'
BAD_TEMPLATES = {
    "syntax": f'revision_request_count{{{SELECTOR},response_code_class="5xx"}} +',
    "type": f'rate(revision_request_count{{{SELECTOR},response_code_class="5xx"}})',
}


def _runs(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])


@pytest.mark.parametrize("error", sorted(BAD_TEMPLATES))
def test_perf_finds_a_promql_error_in_a_custom_template_before_the_run(
    error: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Before: the run was recorded, loaded the Service, then failed with "Prometheus ...
    # did not answer: HTTP Status Code 400" and left a failed run in history.
    if emulator.prometheus is None:
        pytest.skip("prometheus is not installed here (CI installs it)")
    spec = tmp_path / "perf.yaml"
    spec.write_text(
        "metrics_profile: custom\n"
        "queries:\n"
        f"  requests: 'revision_request_count{{{SELECTOR}}}'\n"
        f"  errors: '{BAD_TEMPLATES[error]}'\n"
        f"  latency_buckets: 'revision_request_latencies_bucket{{{SELECTOR}}}'\n"
    )
    store = tmp_path / "h.sqlite"
    result = run_cli(
        "perf", "hello", "--config", str(spec), "--duration", "2s", "--warmup", "0",
        "--save", "--store", str(store), "--report-dir", str(tmp_path / "r"),
        "--state-dir", str(emulator.state_dir),
    )  # fmt: skip
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "the errors query is not valid PromQL" in result.stderr
    assert _runs(store) == 0
    assert not (tmp_path / "r").exists()


def test_perf_refuses_an_unwritable_report_dir_before_the_run(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Before: the load ran and the run was saved as completed, then perf failed with
    # "report folder ...: Not a directory", exit 2 after the fact.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    store = tmp_path / "h.sqlite"
    result = run_cli(
        "perf", "hello", "--duration", "2s", "--warmup", "0", "--save", "--store", str(store),
        "--report-dir", str(blocker / "report"), "--state-dir", str(emulator.state_dir),
    )  # fmt: skip
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--report-dir" in result.stderr and "cannot write there" in result.stderr
    assert _runs(store) == 0


def test_perf_json_output_masks_a_password_in_the_prometheus_url(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Before: `perf -o json` printed server.prometheus with the password (the store, the
    # report and the text output already masked it).
    if emulator.prometheus is None:
        pytest.skip("prometheus is not installed here (CI installs it)")
    secret = "s3cretPW-issue17"
    with_password = emulator.prometheus.replace("http://", f"http://alice:{secret}@", 1)
    store = tmp_path / "h.sqlite"
    result = run_cli(
        "perf", "hello", "--duration", "2s", "--warmup", "0", "--prometheus", with_password,
        "--save", "--store", str(store), "--report-dir", str(tmp_path / "r"), "-o", "json",
        "--state-dir", str(emulator.state_dir),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert '"prometheus": "http://alice:***@' in result.stdout
    assert secret.encode() not in store.read_bytes()
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@contextlib.contextmanager
def _foreign_server(revision: str | None) -> Iterator[str]:
    """A loopback server that is not the Service: answers 200, naming ``revision`` in
    K-Revision (or no header, as a user's own app on a cluster)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            if revision is not None:
                self.send_header("K-Revision", revision)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("header", ["other-rev", None])
def test_a_perf_run_answered_by_another_server_is_not_saved_as_valid_history(
    header: str | None, emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Before: every answer came from elsewhere (a wrong --ingress), and the run was saved
    # as completed with a perf result that `harness gate` then compared against.
    if header is None and emulator.prometheus is None:
        pytest.skip("without K-Revision only Prometheus can tell (CI installs it)")
    store = tmp_path / "h.sqlite"
    with _foreign_server(header) as ingress:
        result = run_cli(
            "perf", "hello", "--ingress", ingress, "--duration", "2s", "--warmup", "0",
            "--save", "--store", str(store), "--report-dir", str(tmp_path / "r"),
            "--state-dir", str(emulator.state_dir),
        )  # fmt: skip
    assert result.code == 3, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "hello-v1" in result.stderr and "--ingress" in result.stderr
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        assert [r[0] for r in db.execute("SELECT status FROM runs")] == ["failed"]
        assert db.execute("SELECT count(*) FROM perf_results").fetchone()[0] == 0
    # The same run through the Service's own ingress is kept.
    good = run_cli(
        "perf", "hello", "--duration", "2s", "--warmup", "0", "--save", "--store", str(store),
        "--report-dir", str(tmp_path / "r2"), "--state-dir", str(emulator.state_dir),
    )  # fmt: skip
    assert good.code == 0, good.stderr
