"""The emulator's API held to the Kubernetes API server's, through clients we did not
write: kubectl and the official ``kubernetes`` Python client (one emulator per module).

Each case names the Kubernetes behaviour it relies on:

- label selectors: k8s.io/apimachinery ``labels.Parse`` (``in``, ``notin``, ``!key``,
  ``key>N``; a selector that does not parse is 400, never a silently wrong list);
- DeleteOptions ``preconditions`` (``uid``, ``resourceVersion``): k8s.io/apiserver's
  storage ``Preconditions.Check``, answered as 409 Conflict ``Precondition failed: UID
  in precondition: X, UID in object meta: Y``; nothing is deleted;
- list ``resourceVersion``/``resourceVersionMatch``: ``ValidateListOptions`` (422), the
  watch cache's ``Too large resource version`` (504); ``limit``: "Servers may choose not
  to support the limit argument and will return all of the available results"
  (ListOptions.limit), so no ``continue`` is issued, and one the server never gave is 400;
- a selective watch (``labelSelector``): an object that comes to match is ADDED, one that
  stops matching DELETED (the watch cache's ``cacheWatcher.convertToWatchEvent``);
- a streaming list (``sendInitialEvents=true``, KEP-3157): ADDED for the current objects,
  then a BOOKMARK annotated ``k8s.io/initial-events-end``; its options checked as
  ``ValidateListOptions`` (422);
- a watch from a too-old resourceVersion: 200 with one ``ERROR`` event holding a 410
  ``Expired`` Status (the watch cache's ``newErrWatcher``), which the Python client's
  ``Watch`` raises as ``ApiException(410)`` and client-go's reflector relists on;
- an update naming another ``metadata.uid``: 409 for a PUT (its uid is a precondition:
  ``rest.defaultUpdatedObjectInfo.Preconditions``), 422 ``field is immutable`` for a patch;
- ``propagationPolicy: Orphan`` on a Service (``kubectl delete --cascade=orphan``): a
  cluster keeps the dependents; the emulator cannot, so it refuses (400) rather than
  delete them; another policy value is 422 (``ValidateDeleteOptions``);
- the ``status`` subresource the CRDs declare: GET served, writes 405 (emulator limit);
  ``deletecollection``: 405 (an unsupported verb, as go-restful answers; a limit too);
- what already held and must keep holding: a strategic merge patch or a server-side
  apply on a custom resource is 415 and writes nothing, a stale ``kubectl replace`` is
  409, ``--dry-run=server`` writes nothing for ``label``, ``annotate``, ``patch``,
  ``replace``, ``create`` and ``delete -l``/``--all``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from harness.local.objectstore import HISTORY
from tests.conftest import RunningEmulator
from tests.kube.conftest import Run

SERVING = ("serving.knative.dev", "v1")
EVENTING = ("eventing.knative.dev", "v1")
NS = "default"


def ksvc(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"template": {"spec": {"containers": [{"image": "registry.example/app"}]}}},
    }


def broker(name: str) -> dict[str, Any]:
    return {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": name}}


def names(out: str) -> list[str]:
    return sorted(line.rsplit("/", 1)[-1] for line in out.split())


def test_set_based_label_selectors_select_as_labels_parse_does(kubectl: Run, objects: Any) -> None:
    # The demo's revisions: hello-v1 (configurationGeneration=1), hello-v2 (=2). Splitting
    # the selector on "," alone listed nothing for `in (hello)` and ignored a bad one.
    svc = "serving.knative.dev/service"
    gen = "serving.knative.dev/configurationGeneration"
    cases = {
        f"{svc} in (hello)": ["hello-v1", "hello-v2"],
        f"{svc} in (other,hello),{gen} notin (1)": ["hello-v2"],
        f"{svc} notin (hello)": [],
        f"{svc} notin (other)": ["hello-v1", "hello-v2"],
        f"{gen}>1": ["hello-v2"],
        f"{gen}<2,{svc}": ["hello-v1"],
        "!absent": ["hello-v1", "hello-v2"],
        f"!{svc}": [],
        f"{gen}!=1": ["hello-v2"],
    }
    for selector, expected in cases.items():
        out = kubectl("get", "revisions", "-l", selector, "-o", "name")
        assert out.returncode == 0, (selector, out.stderr)
        assert names(out.stdout) == expected, selector
        listed = objects.list_namespaced_custom_object(
            *SERVING, NS, "revisions", label_selector=selector
        )
        assert sorted(o["metadata"]["name"] for o in listed["items"]) == expected, selector

    for bad in ("a b", "x=@@", "k in 1", f"{gen} gt 1", f"{gen}>x"):
        out = kubectl("get", "revisions", "-l", bad)
        assert out.returncode == 1, bad
        assert "Error from server (BadRequest)" in out.stderr, (bad, out.stderr)
        assert "unable to parse requirement" in out.stderr, (bad, out.stderr)
    # The same parser serves eventing.knative.dev, and a watch refuses before streaming.
    with pytest.raises(ApiException) as refused:
        objects.list_namespaced_custom_object(*EVENTING, NS, "brokers", label_selector="a b")
    assert refused.value.status == 400
    with pytest.raises(ApiException) as refused:
        next(
            iter(
                watch.Watch().stream(
                    objects.list_namespaced_custom_object,
                    *SERVING,
                    NS,
                    "services",
                    label_selector="a in (b",
                    timeout_seconds=2,
                )
            )
        )
    assert refused.value.status == 400
    # A field selector term without an operator was a 500.
    out = kubectl("get", "ksvc", "--field-selector", "metadata.name")
    assert out.returncode == 1
    assert "(BadRequest)" in out.stderr and "invalid selector" in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("group", "plural", "body"),
    [(SERVING, "services", ksvc("precond")), (EVENTING, "brokers", broker("precond"))],
)
def test_delete_preconditions_refuse_with_409_and_delete_nothing(
    objects: Any,
    group: tuple[str, str],
    plural: str,
    body: dict[str, Any],
) -> None:
    # Both were ignored: the object was deleted whatever uid or resourceVersion was named.
    created = objects.create_namespaced_custom_object(*group, NS, plural, body)
    uid, version = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
    current = objects.get_namespaced_custom_object(*group, NS, plural, "precond")
    version = current["metadata"]["resourceVersion"]
    wrong = {
        "uid": (
            client.V1Preconditions(uid="not-the-uid"),
            f"Precondition failed: UID in precondition: not-the-uid, UID in object meta: {uid}",
        ),
        "resourceVersion": (
            client.V1Preconditions(resource_version="1"),
            "Precondition failed: ResourceVersion in precondition: 1, "
            f"ResourceVersion in object meta: {version}",
        ),
    }
    for precondition, message in wrong.values():
        with pytest.raises(ApiException) as refused:
            objects.delete_namespaced_custom_object(
                *group,
                NS,
                plural,
                "precond",
                body=client.V1DeleteOptions(preconditions=precondition),
            )
        assert refused.value.status == 409
        status = json.loads(refused.value.body or "{}")
        assert status["reason"] == "Conflict"
        assert status["message"] == (
            f'Operation cannot be fulfilled on {plural}.{group[0]} "precond": {message}'
        )
        kept = objects.get_namespaced_custom_object(*group, NS, plural, "precond")
        assert kept["metadata"]["uid"] == uid
    # Matching preconditions (and a dry run with a wrong one: refused too) behave as usual.
    with pytest.raises(ApiException) as refused:
        objects.delete_namespaced_custom_object(
            *group,
            NS,
            plural,
            "precond",
            body=client.V1DeleteOptions(
                dry_run=["All"], preconditions=client.V1Preconditions(uid="nope")
            ),
        )
    assert refused.value.status == 409
    objects.delete_namespaced_custom_object(
        *group,
        NS,
        plural,
        "precond",
        body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=uid, resource_version=version)
        ),
    )
    with pytest.raises(ApiException) as gone:
        objects.get_namespaced_custom_object(*group, NS, plural, "precond")
    assert gone.value.status == 404


def test_list_resource_versions_limit_and_continue(objects: Any) -> None:
    listed = objects.list_namespaced_custom_object(*SERVING, NS, "revisions")
    current = int(listed["metadata"]["resourceVersion"])
    everything = [o["metadata"]["name"] for o in listed["items"]]
    assert len(everything) >= 2

    # limit is not supported: the whole list, and no continue token to follow.
    page = objects.list_namespaced_custom_object(*SERVING, NS, "revisions", limit=1)
    assert [o["metadata"]["name"] for o in page["items"]] == everything
    assert not page["metadata"].get("continue")
    with pytest.raises(ApiException) as refused:
        objects.list_namespaced_custom_object(*SERVING, NS, "revisions", _continue="abc")
    assert refused.value.status == 400

    # NotOlderThan (the default) with an old or the current version: the current state.
    for version in ("1", str(current)):
        same = objects.list_namespaced_custom_object(
            *SERVING, NS, "revisions", resource_version=version
        )
        assert [o["metadata"]["name"] for o in same["items"]] == everything
    exact = objects.list_namespaced_custom_object(
        *SERVING,
        NS,
        "revisions",
        resource_version=listed["metadata"]["resourceVersion"],
        resource_version_match="Exact",
    )
    assert exact["metadata"]["resourceVersion"] == listed["metadata"]["resourceVersion"]

    def status_of(**params: Any) -> tuple[int, str]:
        with pytest.raises(ApiException) as refused:
            objects.list_namespaced_custom_object(*SERVING, NS, "revisions", **params)
        return refused.value.status, json.loads(refused.value.body or "{}")["message"]

    # Each of these answered the current list, as if it were what was asked for.
    code, message = status_of(resource_version="1", resource_version_match="Exact")
    assert code == 410 and "too old" in message
    code, message = status_of(resource_version=str(current + 1000))
    assert code == 504 and message.startswith(f"Too large resource version: {current + 1000}")
    code, message = status_of(resource_version_match="NotOlderThan")
    assert code == 422 and "forbidden unless resourceVersion is provided" in message
    code, message = status_of(resource_version="0", resource_version_match="Exact")
    assert code == 422
    code, message = status_of(resource_version="1", resource_version_match="Newest")
    assert code == 422 and "Unsupported value" in message


def test_a_watch_from_an_expired_resource_version_gets_an_error_event(
    objects: Any, emulator: RunningEmulator
) -> None:
    # The emulator keeps HISTORY events; push the first ones out with broker label writes.
    first = objects.create_namespaced_custom_object(*EVENTING, NS, "brokers", broker("churn"))
    old = first["metadata"]["resourceVersion"]
    path = "/apis/eventing.knative.dev/v1/namespaces/default/brokers/churn"
    with emulator.api_client() as api:
        for i in range(HISTORY + 10):
            patched = api.patch(
                path,
                json={"metadata": {"labels": {"n": str(i)}}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert patched.status_code == 200, patched.text
        # On the wire: 200 and one ERROR event with the 410 Status (was an HTTP 410).
        response = api.get(
            "/apis/serving.knative.dev/v1/namespaces/default/services",
            params={"watch": "1", "resourceVersion": old, "timeoutSeconds": "2"},
        )
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"
    # The Python client raises it as ApiException(410), its documented signal to relist.
    with pytest.raises(ApiException) as expired:
        list(
            watch.Watch().stream(
                objects.list_namespaced_custom_object,
                *SERVING,
                NS,
                "services",
                resource_version=old,
                timeout_seconds=2,
            )
        )
    assert expired.value.status == 410
    # Resuming from a recent version streams what came after it.
    recent = objects.list_namespaced_custom_object(*EVENTING, NS, "brokers")
    objects.patch_namespaced_custom_object(
        *EVENTING, NS, "brokers", "churn", {"metadata": {"labels": {"n": "last"}}}
    )
    seen = [
        (e["type"], e["object"]["metadata"]["labels"]["n"])
        for e in watch.Watch().stream(
            objects.list_namespaced_custom_object,
            *EVENTING,
            NS,
            "brokers",
            resource_version=recent["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    ]
    assert ("MODIFIED", "last") in seen
    objects.delete_namespaced_custom_object(*EVENTING, NS, "brokers", "churn")


def test_kubectl_writes_that_must_not_write(kubectl: Run, tmp_path: Path) -> None:
    created = kubectl("apply", "-f", "-", stdin=ksvc("guarded", team="a"))
    assert created.returncode == 0, created.stderr
    # Ready first: the controller's status writes move the resourceVersion until then.
    ready = kubectl("wait", "--for=condition=Ready", "ksvc/guarded", "--timeout=60s")
    assert ready.returncode == 0, ready.stderr
    before = json.loads(kubectl("get", "ksvc", "guarded", "-o", "json").stdout)

    refused = [
        # Strategic merge patch on a custom resource: 415, as kube-apiserver for CRDs.
        kubectl("patch", "ksvc", "guarded", "-p", '{"metadata":{"labels":{"s":"1"}}}'),
        # Server-side apply is not served: kubectl says so, nothing is written.
        kubectl("apply", "--server-side", "-f", "-", stdin=ksvc("guarded", team="ssa")),
        # `label` without --overwrite keeps the value (kubectl's own check).
        kubectl("label", "ksvc", "guarded", "team=b"),
    ]
    assert [r.returncode for r in refused] == [1, 1, 1], [r.stderr for r in refused]
    assert "application/strategic-merge-patch+json is not supported" in refused[0].stderr
    assert "UnsupportedMediaType" in refused[0].stderr or "unknown format" in refused[0].stderr
    assert "Server-side apply not available on the server" in refused[1].stderr

    stale = json.loads(json.dumps(before))
    stale["metadata"]["resourceVersion"] = "1"
    stale["metadata"]["labels"]["stale"] = "yes"
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    for dry in ([], ["--dry-run=server"]):
        replaced = kubectl("replace", "-f", str(tmp_path / "stale.json"), *dry)
        assert replaced.returncode == 1
        assert "Error from server (Conflict)" in replaced.stderr, replaced.stderr

    dry_runs = [
        kubectl("label", "ksvc", "guarded", "team=c", "--overwrite", "--dry-run=server"),
        kubectl("annotate", "ksvc", "guarded", "x=1", "--dry-run=server"),
        kubectl(
            "patch",
            "ksvc",
            "guarded",
            "--type",
            "merge",
            "-p",
            '{"metadata":{"labels":{"p":"1"}}}',
            "--dry-run=server",
        ),
        kubectl("delete", "ksvc", "-l", "team=a", "--dry-run=server"),
        kubectl("delete", "ksvc", "--all", "--dry-run=server"),
        kubectl("create", "-f", "-", "--dry-run=server", stdin=ksvc("guarded-2")),
    ]
    assert all(r.returncode == 0 for r in dry_runs), [r.stderr for r in dry_runs]
    assert all("(server dry run)" in r.stdout for r in dry_runs[3:]), [r.stdout for r in dry_runs]
    after = json.loads(kubectl("get", "ksvc", "guarded", "-o", "json").stdout)
    assert after["metadata"] == before["metadata"]
    assert kubectl("get", "ksvc", "guarded-2").returncode == 1
    assert names(kubectl("get", "ksvc", "-o", "name").stdout) == ["guarded", "hello"]

    # The real thing: label and its removal with `key-`, then delete -l --wait.
    assert kubectl("label", "ksvc", "guarded", "team=b", "--overwrite").returncode == 0
    assert kubectl("annotate", "ksvc", "guarded", "note=x").returncode == 0
    assert kubectl("annotate", "ksvc", "guarded", "note-").returncode == 0
    labelled = json.loads(kubectl("get", "ksvc", "guarded", "-o", "json").stdout)["metadata"]
    assert labelled["labels"] == {"team": "b"}
    assert "note" not in labelled.get("annotations", {})
    gone = kubectl("delete", "ksvc", "-l", "team=b", "--wait")
    assert gone.returncode == 0, gone.stderr
    assert names(kubectl("get", "ksvc", "-o", "name").stdout) == ["hello"]


def test_a_selective_watch_adds_objects_entering_and_deletes_objects_leaving(
    objects: Any, emulator: RunningEmulator
) -> None:
    # The watch cache's convertToWatchEvent: an object that starts to match is ADDED, one
    # that stops matching is DELETED (its last matching content), as kubectl get -w -l and
    # an informer with a label selector need; the emulator sent MODIFIED and nothing.
    objects.create_namespaced_custom_object(*EVENTING, NS, "brokers", broker("sel"))
    path = "/apis/eventing.knative.dev/v1/namespaces/default/brokers"
    merge = {"Content-Type": "application/merge-patch+json"}
    for resume in (False, True):
        params = {"watch": "1", "labelSelector": "watch=me", "timeoutSeconds": "3"}
        if resume:
            # As kubectl get -w and informers do: list, then watch from the list's version.
            listed = objects.list_namespaced_custom_object(
                *EVENTING, NS, "brokers", label_selector="watch=me"
            )
            assert listed["items"] == []
            params["resourceVersion"] = listed["metadata"]["resourceVersion"]
        with (
            emulator.api_client() as api,
            emulator.api_client() as writer,
            api.stream("GET", path, params=params) as stream,
        ):
            assert stream.status_code == 200
            for labels in ({"watch": "me"}, {"watch": "me", "more": "x"}, {"watch": None}):
                patched = writer.patch(
                    f"{path}/sel", json={"metadata": {"labels": labels}}, headers=merge
                )
                assert patched.status_code == 200, patched.text
            lines = [json.loads(line) for line in stream.iter_lines() if line]
        kinds = [e["type"] for e in lines]
        collapsed = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
        assert collapsed == ["ADDED", "MODIFIED", "DELETED"], (resume, kinds)
        last = lines[-1]["object"]["metadata"]
        assert last["labels"] == {"watch": "me", "more": "x"}
        assert int(last["resourceVersion"]) > int(
            lines[-2]["object"]["metadata"]["resourceVersion"]
        )
        objects.patch_namespaced_custom_object(
            *EVENTING, NS, "brokers", "sel", {"metadata": {"labels": {"more": None}}}
        )
    objects.delete_namespaced_custom_object(*EVENTING, NS, "brokers", "sel")


def test_an_update_naming_another_uid_is_refused(objects: Any, kubectl: Run) -> None:
    # rest.defaultUpdatedObjectInfo.Preconditions: a PUT's metadata.uid is a precondition
    # (409); ValidateObjectMetaUpdate: a patch may not change it (422 field is immutable).
    # The emulator kept the stored uid and answered 200, so `kubectl replace` of a manifest
    # saved from a deleted-and-recreated object silently replaced the new one.
    for group, plural, body in (
        (SERVING, "services", ksvc("uid")),
        (EVENTING, "brokers", broker("uid")),
    ):
        first = objects.create_namespaced_custom_object(*group, NS, plural, body)
        saved = objects.get_namespaced_custom_object(*group, NS, plural, "uid")
        objects.delete_namespaced_custom_object(*group, NS, plural, "uid")
        again = objects.create_namespaced_custom_object(*group, NS, plural, body)
        assert again["metadata"]["uid"] != first["metadata"]["uid"]
        if plural == "services":
            # Ready first, so that no status write moves the resourceVersion from here on.
            ready = kubectl("wait", "--for=condition=Ready", "ksvc/uid", "--timeout=60s")
            assert ready.returncode == 0, ready.stderr
        current = objects.get_namespaced_custom_object(*group, NS, plural, "uid")
        saved["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        saved["metadata"].setdefault("labels", {})["from"] = "saved"
        with pytest.raises(ApiException) as refused:
            objects.replace_namespaced_custom_object(*group, NS, plural, "uid", saved)
        assert refused.value.status == 409, refused.value.body
        assert (
            "Precondition failed: UID in precondition: "
            in json.loads(refused.value.body or "{}")["message"]
        )
        with pytest.raises(ApiException) as refused:
            objects.patch_namespaced_custom_object(
                *group, NS, plural, "uid", {"metadata": {"uid": first["metadata"]["uid"]}}
            )
        assert refused.value.status == 422, refused.value.body
        status = json.loads(refused.value.body or "{}")
        assert status["message"] == (
            f'{plural}.{group[0]} "uid" is invalid: metadata.uid: Invalid value: '
            f'"{first["metadata"]["uid"]}": field is immutable'
        )
        kept = objects.get_namespaced_custom_object(*group, NS, plural, "uid")
        assert kept["metadata"]["uid"] == again["metadata"]["uid"]
        assert "from" not in (kept["metadata"].get("labels") or {})
        # kubectl replace of the saved manifest: refused, as on a cluster.
        out = kubectl("replace", "-f", "-", stdin=saved)
        assert out.returncode == 1 and "(Conflict)" in out.stderr, out.stderr
        objects.delete_namespaced_custom_object(*group, NS, plural, "uid")


def test_the_status_subresource_reads_and_refuses_writes(objects: Any, kubectl: Run) -> None:
    # Knative's CRDs declare `subresources: status`; it was a 404 ("could not find the
    # requested resource"), so `kubectl get --subresource=status` failed.
    out = kubectl("get", "ksvc", "hello", "--subresource=status", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"]["url"].startswith("http://hello.default.")
    status = objects.get_namespaced_custom_object_status(*SERVING, NS, "services", "hello")
    assert status["metadata"]["name"] == "hello"
    objects.create_namespaced_custom_object(*EVENTING, NS, "brokers", broker("st"))
    out = kubectl("get", "broker", "st", "--subresource=status", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert "conditions" in json.loads(out.stdout)["status"]
    objects.delete_namespaced_custom_object(*EVENTING, NS, "brokers", "st")
    before = objects.get_namespaced_custom_object(*SERVING, NS, "services", "hello")
    with pytest.raises(ApiException) as refused:
        objects.patch_namespaced_custom_object_status(
            *SERVING, NS, "services", "hello", {"status": {"url": "http://elsewhere"}}
        )
    assert refused.value.status == 405
    after = objects.get_namespaced_custom_object(*SERVING, NS, "services", "hello")
    assert after["status"]["url"] == before["status"]["url"]


def test_deleting_a_service_but_orphaning_its_children_is_refused(
    kubectl: Run, objects: Any
) -> None:
    # `kubectl delete --cascade=orphan` (propagationPolicy Orphan): on a cluster the
    # Service goes and its Configuration, Route and Revisions stay (the garbage collector
    # drops their owner reference). The emulator deleted them all; now it refuses.
    assert kubectl("apply", "-f", "-", stdin=ksvc("orphan")).returncode == 0
    ready = kubectl("wait", "--for=condition=Ready", "ksvc/orphan", "--timeout=60s")
    assert ready.returncode == 0, ready.stderr
    out = kubectl("delete", "ksvc", "orphan", "--cascade=orphan")
    assert out.returncode == 1
    assert "Error from server (BadRequest)" in out.stderr, out.stderr
    assert "propagationPolicy Orphan is not supported" in out.stderr
    assert names(
        kubectl("get", "revisions", "-l", "serving.knative.dev/service=orphan", "-o", "name").stdout
    ) == ["orphan-00001"]
    with pytest.raises(ApiException) as refused:
        objects.delete_namespaced_custom_object(
            *SERVING, NS, "services", "orphan", propagation_policy="Sideways"
        )
    assert refused.value.status == 422
    # Background (kubectl's default) and Foreground delete the Service and its children.
    out = kubectl("delete", "ksvc", "orphan", "--cascade=foreground")
    assert out.returncode == 0, out.stderr
    left = kubectl("get", "revisions", "-l", "serving.knative.dev/service=orphan", "-o", "name")
    assert left.stdout.strip() == ""


def test_a_streaming_list_ends_its_initial_events_with_a_bookmark(
    emulator: RunningEmulator,
) -> None:
    # KEP-3157 (client-go's WatchList): a watch with sendInitialEvents=true sends the
    # current objects as ADDED, then a BOOKMARK annotated k8s.io/initial-events-end, which
    # the client waits for; the emulator sent none, so such a client waited forever.
    path = "/apis/serving.knative.dev/v1/namespaces/default/services"
    streaming = {
        "watch": "1",
        "sendInitialEvents": "true",
        "allowWatchBookmarks": "true",
        "resourceVersionMatch": "NotOlderThan",
        "timeoutSeconds": "1",
    }
    with emulator.api_client() as api:
        listed = api.get(path).json()
        for since in ("", listed["metadata"]["resourceVersion"]):
            response = api.get(path, params={**streaming, "resourceVersion": since})
            assert response.status_code == 200, response.text
            events = [json.loads(line) for line in response.text.splitlines()]
            added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
            assert added == [o["metadata"]["name"] for o in listed["items"]]
            bookmark = events[len(added)]
            assert bookmark["type"] == "BOOKMARK"
            assert bookmark["object"]["kind"] == "Service"
            meta = bookmark["object"]["metadata"]
            assert meta["annotations"] == {"k8s.io/initial-events-end": "true"}
            assert int(meta["resourceVersion"]) >= int(listed["metadata"]["resourceVersion"])
        # ValidateListOptions: bookmarks are required, and NotOlderThan.
        for bad in (
            {"allowWatchBookmarks": "false"},
            {"resourceVersionMatch": "Exact"},
        ):
            response = api.get(path, params={**streaming, **bad})
            assert response.status_code == 422, (bad, response.text)
        response = api.get(
            path,
            params={"watch": "1", "resourceVersionMatch": "NotOlderThan", "resourceVersion": "1"},
        )
        assert response.status_code == 422, response.text


def test_deletecollection_is_refused_by_name(objects: Any) -> None:
    # Discovery lists no deletecollection verb; a DELETE of the collection was a 404
    # ("the server could not find the requested resource"), as if the resource were not
    # served. Now 405 MethodNotAllowed, as kube-apiserver answers an unsupported verb.
    for group, plural in ((SERVING, "services"), (EVENTING, "brokers")):
        with pytest.raises(ApiException) as refused:
            objects.delete_collection_namespaced_custom_object(*group, NS, plural)
        assert refused.value.status == 405, refused.value.body
        assert "deletecollection is not supported" in (refused.value.body or "")
    assert objects.get_namespaced_custom_object(*SERVING, NS, "services", "hello")
