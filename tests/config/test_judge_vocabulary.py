"""One vocabulary for the judge's settings: API (JudgeConfig), YAML spec and CLI flags.

Defaults live in analysis/config.py only: the spec's and the CLI's are checked here by
introspection, and every flag is parsed by the real command to the setting it names.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
import typer

from analysis import JudgeConfig
from analysis.config import GROUPS, flatten, judge_defaults
from harness.cli import app
from harness.commands.canary import canary
from harness.commands.judge_options import (
    CLI_PATHS,
    OLD_FLAGS,
    YAML_ONLY,
    flag,
    judge_overrides,
)
from harness.config import CanarySpec, load_canary_spec

NAMES = {"service": "hello", "baseline": "v1", "candidate": "v2"}
# A valid value other than the default for every setting that has a flag.
VALUES: dict[str, str] = {
    "alpha": "0.01",
    "promote_alpha": "0.1",
    "min_requests_per_arm": "500",
    "min_block_requests": "30",
    "margins.error_ratio": "3",
    "margins.error_abs": "0.002",
    "margins.median_ratio": "1.1",
    "margins.tail_ratio": "3",
    "margins.tail_quantile": "0.995",
    "tolerances.error_ratio": "1.2",
    "tolerances.median_ratio": "1.03",
    "tolerances.tail_ratio": "1.5",
    "slos.error_rate": "0.02",
    "slos.latency_ms": "250",
    "slos.latency_quantile": "0.9",
    "priors.rate_scale": "0.5",
    "priors.shift_scale": "0.2",
    "priors.bound_width": "0.5",
    "srm_alpha": "0.01",
}


def _canary_command() -> Any:
    group: Any = typer.main.get_command(app)  # a click group (typer's own click copy)
    return group.commands["canary"]


def _parse(args: list[str]) -> dict[str, Any]:
    """The canary command's parameters after click parsed ``args`` (nothing runs)."""
    with _canary_command().make_context("canary", ["hello", *args]) as ctx:
        return dict(ctx.params)


def test_the_flag_rule() -> None:
    assert flag("alpha") == "--alpha"
    assert flag("min_requests_per_arm") == "--min-requests-per-arm"
    assert flag("margins.median_ratio") == "--margin-median-ratio"
    assert flag("tolerances.tail_ratio") == "--tolerance-tail-ratio"
    assert flag("slos.latency_ms") == "--slo-latency-ms"
    assert flag("priors.bound_width") == "--prior-bound-width"


def test_every_setting_is_a_spec_field_with_the_dataclass_default() -> None:
    config = JudgeConfig()
    for f in dataclasses.fields(JudgeConfig):
        field = CanarySpec.model_fields[f.name]
        default = field.get_default(call_default_factory=True)
        assert default == getattr(config, f.name), f.name
    for name, group in GROUPS.items():
        assert CanarySpec.model_fields[name].annotation is group
    assert load_canary_spec(None, NAMES).judge == JudgeConfig()


def test_every_scalar_setting_has_its_flag_and_the_help_shows_the_dataclass_default() -> None:
    defaults = judge_defaults()
    assert set(CLI_PATHS) | YAML_ONLY == set(defaults)
    hints = get_type_hints(canary, include_extras=True)
    parameters = inspect.signature(canary).parameters
    judge_params = {
        name
        for name, hint in hints.items()
        for info in get_args(hint)[1:]
        if isinstance(info, typer.models.OptionInfo)
        and (info.rich_help_panel or "").startswith("Judge")
    }
    expected = {flag(path).removeprefix("--").replace("-", "_") for path in CLI_PATHS}
    assert judge_params == expected
    for path in CLI_PATHS:
        name = flag(path).removeprefix("--").replace("-", "_")
        assert parameters[name].default is None, name  # not given: the spec's value stays
        (info,) = [a for a in get_args(hints[name])[1:] if isinstance(a, typer.models.OptionInfo)]
        # In Annotated, typer takes the first flag in the place of the default.
        decls = [d for d in (info.default, *(info.param_decls or ())) if isinstance(d, str)]
        assert decls == [flag(path), *([OLD_FLAGS[path]] if path in OLD_FLAGS else [])]
        value = defaults[path]
        shown = "alpha" if path == "promote_alpha" else "off" if value is None else f"{value:g}"
        assert f"(default {shown})" in (info.help or ""), path


