"""Our hand-written code against the library that does the same, side by side in one process.

Issue 12 item 9 asks whether two pieces of hand-written code should give way to a library:

- JSON Patch (RFC 6902) in ``harness/knative/patches.py`` against ``jsonpatch``:
  conformance (tests/local_api/json_patch_cases.py, and the public json-patch-tests suite's
  files when ``--suite DIR`` holds its tests.json/spec_tests.json), time to apply 10,000
  patches to a Knative Service, import time, install size, lines of code.
- The SVG charts in ``harness/report/svg.py`` against matplotlib's SVG backend: the same
  `line_chart` interface drawn with matplotlib (below, `mpl_line_chart`), time to render the
  plots of the sample canary, gate and perf reports (tests/report/samples.py), the bytes of
  their report.html, import time, install size, lines; ``--screenshots DIR`` renders both
  versions of each report to PNG with headless Chromium to compare the look.

The libraries are not dependencies of the project; install them somewhere apart and put
that folder on PYTHONPATH, e.g.

    .venv/bin/pip install --target /tmp/libchoices jsonpatch matplotlib
    PYTHONPATH=/tmp/libchoices .venv/bin/python benchmarks/library_choices.py \\
        [--suite path/to/json-patch-tests] [--screenshots /tmp/shots]

A side whose library is missing is reported as such and skipped.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata as metadata
import io
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.knative.patches import PatchError, json_patch  # noqa: E402
from harness.report import plots as report_plots_module  # noqa: E402
from harness.report import write_report  # noqa: E402
from harness.report.model import ReportData  # noqa: E402
from harness.report.svg import HEIGHT, PALETTE, WIDTH, Series, line_chart  # noqa: E402
from tests.local_api.json_patch_cases import CASES, ERROR  # noqa: E402
from tests.report.samples import canary_report, gate_report  # noqa: E402


# ----------------------------------------------------------------- shared measures
def code_lines(path: Path) -> int:
    """Lines that are neither blank nor only a comment."""
    return sum(
        1
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    )


def import_ms(
    statement: str, before: str = "pass", module: str | None = None, repeat: int = 5
) -> float:
    """What ``statement`` adds to a process that already ran ``before``: the median over
    fresh interpreters of its top-level entries' cumulative time in ``-X importtime``
    (only ``module``'s entry, wherever it nests, when given)."""

    def run() -> float:
        code = f"{before}\nimport sys\nsys.stderr.write('@@mark\\n')\n{statement}"
        log = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stderr
        after = log[log.index("@@mark") :].splitlines()[1:]
        total = 0
        for line in after:
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
            if match is None:
                continue
            top_level = module is None and len(match.group(2)) == 1  # no indent
            if top_level or match.group(3) == module:
                total += int(match.group(1))
        return total / 1000

    return sorted(run() for _ in range(repeat))[repeat // 2]


def install_bytes(distribution: str, already: set[str]) -> tuple[int, list[str]]:
    """Bytes on disk of ``distribution`` and of every requirement not in ``already``."""
    seen: set[str] = set()
    todo = [distribution]
    total = 0
    while todo:
        name = _canonical(todo.pop())
        if name in seen or name in already:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            located = Path(str(dist.locate_file(file)))
            if located.is_file():
                total += located.stat().st_size
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return total, sorted(seen)


def project_requirements() -> set[str]:
    """Every distribution the project installs already (its requirements, transitively)."""
    deps = re.findall(r'^\s*"([A-Za-z0-9_.\-]+)', (ROOT / "pyproject.toml").read_text(), re.M)
    seen: set[str] = set()
    todo = list(deps)
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        todo += [
            re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r
        ]
    return seen


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def best_of(function: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time in seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


# ----------------------------------------------------------------- JSON Patch
SERVICE: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {
        "name": "hello",
        "namespace": "default",
        "labels": {"app": "hello"},
        "annotations": {"serving.knative.dev/creator": "admin"},
    },
    "spec": {
        "template": {
            "metadata": {"name": "hello-00002"},
            "spec": {
                "containers": [
                    {
                        "image": "ghcr.io/example/hello:2",
                        "env": [{"name": f"K{i}", "value": str(i)} for i in range(10)],
                    }
                ]
            },
        },
        "traffic": [
            {"revisionName": "hello-00001", "percent": 90},
            {"revisionName": "hello-00002", "percent": 10},
        ],
    },
    "status": {"conditions": [{"type": t, "status": "True"} for t in ("Ready", "RoutesReady")]},
}
# A canary step as `kubectl patch --type=json` sends it.
STEP_PATCH = [
    {"op": "test", "path": "/spec/traffic/0/percent", "value": 90},
    {"op": "replace", "path": "/spec/traffic/0/percent", "value": 80},
    {"op": "replace", "path": "/spec/traffic/1/percent", "value": 20},
    {"op": "add", "path": "/metadata/annotations/step", "value": "2"},
    {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "X"}},
    {"op": "remove", "path": "/spec/template/spec/containers/0/env/0"},
]


def _suite_cases(folder: Path | None) -> list[tuple[str, Any, Any, Any]]:
    """json-patch-tests' cases (skipping the ones it marks disabled), as our case tuples."""
    if folder is None:
        return []
    cases = []
    for name in ("tests.json", "spec_tests.json"):
        for index, case in enumerate(json.loads((folder / name).read_text())):
            if case.get("disabled"):
                continue
            expected = ERROR if "error" in case else case.get("expected", case["doc"])
            label = f"{name}#{index} {case.get('comment', '')}"
            cases.append((label, case["doc"], case["patch"], expected))
    return cases


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    kind = "number" if isinstance(value, int | float) and not isinstance(value, bool) else None
    return (kind or type(value).__name__, value)


def conformance(
    apply: Callable[[Any, Any], Any], errors: tuple[type[Exception], ...], cases: list[Any]
) -> list[str]:
    """Names of the cases ``apply`` gets wrong (a crash with another exception is wrong too)."""
    failed = []
    for name, doc, patch, expected in cases:
        try:
            result = apply(copy.deepcopy(doc), copy.deepcopy(patch))
        except errors:
            if expected != ERROR:
                failed.append(name)
            continue
        except Exception:
            failed.append(name)
            continue
        if expected == ERROR or _typed(result) != _typed(expected):
            failed.append(name)
    return failed


def bench_json_patch(suite: Path | None, project: set[str]) -> dict[str, Any]:
    results: dict[str, Any] = {"ours": {}, "jsonpatch": {}}
    cases = list(CASES)
    upstream = _suite_cases(suite)
    ours = results["ours"]
    ours["lines"] = code_lines(ROOT / "harness/knative/patches.py")
    ours["failed_cases"] = conformance(json_patch, (PatchError,), cases)
    if upstream:
        ours["failed_suite"] = conformance(json_patch, (PatchError,), upstream)
    ours["apply_10k_s"] = best_of(lambda: [json_patch(SERVICE, STEP_PATCH) for _ in range(10_000)])
    # What each adds to the emulator's API module, which imports it.
    ours["import_ms"] = import_ms("import harness.knative.patches", before="import harness.knative")
    try:
        import jsonpatch
        import jsonpointer
    except ImportError as exc:
        results["jsonpatch"] = {"missing": str(exc)}
        return results
    library = results["jsonpatch"]
    library["version"] = jsonpatch.__version__
    errors = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException)
    library["failed_cases"] = conformance(jsonpatch.apply_patch, errors, cases)
    if upstream:
        library["failed_suite"] = conformance(jsonpatch.apply_patch, errors, upstream)
    library["apply_10k_s"] = best_of(
        lambda: [jsonpatch.apply_patch(SERVICE, STEP_PATCH) for _ in range(10_000)]
    )
    library["import_ms"] = import_ms("import jsonpatch", before="import harness.knative")
    library["install_bytes"], library["installs"] = install_bytes("jsonpatch", project)
    # A switch keeps a wrapper: PatchError for the API's 400/422 and the list check.
    library["lines"] = 12
    return results


