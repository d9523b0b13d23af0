//! Wire input into domain input: decoding an event's bytes and validating it
//! into a [`lineage_core::Event`], or saying exactly why not.
//!
//! This is the only door into the log: whatever passes here can be applied to
//! the graph without failing. Every rejection names a reason code (stable,
//! for the dead-letter headers and for producers' dashboards) and a detail
//! that points at the field.

use std::collections::{BTreeMap, BTreeSet};

use lineage_core::chain::{ChainedRecord, Checkpoint, SignedCheckpoint};
use lineage_core::event::{
    ArtifactLogged, ArtifactRef, DatasetVersionRef, DatasetVersionRegistered, EntityFlagged,
    EnvironmentRef, ExperimentCreated, MetricPoint, MetricsLogged, ModelDeployed, ModelRegistered,
    ModelStage, ModelStageChanged, ModelVersionRef, ParamsLogged, PromotionCriteriaSet,
    RedactionRequested, RunFinished, RunInputsDeclared, RunStarted, RunStatus, Severity, TagsSet,
};
use lineage_core::filter::Filter;
use lineage_core::id::{self, IdError};
use lineage_core::redaction::PersonalField;
use lineage_core::{EntityKey, Event, EventId, EventTime, Payload, PayloadKind, Workspace};
use prost::Message;

use crate::v1;

/// The longest free-text field (descriptions, errors, notes, URIs), in bytes.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// The longest tag or parameter value, in bytes.
pub const MAX_VALUE_LEN: usize = 8 * 1024;
/// The most entries in one map (tags, params) of one event.
pub const MAX_MAP_ENTRIES: usize = 1_000;
/// The most items in one list (inputs, parents) of one event.
pub const MAX_LIST_ITEMS: usize = 1_000;
/// The most metric values in one event.
pub const MAX_METRICS: usize = 10_000;
/// The most fields one redaction names.
pub const MAX_REDACTED_FIELDS: usize = 64;

/// How the producer encoded an event, from the `Content-Type` header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Encoding {
    /// Binary protobuf, the default.
    Protobuf,
    /// The proto3 JSON mapping (`Content-Type: application/json`).
    Json,
}

impl Encoding {
    /// The byte the log stores for this encoding.
    pub fn as_byte(self) -> u8 {
        match self {
            Encoding::Protobuf => 0,
            Encoding::Json => 1,
        }
    }

    /// The encoding a log byte names, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Encoding::Protobuf),
            1 => Some(Encoding::Json),
            _ => None,
        }
    }

    /// Reads a `Content-Type` header value; anything but JSON is protobuf.
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(value)
                if value
                    .split(';')
                    .next()
                    .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json")) =>
            {
                Encoding::Json
            }
            _ => Encoding::Protobuf,
        }
    }
}

/// Why a message was rejected. Each has a stable code for the dead-letter
/// stream's `Lineage-Reject-Reason` header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RejectReason {
    /// The bytes are not an `Event` in the stated encoding.
    Undecodable,
    /// A required field is absent or empty.
    MissingField,
    /// An identifier breaks its alphabet or length rules.
    InvalidIdentifier,
    /// A value is out of range or inconsistent (times, sizes, enums, self references).
    InvalidValue,
    /// The event carries no payload.
    EmptyPayload,
    /// The event's workspace is not the one its subject names.
    WorkspaceMismatch,
    /// A model registration that does not name its source run.
    ModelWithoutSourceRun,
    /// The message is larger than the configured limit.
    Oversize,
    /// An event id that was already stored with different content.
    ConflictingDuplicate,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::Undecodable,
        RejectReason::MissingField,
        RejectReason::InvalidIdentifier,
        RejectReason::InvalidValue,
        RejectReason::EmptyPayload,
        RejectReason::WorkspaceMismatch,
        RejectReason::ModelWithoutSourceRun,
        RejectReason::Oversize,
        RejectReason::ConflictingDuplicate,
    ];

    /// The stable code, as written in dead-letter headers.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Undecodable => "undecodable",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidIdentifier => "invalid_identifier",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::EmptyPayload => "empty_payload",
            RejectReason::WorkspaceMismatch => "workspace_mismatch",
            RejectReason::ModelWithoutSourceRun => "model_without_source_run",
            RejectReason::Oversize => "oversize",
            RejectReason::ConflictingDuplicate => "conflicting_duplicate",
        }
    }
}

/// A rejected message: the reason code and a detail naming the field.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{} ({detail})", reason.code())]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// Decodes an event's bytes in the given encoding.
pub fn decode_event(bytes: &[u8], encoding: Encoding) -> Result<v1::Event, Rejection> {
    match encoding {
        Encoding::Protobuf => v1::Event::decode(bytes).map_err(|error| {
            Rejection::new(
                RejectReason::Undecodable,
                format!("not a protobuf lineage.v1.Event: {error}"),
            )
        }),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|error| {
            Rejection::new(
                RejectReason::Undecodable,
                format!("not a JSON lineage.v1.Event: {error}"),
            )
        }),
    }
}

/// Validates a decoded event into a domain event: what a producer must
/// send.
pub fn validate_event(event: &v1::Event) -> Result<Event, Rejection> {
    validate_event_from(event, Source::Producer)
}

