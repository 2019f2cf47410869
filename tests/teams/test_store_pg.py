"""The PostgreSQL store against a real server (Debian's postgresql, initdb + pg_ctl in a
temporary folder): the safety rules and the check on open (foreign, newer and tampered
schemas refused untouched), concurrent initialisation, `harness store migrate`, and two
`harness perf --save` jobs and a `harness gate` sharing one database. The store contract
itself runs on both backends in tests/store/test_store.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import BadInput, HarnessError, Unavailable
from harness.store import PerfResult, PostgresStore, SqliteStore, Store, open_store
from tests.canary.conftest import (
    ROLLBACK_PACE,
    add_revision,
    harness_env,
    run_canary,
    run_harness,
    spec_traffic,
)
from tests.conftest import RunningEmulator
from tests.store.test_store import HIST
from tests.teams.pg import fresh_database, postgres_server
from tests.teams.servers import pushgateway

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 (pyproject) drives PostgreSQL")

from harness.store.postgres import SCHEMA, SCHEMA_VERSION  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


# ------------------------------------------------------------------ never rewrite others'
def _tables(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_a_database_of_another_application_is_refused_and_untouched(server: str) -> None:
    url = fresh_database(server)
    with psycopg.connect(url) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total NUMERIC)")
        db.execute("INSERT INTO orders VALUES (1, 9.5)")
    before = _tables(url)
    with pytest.raises(BadInput, match="not a harness store; nothing was changed"):
        PostgresStore(url)
    assert _tables(url) == before == [("public", "orders")]


def test_a_foreign_schema_of_our_name_is_refused(server: str) -> None:
    url = fresh_database(server)
    with psycopg.connect(url) as db:
        db.execute(f"CREATE SCHEMA {SCHEMA}")
        db.execute(f"CREATE TABLE {SCHEMA}.runs (id TEXT)")
    with pytest.raises(BadInput, match="not made by the harness"):
        PostgresStore(url)
    assert _tables(url) == [(SCHEMA, "runs")]


def test_a_newer_schema_is_refused_and_untouched(server: str) -> None:
    url = fresh_database(server)
    PostgresStore(url).close()
    with psycopg.connect(url) as db:
        db.execute(f"UPDATE {SCHEMA}.meta SET version = %s", (SCHEMA_VERSION + 1,))
    before = _tables(url)
    with pytest.raises(BadInput, match="newer harness"):
        PostgresStore(url)
    assert _tables(url) == before


def test_an_empty_database_gets_the_versioned_schema(server: str) -> None:
    url = fresh_database(server)
    PostgresStore(url).close()
    with psycopg.connect(url) as db:
        version = db.execute(f"SELECT application, version FROM {SCHEMA}.meta").fetchall()
    assert version == [("knative-harness", SCHEMA_VERSION)]
    assert {name for _, name in _tables(url)} == {
        "meta",
        "runs",
        "looks",
        "actions",
        "perf_results",
    }


def _snapshot(url: str) -> list[Any]:
    """Our schema's columns, types and constraints, the meta row and the run ids."""
    with psycopg.connect(url) as db:
        return [
            db.execute(query, params).fetchall()
            for query, params in (
                (
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s ORDER BY 1, 2",
                    (SCHEMA,),
                ),
                (
                    "SELECT table_name, constraint_name, constraint_type "
                    "FROM information_schema.table_constraints WHERE table_schema = %s "
                    "ORDER BY 1, 2",
                    (SCHEMA,),
                ),
                (f"SELECT application, version, updated FROM {SCHEMA}.meta", ()),
                (f"SELECT id, status FROM {SCHEMA}.runs ORDER BY id", ()),
            )
        ]


# Each way of tampering with our schema, and what the refusal names.
TAMPERED = [
    pytest.param(
        f"ALTER TABLE {SCHEMA}.looks DROP COLUMN arms",
        "column looks.arms is missing",
        id="dropped-column",
    ),
    pytest.param(
        f"ALTER TABLE {SCHEMA}.runs ALTER COLUMN started TYPE text",
        "column runs.started is text, not double precision",
        id="changed-type",
    ),
    pytest.param(
        f"ALTER TABLE {SCHEMA}.actions DROP CONSTRAINT actions_pkey",
        r"table actions lacks its primary key \(run_id, seq\)",
        id="dropped-key",
    ),
    pytest.param(
        f"DROP TABLE {SCHEMA}.perf_results", "table perf_results is missing", id="dropped-table"
    ),
    pytest.param(
        f"ALTER TABLE {SCHEMA}.runs ADD COLUMN owner TEXT",
        "column runs.owner is not the harness's",
        id="foreign-column",
    ),
    pytest.param(
        f"UPDATE {SCHEMA}.meta SET version = 0", "unknown schema version 0", id="version-zero"
    ),
]


