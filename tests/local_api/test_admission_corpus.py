"""Knative's validation corpus through the emulator's API: create, as a cluster answers it.

Every translated create case of ``tests/knative/corpus`` (Services, Routes,
Configurations and Revisions: the API admits the last two on a dry-run create, what
``kubectl apply --dry-run=server`` sends) is POSTed as kubectl would (``fieldValidation=
Strict``) with ``dryRun=All`` (so nothing is stored or started, and one emulator serves
every case), to an emulator started with the case's ``--feature`` flags (one emulator
per distinct set of flags). The answer must be Knative's:

- a case Knative accepts: 201 with the defaulted object, nothing stored;
- a case Knative rejects: 400 ``BadRequest`` whose message is the webhook's denial (as
  kube-apiserver answers one), and whose errors in the case's scope are Knative's (the
  same lines as ``FieldError.Error()``);
- a case with fields outside Knative's CRD schema (``lifecycle``, ...): the API server's
  400 ``strict decoding error``, as a cluster refuses it before the webhook runs;
- a case without a name or generateName, whose name is not a DNS-1123 subdomain, or
  with an ownerReference without a uid: the API server's own 422, which answers before
  the webhook (Knative rejects them too, except the ownerReference cases, printed);
- a Service or Configuration named by ``generateName``: the API server generates the
  name, then Knative validates (``ON_A_CLUSTER``: two cases whose message changes).

Knative's warnings are checked in the ``Warning`` headers; the config-defaults and
config-autoscaler settings a Go test sets are ``--cluster-config`` flags. 550 of the 558
create cases go through (512 with Knative's verdict and message, 36 with the API
server's refusal, 2 with the generated name). Left out, each with its reason printed:
Routes written with a Service owner (the emulator's own refusal), and the cases where
the webhook's defaulting, which runs before validation on a cluster but not in Knative's
unit tests, changes the answer (DEFAULTED, 8).

Update cases (``old``: the stored object) go through a second emulator: the old object is
created for real as the user who made it (``Impersonate-User``, what ``kubectl --as``
sends; Knative writes that user into the creator/lastModifier annotations), then the new
one is sent with ``dryRun=All`` twice, as a PUT (with the stored creator/lastModifier
where the manifest has none, as ``kubectl apply`` keeps them) and as a JSON merge patch
(what ``kubectl apply`` sends), and both answers must be Knative's verdict and error
lines. A
diff in the details is not compared: on a cluster the stored object is defaulted, in
Knative's unit test it is not. The ``SetUserInfo`` create cases are POSTed as their user
and must come back with Knative's annotations. Left out with their reason: status
subresource writes, stored objects the cluster could not have stored (invalid, or
without the creator annotation every create gets), Configurations and Revisions (the
emulator stores them only through their Service: there is no stored object to update).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.knative.cluster_settings import setting_of
from harness.knative.field_error import WEBHOOK_NAME
from harness.knative.names import dns1123_subdomain_problems
from harness.knative.previous import as_applied
from harness.knative.unknown_fields import strict_decoding_error, unknown_fields
from harness.knative.user_info import CREATOR
from harness.local.api_client import client_options, credentials
from harness.local.launcher import Emulator, alive, descendants
from tests.knative.corpus_cases import DEFAULTED, CorpusCase, load_corpus

pytestmark = pytest.mark.slow

NS_PATH = "/apis/serving.knative.dev/v1/namespaces/default"
RESOURCES = {
    "Service": "services",
    "Route": "routes",
    "Configuration": "configurations",
    "Revision": "revisions",
}
# Kinds the API admits only on a dry-run create: they are not stored through the API.
DRY_RUN_ONLY = ("Configuration", "Revision")
DENIAL = f'admission webhook "{WEBHOOK_NAME}" denied the request: validation failed: '


def _api_server_refusal(raw: dict[str, Any]) -> str:
    """The API server's 422 message for a new object's ownerReferences (one without a
    uid) or name (missing, or not a DNS-1123 subdomain), written out here from
    k8s.io/apiserver's and apimachinery's wording; "" when it passes. The corpus's cases
    Knative accepts that a cluster refuses this way are printed (and counted) by
    ``test_left_out_cases_are_few_and_say_why``."""
    manifest = raw["manifest"]
    meta = manifest.get("metadata") or {}
    kind, name, generate = manifest["kind"], meta.get("name") or "", meta.get("generateName")
    head = f'{kind}.serving.knative.dev "{name}" is invalid: '
    if any(not r.get("uid") for r in meta.get("ownerReferences") or []):
        return head + 'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty'
    if not name and not generate:
        return head + "metadata.name: Required value: name or generateName is required"
    if name and (problems := dns1123_subdomain_problems(name)):
        return head + f'metadata.name: Invalid value: "{name}": {problems[0]}'
    return ""


def _why_left_out(case: CorpusCase) -> str:
    raw = case.raw
    if "old" in raw or "user" in raw:
        return _why_update_left_out(case)
    refs = (raw["manifest"].get("metadata") or {}).get("ownerReferences") or []
    service_owned = any(r.get("kind") == "Service" for r in refs)
    if raw["manifest"]["kind"] == "Route" and service_owned and not _api_server_refusal(raw):
        return "the emulator refuses a Route written with a Service owner (docs/emulator.md)"
    if f"{case.test}::{case.name}" in DEFAULTED:
        return "defaulting changes it: " + DEFAULTED[f"{case.test}::{case.name}"]
    return ""


def _why_update_left_out(case: CorpusCase) -> str:
    raw = case.raw
    kind = raw["manifest"]["kind"]
    if kind in DRY_RUN_ONLY:
        return f"a {kind} is not stored through the emulator's API (dry-run create only)"
    if raw.get("subresource") == "status":
        return "a status-subresource write: the controller's, not writable through the API"
    old = raw.get("old")
    if old is not None and "user" in raw:
        return "the stored object has no creator annotation, which every create gets"
    if old is not None and not raw["valid"] and old == raw["manifest"]:
        return "the stored object is invalid under the cluster's settings: it cannot be created"
    return ""


CASES = [c for c in load_corpus() if not c.skip]
UPDATES = [c for c in CASES if ("old" in c.raw or "user" in c.raw) and not _why_left_out(c)]


def _flags(case: CorpusCase) -> tuple[str, ...]:
    """The case's `--feature` and `--cluster-config` flags, as ("--feature", "k=v", ...)."""
    out: list[str] = []
    for key, value in sorted((case.raw.get("features") or {}).items()):
        out += ["--feature", f"{key}={value}"]
    for key, value in sorted((case.raw.get("config") or {}).items()):
        out += ["--cluster-config", setting_of(key, value)]
    return tuple(out)


