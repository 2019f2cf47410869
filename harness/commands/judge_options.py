"""The judge's command-line options, named by one rule after `analysis.JudgeConfig`.

A top-level setting keeps its name (``alpha`` -> ``--alpha``); a grouped one gets its
group in the singular first (``margins.median_ratio`` -> ``--margin-median-ratio``,
``slos.latency_ms`` -> ``--slo-latency-ms``). The same dotted names are the YAML canary
spec's keys (docs/contracts.md, "The judge's settings"). Defaults are read from
`analysis.config` for the help text; a flag not given is None and leaves the spec's
value alone. Spellings from before the grouping stay accepted as aliases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from analysis.config import judge_defaults

__all__ = ["CLI_PATHS", "OLD_FLAGS", "YAML_ONLY", "flag", "judge_option", "judge_overrides"]

_SINGULAR = {"margins": "margin", "tolerances": "tolerance", "slos": "slo", "priors": "prior"}
# Settings that take a list or a mapping: the YAML spec and the API only.
YAML_ONLY = frozenset({"tail_quantiles", "tail_weights", "directions"})
# The flags' spellings before the settings were grouped (documented, used in scripts).
OLD_FLAGS = {
    "margins.error_ratio": "--error-ratio-margin",
    "margins.error_abs": "--error-abs-margin",
    "margins.median_ratio": "--median-ratio-margin",
    "margins.tail_ratio": "--p99-ratio-margin",
    "tolerances.error_ratio": "--error-ratio-tolerance",
    "tolerances.median_ratio": "--median-ratio-tolerance",
    "tolerances.tail_ratio": "--p99-ratio-tolerance",
    "slos.latency_ms": "--slo-p99-ms",
}
_HELP = {
    "alpha": "Probability of ever rolling back a canary that is not worse",
    "promote_alpha": "Probability of promoting a canary worse than a margin",
    "min_requests_per_arm": "Requests per arm before the judge may decide",
    "min_block_requests": "Looks with fewer requests per arm are merged with the next",
    "srm_alpha": "Level of the sample-ratio guard",
    "margins.error_ratio": "Promote once the error-rate ratio is shown below this",
    "margins.error_abs": "... or the error-rate increase below this (0.001 = 0.1 point)",
    "margins.median_ratio": "Promote once the geometric-mean latency ratio is shown below this",
    "margins.tail_ratio": "Promote once the ratio of shares above the tail quantile is below this",
    "margins.tail_quantile": "The pooled quantile of --margin-tail-ratio",
    "tolerances.error_ratio": "Roll back only when errors are shown above this ratio",
    "tolerances.median_ratio": "Roll back only when latency is shown above this ratio",
    "tolerances.tail_ratio": "Roll back only when tail shares are shown above this ratio",
    "slos.error_rate": "Absolute error-rate SLO on the canary",
    "slos.latency_ms": "Absolute latency SLO on the canary, in ms",
    "slos.latency_quantile": "The quantile of --slo-latency-ms",
    "priors.rate_scale": "Prior scale on log rate ratios (errors, tail shares)",
    "priors.shift_scale": "Prior scale on the log-latency shift",
    "priors.bound_width": "Width of the non-inferiority priors, relative to the margin",
}
# Every setting that has a flag, in the order of JudgeConfig.
CLI_PATHS = tuple(path for path in judge_defaults() if path not in YAML_ONLY)
_PANEL = "Judge (analysis.JudgeConfig; docs/contracts.md)"


def flag(path: str) -> str:
    """The flag of a dotted setting: ``margins.median_ratio`` -> ``--margin-median-ratio``."""
    group, dot, key = path.rpartition(".")
    name = f"{_SINGULAR[group]}_{key}" if dot else key
    return "--" + name.replace("_", "-")


def _parameter(path: str) -> str:
    return flag(path).removeprefix("--").replace("-", "_")


def judge_option(path: str) -> Any:
    """The typer option of one setting, its default (from analysis.config) in the help."""
    default = judge_defaults()[path]
    shown = f"{default:g}" if default is not None else "off"
    if path == "promote_alpha":
        shown = "alpha"
    aliases = (OLD_FLAGS[path],) if path in OLD_FLAGS else ()
    return typer.Option(
        flag(path), *aliases, help=f"{_HELP[path]} (default {shown}).", rich_help_panel=_PANEL
    )


def judge_overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """Spec overrides (dotted names) from a command's parameters named by `flag`'s rule."""
    return {path: params[_parameter(path)] for path in CLI_PATHS}
