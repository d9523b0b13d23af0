"""Events published with EventPublisher, read back with LineageClient, from
the real nats-server and lineaged the `stack` fixture runs."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from pathlib import Path

import grpc
import pytest

from lineage_client import (
    EventPublisher,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidRefError,
    LineageClient,
    LineageError,
    NotFoundError,
    PublishError,
    UnavailableError,
    events_pb2,
    format_ref,
    service_pb2,
)
from lineage_stack import PublishFixture, Stack, free_port, start_nats_server


async def credit_risk_history(publisher: EventPublisher) -> None:
    """A feature pipeline and a training run: raw@1 -> prep run ->
    features@1 -> train run -> model credit-risk@1, deployed."""
    events = publisher.events
    await publisher.publish_all(
        [
            events.experiment_created("credit-risk", "PD models"),
            events.dataset_version_registered("raw", "1", uri="s3://landing/raw/1"),
            events.run_started("prep-1", "credit-risk", params={"dedupe": "true"}),
            events.run_inputs_declared("prep-1", datasets=["raw@1"]),
            events.dataset_version_registered(
                "features", "1", derived_from=["raw@1"], produced_by_run_id="prep-1"
            ),
            events.run_finished("prep-1"),
            events.run_started(
                "train-1",
                "credit-risk",
                params={"lr": 0.03},
                environment="xgboost@2.0.3",
                compute_target="cpu-pool-a",
            ),
            events.run_inputs_declared("train-1", datasets=["features@1"]),
            events.metrics_logged("train-1", {"auc": 0.79, "log_loss": 0.46}, step=9),
            events.artifact_logged("train-1", "model.pkl", uri="s3://models/1", kind="model"),
            events.run_finished("train-1"),
            events.model_registered(
                "credit-risk", "1", "train-1", artifact_name="model.pkl", approved_by="helena"
            ),
            events.model_stage_changed("credit-risk", "1", "PRODUCTION", approved_by="marc"),
            events.model_deployed("credit-risk", "1", "scoring-eu", deployment="rollout-1"),
        ]
    )


def refs_of(nodes: Iterable[service_pb2.Entity]) -> set[str]:
    return {format_ref(node.ref) for node in nodes}


def test_provenance_of_a_registered_model_returns_its_run_and_datasets(
    client: LineageClient, publish: PublishFixture
) -> None:
    published = publish(credit_risk_history)

    upstream = client.provenance("model:credit-risk@1", min_seq=published.seq)
    assert format_ref(upstream.nodes[0].ref) == "model:credit-risk@1"  # the root first
    assert {
        "run:train-1",
        "dataset:features@1",
        "run:prep-1",
        "dataset:raw@1",
        "env:xgboost@2.0.3",
        "compute:cpu-pool-a",
    } <= refs_of(upstream.nodes)
    nodes = upstream.nodes
    edges = {
        (format_ref(nodes[edge.from_node].ref), format_ref(nodes[edge.to_node].ref), edge.kind)
        for edge in upstream.edges
    }
    assert ("run:train-1", "model:credit-risk@1", service_pb2.REGISTERED) in edges
    assert ("dataset:features@1", "run:train-1", service_pb2.INPUT) in edges
    assert upstream.applied_seq >= published.seq

    trace = client.trace_model("credit-risk@1", min_seq=published.seq)
    assert format_ref(trace.source_run.ref) == "run:train-1"
    assert trace.source_run.run.params["lr"] == "0.03"
    assert trace.source_run.run.status == events_pb2.COMPLETED
    assert refs_of(trace.inputs) == {"dataset:features@1"}
    assert format_ref(trace.environment.ref) == "env:xgboost@2.0.3"


def test_impact_of_a_dataset_version_reaches_the_model_in_production(
    client: LineageClient, publish: PublishFixture
) -> None:
    published = publish(credit_risk_history)

    downstream = client.impact("dataset:raw@1", min_seq=published.seq)
    assert {
        "run:prep-1",
        "dataset:features@1",
        "run:train-1",
        "artifact:train-1/model.pkl",
        "model:credit-risk@1",
        "endpoint:scoring-eu",
    } <= refs_of(downstream.nodes)

    models = client.impact("dataset:raw@1", node_kinds=["model"], min_seq=published.seq)
    [model] = [node for node in models.nodes if node.ref.kind == events_pb2.MODEL_VERSION]
    assert model.model_version.stage == events_pb2.PRODUCTION
    assert [d.endpoint for d in model.model_version.deployments] == ["scoring-eu"]

    users = client.runs_using_dataset("features@1", min_seq=published.seq)
    assert [run.ref.name for run in users.runs] == ["train-1"]
    assert [run.ref.name for run in client.iter_runs_using_dataset("raw")] == ["prep-1"]


def test_an_unknown_entity_is_not_found(client: LineageClient, workspace: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.get_entity("model:credit-risk@404")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.rpc == "GetEntity"
    assert "credit-risk" in raised.value.details
    with pytest.raises(NotFoundError):
        client.trace_model("credit-risk@404")


def test_a_bad_reference_is_invalid_argument_here_or_from_the_service(
    client: LineageClient, workspace: str
) -> None:
    # Caught before sending...
    with pytest.raises(InvalidRefError) as local:
        client.get_entity("dataset:applications")
    assert local.value.code == grpc.StatusCode.INVALID_ARGUMENT
    # ...and, built by hand past the client's checks, by the service,
    # which names the field.
    unchecked = events_pb2.EntityRef(
        workspace=workspace, kind=events_pb2.DATASET_VERSION, name="bad name", version="1"
    )
    with pytest.raises(InvalidArgumentError) as remote:
        client.get_entity(unchecked)
    assert not isinstance(remote.value, InvalidRefError)
    assert remote.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "entity.name" in remote.value.details
    with pytest.raises(InvalidArgumentError, match="filter: at column"):
        client.search_runs("metrics.auc >")


def test_an_unreachable_service_is_unavailable() -> None:
    nobody_listens = LineageClient(f"127.0.0.1:{free_port()}", workspace="w", timeout=5.0)
    with nobody_listens, pytest.raises(UnavailableError) as raised:
        nobody_listens.status()
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


def test_runs_search_compare_and_promotion(client: LineageClient, publish: PublishFixture) -> None:
    async def sweep(publisher: EventPublisher) -> None:
        events = publisher.events
        for trial, (lr, auc) in enumerate([("0.1", 0.71), ("0.03", 0.79), ("0.03", 0.77)]):
            run_id = f"trial-{trial}"
            await publisher.publish_all(
                [
                    events.run_started(run_id, "sweep", params={"lr": lr}),
                    events.metrics_logged(run_id, {"auc": auc}, step=1),
                    events.run_finished(run_id),
                ]
            )
        await publisher.publish(events.model_registered("m", "1", "trial-1", approved_by="ana"))

    published = publish(sweep)

    ranked = client.search_runs(
        "params.lr = '0.03'", order_by=["metrics.auc DESC"], min_seq=published.seq
    )
    assert [run.ref.name for run in ranked.runs] == ["trial-1", "trial-2"]
    everything = list(client.iter_search_runs(experiments=["sweep"], page_size=1))
    assert [run.ref.name for run in everything] == ["trial-0", "trial-1", "trial-2"]

    comparison = client.compare_runs(["trial-0", "trial-1"])
    lr_row = next(field for field in comparison.fields if field.field == "params.lr")
    assert list(lr_row.values) == ["0.1", "0.03"] and lr_row.differs
    [auc] = [metric for metric in comparison.metrics if metric.key == "auc"]
    assert auc.best_run == 1

    history = client.metric_history("trial-1", "auc")
    assert [(point.step, point.value) for point in history.points] == [(1, 0.79)]

    with pytest.raises(FailedPreconditionError):
        client.check_promotion("m@1")  # no stored criteria
    check = client.check_promotion("m@1", criteria="metrics.auc >= 0.75 and approved")
    assert check.passed and check.source_run_id == "trial-1"
    failing = client.check_promotion("m@1", criteria="metrics.auc >= 0.8")
    assert not failing.passed
    assert "0.79" in failing.results[0].explanation


def test_streams_watch_and_replay(client: LineageClient, publish: PublishFixture) -> None:
    published = publish(credit_risk_history)

    # Everything downstream of raw@1 now, then the stream would follow the
    # graph live: take what is there and stop (which cancels the stream).
    watched = client.watch_impact("dataset:raw@1", timeout=15.0)
    first_three = {format_ref(event.entity.ref) for event in itertools.islice(watched, 3)}
    watched.close()
    assert len(first_three) == 3 and "run:prep-1" in first_three

    records = list(client.replay(entity="model:credit-risk@1", kinds=["model_registered"]))
    assert [record.event.model_registered.source_run_id for record in records] == ["train-1"]
    assert records[0].seq <= published.seq
    assert client.verify_log(to_seq=published.seq).ok


def test_a_duplicate_is_acknowledged_and_stored_once(
    stack: Stack, client: LineageClient, workspace: str
) -> None:
    async def publish_twice() -> tuple[bool | None, bool | None, int, int]:
        async with await EventPublisher.connect(stack.nats_url, workspace) as publisher:
            event = publisher.events.experiment_created("dedup", "published twice")
            first = await publisher.publish(event)
            again = await publisher.publish(event)
            return (
                first.duplicate,
                again.duplicate,
                publisher.counts.new,
                publisher.counts.duplicates,
            )

    before = client.status()
    first, again, new, duplicates = asyncio.run(publish_twice())
    assert (bool(first), again, new, duplicates) == (False, True, 1, 1)
    after = client.wait_until_handled(before, 1)
    entity = client.get_entity("experiment:dedup", min_seq=after.applied_seq)
    assert entity.experiment.description == "published twice"
    # One record in the log, whatever else the service handled meanwhile.
    stored = list(client.replay(entity="experiment:dedup", to_seq=after.applied_seq))
    assert [record.event.experiment_created.description for record in stored] == ["published twice"]


def test_the_publisher_refuses_what_lineaged_would_dead_letter(
    stack: Stack, workspace: str
) -> None:
    async def attempts() -> list[str]:
        messages = []
        async with await EventPublisher.connect(stack.nats_url, workspace) as publisher:
            others = EventPublisher(publisher.jetstream, "another-workspace")
            for event in [
                others.events.experiment_created("x"),
                publisher.events.envelope(),  # no payload
            ]:
                with pytest.raises(PublishError) as raised:
                    await publisher.publish(event)
                messages.append(str(raised.value))
        return messages

    wrong_workspace, no_payload = asyncio.run(attempts())
    assert "workspace_mismatch" in wrong_workspace
    assert "no payload" in no_payload


def test_a_subject_no_stream_takes_is_a_clear_publish_error(stack: Stack, workspace: str) -> None:
    async def publish_to_nowhere() -> None:
        # As if lineaged had never run: no stream takes these subjects.
        async with await EventPublisher.connect(
            stack.nats_url, workspace, subject_prefix="nobody.listens"
        ) as publisher:
            await publisher.publish(publisher.events.experiment_created("x"))

    with pytest.raises(PublishError, match=r"no JetStream stream takes nobody\.listens"):
        asyncio.run(publish_to_nowhere())


def test_an_unreachable_broker_is_a_publish_error() -> None:
    async def connect() -> None:
        await EventPublisher.connect(
            f"nats://127.0.0.1:{free_port()}", "w", connect_timeout=1.0, reconnect_time_wait=0.1
        )

    with pytest.raises(PublishError, match="cannot connect to NATS"):
        asyncio.run(asyncio.wait_for(connect(), timeout=30))


def test_a_publisher_rides_out_a_broker_restart(tmp_path: Path) -> None:
    # A broker of its own (the session's must stay up), with the stream
    # lineaged would create; restarted on the same port and store between
    # two publishes of one connection.
    port = free_port()
    nats = start_nats_server(tmp_path, port)

    async def publish_across_a_restart() -> tuple[int, int]:
        nonlocal nats
        publisher = await EventPublisher.connect(
            f"nats://127.0.0.1:{port}", "w", reconnect_time_wait=0.2, ack_timeout=5.0
        )
        async with publisher:
            await publisher.jetstream.add_stream(name="EVENTS", subjects=["lineage.events.>"])
            first = await publisher.publish(publisher.events.experiment_created("before"))
            await asyncio.to_thread(nats.stop)
            # Down long enough for several reconnect attempts to fail.
            await asyncio.sleep(1.5)
            nats = await asyncio.to_thread(start_nats_server, tmp_path, port)
            second = await publisher.publish(publisher.events.experiment_created("after"))
            return first.seq, second.seq

    try:
        first_seq, second_seq = asyncio.run(asyncio.wait_for(publish_across_a_restart(), 60))
    finally:
        nats.stop()
    assert (first_seq, second_seq) == (1, 2)


def test_errors_carry_code_and_message() -> None:
    error = LineageError(grpc.StatusCode.NOT_FOUND, "no model:m@1", rpc="GetEntity")
    assert str(error) == "GetEntity: NOT_FOUND: no model:m@1"
