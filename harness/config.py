"""Run specs: `CanarySpec` for `harness canary`, `PerfSpec` for `harness perf`.

A spec comes from an optional YAML file merged with command-line flags (a flag that was
not given is ``None`` and leaves the file's value alone), then is validated once. Any
problem is one `BadInput` line naming the field, e.g.
``canary spec: steps[2]: must be between 1 and 100``, or the file's line and column for
YAML syntax errors. Names that later reach PromQL, URLs or paths (service, namespace,
revisions, tags) are validated as DNS labels here.

The judge's settings are `analysis.JudgeConfig`'s, under the same names: ``alpha``,
``margins: {median_ratio: 1.05}``, ``tolerances``, ``slos``, ``priors``... (defaults
read from there, never copied; docs/contracts.md has the table with the CLI flags).
Keys renamed since (``margins.p99_ratio`` -> ``margins.tail_ratio``, ...) are still
read, with a one-line deprecation warning on stderr.

Relative paths written in a spec file (``locustfile``, ``apply``) are resolved against
the file's folder, so a spec works from any working directory; output paths
(``report_dir``, ``store``) and paths given as flags are relative to the working
directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from analysis.config import Direction, JudgeConfig, Margins, Priors, Slos, Tolerances
from harness.errors import BadInput
from harness.inputs import FastSafeLoader, InputError, load_yaml, read_text, yaml_error_text
from harness.knative.names import is_dns1035_label, is_dns1123_label
from harness.load.limits import MAX_TOTAL_RATE, MAX_TOTAL_USERS
from harness.load.plan import MAX_USERS_PER_ARM
from harness.redact import redact_url

__all__ = [
    "DEFAULT_STEPS",
    "DEPRECATED_KEYS",
    "KNATIVE_STEPS_DEFAULT",
    "PLACEHOLDERS",
    "CanarySpec",
    "CustomQueries",
    "PerfSpec",
    "knative_steps",
    "load_canary_spec",
    "load_perf_spec",
    "parse_duration",
]

DEFAULT_STEPS: tuple[int, ...] = (1, 5, 10, 25, 50, 100)
# Knative's own source comment gives 1% -> 26% -> 51% -> 76% -> 100% as its example.
KNATIVE_STEPS_DEFAULT = 4
PLACEHOLDERS = frozenset({"namespace", "service", "revision", "tag"})

# As harness.metrics.profiles checks them (importing it here would load the Prometheus
# client): a placeholder is a bare identifier in braces; PromQL matchers hold an operator.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Free-text labels end up in file names of reports and in CI summaries: keep them plain.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


# Any run's durations (load, step interval, max duration) are bounded: docs/limits.md.
MAX_DURATION_S = 7 * 24 * 3600.0


def parse_duration(value: object) -> float:
    """Seconds from a number or a Go-style duration (``90``, ``"30s"``, ``"1m30s"``, ``"500ms"``).

    Raises ValueError for anything else, for negative values and for infinities.
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 2m or 1h30m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _parse_duration_text(text)
    else:
        raise ValueError("must be a duration like 30s, 2m or 1h30m")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("must be a finite, non-negative duration")
    if seconds > MAX_DURATION_S:
        raise ValueError("must be at most 7 days (168h): every run stops by itself")
    return seconds


def _parse_duration_text(text: str) -> float:
    position, seconds = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 2m or 1h30m")
    return seconds


def knative_steps(count: int = KNATIVE_STEPS_DEFAULT) -> list[int]:
    """Knative's gradual-rollout schedule: 1%, then ``count`` equal steps up to 100%.

    As `computeProperties` in knative/serving `pkg/reconciler/route/traffic/rollout.go`:
    step size = round(99 / count) (Go rounds halves away from zero), the last step
    capped at 100, so the schedule may hold one step more or less than ``count``.
    """
    if not 1 <= count <= 99:
        raise ValueError("knative step count must be between 1 and 99")
    size = math.floor(99 / count + 0.5)
    steps = [1]
    while steps[-1] < 100:
        steps.append(min(100, steps[-1] + size))
    return steps