GROUPS: dict[tuple[str, ...], list[CorpusCase]] = {}
for _case in CASES:
    if not _why_left_out(_case) and _case not in UPDATES:
        GROUPS.setdefault(_flags(_case), []).append(_case)


def test_left_out_cases_are_few_and_say_why() -> None:
    left = [(c.id, _why_left_out(c)) for c in CASES if _why_left_out(c)]
    for case_id, why in left:
        print(f"left out {case_id}: {why}")
    sent = sum(len(g) for g in GROUPS.values())
    creates = [c for c in CASES if "old" not in c.raw and "user" not in c.raw]
    print(f"{sent} of {len(creates)} translated create cases go through the emulator")
    answers = Counter(_answered_by(c) for group in GROUPS.values() for c in group)
    kinds = Counter(c.raw["manifest"]["kind"] for group in GROUPS.values() for c in group)
    print(f"answered with: {dict(answers)}; by kind: {dict(kinds)}")
    print(f"{len(UPDATES)} update and user-info cases go through the emulator")
    refused = [
        c.id
        for group in GROUPS.values()
        for c in group
        if c.raw["valid"] and _api_server_refusal(c.raw)
    ]
    for case_id in refused:
        print(f"Knative accepts, a cluster's API server refuses first: {case_id}")
    # Two per kind's label test (Route, Configuration, Revision): an owner without a uid.
    assert len(refused) <= 6
    assert sent >= 545
    assert kinds["Configuration"] >= 17 and kinds["Revision"] >= 15
    assert len(UPDATES) >= 16


def _in_scope(field: str, scope: str) -> bool:
    if not scope or not field:
        return True
    scopes = (scope, scope.rsplit("[", 1)[0] + "[*]") if scope.endswith("]") else (scope,)
    return any(field == s or field.startswith((f"{s}.", f"{s}[")) for s in scopes)


def _emulator(state_dir: Path, flags: tuple[str, ...]) -> Iterator[httpx.Client]:
    features = tuple(v for k, v in zip(flags[::2], flags[1::2], strict=True) if k == "--feature")
    settings = tuple(
        v for k, v in zip(flags[::2], flags[1::2], strict=True) if k == "--cluster-config"
    )
    info = Emulator.start(state_dir, features=features, settings=settings)
    try:
        with httpx.Client(
            base_url=info.api, timeout=60, **client_options(credentials(info))
        ) as client:
            yield client
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]


