import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from . import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EdgeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EDGE_KIND_UNSPECIFIED: _ClassVar[EdgeKind]
    INPUT: _ClassVar[EdgeKind]
    PRODUCED: _ClassVar[EdgeKind]
    DERIVED: _ClassVar[EdgeKind]
    REGISTERED: _ClassVar[EdgeKind]
    PACKAGED: _ClassVar[EdgeKind]
    DEPLOYED: _ClassVar[EdgeKind]
    RAN_IN: _ClassVar[EdgeKind]
    RAN_ON: _ClassVar[EdgeKind]
    PARENT_OF: _ClassVar[EdgeKind]
    MEMBER_OF: _ClassVar[EdgeKind]

class EntityView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_VIEW_UNSPECIFIED: _ClassVar[EntityView]
    ENTITY_VIEW_BASIC: _ClassVar[EntityView]
    ENTITY_VIEW_FULL: _ClassVar[EntityView]

class PayloadKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYLOAD_KIND_UNSPECIFIED: _ClassVar[PayloadKind]
    EXPERIMENT_CREATED: _ClassVar[PayloadKind]
    RUN_STARTED: _ClassVar[PayloadKind]
    RUN_FINISHED: _ClassVar[PayloadKind]
    PARAMS_LOGGED: _ClassVar[PayloadKind]
    METRICS_LOGGED: _ClassVar[PayloadKind]
    TAGS_SET: _ClassVar[PayloadKind]
    DATASET_VERSION_REGISTERED: _ClassVar[PayloadKind]
    RUN_INPUTS_DECLARED: _ClassVar[PayloadKind]
    ARTIFACT_LOGGED: _ClassVar[PayloadKind]
    MODEL_REGISTERED: _ClassVar[PayloadKind]
    MODEL_STAGE_CHANGED: _ClassVar[PayloadKind]
    MODEL_DEPLOYED: _ClassVar[PayloadKind]
    ENTITY_FLAGGED: _ClassVar[PayloadKind]
    REDACTION_REQUESTED: _ClassVar[PayloadKind]
    PROMOTION_CRITERIA_SET: _ClassVar[PayloadKind]

class PayloadEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYLOAD_ENCODING_UNSPECIFIED: _ClassVar[PayloadEncoding]
    PAYLOAD_ENCODING_PROTOBUF: _ClassVar[PayloadEncoding]
    PAYLOAD_ENCODING_JSON: _ClassVar[PayloadEncoding]

class ProvDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROV_DIRECTION_UNSPECIFIED: _ClassVar[ProvDirection]
    PROV_DIRECTION_UPSTREAM: _ClassVar[ProvDirection]
    PROV_DIRECTION_DOWNSTREAM: _ClassVar[ProvDirection]
EDGE_KIND_UNSPECIFIED: EdgeKind
INPUT: EdgeKind
PRODUCED: EdgeKind
DERIVED: EdgeKind
REGISTERED: EdgeKind
PACKAGED: EdgeKind
DEPLOYED: EdgeKind
RAN_IN: EdgeKind
RAN_ON: EdgeKind
PARENT_OF: EdgeKind
MEMBER_OF: EdgeKind
ENTITY_VIEW_UNSPECIFIED: EntityView
ENTITY_VIEW_BASIC: EntityView
ENTITY_VIEW_FULL: EntityView
PAYLOAD_KIND_UNSPECIFIED: PayloadKind
EXPERIMENT_CREATED: PayloadKind
RUN_STARTED: PayloadKind
RUN_FINISHED: PayloadKind
PARAMS_LOGGED: PayloadKind
METRICS_LOGGED: PayloadKind
TAGS_SET: PayloadKind
DATASET_VERSION_REGISTERED: PayloadKind
RUN_INPUTS_DECLARED: PayloadKind
ARTIFACT_LOGGED: PayloadKind
MODEL_REGISTERED: PayloadKind
MODEL_STAGE_CHANGED: PayloadKind
MODEL_DEPLOYED: PayloadKind
ENTITY_FLAGGED: PayloadKind
REDACTION_REQUESTED: PayloadKind
PROMOTION_CRITERIA_SET: PayloadKind
PAYLOAD_ENCODING_UNSPECIFIED: PayloadEncoding
PAYLOAD_ENCODING_PROTOBUF: PayloadEncoding
PAYLOAD_ENCODING_JSON: PayloadEncoding
PROV_DIRECTION_UNSPECIFIED: ProvDirection
PROV_DIRECTION_UPSTREAM: ProvDirection
PROV_DIRECTION_DOWNSTREAM: ProvDirection

