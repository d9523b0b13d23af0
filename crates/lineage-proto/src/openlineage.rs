//! OpenLineage (spec 2-0-x) events translated into lineage events.
//!
//! OpenLineage is how Airflow, Spark, dbt and the `openlineage-python`
//! client already report lineage: a `RunEvent` (a job's run changed state,
//! with the datasets it read and wrote), a `DatasetEvent` (a dataset's
//! metadata) or a `JobEvent` (a job's metadata). [`translate`] maps one of
//! them onto the native model as a list of `lineage.v1.Event`s, each
//! validated by the same rules as a producer's, so what comes in through
//! OpenLineage is held to the same contract as everything else:
//!
//! | OpenLineage | lineage |
//! |---|---|
//! | `job.namespace` (over HTTP) | the workspace ([`workspace_for_namespace`]) |
//! | `job.name` | the run's experiment ([`native_name`]) |
//! | `run.runId` | the run id |
//! | `eventType` START / COMPLETE / FAIL / ABORT | `RunStarted` / `RunFinished` COMPLETED / FAILED / CANCELED (RUNNING, OTHER: no status change) |
//! | `run.facets.parent.run.runId` | the parent run (on START) |
//! | `run.facets.errorMessage.message` | the run's error (on FAIL) |
//! | `inputs[]` | the run's input dataset versions (`RunInputsDeclared`) |
//! | `outputs[]` | dataset versions produced by the run (`DatasetVersionRegistered`) |
//! | dataset `namespace`, `name` | dataset `<namespace>/<name>` ([`native_dataset_name`]) |
//! | dataset facet `version.datasetVersion` | the dataset version; without it, `c-` and 16 hex digits of the dataset's facets ([`content_version`]) |
//! | run, job and dataset facets | tags `openlineage.facet.<name>` (compact JSON) on the run, the experiment and the dataset version; experiments and dataset versions also get `openlineage.namespace` and `openlineage.name` |
//!
//! OpenLineage events carry no id. Each gets one from its content
//! ([`Translation::id`]: a hash of its workspace and its JSON with keys
//! sorted, so a retry of the same event, however its keys are ordered, gets
//! the same id) and every lineage event derived from it is named after it
//! (`<id>.<part>`), so retries, redeliveries and replicas translating the
//! same event all de-duplicate in the log.
//!
//! Pure: no IO. The server publishes what this returns.

use std::collections::BTreeMap;

use lineage_core::id;
use pbjson_types::Timestamp;
use serde_json::{Map, Value};

use crate::v1;
use crate::v1::event::Payload;
use crate::validate::validate_event;

/// Tags a translated entity carries: where it came from in OpenLineage.
pub const NAMESPACE_TAG: &str = "openlineage.namespace";
/// See [`NAMESPACE_TAG`].
pub const NAME_TAG: &str = "openlineage.name";
/// The prefix of a facet's tag: `openlineage.facet.<facet name>`.
pub const FACET_TAG_PREFIX: &str = "openlineage.facet.";
/// The prefix of every translated event's id.
pub const ID_PREFIX: &str = "ol-";
/// The prefix of a dataset version derived from the dataset's facets.
pub const CONTENT_VERSION_PREFIX: &str = "c-";

/// Facets left out of a content-derived version: they describe one run's
/// reading or writing, or change as the dataset is used, not its content's
/// identity.
const VOLATILE_DATASET_FACETS: &[&str] = &[
    "lifecycleStateChange",
    "columnLineage",
    "dataQualityMetrics",
    "dataQualityAssertions",
    "inputStatistics",
    "outputStatistics",
    "ownership",
];

/// A facet whose compact JSON is larger than this is not kept as a tag (a
/// tag value's limit); the event as received keeps it.
const MAX_FACET_TAG_BYTES: usize = crate::validate::MAX_VALUE_LEN;
/// Most input or output datasets one OpenLineage event may name.
const MAX_DATASETS: usize = crate::validate::MAX_LIST_ITEMS;

/// Why an OpenLineage event cannot be translated, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenLineageError {
    /// The bytes are not JSON.
    #[error("not JSON: {0}")]
    Json(String),
    /// A field is missing, of the wrong type or out of range.
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> OpenLineageError {
    OpenLineageError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// The three kinds of OpenLineage event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Run,
    Dataset,
    Job,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Run => "RunEvent",
            EventKind::Dataset => "DatasetEvent",
            EventKind::Job => "JobEvent",
        }
    }
}

