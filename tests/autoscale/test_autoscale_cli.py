"""``harness autoscale`` as a user runs it: a real process, exit codes, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SERVICE = FIXTURES / "every-annotation.yaml"
HARNESS = [sys.executable, "-m", "harness.cli"]


def run(
    *args: str, stdin: str | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *HARNESS, "autoscale", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HARNESS_STATE_DIR": "/nonexistent-harness-state", "PATH": "/usr/bin:/bin"},
    )


def simulate_json(*args: str) -> dict[str, Any]:
    result = run("simulate", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_synthetic_trace_gives_the_issue_s_json_shape_per_variant() -> None:
    doc = simulate_json(
        str(SERVICE),
        "--trace",
        "spike:rps=0,peak=2000,at=3m,width=40s,duration=8m",
        "--variant",
        "nodelay:scale-down-delay=0s",
        "--variant",
        "warm:min-scale=2",
        "--service-time",
        "50ms",
    )
    assert doc["trace"] == {
        "source": "spike:rps=0,peak=2000,at=3m,width=40s,duration=8m",
        "kind": "rps",
        "seconds": 480,
    }
    names = [v["name"] for v in doc["variants"]]
    assert names == ["baseline", "nodelay", "warm"]
    for variant in doc["variants"]:
        series = variant["series"]
        assert series["t"] == list(range(480))
        for key in ("desired_pods", "ready_pods", "panic", "activator_queue", "cold_starts"):
            assert len(series[key]) == 480
        assert set(variant["summary"]) >= {
            "max_pods",
            "pod_seconds",
            "panic_seconds",
            "cold_starts",
            "delayed_requests",
        }
        # Every annotation of the manifest reached the settings.
        settings = variant["settings"]
        assert settings["max_scale"] == 20 and settings["activation_scale"] == 2
        assert settings["target"] == pytest.approx(7.0) and settings["container_concurrency"] == 20
    base, nodelay, warm = (v["summary"] for v in doc["variants"])
    assert doc["variants"][1]["settings"]["scale_down_delay_s"] == 0
    assert base["pod_seconds"] > nodelay["pod_seconds"]  # the 30 s delay costs pods
    assert base["cold_starts"] > 0 and warm["cold_starts"] == 0  # idle 3 min: at zero
    assert max(doc["variants"][0]["series"]["desired_pods"]) <= 20  # max-scale


def test_csv_trace_and_text_table(tmp_path: Path) -> None:
    csv = tmp_path / "load.csv"
    rows = ["time,concurrency"] + [f"{t},{5 if t < 60 else 300}" for t in range(0, 240, 10)]
    csv.write_text("\n".join(rows) + "\n")
    result = run("simulate", str(SERVICE), "--trace", str(csv), "--set", "max-scale=50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"trace {csv}: 231 s of in-flight requests")
    header = lines[1].split()
    assert header[:3] == ["variant", "max", "pods"]
    baseline = lines[3].split()
    assert baseline[0] == "baseline" and int(baseline[1]) >= 300 // 7  # 300 / (10 x 70%)
    doc = simulate_json(str(SERVICE), "--trace", f"csv:{csv}", "--set", "max-scale=50")
    assert doc["trace"]["kind"] == "concurrency" and doc["trace"]["seconds"] == 231


def test_report_is_one_standalone_html_file(tmp_path: Path) -> None:
    report = tmp_path / "whatif.html"
    result = run(
        "simulate",
        str(SERVICE),
        "--trace",
        "ramp:concurrency=0..200,duration=5m",
        "--variant",
        "big:target=50",
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr
    page = report.read_text()
    assert page.count("<svg") == 3 and "<script" not in page
    assert "Pods: baseline" in page and "Pods: big" in page


def test_explain_fills_in_defaults_in_plain_words(tmp_path: Path) -> None:
    result = run("explain", str(SERVICE))
    assert result.returncode == 0, result.stderr
    assert "target 7 concurrent requests per pod (10 x 70%)" in result.stdout
    assert "panic when 6 s of load asks for 2x the ready pods" in result.stdout
    bare = tmp_path / "bare.yaml"
    bare.write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: bare}\n"
        "spec:\n  template:\n    metadata:\n      annotations:\n"
        "        autoscaling.knative.dev/window: 20s\n"
        "    spec: {containers: [{image: x}]}\n"
    )
    doc = json.loads(run("explain", str(bare), "--format", "json").stdout)
    knobs = {k["knob"]: k for k in doc["knobs"]}
    assert knobs["target"]["value"] == "70" and "default 100" in knobs["target"]["source"]
    assert knobs["window"]["source"] == "annotation window"
    assert knobs["panic-window-percentage"]["meaning"] == "panic window 2 s"
    # Cluster defaults come from --config.
    doc = json.loads(
        run(
            "explain",
            str(bare),
            "--config",
            "container-concurrency-target-default=20",
            "-o",
            "json",
        ).stdout
    )
    assert {k["knob"]: k for k in doc["knobs"]}["target"]["value"] == "14"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "steady:rps=10"], "duration= is required"),
        (["--trace", "wave:rps=1,duration=1m"], "unknown source"),
        (["--trace", "steady:rps=-1,duration=1m"], "must be between 0"),
        (["--trace", "steady:rps=1,concurrency=2,duration=1m"], "exactly one of"),
        (["--trace", "steady:rps=1,duration=1m", "--variant", "x"], "use NAME:KEY=VALUE"),
        (
            ["--trace", "steady:rps=1,duration=1m", "--variant", "Bad:target=1"],
            "must be lower case",
        ),
        (["--trace", "steady:rps=1,duration=1m", "--set", "colour=red"], "unknown knob"),
        (["--trace", "steady:rps=1,duration=1m", "--set", "window=2s"], "window"),
        (["--trace", "steady:rps=1,duration=1m", "--config", "stable-window=1s"], "stable-window"),
        (["--trace", "prometheus:Bad_Rev?since=1h"], "not a valid name"),
        (["--trace", "prometheus:rev?since=1h&namespace=a.b"], "namespace"),
        (["--trace", "perf:nope"], "not a run id"),
        (["--trace", "steady:rps=1,duration=1m", "--pod-start", "soon"], "--pod-start"),
        (["--trace", "steady:rps=1,duration=1m", "--pod-start", "perf:x"], "not a run id"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run("simulate", str(SERVICE), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_csv_and_bad_target_are_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("time,rps\n0,5\n1,lots\n")
    result = run("simulate", str(SERVICE), "--trace", str(csv))
    assert result.returncode == 2 and "line 3 value" in result.stderr
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(SERVICE.read_text().replace('min-scale: "0"', 'min-scale: "30"'))
    result = run("simulate", str(invalid), "--trace", "steady:rps=1,duration=1m")
    assert result.returncode == 2 and "min-scale" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("explain", "Not_A_Name")
    assert result.returncode == 2 and "not a valid name" in result.stderr


def test_hostile_inputs_are_refused_within_a_memory_cap(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
        + "".join(
            f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    cap = ("prlimit", "--as=1500000000")
    result = run("explain", str(bomb), prefix=cap)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # A CSV that claims ten years of load is refused before anything is allocated.
    decade = tmp_path / "decade.csv"
    decade.write_text("time,rps\n0,1\n315360000,1\n")
    result = run("simulate", str(SERVICE), "--trace", str(decade), prefix=cap)
    assert result.returncode == 2 and "more than a week" in result.stderr
