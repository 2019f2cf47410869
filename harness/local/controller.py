"""Knative Serving's reconcilers, for the emulator.

The API's writes go through `admission` (defaults, validation, conflicts) first; the
controller exposes them to the API and marks what they touched for reconciliation.
Reconciliation (what Knative's controllers do afterwards, on the asyncio loop): a Service owns a
Configuration and a Route of its name; a new `spec.template` makes a Revision named
`spec.template.metadata.name` or `{configuration}-{00001}`; revisions run through the
`Runtime` (the data plane); the Route resolves its traffic to ready revisions, programs
the ingress, and only then reports Ready; the Service's status mirrors both, with
`observedGeneration` set to the generation it reconciled.

A Route may also be written directly (no Service owns it): it points at any revisions
of its namespace (`revisionName`) or at a Configuration's latest ready revision
(`configurationName`), and is reconciled the same way under its own name.

With `serving.knative.dev/rollout-duration` on the Service (or standalone Route), a
`latestRevision` target moves to a new revision gradually (`rollout_schedule`): a timer
per Route wakes the loop when the next step is due. The rollout state is kept in memory
(Knative keeps it in an ingress annotation).

The controller reads and writes the store; what it computes from stored objects is pure
and lives beside it: `traffic_resolution` (a Route's traffic to ready revisions, a
rollout's groups split per revision), `configuration_revisions` (the Configuration and
Revisions a template makes) and `serving_status` (each object's status).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.knative.model import SERVING_GROUP
from harness.knative.traffic import TrafficTarget
from harness.knative.validation import ClusterConfig
from harness.local.admission import Admission
from harness.local.configuration_revisions import (
    latest_ready_name,
    may_reuse,
    new_configuration,
    new_revision,
    revision_of_generation,
    template_env,
)
from harness.local.objects import (
    API_VERSION,
    LABEL_ROUTING_STATE,
    LABEL_SERVICE,
    being_deleted,
    condition,
    finalizers_of,
    now,
    owned_by,
    owner_reference,
    owning_service,
    ready_of,
)
from harness.local.objectstore import JSON, ApiError, ObjectStore, not_found
from harness.local.rollout_schedule import (
    RolloutKey,
    TargetRollout,
    advance,
    next_step_at,
    rollout_duration_s,
)
from harness.local.serving_status import (
    configuration_status,
    name_taken_status,
    revision_status,
    route_status,
    service_status,
)
from harness.local.traffic_resolution import (
    resolve_traffic,
    rollout_groups,
    served_revisions,
    service_route_traffic,
    split_rolling_targets,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevisionWorkload:
    """What the runtime needs to run one revision (plain values from its spec)."""

    namespace: str
    service: str
    configuration: str
    name: str
    env: Mapping[str, str]
    container_concurrency: int


@dataclass(frozen=True)
class ServicePass:
    """One Service reconciled in a pass, kept until its status can be written (after the
    ingress is programmed)."""

    service: JSON
    generation: int
    route: JSON | None  # None: a standalone Route holds the Service's name
    resolved: list[TrafficTarget] | None  # None: some target cannot be served yet
    all_traffic_assigned: JSON
    rolling: bool
    # The template's revision name when another Revision holds it (RevisionNameTaken).
    name_taken: str | None = None


@dataclass(frozen=True)
class RoutePass:
    """One standalone Route reconciled in a pass, kept until its status can be written."""

    route: JSON
    resolved: list[TrafficTarget] | None
    all_traffic_assigned: JSON
    rolling: bool
    touched: set[str]  # revisions it served before or serves now


class Runtime(Protocol):
    """The data plane as the controller sees it."""

    async def start_revision(self, workload: RevisionWorkload) -> None: ...

    async def stop_revision(self, namespace: str, name: str) -> None: ...

    def program_routes(
        self, traffic: Mapping[tuple[str, str], Sequence[TrafficTarget]], domain: str
    ) -> None:
        """Replace the ingress table: (namespace, route) -> resolved status.traffic."""
        ...


class Controller:
    """The API's writes (through `Admission`) and the reconcile loop; owns the store's
    Knative objects."""

    def __init__(
        self,
        store: ObjectStore,
        runtime: Runtime,
        *,
        domain: str,
        cluster_config: ClusterConfig | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.domain = domain
        self.admission = Admission(store, cluster_config)
        self._dirty: set[tuple[str, str]] = set()
        self._dirty_routes: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._routes_changed = False
        self._readiness: dict[tuple[str, str], tuple[bool, str, str]] = {}
        # (actual, desired) replicas where the data plane counts pods (--max-pods > 1).
        self._replicas: dict[tuple[str, str], tuple[int, int]] = {}
        # What the ingress serves per (namespace, route): the last traffic that resolved.
        self._programmed: dict[tuple[str, str], list[TrafficTarget]] = {}
        # Revisions a deleted standalone Route served, per namespace: their routingState
        # is recomputed once the ingress no longer sends them that Route's requests.
        self._released: dict[str, set[str]] = {}
        self._to_stop: list[tuple[str, str]] = []
        # Gradual rollouts per (namespace, route), and the timer of each one's next step.
        self._rollouts: dict[tuple[str, str], dict[RolloutKey, TargetRollout]] = {}
        self._rollout_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}

    # ----- writes: called by the API, admitted synchronously before anything is stored -----

    def create_service(self, namespace: str, body: JSON) -> JSON:
        """Admit and store a new Service; 409 AlreadyExists, 400 on Knative's rejection.

        A standalone Route of the same name does not block it (as in Knative): the Service
        is stored and reports `RoutesReady=False`, reason `NotOwned`, until that Route goes.
        """
        stored = self.admission.create("services", namespace, body)
        self._mark(namespace, stored["metadata"]["name"])
        return stored

    def replace_service(self, namespace: str, name: str, body: JSON) -> JSON:
        """Admit a full replacement (PUT, or a patch's result); status in `body` is ignored."""
        stored, spec_changed = self.admission.replace("services", namespace, name, body)
        if being_deleted(stored):
            return self._finish_deletion("services", stored)
        if spec_changed:
            self._mark(namespace, name)
        return stored

    def create_route(self, namespace: str, body: JSON) -> JSON:
        """Admit and store a standalone Route. 409 AlreadyExists also when a Service has
        the name (its Route is, or is about to be, stored under it); 400 on Knative's
        rejection, 422 when the body claims a Service as its owner."""
        stored = self.admission.create("routes", namespace, body)
        self._mark_route(namespace, stored["metadata"]["name"])
        return stored

    def replace_route(self, namespace: str, name: str, body: JSON) -> JSON:
        """Admit a full replacement of a standalone Route; 405 for a Service's Route."""
        self.check_route_writable(namespace, name, "update")
        stored, spec_changed = self.admission.replace("routes", namespace, name, body)
        if being_deleted(stored):
            return self._finish_deletion("routes", stored)
        if spec_changed:
            self._mark_route(namespace, name)
        return stored

    def _finish_deletion(self, resource: str, stored: JSON) -> JSON:
        """An update of an object being deleted: it goes once its last finalizer has."""
        if finalizers_of(stored):
            return stored
        meta = stored["metadata"]
        return self.delete(resource, meta["namespace"], meta["name"])

    def _mark_deleted(self, resource: str, current: JSON) -> JSON:
        """A DELETE of an object with finalizers: it stays, marked with deletionTimestamp
        (and a new generation), until an update removes its last finalizer; nothing
        reconciles it meanwhile (Knative's reconcilers skip an object being deleted)."""
        if being_deleted(current):
            return current
        marked = copy.deepcopy(current)
        meta = marked["metadata"]
        meta["deletionTimestamp"] = now()
        meta["deletionGracePeriodSeconds"] = 0
        meta["generation"] += 1
        return self.store.put(resource, marked)

    def check_route_writable(self, namespace: str, name: str, verb: str) -> None:
        """404 if the Route does not exist, 405 if a Service owns it."""
        self.admission.check_route_writable(namespace, name, verb)

    def delete(self, resource: str, namespace: str, name: str) -> JSON:
        """Delete a Service (with its Configuration, Route and Revisions), a standalone
        Route (its hosts go from the ingress) or one Revision.

        An object with finalizers is only marked (`_mark_deleted`), as by the API server.
        """
        if resource in ("services", "routes"):
            current = self.store.peek(resource, namespace, name)
            if current is None:
                raise not_found(resource, name)
            if resource == "routes":
                self.check_route_writable(namespace, name, "delete")
            if finalizers_of(current):
                return self._mark_deleted(resource, current)
        if resource == "services":
            gone = self.store.delete("services", namespace, name)
            if gone is None:
                raise not_found(resource, name)
            self.store.delete("configurations", namespace, name)
            route = self.store.peek("routes", namespace, name)
            if route is not None and owned_by(route, gone):
                self.store.delete("routes", namespace, name)
                self._unprogram(namespace, name)
            for owned in list(self.store.iter("revisions", namespace)):
                if owned["metadata"].get("labels", {}).get(LABEL_SERVICE) == name:
                    self._delete_revision(namespace, owned["metadata"]["name"])
            self._mark_standalone_routes(namespace)
            self._wake.set()
            return gone
        if resource == "routes":
            self.check_route_writable(namespace, name, "delete")
            gone = self.store.delete("routes", namespace, name)
            assert gone is not None
            self._unprogram(namespace, name)
            if self.store.peek("services", namespace, name) is not None:
                # A Service kept from its Route by this one (NotOwned) can have it now.
                self._mark(namespace, name)
            self._wake.set()
            return gone
        if resource == "revisions":
            rev = self.store.peek("revisions", namespace, name)
            if rev is None:
                raise not_found(resource, name)
            gone = self._delete_revision(namespace, name)
            owner = rev["metadata"].get("labels", {}).get(LABEL_SERVICE)
            if owner:
                self._mark(namespace, owner)
            self._mark_standalone_routes(namespace)
            self._wake.set()
            return gone
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"{resource}.{SERVING_GROUP} are managed by their Service in this emulator",
        )

    def _unprogram(self, namespace: str, route: str) -> None:
        """Take a deleted Route's hosts out of the ingress on the next pass."""
        served = self._programmed.pop((namespace, route), None)
        if served is not None:
            self._released.setdefault(namespace, set()).update(served_revisions(served))
        self._rollouts.pop((namespace, route), None)
        timer = self._rollout_timers.pop((namespace, route), None)
        if timer is not None:
            timer.cancel()
        self._routes_changed = True

    def _delete_revision(self, namespace: str, name: str) -> JSON:
        gone = self.store.delete("revisions", namespace, name)
        assert gone is not None
        self._readiness.pop((namespace, name), None)
        self._replicas.pop((namespace, name), None)
        self._to_stop.append((namespace, name))
        self._wake.set()
        return gone

    def revision_readiness(
        self,
        namespace: str,
        name: str,
        ready: bool,
        reason: str,
        msg: str,
        replicas: tuple[int, int] | None = None,
    ) -> None:
        """Record a revision's readiness (from the data plane) and reconcile its Service
        and the standalone Routes of its namespace (any of them may point at it).

        ``replicas`` is (actual, desired) where the data plane counts pods; without it
        ``status.actualReplicas`` is 1 while ready, else 0, and ``desiredReplicas`` 1."""
        rev = self.store.peek("revisions", namespace, name)
        if rev is None:
            return
        self._readiness[(namespace, name)] = (ready, reason, msg)
        if replicas is not None:
            self._replicas[(namespace, name)] = replicas
        self._write_revision_status(rev)
        owner = rev["metadata"].get("labels", {}).get(LABEL_SERVICE)
        if owner:
            self._mark(namespace, owner)
        self._mark_standalone_routes(namespace)

    # ----- the reconcile loop -----

    async def run(self) -> None:
        """Reconcile dirty Services and Routes forever (cancel to stop)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile_pending()
            except Exception:
                # One failed pass must not stop reconciling: log it, try again on the next write.
                log.exception("reconcile failed")

    async def reconcile_pending(self) -> None:
        """Reconcile every Service and standalone Route marked dirty so far, then program
        the ingress, then write their statuses."""
        while self._to_stop:
            namespace, name = self._to_stop.pop()
            await self.runtime.stop_revision(namespace, name)
        dirty, self._dirty = self._dirty, set()
        services: list[ServicePass] = []
        starts: list[RevisionWorkload] = []
        for namespace, name in sorted(dirty):
            svc = self.store.peek("services", namespace, name)
            if svc is None or being_deleted(svc):
                continue
            generation = svc["metadata"]["generation"]
            config, new_workload, taken = self._reconcile_configuration(svc)
            if new_workload is not None:
                starts.append(new_workload)
            if taken is not None:
                # service.go: the Route is left as it is, so no traffic moves to a
                # Revision that is not this template's.
                empty = condition("AllTrafficAssigned", "Unknown")
                services.append(ServicePass(svc, generation, None, None, empty, False, taken))
                continue
            route, resolved, route_ready = self._resolve_route(svc, config)
            rolling = False
            if route is not None:
                duration = rollout_duration_s(svc["metadata"].get("annotations") or {})
                resolved, rolling = self._roll_out(route, resolved, duration, owned_by_service=True)
                self._program(namespace, name, resolved)
            services.append(ServicePass(svc, generation, route, resolved, route_ready, rolling))
            # A Configuration's latest ready revision may have moved on under a Route
            # that names the Configuration.
            self._dirty_routes.update(self._standalone_routes(namespace))
        dirty_routes, self._dirty_routes = self._dirty_routes, set()
        routes: list[RoutePass] = []
        for namespace, name in sorted(dirty_routes):
            route = self.store.get("routes", namespace, name)
            if route is None or owning_service(route) is not None or being_deleted(route):
                continue
            before = served_revisions(self._programmed.get((namespace, name), []))
            resolved, assigned = resolve_traffic(
                self.store,
                namespace,
                name,
                route["spec"].get("traffic") or [],
                service=None,
                domain=self.domain,
            )
            duration = rollout_duration_s(route["metadata"].get("annotations") or {})
            resolved, rolling = self._roll_out(route, resolved, duration, owned_by_service=False)
            self._program(namespace, name, resolved)
            touched = before | served_revisions(resolved or [])
            routes.append(RoutePass(route, resolved, assigned, rolling, touched))
        for workload in starts:
            await self.runtime.start_revision(workload)
        if self._routes_changed:
            self._routes_changed = False
            self.runtime.program_routes(dict(self._programmed), self.domain)
        # Statuses say Ready only now that the ingress serves what they describe.
        for done in services:
            meta = done.service["metadata"]
            current = self.store.peek("services", meta["namespace"], meta["name"])
            if current is None or current["metadata"]["uid"] != meta["uid"]:
                continue
            if done.route is not None:
                self._write_route_status(
                    done.route, done.resolved, done.all_traffic_assigned, rolling=done.rolling
                )
                if done.resolved is not None:
                    self._write_routing_states(
                        meta["namespace"],
                        self._revisions_of_service(meta["namespace"], meta["name"]),
                    )
            self._write_service_status(
                current,
                done.generation,
                route_owned=done.route is not None or done.name_taken is not None,
                name_taken=done.name_taken,
            )
        for rdone in routes:
            meta = rdone.route["metadata"]
            current = self.store.peek("routes", meta["namespace"], meta["name"])
            if current is None or current["metadata"]["uid"] != meta["uid"]:
                continue
            self._write_route_status(
                rdone.route, rdone.resolved, rdone.all_traffic_assigned, rolling=rdone.rolling
            )
            if rdone.resolved is not None:
                self._write_routing_states(
                    meta["namespace"], self._revisions_named(meta["namespace"], rdone.touched)
                )
        released, self._released = self._released, {}
        for namespace, names in released.items():
            self._write_routing_states(namespace, self._revisions_named(namespace, names))

    def _mark(self, namespace: str, name: str) -> None:
        self._dirty.add((namespace, name))
        self._wake.set()

    def _mark_route(self, namespace: str, name: str) -> None:
        self._dirty_routes.add((namespace, name))
        self._wake.set()

    def _mark_standalone_routes(self, namespace: str) -> None:
        """Reconcile every standalone Route of `namespace` on the next pass."""
        for key in self._standalone_routes(namespace):
            self._mark_route(*key)

    def _standalone_routes(self, namespace: str) -> list[tuple[str, str]]:
        return [
            (namespace, route["metadata"]["name"])
            for route in self.store.iter("routes", namespace)
            if owning_service(route) is None
        ]

    def _roll_out(
        self,
        route: JSON,
        resolved: list[TrafficTarget] | None,
        duration_s: int,
        *,
        owned_by_service: bool,
    ) -> tuple[list[TrafficTarget] | None, bool]:
        """Apply Knative's gradual rollout to a Route's resolved traffic (`reconcileRollout`).

        Returns what the ingress is to serve and `status.traffic` to show (a rolling
        `latestRevision` target becomes one entry per revision, oldest first; None when
        the traffic did not resolve: the ingress keeps what it serves and the rollout
        waits) and whether a rollout is in progress. Arms the Route's timer for its next
        step; the timer marks the Route (or its Service) for reconciliation.
        """
        if resolved is None:
            return None, False
        meta = route["metadata"]
        key = (meta["namespace"], meta["name"])
        spec = route["spec"].get("traffic") or []
        current = rollout_groups(spec, resolved)
        loop = asyncio.get_running_loop()
        rollouts = advance(self._rollouts.get(key), current, duration_s, loop.time())
        self._rollouts[key] = rollouts
        timer = self._rollout_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        due = next_step_at(rollouts)
        if due is not None:
            mark = self._mark if owned_by_service else self._mark_route
            self._rollout_timers[key] = loop.call_at(due, mark, *key)
        rolling = any(r.in_progress for r in rollouts.values())
        return split_rolling_targets(spec, resolved, rollouts), rolling

    def _program(self, namespace: str, route: str, resolved: list[TrafficTarget] | None) -> None:
        """Record a Route's resolved traffic for the ingress (None: keep what it serves)."""
        if resolved is not None and self._programmed.get((namespace, route)) != resolved:
            self._programmed[(namespace, route)] = resolved
            self._routes_changed = True

    def _reconcile_configuration(
        self, svc: JSON
    ) -> tuple[JSON, RevisionWorkload | None, str | None]:
        """Make the Service's Configuration match its template; create the Revision of its
        generation when missing. Returns the Configuration, a revision to start, and the
        template's revision name when another Revision holds it (the Configuration then
        fails as Knative's reconciler fails it, and nothing is created)."""
        meta = svc["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        template = copy.deepcopy(svc["spec"]["template"])
        config = self.store.get("configurations", namespace, name)
        if config is None:
            config = new_configuration(svc, template)
        elif config["spec"]["template"] != template:
            config["spec"]["template"] = template
            config["metadata"]["generation"] += 1
        cmeta = config["metadata"]
        config_generation = cmeta["generation"]
        byo_name = template.get("metadata", {}).get("name")
        revision = None
        if byo_name:
            existing = self.store.peek("revisions", namespace, byo_name)
            if existing is not None:
                if not may_reuse(existing, config, template):
                    return self._fail_name_taken(config, byo_name), None, byo_name
                revision = existing
        if revision is None:
            revision = revision_of_generation(
                self.store.iter("revisions", namespace), name, config_generation
            )
        workload = None
        if revision is None:
            rev_name = template.get("metadata", {}).get("name") or f"{name}-{config_generation:05d}"
            if self.store.peek("revisions", namespace, rev_name) is None:
                config = self.store.put("configurations", config)
                revision = self._create_revision(svc, config, template, rev_name)
                workload = RevisionWorkload(
                    namespace=namespace,
                    service=name,
                    configuration=name,
                    name=rev_name,
                    env=template_env(template),
                    container_concurrency=int(
                        template.get("spec", {}).get("containerConcurrency") or 0
                    ),
                )
            else:
                revision = self.store.peek("revisions", namespace, rev_name)
        assert revision is not None
        latest_created = revision["metadata"]["name"]
        created_ready = ready_of(revision)
        if byo_name == latest_created and created_ready["status"] == "True":
            # getSortedCreatedRevisions puts the template's named revision first, so a
            # return to an older (ready) revision by name makes it the latest ready.
            latest_ready: str | None = latest_created
        else:
            latest_ready = latest_ready_name(self.store.iter("revisions", namespace), name)
        status = configuration_status(config, revision, latest_ready)
        if config.get("status") != status or "resourceVersion" not in cmeta:
            config["status"] = status
            config = self.store.put("configurations", config)
        return config, workload, None

    def _fail_name_taken(self, config: JSON, rev_name: str) -> JSON:
        """Store the Configuration failed as its template's revision name is taken
        (`name_taken_status`)."""
        status = name_taken_status(config, rev_name)
        if config.get("status") != status or "resourceVersion" not in config["metadata"]:
            config["status"] = status
            config = self.store.put("configurations", config)
        return config

    def _create_revision(self, svc: JSON, config: JSON, template: JSON, name: str) -> JSON:
        revision = new_revision(svc, config, template, name)
        self._readiness[(config["metadata"]["namespace"], name)] = (False, "Deploying", "")
        self._fill_revision_status(revision)
        return self.store.put("revisions", revision)

    def _fill_revision_status(self, revision: JSON) -> None:
        key = (revision["metadata"]["namespace"], revision["metadata"]["name"])
        revision["status"] = revision_status(
            revision, self._readiness.get(key, (False, "Deploying", "")), self._replicas.get(key)
        )

    def _write_revision_status(self, stored: JSON) -> None:
        revision = copy.deepcopy(stored)
        self._fill_revision_status(revision)
        if revision["status"] != stored["status"]:
            self.store.put("revisions", revision)

    def _resolve_route(
        self, svc: JSON, config: JSON
    ) -> tuple[JSON | None, list[TrafficTarget] | None, JSON]:
        """Write the Route's spec from the Service and resolve its traffic (traffic.go).

        Returns the Route (None when a standalone Route holds the name: the Service does
        not own it and leaves it alone), its resolved targets (None when some target
        cannot be served, in which case the ingress keeps what it had) and the
        AllTrafficAssigned condition.
        """
        meta = svc["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        spec_traffic = service_route_traffic(svc)
        route = self.store.get("routes", namespace, name)
        if route is None:
            route = {
                "apiVersion": API_VERSION,
                "kind": "Route",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": now(),
                    "generation": 1,
                    "labels": {LABEL_SERVICE: name},
                    "ownerReferences": [owner_reference(svc)],
                },
                "spec": {"traffic": spec_traffic},
                "status": {},
            }
            route = self.store.put("routes", route)
        elif not owned_by(route, svc):
            return None, None, condition("AllTrafficAssigned", "Unknown")
        elif route["spec"]["traffic"] != spec_traffic:
            route["spec"]["traffic"] = spec_traffic
            route["metadata"]["generation"] += 1
            route = self.store.put("routes", route)
        resolved, assigned = resolve_traffic(
            self.store, namespace, name, spec_traffic, service=name, domain=self.domain
        )
        return route, resolved, assigned

    def _write_route_status(
        self,
        route: JSON,
        resolved: list[TrafficTarget] | None,
        assigned: JSON,
        *,
        rolling: bool,
    ) -> None:
        meta = route["metadata"]
        stored = self.store.peek("routes", meta["namespace"], meta["name"])
        if stored is None:
            return
        route = copy.deepcopy(stored)
        status = route_status(
            route, meta["generation"], resolved, assigned, rolling=rolling, domain=self.domain
        )
        if route.get("status") != status:
            route["status"] = status
            self.store.put("routes", route)

    def _revisions_of_service(self, namespace: str, service: str) -> list[JSON]:
        return [
            rev
            for rev in self.store.iter("revisions", namespace)
            if rev["metadata"].get("labels", {}).get(LABEL_SERVICE) == service
        ]

    def _revisions_named(self, namespace: str, names: Iterable[str]) -> list[JSON]:
        found = (self.store.peek("revisions", namespace, name) for name in sorted(names))
        return [rev for rev in found if rev is not None]

    def _write_routing_states(self, namespace: str, revisions: Iterable[JSON]) -> None:
        """Label each of `revisions` (stored objects) `active` while a Route of its
        namespace, a Service's or a standalone one, sends it traffic, else `reserve`."""
        active = {
            target.revision_name
            for (ns, _), targets in self._programmed.items()
            if ns == namespace
            for target in targets
        }
        for rev in list(revisions):
            labels = rev["metadata"].get("labels", {})
            state = "active" if rev["metadata"]["name"] in active else "reserve"
            if labels.get(LABEL_ROUTING_STATE) != state:
                updated = copy.deepcopy(rev)
                updated["metadata"].setdefault("labels", {})[LABEL_ROUTING_STATE] = state
                self.store.put("revisions", updated)

    def _write_service_status(
        self, stored: JSON, generation: int, *, route_owned: bool, name_taken: str | None = None
    ) -> None:
        meta = stored["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        config = self.store.peek("configurations", namespace, name)
        # A standalone Route holding the Service's name is none of the Service's business.
        route = self.store.peek("routes", namespace, name) if route_owned else None
        status = service_status(
            stored, generation, config, route, route_owned=route_owned, name_taken=name_taken
        )
        if stored.get("status") != status:
            svc = copy.deepcopy(stored)
            svc["status"] = status
            self.store.put("services", svc)