/// One OpenLineage event, parsed enough to route and translate it.
#[derive(Debug, Clone)]
pub struct OpenLineageEvent {
    pub kind: EventKind,
    /// The namespace that names the workspace over HTTP: the job's, or the
    /// dataset's for a `DatasetEvent`.
    pub namespace: String,
    /// `eventTime`, as a protobuf timestamp.
    pub event_time: Timestamp,
    /// The whole event, for translation and for its content id.
    value: Value,
}

impl OpenLineageEvent {
    /// Parses and checks the envelope (kind, `eventTime`, the namespace);
    /// [`translate`] checks the rest.
    pub fn parse(bytes: &[u8]) -> Result<Self, OpenLineageError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|error| OpenLineageError::Json(error.to_string()))?;
        let Value::Object(object) = &value else {
            return Err(field_error("event", "must be a JSON object"));
        };
        let kind = if object.contains_key("run") {
            EventKind::Run
        } else if object.contains_key("dataset") {
            EventKind::Dataset
        } else if object.contains_key("job") {
            EventKind::Job
        } else {
            return Err(field_error(
                "event",
                "is none of RunEvent (has `run`), DatasetEvent (has `dataset`) or JobEvent (has `job`)",
            ));
        };
        let event_time = event_time(object)?;
        let namespace = match kind {
            EventKind::Run | EventKind::Job => {
                let job = object_field(object, "job", "job")?;
                string_field(job, "namespace", "job.namespace")?
            }
            EventKind::Dataset => {
                let dataset = object_field(object, "dataset", "dataset")?;
                string_field(dataset, "namespace", "dataset.namespace")?
            }
        };
        Ok(OpenLineageEvent {
            kind,
            namespace: namespace.to_owned(),
            event_time,
            value,
        })
    }

    /// The event's JSON.
    pub fn json(&self) -> &Value {
        &self.value
    }
}

/// What one OpenLineage event becomes.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The id derived from the event's workspace and content: `ol-` and 32
    /// hex digits. Translated events are `<id>.<part>`.
    pub id: String,
    pub workspace: String,
    /// In the order they are to be published.
    pub events: Vec<v1::Event>,
}

/// The workspace an OpenLineage namespace names over HTTP: lowercased,
/// every character outside `a-z 0-9 . _ -` replaced by `-`, leading
/// characters that cannot start a workspace dropped, cut to 64 bytes.
/// `food_delivery` stays itself, `Airflow Prod` becomes `airflow-prod`,
/// `postgres://db:5432` becomes `postgres---db-5432`.
pub fn workspace_for_namespace(namespace: &str) -> Result<String, OpenLineageError> {
    let normalized: String = namespace
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .take(id::MAX_WORKSPACE_LEN)
        .collect();
    if normalized.is_empty() {
        return Err(field_error(
            "namespace",
            format!("{namespace:?} has no letter or digit to name a workspace with"),
        ));
    }
    Ok(normalized)
}

/// An OpenLineage name as a lineage entity name: every character outside
/// `A-Z a-z 0-9 . _ - : / + =` becomes `_`, and a name that would start
/// with anything but a letter, digit or `_` gets a leading `_`.
pub fn native_name(field: &str, name: &str) -> Result<String, OpenLineageError> {
    let mut native: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '+' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if native.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if !native.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        native.insert(0, '_');
    }
    id::check_name(&native).map_err(|error| field_error(field, error.to_string()))?;
    Ok(native)
}

/// An OpenLineage dataset's lineage name: `<namespace>/<name>`, by
/// [`native_name`]'s rule.
pub fn native_dataset_name(namespace: &str, name: &str) -> Result<String, OpenLineageError> {
    native_name("dataset", &format!("{namespace}/{name}"))
}

