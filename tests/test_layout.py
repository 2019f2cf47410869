"""The repository's shape: what each package exports, which files docs name, which way
imports point. Pure source reading (ast, tokenize); no process.

* Exported members (as encode/httpx tests/test_exported_members.py): a package that
  binds public names in its ``__init__`` lists exactly those in ``__all__``, and each one
  resolves; a package that binds none stays empty (its docstring says "import from the
  submodules").
* References: a path into this repository (under ``harness/``, ``docs/`` or another
  top-level folder) written in a Markdown file, a comment or a docstring names a file or
  folder that exists, and so does a bare Markdown file name.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("harness", "analysis", "locustfiles")


def _tracked_files() -> list[str]:
    """Files git knows or would add (tracked plus untracked, ignoring .gitignore'd ones)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


FILES = _tracked_files()


# ------------------------------------------------------------------ exported members


def _packages() -> list[Path]:
    return sorted(
        path
        for top in SOURCE_DIRS
        for path in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in path.parts
    )


def _package_name(init: Path) -> str:
    return ".".join(init.parent.relative_to(ROOT).parts)


def _bound_public_names(init: Path) -> tuple[set[str], list[str] | None]:
    """Public names an ``__init__`` defines or imports from its own package (also under
    ``if TYPE_CHECKING``, for lazily loaded ones), and its ``__all__`` (None if absent)."""
    package = _package_name(init)
    tree = ast.parse(init.read_text())
    names: set[str] = set()
    exported: list[str] | None = None

    def visit(body: list[ast.stmt]) -> None:
        nonlocal exported
        for node in body:
            if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports
                visit(node.body)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level or module == package or module.startswith(package + "."):
                    names.update(a.asname or a.name for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        if target.id == "__all__" and node.value is not None:
                            exported = list(ast.literal_eval(node.value))
                        else:
                            names.add(target.id)

    visit(tree.body)
    return {n for n in names if not n.startswith("_")}, exported


PACKAGES = _packages()


@pytest.mark.parametrize("init", PACKAGES, ids=_package_name)
def test_all_lists_exactly_the_public_members(init: Path) -> None:
    public, exported = _bound_public_names(init)
    package = _package_name(init)
    if not public:
        assert not exported, f"{package}.__all__ lists names its __init__ does not bind"
        return
    assert exported is not None, f"{package} binds {sorted(public)} but has no __all__"
    assert set(exported) == public, (
        f"{package}.__all__ differs from its public members: "
        f"missing {sorted(public - set(exported))}, extra {sorted(set(exported) - public)}"
    )


# Importing locustfiles monkey-patches this process with gevent: read it, never import it.
IMPORTABLE = [init for init in PACKAGES if not _package_name(init).startswith("locustfiles")]


@pytest.mark.parametrize("init", IMPORTABLE, ids=_package_name)
def test_every_exported_name_resolves(init: Path) -> None:
    module = importlib.import_module(_package_name(init))
    for name in getattr(module, "__all__", []):
        assert getattr(module, name, None) is not None, f"{module.__name__}.{name} is missing"


# ------------------------------------------------------------------ references to files

TOP_LEVEL = ("harness", "analysis", "tests", "docs", "benchmarks", "locustfiles", "examples", ".ci")
_TOPS = "|".join(re.escape(t) for t in TOP_LEVEL)
REPO_PATH = re.compile(r"(?<![\w./:@-])((?:" + _TOPS + r")/[\w./-]*\w)")
MD_NAME = re.compile(r"(?<![\w./:@-])([\w-]+\.md)\b")
# A path right after an upstream repository (``knative/client docs/cmd/...``) is theirs.
UPSTREAM = re.compile(r"\b(?:knative|kubernetes|locustio|prometheus|encode)/[\w.-]+\s*$")
# Files the harness writes (a report's `summary.md`), named in docs without a folder.
GENERATED = {"summary.md"}


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of a Markdown file, or of a Python file's comments and docstrings."""
    source = path.read_text()
    if path.suffix == ".md":
        yield 1, source
        return
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield node.body[0].lineno, doc


def _documents() -> list[str]:
    return [
        f
        for f in FILES
        if f.endswith((".md", ".py"))
        # Upstream material kept verbatim (fixtures, translated test corpora) is not ours.
        and not any(part in ("fixtures", "corpus") for part in Path(f).parts)
    ]


def broken_references(files: list[str]) -> list[str]:
    """``file:line: reference`` for every repo path or ``.md`` name that does not exist."""
    md_names = {Path(f).name for f in FILES if f.endswith(".md")} | GENERATED
    broken = []
    for name in files:
        for line, text in _texts(ROOT / name):
            for match in REPO_PATH.finditer(text):
                ref = match.group(1).rstrip(".")
                before = " ".join(text[max(0, match.start() - 80) : match.start()].split())
                if UPSTREAM.search(before + " "):
                    continue
                if not (ROOT / ref).exists():
                    at = line + text.count("\n", 0, match.start())
                    broken.append(f"{name}:{at}: {ref}")
            for match in MD_NAME.finditer(text):
                if match.group(1) not in md_names:
                    at = line + text.count("\n", 0, match.start())
                    broken.append(f"{name}:{at}: {match.group(1)}")
    return broken


def test_docs_and_comments_name_only_files_that_exist() -> None:
    broken = broken_references(_documents())
    assert not broken, "references to files not in the repository:\n" + "\n".join(broken)


def test_the_reference_check_finds_a_missing_file(tmp_path: Path) -> None:
    # The check itself: a doc naming a missing module or note fails, an upstream path not.
    doc = ROOT / "docs" / "contracts.md"
    assert broken_references([str(doc.relative_to(ROOT))]) == []
    fake = tmp_path / "note.py"
    fake.write_text(
        '"""See harness/canary/nothing.py and DESIGN.md; knative/client docs/cmd/x.md."""\n'
        "# docs/contracts.md is real, docs/missing.md is not\n"
    )
    found = broken_references([str(fake)])
    assert sorted(f.split(": ", 1)[1] for f in found) == [
        "DESIGN.md",
        "docs/missing.md",
        "harness/canary/nothing.py",
    ]


# ------------------------------------------------------------------ import layering

# Each unit (a package under harness/, or a top-level module) sits on a layer and imports
# only from lower layers, or from itself. Features never import each other; the Knative
# model, the store and the emulator never import a feature; `analysis/` is pure.
LAYERS: dict[str, int] = {
    "analysis": 0,
    "harness": 0,  # the package itself: __version__
    "harness.errors": 0,
    "harness.inputs": 1,
    "harness.printable": 1,
    "harness.redact": 1,
    "harness.statedir": 1,
    "harness.statuses": 1,
    "harness.knative": 2,
    "harness.store": 2,
    "harness.gitops": 3,
    "harness.local": 3,
    "harness.load": 3,
    "harness.metrics": 3,
    "harness.report": 3,
    "harness.config": 4,
    "harness.events": 4,  # CloudEvents load and delivery accounting (harness events)
    "harness.target": 4,
    "harness.autoscale": 5,
    "harness.canary": 5,
    "harness.gate": 5,
    "harness.perf": 5,
    "harness.commands": 6,
    "harness.cli": 7,
}
# Imports that run against the layers today (importing module or its unit, imported
# module), each with why it is left.
KNOWN_EXCEPTIONS = {
    # Type-only: the Pushgateway export of a canary's looks reads the controller's records.
    ("harness.metrics.run_status", "harness.canary.controller"),
    # The emulator's sample app (receiver mode) and revision process keep their delivery
    # log in harness/events/receiver.py; moving it beside the app would end this one.
    ("harness.local", "harness.events.receiver"),
}
# Import cycles that are known and accepted (none today).
KNOWN_CYCLES: list[set[str]] = []


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("analysis", "harness", "locustfiles"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _unit(module: str) -> str:
    """``harness.canary.run`` -> ``harness.canary``. The load generator and its Locust user
    classes are one unit."""
    if module.startswith("locustfiles"):
        return "harness.load"
    parts = module.split(".")
    return parts[0] if parts[0] != "harness" else ".".join(parts[:2])


def _imports(path: Path) -> set[str]:
    """Every project module ``path`` imports: at the top, under TYPE_CHECKING or inside a
    function (a lazy import is still a dependency)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


GRAPH = {module: _imports(path) - {module} for module, path in MODULES.items()}


def test_every_unit_has_a_layer() -> None:
    missing = sorted({_unit(m) for m in MODULES} - set(LAYERS))
    assert not missing, f"place these in LAYERS (tests/test_layout.py): {missing}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, imported in sorted(GRAPH.items()):
        unit = _unit(module)
        for target in sorted(imported):
            other = _unit(target)
            known = (module, target) in KNOWN_EXCEPTIONS or (unit, target) in KNOWN_EXCEPTIONS
            if other == unit or known:
                continue
            if LAYERS.get(other, 99) >= LAYERS.get(unit, -1):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_knative_model_does_not_import_the_emulator() -> None:
    for module, imported in GRAPH.items():
        if _unit(module) == "harness.knative":
            assert not {t for t in imported if _unit(t) == "harness.local"}, module


def _cycles() -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return groups


def test_no_two_modules_import_each_other() -> None:
    cycles = [sorted(c) for c in _cycles() if c not in KNOWN_CYCLES]
    assert not cycles, f"import cycles: {cycles}"


def test_contracts_give_the_default_rates_the_code_uses() -> None:
    from harness.config import DEFAULT_RATE
    from harness.perf.run import DEFAULT_PERF_RATE

    text = " ".join((ROOT / "docs" / "contracts.md").read_text().split())
    assert f"`DEFAULT_RATE` = {DEFAULT_RATE:g} req/s per arm" in text
    assert f"`harness.perf.run.DEFAULT_PERF_RATE` = {DEFAULT_PERF_RATE:g} req/s" in text


# Names defined twice that wait for their owners (issue 12 item 6): none left.
KNOWN_TWICE: frozenset[str] = frozenset()


def defined_twice(modules: dict[str, Path]) -> dict[str, list[str]]:
    """Class name -> the modules defining it, for names defined more than once. Every
    class counts: private ones and those nested in a function or another class."""
    where: dict[str, list[str]] = {}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(module)
    return {name: mods for name, mods in where.items() if len(mods) > 1}


def test_no_class_name_is_defined_twice() -> None:
    ours = {m: p for m, p in MODULES.items() if m.split(".")[0] in ("harness", "analysis")}
    twice = defined_twice(ours)
    unexpected = {name: mods for name, mods in twice.items() if name not in KNOWN_TWICE}
    assert not unexpected, f"class names defined more than once: {unexpected}"


def test_the_name_check_sees_private_and_nested_classes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("class _Cache:\n    pass\n")
    (tmp_path / "b.py").write_text(
        "def f():\n    class _Cache:\n        pass\nclass Outer:\n    class Inner:\n        pass\n"
    )
    (tmp_path / "c.py").write_text("class Inner:\n    pass\n")
    modules = {name: tmp_path / f"{name}.py" for name in ("a", "b", "c")}
    assert defined_twice(modules) == {"_Cache": ["a", "b"], "Inner": ["b", "c"]}


# ------------------------------------------------------------------ Knative API groups

API_GROUPS = ("serving.knative.dev", "eventing.knative.dev", "messaging.knative.dev")
# Where the groups are spelled: the constants, and the rules catalogue's prose (data).
GROUP_HOMES = {"harness/knative/model.py", "harness/knative/rules/catalogue.py"}


def spelled_api_groups(path: Path) -> list[int]:
    """Lines of ``path`` whose code (not a docstring) spells a Knative API group as a
    group or an apiVersion: ``"serving.knative.dev"``, ``".../v1"``, ``'{kind}.<group> "'``.
    Annotation keys (``serving.knative.dev/creator``) are data and pass."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in docstrings:
            continue
        text = node.value
        if text in API_GROUPS or any(
            f"{group}/v1" in text or text.startswith(f".{group}") or f".{group} " in text
            for group in API_GROUPS
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_knative_api_groups_are_spelled_once() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for module, path in MODULES.items()
        if module.split(".")[0] in ("harness", "analysis")
        and str(path.relative_to(ROOT)) not in GROUP_HOMES
        for line in spelled_api_groups(path)
    ]
    assert not found, "use harness.knative.model's SERVING_GROUP etc.:\n" + "\n".join(found)


def test_the_group_check_finds_a_spelled_group(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        '"""Reads serving.knative.dev/v1 Services."""\n'
        'A = "serving.knative.dev/v1"\n'
        "B = f'{r}.eventing.knative.dev \"{n}\" not found'\n"
        'C = "serving.knative.dev/creator"\n'
        'D = "eventing.knative.dev"\n'
    )
    assert spelled_api_groups(source) == [2, 3, 5]