/// Validates an event read back from the log, where a redaction may have
/// emptied personal fields a producer must fill (a flag's reason): the same
/// rules as [`validate_event`] but those. Replays of the log use this, so
/// that an erased record still applies.
pub fn validate_logged_event(event: &v1::Event) -> Result<Event, Rejection> {
    validate_event_from(event, Source::Log)
}

/// Where an event being validated comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    /// A producer: every required field must be there.
    Producer,
    /// The log: personal fields may have been erased since.
    Log,
}

fn validate_event_from(event: &v1::Event, source: Source) -> Result<Event, Rejection> {
    let id = {
        let raw = &event.event_id;
        if raw.is_empty() {
            return Err(missing("event_id"));
        }
        id::check_event_id(raw).map_err(|e| bad_id("event_id", e))?;
        EventId::new_unchecked(raw.as_str())
    };
    if event.workspace.is_empty() {
        return Err(missing("workspace"));
    }
    let workspace = Workspace::parse(&event.workspace).map_err(|e| bad_id("workspace", e))?;
    let occurred_at = event_time("occurred_at", event.occurred_at.as_ref())?;
    let producer = text("producer", &event.producer, id::MAX_NAME_LEN)?;
    let actor = text("actor", &event.actor, id::MAX_NAME_LEN)?;
    let payload = event
        .payload
        .as_ref()
        .ok_or_else(|| Rejection::new(RejectReason::EmptyPayload, "the event has no payload"))?;
    let payload = validate_payload(&workspace, occurred_at, payload, source)?;
    Ok(Event {
        id,
        workspace,
        occurred_at,
        producer,
        actor,
        payload,
    })
}