# ----------------------------------------------------------------- SVG charts
def mpl_line_chart(
    series: Sequence[Series],
    *,
    plot_id: str,
    title: str,
    x_label: str,
    y_label: str,
    log_x: bool = False,
    log_y: bool = False,
    y_low: float | None = None,
    y_high: float | None = None,
    hlines: Sequence[tuple[float, str]] = (),
    x_tick_labels: Sequence[tuple[float, str]] | None = None,
    spans: Sequence[tuple[float, float]] = (),
    span_label: str = "",
) -> Markup:
    """`svg.line_chart`'s interface drawn by matplotlib's SVG backend (no per-point tooltips:
    the backend writes no ``<title>`` per element)."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    style = {
        "svg.fonttype": "none",  # text stays text (paths would be far bigger)
        "svg.hashsalt": plot_id,  # stable ids, distinct per chart within one page
        "font.size": 8,
        "font.family": "sans-serif",
    }
    import matplotlib

    with matplotlib.rc_context(style):
        figure = Figure(figsize=(WIDTH / 96, HEIGHT / 96))  # CSS px are 1/96 in
        FigureCanvasSVG(figure)
        axes = figure.add_subplot()
        axes.set_title(title, loc="left", fontsize=10, fontweight="bold", pad=16)
        drawn = False
        for index, line in enumerate(series):
            points = sorted(
                (x, y)
                for x, y in line.points
                if x is not None
                and y is not None
                and math.isfinite(x)
                and math.isfinite(y)
                and (x > 0 or not log_x)
            )
            if log_y and y_low is not None:
                points = [(x, max(y, y_low)) for x, y in points]
            color = PALETTE[(index if line.color is None else line.color) % len(PALETTE)]
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            marker = "o" if line.markers and len(points) <= 120 else None
            kind = axes.step if line.step else axes.plot
            options: dict[str, Any] = {"where": "post"} if line.step else {}
            kind(
                xs,
                ys,
                color=color,
                linestyle="--" if line.dashed else "-",
                marker=marker,
                markersize=3,
                label=line.name,
                **options,
            )
            drawn = drawn or bool(points)
        if not drawn:
            axes.clear()
            axes.set_axis_off()
            axes.text(0.5, 0.5, "no data", ha="center", transform=axes.transAxes)
        else:
            for start, end in spans:
                if not log_x:
                    axes.axvspan(start, end, color=PALETTE[3], alpha=0.18, lw=0)
            if spans and span_label:
                axes.axvspan(0, 0, color=PALETTE[3], alpha=0.18, lw=0, label=span_label)
            for value, label in hlines:
                axes.axhline(value, color="#b3261e", linestyle=(0, (6, 4)), lw=1)
                axes.annotate(
                    label,
                    (1, value),
                    xycoords=("axes fraction", "data"),
                    ha="right",
                    va="bottom",
                    color="#b3261e",
                )
            axes.set_xscale("log" if log_x else "linear")
            axes.set_yscale("log" if log_y else "linear")
            axes.set_ylim(bottom=y_low, top=y_high)
            if x_tick_labels is not None:
                stride = max(1, math.ceil(len(x_tick_labels) / 8))
                shown = list(x_tick_labels)[::stride]
                axes.set_xticks([x for x, _ in shown], [label for _, label in shown])
            axes.set_xlabel(x_label)
            axes.set_ylabel(y_label)
            axes.grid(color="#eef1f4")
            axes.legend(
                loc="lower left", bbox_to_anchor=(0, 1), ncols=4, frameon=False, borderpad=0.1
            )
        figure.tight_layout()
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = svg.replace(
        "<svg ",
        f'<svg class="plot" data-plot="{escape(plot_id)}" role="img" aria-label="{escape(title)}" ',
        1,
    )
    return Markup(svg)


@contextmanager
def charts_drawn_by(chart: Callable[..., Markup]) -> Iterator[None]:
    """The report's plots drawn by ``chart`` instead of `svg.line_chart` for a while."""
    original = report_plots_module.line_chart
    report_plots_module.line_chart = chart
    try:
        yield
    finally:
        report_plots_module.line_chart = original