# ----------------------------------------------------------------- field types
def _dns_label(value: str) -> str:
    if not is_dns1035_label(value):
        raise ValueError(
            "must be a DNS label: lower-case letters, digits and '-', starting with a "
            "letter, at most 63 characters"
        )
    return value


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:  # 'http://[::1' (unclosed bracket), 'http://h:99999'
        raise ValueError(f"must be an http:// or https:// URL with a host ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def _namespace(value: str) -> str:
    if not is_dns1123_label(value):
        raise ValueError(
            "must be a DNS-1123 label: lower-case letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters"
        )
    return value


def _not_bool(value: object) -> object:
    # YAML reads `rate: true` as a bool, which pydantic would take as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def _duration(value: object) -> float:
    return parse_duration(value)


def _label(value: str) -> str:
    if not _LABEL.fullmatch(value):
        raise ValueError(
            "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _percent(value: int) -> int:
    if not 1 <= value <= 100:
        raise ValueError("must be between 1 and 100")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
NamespaceName = Annotated[str, AfterValidator(_namespace)]
Number = Annotated[float, BeforeValidator(_not_bool)]
WholeNumber = Annotated[int, BeforeValidator(_not_bool)]
# Used as given to connect; printed and recorded with its password masked.
HttpUrl = Annotated[str, AfterValidator(_http_url), PlainSerializer(redact_url)]
Seconds = Annotated[float, BeforeValidator(_duration)]
RunLabel = Annotated[str, AfterValidator(_label)]
Percent = Annotated[int, BeforeValidator(_not_bool), AfterValidator(_percent)]
MetricsProfileName = Literal["legacy", "otel", "kourier", "istio", "custom"]
OnFailure = Literal["rollback", "hold"]


# Requests/s per arm when neither rate nor users is given (see CanarySpec).
DEFAULT_RATE = 300.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)


def _numbers_only(value: object, info: ValidationInfo) -> object:
    # Pydantic would take a YAML `true` as 1 before the judge's own checks see it.
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, bool):
                raise ValueError(f"{info.field_name}.{key}: must be a number, not true/false")
    return value


# The judge's groups (analysis.config), validated by their own __post_init__.
MarginsField = Annotated[Margins, BeforeValidator(_numbers_only)]
TolerancesField = Annotated[Tolerances, BeforeValidator(_numbers_only)]
SlosField = Annotated[Slos, BeforeValidator(_numbers_only)]
PriorsField = Annotated[Priors, BeforeValidator(_numbers_only)]
_JUDGE = JudgeConfig()

# Old spec keys still read (with a warning on stderr): old dotted name -> new one.
DEPRECATED_KEYS = {
    "margins.p99_ratio": "margins.tail_ratio",
    "tolerances.p99_ratio": "tolerances.tail_ratio",
    "slos.p99_ms": "slos.latency_ms",
}


class CustomQueries(_Strict):
    """PromQL templates of the ``custom`` metrics profile (raw counters, no ``rate``).

    Only the placeholders ``{namespace}``, ``{service}``, ``{revision}`` and ``{tag}``
    may appear; they are filled with validated DNS labels only.
    """

    requests: str
    errors: str
    latency_buckets: str
    latency_unit_ms: Number = Field(default=1.0, gt=0.0)

    @field_validator("requests", "errors", "latency_buckets")
    @classmethod
    def _only_known_placeholders(cls, template: str) -> str:
        if not template.strip():
            raise ValueError("must be a PromQL query")
        unknown = sorted(set(_PLACEHOLDER.findall(template)) - PLACEHOLDERS)
        if unknown:
            allowed = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
        return template


