"""Report files on disk: a run's folder, its four files written atomically, the index."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from harness.errors import BadInput
from harness.report.html import IndexEntry, render_index_html, render_report_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.model import ReportData

DEFAULT_REPORTS_ROOT = Path("reports")
REPORT_FILES = {
    "html": "report.html",
    "json": "report.json",
    "junit": "junit.xml",
    "markdown": "summary.md",
}
INDEX_FILE = "index.html"


def report_dir_for(run_id: str, root: Path = DEFAULT_REPORTS_ROOT) -> Path:
    """``root/<run_id>``: the default folder of a run's report. BadInput for an unsafe id."""
    if not run_id or run_id.startswith(".") or "/" in run_id or "\\" in run_id:
        raise BadInput(f"{run_id!r} cannot name a report folder")
    return root / run_id


def write_report(data: ReportData, out_dir: Path) -> dict[str, Path]:
    """Write the four report files into ``out_dir`` (created if needed).

    Returns their paths by kind (``html``, ``json``, ``junit``, ``markdown``). Raises
    BadInput when the folder cannot be created or written.
    """
    contents = {
        "html": render_report_html(data),
        "json": json.dumps(data.to_dict(), indent=2, allow_nan=False) + "\n",
        "junit": render_junit(data),
        "markdown": render_markdown(data, REPORT_FILES["html"]),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"report folder {out_dir}: {exc.strerror}") from None
    paths = {}
    for kind, text in contents.items():
        paths[kind] = out_dir / REPORT_FILES[kind]
        _write_atomic(paths[kind], text)
    return paths


def update_index(root: Path = DEFAULT_REPORTS_ROOT) -> Path:
    """Write ``root/index.html`` listing every ``root/*/report.json``, newest first.

    A folder whose report.json cannot be read is listed as ``unreadable`` rather than
    hidden. Returns the index path.
    """
    entries = []
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        path = folder / REPORT_FILES["json"]
        if path.is_file():
            entries.append(_index_entry(folder.name, path))
    entries.sort(key=lambda e: (e.started or 0.0, e.name), reverse=True)
    index = root / INDEX_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"report folder {root}: {exc.strerror}") from None
    _write_atomic(index, render_index_html(entries))
    return index


def _index_entry(name: str, path: Path) -> IndexEntry:
    href = quote(name) + "/" + REPORT_FILES["html"]
    try:
        data = ReportData.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return IndexEntry(name, href, name, "?", "?", "", None, "unreadable", "", None)
    revisions = " → ".join(r for r in (data.baseline, data.candidate) if r)
    return IndexEntry(
        name=name,
        href=href,
        run_id=data.run_id,
        kind=data.kind,
        service=f"{data.namespace}/{data.service}",
        revisions=revisions,
        label=data.label,
        status=data.status,
        decision=data.decision,
        started=data.started,
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None