fn validate_payload(
    workspace: &Workspace,
    occurred_at: EventTime,
    payload: &v1::event::Payload,
    source: Source,
) -> Result<Payload, Rejection> {
    use v1::event::Payload as P;
    Ok(match payload {
        P::ExperimentCreated(p) => Payload::ExperimentCreated(ExperimentCreated {
            experiment: name("experiment_created.experiment", &p.experiment)?,
            description: text(
                "experiment_created.description",
                &p.description,
                MAX_TEXT_LEN,
            )?,
            tags: string_map("experiment_created.tags", &p.tags)?,
        }),
        P::RunStarted(p) => {
            let run_id = run_id("run_started.run_id", &p.run_id)?;
            let parent_run_id = optional(&p.parent_run_id, |s| {
                self::run_id("run_started.parent_run_id", s)
            })?;
            if parent_run_id.as_deref() == Some(run_id.as_str()) {
                return Err(Rejection::new(
                    RejectReason::InvalidValue,
                    "run_started.parent_run_id: a run cannot be its own parent",
                ));
            }
            let environment = match &p.environment {
                None => None,
                Some(env) if env.name.is_empty() && env.version.is_empty() => None,
                Some(env) => Some(EnvironmentRef {
                    name: name("run_started.environment.name", &env.name)?,
                    version: version("run_started.environment.version", &env.version)?,
                }),
            };
            Payload::RunStarted(RunStarted {
                run_id,
                experiment: optional(&p.experiment, |s| name("run_started.experiment", s))?,
                name: text("run_started.name", &p.name, id::MAX_NAME_LEN)?,
                parent_run_id,
                code_version: text(
                    "run_started.code_version",
                    &p.code_version,
                    id::MAX_NAME_LEN,
                )?,
                environment,
                compute_target: optional(&p.compute_target, |s| {
                    name("run_started.compute_target", s)
                })?,
                params: string_map("run_started.params", &p.params)?,
                tags: string_map("run_started.tags", &p.tags)?,
            })
        }
        P::RunFinished(p) => {
            let status = match v1::RunStatus::try_from(p.status) {
                Ok(v1::RunStatus::Completed) => RunStatus::Completed,
                Ok(v1::RunStatus::Failed) => RunStatus::Failed,
                Ok(v1::RunStatus::Canceled) => RunStatus::Canceled,
                Ok(v1::RunStatus::Unspecified) => return Err(missing("run_finished.status")),
                _ => {
                    return Err(Rejection::new(
                        RejectReason::InvalidValue,
                        format!(
                            "run_finished.status: {} is not COMPLETED, FAILED or CANCELED",
                            p.status
                        ),
                    ));
                }
            };
            Payload::RunFinished(RunFinished {
                run_id: run_id("run_finished.run_id", &p.run_id)?,
                status,
                error: text("run_finished.error", &p.error, MAX_TEXT_LEN)?,
            })
        }
        P::ParamsLogged(p) => Payload::ParamsLogged(ParamsLogged {
            run_id: run_id("params_logged.run_id", &p.run_id)?,
            params: string_map("params_logged.params", &p.params)?,
        }),
        P::MetricsLogged(p) => {
            let run_id = run_id("metrics_logged.run_id", &p.run_id)?;
            if p.metrics.is_empty() {
                return Err(missing("metrics_logged.metrics"));
            }
            bounded_list("metrics_logged.metrics", p.metrics.len(), MAX_METRICS)?;
            let metrics = p
                .metrics
                .iter()
                .enumerate()
                .map(|(i, metric)| {
                    let field = format!("metrics_logged.metrics[{i}]");
                    if metric.key.is_empty() {
                        return Err(missing(&format!("{field}.key")));
                    }
                    id::check_key(&metric.key).map_err(|e| bad_id(&format!("{field}.key"), e))?;
                    let timestamp = match &metric.timestamp {
                        None => occurred_at,
                        Some(t) => event_time(&format!("{field}.timestamp"), Some(t))?,
                    };
                    Ok::<_, Rejection>(MetricPoint {
                        key: metric.key.clone(),
                        value: metric.value,
                        step: metric.step,
                        timestamp,
                    })
                })
                .collect::<Result<_, _>>()?;
            Payload::MetricsLogged(MetricsLogged { run_id, metrics })
        }
        P::TagsSet(p) => Payload::TagsSet(TagsSet {
            entity: entity_in_event("tags_set.entity", workspace, p.entity.as_ref())?,
            tags: string_map("tags_set.tags", &p.tags)?,
        }),
        P::DatasetVersionRegistered(p) => {
            let dataset = name("dataset_version_registered.dataset", &p.dataset)?;
            let version = version("dataset_version_registered.version", &p.version)?;
            bounded_list(
                "dataset_version_registered.derived_from",
                p.derived_from.len(),
                MAX_LIST_ITEMS,
            )?;
            let derived_from = p
                .derived_from
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    dataset_ref(&format!("dataset_version_registered.derived_from[{i}]"), r)
                })
                .collect::<Result<Vec<_>, _>>()?;
            if derived_from
                .iter()
                .any(|parent| parent.dataset == dataset && parent.version == version)
            {
                return Err(Rejection::new(
                    RejectReason::InvalidValue,
                    "dataset_version_registered.derived_from: a dataset version cannot derive from itself",
                ));
            }
            Payload::DatasetVersionRegistered(DatasetVersionRegistered {
                dataset,
                version,
                uri: text("dataset_version_registered.uri", &p.uri, MAX_TEXT_LEN)?,
                digest: text("dataset_version_registered.digest", &p.digest, MAX_TEXT_LEN)?,
                derived_from,
                produced_by_run_id: optional(&p.produced_by_run_id, |s| {
                    run_id("dataset_version_registered.produced_by_run_id", s)
                })?,
            })
        }
        P::RunInputsDeclared(p) => {
            let run_id = run_id("run_inputs_declared.run_id", &p.run_id)?;
            let total = p.datasets.len() + p.artifacts.len() + p.models.len();
            if total == 0 {
                return Err(missing("run_inputs_declared.datasets"));
            }
            bounded_list("run_inputs_declared", total, MAX_LIST_ITEMS)?;
            let datasets = p
                .datasets
                .iter()
                .enumerate()
                .map(|(i, r)| dataset_ref(&format!("run_inputs_declared.datasets[{i}]"), r))
                .collect::<Result<_, _>>()?;
            let artifacts = p
                .artifacts
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let field = format!("run_inputs_declared.artifacts[{i}]");
                    Ok::<_, Rejection>(ArtifactRef {
                        run_id: self::run_id(&format!("{field}.run_id"), &r.run_id)?,
                        name: name(&format!("{field}.name"), &r.name)?,
                    })
                })
                .collect::<Result<_, _>>()?;
            let models = p
                .models
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let field = format!("run_inputs_declared.models[{i}]");
                    Ok::<_, Rejection>(ModelVersionRef {
                        model: name(&format!("{field}.model"), &r.model)?,
                        version: self::version(&format!("{field}.version"), &r.version)?,
                    })
                })
                .collect::<Result<_, _>>()?;
            Payload::RunInputsDeclared(RunInputsDeclared {
                run_id,
                datasets,
                artifacts,
                models,
            })
        }
        P::ArtifactLogged(p) => Payload::ArtifactLogged(ArtifactLogged {
            run_id: run_id("artifact_logged.run_id", &p.run_id)?,
            name: name("artifact_logged.name", &p.name)?,
            uri: text("artifact_logged.uri", &p.uri, MAX_TEXT_LEN)?,
            digest: text("artifact_logged.digest", &p.digest, MAX_TEXT_LEN)?,
            kind: text("artifact_logged.kind", &p.kind, id::MAX_NAME_LEN)?,
            size_bytes: p.size_bytes,
        }),
        P::ModelRegistered(p) => {
            let model = name("model_registered.model", &p.model)?;
            let version = version("model_registered.version", &p.version)?;
            if p.source_run_id.is_empty() {
                return Err(Rejection::new(
                    RejectReason::ModelWithoutSourceRun,
                    format!(
                        "model_registered.source_run_id: {model}@{version} must name the run that produced it"
                    ),
                ));
            }
            Payload::ModelRegistered(ModelRegistered {
                model,
                version,
                source_run_id: run_id("model_registered.source_run_id", &p.source_run_id)?,
                artifact_name: optional(&p.artifact_name, |s| {
                    name("model_registered.artifact_name", s)
                })?,
                approval_notes: text(
                    "model_registered.approval_notes",
                    &p.approval_notes,
                    MAX_TEXT_LEN,
                )?,
                approved_by: text(
                    "model_registered.approved_by",
                    &p.approved_by,
                    id::MAX_NAME_LEN,
                )?,
            })
        }
        P::ModelStageChanged(p) => {
            let stage = match v1::ModelStage::try_from(p.stage) {
                Ok(v1::ModelStage::Staging) => ModelStage::Staging,
                Ok(v1::ModelStage::Production) => ModelStage::Production,
                Ok(v1::ModelStage::Archived) => ModelStage::Archived,
                Ok(v1::ModelStage::Unspecified) => {
                    return Err(missing("model_stage_changed.stage"));
                }
                Err(_) => {
                    return Err(Rejection::new(
                        RejectReason::InvalidValue,
                        format!(
                            "model_stage_changed.stage: {} is not STAGING, PRODUCTION or ARCHIVED",
                            p.stage
                        ),
                    ));
                }
            };
            Payload::ModelStageChanged(ModelStageChanged {
                model: name("model_stage_changed.model", &p.model)?,
                version: version("model_stage_changed.version", &p.version)?,
                stage,
                reason: text("model_stage_changed.reason", &p.reason, MAX_TEXT_LEN)?,
                approved_by: text(
                    "model_stage_changed.approved_by",
                    &p.approved_by,
                    id::MAX_NAME_LEN,
                )?,
            })
        }
        P::ModelDeployed(p) => Payload::ModelDeployed(ModelDeployed {
            model: name("model_deployed.model", &p.model)?,
            version: version("model_deployed.version", &p.version)?,
            endpoint: name("model_deployed.endpoint", &p.endpoint)?,
            deployment: text("model_deployed.deployment", &p.deployment, id::MAX_NAME_LEN)?,
        }),
        P::EntityFlagged(p) => {
            let severity = match v1::Severity::try_from(p.severity) {
                Ok(v1::Severity::Low) => Severity::Low,
                Ok(v1::Severity::Medium) => Severity::Medium,
                Ok(v1::Severity::High) => Severity::High,
                Ok(v1::Severity::Critical) => Severity::Critical,
                Ok(v1::Severity::Unspecified) => return Err(missing("entity_flagged.severity")),
                Err(_) => {
                    return Err(Rejection::new(
                        RejectReason::InvalidValue,
                        format!(
                            "entity_flagged.severity: {} is not LOW, MEDIUM, HIGH or CRITICAL",
                            p.severity
                        ),
                    ));
                }
            };
            // A personal field: a redaction may have erased it since.
            if p.reason.is_empty() && source == Source::Producer {
                return Err(missing("entity_flagged.reason"));
            }
            Payload::EntityFlagged(EntityFlagged {
                entity: entity_in_event("entity_flagged.entity", workspace, p.entity.as_ref())?,
                reason: text("entity_flagged.reason", &p.reason, MAX_TEXT_LEN)?,
                severity,
            })
        }
        P::RedactionRequested(p) => {
            let entity =
                entity_in_event("redaction_requested.entity", workspace, p.entity.as_ref())?;
            if p.fields.is_empty() {
                return Err(missing("redaction_requested.fields"));
            }
            bounded_list(
                "redaction_requested.fields",
                p.fields.len(),
                MAX_REDACTED_FIELDS,
            )?;
            // A field named twice is erased once.
            let fields = p
                .fields
                .iter()
                .enumerate()
                .map(|(i, field)| {
                    PersonalField::parse(field).map_err(|why| {
                        Rejection::new(
                            RejectReason::InvalidValue,
                            format!("redaction_requested.fields[{i}]: {why}"),
                        )
                    })
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            if p.reason.is_empty() {
                return Err(missing("redaction_requested.reason"));
            }
            Payload::RedactionRequested(RedactionRequested {
                entity,
                fields,
                reason: text("redaction_requested.reason", &p.reason, MAX_TEXT_LEN)?,
            })
        }
        P::PromotionCriteriaSet(p) => {
            if p.criteria.trim().is_empty() {
                return Err(missing("promotion_criteria_set.criteria"));
            }
            let criteria = text(
                "promotion_criteria_set.criteria",
                &p.criteria,
                lineage_core::filter::MAX_FILTER_BYTES,
            )?;
            if let Err(error) = Filter::parse_criteria(&criteria) {
                return Err(Rejection::new(
                    RejectReason::InvalidValue,
                    format!("promotion_criteria_set.criteria: {error}"),
                ));
            }
            Payload::PromotionCriteriaSet(PromotionCriteriaSet {
                model: name("promotion_criteria_set.model", &p.model)?,
                criteria,
            })
        }
    })
}

