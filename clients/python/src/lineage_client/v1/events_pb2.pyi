import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EntityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_KIND_UNSPECIFIED: _ClassVar[EntityKind]
    EXPERIMENT: _ClassVar[EntityKind]
    RUN: _ClassVar[EntityKind]
    DATASET_VERSION: _ClassVar[EntityKind]
    ARTIFACT: _ClassVar[EntityKind]
    MODEL_VERSION: _ClassVar[EntityKind]
    ENVIRONMENT: _ClassVar[EntityKind]
    COMPUTE: _ClassVar[EntityKind]
    ENDPOINT: _ClassVar[EntityKind]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    STARTED: _ClassVar[RunStatus]
    COMPLETED: _ClassVar[RunStatus]
    FAILED: _ClassVar[RunStatus]
    CANCELED: _ClassVar[RunStatus]

class ModelStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STAGE_UNSPECIFIED: _ClassVar[ModelStage]
    STAGING: _ClassVar[ModelStage]
    PRODUCTION: _ClassVar[ModelStage]
    ARCHIVED: _ClassVar[ModelStage]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    LOW: _ClassVar[Severity]
    MEDIUM: _ClassVar[Severity]
    HIGH: _ClassVar[Severity]
    CRITICAL: _ClassVar[Severity]
ENTITY_KIND_UNSPECIFIED: EntityKind
EXPERIMENT: EntityKind
RUN: EntityKind
DATASET_VERSION: EntityKind
ARTIFACT: EntityKind
MODEL_VERSION: EntityKind
ENVIRONMENT: EntityKind
COMPUTE: EntityKind
ENDPOINT: EntityKind
RUN_STATUS_UNSPECIFIED: RunStatus
STARTED: RunStatus
COMPLETED: RunStatus
FAILED: RunStatus
CANCELED: RunStatus
MODEL_STAGE_UNSPECIFIED: ModelStage
STAGING: ModelStage
PRODUCTION: ModelStage
ARCHIVED: ModelStage
SEVERITY_UNSPECIFIED: Severity
LOW: Severity
MEDIUM: Severity
HIGH: Severity
CRITICAL: Severity

class Event(_message.Message):
    __slots__ = ("event_id", "workspace", "occurred_at", "producer", "actor", "experiment_created", "run_started", "run_finished", "params_logged", "metrics_logged", "tags_set", "dataset_version_registered", "run_inputs_declared", "artifact_logged", "model_registered", "model_stage_changed", "model_deployed", "entity_flagged", "redaction_requested", "promotion_criteria_set")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_CREATED_FIELD_NUMBER: _ClassVar[int]
    RUN_STARTED_FIELD_NUMBER: _ClassVar[int]
    RUN_FINISHED_FIELD_NUMBER: _ClassVar[int]
    PARAMS_LOGGED_FIELD_NUMBER: _ClassVar[int]
    METRICS_LOGGED_FIELD_NUMBER: _ClassVar[int]
    TAGS_SET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    RUN_INPUTS_DECLARED_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_LOGGED_FIELD_NUMBER: _ClassVar[int]
    MODEL_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    MODEL_STAGE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    MODEL_DEPLOYED_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FLAGGED_FIELD_NUMBER: _ClassVar[int]
    REDACTION_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_CRITERIA_SET_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    workspace: str
    occurred_at: _timestamp_pb2.Timestamp
    producer: str
    actor: str
    experiment_created: ExperimentCreated
    run_started: RunStarted
    run_finished: RunFinished
    params_logged: ParamsLogged
    metrics_logged: MetricsLogged
    tags_set: TagsSet
    dataset_version_registered: DatasetVersionRegistered
    run_inputs_declared: RunInputsDeclared
    artifact_logged: ArtifactLogged
    model_registered: ModelRegistered
    model_stage_changed: ModelStageChanged
    model_deployed: ModelDeployed
    entity_flagged: EntityFlagged
    redaction_requested: RedactionRequested
    promotion_criteria_set: PromotionCriteriaSet
    def __init__(self, event_id: _Optional[str] = ..., workspace: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., actor: _Optional[str] = ..., experiment_created: _Optional[_Union[ExperimentCreated, _Mapping]] = ..., run_started: _Optional[_Union[RunStarted, _Mapping]] = ..., run_finished: _Optional[_Union[RunFinished, _Mapping]] = ..., params_logged: _Optional[_Union[ParamsLogged, _Mapping]] = ..., metrics_logged: _Optional[_Union[MetricsLogged, _Mapping]] = ..., tags_set: _Optional[_Union[TagsSet, _Mapping]] = ..., dataset_version_registered: _Optional[_Union[DatasetVersionRegistered, _Mapping]] = ..., run_inputs_declared: _Optional[_Union[RunInputsDeclared, _Mapping]] = ..., artifact_logged: _Optional[_Union[ArtifactLogged, _Mapping]] = ..., model_registered: _Optional[_Union[ModelRegistered, _Mapping]] = ..., model_stage_changed: _Optional[_Union[ModelStageChanged, _Mapping]] = ..., model_deployed: _Optional[_Union[ModelDeployed, _Mapping]] = ..., entity_flagged: _Optional[_Union[EntityFlagged, _Mapping]] = ..., redaction_requested: _Optional[_Union[RedactionRequested, _Mapping]] = ..., promotion_criteria_set: _Optional[_Union[PromotionCriteriaSet, _Mapping]] = ...) -> None: ...

