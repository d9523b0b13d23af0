"""Building `lineage.v1.Event`s: one method per common payload, each filling
the envelope the service requires.

Every event needs an `event_id` (the idempotency key: a retry must reuse
it, so pass your own when the fact has a natural id), its `workspace`, and
`occurred_at`; `producer` and `actor` say who emitted it. `EventBuilder`
fills them: a uuid4 id and the current time unless given, and the
builder's producer and actor.

The builder's clock never repeats or goes back: the service resolves a
run's status, a model's stage and other scalars by event time, ties broken
by event id, so a `RunStarted` and a `RunFinished` built in the same
microsecond with random ids could resolve to STARTED. Each time it hands
out is at least a microsecond after the last.

Nothing here does IO; `EventPublisher` (publisher.py) sends what this
builds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TypeAlias, cast

from google.protobuf.timestamp_pb2 import Timestamp

from ._version import __version__
from .refs import (
    check_workspace,
    parse_dataset_spec,
    parse_model_spec,
    parse_ref,
    split_versioned,
)
from .v1 import events_pb2

#: The producer events name unless told otherwise.
DEFAULT_PRODUCER = f"lineage-client-python/{__version__}"

#: `run_finished.error` and other free text are bounded by the service.
MAX_TEXT_BYTES = 64 * 1024

#: A dataset version as `"applications@3"` or `("applications", "3")`.
DatasetVersionLike: TypeAlias = "str | tuple[str, str] | events_pb2.DatasetVersionRef"
#: A model version as `"credit-risk@7"` or `("credit-risk", "7")`.
ModelVersionLike: TypeAlias = "str | tuple[str, str] | events_pb2.ModelVersionRef"
#: An artifact as `"RUN/model.pkl"` or `("RUN", "model.pkl")`.
ArtifactLike: TypeAlias = "str | tuple[str, str] | events_pb2.ArtifactRef"
#: An environment as `"sklearn@1.4.2"` or `("sklearn", "1.4.2")`.
EnvironmentLike: TypeAlias = "str | tuple[str, str] | events_pb2.EnvironmentRef"
#: A run status by name (`"COMPLETED"`) or value.
RunStatusLike: TypeAlias = "str | events_pb2.RunStatus"
#: A model stage by name (`"PRODUCTION"`) or value.
ModelStageLike: TypeAlias = "str | events_pb2.ModelStage"


class MonotonicClock:
    """UTC wall-clock time in nanoseconds that never repeats or goes back.

    Shared by the events of one builder (and safe to share across threads),
    so events built one after another are ordered by event time as they
    were by the program.
    """

    _STEP_NANOS = 1_000

    def __init__(self) -> None:
        self._last_nanos = 0
        self._lock = threading.Lock()

    def now_nanos(self) -> int:
        with self._lock:
            self._last_nanos = max(time.time_ns(), self._last_nanos + self._STEP_NANOS)
            return self._last_nanos


def timestamp_from_nanos(nanos: int) -> Timestamp:
    """A protobuf `Timestamp` from Unix nanoseconds."""
    seconds, remainder = divmod(nanos, 1_000_000_000)
    return Timestamp(seconds=seconds, nanos=remainder)


def timestamp_from_datetime(moment: datetime) -> Timestamp:
    """A protobuf `Timestamp` from a datetime; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def bounded_text(text: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """`text` without NUL characters and cut (at a character boundary) to
    what the service accepts, so an error message cannot get a
    `RunFinished` dead-lettered."""
    cleaned = text.replace("\0", "")
    encoded = cleaned.encode()
    if len(encoded) <= max_bytes:
        return cleaned
    return encoded[:max_bytes].decode(errors="ignore")


def dataset_version_ref(value: DatasetVersionLike) -> events_pb2.DatasetVersionRef:
    """A `DatasetVersionRef` from `"applications@3"` or `("applications", "3")`."""
    if isinstance(value, events_pb2.DatasetVersionRef):
        return value
    if isinstance(value, tuple):
        dataset, version = value
    else:
        dataset, maybe_version = parse_dataset_spec(value)
        if maybe_version is None:
            raise ValueError(f"{value!r}: a dataset input needs a version, e.g. applications@3")
        version = maybe_version
    return events_pb2.DatasetVersionRef(dataset=dataset, version=version)


def model_version_ref(value: ModelVersionLike) -> events_pb2.ModelVersionRef:
    """A `ModelVersionRef` from `"credit-risk@7"` or `("credit-risk", "7")`."""
    if isinstance(value, events_pb2.ModelVersionRef):
        return value
    model, version = value if isinstance(value, tuple) else parse_model_spec(value)
    return events_pb2.ModelVersionRef(model=model, version=version)


def artifact_ref(value: ArtifactLike) -> events_pb2.ArtifactRef:
    """An `ArtifactRef` from `"RUN/model.pkl"` or `("RUN", "model.pkl")`."""
    if isinstance(value, events_pb2.ArtifactRef):
        return value
    if isinstance(value, tuple):
        run_id, name = value
    else:
        run_id, slash, name = value.removeprefix("artifact:").partition("/")
        if not slash:
            raise ValueError(f"{value!r}: an artifact is run_id/name")
    return events_pb2.ArtifactRef(run_id=run_id, name=name)


def environment_ref(value: EnvironmentLike) -> events_pb2.EnvironmentRef:
    """An `EnvironmentRef` from `"sklearn@1.4.2"` or `("sklearn", "1.4.2")`."""
    if isinstance(value, events_pb2.EnvironmentRef):
        return value
    if isinstance(value, tuple):
        name, version = value
    else:
        name, maybe_version = split_versioned(value, "env")
        if maybe_version is None:
            raise ValueError(f"{value!r}: an environment needs a version, e.g. sklearn@1.4.2")
        version = maybe_version
    return events_pb2.EnvironmentRef(name=name, version=version)


def run_status(value: RunStatusLike) -> events_pb2.RunStatus:
    """A `RunStatus` from its name (`"FAILED"`, any case) or value."""
    if isinstance(value, str):
        return cast(events_pb2.RunStatus, events_pb2.RunStatus.Value(value.upper()))
    return value


def model_stage(value: ModelStageLike) -> events_pb2.ModelStage:
    """A `ModelStage` from its name (`"PRODUCTION"`, any case) or value."""
    if isinstance(value, str):
        return cast(events_pb2.ModelStage, events_pb2.ModelStage.Value(value.upper()))
    return value


class EventBuilder:
    """Builds the events of one workspace, each with its envelope filled.

    Every method takes, keyword-only, `event_id` (default: a new uuid4),
    `occurred_at` (default: now, from the builder's monotonic clock) and
    `actor` (default: the builder's).
    """

    def __init__(
        self,
        workspace: str,
        *,
        producer: str = DEFAULT_PRODUCER,
        actor: str = "",
        clock: MonotonicClock | None = None,
    ) -> None:
        self.workspace = check_workspace(workspace)
        self.producer = producer
        self.actor = actor
        self.clock = clock or MonotonicClock()

    def envelope(
        self,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """An `Event` with the envelope filled and no payload yet."""
        stamp = (
            timestamp_from_nanos(self.clock.now_nanos())
            if occurred_at is None
            else timestamp_from_datetime(occurred_at)
        )
        return events_pb2.Event(
            event_id=event_id or str(uuid.uuid4()),
            workspace=self.workspace,
            occurred_at=stamp,
            producer=self.producer,
            actor=self.actor if actor is None else actor,
        )

    def experiment_created(
        self,
        experiment: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.experiment_created.experiment = experiment
        event.experiment_created.description = description
        event.experiment_created.tags.update(tags or {})
        return event

    def run_started(
        self,
        run_id: str,
        experiment: str = "",
        *,
        name: str = "",
        parent_run_id: str = "",
        code_version: str = "",
        environment: EnvironmentLike | None = None,
        compute_target: str = "",
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, str] | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """A run began. Its actor becomes the run's owner. Parameter
        values are sent as text (`str(value)`), as the service stores them."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        started = event.run_started
        started.run_id = run_id
        started.experiment = experiment
        started.name = name
        started.parent_run_id = parent_run_id
        started.code_version = code_version
        if environment is not None:
            started.environment.CopyFrom(environment_ref(environment))
        started.compute_target = compute_target
        started.params.update({key: str(value) for key, value in (params or {}).items()})
        started.tags.update(tags or {})
        return event

    def run_finished(
        self,
        run_id: str,
        status: RunStatusLike = events_pb2.COMPLETED,
        error: str = "",
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """A run ended: COMPLETED, FAILED (say why in `error`) or CANCELED."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.run_finished.run_id = run_id
        event.run_finished.status = run_status(status)
        event.run_finished.error = bounded_text(error)
        return event

    def params_logged(
        self,
        run_id: str,
        params: Mapping[str, object],
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.params_logged.run_id = run_id
        event.params_logged.params.update({key: str(value) for key, value in params.items()})
        return event

    def metrics_logged(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        *,
        measured_at: datetime | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """Values of several metrics at one step. `measured_at` defaults to
        the event's time, as the service does when a metric has none."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.metrics_logged.run_id = run_id
        for key, value in metrics.items():
            metric = event.metrics_logged.metrics.add(key=key, value=float(value), step=step)
            if measured_at is not None:
                metric.timestamp.CopyFrom(timestamp_from_datetime(measured_at))
        return event

    def tags_set(
        self,
        entity: str | events_pb2.EntityRef,
        tags: Mapping[str, str],
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """Tags on any entity, named `kind:name[@version]` or by reference."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.tags_set.entity.CopyFrom(self._entity(entity))
        event.tags_set.tags.update(tags)
        return event

    def dataset_version_registered(
        self,
        dataset: str,
        version: str,
        *,
        uri: str = "",
        digest: str = "",
        derived_from: Iterable[DatasetVersionLike] = (),
        produced_by_run_id: str = "",
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        registered = event.dataset_version_registered
        registered.dataset = dataset
        registered.version = version
        registered.uri = uri
        registered.digest = digest
        registered.derived_from.extend(dataset_version_ref(parent) for parent in derived_from)
        registered.produced_by_run_id = produced_by_run_id
        return event

    def run_inputs_declared(
        self,
        run_id: str,
        *,
        datasets: Iterable[DatasetVersionLike] = (),
        artifacts: Iterable[ArtifactLike] = (),
        models: Iterable[ModelVersionLike] = (),
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """What a run read: dataset versions, artifacts of other runs, model versions."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        declared = event.run_inputs_declared
        declared.run_id = run_id
        declared.datasets.extend(dataset_version_ref(value) for value in datasets)
        declared.artifacts.extend(artifact_ref(value) for value in artifacts)
        declared.models.extend(model_version_ref(value) for value in models)
        return event

    def artifact_logged(
        self,
        run_id: str,
        name: str,
        *,
        uri: str = "",
        digest: str = "",
        kind: str = "",
        size_bytes: int = 0,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        logged = event.artifact_logged
        logged.run_id = run_id
        logged.name = name
        logged.uri = uri
        logged.digest = digest
        logged.kind = kind
        logged.size_bytes = size_bytes
        return event

    def model_registered(
        self,
        model: str,
        version: str,
        source_run_id: str,
        *,
        artifact_name: str = "",
        approval_notes: str = "",
        approved_by: str = "",
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """A model version registered from its source run (required: the
        service rejects a registration that cannot name it)."""
        if not source_run_id:
            raise ValueError("a model registration must name its source run")
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        registered = event.model_registered
        registered.model = model
        registered.version = version
        registered.source_run_id = source_run_id
        registered.artifact_name = artifact_name
        registered.approval_notes = approval_notes
        registered.approved_by = approved_by
        return event

    def model_stage_changed(
        self,
        model: str,
        version: str,
        stage: ModelStageLike,
        *,
        reason: str = "",
        approved_by: str = "",
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        changed = event.model_stage_changed
        changed.model = model
        changed.version = version
        changed.stage = model_stage(stage)
        changed.reason = reason
        changed.approved_by = approved_by
        return event

    def model_deployed(
        self,
        model: str,
        version: str,
        endpoint: str,
        *,
        deployment: str = "",
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """A model version now served by `endpoint` (replacing what it served)."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        deployed = event.model_deployed
        deployed.model = model
        deployed.version = version
        deployed.endpoint = endpoint
        deployed.deployment = deployment
        return event

    def entity_flagged(
        self,
        entity: str | events_pb2.EntityRef,
        reason: str,
        severity: str | events_pb2.Severity = events_pb2.MEDIUM,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """A mark on an entity (a corrupt dataset version, a vulnerable environment)."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.entity_flagged.entity.CopyFrom(self._entity(entity))
        event.entity_flagged.reason = reason
        event.entity_flagged.severity = (
            cast(events_pb2.Severity, events_pb2.Severity.Value(severity.upper()))
            if isinstance(severity, str)
            else severity
        )
        return event

    def promotion_criteria_set(
        self,
        model: str,
        criteria: str,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        actor: str | None = None,
    ) -> events_pb2.Event:
        """The criteria every production version of `model` must meet
        (README, "Promotion checks")."""
        event = self.envelope(event_id=event_id, occurred_at=occurred_at, actor=actor)
        event.promotion_criteria_set.model = model
        event.promotion_criteria_set.criteria = criteria
        return event

    def _entity(self, entity: str | events_pb2.EntityRef) -> events_pb2.EntityRef:
        if isinstance(entity, str):
            return parse_ref(entity, self.workspace)
        return entity
