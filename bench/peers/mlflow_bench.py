#!/usr/bin/env python3
"""Peer benchmark: the lineage workload loaded into MLflow.

Loads the JSON-lines workload of `lineage-bench workload` into MLflow
through `MlflowClient` with a SQLite backend store
(`sqlite:///<tmp>/mlflow.db`, tracking and model registry) and a local
artifact root in the same temporary directory: no tracking server, no
network. Times the load, then times MLflow's equivalents of the in-process
queries of crates/lineage-bench/src/scenarios.rs (scenario 3), and says which
have none.

Mapping (lineage.v1 -> MLflow)
------------------------------
MLflow has no tenant boundary in a local store (its workspaces are a
tracking-server feature), so experiment and registered-model names carry the
workspace: experiment `<ws>/<experiment>`, registered model `<ws>.<model>`.
MLflow assigns its own run ids (UUIDs) and model version numbers; the loader
keeps the mapping and also records ours as tags (`lineage.run_id`,
`lineage.version`).

- RunStarted -> `create_run` in the experiment (created on first use) with
  run name = our run id, start time = occurred_at, tags: ours, `lineage.*`,
  `mlflow.source.git.commit` = code version, `lineage.environment`,
  `lineage.compute_target`, and `mlflow.parentRunId` for sweep trials; then
  `log_batch(params=...)`. MLflow has no environment or compute entity.
- MetricsLogged -> `log_batch(metrics=[Metric(key, value, timestamp, step)])`
  (the whole series is kept; MLflow folds the latest value by step, then
  timestamp, as lineaged does).
- RunFinished -> `set_terminated` (FINISHED / FAILED / KILLED, end time).
- RunInputsDeclared -> `log_inputs` with one `DatasetInput` per dataset
  version: `Dataset(name=<dataset>, digest=<content digest>,
  source_type="s3", source=<uri>, profile=<JSON: version, derived_from,
  produced_by_run_id>)` and the input tag `mlflow.data.context=training`.
  MLflow identifies a dataset by (name, digest) within an experiment, and
  the digest is meant to be the content hash, so the version number goes in
  the profile. (Not the version as the digest: see RunsUsingDataset below.)
  MLflow has no dataset registry in the tracking store (datasets exist only
  as run inputs, and are experiment-scoped rows), so
  DatasetVersionRegistered is kept by the loader until a run uses the
  version, and a version no run uses is not in MLflow at all. Derivations
  (`derived_from`) are text in the profile: nothing can walk them.
- ArtifactLogged -> a small JSON descriptor (uri, digest, kind, size) written
  with `log_text` to the run's artifact store under `lineage-artifacts/`
  (the objects themselves are external URIs and are not copied); for kind
  `model`, also an MLflow 3 LoggedModel (`create_logged_model` with the
  source run, `log_outputs` from the run, `finalize_logged_model` READY).
- ModelRegistered -> `create_registered_model` (first time) and
  `create_model_version(source="models:/<id of the LoggedModel of
  artifact_name>", run_id=<source run>, description=approval notes, tags
  lineage.version, approved_by)`. The `models:/` source is how MLflow 3
  links a version to its LoggedModel: its SQL registry ignores the
  `model_id` argument.
- ModelStageChanged -> `transition_model_version_stage` (deprecated since
  MLflow 2.9 in favour of aliases, still there in 3.x and closest to our
  stages) plus tags for reason and approver; folded by event time.
- ModelDeployed -> model version tag `deployment.<endpoint>` = deployment.
  MLflow's tracking store has no endpoint or deployment entity.
- A dataset version registered again: the loader keeps the registration
  that is latest by event time (as lineaged does) for inputs logged after.
- Duplicates: the loader skips a repeated (workspace, event_id).
- Out-of-order references: MLflow cannot create a run before its
  experiment is known, nor a model version before its run, nor amend a
  logged dataset input, so an event that references what is not there yet
  (a run not started, a dataset version not registered, a model version not
  registered) waits in the loader until it is (at most the workload's
  reorder window). Whatever still waits at the end is applied with
  placeholders and counted.

Queries (roots resolved before timing, as scenario 3 does, unless said)
----------------------------------------------------------------------
- GetEntity (run): `get_run(<mlflow run id>)` (params, latest metrics, tags,
  dataset inputs); and by our id, `search_runs` on the tag
  `lineage.run_id` across the workspace's experiments.
- RunsUsingDataset (hot / cold, page of 100): `search_runs(experiment_ids=
  <all experiments of the workspace>, filter_string="dataset.name = '<d>'
  AND dataset.digest = '<content digest of the version>'", max_results=100,
  order_by=run name ASC)`. The run-name order is our run-id order, as
  lineaged pages. The version's digest is looked up before timing; when a
  version was registered more than once with different content digests
  (the second backlog re-registers the same names), the filter is
  `dataset.digest IN (<every digest it had>)`, since runs logged whichever
  was current when they ran (MLflow's dataset rows cannot be amended). Beware:
  MLflow (3.17.2, SQL store) turns each `dataset.*` clause into its own
  subquery, so the two clauses need not match the same input: with
  digest = version number, `dataset.name = 'd' AND dataset.digest = '1'`
  also returned runs that read d@2 and some e@1. With a content digest the
  digest alone identifies the version, so the answer is exact.
- TraceModel, one level only: `get_model_version` + `get_run` of its source
  run (params, metrics, code version tag, dataset inputs). MLflow cannot go
  further upstream: dataset derivations are not in its model, so
  Provenance to depth 4 / full has no equivalent.
- Impact, two levels only: the runs that used the hot version (every page of
  `search_runs`, 1000 per page) then the model versions registered from them
  (`search_model_versions("run_id IN (...)")`, in chunks of 100). Derived
  dataset versions, runs downstream of them, artifacts and deployments
  (tags) are out of reach, so Impact to depth 4 / full has no equivalent.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# Nothing leaves the machine: MLflow 3 sends usage telemetry unless told not to.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["_MLFLOW_TELEMETRY_PRE_WARM_DATABRICKS_SDK"] = "false"
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import (  # noqa: E402
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
)

SYSTEM = f"MLflow {mlflow.__version__} (SQLite)"
STATUS = {"COMPLETED": "FINISHED", "FAILED": "FAILED", "CANCELED": "KILLED",
          2: "FINISHED", 3: "FAILED", 4: "KILLED"}
STAGES = {"STAGING": "Staging", "PRODUCTION": "Production", "ARCHIVED": "Archived",
          1: "Staging", 2: "Production", 3: "Archived"}


def digest_of(registration: dict, version: str) -> str:
    """The MLflow dataset digest of a version: its content digest (MLflow's
    own meaning of the field, at most 36 characters), or `v<version>` for a
    version whose registration never arrived."""
    return (registration.get("digest") or f"v{version}")[:36]


class Wait(Exception):
    """The event needs `key` to exist first."""

    def __init__(self, key):
        super().__init__(str(key))
        self.key = key


class Loader:
    def __init__(self, client: MlflowClient, artifact_root: str):
        self.client = client
        self.artifact_root = artifact_root
        self.experiments: dict[tuple[str, str], str] = {}
        self.runs: dict[tuple[str, str], tuple[str, str]] = {}  # -> (mlflow run id, experiment id)
        self.datasets: dict[tuple[str, str, str], dict] = {}
        # Every digest a version was ever registered with (see RunsUsingDataset).
        self.digests: dict[tuple[str, str, str], set[str]] = {}
        self.logged_models: dict[tuple[str, str, str], str] = {}  # (ws, run, name) -> model id
        self.registered: set[tuple[str, str]] = set()
        self.versions: dict[tuple[str, str, str], str] = {}  # -> mlflow version
        self.folded: dict[tuple, tuple[str, str]] = {}
        self.waiting: dict[tuple, list[dict]] = {}
        self.waited = 0
        self.forced = 0  # applied at the end with placeholders
        self.reregistered = 0  # dataset versions registered again
        self.calls = 0
        self.final = False

    # -- plumbing --------------------------------------------------------------
    def submit(self, event: dict) -> None:
        try:
            self.apply(event)
        except Wait as wait:
            self.waiting.setdefault(wait.key, []).append(event)
            self.waited += 1

    def ready(self, key) -> None:
        """`key` now exists: apply what waited for it (bounded by the queue)."""
        for event in self.waiting.pop(key, []):
            self.submit(event)

    def finish(self) -> None:
        """Applies what still waits, with placeholders (bounded: every pass
        empties the queue, and `final` stops further waiting)."""
        self.final = True
        if self.waiting:
            kinds: dict[str, int] = {}
            for key, events in self.waiting.items():
                kinds[key[0]] = kinds.get(key[0], 0) + len(events)
            common.log(f"[mlflow] at the end, events still waiting for: {kinds}")
        while self.waiting:
            key, events = next(iter(self.waiting.items()))
            del self.waiting[key]
            for event in events:
                self.forced += 1
                self.apply(event)

    def run_of(self, ws: str, run_id: str) -> str:
        if (ws, run_id) in self.runs:
            return self.runs[(ws, run_id)][0]
        if not self.final:
            raise Wait(("run", ws, run_id))
        # Placeholder: a run whose RunStarted never came.
        return self.start_run(ws, run_id, "_unknown", 0, {}, {})

    def experiment(self, ws: str, name: str) -> str:
        key = (ws, name)
        if key not in self.experiments:
            location = "file://" + os.path.join(self.artifact_root, f"{len(self.experiments)}")
            self.experiments[key] = self.client.create_experiment(
                f"{ws}/{name}", artifact_location=location,
                tags={"lineage.workspace": ws, "lineage.experiment": name})
            self.calls += 1
        return self.experiments[key]

    def start_run(self, ws, run_id, experiment, start_ms, tags, params) -> str:
        experiment_id = self.experiment(ws, experiment)
        run = self.client.create_run(experiment_id, start_time=start_ms or None, tags=tags,
                                     run_name=run_id)
        self.calls += 1
        self.runs[(ws, run_id)] = (run.info.run_id, experiment_id)
        if params:
            self.client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
            self.calls += 1
        self.ready(("run", ws, run_id))
        return run.info.run_id

    def newer(self, key: tuple, event: dict) -> bool:
        stamp = common.event_time(event)
        if key in self.folded and self.folded[key] >= stamp:
            return False
        self.folded[key] = stamp
        return True

    def dataset_filter(self, key: tuple[str, str, str]) -> str:
        """The search_runs filter for the runs that read dataset version `key`."""
        digests = ",".join(f"'{d}'" for d in sorted(self.digests.get(key, {f"v{key[2]}"})))
        return f"dataset.name = '{key[1]}' AND dataset.digest IN ({digests})"

    def model_version(self, ws: str, model: str, version: str) -> str:
        key = (ws, model, version)
        if key not in self.versions:
            if not self.final:
                raise Wait(("model", ws, model, version))
            return ""
        return self.versions[key]

    # -- events --------------------------------------------------------------
    def apply(self, event: dict) -> None:
        kind, p = common.payload_of(event)
        handler = getattr(self, "on_" + kind, None)
        if handler is not None:
            handler(event["workspace"], p, event, common.millis(event["occurred_at"]))

    def on_experiment_created(self, ws, p, event, when):
        self.experiment(ws, p["experiment"])

    def on_run_started(self, ws, p, event, when):
        if (ws, p["run_id"]) in self.runs:
            return  # a placeholder was made at the very end; nothing to amend
        tags = {f"tag.{k}" if k.startswith("mlflow.") else k: v for k, v in (p.get("tags") or {}).items()}
        tags.update({"lineage.workspace": ws, "lineage.run_id": p["run_id"]})
        if p.get("code_version"):
            tags["mlflow.source.git.commit"] = p["code_version"]
        env = p.get("environment") or {}
        if env:
            tags["lineage.environment"] = f"{env.get('name', '')}@{env.get('version', '')}"
        if p.get("compute_target"):
            tags["lineage.compute_target"] = p["compute_target"]
        if p.get("parent_run_id"):
            tags["mlflow.parentRunId"] = self.run_of(ws, p["parent_run_id"])
        tags["mlflow.user"] = event.get("actor", "")
        self.start_run(ws, p["run_id"], p.get("experiment") or "_unknown", when, tags,
                       p.get("params") or {})

    def on_params_logged(self, ws, p, event, when):
        run = self.run_of(ws, p["run_id"])
        self.client.log_batch(run, params=[Param(k, v) for k, v in (p.get("params") or {}).items()])
        self.calls += 1

    def on_metrics_logged(self, ws, p, event, when):
        run = self.run_of(ws, p["run_id"])
        metrics = [Metric(m["key"], float(m.get("value", 0.0)),
                          common.millis(m["timestamp"]) if m.get("timestamp") else when,
                          int(m.get("step", 0)))
                   for m in p.get("metrics", [])]
        self.client.log_batch(run, metrics=metrics)
        self.calls += 1

    def on_tags_set(self, ws, p, event, when):
        entity = p.get("entity") or {}
        if entity.get("kind") in ("RUN", 2):
            run = self.run_of(ws, entity["name"])
            self.client.log_batch(run, tags=[RunTag(k, v) for k, v in (p.get("tags") or {}).items()])
            self.calls += 1

    def on_run_finished(self, ws, p, event, when):
        run = self.run_of(ws, p["run_id"])
        if self.newer(("status", ws, p["run_id"]), event):
            if p.get("error"):
                self.client.set_tag(run, "lineage.error", p["error"])
                self.calls += 1
            self.client.set_terminated(run, STATUS.get(p.get("status", "COMPLETED"), "FINISHED"),
                                       end_time=when)
            self.calls += 1

    def on_dataset_version_registered(self, ws, p, event, when):
        key = (ws, p["dataset"], p["version"])
        if key in self.datasets:
            self.reregistered += 1
        if self.newer(("registration", *key), event):
            self.datasets[key] = p
        self.digests.setdefault(key, set()).add(digest_of(p, p["version"]))
        self.ready(("dataset", *key))

    def on_run_inputs_declared(self, ws, p, event, when):
        run = self.run_of(ws, p["run_id"])
        inputs = []
        for ref in p.get("datasets", []):
            key = (ws, ref["dataset"], ref["version"])
            reg = self.datasets.get(key)
            if reg is None and not self.final:
                raise Wait(("dataset", *key))
            reg = reg or {}
            if not reg:
                self.digests.setdefault(key, set()).add(digest_of(reg, ref["version"]))
            profile = json.dumps({
                "version": ref["version"],
                "derived_from": reg.get("derived_from", []),
                "produced_by_run_id": reg.get("produced_by_run_id", ""),
            }, sort_keys=True)
            dataset = Dataset(name=ref["dataset"], digest=digest_of(reg, ref["version"]),
                              source_type="s3", source=reg.get("uri", "unknown"), profile=profile)
            inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")]))
        tags = []
        for ref in p.get("artifacts", []):
            tags.append(RunTag(f"lineage.input.artifact.{ref['run_id']}/{ref['name']}", "1"))
        for ref in p.get("models", []):
            tags.append(RunTag(f"lineage.input.model.{ref['model']}@{ref['version']}", "1"))
        if inputs:
            self.client.log_inputs(run, datasets=inputs)
            self.calls += 1
        if tags:
            self.client.log_batch(run, tags=tags)
            self.calls += 1

    def on_artifact_logged(self, ws, p, event, when):
        run = self.run_of(ws, p["run_id"])
        descriptor = {k: p.get(k) for k in ("name", "uri", "digest", "kind", "size_bytes")}
        self.client.log_text(run, json.dumps(descriptor, sort_keys=True),
                             f"lineage-artifacts/{p['name']}.json")
        self.calls += 1
        if p.get("kind") == "model":
            experiment_id = self.runs[(ws, p["run_id"])][1]
            model = self.client.create_logged_model(
                experiment_id, name=p["name"].replace(".", "-"), source_run_id=run,
                tags={"lineage.uri": p.get("uri", ""), "lineage.digest": p.get("digest", "")})
            self.client.log_outputs(run, [LoggedModelOutput(model.model_id, 0)])
            self.client.finalize_logged_model(model.model_id, "READY")
            self.calls += 3
            self.logged_models[(ws, p["run_id"], p["name"])] = model.model_id
        self.ready(("artifact", ws, p["run_id"], p["name"]))

    def on_model_registered(self, ws, p, event, when):
        run = self.run_of(ws, p["source_run_id"])
        model_id = None
        if p.get("artifact_name"):
            model_id = self.logged_models.get((ws, p["source_run_id"], p["artifact_name"]))
            if model_id is None and not self.final:
                raise Wait(("artifact", ws, p["source_run_id"], p["artifact_name"]))
        name = f"{ws}.{p['model']}"
        if (ws, p["model"]) not in self.registered:
            self.client.create_registered_model(name, tags={"lineage.workspace": ws})
            self.calls += 1
            self.registered.add((ws, p["model"]))
        # MLflow 3 links a version to its LoggedModel through the source URI
        # `models:/<model_id>` (its SQL registry does not store model_id).
        source = (f"models:/{model_id}" if model_id
                  else f"s3://artifacts/{p['source_run_id']}/{p.get('artifact_name', '')}")
        mv = self.client.create_model_version(
            name, source=source, run_id=run, model_id=model_id,
            description=p.get("approval_notes", ""),
            tags={"lineage.version": p["version"], "lineage.approved_by": p.get("approved_by", "")})
        self.calls += 1
        self.versions[(ws, p["model"], p["version"])] = mv.version
        self.ready(("model", ws, p["model"], p["version"]))

    def on_model_stage_changed(self, ws, p, event, when):
        version = self.model_version(ws, p["model"], p["version"])
        if not version:
            return  # never registered: MLflow has nowhere to put it
        if self.newer(("stage", ws, p["model"], p["version"]), event):
            name = f"{ws}.{p['model']}"
            self.client.transition_model_version_stage(name, version, STAGES.get(p.get("stage"), "None"))
            self.client.set_model_version_tag(name, version, "lineage.stage_reason", p.get("reason", ""))
            self.client.set_model_version_tag(name, version, "lineage.stage_approved_by",
                                              p.get("approved_by", ""))
            self.calls += 3

    def on_model_deployed(self, ws, p, event, when):
        version = self.model_version(ws, p["model"], p["version"])
        if not version:
            return
        self.client.set_model_version_tag(f"{ws}.{p['model']}", version,
                                          f"deployment.{p['endpoint']}", p.get("deployment", ""))
        self.calls += 1


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
    ap.add_argument("--keep", action="store_true", help="keep the store")
    args = ap.parse_args()
    loadavg_start = os.getloadavg()

    parts = [("workload", common.read_events(args.workload, args.limit))]
    if args.second_backlog:
        parts.append(("second backlog", common.second_backlog(args.second_backlog)))
    tmp = tempfile.mkdtemp(prefix="mlflow-bench-", dir=args.dir)
    if not args.keep:
        atexit.register(shutil.rmtree, tmp, True)  # also when a step fails
    db = os.path.join(tmp, "mlflow.db")
    uri = f"sqlite:///{db}"
    # The registry resolves `models:/` sources with a default MlflowClient().
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments(max_results=1)  # creates the schema, outside the load timing
    loader = Loader(client, os.path.join(tmp, "artifacts"))
    stats = common.load_parts(parts, loader.submit, "mlflow", args.max_load_seconds, loader.finish)
    facts, uses = common.loaded_facts(parts, stats)
    db_bytes = os.path.getsize(db)
    common.log(f"[mlflow] {loader.calls} client calls, {loader.waited} waited, {loader.forced} forced, "
               f"{db_bytes / 1e6:.1f} MB; facts {facts.as_json()}")

    rows = []
    budget, reps = args.budget, args.max_reps

    def experiments_of(ws: str) -> list[str]:
        return [eid for (w, _), eid in loader.experiments.items() if w == ws]

    if facts.run:
        ws, run_id = facts.run
        mlflow_run = loader.runs[(ws, run_id)][0]
        t = common.repeat(lambda: client.get_run(mlflow_run), budget, max_runs=reps)
        r = t.result
        rows.append(common.row(SYSTEM, "GetEntity (run): get_run", t, 1,
                               params=len(r.data.params), metrics=len(r.data.metrics),
                               inputs=len(r.inputs.dataset_inputs)))
        exps = experiments_of(ws)
        flt = f"tags.`lineage.run_id` = '{run_id}'"
        t = common.repeat(lambda: client.search_runs(exps, filter_string=flt, max_results=1), budget,
                          max_runs=reps)
        rows.append(common.row(SYSTEM, "GetEntity (run) by our run id: search_runs on a tag", t,
                               len(t.result)))

    for label, ref in (("hot", facts.hot_dataset), ("cold", facts.cold_dataset)):
        if not ref:
            continue
        ws, dataset, version = ref
        exps = experiments_of(ws)
        flt = loader.dataset_filter(ref)
        t = common.repeat(lambda: client.search_runs(exps, filter_string=flt, max_results=100,
                                                     order_by=["attributes.run_name ASC"]),
                          budget, max_runs=reps)
        expected = min(uses.get(ref, 0), 100)
        if len(t.result) != expected:
            common.log(f"[mlflow] WARNING: {label}: {len(t.result)} runs, expected {expected}")
        rows.append(common.row(SYSTEM, f"RunsUsingDataset ({label}, page of 100): search_runs dataset filter",
                               t, len(t.result), dataset="/".join(ref), experiments=len(exps),
                               expected=expected))

    if facts.model:
        ws, model, version = facts.model
        name, mv = f"{ws}.{model}", loader.versions.get((ws, model, version))

        def trace():
            v = client.get_model_version(name, mv)
            return v, client.get_run(v.run_id)

        if mv:
            t = common.repeat(trace, budget, max_runs=reps)
            v, r = t.result
            rows.append(common.row(SYSTEM, "TraceModel, 1 level: get_model_version + get_run", t,
                                   2 + len(r.inputs.dataset_inputs),
                                   note="model version, source run, its dataset inputs; no further upstream"))
        rows.append(common.row(SYSTEM, "Provenance of a model version (depth 4 / full)", None,
                               "no equivalent", note="derivations are not in MLflow's model"))

    if facts.hot_dataset:
        ws, dataset, version = facts.hot_dataset
        exps = experiments_of(ws)
        flt = loader.dataset_filter(facts.hot_dataset)

        def impact():
            runs, token = [], None
            for _ in range(1000):  # bounded paging
                page = client.search_runs(exps, filter_string=flt, max_results=1000, page_token=token)
                runs.extend(page)
                token = page.token
                if not token:
                    break
            ids = [r.info.run_id for r in runs]
            versions = []
            for i in range(0, len(ids), 100):
                quoted = ",".join(f"'{x}'" for x in ids[i:i + 100])
                versions.extend(client.search_model_versions(f"run_id IN ({quoted})"))
            return runs, versions

        t = common.repeat(impact, budget, max_runs=reps)
        runs, versions = t.result
        rows.append(common.row(SYSTEM, "Impact, 2 levels: runs using the hot version + their model versions",
                               t, len(runs) + len(versions), runs=len(runs), model_versions=len(versions),
                               note="derived datasets, artifacts, endpoints out of reach"))
        rows.append(common.row(SYSTEM, "Impact of the hot dataset version (depth 4 / full)", None,
                               "no equivalent", note="no downstream walk beyond runs"))

    result = {
        "system": SYSTEM,
        "versions": {"mlflow": mlflow.__version__, "python": sys.version.split()[0]},
        "workload": args.workload,
        "second_backlog": args.second_backlog,
        **common.load_summary(stats),
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
        "cpus": os.cpu_count(),
        "client_calls": loader.calls,
        "events_waited": loader.waited,
        "events_forced_with_placeholders": loader.forced,
        "dataset_versions_registered_again": loader.reregistered,
        "db_bytes": db_bytes,
        "facts": facts.as_json(),
        "rows": rows,
    }
    common.print_rows(rows)
    if args.json:
        common.write_json(args.json, result)
    if args.keep:
        common.log(f"[mlflow] kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