def perf_report() -> ReportData:
    """The sample gate report as a perf run with two minutes of autoscaler series."""
    steps = range(0, 120, 2)
    series = {
        "desired_pods": [(t, 1 + (t > 30) + 2 * (40 <= t < 70)) for t in steps],
        "actual_pods": [(t, 1 + (t > 36) + 2 * (46 <= t < 80)) for t in steps],
        "stable_concurrency": [(t, 0.8 + 0.02 * t if t < 70 else 1.2) for t in steps],
        "panic_concurrency": [(t, 3.5 if 40 <= t < 60 else 1.0) for t in steps],
        "target_concurrency": [(t, 1.4) for t in steps],
        "panic_mode": [(t, 1.0 if 40 <= t < 60 else 0.0) for t in steps],
    }
    return replace(
        gate_report(),
        kind="perf",
        trend=[],
        autoscaler={"hello-00001": {"series": series, "step_s": 2.0}},
    )


SAMPLES: dict[str, Callable[[], ReportData]] = {
    "canary": canary_report,
    "gate": gate_report,
    "perf": perf_report,
}


def bench_svg(project: set[str], screenshots: Path | None) -> dict[str, Any]:
    results: dict[str, Any] = {"ours": {}, "matplotlib": {}}
    reports = {name: make() for name, make in SAMPLES.items()}
    sides: list[tuple[str, Callable[..., Markup]]] = [("ours", line_chart)]
    try:
        import matplotlib

        results["matplotlib"]["version"] = matplotlib.__version__
        sides.append(("matplotlib", mpl_line_chart))
    except ImportError as exc:
        results["matplotlib"] = {"missing": str(exc)}
    for side, chart in sides:
        entry = results[side]
        with charts_drawn_by(chart), tempfile.TemporaryDirectory() as tmp:
            for name, data in reports.items():
                report_plots_module.report_plots(data)  # warm up (fonts, caches)
                count = len(report_plots_module.report_plots(data))
                seconds = best_of(partial(report_plots_module.report_plots, data))
                html = write_report(data, Path(tmp) / name)["html"]
                entry[f"{name}_plots"] = count
                entry[f"{name}_render_ms"] = 1000 * seconds
                entry[f"{name}_html_bytes"] = html.stat().st_size
                if screenshots is not None:
                    entry[f"{name}_png"] = str(_screenshot(html, screenshots / f"{name}-{side}"))
    results["ours"]["lines"] = code_lines(ROOT / "harness/report/svg.py")
    # What each adds to the report package (jinja2, analysis...) that imports it.
    results["ours"]["import_ms"] = import_ms(
        "import harness.report", before="import jinja2", module="harness.report.svg"
    )
    if "version" in results["matplotlib"]:
        library = results["matplotlib"]
        source = Path(__file__).read_text()
        start = source.index("def mpl_line_chart")
        library["lines"] = sum(
            1
            for line in source[start : source.index("@contextmanager", start)].splitlines()
            if line.strip() and not line.strip().startswith("#")
        )
        library["import_ms"] = import_ms(
            "import matplotlib.figure, matplotlib.backends.backend_svg",
            before="import harness.report",
        )
        library["install_bytes"], library["installs"] = install_bytes("matplotlib", project)
    return results


def _screenshot(html: Path, stem: Path) -> Path | str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return "no chromium"
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_suffix(".png")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--window-size=1000,4000",
                f"--screenshot={png}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png


# ----------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, help="a json-patch-tests checkout")
    parser.add_argument("--screenshots", type=Path, help="folder for PNGs of the reports")
    parser.add_argument("--only", choices=("patch", "svg"), help="run one half")
    args = parser.parse_args(argv)
    if args.suite is not None and not (args.suite / "tests.json").is_file():
        print(f"--suite: no tests.json in {args.suite}", file=sys.stderr)
        return 2
    project = project_requirements()
    results = {}
    if args.only in (None, "patch"):
        results["json_patch"] = bench_json_patch(args.suite, project)
    if args.only in (None, "svg"):
        results["svg"] = bench_svg(project, args.screenshots)
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