class EntityRef(_message.Message):
    __slots__ = ("workspace", "kind", "name", "version")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    kind: EntityKind
    name: str
    version: str
    def __init__(self, workspace: _Optional[str] = ..., kind: _Optional[_Union[EntityKind, str]] = ..., name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class EnvironmentRef(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class DatasetVersionRef(_message.Message):
    __slots__ = ("dataset", "version")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ArtifactRef(_message.Message):
    __slots__ = ("run_id", "name")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    name: str
    def __init__(self, run_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ModelVersionRef(_message.Message):
    __slots__ = ("model", "version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ExperimentCreated(_message.Message):
    __slots__ = ("experiment", "description", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    description: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, experiment: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("run_id", "experiment", "name", "parent_run_id", "code_version", "environment", "compute_target", "params", "tags")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TARGET_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    experiment: str
    name: str
    parent_run_id: str
    code_version: str
    environment: EnvironmentRef
    compute_target: str
    params: _containers.ScalarMap[str, str]
    tags: _containers.ScalarMap[str, str]
    def __init__(self, run_id: _Optional[str] = ..., experiment: _Optional[str] = ..., name: _Optional[str] = ..., parent_run_id: _Optional[str] = ..., code_version: _Optional[str] = ..., environment: _Optional[_Union[EnvironmentRef, _Mapping]] = ..., compute_target: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RunFinished(_message.Message):
    __slots__ = ("run_id", "status", "error")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    status: RunStatus
    error: str
    def __init__(self, run_id: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., error: _Optional[str] = ...) -> None: ...

class ParamsLogged(_message.Message):
    __slots__ = ("run_id", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    params: _containers.ScalarMap[str, str]
    def __init__(self, run_id: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ("key", "value", "step", "timestamp")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: float
    step: int
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ..., step: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MetricsLogged(_message.Message):
    __slots__ = ("run_id", "metrics")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    def __init__(self, run_id: _Optional[str] = ..., metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ...) -> None: ...

class TagsSet(_message.Message):
    __slots__ = ("entity", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    entity: EntityRef
    tags: _containers.ScalarMap[str, str]
    def __init__(self, entity: _Optional[_Union[EntityRef, _Mapping]] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DatasetVersionRegistered(_message.Message):
    __slots__ = ("dataset", "version", "uri", "digest", "derived_from", "produced_by_run_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FROM_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_BY_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    uri: str
    digest: str
    derived_from: _containers.RepeatedCompositeFieldContainer[DatasetVersionRef]
    produced_by_run_id: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., uri: _Optional[str] = ..., digest: _Optional[str] = ..., derived_from: _Optional[_Iterable[_Union[DatasetVersionRef, _Mapping]]] = ..., produced_by_run_id: _Optional[str] = ...) -> None: ...

class RunInputsDeclared(_message.Message):
    __slots__ = ("run_id", "datasets", "artifacts", "models")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetVersionRef]
    artifacts: _containers.RepeatedCompositeFieldContainer[ArtifactRef]
    models: _containers.RepeatedCompositeFieldContainer[ModelVersionRef]
    def __init__(self, run_id: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[DatasetVersionRef, _Mapping]]] = ..., artifacts: _Optional[_Iterable[_Union[ArtifactRef, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelVersionRef, _Mapping]]] = ...) -> None: ...

class ArtifactLogged(_message.Message):
    __slots__ = ("run_id", "name", "uri", "digest", "kind", "size_bytes")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    name: str
    uri: str
    digest: str
    kind: str
    size_bytes: int
    def __init__(self, run_id: _Optional[str] = ..., name: _Optional[str] = ..., uri: _Optional[str] = ..., digest: _Optional[str] = ..., kind: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ModelRegistered(_message.Message):
    __slots__ = ("model", "version", "source_run_id", "artifact_name", "approval_notes", "approved_by")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_NAME_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_NOTES_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    source_run_id: str
    artifact_name: str
    approval_notes: str
    approved_by: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., source_run_id: _Optional[str] = ..., artifact_name: _Optional[str] = ..., approval_notes: _Optional[str] = ..., approved_by: _Optional[str] = ...) -> None: ...

class ModelStageChanged(_message.Message):
    __slots__ = ("model", "version", "stage", "reason", "approved_by")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    stage: ModelStage
    reason: str
    approved_by: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., stage: _Optional[_Union[ModelStage, str]] = ..., reason: _Optional[str] = ..., approved_by: _Optional[str] = ...) -> None: ...

class ModelDeployed(_message.Message):
    __slots__ = ("model", "version", "endpoint", "deployment")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    endpoint: str
    deployment: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., endpoint: _Optional[str] = ..., deployment: _Optional[str] = ...) -> None: ...

class EntityFlagged(_message.Message):
    __slots__ = ("entity", "reason", "severity")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    entity: EntityRef
    reason: str
    severity: Severity
    def __init__(self, entity: _Optional[_Union[EntityRef, _Mapping]] = ..., reason: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ...) -> None: ...

class RedactionRequested(_message.Message):
    __slots__ = ("entity", "fields", "reason")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    entity: EntityRef
    fields: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, entity: _Optional[_Union[EntityRef, _Mapping]] = ..., fields: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class PromotionCriteriaSet(_message.Message):
    __slots__ = ("model", "criteria")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    model: str
    criteria: str
    def __init__(self, model: _Optional[str] = ..., criteria: _Optional[str] = ...) -> None: ...