def test_every_flag_sets_the_setting_it_names() -> None:
    args = [part for path in CLI_PATHS for part in (flag(path), VALUES[path])]
    overrides = judge_overrides(_parse(args))
    assert set(overrides) == set(CLI_PATHS)
    config = load_canary_spec(None, {**NAMES, **overrides}).judge
    got = flatten(config.to_dict())
    for path in CLI_PATHS:
        assert got[path] == pytest.approx(float(VALUES[path])), path
    # A flag not given is None: the spec's (here the dataclass's) value stays.
    assert set(judge_overrides(_parse([])).values()) == {None}


@pytest.mark.parametrize(("path", "old"), sorted(OLD_FLAGS.items()))
def test_the_old_flags_still_work(path: str, old: str) -> None:
    overrides = judge_overrides(_parse([old, VALUES[path]]))
    assert overrides[path] == pytest.approx(float(VALUES[path]))
    group, _, key = path.partition(".")
    config = load_canary_spec(None, {**NAMES, **overrides}).judge
    assert getattr(getattr(config, group), key) == pytest.approx(float(VALUES[path]))


@pytest.mark.slow  # starts the CLI
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--p99-ratio-margin", "1"], "canary spec: margins.tail_ratio: must be > 1"),
        (
            ["--tolerance-median-ratio", "1.05"],
            "canary spec: tolerances.median_ratio: 1.05 must be below margins.median_ratio (1.05)",
        ),
        (["--slo-latency-quantile", "1.5"], "canary spec: slos.latency_quantile: must be within"),
    ],
)
def test_a_bad_judge_flag_is_one_line_exit_2_before_any_cluster(
    flags: list[str], message: str, tmp_path: Path
) -> None:
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state"), "KUBECONFIG": ""}
    store = str(tmp_path / "h.sqlite")
    command = ["canary", "hello", "--from", "v1", "--to", "v2", "--store", store, *flags]
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *command],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


def test_the_start_line_names_the_settings_that_differ_from_the_defaults() -> None:
    from analysis import Margins
    from harness.canary.run import judge_line

    assert judge_line(JudgeConfig(), server=False) == "judge: default settings"
    config = JudgeConfig(alpha=0.01, margins=Margins(median_ratio=1.1))
    assert JudgeConfig(alpha=0.01).changed() == {"alpha": 0.01}
    assert judge_line(config, server=True) == (
        "judge: alpha 0.01, margins.median_ratio 1.1 "
        "(alpha split: 0.005 per judge, client and server)"
    )


def test_the_gate_flags_default_to_analysis_gate_tolerances() -> None:
    from analysis.config import GateTolerances
    from harness.commands.gate import gate
    from harness.gate.run import parse_share, tolerances

    params = inspect.signature(gate).parameters

    def share(name: str) -> float:
        return parse_share(params[name].default, name, 1.0)

    from_flags = tolerances(
        error_rate=share("max_error_rate_increase"),
        p50=share("max_p50_increase"),
        p90=share("max_p90_increase"),
        p99=share("max_p99_increase"),
        alpha=params["alpha"].default,
        min_requests=params["min_requests"].default,
    )
    default = GateTolerances()
    assert from_flags.quantiles == default.quantiles
    assert from_flags.error_rate == default.error_rate
    assert (from_flags.alpha, from_flags.min_requests) == (default.alpha, default.min_requests)
    assert tolerances() == default


def test_the_contracts_table_lists_every_setting_with_its_flag_and_default() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "contracts.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): [cell.strip() for cell in line.split("|")[2:4]]
        for line in text.splitlines()
        if line.startswith("| `")
    }
    for path, value in judge_defaults().items():
        flag_cell, default_cell = rows[path]
        assert flag_cell.startswith(f"`{flag(path)}`" if path in CLI_PATHS else "YAML/API only")
        if path in OLD_FLAGS:
            assert f"(`{OLD_FLAGS[path]}`)" in flag_cell
        if value is None:
            assert default_cell.startswith("None"), path
        elif isinstance(value, float | int):
            assert default_cell == f"{value:g}", path
        else:
            assert default_cell == str(value), path
