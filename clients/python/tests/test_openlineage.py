"""OpenLineage producers, as they are: the real `openlineage-python` client
and its HTTP transport posting to lineaged's HTTP listener
(`POST /api/v1/lineage`), and what lineaged makes of it, read over gRPC
with lineage_client and over HTTP the way Marquez answers.

The contract under test (the server side of issue 7):

- `POST /api/v1/lineage` answers 201, once the event is durably in NATS,
  with `{"workspace": ..., "id": "ol-..."}`; the same event posted again
  gets the same ids; a bad body answers 400 `{"code": 400, "message": ...}`.
- The translation into the native graph follows asynchronously: workspace
  = the job namespace (`food_delivery`), run id = `runId`, experiment =
  job name, START/COMPLETE/FAIL/ABORT = STARTED/COMPLETED/FAILED (error
  from the `errorMessage` facet)/CANCELED, parent run facet = parent run;
  datasets named `<namespace>/<name>`, versioned by the `version` facet's
  `datasetVersion` or `c-` and 16 hex digits of their facets; inputs
  declared as the run's inputs, outputs produced by it; tags
  `openlineage.namespace`, `openlineage.name`, `openlineage.facet.<name>`.
- `GET /api/v1/lineage?nodeId=...&depth=N` answers a Marquez lineage graph;
  `GET /api/v1/events/lineage?limit=N` the events as received.

Every wait for the asynchronous translation is a bounded poll.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    parent_run,
    schema_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpConfig, HttpTransport

from lineage_client import LineageClient, NotFoundError, events_pb2, format_ref, service_pb2
from lineage_stack import Stack, wait_until

NAMESPACE = "food_delivery"
JOB = "etl_orders"
WORKSPACE = "food_delivery"  # the namespace, which the workspace rule keeps as it is
INPUT_NAMESPACE = "postgres://db:5432"
INPUT_NAME = "public.orders"
INPUT_DATASET = "postgres://db:5432/public.orders"
OUTPUT_NAME = "orders_daily"
OUTPUT_DATASET = "food_delivery/orders_daily"
PRODUCER = "https://github.com/lineage/clients/python/tests"
TRANSLATION_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 10.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def orders_input() -> InputDataset:
    return InputDataset(
        namespace=INPUT_NAMESPACE,
        name=INPUT_NAME,
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="order_id", type="BIGINT"),
                    schema_dataset.SchemaDatasetFacetFields(name="placed_at", type="TIMESTAMP"),
                    schema_dataset.SchemaDatasetFacetFields(name="total", type="NUMERIC"),
                ]
            ),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="42"),
        },
    )


def daily_output() -> OutputDataset:
    return OutputDataset(
        namespace=NAMESPACE,
        name=OUTPUT_NAME,
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="day", type="DATE"),
                    schema_dataset.SchemaDatasetFacetFields(name="orders", type="BIGINT"),
                ]
            )
        },
    )


def run_event(
    state: RunState,
    run_id: str,
    *,
    job: str = JOB,
    with_datasets: bool = True,
    run_facets: dict[str, Any] | None = None,
) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=now(),
        run=Run(runId=run_id, facets=run_facets or {}),
        job=Job(namespace=NAMESPACE, name=job),
        producer=PRODUCER,
        inputs=[orders_input()] if with_datasets else [],
        outputs=[daily_output()] if with_datasets else [],
    )


def new_run_id() -> str:
    return str(uuid.uuid4())


def http_json(url: str, body: bytes | None = None) -> tuple[int, Any]:
    """GET (or POST `body` as JSON) and the status with the parsed answer."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")


@pytest.fixture(scope="module")
def transport(stack: Stack) -> Iterator[HttpTransport]:
    http = HttpTransport(
        HttpConfig(url=stack.http_url, endpoint="api/v1/lineage", timeout=HTTP_TIMEOUT_SECONDS)
    )
    yield http
    http.close()


@pytest.fixture(scope="module")
def openlineage(transport: HttpTransport) -> OpenLineageClient:
    return OpenLineageClient(transport=transport)


@pytest.fixture
def lineage(stack: Stack) -> Iterator[LineageClient]:
    with LineageClient(stack.grpc_addr, workspace=WORKSPACE, timeout=15.0) as client:
        yield client


def post(transport: HttpTransport, event: RunEvent) -> dict[str, Any]:
    """Posts through the client's transport, which answers the response the
    openlineage client itself discards; checks the 201 and its ids."""
    response = transport.emit(event)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    assert answer["workspace"] == WORKSPACE
    assert answer["id"].startswith("ol-")
    return answer


