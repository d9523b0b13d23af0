#!/usr/bin/env python3
"""The questions of ../shared/DOMAIN.md, asked through lineage_client and
answered in plain text, the way one would in a notebook.

By default it asks about the demo history (`./scripts/demo.sh` loads
deploy/demo/history.jsonl): model `credit-risk@7` and dataset
`applications@3` of the credit lender (workspace `credit-lender`), where a
bad join was found in `applications@3` after `credit-risk@7` had gone to
production. Point it at anything else with `--workspace`, `--model` and
`--dataset`, e.g. at what examples/train.py registered.

1. Where did the model version come from? (TraceModel)
2. What did the dataset version touch, and what of it is in production,
   now and when the dataset was flagged? (Impact, GetEntity, as of)
3. Which runs used the dataset version, and any version of it? (RunsUsingDataset)
4. Which runs of the model's experiment share its parameter, ranked by a
   metric? (SearchRuns)
5. Does the model version meet its promotion criteria, and who approved
   each stage? (CheckPromotion, GetEntity)

    python examples/questions.py
    python examples/questions.py --workspace ml-sandbox \
        --model toy-classifier@<version> --dataset toy-points@<version>
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from lineage_client import (
    FailedPreconditionError,
    LineageClient,
    LineageError,
    events_pb2,
    format_ref,
    parse_dataset_spec,
    parse_model_spec,
    service_pb2,
)

#: How a count of entities of each kind is written.
KIND_PLURAL = {
    events_pb2.EXPERIMENT: "experiments",
    events_pb2.RUN: "runs",
    events_pb2.DATASET_VERSION: "dataset versions",
    events_pb2.ARTIFACT: "artifacts",
    events_pb2.MODEL_VERSION: "model versions",
    events_pb2.ENVIRONMENT: "environments",
    events_pb2.COMPUTE: "compute targets",
    events_pb2.ENDPOINT: "endpoints",
}

#: Asked when the model has no stored promotion criteria.
FALLBACK_CRITERIA = "status = 'COMPLETED' and approved and no flagged upstream"


def heading(text: str) -> None:
    print(f"\n== {text}")


def when(stamp: Timestamp) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%dT%H:%M:%SZ")


def stage_name(stage: int) -> str:
    return events_pb2.ModelStage.Name(stage) if stage else "no stage"


def run_line(run: service_pb2.Entity) -> str:
    details = run.run
    status = events_pb2.RunStatus.Name(details.status) if details.status else "UNKNOWN"
    started = f", started {when(details.started_at)}" if details.HasField("started_at") else ""
    return f"{format_ref(run.ref)}  {status}  ({details.experiment or 'no experiment'}{started})"


def flags_text(entity: service_pb2.Entity) -> str:
    return "".join(f"  FLAGGED {events_pb2.Severity.Name(f.severity)}" for f in entity.flags)


def where_did_it_come_from(client: LineageClient, model: str) -> service_pb2.ModelTrace:
    heading(f"1. Where did model:{model} come from?")
    trace = client.trace_model(model, view="full")
    version = trace.model.model_version
    print(
        f"model:{model}  {stage_name(version.stage)}, registered {when(version.registered_at)}"
        + (f", approved by {version.approved_by}" if version.approved_by else "")
    )
    if version.approval_notes:
        print(f"  notes: {version.approval_notes}")
    run = trace.source_run.run
    print(f"source run: {run_line(trace.source_run)}")
    if run.parent_run_id:
        print(f"  parent run: run:{run.parent_run_id}")
    if run.code_version:
        print(f"  code version: {run.code_version}")
    if run.params:
        print("  params: " + ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())))
    for metric in run.latest_metrics:
        print(f"  {metric.key} = {metric.value:.4g}  (step {metric.step})")
    if trace.HasField("environment"):
        print(f"  environment: {format_ref(trace.environment.ref)}")
    if trace.HasField("compute"):
        print(f"  compute: {format_ref(trace.compute.ref)}")
    for entity in trace.inputs:
        print(f"  input: {format_ref(entity.ref)}{flags_text(entity)}")
    upstream_datasets = [
        node for node in trace.upstream.nodes if node.ref.kind == events_pb2.DATASET_VERSION
    ]
    print(f"dataset versions upstream, to any depth ({len(upstream_datasets)}):")
    for node in upstream_datasets:
        print(f"  {format_ref(node.ref)}{flags_text(node)}")
    return trace


def what_did_it_touch(client: LineageClient, dataset: str) -> None:
    heading(f"2. What did dataset:{dataset} touch, and what of it is in production?")
    root = f"dataset:{dataset}"
    entity = client.get_entity(root)
    for flag in entity.flags:
        print(
            f"flagged {events_pb2.Severity.Name(flag.severity)} at {when(flag.flagged_at)}"
            f" by {flag.flagged_by or 'unknown'}: {flag.reason}"
        )
    downstream = client.impact(root)
    # nodes[0] is the root itself.
    kinds = Counter(KIND_PLURAL[node.ref.kind] for node in downstream.nodes[1:])
    summary = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "nothing"
    print(f"downstream now: {summary}" + (" (truncated)" if downstream.truncated else ""))
    print_production(client, root, label="in production now")
    for flag in entity.flags:
        # The blast radius as it stood when the flag was raised: what was
        # serving then on top of bad data (event time, as known now).
        print_production(
            client,
            root,
            label=f"in production when it was flagged ({when(flag.flagged_at)})",
            occurred_by=flag.flagged_at.ToDatetime(),
        )


def print_production(
    client: LineageClient, root: str, *, label: str, occurred_by: datetime | None = None
) -> None:
    models = client.impact(
        root,
        node_kinds=["model"],
        view="full",
        occurred_by=occurred_by,
    )
    in_production = [
        node
        for node in models.nodes
        if node.ref.kind == events_pb2.MODEL_VERSION
        and node.model_version.stage == events_pb2.PRODUCTION
    ]
    others = [
        f"{format_ref(node.ref)} {stage_name(node.model_version.stage)}"
        for node in models.nodes
        if node.ref.kind == events_pb2.MODEL_VERSION and node not in in_production
    ]
    if not in_production:
        print(f"{label}: none of the model versions downstream")
    for node in in_production:
        details = node.model_version
        endpoints = ", ".join(d.endpoint for d in details.deployments) or "no endpoint"
        print(f"{label}: {format_ref(node.ref)} on {endpoints}")
        if details.HasField("promotion"):
            unmet = ", ".join(details.promotion.unmet)
            verdict = (
                "meets its promotion criteria"
                if details.promotion.met
                else f"NOT meeting its promotion criteria (unmet: {unmet})"
            )
            print(f"  {verdict}")
        if occurred_by is not None:
            # Who serves those endpoints today.
            for deployment in details.deployments:
                endpoint = client.get_entity(f"endpoint:{deployment.endpoint}")
                served = endpoint.endpoint.model
                now_serving = f"model:{served.model}@{served.version}"
                print(f"  endpoint:{deployment.endpoint} now serves {now_serving}")
    if others:
        print(f"  other model versions downstream: {', '.join(others)}")


def which_runs_used_it(client: LineageClient, dataset: str) -> None:
    name, version = parse_dataset_spec(dataset)
    heading(f"3. Which runs used dataset:{dataset}? And any version of {name}?")
    if version is not None:
        runs = list(client.iter_runs_using_dataset(name, version))
        print(f"{name}@{version}: {len(runs)} run(s)")
        for run in runs:
            print(f"  {run_line(run)}")
    # FULL, for each run's input versions.
    any_version = list(client.iter_runs_using_dataset(name, view="full"))
    print(f"any version of {name}: {len(any_version)} run(s)")
    for run in any_version:
        versions = ", ".join(
            f"{d.dataset}@{d.version}" for d in run.run.input_datasets if d.dataset == name
        )
        print(f"  {run_line(run)}  read {versions or name}")


def ranked_runs(
    client: LineageClient, trace: service_pb2.ModelTrace, param: str, metric: str | None
) -> None:
    run = trace.source_run.run
    metrics = sorted(m.key for m in run.latest_metrics)
    rank_by = metric or ("auc" if "auc" in metrics else (metrics[0] if metrics else None))
    value = run.params.get(param)
    terms = [f"params.{param} = '{value}'"] if value is not None else []
    filter_text = " and ".join([*terms, "status = 'COMPLETED'"])
    heading(
        f"4. Runs of experiment {run.experiment} with {filter_text}"
        + (f", ranked by {rank_by}" if rank_by else "")
    )
    page = client.search_runs(
        filter_text,
        experiments=[run.experiment] if run.experiment else [],
        order_by=[f"metrics.{rank_by} DESC"] if rank_by else [],
        page_size=10,
        view="full",
    )
    source = trace.source_run.ref.name
    for position, found in enumerate(page.runs, start=1):
        values = {m.key: m.value for m in found.run.latest_metrics}
        score = f"{rank_by} {values[rank_by]:.4f}" if rank_by in values else "no value"
        marker = "  <- the model's source run" if found.ref.name == source else ""
        print(f"  {position:2}. run:{found.ref.name}  {score}{marker}")
    if page.next_page_token:
        print("  ...")


def promotion_check(client: LineageClient, model: str, criteria: str | None) -> None:
    heading(f"5. Does model:{model} meet its promotion criteria? Who approved each stage?")
    try:
        check = client.check_promotion(model, criteria=criteria or "")
    except FailedPreconditionError:
        print(f"model has no stored criteria; checking: {FALLBACK_CRITERIA}")
        check = client.check_promotion(model, criteria=FALLBACK_CRITERIA)
    met = sum(result.passed for result in check.results)
    print(
        f"{'PASS' if check.passed else 'FAIL'}  model:{model}  ({met} of {len(check.results)}"
        f" criteria met; source run:{check.source_run_id})"
    )
    if check.criteria_event_id:
        print(f"criteria: {check.criteria}  (set by event {check.criteria_event_id})")
    for result in check.results:
        print(f"  {'pass' if result.passed else 'FAIL'}  {result.criterion}: {result.explanation}")
    entity = client.get_entity(f"model:{model}")
    history = entity.model_version.stage_history
    print(f"stage changes: {len(history) or 'none'}")
    for change in history:
        approver = change.approved_by or "NO APPROVER"
        reason = f' "{change.reason}"' if change.reason else ""
        print(f"  {when(change.changed_at)}  {stage_name(change.stage):<10} by {approver}{reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222", help="unused: it only asks")
    parser.add_argument("--grpc-addr", default="127.0.0.1:50051")
    parser.add_argument("--workspace", default="credit-lender")
    parser.add_argument("--model", default="credit-risk@7", help="a model version, name@version")
    parser.add_argument("--dataset", default="applications@3", help="a dataset version")
    parser.add_argument("--param", default="lr", help="the parameter question 4 matches on")
    parser.add_argument(
        "--metric", help="the metric question 4 ranks by (default: auc, or the first)"
    )
    parser.add_argument("--criteria", help="promotion criteria (default: the model's stored ones)")
    parser.add_argument("--token", help="a bearer token, when lineaged has an access file")
    args = parser.parse_args()

    model_name, model_version = parse_model_spec(args.model)
    model = f"{model_name}@{model_version}"
    with LineageClient(args.grpc_addr, token=args.token, workspace=args.workspace) as client:
        try:
            trace = where_did_it_come_from(client, model)
            what_did_it_touch(client, args.dataset)
            which_runs_used_it(client, args.dataset)
            ranked_runs(client, trace, args.param, args.metric)
            promotion_check(client, model, args.criteria)
        except LineageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