@pytest.mark.parametrize(("tamper", "named"), TAMPERED)
def test_a_tampered_schema_is_refused_and_untouched(server: str, tamper: str, named: str) -> None:
    url = fresh_database(server)
    with PostgresStore(url) as store:
        run = store.create_run("perf", "default", "hello", label="nightly")
    with psycopg.connect(url) as db:
        db.execute(tamper)
    before = _snapshot(url)
    with pytest.raises(BadInput, match=named) as refused:
        PostgresStore(url)
    assert "\n" not in refused.value.message and "nothing was changed" in refused.value.message
    assert refused.value.exit_code == 2
    assert _snapshot(url) == before
    assert [row[0] for row in before[3]] == [run.id]


def test_the_cli_refuses_a_tampered_schema_in_one_line_exit_2(server: str) -> None:
    url = fresh_database(server)
    PostgresStore(url).close()
    with psycopg.connect(url) as db:
        db.execute(f"ALTER TABLE {SCHEMA}.looks DROP COLUMN verdict")
    before = _snapshot(url)
    for args in (
        ("gate", "hello", "--store", url),
        ("store", "migrate", "--from", url, "--to", url + "_copy"),
    ):
        proc = run_harness(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "column looks.verdict is missing" in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert _snapshot(url) == before


def test_a_schema_made_by_the_migrations_passes_the_check_and_a_second_open_changes_nothing(
    server: str,
) -> None:
    url = fresh_database(server)
    PostgresStore(url).close()
    before = _snapshot(url)
    with PostgresStore(url) as store:
        assert store.list_runs() == []
    assert _snapshot(url) == before


def test_an_unreachable_server_is_unavailable_without_the_password() -> None:
    url = "postgresql://harness:s3cret@127.0.0.1:1/history"
    with pytest.raises(Unavailable) as caught:
        open_store(url)
    assert "s3cret" not in caught.value.message and "harness:***@" in caught.value.message
    proc = run_harness("gate", "hello", "--store", url)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "s3cret" not in proc.stderr


# ------------------------------------------------------------------ concurrent opening
def test_processes_initialising_an_empty_database_at_once(server: str) -> None:
    url = fresh_database(server)
    code = "import sys; from harness.store import open_store; open_store(sys.argv[1]).close()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], env=harness_env(), stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with psycopg.connect(url) as db:
        assert db.execute(f"SELECT version FROM {SCHEMA}.meta").fetchall() == [(SCHEMA_VERSION,)]


# ------------------------------------------------------------------ harness store migrate
def _fill(store: Store) -> None:
    canary = store.create_run(
        "canary",
        "default",
        "hello",
        revisions=("hello-v1", "hello-v2"),
        spec={"steps": [5, 100]},
        original_traffic=[{"revisionName": "hello-v1", "percent": 100}],
        started=1_700_000_000.0,
    )
    store.record_look(canary.id, step=0, percent=5, arms={"a": [1, 2]}, verdict={"d": "go"}, t=1.5)
    action = store.begin_action(canary.id, "set_traffic", {"percent": 5}, t=2.0)
    store.complete_action(canary.id, action.seq, result={"ok": True}, t=2.5)
    store.begin_action(canary.id, "promote", {"canary": "hello-v2"}, t=3.0)  # never done
    store.finish_run(canary.id, "rolled_back", summary={"reason": "errors"}, finished=4.0)
    perf = store.create_run("perf", "default", "hello", label="v1", started=1_700_000_100.0)
    store.save_perf_result(
        perf.id,
        PerfResult("hello", 1000, 3, 60.0, dict(HIST), {"p99_ms": 12.5}, {"rps": 9.0}),
    )
    store.finish_run(perf.id, "completed", finished=1_700_000_170.0)
    store.create_run("canary", "team-b", "shop", started=1_700_000_200.0)  # still running


def _dump(store: Store) -> list[Any]:
    runs = store.list_runs(limit=1000)
    return [
        (run, store.looks(run.id), store.actions(run.id), store.load_perf_results(run.id))
        for run in runs
    ]


def test_migrate_copies_everything_both_ways_and_again_skips(server: str, tmp_path: Path) -> None:
    source = tmp_path / "history.sqlite"
    with SqliteStore(source) as store:
        _fill(store)
        expected = _dump(store)
    url = fresh_database(server)
    proc = run_harness("store", "migrate", "--from", str(source), "--to", url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("copied 3 runs from"), proc.stdout
    with PostgresStore(url) as store:
        assert _dump(store) == expected
    again = run_harness("store", "migrate", "--from", str(source), "--to", url)
    assert (
        again.returncode == 0
        and "copied 0 runs" in again.stdout
        and "3 already there" in again.stdout
    )
    back = tmp_path / "back.sqlite"
    from harness.store.migrate import migrate_store

    migrate_store(url, str(back), say=lambda _: None)
    with SqliteStore(back) as store:
        assert _dump(store) == expected


def test_migrate_refuses_a_missing_source_and_a_foreign_target(server: str, tmp_path: Path) -> None:
    from harness.store.migrate import migrate_store

    with pytest.raises(BadInput, match="no such store"):
        migrate_store(str(tmp_path / "none.sqlite"), fresh_database(server))
    foreign = fresh_database(server)
    with psycopg.connect(foreign) as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    source = tmp_path / "h.sqlite"
    SqliteStore(source).close()
    with pytest.raises(HarnessError, match="not a harness store"):
        migrate_store(str(source), foreign)
    assert _tables(foreign) == [("public", "t")]


# ------------------------------------------------------------------ a team on one database
@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pushgateway(tmp_path_factory.mktemp("pushgateway")) as url:
        yield url


def test_ci_and_cronjob_share_one_database_and_gate_across_both(
    server: str, gateway: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    url = fresh_database(server)
    env = {**harness_env(), "HARNESS_STORE": url}
    common = [
        "--kubeconfig",
        str(emulator.kubeconfig),
        "--state-dir",
        str(emulator.state_dir),
        "--pushgateway",
        gateway,
    ]
    for label in ("nightly", "pr-42"):  # a CronJob's run, then a pull request's
        perf = run_harness(
            "perf",
            "hello",
            "--save",
            "--label",
            label,
            "--duration",
            "2s",
            "--warmup",
            "1s",
            "--rate",
            "50",
            "--report-dir",
            str(tmp_path / label),
            *common,
            env=env,
            timeout=120,
        )
        assert perf.returncode == 0, perf.stderr
    with PostgresStore(url) as store:
        runs = store.list_runs("default", "hello", kind="perf")
        assert [r.label for r in runs] == ["pr-42", "nightly"]
    gate = run_harness(
        "gate",
        "hello",
        "--against",
        "label:nightly",
        "--pushgateway",
        gateway,
        "--report-dir",
        str(tmp_path / "gate"),
        "--format",
        "json",
        env=env,
        timeout=120,
    )
    assert gate.returncode in (0, 1, 3), gate.stderr
    import json

    document = json.loads(gate.stdout)
    text = json.dumps(document)
    assert runs[0].id in text and runs[1].id in text
    # perf and gate pushed their final state to the Pushgateway, kept after they ended.
    import httpx

    pushed = httpx.get(gateway + "/metrics", timeout=5).text.splitlines()
    status = [line for line in pushed if line.startswith("harness_run_status{")]
    perf_lines = [line for line in status if 'kind="perf"' in line]
    assert len(perf_lines) == 2 and all(line.endswith(" 1") for line in perf_lines), status
    assert {r.id for r in runs} == {line.split('run_id="')[1].split('"')[0] for line in perf_lines}
    gate_lines = [line for line in status if 'kind="gate"' in line]
    expected = {0: "1", 1: "2", 3: "3"}[gate.returncode]
    assert len(gate_lines) == 1 and gate_lines[0].endswith(" " + expected), gate_lines


def test_a_canary_journals_in_postgresql_and_rollback_reads_it(
    server: str, fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    url = fresh_database(server)
    add_revision(fresh_emulator, "hello-v3", {"TARGET": "v3", "SIM_ERROR_RATE": "0.08"})
    before = spec_traffic(fresh_emulator)
    # The journal in PostgreSQL instead of a file.
    proc = run_canary(
        fresh_emulator,
        url,
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v3",
        *ROLLBACK_PACE,
    )
    assert proc.returncode == 1, proc.stderr
    assert spec_traffic(fresh_emulator) == before
    assert not list(tmp_path.rglob("*.sqlite*"))
    with PostgresStore(url) as store:
        run = store.last_run("default", "hello", "canary")
        assert run is not None and run.status == "rolled_back"
        assert len(store.looks(run.id)) >= 1
        kinds = [a.kind for a in store.actions(run.id)]
        assert kinds[0] == "set_traffic" and kinds[-1] == "rollback", kinds
    status = run_harness(
        "status",
        "hello",
        "--kubeconfig",
        str(fresh_emulator.kubeconfig),
        "--state-dir",
        str(fresh_emulator.state_dir),
        "--format",
        "json",
        env={**harness_env(), "HARNESS_STORE": url},
    )
    assert status.returncode == 0, status.stderr
    assert run.id in status.stdout