/// The version of a dataset without a `version` facet: `c-` and 16 hex
/// digits of a hash of its namespace, name and facets (without the
/// [`VOLATILE_DATASET_FACETS`] and the `_producer`/`_schemaURL` of each,
/// which change with the reporting library, not the data).
pub fn content_version(namespace: &str, name: &str, facets: Option<&Map<String, Value>>) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"openlineage dataset version\0");
    hasher.update(namespace.as_bytes());
    hasher.update(b"\0");
    hasher.update(name.as_bytes());
    hasher.update(b"\0");
    if let Some(facets) = facets {
        let kept: BTreeMap<&String, Value> = facets
            .iter()
            .filter(|(facet, _)| !VOLATILE_DATASET_FACETS.contains(&facet.as_str()))
            .map(|(facet, value)| (facet, without_reporting_fields(value)))
            .collect();
        for (facet, value) in kept {
            hasher.update(facet.as_bytes());
            hasher.update(b"\0");
            hasher.update(canonical_json(&value).as_bytes());
            hasher.update(b"\0");
        }
    }
    let hash = hasher.finalize();
    format!("{CONTENT_VERSION_PREFIX}{}", &hash.to_hex()[..16])
}

fn without_reporting_fields(facet: &Value) -> Value {
    match facet {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "_producer" | "_schemaURL"))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// JSON with every object's keys sorted and no whitespace: the same text
/// for the same content, whatever order a producer wrote the keys in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let sorted: BTreeMap<&String, &Value> = object.iter().collect();
            out.push('{');
            for (index, (key, value)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The id of an OpenLineage event in `workspace`: `ol-` and 32 hex digits
/// of a hash of the workspace and the event's canonical JSON.
pub fn content_id(workspace: &str, event: &Value) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"openlineage event\0");
    hasher.update(workspace.as_bytes());
    hasher.update(b"\0");
    hasher.update(canonical_json(event).as_bytes());
    format!("{ID_PREFIX}{}", &hasher.finalize().to_hex()[..32])
}

/// Translates `event` into lineage events of `workspace`, on behalf of
/// `actor` (empty when unknown: OpenLineage names none). Every event
/// returned passes [`validate_event`]; the first that would not is the
/// error, naming the OpenLineage field it came from.
pub fn translate(
    event: &OpenLineageEvent,
    workspace: &str,
    actor: &str,
) -> Result<Translation, OpenLineageError> {
    id::Workspace::parse(workspace).map_err(|error| field_error("workspace", error.to_string()))?;
    let Value::Object(object) = &event.value else {
        return Err(field_error("event", "must be a JSON object"));
    };
    let id = content_id(workspace, &event.value);
    let producer = match object.get("producer") {
        Some(Value::String(producer)) if !producer.is_empty() => {
            truncate(producer, id::MAX_NAME_LEN)
        }
        Some(Value::String(_)) | None => "openlineage".to_owned(),
        Some(_) => return Err(field_error("producer", "must be a string")),
    };
    let mut out = Builder {
        id: id.clone(),
        workspace: workspace.to_owned(),
        occurred_at: event.event_time,
        producer,
        actor: truncate(actor, id::MAX_NAME_LEN),
        events: Vec::new(),
        sources: Vec::new(),
    };
    match event.kind {
        EventKind::Run => translate_run(object, &mut out)?,
        EventKind::Job => translate_job(object, &mut out)?,
        EventKind::Dataset => {
            let dataset = object_field(object, "dataset", "dataset")?;
            let (reference, tags) = dataset_facts(dataset, "dataset")?;
            out.tags(
                "dataset",
                dataset_entity(&reference),
                tags,
                "dataset.facets",
            );
        }
    }
    for (index, translated) in out.events.iter().enumerate() {
        validate_event(translated).map_err(|rejection| {
            field_error(
                out.sources.get(index).copied().unwrap_or("event"),
                rejection.to_string(),
            )
        })?;
    }
    Ok(Translation {
        id,
        workspace: workspace.to_owned(),
        events: out.events,
    })
}

/// Collects the translated events, each with the OpenLineage field it came
/// from (for errors).
struct Builder {
    id: String,
    workspace: String,
    occurred_at: Timestamp,
    producer: String,
    actor: String,
    events: Vec<v1::Event>,
    sources: Vec<&'static str>,
}

impl Builder {
    fn push(&mut self, part: &str, source: &'static str, payload: Payload) {
        self.events.push(v1::Event {
            event_id: format!("{}.{part}", self.id),
            workspace: self.workspace.clone(),
            occurred_at: Some(self.occurred_at),
            producer: self.producer.clone(),
            actor: self.actor.clone(),
            payload: Some(payload),
        });
        self.sources.push(source);
    }