def _warnings(resp: httpx.Response) -> list[str]:
    """The texts of the answer's ``Warning: 299 - "..."`` headers."""
    out = []
    for value in resp.headers.get_list("warning"):
        text = value.split(" - ", 1)[1].strip()[1:-1]
        out.append(text.replace('\\"', '"').replace("\\\\", "\\"))
    return out


def _error_lines(text: str) -> list[str]:
    """The ``message: paths`` lines of an error text, without the details lines (go-cmp's
    diff: ``{*v1.RevisionTemplateSpec}.Spec...:``, ``\t-: ...``)."""
    return [line for line in text.split("\n") if line and not line.startswith(("\t", "{", "*{"))]


def _paths(line: str) -> list[str]:
    return line.rpartition(": ")[2].split(", ") if ": " in line else []


def _answered_by(case: CorpusCase) -> str:
    """Who answers the case's create on a cluster, as ``_check`` expects it."""
    manifest = case.raw["manifest"]
    if unknown_fields(manifest, manifest["kind"]):
        return "API server: unknown fields"
    if _api_server_refusal(case.raw):
        return "API server: name or ownerReferences"
    if f"{case.test}::{case.name}" in ON_A_CLUSTER:
        return "webhook: the generated name"
    return "Knative's verdict and message"


def _check(api: httpx.Client, case: CorpusCase) -> str:
    """'' when the emulator answers as Knative does, else what differs."""
    raw = case.raw
    manifest: dict[str, Any] = raw["manifest"]
    kind = manifest["kind"]
    resp = api.post(
        f"{NS_PATH}/{RESOURCES[kind]}",
        params={"dryRun": "All", "fieldValidation": "Strict"},
        json=manifest,
    )
    if unknown := unknown_fields(manifest, kind):
        want = strict_decoding_error(kind, unknown)
        if resp.status_code != 400 or resp.json()["message"] != want:
            return f"{resp.status_code} {resp.text[:300]} (want 400 {want})"
        return ""
    if refusal := _api_server_refusal(raw):
        # The API server's own checks answer before the webhook (ownerReferences without
        # a uid: a cluster refuses even what Knative's unit test accepts).
        if resp.status_code != 422 or resp.json()["message"] != refusal:
            return f"{resp.status_code} {resp.text[:300]} (want 422 {refusal})"
        return ""
    if f"{case.test}::{case.name}" in ON_A_CLUSTER:
        want = ON_A_CLUSTER[f"{case.test}::{case.name}"]
        if resp.status_code != 400 or not re.fullmatch(want, resp.json()["message"]):
            return f"{resp.status_code} {resp.text[:300]} (want 400 {want})"
        return ""
    return _compare(case, resp, 201)


# A Service or Configuration named by generateName: the API server generates its name
# before the validating webhook runs (k8s.io/apiserver registry/generic/registry/store.go
# `create`), so Knative sees a name and asks for its prefix, where its unit test (no
# name) says "must not set".
ON_A_CLUSTER = {
    "TestValidateRevisionName::invalid name (with generateName)": re.escape(DENIAL)
    + r'invalid value: "foo-bar-foo" must have prefix "foo-bar-[b-z2-9]{5}-": '
    r"spec\.template\.metadata\.name",
    "TestConfigurationValidation::valid BYO name (with generateName)": re.escape(DENIAL)
    + r'invalid value: "byo-name-foo" must have prefix "byo-name-[b-z2-9]{5}-": '
    r"spec\.template\.metadata\.name",
}


