"""`EventPublisher`: sends `lineage.v1.Event`s to NATS JetStream the way a
well-behaved producer does (README, "Publishing events"), with asyncio and
nats-py; and `RunContext`, a run whose start and end are published around
a block of code.

Each event goes out as binary protobuf on `lineage.events.<workspace>` with
the header `Nats-Msg-Id: <event_id>`, so JetStream drops a retry within its
de-duplication window (and `lineaged` any retry, forever), and `publish`
returns only once JetStream has stored it: from the ack on, the event
will reach lineaged, which applies it (or dead-letters it, saying why). A
publish that times out is retried with the same id, which the ids make
safe.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsConnection
from nats.js import JetStreamContext
from nats.js.api import PubAck

from .errors import PublishError
from .events import (
    DEFAULT_PRODUCER,
    ArtifactLike,
    DatasetVersionLike,
    EnvironmentLike,
    EventBuilder,
    ModelVersionLike,
)
from .v1 import events_pb2

DEFAULT_SUBJECT_PREFIX = "lineage.events"
#: How long one publish waits for JetStream's ack before trying again.
DEFAULT_ACK_TIMEOUT_SECONDS = 10.0
#: Further attempts after an ack timeout (each with the same event id).
DEFAULT_PUBLISH_RETRIES = 2
#: Tries per server to make the first connection.
DEFAULT_CONNECT_ATTEMPTS = 3
#: Tries per server to get a lost connection back (2 s apart by default:
#: about two minutes of broker outage).
DEFAULT_RECONNECT_ATTEMPTS = 60
#: `Nats-Msg-Id`: JetStream's de-duplication key, and the event id.
MSG_ID_HEADER = "Nats-Msg-Id"


@dataclass
class PublishCounts:
    """What this publisher has sent: events JetStream stored as new, and
    those it recognised as duplicates of an id it had seen (within its
    window). `new` is what `LineageClient.wait_until_handled` waits for."""

    new: int = 0
    duplicates: int = 0


class EventPublisher:
    """Publishes the events of one workspace to JetStream.

    Build one with `await EventPublisher.connect(nats_url, workspace)`
    (it then owns its NATS connection and closes it), or around a
    JetStream context you manage. `events` builds the events to publish,
    with this publisher's workspace, producer and actor:

        async with await EventPublisher.connect(url, "credit-lender") as publisher:
            await publisher.publish(publisher.events.experiment_created("credit-risk-2026"))
            async with publisher.run(experiment="credit-risk-2026", params={"lr": 0.03}) as run:
                await run.log_metrics({"auc": 0.79}, step=9)
    """

    def __init__(
        self,
        jetstream: JetStreamContext,
        workspace: str,
        *,
        producer: str = DEFAULT_PRODUCER,
        actor: str = "",
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT_SECONDS,
        retries: int = DEFAULT_PUBLISH_RETRIES,
        connection: NatsConnection | None = None,
    ) -> None:
        self.events = EventBuilder(workspace, producer=producer, actor=actor)
        self.workspace = self.events.workspace
        self.subject = f"{subject_prefix}.{self.workspace}"
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.counts = PublishCounts()
        self._jetstream = jetstream
        # Set when this publisher opened the connection, so close() ends it.
        self._owned_connection = connection

    @classmethod
    async def connect(
        cls,
        nats_url: str,
        workspace: str,
        *,
        producer: str = DEFAULT_PRODUCER,
        actor: str = "",
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT_SECONDS,
        retries: int = DEFAULT_PUBLISH_RETRIES,
        connect_timeout: float = 5.0,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
        reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
        **nats_options: Any,
    ) -> EventPublisher:
        """Connects to NATS (`nats_url`: one URL or several, comma-separated)
        and returns a publisher owning the connection. `nats_options` go to
        `nats.connect` (credentials, TLS...).

        A broker that cannot be reached is given `connect_attempts` tries
        per server (2 s apart by default), then `PublishError`; once
        connected, a lost connection is retried `reconnect_attempts` times
        before publishes fail."""
        servers = [url.strip() for url in nats_url.split(",") if url.strip()]
        options: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "max_reconnect_attempts": connect_attempts,
            "name": producer,
        }
        options.update(nats_options)
        try:
            connection = await nats.connect(servers=servers, **options)
        except (OSError, nats.errors.Error, asyncio.TimeoutError) as error:
            raise PublishError(f"cannot connect to NATS at {nats_url}: {error!r}") from error
        # nats-py has one limit for the first connection and for
        # reconnecting, read each time it reconnects: fail fast on a broker
        # that is not there, ride out one that restarts.
        connection.options["max_reconnect_attempts"] = reconnect_attempts
        return cls(
            connection.jetstream(),
            workspace,
            producer=producer,
            actor=actor,
            subject_prefix=subject_prefix,
            ack_timeout=ack_timeout,
            retries=retries,
            connection=connection,
        )

    @property
    def jetstream(self) -> JetStreamContext:
        """The JetStream context this publisher publishes with."""
        return self._jetstream

    async def close(self) -> None:
        """Flushes and closes the NATS connection, if this publisher opened it."""
        if self._owned_connection is not None and not self._owned_connection.is_closed:
            await self._owned_connection.drain()

    async def __aenter__(self) -> EventPublisher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def publish(self, event: events_pb2.Event) -> PubAck:
        """Publishes one event and returns JetStream's ack once it is
        stored (`ack.duplicate` when JetStream had already seen its id).

        Raises `PublishError` when the event is not for this workspace or
        has no id or payload, when no stream takes the subject, or when no
        ack came after every attempt.
        """
        if event.workspace != self.workspace:
            raise PublishError(
                f"event {event.event_id!r} is for workspace {event.workspace!r}; this publisher"
                f" sends to {self.subject} (lineaged would dead-letter it as workspace_mismatch)"
            )
        if not event.event_id:
            raise PublishError("the event has no event_id (the idempotency key)")
        if event.WhichOneof("payload") is None:
            raise PublishError(f"event {event.event_id!r} has no payload")
        payload = event.SerializeToString()
        headers = {MSG_ID_HEADER: event.event_id}
        for attempt in range(self.retries + 1):
            try:
                ack = await self._jetstream.publish(
                    self.subject, payload, timeout=self.ack_timeout, headers=headers
                )
            except nats.errors.TimeoutError:
                if attempt < self.retries:
                    continue
                raise PublishError(
                    f"no JetStream ack for event {event.event_id!r} on {self.subject} after"
                    f" {self.retries + 1} attempts of {self.ack_timeout:.0f} s"
                ) from None
            except nats.js.errors.NoStreamResponseError:
                raise PublishError(
                    f"no JetStream stream takes {self.subject}: is lineaged running?"
                    " (it creates the stream when it starts)"
                ) from None
            except nats.js.errors.APIError as error:
                raise PublishError(
                    f"JetStream refused event {event.event_id!r} on {self.subject}: {error}"
                ) from error
            except nats.errors.Error as error:
                # The connection is closed, draining or gave up reconnecting.
                raise PublishError(
                    f"cannot publish event {event.event_id!r} on {self.subject}: {error!r}"
                ) from error
            if ack.duplicate:
                self.counts.duplicates += 1
            else:
                self.counts.new += 1
            return ack
        raise AssertionError("unreachable: the loop returns or raises")

    async def publish_all(self, events: Iterable[events_pb2.Event]) -> list[PubAck]:
        """Publishes events one after another, in order, each acked before the next."""
        return [await self.publish(event) for event in events]

    def run(
        self,
        run_id: str | None = None,
        *,
        experiment: str = "",
        name: str = "",
        parent_run_id: str = "",
        code_version: str = "",
        environment: EnvironmentLike | None = None,
        compute_target: str = "",
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RunContext:
        """A run as an async context manager: `RunStarted` on enter,
        `RunFinished` on exit (see `RunContext`). `run_id` defaults to
        `run-` and a uuid4's hex digits."""
        started = self.events.run_started(
            run_id or f"run-{uuid.uuid4().hex}",
            experiment,
            name=name,
            parent_run_id=parent_run_id,
            code_version=code_version,
            environment=environment,
            compute_target=compute_target,
            params=params,
            tags=tags,
        )
        return RunContext(self, started)