def wait_for_run(
    lineage: LineageClient, run_id: str, status: events_pb2.RunStatus
) -> service_pb2.Entity:
    def run_in_status() -> service_pb2.Entity | None:
        entity = lineage.get_entity(f"run:{run_id}")
        return entity if entity.run.status == status else None

    return wait_until(
        run_in_status,
        timeout=TRANSLATION_TIMEOUT_SECONDS,
        what=f"run {run_id} {events_pb2.RunStatus.Name(status)} in workspace {WORKSPACE}",
        ignore=(NotFoundError,),
    )


def test_a_completed_run_becomes_a_run_with_its_datasets(
    transport: HttpTransport, openlineage: OpenLineageClient, lineage: LineageClient
) -> None:
    run_id = new_run_id()
    post(transport, run_event(RunState.START, run_id))
    openlineage.emit(run_event(RunState.COMPLETE, run_id))

    entity = wait_for_run(lineage, run_id, events_pb2.COMPLETED)
    run = entity.run
    assert run.experiment == JOB
    assert [(d.dataset, d.version) for d in run.input_datasets] == [(INPUT_DATASET, "42")]
    [output] = run.output_datasets
    assert output.dataset == OUTPUT_DATASET
    assert re.fullmatch(r"c-[0-9a-f]{16}", output.version), output.version

    output_ref = f"dataset:{OUTPUT_DATASET}@{output.version}"
    upstream = lineage.provenance(output_ref)
    assert {f"run:{run_id}", f"dataset:{INPUT_DATASET}@42"} <= {
        format_ref(node.ref) for node in upstream.nodes
    }
    produced = lineage.get_entity(output_ref)
    assert produced.dataset_version.produced_by_run_id == run_id

    consumed = lineage.get_entity(f"dataset:{INPUT_DATASET}@42")
    assert consumed.tags["openlineage.namespace"] == INPUT_NAMESPACE
    assert consumed.tags["openlineage.name"] == INPUT_NAME
    schema = json.loads(consumed.tags["openlineage.facet.schema"])
    assert [field["name"] for field in schema["fields"]] == ["order_id", "placed_at", "total"]
    assert json.loads(consumed.tags["openlineage.facet.version"])["datasetVersion"] == "42"
    # Compact JSON: no spaces after separators.
    assert ": " not in consumed.tags["openlineage.facet.schema"]

    experiment = lineage.get_entity(f"experiment:{JOB}")
    assert experiment.tags["openlineage.namespace"] == NAMESPACE
    assert experiment.tags["openlineage.name"] == JOB


def test_a_failed_run_keeps_the_error_message(
    openlineage: OpenLineageClient, lineage: LineageClient
) -> None:
    run_id = new_run_id()
    message = "ZeroDivisionError: division by zero while aggregating orders_daily"
    openlineage.emit(run_event(RunState.START, run_id))
    openlineage.emit(
        run_event(
            RunState.FAIL,
            run_id,
            run_facets={
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message=message, programmingLanguage="python"
                )
            },
        )
    )

    run = wait_for_run(lineage, run_id, events_pb2.FAILED).run
    assert run.error == message
    assert run.experiment == JOB


def test_an_aborted_child_run_is_canceled_under_its_parent(
    openlineage: OpenLineageClient, lineage: LineageClient
) -> None:
    parent_id, child_id = new_run_id(), new_run_id()
    parent = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id),
            job=parent_run.Job(namespace=NAMESPACE, name="nightly"),
        )
    }
    openlineage.emit(run_event(RunState.START, parent_id, job="nightly", with_datasets=False))
    openlineage.emit(run_event(RunState.START, child_id, run_facets=parent, with_datasets=False))
    openlineage.emit(run_event(RunState.ABORT, child_id, run_facets=parent, with_datasets=False))

    child = wait_for_run(lineage, child_id, events_pb2.CANCELED).run
    assert child.parent_run_id == parent_id


