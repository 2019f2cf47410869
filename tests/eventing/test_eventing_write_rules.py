"""The rules behind Broker and Trigger writes, pure: the CRD field trees generated from
knative/eventing, the fields Knative Eventing's webhook cannot decode into its Go types,
its update rules with go-cmp's diffs, and ``harness lint`` (unknown fields, and
``--previous`` for the update rules). The CLI runs as a process once."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.knative.cluster import ClusterConfig
from harness.knative.crd_fields import TREES
from harness.knative.eventing_validation import (
    BROKER_CLASS_ANNOTATION,
    canonical_field_names,
    decoding_denial,
    eventing_denial,
    set_broker_defaults,
    set_trigger_defaults,
    undecodable_fields,
    validate_broker,
    validate_trigger,
)
from harness.knative.lint import lint_text
from harness.knative.previous import previous_objects
from harness.knative.unknown_fields import unknown_fields


def trigger(broker: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"broker": broker, "subscriber": {"uri": "http://x.example/"}, **spec},
    }


def broker(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": "b", "namespace": "ns"},
        "spec": spec,
    }


def test_generated_trees_follow_the_eventing_crds() -> None:
    # config/core/resources/{broker,trigger}.yaml at 8cf4c4b6: a Trigger's spec and any
    # delivery preserve unknown fields; a Broker's spec and the subscriber do not.
    assert TREES["Trigger"]["spec"]["*"] == "*"
    assert TREES["Trigger"]["spec"]["delivery"]["*"] == "*"
    assert "*" not in TREES["Broker"]["spec"]
    assert sorted(TREES["Trigger"]["spec"]["subscriber"]) == [
        "CACerts",
        "audience",
        "ref",
        "uri",
    ]
    assert unknown_fields(broker(confg={}, delivery={"retries": 1})) == ["spec.confg"]
    assert unknown_fields(trigger(filterr={}, subscriber={"urii": "x"})) == ["spec.subscriber.urii"]
    assert unknown_fields({**trigger(), "sepc": {}, "status": {"x": 1}}) == ["sepc"]


def test_fields_the_go_types_lack_in_decoding_order() -> None:
    t = trigger(
        filterr={},
        Filters=[{"all": [{"exactt": {"type": "x"}}]}],
        delivery={"timeout": "PT1S", "retries": 2},
    )
    t["metadata"]["unknownMeta"] = 1  # metadata is the API server's: skipped
    assert undecodable_fields(t) == [
        ("spec.Filters[0].all[0].exactt", "exactt"),  # "F" sorts before lowercase
        ("spec.delivery.retries", "retries"),
        ("spec.filterr", "filterr"),
    ]
    assert decoding_denial(t) == (
        'admission webhook "webhook.eventing.knative.dev" denied the request: mutation '
        'failed: cannot decode incoming new object: json: unknown field "exactt"'
    )
    # Go's case-insensitive match: known, and renamed by the webhook's round trip.
    loose = trigger(Filter={"Attributes": {"Type": "x"}}, delivery={"RETRY": 1, "retry": 2})
    assert undecodable_fields(loose) == [] and decoding_denial(loose) is None
    canonical_field_names(loose)
    assert loose["spec"]["filter"] == {"attributes": {"Type": "x"}}
    assert loose["spec"]["delivery"] == {"retry": 2}  # the later key in sorted order wins
    assert undecodable_fields(broker(config={"kind": "ConfigMap", "address": "a"})) == []


def test_trigger_broker_is_immutable_with_go_cmps_diff() -> None:
    old = set_trigger_defaults(trigger("orders"))
    new = set_trigger_defaults(trigger("other", delivery={"retry": 2}))
    (error,) = validate_trigger(new, old)
    assert eventing_denial([error]) == (
        'admission webhook "validation.webhook.eventing.knative.dev" denied the request: '
        "validation failed: Immutable fields changed (-old +new): spec.broker\n"
        '{string}:\n\t-: "orders"\n\t+: "other"\n'
    )
    assert validate_trigger(set_trigger_defaults(trigger("orders", filters=[])), old) == []


def test_broker_spec_but_delivery_and_class_are_immutable() -> None:
    old = set_broker_defaults(broker(delivery={"retry": 1}))
    assert validate_broker(set_broker_defaults(broker(delivery={"retry": 9})), old) == []
    moved = set_broker_defaults(broker(config={"apiVersion": "v1", "kind": "ConfigMap"}))
    moved["spec"]["config"]["name"] = "mine"
    (error,) = validate_broker(moved, old)
    assert (error.message, error.paths) == ("Immutable fields changed (-old +new)", ("spec",))
    assert error.details == (
        '{v1.BrokerSpec}.Config.Namespace:\n\t-: "knative-eventing"\n\t+: "ns"\n'
        '{v1.BrokerSpec}.Config.Name:\n\t-: "config-br-default-channel"\n\t+: "mine"\n'
    )
    kafka = copy.deepcopy(old)
    kafka["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] = "Kafka"
    (error,) = validate_broker(kafka, old)
    assert (error.message, error.paths, error.details) == (
        "Immutable annotations changed (-old +new)",
        ("annotations",),
        '{string}:\n\t-: "MTChannelBasedBroker"\n\t+: "Kafka"\n',
    )
    # A spec change is the one error even when the class changes too (Knative returns it).
    kafka["spec"] = moved["spec"]
    assert [e.paths for e in validate_broker(kafka, old)] == [("spec",)]


def test_lint_reports_unknown_fields_of_brokers_and_triggers() -> None:
    text = yaml.safe_dump_all(
        [broker(confg={}, delivery={"retyr": 1}), trigger(filterr={}, subscriber={"urii": "x"})]
    )
    report = lint_text(text, "m.yaml")
    found = [(f.field, f.rule, f.message) for f in report.findings]
    # By line; the pruned subscriber is left with neither ref nor uri (the webhook's error).
    assert found == [
        ("spec.confg", "unknown-field", 'unknown field "spec.confg"; did you mean config?'),
        (
            "spec.delivery.retyr",
            "unknown-field",
            'unknown field "spec.delivery.retyr": Knative Eventing\'s webhook refuses it '
            '(json: unknown field "retyr"); did you mean retry?',
        ),
        (
            "spec.filterr",
            "unknown-field",
            'unknown field "spec.filterr": Knative Eventing\'s webhook refuses it '
            '(json: unknown field "filterr"); did you mean filter?',
        ),
        (
            "spec.subscriber.ref",
            "schema",
            "expected at least one, got none (also spec.subscriber.uri)",
        ),
        (
            "spec.subscriber.urii",
            "unknown-field",
            'unknown field "spec.subscriber.urii"; did you mean uri?',
        ),
    ]
    assert all(f.line is not None for f in report.findings)


def test_lint_previous_applies_the_update_rules() -> None:
    stored = [broker(delivery={"retry": 1}), trigger("orders")]
    previous = previous_objects(yaml.safe_dump_all(stored), ClusterConfig())
    # The same manifests, a new delivery: an allowed update.
    same = yaml.safe_dump_all([broker(delivery={"retry": 5}), trigger("orders")])
    assert lint_text(same, "m", previous=previous).findings == ()
    # Without --previous a changed broker is a create: nothing to compare.
    moved = yaml.safe_dump_all([trigger("other")])
    assert lint_text(moved, "m").findings == ()
    (finding,) = lint_text(moved, "m", previous=previous).findings
    assert (finding.field, finding.rule, finding.message) == (
        "spec.broker",
        "schema",
        'Immutable fields changed (-old +new) ({string}: -: "orders" +: "other")',
    )
    assert finding.line == 7
    kafka = broker(delivery={"retry": 1})
    kafka["metadata"]["annotations"] = {BROKER_CLASS_ANNOTATION: "Kafka"}
    (finding,) = lint_text(yaml.safe_dump(kafka), "m", previous=previous).findings
    assert finding.message == (
        'Immutable annotations changed (-old +new) ({string}: -: "MTChannelBasedBroker" +: "Kafka")'
    )
    # A manifest without the class annotation keeps the stored one (kubectl apply's
    # three-way merge): no change.
    assert lint_text(yaml.safe_dump(broker()), "m", previous=previous).findings == ()


@pytest.mark.slow  # starts a process
def test_cli_lint_previous_for_a_trigger(tmp_path: Path) -> None:
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(yaml.safe_dump(trigger("orders")))
    after.write_text(yaml.safe_dump(trigger("other")))
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", "--previous", str(before), str(after)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "Immutable fields changed (-old +new)" in run.stdout
    assert "spec.broker" in run.stdout