/// A problem with one field of a request or event reference.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl From<FieldError> for Rejection {
    fn from(error: FieldError) -> Self {
        let reason = if error.reason == "is required" {
            RejectReason::MissingField
        } else {
            RejectReason::InvalidIdentifier
        };
        Rejection::new(reason, error.to_string())
    }
}

/// Parses an `EntityRef` naming any entity; its workspace is required.
pub fn entity_key(field: &str, entity: Option<&v1::EntityRef>) -> Result<EntityKey, FieldError> {
    let entity = entity.ok_or_else(|| field_error(field, "is required"))?;
    if entity.workspace.is_empty() {
        return Err(field_error(&format!("{field}.workspace"), "is required"));
    }
    let workspace = Workspace::parse(&entity.workspace)
        .map_err(|e| field_error(&format!("{field}.workspace"), e))?;
    entity_key_in(field, workspace, entity)
}

/// Parses an `EntityRef` inside an event: its workspace defaults to the
/// event's and, when given, must equal it.
fn entity_in_event(
    field: &str,
    workspace: &Workspace,
    entity: Option<&v1::EntityRef>,
) -> Result<EntityKey, Rejection> {
    let entity = entity.ok_or_else(|| missing(field))?;
    if !entity.workspace.is_empty() && entity.workspace != workspace.as_str() {
        return Err(Rejection::new(
            RejectReason::WorkspaceMismatch,
            format!(
                "{field}.workspace: {:?} is not the event's workspace {workspace}",
                entity.workspace
            ),
        ));
    }
    Ok(entity_key_in(field, workspace.clone(), entity)?)
}