class RunContext:
    """One run, published around a block:

        async with publisher.run(experiment="fraud-scam-2026", params={"lr": 0.01}) as run:
            await run.declare_inputs(datasets=["claims@3"])
            await run.log_metrics({"precision": 0.92}, step=1)

    Entering publishes `RunStarted`. Leaving normally publishes
    `RunFinished` COMPLETED; leaving with an exception publishes FAILED
    with the exception's message as the run's error (and lets the
    exception propagate); cancellation or Ctrl-C publishes CANCELED. The
    methods publish facts about the run, stamped with its id.
    """

    def __init__(self, publisher: EventPublisher, started: events_pb2.Event) -> None:
        self.publisher = publisher
        self.run_id = started.run_started.run_id
        self.started_event = started
        #: The `RunFinished` published on exit, once it is.
        self.finished_event: events_pb2.Event | None = None

    async def __aenter__(self) -> RunContext:
        await self.publisher.publish(self.started_event)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        builder = self.publisher.events
        if exc is None:
            finished = builder.run_finished(self.run_id, events_pb2.COMPLETED)
        elif isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            finished = builder.run_finished(
                self.run_id, events_pb2.CANCELED, str(exc) or type(exc).__name__
            )
        else:
            finished = builder.run_finished(
                self.run_id, events_pb2.FAILED, str(exc) or type(exc).__name__
            )
        self.finished_event = finished
        if isinstance(exc, asyncio.CancelledError):
            # The task is being cancelled: shield the last publish from it,
            # or the run would stay STARTED forever.
            await asyncio.shield(self.publisher.publish(finished))
        else:
            await self.publisher.publish(finished)

    async def log_params(self, params: Mapping[str, object]) -> PubAck:
        return await self.publisher.publish(
            self.publisher.events.params_logged(self.run_id, params)
        )

    async def log_metrics(
        self, metrics: Mapping[str, float], step: int = 0, *, measured_at: datetime | None = None
    ) -> PubAck:
        return await self.publisher.publish(
            self.publisher.events.metrics_logged(
                self.run_id, metrics, step, measured_at=measured_at
            )
        )

    async def set_tags(self, tags: Mapping[str, str]) -> PubAck:
        return await self.publisher.publish(
            self.publisher.events.tags_set(f"run:{self.run_id}", tags)
        )

    async def declare_inputs(
        self,
        *,
        datasets: Iterable[DatasetVersionLike] = (),
        artifacts: Iterable[ArtifactLike] = (),
        models: Iterable[ModelVersionLike] = (),
    ) -> PubAck:
        """What the run read: `datasets=["applications@3"]`, artifacts of
        other runs, model versions."""
        return await self.publisher.publish(
            self.publisher.events.run_inputs_declared(
                self.run_id, datasets=datasets, artifacts=artifacts, models=models
            )
        )

    async def log_artifact(
        self, name: str, *, uri: str = "", digest: str = "", kind: str = "", size_bytes: int = 0
    ) -> PubAck:
        return await self.publisher.publish(
            self.publisher.events.artifact_logged(
                self.run_id, name, uri=uri, digest=digest, kind=kind, size_bytes=size_bytes
            )
        )

    async def register_output_dataset(
        self,
        dataset: str,
        version: str,
        *,
        uri: str = "",
        digest: str = "",
        derived_from: Iterable[DatasetVersionLike] = (),
    ) -> PubAck:
        """A dataset version this run wrote."""
        return await self.publisher.publish(
            self.publisher.events.dataset_version_registered(
                dataset,
                version,
                uri=uri,
                digest=digest,
                derived_from=derived_from,
                produced_by_run_id=self.run_id,
            )
        )
