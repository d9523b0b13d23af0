"""`EventPublisher.run()`: a run published around a block of code, checked
by reading the run back from the real lineaged."""

from __future__ import annotations

import asyncio

import pytest

from lineage_client import EventPublisher, LineageClient, events_pb2
from lineage_stack import PublishFixture


class DivergedError(Exception):
    pass


def test_a_block_that_returns_completes_its_run(
    client: LineageClient, publish: PublishFixture
) -> None:
    async def train(publisher: EventPublisher) -> str:
        await publisher.publish(publisher.events.dataset_version_registered("points", "1"))
        async with publisher.run(
            experiment="toy", params={"lr": 0.1}, environment="python@3.11"
        ) as run:
            await run.declare_inputs(datasets=["points@1"])
            for step in range(3):
                await run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
            await run.log_params({"best_step": 2})
            await run.set_tags({"note": "smoke"})
            await run.log_artifact("weights.json", uri="file:///tmp/w.json", kind="model")
            await run.register_output_dataset("predictions", "1", derived_from=["points@1"])
        return run.run_id

    published = publish(train)
    run_id = str(published.result)
    assert run_id.startswith("run-")

    run = client.get_entity(f"run:{run_id}", min_seq=published.seq)
    details = run.run
    assert details.status == events_pb2.COMPLETED and not details.error
    assert details.experiment == "toy"
    assert details.owner == "tester@example.org"
    assert dict(details.params) == {"lr": "0.1", "best_step": "2"}
    assert {(m.key, m.step, m.value) for m in details.latest_metrics} == {("loss", 2, 1.0 / 3)}
    assert [(d.dataset, d.version) for d in details.input_datasets] == [("points", "1")]
    assert [(d.dataset, d.version) for d in details.output_datasets] == [("predictions", "1")]
    assert list(details.artifacts) == ["weights.json"]
    assert run.tags["note"] == "smoke"
    assert details.ended_at.ToNanoseconds() > details.started_at.ToNanoseconds()


def test_a_block_that_raises_fails_its_run_with_the_message(
    client: LineageClient, publish: PublishFixture
) -> None:
    async def train(publisher: EventPublisher) -> str:
        run_context = publisher.run("diverging-run", experiment="toy")
        with pytest.raises(DivergedError):
            async with run_context as run:
                await run.log_metrics({"loss": 0.5}, step=0)
                raise DivergedError("the loss diverged at epoch 3")
        assert run_context.finished_event is not None
        return run_context.run_id

    published = publish(train)
    assert published.result == "diverging-run"

    run = client.get_entity("run:diverging-run", min_seq=published.seq).run
    assert run.status == events_pb2.FAILED
    assert run.error == "the loss diverged at epoch 3"
    # What the run did before it failed stays.
    assert [(m.key, m.value) for m in run.latest_metrics] == [("loss", 0.5)]


def test_a_cancelled_block_cancels_its_run(client: LineageClient, publish: PublishFixture) -> None:
    async def train(publisher: EventPublisher) -> None:
        started = asyncio.Event()

        async def training() -> None:
            async with publisher.run("cancelled-run", experiment="toy"):
                started.set()
                await asyncio.Event().wait()  # until cancelled

        task = asyncio.create_task(training())
        await asyncio.wait_for(started.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)

    published = publish(train)

    run = client.get_entity("run:cancelled-run", min_seq=published.seq).run
    assert run.status == events_pb2.CANCELED