def _compare(case: CorpusCase, resp: httpx.Response, ok: int) -> str:
    """'' when ``resp`` is Knative's answer to the case (``ok``: the success code)."""
    raw = case.raw
    scope, level = raw.get("scope", ""), raw.get("level", "error")
    body = resp.json()
    if resp.status_code == 400 and not body["message"].startswith(DENIAL):
        return f"not the webhook's denial: {body['message'][:200]}"
    if resp.status_code not in (ok, 400):
        return f"{resp.status_code} {resp.text[:300]}"
    if resp.status_code == 400 and (body["reason"], body["code"]) != ("BadRequest", 400):
        return f"a denial is 400 BadRequest, got {body['reason']} {body['code']}"
    errors = body["message"][len(DENIAL) :] if resp.status_code == 400 else ""
    warnings = " | ".join(_warnings(resp))
    if raw["valid"]:
        # Nothing at the case's level in its scope (the rest of the manifest may fail).
        if level == "error":
            wrong = [
                line
                for line in _error_lines(errors)
                if any(_in_scope(p, scope) for p in _paths(line)) or not _paths(line)
            ]
        else:
            wrong = [
                w
                for w in _warnings(resp)
                if any(_in_scope(p, scope) and p.startswith(scope) for p in _paths(w))
            ]
        return f"Knative accepts it, the emulator: {wrong}" if wrong else ""
    wanted = (raw.get("errors") or "").split("\n")
    if "old" in raw:
        # The details (go-cmp's diff) differ: a cluster's stored object is defaulted.
        wanted = _error_lines("\n".join(wanted))
    if level == "error" and resp.status_code != 400:
        return f"{resp.status_code}, want 400 with {raw.get('errors')}"
    seen = {"error": errors, "warning": warnings}.get(level, errors + " | " + warnings)
    missing = [line for line in wanted if line and line not in seen]
    return f"missing {missing} in {seen[:400]}" if missing else ""


@pytest.mark.parametrize("flags", sorted(GROUPS), ids=lambda f: " ".join(f[1::2]) or "defaults")
def test_the_emulator_answers_as_knative(flags: tuple[str, ...], tmp_path: Path) -> None:
    failures = []
    for api in _emulator(tmp_path / "emulator", flags):
        for case in GROUPS[flags]:
            if problem := _check(api, case):
                failures.append(f"{case.id}: {problem}")
        # A dry run stores nothing: the namespace is still empty.
        for resource in RESOURCES.values():
            assert api.get(f"{NS_PATH}/{resource}").json()["items"] == []
    assert not failures, "\n".join(failures[:20])


def _as(user: str) -> dict[str, str]:
    return {"Impersonate-User": user}


def _check_update(api: httpx.Client, case: CorpusCase) -> list[str]:
    """Create the stored object as its creator, send the new one as a dry-run PUT and a
    dry-run merge patch (or, for a SetUserInfo create, POST it as the case's user), and
    compare each answer with Knative's; the stored object is deleted again."""
    raw = case.raw
    manifest: dict[str, Any] = raw["manifest"]
    url = f"{NS_PATH}/{RESOURCES[manifest['kind']]}"
    old = raw.get("old")
    if old is None:
        resp = api.post(
            url, params={"dryRun": "All"}, json=manifest, headers=_as(raw.get("user", "x"))
        )
        if "want_annotations" in raw:
            got = resp.json().get("metadata", {}).get("annotations")
            return [] if got == raw["want_annotations"] else [f"annotations {got}"]
        return [p for p in [_compare(case, resp, 201)] if p]
    creator = (old["metadata"].get("annotations") or {}).get(CREATOR, "someone")
    name = manifest["metadata"]["name"]
    created = api.post(url, json=old, headers=_as(creator))
    if created.status_code != 201:
        return [f"the stored object was refused: {created.text[:300]}"]
    problems = []
    try:
        user = _as(creator)
        # A PUT carries the stored creator/lastModifier where the manifest has none, as
        # kubectl apply keeps them (Knative refuses a PUT that drops the creator).
        for _ in range(20):  # the controller writes status meanwhile: 409, read again
            sent = as_applied(manifest, api.get(f"{url}/{name}").json())
            put = api.put(f"{url}/{name}", params={"dryRun": "All"}, json=sent, headers=user)
            if put.status_code != 409:
                break
        problems += [f"PUT: {p}" for p in [_compare(case, put, 200)] if p]
        patch = api.patch(
            f"{url}/{name}",
            params={"dryRun": "All"},
            json=manifest,
            headers={**user, "Content-Type": "application/merge-patch+json"},
        )
        problems += [f"merge patch: {p}" for p in [_compare(case, patch, 200)] if p]
    finally:
        api.delete(f"{url}/{name}")
        wait_gone(api, f"{url}/{name}")
    return problems


def wait_gone(api: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 60
    while api.get(url).status_code != 404:
        assert time.monotonic() < deadline, f"{url} was not deleted"
        time.sleep(0.05)


def test_updates_answer_as_knative(tmp_path: Path) -> None:
    failures = []
    for api in _emulator(tmp_path / "emulator", ()):
        for case in UPDATES:
            failures += [f"{case.id}: {p}" for p in _check_update(api, case)]
    assert not failures, "\n".join(failures[:20])
