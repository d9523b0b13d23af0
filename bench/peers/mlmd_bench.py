#!/usr/bin/env python3
"""Peer benchmark: the lineage workload loaded into ML Metadata (MLMD).

Loads the JSON-lines workload of `lineage-bench workload` into an MLMD store
backed by a SQLite file in a temporary directory (the C++ store runs in this
process, through MLMD's Python binding: no server, no network), times the
load, then times MLMD's equivalents of the in-process queries of
crates/lineage-bench/src/scenarios.rs (scenario 3).

Mapping (lineage.v1 -> MLMD)
----------------------------
MLMD's graph is bipartite: Artifacts and Executions, joined by Events
(INPUT: artifact -> execution, OUTPUT: execution -> artifact); Contexts group
nodes but are not walked by lineage queries. Names are unique per type, so
every name is prefixed with the workspace (MLMD has no tenant boundary).

- RunStarted -> Execution of type `Run`, name `<ws>/<run_id>`, properties
  run_id, workspace, experiment, code_version, environment, compute_target,
  parent_run_id, status, error; params and tags as custom properties
  `param.<k>` / `tag.<k>`; `last_known_state` RUNNING. The run is associated
  with a Context of type `Experiment` (`<ws>/<experiment>`). The environment
  (`Environment`, `<name>@<version>`) and the compute target
  (`ComputeTarget`) are Artifacts with an INPUT event into the run, so they
  are part of the run's provenance as they are in lineaged.
- RunFinished -> `last_known_state` COMPLETE / FAILED / CANCELED and
  property status. Scalar state (status, a model's stage, a metric's latest
  value) is folded by event time then event id, as lineaged does, so a
  reordered RunStarted cannot put a finished run back to RUNNING.
- MetricsLogged -> custom properties `metric.<key>` (the latest value, by
  step then time) and `metric.<key>.step`. MLMD has no metric history: the
  series is not kept (lineaged keeps it, and answers the latest values as
  MLMD does here). An earlier version of this script kept the series in a
  Struct custom property; it made every read of a run ~10x slower, which is
  not how MLMD is used.
- RunInputsDeclared -> INPUT events from the DatasetVersion / Artifact /
  ModelVersion artifacts into the run.
- DatasetVersionRegistered -> Artifact of type `DatasetVersion`,
  `<ws>/<dataset>@<version>`, uri, properties dataset, version, digest.
  `derived_from` -> an Execution of type `Derivation`
  (`<ws>/derive/<dataset>@<version>`) with INPUT events from each parent
  version and an OUTPUT event to the new version: MLMD has no
  artifact-to-artifact edge, so one derivation step costs MLMD two hops
  where it costs lineaged one. `produced_by_run_id` -> an OUTPUT event from
  that run.
- ArtifactLogged -> Artifact of type `Artifact`, `<ws>/<run_id>/<name>`,
  uri, properties kind, digest, size_bytes, with an OUTPUT event from the run.
- ModelRegistered -> Artifact of type `ModelVersion`, `<ws>/<model>@<version>`,
  properties model, version, source_run_id, artifact_name, approval_notes,
  approved_by, with an OUTPUT event from the source run. The packaged
  artifact (`artifact_name`) is a property only: MLMD cannot link artifact to
  artifact without an execution, so unlike lineaged the model's provenance
  does not contain `model.bin` (it contains the run that produced it).
- ModelStageChanged -> properties stage, stage_reason, stage_approved_by of
  the ModelVersion (folded by event time; MLMD keeps no stage history).
- ModelDeployed -> an Execution of type `Deployment`
  (`<ws>/<model>@<version>/<endpoint>/<deployment>`) with an INPUT event
  from the ModelVersion and an OUTPUT event to an Artifact of type
  `Endpoint` (`<ws>/<endpoint>`). MLMD keeps every deployment; lineaged
  keeps only the one currently serving an endpoint.
- Sweep parents: property parent_run_id only. MLMD has no execution-to-
  execution edge, so a trial's provenance does not reach its sweep.
- A dataset version registered again (the second backlog of scenario 5
  re-registers the same names): properties are folded by event time as in
  lineaged, but when a later registration wins, the derivation events of
  the earlier one stay (MLMD has no way to delete an event); the results
  count them (`superseded_derivations_kept`).
- Duplicates: the loader skips a repeated (workspace, event_id); MLMD has no
  idempotency key of its own. Out-of-order references: an entity referenced
  before the event that defines it is created as a placeholder and filled in
  when that event arrives.

The loader keeps, in memory, the id of every node it created and the last
stored proto of each node it updates (MLMD updates replace a node's
properties), much as lineaged keeps its graph in memory.

Queries (each root is looked up before timing, as scenario 3 does, except
where the figure says the lookup is included)
--------------------------------------------------------------------------
- GetEntity (run): `get_execution_by_type_and_name('Run', '<ws>/<run_id>')`
  (properties included); also `get_executions_by_id`.
- RunsUsingDataset (hot / cold, page of 100), two ways, both including the
  lookup of the dataset version by name:
  (events) `get_artifact_by_type_and_name` + `get_events_by_artifact_ids` +
  `get_executions_by_id` of the INPUT executions by id, 100 at a time, until
  100 of type Run (derivations read dataset versions too);
  (filter) `get_executions` with `ListOptions(limit=100, order by id,
  filter_query="type = 'Run' AND events_0.artifact_id = X AND
  events_0.type = INPUT")`.
  A page is ordered by MLMD's execution id (lineaged orders by run id).
- Provenance of a model version: `get_lineage_subgraph` from the
  ModelVersion, direction UPSTREAM, `max_num_hops` 4 and 100 ("full": MLMD
  caps max_num_hops at 100), read mask artifacts + executions + events.
- Impact of the hot dataset version: the same, DOWNSTREAM.
- TraceModel: no separate figure; the upstream subgraph already carries the
  source run with its params and metrics, so it equals Provenance (full).
Entities = artifacts + executions returned; `comparable` leaves out the
Derivation and Deployment executions, which are edges in lineaged.
Hops are not lineaged's depth: a derivation is one edge in lineaged and two
hops here, so "depth 4" reaches less far in MLMD than in lineaged.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import ml_metadata  # noqa: E402
from ml_metadata.metadata_store import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402

SYSTEM = f"MLMD {ml_metadata.__version__} (SQLite)"

STRING, INT = pb.STRING, pb.INT

ARTIFACT_TYPES = {
    "DatasetVersion": dict(workspace=STRING, dataset=STRING, version=STRING, digest=STRING,
                           produced_by_run_id=STRING),
    "Artifact": dict(workspace=STRING, run_id=STRING, name=STRING, kind=STRING, digest=STRING,
                     size_bytes=INT),
    "ModelVersion": dict(workspace=STRING, model=STRING, version=STRING, source_run_id=STRING,
                         artifact_name=STRING, approval_notes=STRING, approved_by=STRING,
                         stage=STRING, stage_reason=STRING, stage_approved_by=STRING),
    "Environment": dict(name=STRING, version=STRING),
    "ComputeTarget": dict(name=STRING),
    "Endpoint": dict(workspace=STRING, endpoint=STRING),
}
EXECUTION_TYPES = {
    "Run": dict(workspace=STRING, run_id=STRING, experiment=STRING, code_version=STRING,
                environment=STRING, compute_target=STRING, parent_run_id=STRING,
                status=STRING, error=STRING),
    "Derivation": dict(workspace=STRING, dataset=STRING, version=STRING),
    "Deployment": dict(workspace=STRING, model=STRING, version=STRING, endpoint=STRING,
                       deployment=STRING),
}
CONTEXT_TYPES = {"Experiment": dict(workspace=STRING, experiment=STRING)}

STATUS = {
    "COMPLETED": pb.Execution.COMPLETE,
    "FAILED": pb.Execution.FAILED,
    "CANCELED": pb.Execution.CANCELED,
    "STARTED": pb.Execution.RUNNING,
}
STAGES = {1: "STAGING", 2: "PRODUCTION", 3: "ARCHIVED"}


def set_props(node, props: dict) -> None:
    for key, value in props.items():
        if value is None or value == "":
            continue
        if isinstance(value, int):
            node.properties[key].int_value = value
        else:
            node.properties[key].string_value = str(value)


class Loader:
    def __init__(self, store: metadata_store.MetadataStore):
        self.store = store
        self.type_ids: dict[str, int] = {}
        for name, props in ARTIFACT_TYPES.items():
            t = pb.ArtifactType(name=name)
            for k, v in props.items():
                t.properties[k] = v
            self.type_ids[name] = store.put_artifact_type(t)
        for name, props in EXECUTION_TYPES.items():
            t = pb.ExecutionType(name=name)
            for k, v in props.items():
                t.properties[k] = v
            self.type_ids[name] = store.put_execution_type(t)
        for name, props in CONTEXT_TYPES.items():
            t = pb.ContextType(name=name)
            for k, v in props.items():
                t.properties[k] = v
            self.type_ids[name] = store.put_context_type(t)
        # (type, name) -> stored proto (with its id).
        self.artifacts: dict[tuple[str, str], pb.Artifact] = {}
        self.executions: dict[tuple[str, str], pb.Execution] = {}
        self.contexts: dict[tuple[str, str], int] = {}
        self.linked: set[tuple[int, int, int]] = set()
        # Fold state: (entity, field) -> (occurred_at, event_id) applied.
        self.folded: dict[tuple, tuple[str, str]] = {}
        self.placeholders = 0  # nodes created before the event defining them
        self.undefined: set[tuple[str, str]] = set()  # never defined (yet)
        self.reregistered = 0  # dataset versions registered again
        self.derived: set[str] = set()  # dataset versions with derivation events
        self.stale_derivations = 0  # superseded derivations MLMD keeps
        self.calls = 0

    # -- nodes ---------------------------------------------------------------
    def artifact(self, type_name: str, name: str, props: dict | None = None,
                 uri: str | None = None, define: bool = False) -> pb.Artifact:
        """The artifact `name`, created on first reference. `define`: this
        event defines it (its properties are written even if it exists)."""
        key = (type_name, name)
        node = self.artifacts.get(key)
        if node is not None and not define:
            return node
        if node is None:
            node = pb.Artifact(type_id=self.type_ids[type_name], name=name)
            node.state = pb.Artifact.LIVE
            if not define:
                self.placeholders += 1
                self.undefined.add(key)
        if define:
            self.undefined.discard(key)
        if props:
            set_props(node, props)
        if uri:
            node.uri = uri
        [node_id] = self.store.put_artifacts([node])
        self.calls += 1
        node.id = node_id
        self.artifacts[key] = node
        return node

    def execution(self, type_name: str, name: str, props: dict | None = None,
                  define: bool = False) -> pb.Execution:
        key = (type_name, name)
        node = self.executions.get(key)
        if node is not None and not define:
            return node
        if node is None:
            node = pb.Execution(type_id=self.type_ids[type_name], name=name)
            if not define:
                self.placeholders += 1
                self.undefined.add(key)
        if define:
            self.undefined.discard(key)
        if props:
            set_props(node, props)
        self.put_execution(key, node)
        return node

    def reference(self, type_name: str, name: str, props: dict) -> pb.Artifact:
        """An artifact that exists by being referenced (environment, compute
        target, endpoint): no event defines it."""
        return self.artifacts.get((type_name, name)) or self.artifact(type_name, name, props, define=True)

    def save_artifact(self, node: pb.Artifact) -> None:
        self.store.put_artifacts([node])
        self.calls += 1

    def put_execution(self, key, node: pb.Execution) -> None:
        [node_id] = self.store.put_executions([node])
        self.calls += 1
        node.id = node_id
        self.executions[key] = node

    def context(self, type_name: str, name: str, props: dict) -> int:
        key = (type_name, name)
        if key not in self.contexts:
            c = pb.Context(type_id=self.type_ids[type_name], name=name)
            set_props(c, props)
            [self.contexts[key]] = self.store.put_contexts([c])
            self.calls += 1
        return self.contexts[key]

    def link(self, links: list[tuple[pb.Artifact, pb.Execution, int]], when: int) -> None:
        events = []
        for artifact, execution, kind in links:
            k = (artifact.id, execution.id, kind)
            if k in self.linked:
                continue
            self.linked.add(k)
            events.append(pb.Event(artifact_id=artifact.id, execution_id=execution.id, type=kind,
                                   milliseconds_since_epoch=when))
        if events:
            self.store.put_events(events)
            self.calls += 1

    def newer(self, key: tuple, event: dict) -> bool:
        """Whether `event` is later (event time, then id) than what set `key`."""
        stamp = common.event_time(event)
        if key in self.folded and self.folded[key] >= stamp:
            return False
        self.folded[key] = stamp
        return True

    def run(self, ws: str, run_id: str) -> pb.Execution:
        return self.execution("Run", f"{ws}/{run_id}", {"workspace": ws, "run_id": run_id})

    def dataset_version(self, ws: str, dataset: str, version: str) -> pb.Artifact:
        return self.artifact("DatasetVersion", f"{ws}/{dataset}@{version}",
                             {"workspace": ws, "dataset": dataset, "version": version})

    def model_version(self, ws: str, model: str, version: str) -> pb.Artifact:
        return self.artifact("ModelVersion", f"{ws}/{model}@{version}",
                             {"workspace": ws, "model": model, "version": version})

    # -- events --------------------------------------------------------------
    def apply(self, event: dict) -> None:
        ws = event["workspace"]
        kind, p = common.payload_of(event)
        when = common.millis(event["occurred_at"])
        handler = getattr(self, "on_" + kind, None)
        if handler is not None:
            handler(ws, p, event, when)

    def on_experiment_created(self, ws, p, event, when):
        self.context("Experiment", f"{ws}/{p['experiment']}",
                     {"workspace": ws, "experiment": p["experiment"]})

    def on_run_started(self, ws, p, event, when):
        key = ("Run", f"{ws}/{p['run_id']}")
        run = self.executions.get(key) or pb.Execution(type_id=self.type_ids["Run"], name=key[1])
        self.undefined.discard(key)
        set_props(run, {"workspace": ws, "run_id": p["run_id"]})
        env = p.get("environment") or {}
        set_props(run, {
            "experiment": p.get("experiment", ""),
            "code_version": p.get("code_version", ""),
            "environment": f"{env.get('name', '')}@{env.get('version', '')}" if env else "",
            "compute_target": p.get("compute_target", ""),
            "parent_run_id": p.get("parent_run_id", ""),
        })
        for k, v in (p.get("params") or {}).items():
            run.custom_properties[f"param.{k}"].string_value = v
        for k, v in (p.get("tags") or {}).items():
            run.custom_properties[f"tag.{k}"].string_value = v
        if self.newer(("status", run.name), event):
            run.last_known_state = pb.Execution.RUNNING
            run.properties["status"].string_value = "STARTED"
        self.put_execution(("Run", run.name), run)
        links = []
        if env:
            a = self.reference("Environment", f"{env.get('name', '')}@{env.get('version', '')}",
                               {"name": env.get("name", ""), "version": env.get("version", "")})
            links.append((a, run, pb.Event.INPUT))
        if p.get("compute_target"):
            a = self.reference("ComputeTarget", p["compute_target"], {"name": p["compute_target"]})
            links.append((a, run, pb.Event.INPUT))
        self.link(links, when)
        if p.get("experiment"):
            ctx = self.context("Experiment", f"{ws}/{p['experiment']}",
                               {"workspace": ws, "experiment": p["experiment"]})
            self.store.put_attributions_and_associations(
                [], [pb.Association(context_id=ctx, execution_id=run.id)])
            self.calls += 1

    def on_run_finished(self, ws, p, event, when):
        run = self.run(ws, p["run_id"])
        status = p.get("status", "COMPLETED")
        if isinstance(status, int):
            status = {2: "COMPLETED", 3: "FAILED", 4: "CANCELED"}.get(status, "COMPLETED")
        if self.newer(("status", run.name), event):
            run.last_known_state = STATUS.get(status, pb.Execution.COMPLETE)
            run.properties["status"].string_value = status
            if p.get("error"):
                run.properties["error"].string_value = p["error"]
            self.put_execution(("Run", run.name), run)

    def on_params_logged(self, ws, p, event, when):
        run = self.run(ws, p["run_id"])
        for k, v in (p.get("params") or {}).items():
            run.custom_properties[f"param.{k}"].string_value = v
        self.put_execution(("Run", run.name), run)

    def on_metrics_logged(self, ws, p, event, when):
        run = self.run(ws, p["run_id"])
        ts = event["occurred_at"]
        changed = False
        for metric in p.get("metrics", []):
            key, value = metric["key"], float(metric.get("value", 0.0))
            stamp = (int(metric.get("step", 0)), metric.get("timestamp") or ts, event["event_id"])
            folded = ("metric", run.name, key)
            if folded not in self.folded or self.folded[folded] < stamp:
                self.folded[folded] = stamp
                run.custom_properties[f"metric.{key}"].double_value = value
                run.custom_properties[f"metric.{key}.step"].int_value = stamp[0]
                changed = True
        if changed:
            self.put_execution(("Run", run.name), run)

    def on_tags_set(self, ws, p, event, when):
        entity = p.get("entity") or {}
        if entity.get("kind") in ("RUN", 2):
            run = self.run(ws, entity["name"])
            for k, v in (p.get("tags") or {}).items():
                run.custom_properties[f"tag.{k}"].string_value = v
            self.put_execution(("Run", run.name), run)

    def on_dataset_version_registered(self, ws, p, event, when):
        name = f"{ws}/{p['dataset']}@{p['version']}"
        if ("registration", name) in self.folded:
            self.reregistered += 1
        if not self.newer(("registration", name), event):
            return  # an earlier (by event time) registration than the one stored
        if name in self.derived:
            # A later registration replaces the derivations of an earlier
            # one in lineaged; MLMD cannot delete events, so they stay.
            self.stale_derivations += 1
        node = self.artifacts.get(("DatasetVersion", name))
        node = self.artifact("DatasetVersion", name, {
            "workspace": ws, "dataset": p["dataset"], "version": p["version"],
            "digest": p.get("digest", ""), "produced_by_run_id": p.get("produced_by_run_id", ""),
        }, uri=p.get("uri"), define=True)
        if p.get("derived_from"):
            derivation = self.execution("Derivation", f"{ws}/derive/{p['dataset']}@{p['version']}", {
                "workspace": ws, "dataset": p["dataset"], "version": p["version"]},
                define=True)
            links = [(self.dataset_version(ws, ref["dataset"], ref["version"]), derivation,
                      pb.Event.INPUT) for ref in p["derived_from"]]
            links.append((node, derivation, pb.Event.OUTPUT))
            self.link(links, when)
            self.derived.add(name)
        if p.get("produced_by_run_id"):
            self.link([(node, self.run(ws, p["produced_by_run_id"]), pb.Event.OUTPUT)], when)

    def on_run_inputs_declared(self, ws, p, event, when):
        run = self.run(ws, p["run_id"])
        links = [(self.dataset_version(ws, r["dataset"], r["version"]), run, pb.Event.INPUT)
                 for r in p.get("datasets", [])]
        for r in p.get("artifacts", []):
            a = self.artifact("Artifact", f"{ws}/{r['run_id']}/{r['name']}",
                              {"workspace": ws, "run_id": r["run_id"], "name": r["name"]})
            links.append((a, run, pb.Event.INPUT))
        for r in p.get("models", []):
            links.append((self.model_version(ws, r["model"], r["version"]), run, pb.Event.INPUT))
        self.link(links, when)

    def on_artifact_logged(self, ws, p, event, when):
        name = f"{ws}/{p['run_id']}/{p['name']}"
        a = self.artifact("Artifact", name, {
            "workspace": ws, "run_id": p["run_id"], "name": p["name"], "kind": p.get("kind", ""),
            "digest": p.get("digest", ""), "size_bytes": int(p.get("size_bytes", 0) or 0),
        }, uri=p.get("uri"), define=True)
        self.link([(a, self.run(ws, p["run_id"]), pb.Event.OUTPUT)], when)

    def on_model_registered(self, ws, p, event, when):
        name = f"{ws}/{p['model']}@{p['version']}"
        m = self.artifact("ModelVersion", name, {
            "workspace": ws, "model": p["model"], "version": p["version"],
            "source_run_id": p.get("source_run_id", ""), "artifact_name": p.get("artifact_name", ""),
            "approval_notes": p.get("approval_notes", ""), "approved_by": p.get("approved_by", ""),
        }, define=True)
        if p.get("source_run_id"):
            self.link([(m, self.run(ws, p["source_run_id"]), pb.Event.OUTPUT)], when)

    def on_model_stage_changed(self, ws, p, event, when):
        m = self.model_version(ws, p["model"], p["version"])
        if self.newer(("stage", m.name), event):
            stage = p.get("stage")
            stage = STAGES.get(stage, stage) if isinstance(stage, int) else stage
            set_props(m, {"stage": stage, "stage_reason": p.get("reason", ""),
                          "stage_approved_by": p.get("approved_by", "")})
            self.save_artifact(m)

    def on_model_deployed(self, ws, p, event, when):
        m = self.model_version(ws, p["model"], p["version"])
        deployment = self.execution(
            "Deployment", f"{ws}/{p['model']}@{p['version']}/{p['endpoint']}/{p.get('deployment', '')}",
            {"workspace": ws, "model": p["model"], "version": p["version"],
             "endpoint": p["endpoint"], "deployment": p.get("deployment", "")},
            define=True)
        endpoint = self.reference("Endpoint", f"{ws}/{p['endpoint']}",
                                  {"workspace": ws, "endpoint": p["endpoint"]})
        self.link([(m, deployment, pb.Event.INPUT), (endpoint, deployment, pb.Event.OUTPUT)], when)


def open_store(path: str) -> metadata_store.MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def subgraph_counts(graph: pb.LineageGraph, type_names: dict[int, str]) -> dict:
    kinds: dict[str, int] = {}
    for a in graph.artifacts:
        kinds[type_names.get(a.type_id, "?")] = kinds.get(type_names.get(a.type_id, "?"), 0) + 1
    for e in graph.executions:
        kinds[type_names.get(e.type_id, "?")] = kinds.get(type_names.get(e.type_id, "?"), 0) + 1
    total = len(graph.artifacts) + len(graph.executions)
    connectors = kinds.get("Derivation", 0) + kinds.get("Deployment", 0)
    return {"total": total, "comparable": total - connectors, "edges": len(graph.events),
            "by_type": kinds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", required=True, help="JSON lines from `lineage-bench workload`")
    ap.add_argument("--limit", type=int, default=None,
                    help="load only the first N lines (a capped subset; reported)")
    ap.add_argument("--second-backlog",
                    help="JSON lines of `lineage-bench workload --events N/2 --seed 7`: loaded after "
                         "the workload with the b- prefix, as scenario 5 does, so the queries run on "
                         "the graph lineage's scenario 3 queries")
    ap.add_argument("--max-load-seconds", type=float, default=None,
                    help="stop loading after this long and query what was loaded (reported)")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per query figure")
    ap.add_argument("--max-reps", type=int, default=2000)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--dir", help="parent directory of the store (default: the system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = ap.parse_args()
    loadavg_start = os.getloadavg()

    parts = [("workload", common.read_events(args.workload, args.limit))]
    if args.second_backlog:
        parts.append(("second backlog", common.second_backlog(args.second_backlog)))

    tmp = tempfile.mkdtemp(prefix="mlmd-bench-", dir=args.dir)
    if not args.keep:
        atexit.register(shutil.rmtree, tmp, True)  # also when a step fails
    db = os.path.join(tmp, "mlmd.sqlite")
    store = open_store(db)
    loader = Loader(store)
    stats = common.load_parts(parts, loader.apply, "mlmd", args.max_load_seconds)
    facts, uses = common.loaded_facts(parts, stats)
    db_bytes = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    common.log(f"[mlmd] {loader.calls} store calls, {db_bytes / 1e6:.1f} MB; facts {facts.as_json()}")

    type_names = {v: k for k, v in loader.type_ids.items()}
    run_type = loader.type_ids["Run"]
    rows = []
    budget, reps = args.budget, args.max_reps

    # GetEntity (run).
    if facts.run:
        ws, run_id = facts.run
        name = f"{ws}/{run_id}"
        t = common.repeat(lambda: store.get_execution_by_type_and_name("Run", name), budget, max_runs=reps)
        assert t.result is not None and t.result.name == name
        rows.append(common.row(SYSTEM, "GetEntity (run): get_execution_by_type_and_name", t, 1))
        run_node_id = t.result.id
        t = common.repeat(lambda: store.get_executions_by_id([run_node_id]), budget, max_runs=reps)
        rows.append(common.row(SYSTEM, "GetEntity (run): get_executions_by_id", t, len(t.result)))

    # RunsUsingDataset, hot and cold.
    for label, ref in (("hot", facts.hot_dataset), ("cold", facts.cold_dataset)):
        if not ref:
            continue
        ws, dataset, version = ref
        name = f"{ws}/{dataset}@{version}"

        def by_events(name=name):
            a = store.get_artifact_by_type_and_name("DatasetVersion", name)
            evs = store.get_events_by_artifact_ids([a.id])
            ids = sorted({e.execution_id for e in evs if e.type == pb.Event.INPUT})
            runs = []
            # Derivations read dataset versions too: keep the runs, 100 at most.
            for i in range(0, len(ids), 100):
                runs += [e for e in store.get_executions_by_id(ids[i:i + 100]) if e.type_id == run_type]
                if len(runs) >= 100:
                    break
            return runs[:100]

        def by_filter(name=name):
            a = store.get_artifact_by_type_and_name("DatasetVersion", name)
            options = ml_metadata.ListOptions(
                limit=100, order_by=ml_metadata.OrderByField.ID, is_asc=True,
                filter_query=f"type = 'Run' AND events_0.artifact_id = {a.id} AND events_0.type = INPUT")
            return store.get_executions(list_options=options)

        expected = min(uses.get(ref, 0), 100)
        t = common.repeat(by_events, budget, max_runs=reps)
        n_events = len(t.result)
        if n_events != expected:
            common.log(f"[mlmd] WARNING: {label}: {n_events} runs, expected {expected}")
        rows.append(common.row(SYSTEM, f"RunsUsingDataset ({label}, page of 100): events + executions_by_id",
                               t, n_events, dataset=name, expected=expected))
        t = common.repeat(by_filter, budget, max_runs=reps)
        rows.append(common.row(SYSTEM, f"RunsUsingDataset ({label}, page of 100): get_executions filter_query",
                               t, len(t.result), dataset=name, expected=expected))
        if n_events != len(t.result):
            common.log(f"[mlmd] WARNING: {label}: events path {n_events} runs, filter path {len(t.result)}")

    def lineage(root_id: int, direction, hops: int):
        options = pb.LineageSubgraphQueryOptions(max_num_hops=hops, direction=direction)
        options.starting_artifacts.filter_query = f"id = {root_id}"
        return lambda: store.get_lineage_subgraph(options, ["artifacts", "executions", "events"])

    up = pb.LineageSubgraphQueryOptions.UPSTREAM
    down = pb.LineageSubgraphQueryOptions.DOWNSTREAM
    if facts.model:
        ws, model, version = facts.model
        root = store.get_artifact_by_type_and_name("ModelVersion", f"{ws}/{model}@{version}")
        for hops, label in ((4, "max_num_hops 4"), (100, "full: max_num_hops 100")):
            t = common.repeat(lineage(root.id, up, hops), budget, max_runs=reps)
            c = subgraph_counts(t.result, type_names)
            rows.append(common.row(SYSTEM, f"Provenance of a model version ({label}, UPSTREAM)", t,
                                   f"{c['total']} ({c['comparable']} comparable)", counts=c,
                                   root=f"{ws}/{model}@{version}"))
    if facts.hot_dataset:
        ws, dataset, version = facts.hot_dataset
        root = store.get_artifact_by_type_and_name("DatasetVersion", f"{ws}/{dataset}@{version}")
        for hops, label in ((4, "max_num_hops 4"), (100, "full: max_num_hops 100")):
            t = common.repeat(lineage(root.id, down, hops), budget, max_runs=reps)
            c = subgraph_counts(t.result, type_names)
            rows.append(common.row(SYSTEM, f"Impact of the hot dataset version ({label}, DOWNSTREAM)", t,
                                   f"{c['total']} ({c['comparable']} comparable)", counts=c,
                                   root=f"{ws}/{dataset}@{version}"))

    result = {
        "system": SYSTEM,
        "versions": {"ml-metadata": ml_metadata.__version__, "python": sys.version.split()[0]},
        "workload": args.workload,
        "second_backlog": args.second_backlog,
        **common.load_summary(stats),
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
        "cpus": os.cpu_count(),
        "store_calls": loader.calls,
        "placeholders_created": loader.placeholders,
        "never_defined": len(loader.undefined),
        "dataset_versions_registered_again": loader.reregistered,
        "superseded_derivations_kept": loader.stale_derivations,
        "db_bytes": db_bytes,
        "facts": facts.as_json(),
        "rows": rows,
    }
    common.print_rows(rows)
    if args.json:
        common.write_json(args.json, result)
    if args.keep:
        common.log(f"[mlmd] kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