def test_the_same_event_posted_again_stores_nothing_new(
    transport: HttpTransport, lineage: LineageClient
) -> None:
    run_id = new_run_id()
    start, complete = run_event(RunState.START, run_id), run_event(RunState.COMPLETE, run_id)
    post(transport, start)
    first = post(transport, complete)

    # Translation is asynchronous and in order: once a later event's run
    # shows, everything posted before it has been applied.
    wait_for_run(lineage, post_sentinel(transport), events_pb2.STARTED)
    wait_for_run(lineage, run_id, events_pb2.COMPLETED)
    before = lineage.status()

    again = post(transport, complete)
    once_more = post(transport, complete)
    # Retries map to the same ids (the answer may say more, e.g. that it
    # was a duplicate).
    ids = (first["workspace"], first["id"])
    assert (again["workspace"], again["id"]) == ids
    assert (once_more["workspace"], once_more["id"]) == ids

    sentinel = post_sentinel(transport)
    wait_for_run(lineage, sentinel, events_pb2.STARTED)
    records = list(lineage.replay(workspaces=[WORKSPACE], from_seq=before.applied_seq + 1))
    about_the_duplicate = [
        record.seq
        for record in records
        if run_id in str(record.event) or OUTPUT_NAME in str(record.event)
    ]
    assert not about_the_duplicate, f"log records {about_the_duplicate} restate the duplicate"
    # The window did see the sentinel, so it was not empty by accident.
    assert any(sentinel in str(record.event) for record in records)


def post_sentinel(transport: HttpTransport) -> str:
    """A run of another job, without datasets, posted to mark a point in
    the stream; returns its run id."""
    run_id = new_run_id()
    post(transport, run_event(RunState.START, run_id, job="sentinel", with_datasets=False))
    return run_id


@pytest.mark.parametrize(
    "body",
    [
        b"{this is not json",
        b'{"eventType": "START", "eventTime": "2026-01-01T00:00:00Z"}',  # no run, no job
        b'{"eventType": "START", "eventTime": "2026-01-01T00:00:00Z",'
        b' "run": {"runId": "r"}, "job": {"namespace": "", "name": "etl"},'
        b' "producer": "x", "schemaURL": "x"}',  # an empty namespace names no workspace
    ],
)
def test_a_malformed_body_is_400_with_a_message(stack: Stack, body: bytes) -> None:
    status, answer = http_json(f"{stack.http_url}/api/v1/lineage", body)
    assert status == 400, answer
    assert answer["code"] == 400
    assert isinstance(answer["message"], str) and answer["message"]


def test_the_marquez_lineage_read_shows_the_job_writing_the_dataset(
    stack: Stack, transport: HttpTransport, lineage: LineageClient
) -> None:
    run_id = new_run_id()
    post(transport, run_event(RunState.START, run_id))
    post(transport, run_event(RunState.COMPLETE, run_id))
    wait_for_run(lineage, run_id, events_pb2.COMPLETED)

    dataset_id = f"dataset:{NAMESPACE}:{OUTPUT_NAME}"
    job_id = f"job:{NAMESPACE}:{JOB}"
    input_id = f"dataset:{INPUT_NAMESPACE}:{INPUT_NAME}"
    query = urllib.parse.urlencode({"nodeId": dataset_id, "depth": 2})

    def graph_with_the_job() -> dict[str, dict[str, Any]] | None:
        status, answer = http_json(f"{stack.http_url}/api/v1/lineage?{query}")
        assert status == 200, answer
        nodes = {node["id"]: node for node in answer["graph"]}
        return nodes if job_id in nodes else None

    nodes = wait_until(
        graph_with_the_job, timeout=TRANSLATION_TIMEOUT_SECONDS, what=f"{job_id} in the graph"
    )
    assert nodes[dataset_id]["type"] == "DATASET"
    assert nodes[job_id]["type"] == "JOB"
    writes = {"origin": job_id, "destination": dataset_id}
    assert writes in nodes[job_id]["outEdges"] and writes in nodes[dataset_id]["inEdges"]
    # Depth 2 reaches what the job read.
    reads = {"origin": input_id, "destination": job_id}
    assert input_id in nodes and reads in nodes[job_id]["inEdges"]


def test_the_events_read_returns_what_was_posted(stack: Stack, transport: HttpTransport) -> None:
    run_id = new_run_id()
    start = run_event(RunState.START, run_id)
    post(transport, start)
    posted = json.loads(Serde.to_json(start))

    def our_events() -> list[dict[str, Any]] | None:
        status, answer = http_json(f"{stack.http_url}/api/v1/events/lineage?limit=200")
        assert status == 200, answer
        assert answer["totalCount"] >= len(answer["events"])
        found = [event for event in answer["events"] if event["run"]["runId"] == run_id]
        return found or None

    [received] = wait_until(
        our_events, timeout=TRANSLATION_TIMEOUT_SECONDS, what=f"run {run_id} in events/lineage"
    )
    assert received == posted
