"""The canary spec's ``events:`` field (pure: no process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_canary_spec
from harness.errors import BadInput

BASE = {"service": "consumer", "baseline": "v1", "candidate": "v2"}


def test_events_names_a_broker() -> None:
    assert load_canary_spec(None, {**BASE, "events": "default"}).events == "default"
    assert load_canary_spec(None, BASE).events is None
    with pytest.raises(BadInput, match="events"):
        load_canary_spec(None, {**BASE, "events": "Not_A_Name"})


def test_events_and_a_locustfile_do_not_mix(tmp_path: Path) -> None:
    locustfile = tmp_path / "users.py"
    locustfile.write_text("from locust import HttpUser\n")
    with pytest.raises(BadInput, match="events"):
        load_canary_spec(None, {**BASE, "events": "default", "locustfile": locustfile})


def test_events_in_a_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "canary.yaml"
    spec.write_text("service: consumer\nfrom: v1\nto: v2\nevents: default\n")
    assert load_canary_spec(spec, {}).events == "default"