class _RunSpec(_Strict):
    """Fields shared by canary and perf runs."""

    service: DnsLabel
    namespace: NamespaceName = "default"
    locustfile: Path | None = None
    ingress: HttpUrl | None = None
    prometheus: HttpUrl | None = None
    metrics_profile: MetricsProfileName = "legacy"
    queries: CustomQueries | None = None
    rate: Number | None = Field(default=None, gt=0.0)
    users: WholeNumber | None = Field(default=None, ge=1)
    warmup: Seconds = 5.0
    report_dir: Path | None = None
    store: Path | None = None
    pushgateway: HttpUrl | None = None  # run status pushed there (harness.metrics.pushgateway)

    @model_validator(mode="after")
    def _check_shared(self) -> _RunSpec:
        if self.rate is not None and self.users is not None:
            raise ValueError("rate, users: give one of them, not both")
        arms = self._arms()
        if self.rate is not None and (
            not math.isfinite(self.rate) or self.rate * arms > MAX_TOTAL_RATE
        ):
            raise ValueError(
                f"rate: at most {MAX_TOTAL_RATE // arms:,} requests per second per arm "
                f"({arms} arm{'s' if arms > 1 else ''}, {MAX_TOTAL_RATE:,} in all)"
            )
        if self.users is not None and self.users > min(MAX_USERS_PER_ARM, MAX_TOTAL_USERS // arms):
            raise ValueError(
                f"users: at most {min(MAX_USERS_PER_ARM, MAX_TOTAL_USERS // arms):,} per arm"
            )
        if self.metrics_profile == "custom" and self.queries is None:
            raise ValueError("queries: required when metrics_profile is custom")
        if self.metrics_profile != "custom" and self.queries is not None:
            raise ValueError("queries: only used with metrics_profile: custom")
        if self.locustfile is not None and not self.locustfile.is_file():
            raise ValueError(f"locustfile: no such file: {self.locustfile}")
        return self

    def _arms(self) -> int:
        """How many arms share the load bounds (a canary has two)."""
        return 1


class CanarySpec(_RunSpec):
    """A progressive rollout of ``to`` (candidate) alongside ``from`` (baseline).

    ``steps`` are the candidate's traffic percents, ascending, ending at 100; the
    literal ``knative`` (or ``knative:N``) gives Knative's rollout schedule with
    `knative_steps` (N) equal steps after 1%. Each step lasts at least
    ``step_interval``; the judge looks every ``look_interval`` after ``warmup``; the whole
    run stops at ``max_duration``. Without ``rate`` or ``users``, each arm gets
    `DEFAULT_RATE` req/s: enough requests for the judge to promote an unchanged revision
    within about a minute (it needs some 15,000-20,000 per arm to bound a p99 regression).
    """

    baseline: DnsLabel = Field(alias="from")
    candidate: DnsLabel | None = Field(default=None, alias="to")
    apply: Path | None = None
    baseline_tag: DnsLabel = "baseline"
    canary_tag: DnsLabel = "canary"
    steps: list[Percent] = Field(default_factory=lambda: list(DEFAULT_STEPS), min_length=1)
    knative_steps: WholeNumber = Field(default=KNATIVE_STEPS_DEFAULT, ge=1, le=99)
    step_interval: Seconds = 10.0
    look_interval: Seconds = 2.0
    max_duration: Seconds = 600.0
    # The judge's settings: analysis.JudgeConfig's fields, names and defaults.
    alpha: Number = _JUDGE.alpha
    promote_alpha: Number | None = _JUDGE.promote_alpha
    min_requests_per_arm: WholeNumber = _JUDGE.min_requests_per_arm
    min_block_requests: WholeNumber = _JUDGE.min_block_requests
    margins: MarginsField = _JUDGE.margins
    tolerances: TolerancesField = _JUDGE.tolerances
    slos: SlosField = _JUDGE.slos
    priors: PriorsField = _JUDGE.priors
    tail_quantiles: tuple[Number, ...] = _JUDGE.tail_quantiles
    tail_weights: tuple[Number, ...] = _JUDGE.tail_weights
    srm_alpha: Number = _JUDGE.srm_alpha
    directions: dict[str, Direction] = Field(default_factory=dict)
    on_inconclusive: OnFailure = "rollback"
    on_abort: OnFailure = "rollback"
    dry_run: bool = False
    confirm: bool = False
    gitops_check: Literal["warn", "fail", "off"] = "warn"  # harness.gitops
    # A Broker: send CloudEvents through it instead of HTTP requests (harness.events.canary).
    events: DnsLabel | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand_steps(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        steps = data.get("steps")
        if isinstance(steps, str):
            data = dict(data)
            text = steps.strip()
            if text == "knative" or text.startswith("knative:"):
                count: Any = data.get("knative_steps", KNATIVE_STEPS_DEFAULT)
                if text.startswith("knative:"):
                    count = text.partition(":")[2]
                    data["knative_steps"] = count
                try:
                    data["steps"] = knative_steps(int(count))
                except (TypeError, ValueError):
                    raise ValueError(
                        "knative_steps: must be a whole number between 1 and 99"
                    ) from None
            else:
                data["steps"] = [part.strip() for part in text.split(",")]
        return data

    @field_validator("steps")
    @classmethod
    def _ascending_to_100(cls, steps: list[int]) -> list[int]:
        for index in range(1, len(steps)):
            if steps[index] <= steps[index - 1]:
                raise ValueError(
                    f"must be strictly ascending: steps[{index}] = {steps[index]} "
                    f"after {steps[index - 1]}"
                )
        if steps[-1] != 100:
            raise ValueError("must end at 100 (the candidate takes all traffic)")
        return steps

    @model_validator(mode="after")
    def _check_times(self) -> CanarySpec:
        if self.candidate is None and self.apply is None:
            raise ValueError("to: required (or apply: a manifest that creates the revision)")
        if self.candidate is not None and self.candidate == self.baseline:
            raise ValueError("to: must differ from from")
        if self.baseline_tag == self.canary_tag:
            raise ValueError("canary_tag: must differ from baseline_tag")
        _ = self.judge  # the judge's own cross-checks (each tolerance below its margin...)
        if self.step_interval <= 0:
            raise ValueError("step_interval: must be positive")
        if not 0 < self.look_interval <= self.step_interval:
            raise ValueError("look_interval: must be positive and at most step_interval")
        minimum = self.warmup + len(self.steps) * self.step_interval
        if self.max_duration < minimum:
            raise ValueError(
                f"max_duration: {_seconds_text(self.max_duration)} is shorter than warmup "
                f"plus {len(self.steps)} steps of step_interval ({_seconds_text(minimum)})"
            )
        if self.apply is not None and not self.apply.is_file():
            raise ValueError(f"apply: no such file: {self.apply}")
        if self.events is not None and self.locustfile is not None:
            raise ValueError("events: an event canary sends CloudEvents; drop locustfile")
        return self

    def _arms(self) -> int:
        return 2

    @property
    def judge(self) -> JudgeConfig:
        """The judge's settings: this spec's fields of the same names."""
        return JudgeConfig(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(JudgeConfig)}
        )

    @property
    def requests_per_second(self) -> float | None:
        """The per-arm request rate, or None when `users` sets the load instead."""
        if self.users is not None:
            return None
        return DEFAULT_RATE if self.rate is None else self.rate


PerfProfile = Literal["steady", "ramp", "spike", "soak", "cold-start"]


class PerfSpec(_RunSpec):
    """A performance run against one Service (its main route, or tag ``tag``).

    ``save`` keeps the result in the history store (``store``, default under the state
    folder) with an optional ``label`` (e.g. a release name). Without ``rate`` or
    ``users``, the load is 20 req/s.
    """

    tag: DnsLabel | None = None
    profile: PerfProfile = "steady"
    duration: Seconds = 60.0
    save: bool = False
    label: RunLabel | None = None

    @model_validator(mode="after")
    def _check_duration(self) -> PerfSpec:
        if self.duration <= 0:
            raise ValueError("duration: must be positive")
        return self


# ----------------------------------------------------------------- loading
SpecT = TypeVar("SpecT", bound=_RunSpec)
_PATHS_FROM_FILE = ("locustfile", "apply")


def load_canary_spec(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> CanarySpec:
    """The canary spec from an optional YAML file with flag overrides applied.

    ``overrides`` maps field names (``baseline`` or ``from``, ``steps``, dotted
    ``margins.tail_ratio`` for nested fields) to flag values; None values are ignored.
    Raises BadInput naming the field (or the file's line and column) on any problem.
    """
    return _load(CanarySpec, "canary spec", path, overrides)


def load_perf_spec(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> PerfSpec:
    """The perf spec from an optional YAML file with flag overrides; see `load_canary_spec`."""
    return _load(PerfSpec, "perf spec", path, overrides)


def _load(
    model: type[SpecT], what: str, path: Path | None, overrides: Mapping[str, Any] | None
) -> SpecT:
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(path, what)
        for key in _PATHS_FROM_FILE:
            value = data.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                data[key] = str(path.parent / value)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, _alias_of(model, key), value)
    if model is CanarySpec:
        _rename_deprecated(data, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"{what}: {_first_error(model, exc)}") from None


def _rename_deprecated(data: dict[str, Any], what: str) -> None:
    """Move `DEPRECATED_KEYS` to their new names, one warning line each on stderr."""
    for old, new in DEPRECATED_KEYS.items():
        group, _, old_key = old.partition(".")
        section = data.get(group)
        if not isinstance(section, dict) or old_key not in section:
            continue
        new_key = new.partition(".")[2]
        if new_key in section:
            raise BadInput(f"{what}: {old}: deprecated name of {new}; give only {new}")
        section = dict(section)
        section[new_key] = section.pop(old_key)
        data[group] = section
        print(f"{what}: {old} is deprecated, read as {new}", file=sys.stderr)


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    if not path.expanduser().exists():
        raise BadInput(f"{what} {path}: no such file")
    try:
        data = load_yaml(read_text(path), _UniqueKeyLoader)
    except InputError as exc:
        raise BadInput(f"{what} {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{what} {path}: {yaml_error_text(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"{what} {path}: must be a mapping of fields, not {type(data).__name__}")
    return data


class _UniqueKeyLoader(FastSafeLoader):
    """The bounded safe loader, refusing a key given twice (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _alias_of(model: type[BaseModel], key: str) -> str:
    head, dot, rest = key.partition(".")
    field = model.model_fields.get(head)
    if field is not None and field.alias:
        head = field.alias
    return head + dot + rest


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    target = data
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = {}
            target[part] = child
        target = child
    target[last] = value


def _first_error(model: type[BaseModel], exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    message = _describe(model, errors[0])
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message


def _describe(model: type[BaseModel], error: ErrorDetails) -> str:
    location = _location(error["loc"])
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = _field_names(model, error["loc"][:-1])
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        message = "unknown field" + (f" (did you mean {close[0]}?)" if close else "")
    elif kind == "missing":
        message = "required"
    elif message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    # Model-level checks and the judge's groups name their field in the message themselves.
    if not location or message.startswith(f"{location}."):
        return message
    return f"{location}: {message}"


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = part
    return text


def _field_names(model: type[BaseModel], parents: tuple[int | str, ...]) -> list[str]:
    current: type[BaseModel] = model
    for part in parents:
        field = next(
            (f for name, f in current.model_fields.items() if part in (name, f.alias)), None
        )
        annotation = field.annotation if field is not None else None
        nested = [
            arg
            for arg in (annotation, *getattr(annotation, "__args__", ()))
            if isinstance(arg, type)
            and (issubclass(arg, BaseModel) or dataclasses.is_dataclass(arg))
        ]
        if not nested:
            return []
        if dataclasses.is_dataclass(nested[0]):
            return [f.name for f in dataclasses.fields(nested[0])]
        current = nested[0]
    return [f.alias or name for name, f in current.model_fields.items()]


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}s"
