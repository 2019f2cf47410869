"""Agreement of our validation with Knative's own unit tests, per Go test file.

Runs every case of ``tests/knative/corpus/*.yaml`` (translated from knative/serving's
validation test tables) through ``validate_object`` and prints, per file, how many
cases were translated, how many verdicts agree (accept/reject) and how many agree on
the exact message and field paths too. Works against an older tree as well (``--corpus``
points at the corpus, the importable ``harness`` is whichever is on ``PYTHONPATH``), so
before/after numbers come from the same corpus:

    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/knative_validation_agreement.py \\
        --corpus tests/knative/corpus

Update cases (``old``: the stored object) and ``SetUserInfo`` cases (``user``,
``want_annotations``) count too, and are totalled on a line of their own.

Run: ``.venv/bin/python benchmarks/knative_validation_agreement.py``
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from harness.knative.cluster import ClusterConfig
from harness.knative.field_error import FieldError, format_errors
from harness.knative.validation import validate_object

CORPUS = Path(__file__).parents[1] / "tests" / "knative" / "corpus"


def _config(features: dict[str, str], settings: dict[str, Any]) -> ClusterConfig:
    try:
        from harness.knative.features import Features
    except ImportError:  # a tree from before config-features: defaults only
        return ClusterConfig(**settings)
    return ClusterConfig(features=Features.from_map(features), **settings)


def _validate(raw: dict[str, Any], config: ClusterConfig) -> list[FieldError]:
    manifest = raw["manifest"]
    try:
        if "old" in raw:
            return validate_object(
                manifest,
                config,
                defaults=False,
                old=raw["old"],
                subresource=raw.get("subresource", ""),
            )
        return validate_object(manifest, config, defaults=False)
    except TypeError:  # a tree without update validation (a create) or the defaults switch
        try:
            return validate_object(manifest, config, defaults=False)
        except TypeError:
            return validate_object(manifest, config)


def _user_annotations(raw: dict[str, Any]) -> bool:
    """A SetUserInfo case: the annotations after Knative's SetUserInfo are the wanted ones
    (a tree without harness.knative.user_info leaves them as written)."""
    import copy

    obj = copy.deepcopy(raw["manifest"])
    try:
        from harness.knative.user_info import set_user_info
    except ImportError:
        pass
    else:
        set_user_info(obj, raw.get("old"), raw["user"])
    return bool(obj["metadata"].get("annotations") == raw["want_annotations"])


def _in_scope(error: FieldError, scope: str) -> bool:
    if not error.paths or not scope:
        return True
    scopes = (scope, scope.rsplit("[", 1)[0] + "[*]") if scope.endswith("]") else (scope,)
    return any(p == s or p.startswith((f"{s}.", f"{s}[")) for p in error.paths for s in scopes)


def judge(raw: dict[str, Any]) -> tuple[bool, bool]:
    """(verdict agrees, verdict and text agree) for one translated case."""
    if "want_annotations" in raw:
        agrees = _user_annotations(raw)
        return agrees, agrees
    level = raw.get("level", "error")
    config = _config(raw.get("features") or {}, raw.get("config") or {})
    found = _validate(raw, config)
    scoped = [e for e in found if level in ("all", e.level) and _in_scope(e, raw["scope"])]
    verdict = (not scoped) == bool(raw["valid"])
    want = raw.get("errors")
    return verdict, verdict and (want is None or format_errors(scoped) == want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    print(f"{'file':40} {'cases':>6} {'transl.':>8} {'verdict':>8} {'message':>8}")
    totals: Counter[str] = Counter()
    updates: Counter[str] = Counter()
    for path in sorted(args.corpus.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        counts: Counter[str] = Counter()
        for raw in doc["cases"]:
            counts["cases"] += 1
            if raw.get("skip"):
                continue
            counts["translated"] += 1
            try:
                verdict, text = judge(raw)
            except Exception:  # an older tree may crash on a case: it does not agree
                verdict, text = False, False
            counts["verdict"] += verdict
            counts["text"] += text
            if "old" in raw or "user" in raw:
                updates.update(translated=1, verdict=verdict, text=text)
        totals.update(counts)
        print(
            f"{path.stem:40} {counts['cases']:>6} {counts['translated']:>8} "
            f"{counts['verdict']:>8} {counts['text']:>8}"
        )
    print(
        f"{'total':40} {totals['cases']:>6} {totals['translated']:>8} "
        f"{totals['verdict']:>8} {totals['text']:>8}"
    )
    print(
        f"{'of which updates and user info':40} {'':>6} {updates['translated']:>8} "
        f"{updates['verdict']:>8} {updates['text']:>8}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