fn entity_key_in(
    field: &str,
    workspace: Workspace,
    entity: &v1::EntityRef,
) -> Result<EntityKey, FieldError> {
    let kind = entity_kind(&format!("{field}.kind"), entity.kind)?;
    if entity.name.is_empty() {
        return Err(field_error(&format!("{field}.name"), "is required"));
    }
    if kind.is_versioned() && entity.version.is_empty() {
        return Err(field_error(&format!("{field}.version"), "is required"));
    }
    EntityKey::parse(workspace, kind, &entity.name, &entity.version).map_err(|e| match e {
        id::KeyError::Name(e) => field_error(&format!("{field}.name"), e),
        id::KeyError::Version(e) => field_error(&format!("{field}.version"), e),
    })
}

/// Reads an `EntityKind` enum value; UNSPECIFIED and unknown values are errors.
pub fn entity_kind(field: &str, raw: i32) -> Result<lineage_core::EntityKind, FieldError> {
    use lineage_core::EntityKind as K;
    match v1::EntityKind::try_from(raw) {
        Ok(v1::EntityKind::Experiment) => Ok(K::Experiment),
        Ok(v1::EntityKind::Run) => Ok(K::Run),
        Ok(v1::EntityKind::DatasetVersion) => Ok(K::DatasetVersion),
        Ok(v1::EntityKind::Artifact) => Ok(K::Artifact),
        Ok(v1::EntityKind::ModelVersion) => Ok(K::ModelVersion),
        Ok(v1::EntityKind::Environment) => Ok(K::Environment),
        Ok(v1::EntityKind::Compute) => Ok(K::Compute),
        Ok(v1::EntityKind::Endpoint) => Ok(K::Endpoint),
        Ok(v1::EntityKind::Unspecified) => Err(field_error(field, "is required")),
        Err(_) => Err(field_error(field, format!("{raw} is not an entity kind"))),
    }
}

/// Reads a `PayloadKind` enum value; UNSPECIFIED and unknown values are errors.
pub fn payload_kind(field: &str, raw: i32) -> Result<PayloadKind, FieldError> {
    use v1::PayloadKind as W;
    let kind = match W::try_from(raw) {
        Ok(W::ExperimentCreated) => PayloadKind::ExperimentCreated,
        Ok(W::RunStarted) => PayloadKind::RunStarted,
        Ok(W::RunFinished) => PayloadKind::RunFinished,
        Ok(W::ParamsLogged) => PayloadKind::ParamsLogged,
        Ok(W::MetricsLogged) => PayloadKind::MetricsLogged,
        Ok(W::TagsSet) => PayloadKind::TagsSet,
        Ok(W::DatasetVersionRegistered) => PayloadKind::DatasetVersionRegistered,
        Ok(W::RunInputsDeclared) => PayloadKind::RunInputsDeclared,
        Ok(W::ArtifactLogged) => PayloadKind::ArtifactLogged,
        Ok(W::ModelRegistered) => PayloadKind::ModelRegistered,
        Ok(W::ModelStageChanged) => PayloadKind::ModelStageChanged,
        Ok(W::ModelDeployed) => PayloadKind::ModelDeployed,
        Ok(W::EntityFlagged) => PayloadKind::EntityFlagged,
        Ok(W::RedactionRequested) => PayloadKind::RedactionRequested,
        Ok(W::PromotionCriteriaSet) => PayloadKind::PromotionCriteriaSet,
        Ok(W::Unspecified) => return Err(field_error(field, "is not a payload kind")),
        Err(_) => return Err(field_error(field, format!("{raw} is not a payload kind"))),
    };
    Ok(kind)
}

/// Reads a signed checkpoint as the service sent it (its signature is not
/// checked here: see `SignedCheckpoint::verify`).
pub fn signed_checkpoint(
    field: &str,
    wire: &v1::SignedCheckpoint,
) -> Result<SignedCheckpoint, FieldError> {
    Ok(SignedCheckpoint {
        checkpoint: Checkpoint {
            seq: wire.seq,
            head_hash: hex_bytes(&format!("{field}.head_hash"), &wire.head_hash)?,
            signed_at: wire.signed_at_unix_nanos,
        },
        public_key: hex_bytes(&format!("{field}.public_key"), &wire.public_key)?,
        signature: hex_bytes(&format!("{field}.signature"), &wire.signature)?,
    })
}

