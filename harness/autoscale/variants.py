"""A Service's autoscaling knobs as the baseline, and the variants a what-if compares.

`ServiceKnobs` is what the KPA reads of a Service: its template's annotations and
``containerConcurrency`` (from a manifest, the cluster, or the emulator). ``--set
KEY=VALUE`` changes the baseline (and so every variant); ``--variant
NAME:KEY=VALUE,...`` adds a variant that changes some knobs of the baseline. KEY is an
annotation, with or without ``autoscaling.knative.dev/`` (``target``,
``min-scale``...), or ``containerConcurrency``. A changed Service is checked with
Knative's annotation validation, so a variant Knative would refuse is refused here.
Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import BadInput
from harness.knative import autoscaling as annotations_
from harness.knative.autoscaling import validate_autoscaling_annotations
from harness.knative.cluster import ClusterConfig
from harness.knative.kpa_settings import CONFIG_KEYS, AutoscalerConfig, ScalingSettings

BASELINE = "baseline"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?")
_CC_KEYS = ("containerConcurrency", "container-concurrency")
MAX_VARIANTS = 16


@dataclass(frozen=True)
class ServiceKnobs:
    """What the KPA reads of a Service (``where`` names it for messages)."""

    where: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    container_concurrency: int = 0

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], where: str) -> ServiceKnobs:
        """From a ``serving.knative.dev/v1`` Service (manifest or API object)."""
        spec = _mapping(obj.get("spec"))
        template = _mapping(spec.get("template"))
        meta = _mapping(template.get("metadata"))
        anns = _mapping(meta.get("annotations"))
        tspec = _mapping(template.get("spec"))
        cc = tspec.get("containerConcurrency", 0)
        if not isinstance(cc, int) or isinstance(cc, bool) or cc < 0:
            raise BadInput(f"{where}: containerConcurrency must be a non-negative integer")
        return cls(
            where=where,
            annotations={str(k): str(v) for k, v in anns.items() if isinstance(v, str)},
            container_concurrency=cc,
        )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Variant:
    """A named set of knobs and the KPA settings they resolve to."""

    name: str
    knobs: ServiceKnobs
    settings: ScalingSettings
    changes: Mapping[str, str]


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """``KEY=VALUE,KEY=VALUE`` (values may not contain commas)."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInput(f"{what}: {item!r} is not KEY=VALUE")
        pairs[key] = value.strip()
    return pairs


def annotation_key(key: str, what: str) -> str:
    """The annotation ``key`` names: ``target`` -> ``autoscaling.knative.dev/target``."""
    full = key if "/" in key else f"{annotations_.GROUP}/{key}"
    if full not in annotations_.SPELLINGS and not any(
        full in spellings for spellings in annotations_.SPELLINGS.values()
    ):
        known = ", ".join(k.split("/", 1)[1] for k in annotations_.SPELLINGS)
        raise BadInput(
            f"{what}: unknown knob {key!r} (an autoscaling annotation: {known}; or "
            "containerConcurrency)"
        )
    return full


def apply_changes(knobs: ServiceKnobs, changes: Mapping[str, str], what: str) -> ServiceKnobs:
    """``knobs`` with ``changes`` (annotation or containerConcurrency) applied; an
    annotation's other spellings are dropped so the new value is the one Knative reads."""
    annotations = dict(knobs.annotations)
    cc = knobs.container_concurrency
    for key, value in changes.items():
        if key in _CC_KEYS:
            try:
                cc = int(value)
            except ValueError:
                raise BadInput(
                    f"{what}: containerConcurrency={value!r} is not an integer"
                ) from None
            if not 0 <= cc <= 1000:
                raise BadInput(f"{what}: containerConcurrency must be between 0 and 1000")
            continue
        full = annotation_key(key, what)
        canonical = next(
            (c for c, spellings in annotations_.SPELLINGS.items() if full in spellings), full
        )
        for spelling in annotations_.SPELLINGS.get(canonical, (canonical,)):
            annotations.pop(spelling, None)
        if value != "":
            annotations[canonical] = value
    return dataclasses.replace(knobs, annotations=annotations, container_concurrency=cc)


def cluster_config(pairs: Sequence[str]) -> AutoscalerConfig:
    """``--config KEY=VALUE`` pairs as config-autoscaler; BadInput for what Knative refuses."""
    data: dict[str, str] = {}
    for text in pairs:
        for key, value in parse_pairs(text, f"--config {text!r}").items():
            if key not in CONFIG_KEYS:
                raise BadInput(
                    f"--config {key}: not a config-autoscaler key (use one of "
                    f"{', '.join(sorted(CONFIG_KEYS))})"
                )
            data[key] = value
    try:
        return AutoscalerConfig.from_map(data)
    except ValueError as exc:
        raise BadInput(f"--config: {exc}") from None


def resolve(
    name: str, knobs: ServiceKnobs, changes: Mapping[str, str], config: AutoscalerConfig
) -> Variant:
    """The variant ``name``: validated as Knative's webhook would, then resolved."""
    what = f"variant {name}"
    changed = apply_changes(knobs, changes, what)
    cluster = ClusterConfig(
        allow_zero_initial_scale=config.allow_zero_initial_scale,
        pod_autoscaler_class=config.pod_autoscaler_class,
        max_scale_limit=config.max_scale_limit,
    )
    errors = validate_autoscaling_annotations(changed.annotations, cluster)
    if errors:
        first = errors[0]
        raise BadInput(f"{what} ({knobs.where}): {', '.join(first.paths)}: {first.message}")
    settings = ScalingSettings.from_revision(
        changed.annotations, changed.container_concurrency, config
    )
    if settings is None:
        raise BadInput(f"{what}: uses the HPA autoscaler class, which the KPA model does not cover")
    return Variant(name, changed, settings, dict(changes))


def build_variants(
    knobs: ServiceKnobs,
    sets: Sequence[str],
    variants: Sequence[str],
    config: AutoscalerConfig,
) -> list[Variant]:
    """The baseline (the Service with ``--set`` applied) and each ``--variant``."""
    base_changes: dict[str, str] = {}
    for text in sets:
        base_changes.update(parse_pairs(text, f"--set {text!r}"))
    baseline = resolve(BASELINE, knobs, base_changes, config)
    out = [baseline]
    if len(variants) > MAX_VARIANTS:
        raise BadInput(f"--variant: at most {MAX_VARIANTS} variants")
    for text in variants:
        name, sep, rest = text.partition(":")
        if not sep or not rest.strip():
            raise BadInput(f"--variant {text!r}: use NAME:KEY=VALUE,...")
        if not _NAME.fullmatch(name) or name == BASELINE:
            raise BadInput(
                f"--variant {text!r}: name {name!r} must be lower case letters, digits and "
                f"'-' (at most 32), not {BASELINE!r}"
            )
        if any(v.name == name for v in out):
            raise BadInput(f"--variant {text!r}: name {name!r} is used twice")
        changes = parse_pairs(rest, f"--variant {text!r}")
        out.append(resolve(name, baseline.knobs, changes, config))
    return out