    /// A `TagsSet` on `entity` unless there is nothing to set.
    fn tags(
        &mut self,
        part: &str,
        entity: v1::EntityRef,
        tags: BTreeMap<String, String>,
        source: &'static str,
    ) {
        if tags.is_empty() {
            return;
        }
        self.push(
            part,
            source,
            Payload::TagsSet(v1::TagsSet {
                entity: Some(entity),
                tags: tags.into_iter().collect(),
            }),
        );
    }
}

/// A dataset named by an OpenLineage event, in lineage terms.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DatasetReference {
    dataset: String,
    version: String,
    /// `<namespace>/<name>` as given (the URI of an output).
    uri: String,
}

fn dataset_entity(reference: &DatasetReference) -> v1::EntityRef {
    v1::EntityRef {
        workspace: String::new(),
        kind: v1::EntityKind::DatasetVersion as i32,
        name: reference.dataset.clone(),
        version: reference.version.clone(),
    }
}

fn translate_run(object: &Map<String, Value>, out: &mut Builder) -> Result<(), OpenLineageError> {
    let run = object_field(object, "run", "run")?;
    let run_id = string_field(run, "runId", "run.runId")?;
    id::check_run_id(run_id).map_err(|error| field_error("run.runId", error.to_string()))?;
    let job = object_field(object, "job", "job")?;
    let job_namespace = string_field(job, "namespace", "job.namespace")?;
    let job_name = string_field(job, "name", "job.name")?;
    let experiment = native_name("job.name", job_name)?;
    let run_facets = optional_object(run, "facets", "run.facets")?;
    let event_type = match object.get("eventType") {
        None | Some(Value::Null) => "OTHER",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(field_error("eventType", "must be a string")),
    };
    let run_tags = facet_tags(run_facets);
    match event_type {
        "START" => {
            let parent_run_id = match run_facets.and_then(|facets| facets.get("parent")) {
                Some(parent) => parent
                    .pointer("/run/runId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| field_error("run.facets.parent", "has no run.runId string"))?
                    .to_owned(),
                None => String::new(),
            };
            out.push(
                "start",
                "run",
                Payload::RunStarted(v1::RunStarted {
                    run_id: run_id.to_owned(),
                    experiment: experiment.clone(),
                    name: truncate(job_name, id::MAX_NAME_LEN),
                    parent_run_id,
                    tags: run_tags.into_iter().collect(),
                    ..Default::default()
                }),
            );
        }
        "COMPLETE" | "FAIL" | "ABORT" => {
            let (status, error) = match event_type {
                "COMPLETE" => (v1::RunStatus::Completed, String::new()),
                "FAIL" => {
                    let message = run_facets
                        .and_then(|facets| facets.get("errorMessage"))
                        .and_then(|facet| facet.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("the run failed (no errorMessage facet)");
                    (
                        v1::RunStatus::Failed,
                        truncate(message, crate::validate::MAX_TEXT_LEN),
                    )
                }
                _ => (v1::RunStatus::Canceled, String::new()),
            };
            out.push(
                "finish",
                "eventType",
                Payload::RunFinished(v1::RunFinished {
                    run_id: run_id.to_owned(),
                    status: status as i32,
                    error,
                }),
            );
            out.tags("run-facets", run_entity(run_id), run_tags, "run.facets");
        }
        "RUNNING" | "OTHER" => {
            out.tags("run-facets", run_entity(run_id), run_tags, "run.facets");
        }
        other => {
            return Err(field_error(
                "eventType",
                format!("{other:?} is none of START, RUNNING, COMPLETE, FAIL, ABORT, OTHER"),
            ));
        }
    }
    let job_facets = optional_object(job, "facets", "job.facets")?;
    out.tags(
        "job",
        experiment_entity(&experiment),
        origin_tags(job_namespace, job_name, job_facets),
        "job",
    );
    let inputs = datasets(object, "inputs")?;
    if !inputs.is_empty() {
        let mut declared = Vec::with_capacity(inputs.len());
        for (index, (reference, tags)) in inputs.into_iter().enumerate() {
            out.tags(
                &format!("in.{index}"),
                dataset_entity(&reference),
                tags,
                "inputs",
            );
            declared.push(v1::DatasetVersionRef {
                dataset: reference.dataset,
                version: reference.version,
            });
        }
        out.push(
            "inputs",
            "inputs",
            Payload::RunInputsDeclared(v1::RunInputsDeclared {
                run_id: run_id.to_owned(),
                datasets: declared,
                ..Default::default()
            }),
        );
    }
    for (index, (reference, tags)) in datasets(object, "outputs")?.into_iter().enumerate() {
        out.push(
            &format!("out.{index}"),
            "outputs",
            Payload::DatasetVersionRegistered(v1::DatasetVersionRegistered {
                dataset: reference.dataset.clone(),
                version: reference.version.clone(),
                uri: truncate(&reference.uri, crate::validate::MAX_TEXT_LEN),
                produced_by_run_id: run_id.to_owned(),
                ..Default::default()
            }),
        );
        out.tags(
            &format!("out.{index}.facets"),
            dataset_entity(&reference),
            tags,
            "outputs",
        );
    }
    Ok(())
}

fn translate_job(object: &Map<String, Value>, out: &mut Builder) -> Result<(), OpenLineageError> {
    let job = object_field(object, "job", "job")?;
    let job_namespace = string_field(job, "namespace", "job.namespace")?;
    let job_name = string_field(job, "name", "job.name")?;
    let experiment = native_name("job.name", job_name)?;
    let job_facets = optional_object(job, "facets", "job.facets")?;
    out.tags(
        "job",
        experiment_entity(&experiment),
        origin_tags(job_namespace, job_name, job_facets),
        "job",
    );
    // Without a run, the job's datasets have no edge to draw; their facets
    // are still kept.
    for side in ["inputs", "outputs"] {
        for (index, (reference, tags)) in datasets(object, side)?.into_iter().enumerate() {
            out.tags(
                &format!("{side}.{index}"),
                dataset_entity(&reference),
                tags,
                if side == "inputs" {
                    "inputs"
                } else {
                    "outputs"
                },
            );
        }
    }
    Ok(())
}

fn run_entity(run_id: &str) -> v1::EntityRef {
    v1::EntityRef {
        workspace: String::new(),
        kind: v1::EntityKind::Run as i32,
        name: run_id.to_owned(),
        version: String::new(),
    }
}

fn experiment_entity(experiment: &str) -> v1::EntityRef {
    v1::EntityRef {
        workspace: String::new(),
        kind: v1::EntityKind::Experiment as i32,
        name: experiment.to_owned(),
        version: String::new(),
    }
}

/// A dataset named by an event, with the tags its entity gets.
type TaggedDataset = (DatasetReference, BTreeMap<String, String>);

/// The datasets of `inputs` or `outputs`, each with its tags.
fn datasets(
    object: &Map<String, Value>,
    side: &'static str,
) -> Result<Vec<TaggedDataset>, OpenLineageError> {
    let items = match object.get(side) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(field_error(side, "must be an array")),
    };
    if items.len() > MAX_DATASETS {
        return Err(field_error(
            side,
            format!(
                "names {} datasets, the limit is {MAX_DATASETS}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let field = format!("{side}[{index}]");
            let Value::Object(dataset) = item else {
                return Err(field_error(field, "must be an object"));
            };
            dataset_facts(dataset, &field)
        })
        .collect()
}

/// A dataset object's lineage name, version and tags.
fn dataset_facts(
    dataset: &Map<String, Value>,
    field: &str,
) -> Result<TaggedDataset, OpenLineageError> {
    let namespace = string_field(dataset, "namespace", &format!("{field}.namespace"))?;
    let name = string_field(dataset, "name", &format!("{field}.name"))?;
    let native = native_dataset_name(namespace, name)
        .map_err(|error| field_error(format!("{field}.name"), error.to_string()))?;
    let facets = optional_object(dataset, "facets", &format!("{field}.facets"))?;
    let version = match facets
        .and_then(|facets| facets.get("version"))
        .and_then(|facet| facet.get("datasetVersion"))
    {
        Some(Value::String(version)) if !version.is_empty() => {
            id::check_version(version).map_err(|error| {
                field_error(
                    format!("{field}.facets.version.datasetVersion"),
                    error.to_string(),
                )
            })?;
            version.clone()
        }
        Some(Value::Number(version)) => version.to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            content_version(namespace, name, facets)
        }
        Some(_) => {
            return Err(field_error(
                format!("{field}.facets.version.datasetVersion"),
                "must be a string",
            ));
        }
    };
    let reference = DatasetReference {
        dataset: native,
        version,
        uri: format!("{namespace}/{name}"),
    };
    Ok((reference, origin_tags(namespace, name, facets)))
}

/// `openlineage.namespace`, `openlineage.name` and the facets' tags.
fn origin_tags(
    namespace: &str,
    name: &str,
    facets: Option<&Map<String, Value>>,
) -> BTreeMap<String, String> {
    let mut tags = facet_tags(facets);
    tags.insert(
        NAMESPACE_TAG.to_owned(),
        truncate(namespace, crate::validate::MAX_VALUE_LEN),
    );
    tags.insert(
        NAME_TAG.to_owned(),
        truncate(name, crate::validate::MAX_VALUE_LEN),
    );
    tags
}

/// Each facet as `openlineage.facet.<name>` = its compact JSON; facets
/// over a tag's size limit, or whose name cannot be a tag key, are left to
/// the event as received.
fn facet_tags(facets: Option<&Map<String, Value>>) -> BTreeMap<String, String> {
    let Some(facets) = facets else {
        return BTreeMap::new();
    };
    facets
        .iter()
        .filter_map(|(facet, value)| {
            let key = format!("{FACET_TAG_PREFIX}{facet}");
            id::check_key(&key).ok()?;
            let json = canonical_json(value);
            (json.len() <= MAX_FACET_TAG_BYTES).then_some((key, json))
        })
        .collect()
}

fn event_time(object: &Map<String, Value>) -> Result<Timestamp, OpenLineageError> {
    let text = string_field(object, "eventTime", "eventTime")?;
    parse_time(text).map_err(|error| field_error("eventTime", error))
}

/// An RFC 3339 time (`2026-03-01T10:00:00.123+02:00`), as OpenLineage and
/// Marquez write them.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    serde_json::from_value::<Timestamp>(Value::String(text.to_owned()))
        .map_err(|error| format!("{text:?} is not an RFC 3339 time: {error}"))
}

fn object_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a Map<String, Value>, OpenLineageError> {
    match object.get(key) {
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(field_error(field, "must be an object")),
        None => Err(field_error(field, "is required")),
    }
}

fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, OpenLineageError> {
    match object.get(key) {
        Some(Value::Object(inner)) => Ok(Some(inner)),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(field_error(field, "must be an object")),
    }
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a str, OpenLineageError> {
    match object.get(key) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(Value::String(_)) => Err(field_error(field, "must not be empty")),
        Some(_) => Err(field_error(field, "must be a string")),
        None => Err(field_error(field, "is required")),
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_event(event_type: &str, run_id: &str) -> Value {
        serde_json::json!({
            "eventType": event_type,
            "eventTime": "2026-03-01T10:00:00.123+02:00",
            "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id, "facets": {
                "parent": {"run": {"runId": "parent-run"}, "job": {"namespace": "food_delivery", "name": "dag"}},
                "errorMessage": {"message": "division by zero", "programmingLanguage": "python"}
            }},
            "job": {"namespace": "food_delivery", "name": "etl orders", "facets": {
                "documentation": {"description": "daily orders"}
            }},
            "inputs": [{"namespace": "postgres://db:5432", "name": "public.orders", "facets": {
                "version": {"datasetVersion": "42"},
                "schema": {"fields": [{"name": "id", "type": "int"}]}
            }}],
            "outputs": [{"namespace": "food_delivery", "name": "orders_daily", "facets": {
                "schema": {"_producer": "x/1.0", "fields": [{"name": "day", "type": "date"}]}
            }}]
        })
    }

    fn translate_value(value: &Value, workspace: &str) -> Result<Translation, OpenLineageError> {
        let bytes = serde_json::to_vec(value).expect("serializes");
        translate(&OpenLineageEvent::parse(&bytes)?, workspace, "")
    }

    fn payloads(translation: &Translation) -> Vec<&Payload> {
        translation
            .events
            .iter()
            .filter_map(|event| event.payload.as_ref())
            .collect()
    }

    #[test]
    fn a_start_becomes_a_run_with_its_job_parent_inputs_and_outputs() {
        let translation =
            translate_value(&run_event("START", "r-1"), "food_delivery").expect("valid");
        assert!(translation.id.starts_with("ol-") && translation.id.len() == 35);
        let payloads = payloads(&translation);
        let Payload::RunStarted(started) = payloads[0] else {
            panic!("first is the start: {payloads:?}");
        };
        assert_eq!(started.run_id, "r-1");
        assert_eq!(started.experiment, "etl_orders");
        assert_eq!(started.parent_run_id, "parent-run");
        assert!(started.tags.contains_key("openlineage.facet.errorMessage"));
        let inputs = payloads
            .iter()
            .find_map(|p| match p {
                Payload::RunInputsDeclared(declared) => Some(declared),
                _ => None,
            })
            .expect("inputs declared");
        assert_eq!(
            inputs.datasets[0].dataset,
            "postgres://db:5432/public.orders"
        );
        assert_eq!(inputs.datasets[0].version, "42");
        let output = payloads
            .iter()
            .find_map(|p| match p {
                Payload::DatasetVersionRegistered(registered) => Some(registered),
                _ => None,
            })
            .expect("output registered");
        assert_eq!(output.dataset, "food_delivery/orders_daily");
        assert!(output.version.starts_with("c-") && output.version.len() == 18);
        assert_eq!(output.produced_by_run_id, "r-1");
        let experiment_tags = payloads
            .iter()
            .find_map(|p| match p {
                Payload::TagsSet(set)
                    if set.entity.as_ref().map(|e| e.kind)
                        == Some(v1::EntityKind::Experiment as i32) =>
                {
                    Some(&set.tags)
                }
                _ => None,
            })
            .expect("job tags");
        assert_eq!(experiment_tags[NAMESPACE_TAG], "food_delivery");
        assert_eq!(experiment_tags[NAME_TAG], "etl orders");
        assert_eq!(
            experiment_tags["openlineage.facet.documentation"],
            r#"{"description":"daily orders"}"#
        );
        for event in &translation.events {
            assert!(event.event_id.starts_with(&format!("{}.", translation.id)));
            assert_eq!(event.workspace, "food_delivery");
            assert_eq!(event.occurred_at.expect("time").seconds, 1_772_352_000);
        }
    }

    #[test]
    fn finishing_states_map_onto_run_statuses() {
        for (kind, status, error) in [
            ("COMPLETE", v1::RunStatus::Completed, ""),
            ("FAIL", v1::RunStatus::Failed, "division by zero"),
            ("ABORT", v1::RunStatus::Canceled, ""),
        ] {
            let translation =
                translate_value(&run_event(kind, "r-2"), "food_delivery").expect(kind);
            let finished = payloads(&translation)
                .into_iter()
                .find_map(|p| match p {
                    Payload::RunFinished(finished) => Some(finished.clone()),
                    _ => None,
                })
                .expect("finished");
            assert_eq!(
                (finished.status, finished.error.as_str()),
                (status as i32, error),
                "{kind}"
            );
        }
        let running =
            translate_value(&run_event("RUNNING", "r-2"), "food_delivery").expect("running");
        assert!(
            payloads(&running)
                .iter()
                .all(|p| !matches!(p, Payload::RunStarted(_) | Payload::RunFinished(_)))
        );
    }

    #[test]
    fn the_same_event_gets_the_same_ids_whatever_its_key_order() {
        let event = run_event("COMPLETE", "r-3");
        let once = translate_value(&event, "ws").expect("valid");
        // Reordered keys: serialize by hand with the top-level keys reversed.
        let Value::Object(object) = &event else {
            unreachable!()
        };
        let reversed: Vec<String> = object
            .iter()
            .rev()
            .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
            .collect();
        let bytes = format!("{{{}}}", reversed.join(","));
        let again = translate(
            &OpenLineageEvent::parse(bytes.as_bytes()).expect("parses"),
            "ws",
            "",
        )
        .expect("valid");
        assert_eq!(once.id, again.id);
        assert_eq!(once.events, again.events);
        let elsewhere = translate_value(&event, "other-ws").expect("valid");
        assert_ne!(once.id, elsewhere.id, "ids are per workspace");
        let mut changed = event.clone();
        changed["eventTime"] = Value::String("2026-03-01T10:00:01Z".into());
        assert_ne!(once.id, translate_value(&changed, "ws").expect("valid").id);
    }

    #[test]
    fn content_versions_ignore_reporting_fields_and_volatile_facets() {
        let facets = |producer: &str, extra: bool| {
            let mut facets =
                serde_json::json!({"schema": {"_producer": producer, "fields": [{"name": "a"}]}});
            if extra {
                facets["lifecycleStateChange"] =
                    serde_json::json!({"lifecycleStateChange": "OVERWRITE"});
            }
            facets
        };
        let version = |value: Value| content_version("ns", "t", value.as_object());
        assert_eq!(
            version(facets("lib/1", false)),
            version(facets("lib/2", true))
        );
        assert_ne!(
            version(facets("lib/1", false)),
            version(serde_json::json!({"schema": {"fields": [{"name": "b"}]}}))
        );
        assert_ne!(
            content_version("ns", "t", None),
            content_version("ns", "u", None)
        );
    }

    #[test]
    fn namespaces_become_workspaces_and_names_become_entity_names() {
        assert_eq!(
            workspace_for_namespace("food_delivery").expect("ok"),
            "food_delivery"
        );
        assert_eq!(
            workspace_for_namespace("Airflow Prod").expect("ok"),
            "airflow-prod"
        );
        assert_eq!(
            workspace_for_namespace("postgres://db:5432").expect("ok"),
            "postgres---db-5432"
        );
        assert_eq!(workspace_for_namespace("__x").expect("ok"), "x");
        assert_eq!(
            workspace_for_namespace(&"a".repeat(100)).expect("ok").len(),
            64
        );
        assert!(workspace_for_namespace("!!!").is_err());
        assert_eq!(
            native_name("f", "my dag.task 1").expect("ok"),
            "my_dag.task_1"
        );
        assert_eq!(native_name("f", "-x").expect("ok"), "_-x");
        assert_eq!(
            native_dataset_name("s3://bucket", "path/file.csv").expect("ok"),
            "s3://bucket/path/file.csv"
        );
        assert!(native_dataset_name("ns", &"n".repeat(300)).is_err());
    }

    #[test]
    fn bad_events_are_refused_naming_the_field() {
        let refused = |value: Value| match translate_value(&value, "ws") {
            Ok(_) => panic!("accepted {value}"),
            Err(error) => error.to_string(),
        };
        let not_json = OpenLineageEvent::parse(b"{not json").expect_err("not JSON");
        assert!(not_json.to_string().starts_with("not JSON"), "{not_json}");
        assert!(refused(serde_json::json!([1])).contains("event"));
        assert!(
            refused(serde_json::json!({"eventTime": "2026-01-01T00:00:00Z"}))
                .contains("none of RunEvent")
        );
        let mut event = run_event("START", "r");
        event["eventTime"] = Value::String("yesterday".into());
        assert!(refused(event).starts_with("eventTime:"));
        let mut event = run_event("START", "r");
        event["run"]["runId"] = Value::String("a/b".into());
        assert!(refused(event).starts_with("run.runId:"));
        let mut event = run_event("START", "r");
        event["eventType"] = Value::String("EXPLODED".into());
        assert!(refused(event).contains("EXPLODED"));
        let mut event = run_event("START", "r");
        event["inputs"] = serde_json::json!([{"namespace": "n"}]);
        assert_eq!(refused(event), "inputs[0].name: is required");
        let mut event = run_event("START", "r");
        event["inputs"][0]["facets"]["version"]["datasetVersion"] = Value::String("v 1".into());
        assert!(refused(event).starts_with("inputs[0].facets.version.datasetVersion:"));
        let mut event = run_event("START", "r");
        event["job"]["name"] = Value::String(String::new());
        assert!(refused(event).starts_with("job.name:"));
    }

    #[test]
    fn dataset_and_job_events_keep_their_facets() {
        let dataset = serde_json::json!({
            "eventTime": "2026-03-01T10:00:00Z",
            "producer": "p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
            "dataset": {"namespace": "warehouse", "name": "orders", "facets": {"version": {"datasetVersion": "7"}}}
        });
        let translation = translate_value(&dataset, "ws").expect("valid");
        let [Payload::TagsSet(set)] = payloads(&translation)[..] else {
            panic!("one tags event: {translation:?}");
        };
        let entity = set.entity.as_ref().expect("entity");
        assert_eq!(
            (entity.name.as_str(), entity.version.as_str()),
            ("warehouse/orders", "7")
        );
        let job = serde_json::json!({
            "eventTime": "2026-03-01T10:00:00Z",
            "producer": "p",
            "job": {"namespace": "ns", "name": "load", "facets": {"sql": {"query": "select 1"}}},
            "inputs": [{"namespace": "warehouse", "name": "orders"}]
        });
        let translation = translate_value(&job, "ws").expect("valid");
        assert_eq!(payloads(&translation).len(), 2);
    }
}