class AsOf(_message.Message):
    __slots__ = ("seq", "recorded_at", "occurred_by")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_BY_FIELD_NUMBER: _ClassVar[int]
    seq: int
    recorded_at: _timestamp_pb2.Timestamp
    occurred_by: _timestamp_pb2.Timestamp
    def __init__(self, seq: _Optional[int] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurred_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("entity", "min_seq", "as_of")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    entity: _events_pb2.EntityRef
    min_seq: int
    as_of: AsOf
    def __init__(self, entity: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., min_seq: _Optional[int] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class TraversalRequest(_message.Message):
    __slots__ = ("root", "max_depth", "edge_kinds", "node_kinds", "limit", "view", "compact_edges", "min_seq", "as_of")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    EDGE_KINDS_FIELD_NUMBER: _ClassVar[int]
    NODE_KINDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    COMPACT_EDGES_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    root: _events_pb2.EntityRef
    max_depth: int
    edge_kinds: _containers.RepeatedScalarFieldContainer[EdgeKind]
    node_kinds: _containers.RepeatedScalarFieldContainer[_events_pb2.EntityKind]
    limit: int
    view: EntityView
    compact_edges: bool
    min_seq: int
    as_of: AsOf
    def __init__(self, root: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., max_depth: _Optional[int] = ..., edge_kinds: _Optional[_Iterable[_Union[EdgeKind, str]]] = ..., node_kinds: _Optional[_Iterable[_Union[_events_pb2.EntityKind, str]]] = ..., limit: _Optional[int] = ..., view: _Optional[_Union[EntityView, str]] = ..., compact_edges: _Optional[bool] = ..., min_seq: _Optional[int] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class Flag(_message.Message):
    __slots__ = ("reason", "severity", "flagged_at", "flagged_by", "event_id")
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_AT_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_BY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    severity: _events_pb2.Severity
    flagged_at: _timestamp_pb2.Timestamp
    flagged_by: str
    event_id: str
    def __init__(self, reason: _Optional[str] = ..., severity: _Optional[_Union[_events_pb2.Severity, str]] = ..., flagged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., flagged_by: _Optional[str] = ..., event_id: _Optional[str] = ...) -> None: ...

class MetricValue(_message.Message):
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

class ExperimentDetails(_message.Message):
    __slots__ = ("description", "created_at", "runs")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    description: str
    created_at: _timestamp_pb2.Timestamp
    runs: int
    def __init__(self, description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., runs: _Optional[int] = ...) -> None: ...

class RunDetails(_message.Message):
    __slots__ = ("experiment", "name", "parent_run_id", "status", "error", "owner", "started_at", "ended_at", "code_version", "environment", "compute_target", "params", "latest_metrics", "input_datasets", "input_artifacts", "input_models", "artifacts", "output_datasets", "lists_truncated")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TARGET_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    LATEST_METRICS_FIELD_NUMBER: _ClassVar[int]
    INPUT_DATASETS_FIELD_NUMBER: _ClassVar[int]
    INPUT_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_MODELS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DATASETS_FIELD_NUMBER: _ClassVar[int]
    LISTS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    name: str
    parent_run_id: str
    status: _events_pb2.RunStatus
    error: str
    owner: str
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    code_version: str
    environment: _events_pb2.EnvironmentRef
    compute_target: str
    params: _containers.ScalarMap[str, str]
    latest_metrics: _containers.RepeatedCompositeFieldContainer[MetricValue]
    input_datasets: _containers.RepeatedCompositeFieldContainer[_events_pb2.DatasetVersionRef]
    input_artifacts: _containers.RepeatedCompositeFieldContainer[_events_pb2.ArtifactRef]
    input_models: _containers.RepeatedCompositeFieldContainer[_events_pb2.ModelVersionRef]
    artifacts: _containers.RepeatedScalarFieldContainer[str]
    output_datasets: _containers.RepeatedCompositeFieldContainer[_events_pb2.DatasetVersionRef]
    lists_truncated: bool
    def __init__(self, experiment: _Optional[str] = ..., name: _Optional[str] = ..., parent_run_id: _Optional[str] = ..., status: _Optional[_Union[_events_pb2.RunStatus, str]] = ..., error: _Optional[str] = ..., owner: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., code_version: _Optional[str] = ..., environment: _Optional[_Union[_events_pb2.EnvironmentRef, _Mapping]] = ..., compute_target: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., latest_metrics: _Optional[_Iterable[_Union[MetricValue, _Mapping]]] = ..., input_datasets: _Optional[_Iterable[_Union[_events_pb2.DatasetVersionRef, _Mapping]]] = ..., input_artifacts: _Optional[_Iterable[_Union[_events_pb2.ArtifactRef, _Mapping]]] = ..., input_models: _Optional[_Iterable[_Union[_events_pb2.ModelVersionRef, _Mapping]]] = ..., artifacts: _Optional[_Iterable[str]] = ..., output_datasets: _Optional[_Iterable[_Union[_events_pb2.DatasetVersionRef, _Mapping]]] = ..., lists_truncated: _Optional[bool] = ...) -> None: ...

class DatasetVersionDetails(_message.Message):
    __slots__ = ("uri", "digest", "produced_by_run_id", "derived_from", "registered_at")
    URI_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_BY_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FROM_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    uri: str
    digest: str
    produced_by_run_id: str
    derived_from: _containers.RepeatedCompositeFieldContainer[_events_pb2.DatasetVersionRef]
    registered_at: _timestamp_pb2.Timestamp
    def __init__(self, uri: _Optional[str] = ..., digest: _Optional[str] = ..., produced_by_run_id: _Optional[str] = ..., derived_from: _Optional[_Iterable[_Union[_events_pb2.DatasetVersionRef, _Mapping]]] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ArtifactDetails(_message.Message):
    __slots__ = ("run_id", "name", "uri", "digest", "kind", "size_bytes", "logged_at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOGGED_AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    name: str
    uri: str
    digest: str
    kind: str
    size_bytes: int
    logged_at: _timestamp_pb2.Timestamp
    def __init__(self, run_id: _Optional[str] = ..., name: _Optional[str] = ..., uri: _Optional[str] = ..., digest: _Optional[str] = ..., kind: _Optional[str] = ..., size_bytes: _Optional[int] = ..., logged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StageChange(_message.Message):
    __slots__ = ("stage", "reason", "approved_by", "changed_at", "event_id")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    stage: _events_pb2.ModelStage
    reason: str
    approved_by: str
    changed_at: _timestamp_pb2.Timestamp
    event_id: str
    def __init__(self, stage: _Optional[_Union[_events_pb2.ModelStage, str]] = ..., reason: _Optional[str] = ..., approved_by: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("endpoint", "deployment", "deployed_at")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_AT_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    deployment: str
    deployed_at: _timestamp_pb2.Timestamp
    def __init__(self, endpoint: _Optional[str] = ..., deployment: _Optional[str] = ..., deployed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelVersionDetails(_message.Message):
    __slots__ = ("source_run_id", "artifact_name", "approval_notes", "approved_by", "registered_at", "stage", "stage_history", "deployments", "promotion")
    SOURCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_NAME_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_NOTES_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    source_run_id: str
    artifact_name: str
    approval_notes: str
    approved_by: str
    registered_at: _timestamp_pb2.Timestamp
    stage: _events_pb2.ModelStage
    stage_history: _containers.RepeatedCompositeFieldContainer[StageChange]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    promotion: PromotionStatus
    def __init__(self, source_run_id: _Optional[str] = ..., artifact_name: _Optional[str] = ..., approval_notes: _Optional[str] = ..., approved_by: _Optional[str] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stage: _Optional[_Union[_events_pb2.ModelStage, str]] = ..., stage_history: _Optional[_Iterable[_Union[StageChange, _Mapping]]] = ..., deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., promotion: _Optional[_Union[PromotionStatus, _Mapping]] = ...) -> None: ...

class PromotionStatus(_message.Message):
    __slots__ = ("criteria", "criteria_event_id", "met", "unmet")
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MET_FIELD_NUMBER: _ClassVar[int]
    UNMET_FIELD_NUMBER: _ClassVar[int]
    criteria: str
    criteria_event_id: str
    met: bool
    unmet: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, criteria: _Optional[str] = ..., criteria_event_id: _Optional[str] = ..., met: _Optional[bool] = ..., unmet: _Optional[_Iterable[str]] = ...) -> None: ...

class EndpointDetails(_message.Message):
    __slots__ = ("model", "deployment", "deployed_at")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_AT_FIELD_NUMBER: _ClassVar[int]
    model: _events_pb2.ModelVersionRef
    deployment: str
    deployed_at: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[_Union[_events_pb2.ModelVersionRef, _Mapping]] = ..., deployment: _Optional[str] = ..., deployed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("ref", "placeholder", "first_seq", "tags", "flags", "experiment", "run", "dataset_version", "artifact", "model_version", "endpoint", "applied_seq", "redactions")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    REDACTIONS_FIELD_NUMBER: _ClassVar[int]
    ref: _events_pb2.EntityRef
    placeholder: bool
    first_seq: int
    tags: _containers.ScalarMap[str, str]
    flags: _containers.RepeatedCompositeFieldContainer[Flag]
    experiment: ExperimentDetails
    run: RunDetails
    dataset_version: DatasetVersionDetails
    artifact: ArtifactDetails
    model_version: ModelVersionDetails
    endpoint: EndpointDetails
    applied_seq: int
    redactions: _containers.RepeatedCompositeFieldContainer[Redaction]
    def __init__(self, ref: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., placeholder: _Optional[bool] = ..., first_seq: _Optional[int] = ..., tags: _Optional[_Mapping[str, str]] = ..., flags: _Optional[_Iterable[_Union[Flag, _Mapping]]] = ..., experiment: _Optional[_Union[ExperimentDetails, _Mapping]] = ..., run: _Optional[_Union[RunDetails, _Mapping]] = ..., dataset_version: _Optional[_Union[DatasetVersionDetails, _Mapping]] = ..., artifact: _Optional[_Union[ArtifactDetails, _Mapping]] = ..., model_version: _Optional[_Union[ModelVersionDetails, _Mapping]] = ..., endpoint: _Optional[_Union[EndpointDetails, _Mapping]] = ..., applied_seq: _Optional[int] = ..., redactions: _Optional[_Iterable[_Union[Redaction, _Mapping]]] = ...) -> None: ...

class Redaction(_message.Message):
    __slots__ = ("fields", "reason", "requested_by", "requested_at", "seq", "event_id")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    requested_by: str
    requested_at: _timestamp_pb2.Timestamp
    seq: int
    event_id: str
    def __init__(self, fields: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., requested_by: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seq: _Optional[int] = ..., event_id: _Optional[str] = ...) -> None: ...

class Edge(_message.Message):
    __slots__ = ("to", "kind", "first_seq", "from_node", "to_node")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    to: _events_pb2.EntityRef
    kind: EdgeKind
    first_seq: int
    from_node: int
    to_node: int
    def __init__(self, to: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., kind: _Optional[_Union[EdgeKind, str]] = ..., first_seq: _Optional[int] = ..., from_node: _Optional[int] = ..., to_node: _Optional[int] = ..., **kwargs) -> None: ...

class Subgraph(_message.Message):
    __slots__ = ("nodes", "edges", "truncated", "applied_seq")
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Entity]
    edges: _containers.RepeatedCompositeFieldContainer[Edge]
    truncated: bool
    applied_seq: int
    def __init__(self, nodes: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[Edge, _Mapping]]] = ..., truncated: _Optional[bool] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class RunsUsingDatasetRequest(_message.Message):
    __slots__ = ("workspace", "dataset", "version", "page_size", "page_token", "view", "min_seq", "as_of")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    dataset: str
    version: str
    page_size: int
    page_token: str
    view: EntityView
    min_seq: int
    as_of: AsOf
    def __init__(self, workspace: _Optional[str] = ..., dataset: _Optional[str] = ..., version: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view: _Optional[_Union[EntityView, str]] = ..., min_seq: _Optional[int] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class RunsUsingDatasetResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "applied_seq")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Entity]
    next_page_token: str
    applied_seq: int
    def __init__(self, runs: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class TraceModelRequest(_message.Message):
    __slots__ = ("workspace", "model", "version", "view", "compact_edges", "min_seq", "as_of")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    COMPACT_EDGES_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    model: str
    version: str
    view: EntityView
    compact_edges: bool
    min_seq: int
    as_of: AsOf
    def __init__(self, workspace: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., view: _Optional[_Union[EntityView, str]] = ..., compact_edges: _Optional[bool] = ..., min_seq: _Optional[int] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class ModelTrace(_message.Message):
    __slots__ = ("model", "source_run", "inputs", "environment", "compute", "upstream", "applied_seq")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    model: Entity
    source_run: Entity
    inputs: _containers.RepeatedCompositeFieldContainer[Entity]
    environment: Entity
    compute: Entity
    upstream: Subgraph
    applied_seq: int
    def __init__(self, model: _Optional[_Union[Entity, _Mapping]] = ..., source_run: _Optional[_Union[Entity, _Mapping]] = ..., inputs: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., environment: _Optional[_Union[Entity, _Mapping]] = ..., compute: _Optional[_Union[Entity, _Mapping]] = ..., upstream: _Optional[_Union[Subgraph, _Mapping]] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("include_state_digest",)
    INCLUDE_STATE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    include_state_digest: bool
    def __init__(self, include_state_digest: _Optional[bool] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("applied_seq", "head_hash", "nodes", "edges", "dead_lettered", "duplicates", "state_digest", "ready", "ingest_connected", "ingest_error", "last_checkpoint", "redactions_pending", "head_seq", "stream_last_seq", "consumer_acked_seq", "consumer_lag")
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    STATE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    INGEST_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    INGEST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REDACTIONS_PENDING_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    STREAM_LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_ACKED_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_LAG_FIELD_NUMBER: _ClassVar[int]
    applied_seq: int
    head_hash: str
    nodes: int
    edges: int
    dead_lettered: int
    duplicates: int
    state_digest: str
    ready: bool
    ingest_connected: bool
    ingest_error: str
    last_checkpoint: SignedCheckpoint
    redactions_pending: int
    head_seq: int
    stream_last_seq: int
    consumer_acked_seq: int
    consumer_lag: int
    def __init__(self, applied_seq: _Optional[int] = ..., head_hash: _Optional[str] = ..., nodes: _Optional[int] = ..., edges: _Optional[int] = ..., dead_lettered: _Optional[int] = ..., duplicates: _Optional[int] = ..., state_digest: _Optional[str] = ..., ready: _Optional[bool] = ..., ingest_connected: _Optional[bool] = ..., ingest_error: _Optional[str] = ..., last_checkpoint: _Optional[_Union[SignedCheckpoint, _Mapping]] = ..., redactions_pending: _Optional[int] = ..., head_seq: _Optional[int] = ..., stream_last_seq: _Optional[int] = ..., consumer_acked_seq: _Optional[int] = ..., consumer_lag: _Optional[int] = ...) -> None: ...

class VerifyLogRequest(_message.Message):
    __slots__ = ("from_seq", "to_seq", "public_key")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    to_seq: int
    public_key: str
    def __init__(self, from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., public_key: _Optional[str] = ...) -> None: ...

class VerifyLogResponse(_message.Message):
    __slots__ = ("ok", "records_checked", "verified_seq", "verified_hash", "first_bad_seq", "problem", "checkpoints_checked", "last_checkpoint_seq", "checkpoint_key")
    OK_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_HASH_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_SEQ_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_KEY_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    records_checked: int
    verified_seq: int
    verified_hash: str
    first_bad_seq: int
    problem: str
    checkpoints_checked: int
    last_checkpoint_seq: int
    checkpoint_key: str
    def __init__(self, ok: _Optional[bool] = ..., records_checked: _Optional[int] = ..., verified_seq: _Optional[int] = ..., verified_hash: _Optional[str] = ..., first_bad_seq: _Optional[int] = ..., problem: _Optional[str] = ..., checkpoints_checked: _Optional[int] = ..., last_checkpoint_seq: _Optional[int] = ..., checkpoint_key: _Optional[str] = ...) -> None: ...

class SignedCheckpoint(_message.Message):
    __slots__ = ("seq", "head_hash", "signed_at", "signed_at_unix_nanos", "public_key", "signature")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    head_hash: str
    signed_at: _timestamp_pb2.Timestamp
    signed_at_unix_nanos: int
    public_key: str
    signature: str
    def __init__(self, seq: _Optional[int] = ..., head_hash: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signed_at_unix_nanos: _Optional[int] = ..., public_key: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class ReplayRequest(_message.Message):
    __slots__ = ("from_seq", "to_seq", "from_time", "to_time", "workspaces", "kinds", "entity")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    to_seq: int
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    workspaces: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[PayloadKind]
    entity: _events_pb2.EntityRef
    def __init__(self, from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., workspaces: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[_Union[PayloadKind, str]]] = ..., entity: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ...) -> None: ...

class LogRecord(_message.Message):
    __slots__ = ("seq", "stream_seq", "recorded_at", "recorded_at_unix_nanos", "encoding", "key", "content_digest", "payload_digest", "prev_hash", "hash", "event", "original", "checkpoint", "field_key", "redaction")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STREAM_SEQ_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    FIELD_KEY_FIELD_NUMBER: _ClassVar[int]
    REDACTION_FIELD_NUMBER: _ClassVar[int]
    seq: int
    stream_seq: int
    recorded_at: _timestamp_pb2.Timestamp
    recorded_at_unix_nanos: int
    encoding: PayloadEncoding
    key: bytes
    content_digest: str
    payload_digest: str
    prev_hash: str
    hash: str
    event: _events_pb2.Event
    original: bytes
    checkpoint: SignedCheckpoint
    field_key: str
    redaction: RecordRedaction
    def __init__(self, seq: _Optional[int] = ..., stream_seq: _Optional[int] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_at_unix_nanos: _Optional[int] = ..., encoding: _Optional[_Union[PayloadEncoding, str]] = ..., key: _Optional[bytes] = ..., content_digest: _Optional[str] = ..., payload_digest: _Optional[str] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ..., event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ..., original: _Optional[bytes] = ..., checkpoint: _Optional[_Union[SignedCheckpoint, _Mapping]] = ..., field_key: _Optional[str] = ..., redaction: _Optional[_Union[RecordRedaction, _Mapping]] = ...) -> None: ...

class RecordRedaction(_message.Message):
    __slots__ = ("redaction_seq", "erased_digests", "kept_salts")
    class ErasedDigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class KeptSaltsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REDACTION_SEQ_FIELD_NUMBER: _ClassVar[int]
    ERASED_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    KEPT_SALTS_FIELD_NUMBER: _ClassVar[int]
    redaction_seq: int
    erased_digests: _containers.ScalarMap[str, str]
    kept_salts: _containers.ScalarMap[str, str]
    def __init__(self, redaction_seq: _Optional[int] = ..., erased_digests: _Optional[_Mapping[str, str]] = ..., kept_salts: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ExportProvRequest(_message.Message):
    __slots__ = ("root", "direction", "max_depth", "limit", "min_seq", "as_of")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    root: _events_pb2.EntityRef
    direction: ProvDirection
    max_depth: int
    limit: int
    min_seq: int
    as_of: AsOf
    def __init__(self, root: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., direction: _Optional[_Union[ProvDirection, str]] = ..., max_depth: _Optional[int] = ..., limit: _Optional[int] = ..., min_seq: _Optional[int] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class ExportProvResponse(_message.Message):
    __slots__ = ("document", "truncated", "applied_seq", "signature", "public_key")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    document: str
    truncated: bool
    applied_seq: int
    signature: str
    public_key: str
    def __init__(self, document: _Optional[str] = ..., truncated: _Optional[bool] = ..., applied_seq: _Optional[int] = ..., signature: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class DiffLineageRequest(_message.Message):
    __slots__ = ("a", "b", "max_depth", "min_seq", "a_as_of", "b_as_of")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    A_AS_OF_FIELD_NUMBER: _ClassVar[int]
    B_AS_OF_FIELD_NUMBER: _ClassVar[int]
    a: _events_pb2.EntityRef
    b: _events_pb2.EntityRef
    max_depth: int
    min_seq: int
    a_as_of: AsOf
    b_as_of: AsOf
    def __init__(self, a: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., b: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., max_depth: _Optional[int] = ..., min_seq: _Optional[int] = ..., a_as_of: _Optional[_Union[AsOf, _Mapping]] = ..., b_as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class ValueChange(_message.Message):
    __slots__ = ("key", "a", "b")
    KEY_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    key: str
    a: str
    b: str
    def __init__(self, key: _Optional[str] = ..., a: _Optional[str] = ..., b: _Optional[str] = ...) -> None: ...

class MetricChange(_message.Message):
    __slots__ = ("key", "a", "b")
    KEY_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    key: str
    a: float
    b: float
    def __init__(self, key: _Optional[str] = ..., a: _Optional[float] = ..., b: _Optional[float] = ...) -> None: ...

class EntityChange(_message.Message):
    __slots__ = ("a", "b")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    a: _events_pb2.EntityRef
    b: _events_pb2.EntityRef
    def __init__(self, a: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., b: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ...) -> None: ...

class LineageDiff(_message.Message):
    __slots__ = ("a", "b", "source_run_a", "source_run_b", "datasets_added", "datasets_removed", "datasets_unchanged", "params", "metrics", "code_version", "environment", "compute", "truncated", "applied_seq")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_A_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_B_FIELD_NUMBER: _ClassVar[int]
    DATASETS_ADDED_FIELD_NUMBER: _ClassVar[int]
    DATASETS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    DATASETS_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    a: _events_pb2.EntityRef
    b: _events_pb2.EntityRef
    source_run_a: _events_pb2.EntityRef
    source_run_b: _events_pb2.EntityRef
    datasets_added: _containers.RepeatedCompositeFieldContainer[_events_pb2.EntityRef]
    datasets_removed: _containers.RepeatedCompositeFieldContainer[_events_pb2.EntityRef]
    datasets_unchanged: int
    params: _containers.RepeatedCompositeFieldContainer[ValueChange]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricChange]
    code_version: ValueChange
    environment: EntityChange
    compute: EntityChange
    truncated: bool
    applied_seq: int
    def __init__(self, a: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., b: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., source_run_a: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., source_run_b: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., datasets_added: _Optional[_Iterable[_Union[_events_pb2.EntityRef, _Mapping]]] = ..., datasets_removed: _Optional[_Iterable[_Union[_events_pb2.EntityRef, _Mapping]]] = ..., datasets_unchanged: _Optional[int] = ..., params: _Optional[_Iterable[_Union[ValueChange, _Mapping]]] = ..., metrics: _Optional[_Iterable[_Union[MetricChange, _Mapping]]] = ..., code_version: _Optional[_Union[ValueChange, _Mapping]] = ..., environment: _Optional[_Union[EntityChange, _Mapping]] = ..., compute: _Optional[_Union[EntityChange, _Mapping]] = ..., truncated: _Optional[bool] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class SearchRunsRequest(_message.Message):
    __slots__ = ("workspace", "experiments", "filter", "order_by", "page_size", "page_token", "view", "min_seq")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    experiments: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    view: EntityView
    min_seq: int
    def __init__(self, workspace: _Optional[str] = ..., experiments: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., order_by: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view: _Optional[_Union[EntityView, str]] = ..., min_seq: _Optional[int] = ...) -> None: ...

class SearchRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "applied_seq", "candidates")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Entity]
    next_page_token: str
    applied_seq: int
    candidates: int
    def __init__(self, runs: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., applied_seq: _Optional[int] = ..., candidates: _Optional[int] = ...) -> None: ...

class CompareRunsRequest(_message.Message):
    __slots__ = ("workspace", "run_ids", "lower_is_better", "min_seq")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    LOWER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    lower_is_better: _containers.RepeatedScalarFieldContainer[str]
    min_seq: int
    def __init__(self, workspace: _Optional[str] = ..., run_ids: _Optional[_Iterable[str]] = ..., lower_is_better: _Optional[_Iterable[str]] = ..., min_seq: _Optional[int] = ...) -> None: ...

class ComparedField(_message.Message):
    __slots__ = ("field", "values", "differs")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DIFFERS_FIELD_NUMBER: _ClassVar[int]
    field: str
    values: _containers.RepeatedScalarFieldContainer[str]
    differs: bool
    def __init__(self, field: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., differs: _Optional[bool] = ...) -> None: ...

class ComparedMetric(_message.Message):
    __slots__ = ("present", "latest", "best", "points")
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    present: bool
    latest: MetricValue
    best: MetricValue
    points: int
    def __init__(self, present: _Optional[bool] = ..., latest: _Optional[_Union[MetricValue, _Mapping]] = ..., best: _Optional[_Union[MetricValue, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class MetricComparison(_message.Message):
    __slots__ = ("key", "lower_is_better", "runs", "best_run", "differs")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LOWER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    BEST_RUN_FIELD_NUMBER: _ClassVar[int]
    DIFFERS_FIELD_NUMBER: _ClassVar[int]
    key: str
    lower_is_better: bool
    runs: _containers.RepeatedCompositeFieldContainer[ComparedMetric]
    best_run: int
    differs: bool
    def __init__(self, key: _Optional[str] = ..., lower_is_better: _Optional[bool] = ..., runs: _Optional[_Iterable[_Union[ComparedMetric, _Mapping]]] = ..., best_run: _Optional[int] = ..., differs: _Optional[bool] = ...) -> None: ...

class RunComparison(_message.Message):
    __slots__ = ("runs", "fields", "metrics", "applied_seq", "truncated")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Entity]
    fields: _containers.RepeatedCompositeFieldContainer[ComparedField]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricComparison]
    applied_seq: int
    truncated: bool
    def __init__(self, runs: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., fields: _Optional[_Iterable[_Union[ComparedField, _Mapping]]] = ..., metrics: _Optional[_Iterable[_Union[MetricComparison, _Mapping]]] = ..., applied_seq: _Optional[int] = ..., truncated: _Optional[bool] = ...) -> None: ...

class GetMetricHistoryRequest(_message.Message):
    __slots__ = ("workspace", "run_id", "key", "page_size", "page_token", "min_seq")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    run_id: str
    key: str
    page_size: int
    page_token: str
    min_seq: int
    def __init__(self, workspace: _Optional[str] = ..., run_id: _Optional[str] = ..., key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., min_seq: _Optional[int] = ...) -> None: ...

class MetricHistory(_message.Message):
    __slots__ = ("run_id", "key", "points", "next_page_token", "applied_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    key: str
    points: _containers.RepeatedCompositeFieldContainer[MetricValue]
    next_page_token: str
    applied_seq: int
    def __init__(self, run_id: _Optional[str] = ..., key: _Optional[str] = ..., points: _Optional[_Iterable[_Union[MetricValue, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class CheckPromotionRequest(_message.Message):
    __slots__ = ("workspace", "model", "version", "criteria", "min_seq")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    model: str
    version: str
    criteria: str
    min_seq: int
    def __init__(self, workspace: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., criteria: _Optional[str] = ..., min_seq: _Optional[int] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("entity", "field", "value", "event_id", "seq")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    entity: _events_pb2.EntityRef
    field: str
    value: str
    event_id: str
    seq: int
    def __init__(self, entity: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., field: _Optional[str] = ..., value: _Optional[str] = ..., event_id: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class CriterionResult(_message.Message):
    __slots__ = ("criterion", "passed", "explanation", "evidence")
    CRITERION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    criterion: str
    passed: bool
    explanation: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    def __init__(self, criterion: _Optional[str] = ..., passed: _Optional[bool] = ..., explanation: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ...) -> None: ...

class PromotionCheck(_message.Message):
    __slots__ = ("model", "source_run_id", "criteria", "criteria_event_id", "passed", "results", "truncated", "applied_seq")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    model: _events_pb2.ModelVersionRef
    source_run_id: str
    criteria: str
    criteria_event_id: str
    passed: bool
    results: _containers.RepeatedCompositeFieldContainer[CriterionResult]
    truncated: bool
    applied_seq: int
    def __init__(self, model: _Optional[_Union[_events_pb2.ModelVersionRef, _Mapping]] = ..., source_run_id: _Optional[str] = ..., criteria: _Optional[str] = ..., criteria_event_id: _Optional[str] = ..., passed: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[CriterionResult, _Mapping]]] = ..., truncated: _Optional[bool] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class WatchImpactRequest(_message.Message):
    __slots__ = ("root", "max_depth", "from_seq")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    root: _events_pb2.EntityRef
    max_depth: int
    from_seq: int
    def __init__(self, root: _Optional[_Union[_events_pb2.EntityRef, _Mapping]] = ..., max_depth: _Optional[int] = ..., from_seq: _Optional[int] = ...) -> None: ...

class ImpactEvent(_message.Message):
    __slots__ = ("entity", "path", "edges", "seq", "root_flagged")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ROOT_FLAGGED_FIELD_NUMBER: _ClassVar[int]
    entity: Entity
    path: _containers.RepeatedCompositeFieldContainer[_events_pb2.EntityRef]
    edges: _containers.RepeatedScalarFieldContainer[EdgeKind]
    seq: int
    root_flagged: bool
    def __init__(self, entity: _Optional[_Union[Entity, _Mapping]] = ..., path: _Optional[_Iterable[_Union[_events_pb2.EntityRef, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[EdgeKind, str]]] = ..., seq: _Optional[int] = ..., root_flagged: _Optional[bool] = ...) -> None: ...