/// The chain fields of a replayed `LogRecord`, decoded from hex: what a
/// client needs to recompute the record's place in the hash chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayedLink {
    pub encoding: Encoding,
    pub content_digest: [u8; 32],
    pub payload_digest: [u8; 32],
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl ReplayedLink {
    pub fn parse(record: &v1::LogRecord) -> Result<Self, FieldError> {
        let encoding = match v1::PayloadEncoding::try_from(record.encoding) {
            Ok(v1::PayloadEncoding::Protobuf) => Encoding::Protobuf,
            Ok(v1::PayloadEncoding::Json) => Encoding::Json,
            _ => {
                return Err(field_error(
                    "encoding",
                    format!("{} is not an encoding", record.encoding),
                ));
            }
        };
        Ok(Self {
            encoding,
            content_digest: hex_bytes("content_digest", &record.content_digest)?,
            payload_digest: hex_bytes("payload_digest", &record.payload_digest)?,
            prev_hash: hex_bytes("prev_hash", &record.prev_hash)?,
            hash: hex_bytes("hash", &record.hash)?,
        })
    }

    /// The record as the chain check takes it.
    pub fn chained<'a>(&'a self, record: &'a v1::LogRecord) -> ChainedRecord<'a> {
        ChainedRecord {
            seq: record.seq,
            stream_seq: record.stream_seq,
            recorded_at: record.recorded_at_unix_nanos,
            encoding: self.encoding.as_byte(),
            key: &record.key,
            content_digest: &self.content_digest,
            payload_digest: &self.payload_digest,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
            bytes: &record.original,
        }
    }
}

/// Reads an ed25519 public key written as 64 hex digits.
pub fn public_key(field: &str, raw: &str) -> Result<ed25519_dalek::VerifyingKey, FieldError> {
    let bytes: [u8; 32] = hex_bytes(field, raw)?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| field_error(field, "is not an ed25519 public key"))
}

/// Exactly `N` bytes written as `2 * N` hex digits.
pub fn hex_bytes<const N: usize>(field: &str, raw: &str) -> Result<[u8; N], FieldError> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(raw, &mut bytes)
        .map_err(|_| field_error(field, format!("is not {} hex digits", 2 * N)))?;
    Ok(bytes)
}

/// Reads an optional time of a request as Unix nanoseconds; any time
/// `i64` nanoseconds can hold is accepted (a request bounds a range, it
/// does not state a fact).
pub fn request_time(
    field: &str,
    timestamp: Option<&pbjson_types::Timestamp>,
) -> Result<Option<i64>, FieldError> {
    let Some(timestamp) = timestamp else {
        return Ok(None);
    };
    if !(0..1_000_000_000).contains(&timestamp.nanos) {
        return Err(field_error(
            field,
            format!("nanos {} is outside 0..1000000000", timestamp.nanos),
        ));
    }
    timestamp
        .seconds
        .checked_mul(1_000_000_000)
        .and_then(|nanos| nanos.checked_add(i64::from(timestamp.nanos)))
        .map(Some)
        .ok_or_else(|| {
            field_error(
                field,
                format!("{}s is too far from 1970 to compare", timestamp.seconds),
            )
        })
}

fn field_error(field: &str, reason: impl ToString) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason: reason.to_string(),
    }
}

fn missing(field: &str) -> Rejection {
    Rejection::new(RejectReason::MissingField, format!("{field}: is required"))
}

fn bad_id(field: &str, error: IdError) -> Rejection {
    Rejection::new(RejectReason::InvalidIdentifier, format!("{field}: {error}"))
}

fn checked(
    field: &str,
    value: &str,
    check: fn(&str) -> Result<(), IdError>,
) -> Result<String, Rejection> {
    if value.is_empty() {
        return Err(missing(field));
    }
    check(value).map_err(|e| bad_id(field, e))?;
    Ok(value.to_owned())
}

fn name(field: &str, value: &str) -> Result<String, Rejection> {
    checked(field, value, id::check_name)
}

fn run_id(field: &str, value: &str) -> Result<String, Rejection> {
    checked(field, value, id::check_run_id)
}

fn version(field: &str, value: &str) -> Result<String, Rejection> {
    checked(field, value, id::check_version)
}

fn optional(
    value: &str,
    parse: impl FnOnce(&str) -> Result<String, Rejection>,
) -> Result<Option<String>, Rejection> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

fn dataset_ref(field: &str, r: &v1::DatasetVersionRef) -> Result<DatasetVersionRef, Rejection> {
    Ok(DatasetVersionRef {
        dataset: name(&format!("{field}.dataset"), &r.dataset)?,
        version: version(&format!("{field}.version"), &r.version)?,
    })
}

/// Free text: any UTF-8 (protobuf and JSON decoding guarantee that) but NUL,
/// within a length bound.
fn text(field: &str, value: &str, max: usize) -> Result<String, Rejection> {
    if value.len() > max {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            format!("{field}: is {} bytes long, the limit is {max}", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            format!("{field}: contains a NUL character"),
        ));
    }
    Ok(value.to_owned())
}

