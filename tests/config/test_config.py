"""Canary and perf specs: YAML plus flags, validated with errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import Direction, JudgeConfig, Margins, Priors, Slos
from harness.config import (
    DEFAULT_STEPS,
    knative_steps,
    load_canary_spec,
    load_perf_spec,
    parse_duration,
)
from harness.errors import EXIT_BAD_INPUT, BadInput

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "canary.yaml"
NAMES = {"service": "hello", "from": "v1", "to": "v2"}


def _error(overrides: dict[str, object], path: Path | None = None) -> str:
    with pytest.raises(BadInput) as raised:
        load_canary_spec(path, overrides)
    assert raised.value.exit_code == EXIT_BAD_INPUT
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_the_documented_example_loads() -> None:
    spec = load_canary_spec(EXAMPLE)
    assert (spec.service, spec.namespace, spec.baseline, spec.candidate) == (
        "hello",
        "default",
        "v1",
        "v2",
    )
    assert spec.steps == list(DEFAULT_STEPS)
    assert (spec.step_interval, spec.look_interval, spec.max_duration) == (60.0, 5.0, 1800.0)
    assert spec.slos.latency_ms == 300.0 and spec.margins.median_ratio == 1.05
    assert spec.requests_per_second == 100.0


def test_the_examples_commented_custom_profile_is_valid(tmp_path: Path) -> None:
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index(
        "# queries:                # raw counters; placeholders {namespace} "
        "{service} {revision} {tag}"
    )
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("#   "):
            break
        block.append(line)
    custom = tmp_path / "custom.yaml"
    uncommented = "\n".join(line.removeprefix("# ") for line in block)
    custom.write_text(EXAMPLE.read_text() + "\n" + uncommented + "\n")
    spec = load_canary_spec(custom, {"metrics_profile": "custom"})
    assert spec.queries is not None and "{revision}" in spec.queries.latency_buckets


def test_flags_override_the_file_and_none_means_not_given() -> None:
    spec = load_canary_spec(
        EXAMPLE,
        {
            "steps": "1,50,100",
            "margins.tail_ratio": 3.0,
            "tolerances.median_ratio": 1.02,
            "baseline": "hello-v0",
            "rate": None,
            "dry_run": True,
            "step_interval": "30s",
        },
    )
    assert spec.steps == [1, 50, 100]
    assert spec.margins.tail_ratio == 3.0 and spec.margins.median_ratio == 1.05
    assert spec.tolerances.median_ratio == 1.02 and spec.tolerances.error_ratio == 1.1
    assert spec.baseline == "hello-v0" and spec.rate == 100.0
    assert spec.dry_run and spec.step_interval == 30.0


def test_flags_alone_make_a_spec_with_defaults() -> None:
    spec = load_canary_spec(None, NAMES)
    assert spec.steps == [1, 5, 10, 25, 50, 100]
    assert spec.on_inconclusive == "rollback" and spec.on_abort == "rollback"
    assert spec.alpha == 0.05 and not spec.dry_run
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert dumped["from"] == "v1" and dumped["to"] == "v2"


@pytest.mark.parametrize(
    ("steps", "count", "expected"),
    [
        ("knative", None, [1, 26, 51, 76, 100]),
        ("knative:6", None, [1, 18, 35, 52, 69, 86, 100]),
        ("knative", 2, [1, 51, 100]),
        ("knative:1", None, [1, 100]),
    ],
)
def test_knative_steps_follow_knatives_rollout(
    steps: str, count: int | None, expected: list[int]
) -> None:
    spec = load_canary_spec(None, {**NAMES, "steps": steps, "knative_steps": count})
    assert spec.steps == expected


def test_knative_schedule_with_99_steps_moves_one_percent_at_a_time() -> None:
    assert knative_steps(99) == list(range(1, 101))
    with pytest.raises(ValueError):
        knative_steps(0)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"steps": [1, 5, 500, 100]}, "canary spec: steps[2]: must be between 1 and 100"),
        ({"steps": "1,5,3,100"}, "canary spec: steps: must be strictly ascending"),
        ({"steps": [1, 50]}, "canary spec: steps: must end at 100"),
        ({"steps": "knative:0"}, "canary spec: knative_steps: must be a whole number"),
        ({"stepz": [1, 100]}, "canary spec: stepz: unknown field (did you mean steps?)"),
        (
            {"margins": {"tail_rati": 2}},
            "margins.tail_rati: unknown field (did you mean tail_ratio?)",
        ),
        ({"margins.tail_ratio": 0.5}, "canary spec: margins.tail_ratio: must be > 1"),
        ({"service": "Hello_World"}, "canary spec: service: must be a DNS label"),
        ({"to": 'v2"} or vector(1)'}, "canary spec: to: must be a DNS label"),
        ({"canary_tag": "baseline"}, "canary spec: canary_tag: must differ from baseline_tag"),
        ({"rate": 5, "users": 10}, "canary spec: rate, users: give one of them, not both"),
        ({"metrics_profile": "custom"}, "canary spec: queries: required"),
        ({"metrics_profile": "datadog"}, "canary spec: metrics_profile: must be 'legacy'"),
        ({"step_interval": "2x"}, "canary spec: step_interval: '2x' is not a duration"),
        ({"max_duration": "30s"}, "canary spec: max_duration: 30s is shorter than warmup"),
        ({"look_interval": "2m"}, "canary spec: look_interval: must be positive and at most"),
        ({"on_abort": "panic"}, "canary spec: on_abort: must be 'rollback' or 'hold'"),
        ({"alpha": 0}, "canary spec: alpha: must be within (0, 1)"),
        ({"prometheus": "ftp://x"}, "canary spec: prometheus: must be an http:// or https://"),
        ({"locustfile": "/nonexistent/locustfile.py"}, "canary spec: locustfile: no such file"),
        ({"slos": {"error_rate": 2}}, "canary spec: slos.error_rate: must be within (0, 1)"),
        ({"margins.median_ratio": 1}, "canary spec: margins.median_ratio: must be > 1"),
        ({"tolerances.tail_ratio": 0.9}, "canary spec: tolerances.tail_ratio: must be >= 1"),
        (
            {"tolerances.median_ratio": 1.05},
            "canary spec: tolerances.median_ratio: 1.05 must be below margins.median_ratio (1.05)",
        ),
    ],
)
def test_validation_errors_name_the_field(overrides: dict[str, object], expected: str) -> None:
    assert expected in _error({**NAMES, **overrides})


def test_missing_names_are_named() -> None:
    assert _error({"from": "v1", "to": "v2"}) == "canary spec: service: required"
    assert _error({"service": "hello", "from": "v1"}).startswith("canary spec: to: required")
    assert _error({}).endswith("(and 1 more)")


def test_custom_queries_allow_only_known_placeholders() -> None:
    queries = {
        "requests": 'revision_request_count{revision_name="{revision}"}',
        "errors": 'x{code="5xx",ns="{namespace}"}',
        "latency_buckets": 'y{job="{password}"}',
    }
    message = _error({**NAMES, "metrics_profile": "custom", "queries": queries})
    assert message.startswith(
        "canary spec: queries.latency_buckets: unknown placeholder {password}"
    )


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("service: hello\nsteps: [1, 5\nfrom: v1\n")
    message = _error({}, path)
    assert message.startswith(f"canary spec {path}: line 3, column 5:")


def test_duplicate_yaml_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("service: hello\nfrom: v1\nto: v2\nfrom: v0\n")
    assert _error({}, path) == f"canary spec {path}: line 4, column 1: duplicate key 'from'"


def test_a_spec_file_must_be_a_mapping_and_exist(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- service: hello\n")
    assert _error({}, path) == f"canary spec {path}: must be a mapping of fields, not list"
    assert _error({}, tmp_path / "nope.yaml").endswith("nope.yaml: no such file")


def test_relative_paths_in_a_file_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "users.py").write_text("# a locustfile\n")
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "canary.yaml"
    path.write_text("service: hello\nfrom: v1\nto: v2\nlocustfile: ../load/users.py\n")
    spec = load_canary_spec(path)
    assert spec.locustfile is not None and spec.locustfile.resolve() == (
        tmp_path / "load" / "users.py"
    )


def test_perf_spec_validates_its_own_fields() -> None:
    spec = load_perf_spec(
        None, {"service": "hello", "tag": "canary", "duration": "5m", "label": "v1.2.3"}
    )
    assert (spec.duration, spec.profile, spec.save, spec.label) == (
        300.0,
        "steady",
        False,
        "v1.2.3",
    )
    with pytest.raises(BadInput, match=r"^perf spec: profile: must be 'steady', 'ramp'"):
        load_perf_spec(None, {"service": "hello", "profile": "burst"})
    with pytest.raises(BadInput, match=r"^perf spec: label: must be 1-63 letters"):
        load_perf_spec(None, {"service": "hello", "label": "<script>"})
    with pytest.raises(BadInput, match=r"^perf spec: steps: unknown field"):
        load_perf_spec(None, {"service": "hello", "steps": [1, 100]})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        (0.25, 0.25),
    ],
)
def test_durations_parse_like_go(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 m", "m5", "-3s", "1d", "inf", True, None, "30s2"])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_judge_gets_the_specs_margins_tolerances_and_slos() -> None:
    spec = load_canary_spec(
        None,
        {
            **NAMES,
            "alpha": 0.01,
            "margins.median_ratio": 1.1,
            "tolerances.median_ratio": 1.03,
            "tolerances.tail_ratio": 1.5,
            "slos.latency_ms": 300,
            "priors.shift_scale": 0.2,
            "min_requests_per_arm": 500,
        },
    )
    config = spec.judge
    assert config.alpha == 0.01 and config.margins.median_ratio == 1.1
    assert config.margins.error_ratio == 2.0 and config.margins.tail_ratio == 2.0
    assert config.tolerances.median_ratio == 1.03 and config.tolerances.tail_ratio == 1.5
    assert config.tolerances.error_ratio == 1.1 and config.slos.latency_ms == 300
    assert config.priors.shift_scale == 0.2 and config.min_requests_per_arm == 500


def test_a_yaml_spec_sets_every_judge_setting_by_its_python_name(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "service: hello\nfrom: v1\nto: v2\n"
        "promote_alpha: 0.1\nsrm_alpha: 0.01\nmin_block_requests: 50\n"
        "margins: {tail_quantile: 0.995, error_abs: 0.002}\n"
        "slos: {latency_ms: 250, latency_quantile: 0.9}\n"
        "priors: {rate_scale: 0.5, bound_width: 0.5}\n"
        "tail_quantiles: [0.99, 0.995]\ntail_weights: [0.5, 0.5]\n"
        "directions: {latency_median: lower_is_worse}\n"
    )
    config = load_canary_spec(path).judge
    expected = JudgeConfig(
        promote_alpha=0.1,
        srm_alpha=0.01,
        min_block_requests=50,
        margins=Margins(tail_quantile=0.995, error_abs=0.002),
        slos=Slos(latency_ms=250.0, latency_quantile=0.9),
        priors=Priors(rate_scale=0.5, bound_width=0.5),
        tail_quantiles=(0.99, 0.995),
        tail_weights=(0.5, 0.5),
        directions={"latency_median": Direction.LOWER_IS_WORSE},
    )
    assert config == expected


@pytest.mark.parametrize(
    ("old", "new", "yaml_text"),
    [
        ("margins.p99_ratio", "margins.tail_ratio", "margins: {p99_ratio: 3}"),
        ("tolerances.p99_ratio", "tolerances.tail_ratio", "tolerances: {p99_ratio: 1.5}"),
        ("slos.p99_ms", "slos.latency_ms", "slos: {p99_ms: 300}"),
    ],
)
def test_old_yaml_keys_are_read_with_one_deprecation_line(
    old: str, new: str, yaml_text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(f"service: hello\nfrom: v1\nto: v2\n{yaml_text}\n")
    spec = load_canary_spec(path)
    group, _, key = new.partition(".")
    old_value = float(yaml_text.split(": ")[-1].rstrip("}"))
    assert getattr(getattr(spec, group), key) == old_value
    assert getattr(getattr(spec.judge, group), key) == old_value
    err = capsys.readouterr().err
    assert err == f"canary spec: {old} is deprecated, read as {new}\n"
    # Both names at once is ambiguous: refused, naming the new one.
    both = {**NAMES, f"{group}.{key}": 2.5, old: 2.5}
    assert f"{old}: deprecated name of {new}; give only {new}" in _error(both)