fn bounded_list(field: &str, len: usize, max: usize) -> Result<(), Rejection> {
    if len > max {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            format!("{field}: has {len} items, the limit is {max}"),
        ));
    }
    Ok(())
}

fn string_map(
    field: &str,
    map: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Rejection> {
    bounded_list(field, map.len(), MAX_MAP_ENTRIES)?;
    for (key, value) in map {
        id::check_key(key).map_err(|e| bad_id(&format!("{field}[{key:?}]"), e))?;
        text(&format!("{field}[{key:?}]"), value, MAX_VALUE_LEN)?;
    }
    Ok(map.clone())
}

fn event_time(
    field: &str,
    timestamp: Option<&pbjson_types::Timestamp>,
) -> Result<EventTime, Rejection> {
    let timestamp = timestamp.ok_or_else(|| missing(field))?;
    EventTime::from_unix(timestamp.seconds, timestamp.nanos).ok_or_else(|| {
        Rejection::new(
            RejectReason::InvalidValue,
            format!(
                "{field}: {}s {}ns is outside 1970-01-01..2200-01-01",
                timestamp.seconds, timestamp.nanos
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> v1::Event {
        v1::Event {
            event_id: "e1".into(),
            workspace: "w".into(),
            occurred_at: Some(pbjson_types::Timestamp {
                seconds: 1_770_000_000,
                nanos: 0,
            }),
            producer: "test".into(),
            actor: "alice".into(),
            payload: Some(v1::event::Payload::RunFinished(v1::RunFinished {
                run_id: "r1".into(),
                status: v1::RunStatus::Completed as i32,
                error: String::new(),
            })),
        }
    }

    fn reason_of(event: v1::Event) -> RejectReason {
        validate_event(&event)
            .expect_err("should be rejected")
            .reason
    }

    #[test]
    fn accepts_a_valid_event() {
        let event = validate_event(&base()).expect("valid");
        assert_eq!(event.workspace.as_str(), "w");
    }

    #[test]
    fn names_each_reason() {
        assert_eq!(
            reason_of(v1::Event {
                event_id: String::new(),
                ..base()
            }),
            RejectReason::MissingField
        );
        assert_eq!(
            reason_of(v1::Event {
                workspace: "W!".into(),
                ..base()
            }),
            RejectReason::InvalidIdentifier
        );
        assert_eq!(
            reason_of(v1::Event {
                payload: None,
                ..base()
            }),
            RejectReason::EmptyPayload
        );
        assert_eq!(
            reason_of(v1::Event {
                occurred_at: Some(pbjson_types::Timestamp {
                    seconds: -5,
                    nanos: 0
                }),
                ..base()
            }),
            RejectReason::InvalidValue
        );
        assert_eq!(
            reason_of(v1::Event {
                payload: Some(v1::event::Payload::ModelRegistered(v1::ModelRegistered {
                    model: "m".into(),
                    version: "1".into(),
                    ..Default::default()
                })),
                ..base()
            }),
            RejectReason::ModelWithoutSourceRun
        );
        assert_eq!(
            reason_of(v1::Event {
                payload: Some(v1::event::Payload::TagsSet(v1::TagsSet {
                    entity: Some(v1::EntityRef {
                        workspace: "other".into(),
                        kind: v1::EntityKind::Run as i32,
                        name: "r1".into(),
                        version: String::new(),
                    }),
                    tags: BTreeMap::new(),
                })),
                ..base()
            }),
            RejectReason::WorkspaceMismatch
        );
    }

    #[test]
    fn detail_names_the_field() {
        let rejection = validate_event(&v1::Event {
            payload: Some(v1::event::Payload::RunStarted(v1::RunStarted {
                run_id: "r1".into(),
                environment: Some(v1::EnvironmentRef {
                    name: "sklearn".into(),
                    version: String::new(),
                }),
                ..Default::default()
            })),
            ..base()
        })
        .expect_err("missing environment version");
        assert_eq!(rejection.reason, RejectReason::MissingField);
        assert!(
            rejection.detail.contains("run_started.environment.version"),
            "{}",
            rejection.detail
        );
    }

    fn redaction(fields: &[&str], reason: &str) -> v1::Event {
        v1::Event {
            payload: Some(v1::event::Payload::RedactionRequested(
                v1::RedactionRequested {
                    entity: Some(v1::EntityRef {
                        workspace: String::new(),
                        kind: v1::EntityKind::Run as i32,
                        name: "r1".into(),
                        version: String::new(),
                    }),
                    fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                    reason: reason.into(),
                },
            )),
            ..base()
        }
    }

    #[test]
    fn accepts_a_redaction_and_folds_repeated_fields() {
        let event = validate_event(&redaction(
            &["actor", "tags.owner", "actor", "approved_by"],
            "DSR-42",
        ))
        .expect("valid");
        let Payload::RedactionRequested(requested) = &event.payload else {
            panic!("a redaction: {:?}", event.payload);
        };
        assert_eq!(
            requested.entity,
            EntityKey::run(&Workspace::parse("w").expect("valid"), "r1")
        );
        let paths: Vec<String> = requested.fields.iter().map(PersonalField::path).collect();
        assert_eq!(paths, ["actor", "approved_by", "tags.owner"]);
        assert_eq!(requested.reason, "DSR-42");
        assert_eq!(event.subject(), Some(requested.entity.clone()));
    }

    #[test]
    fn rejects_a_bad_redaction_naming_the_field_and_why() {
        let rejection = validate_event(&redaction(&["actor", "email"], "DSR-42"))
            .expect_err("email is not a personal field");
        assert_eq!(rejection.reason, RejectReason::InvalidValue);
        assert!(
            rejection.detail.contains("redaction_requested.fields[1]")
                && rejection
                    .detail
                    .contains("\"email\" is not a personal field"),
            "{}",
            rejection.detail
        );
        let rejection =
            validate_event(&redaction(&["tags."], "DSR-42")).expect_err("a tag without a key");
        assert_eq!(rejection.reason, RejectReason::InvalidValue);
        assert!(
            rejection.detail.contains("tags.<key>"),
            "{}",
            rejection.detail
        );

        let rejection = validate_event(&redaction(&[], "DSR-42")).expect_err("no fields");
        assert_eq!(rejection.reason, RejectReason::MissingField);
        assert!(rejection.detail.contains("redaction_requested.fields"));

        let rejection = validate_event(&redaction(&["actor"], "")).expect_err("no reason");
        assert_eq!(rejection.reason, RejectReason::MissingField);
        assert!(rejection.detail.contains("redaction_requested.reason"));

        let long = "x".repeat(MAX_TEXT_LEN + 1);
        assert_eq!(
            reason_of(redaction(&["actor"], &long)),
            RejectReason::InvalidValue
        );
        let many: Vec<String> = (0..=MAX_REDACTED_FIELDS)
            .map(|i| format!("tags.k{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            reason_of(redaction(&many, "DSR-42")),
            RejectReason::InvalidValue
        );

        let mut elsewhere = redaction(&["actor"], "DSR-42");
        if let Some(v1::event::Payload::RedactionRequested(p)) = &mut elsewhere.payload {
            p.entity.as_mut().expect("an entity").workspace = "other".into();
        }
        assert_eq!(reason_of(elsewhere), RejectReason::WorkspaceMismatch);
        let mut nameless = redaction(&["actor"], "DSR-42");
        if let Some(v1::event::Payload::RedactionRequested(p)) = &mut nameless.payload {
            p.entity = None;
        }
        assert_eq!(reason_of(nameless), RejectReason::MissingField);
        let mut unversioned = redaction(&["actor"], "DSR-42");
        if let Some(v1::event::Payload::RedactionRequested(p)) = &mut unversioned.payload {
            p.entity.as_mut().expect("an entity").kind = v1::EntityKind::ModelVersion as i32;
        }
        assert_eq!(reason_of(unversioned), RejectReason::MissingField);
    }

    #[test]
    fn a_logged_event_may_have_lost_its_personal_fields_to_a_redaction() {
        let flag = v1::Event {
            payload: Some(v1::event::Payload::EntityFlagged(v1::EntityFlagged {
                entity: Some(v1::EntityRef {
                    workspace: String::new(),
                    kind: v1::EntityKind::Run as i32,
                    name: "r1".into(),
                    version: String::new(),
                }),
                reason: String::new(),
                severity: v1::Severity::High as i32,
            })),
            actor: String::new(),
            ..base()
        };
        assert_eq!(reason_of(flag.clone()), RejectReason::MissingField);
        let event = validate_logged_event(&flag).expect("an erased flag still applies");
        assert!(matches!(&event.payload, Payload::EntityFlagged(f) if f.reason.is_empty()));
        // Everything else is checked as strictly.
        let mut severe = flag;
        if let Some(v1::event::Payload::EntityFlagged(f)) = &mut severe.payload {
            f.severity = v1::Severity::Unspecified as i32;
        }
        assert!(validate_logged_event(&severe).is_err());
    }

    #[test]
    fn json_and_protobuf_decode_to_the_same_content() {
        let json = br#"{"event_id":"e1","workspace":"w","occurred_at":"2026-02-02T02:40:00Z",
            "producer":"test","actor":"alice","run_finished":{"run_id":"r1","status":"COMPLETED"}}"#;
        let from_json = decode_event(json, Encoding::Json).expect("decodes");
        let from_proto =
            decode_event(&from_json.encode_to_vec(), Encoding::Protobuf).expect("decodes");
        assert_eq!(from_json, from_proto);
        assert!(decode_event(b"{not json", Encoding::Json).is_err());
        assert_eq!(
            decode_event(&[0xff, 0xff, 0xff], Encoding::Protobuf)
                .expect_err("garbage")
                .reason,
            RejectReason::Undecodable
        );
    }

    #[test]
    fn content_type_header() {
        assert_eq!(
            Encoding::from_content_type(Some("application/json; charset=utf-8")),
            Encoding::Json
        );
        assert_eq!(
            Encoding::from_content_type(Some("application/x-protobuf")),
            Encoding::Protobuf
        );
        assert_eq!(Encoding::from_content_type(None), Encoding::Protobuf);
    }
}
