//! Validated events: the past-tense facts the projection folds into the graph.
//!
//! Values of these types only exist after validation (in `lineage-proto`,
//! where wire input becomes domain input), so applying one cannot fail.
//! References inside a payload name entities of the event's own workspace.
//!
//! Each event has one subject ([`Event::subject`]): the entity whose
//! personal fields (`crate::redaction::PersonalField`) it states, which a
//! `RedactionRequested` about that entity erases ([`Event::erased`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::id::{EntityKey, Workspace};
use crate::redaction::PersonalField;

/// Event time: nanoseconds since the Unix epoch, as the producer stated it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EventTime(i64);

impl EventTime {
    /// The earliest accepted event time: 1970-01-01T00:00:00Z.
    pub const MIN: EventTime = EventTime(0);
    /// The latest accepted event time: 2200-01-01T00:00:00Z. Later times are
    /// producer bugs, not facts.
    pub const MAX: EventTime = EventTime(7_258_118_400 * 1_000_000_000);

    /// Converts seconds and nanoseconds, or `None` when outside MIN..=MAX.
    pub fn from_unix(seconds: i64, nanos: i32) -> Option<Self> {
        if !(0..1_000_000_000).contains(&nanos) {
            return None;
        }
        let total = seconds
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(nanos))?;
        let time = EventTime(total);
        (EventTime::MIN..=EventTime::MAX)
            .contains(&time)
            .then_some(time)
    }

    pub fn from_unix_nanos(nanos: i64) -> Self {
        EventTime(nanos)
    }

    pub fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Seconds and sub-second nanoseconds, as protobuf timestamps want them.
    pub fn to_unix(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as i32;
        (seconds, nanos)
    }
}

/// RFC 3339 in UTC (`2026-07-06T08:00:00Z`, with a fraction only when the
/// time has one): how answers that explain themselves in words state a
/// time.
impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seconds, nanos) = self.to_unix();
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let second_of_day = seconds.rem_euclid(86_400);
        let (hour, minute, second) = (
            second_of_day / 3600,
            (second_of_day % 3600) / 60,
            second_of_day % 60,
        );
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
        )?;
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// Year, month, day of a day count since 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A producer-assigned event id, unique within a workspace.
///
/// Shared rather than copied: every fact an event states carries its stamp,
/// and one event may state hundreds (a metrics batch).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EventId(Arc<str>);

impl EventId {
    /// Wraps an id that `crate::id::check_event_id` accepted.
    pub fn new_unchecked(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

/// Orders facts about the same thing: event time first, then event id, so
/// that every replay agrees on a winner whatever the arrival order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Stamp {
    pub occurred_at: EventTime,
    pub event_id: EventId,
}

/// One validated event.
#[derive(Clone, PartialEq, Debug)]
pub struct Event {
    pub id: EventId,
    pub workspace: Workspace,
    pub occurred_at: EventTime,
    pub producer: String,
    pub actor: String,
    pub payload: Payload,
}

impl Event {
    pub fn stamp(&self) -> Stamp {
        Stamp {
            occurred_at: self.occurred_at,
            event_id: self.id.clone(),
        }
    }
}

/// The fact an event states.
#[derive(Clone, PartialEq, Debug)]
pub enum Payload {
    ExperimentCreated(ExperimentCreated),
    RunStarted(RunStarted),
    RunFinished(RunFinished),
    ParamsLogged(ParamsLogged),
    MetricsLogged(MetricsLogged),
    TagsSet(TagsSet),
    DatasetVersionRegistered(DatasetVersionRegistered),
    RunInputsDeclared(RunInputsDeclared),
    ArtifactLogged(ArtifactLogged),
    ModelRegistered(ModelRegistered),
    ModelStageChanged(ModelStageChanged),
    ModelDeployed(ModelDeployed),
    EntityFlagged(EntityFlagged),
    RedactionRequested(RedactionRequested),
    PromotionCriteriaSet(PromotionCriteriaSet),
}

impl Event {
    /// Every entity the event names: its subject and each reference in its
    /// payload, in the event's workspace. What a replay filtered by entity
    /// matches.
    pub fn mentions(&self) -> Vec<EntityKey> {
        let ws = &self.workspace;
        let run = |run_id: &str| EntityKey::run(ws, run_id);
        let dataset =
            |d: &DatasetVersionRef| EntityKey::dataset_version(ws, &d.dataset, &d.version);
        match &self.payload {
            Payload::ExperimentCreated(created) => {
                vec![EntityKey::experiment(ws, &created.experiment)]
            }
            Payload::RunStarted(started) => {
                let mut keys = vec![run(&started.run_id)];
                keys.extend(
                    started
                        .experiment
                        .iter()
                        .map(|e| EntityKey::experiment(ws, e)),
                );
                keys.extend(started.parent_run_id.iter().map(|p| run(p)));
                keys.extend(
                    started
                        .environment
                        .iter()
                        .map(|e| EntityKey::environment(ws, &e.name, &e.version)),
                );
                keys.extend(
                    started
                        .compute_target
                        .iter()
                        .map(|c| EntityKey::compute(ws, c)),
                );
                keys
            }
            Payload::RunFinished(RunFinished { run_id, .. })
            | Payload::ParamsLogged(ParamsLogged { run_id, .. })
            | Payload::MetricsLogged(MetricsLogged { run_id, .. }) => vec![run(run_id)],
            Payload::TagsSet(TagsSet { entity, .. })
            | Payload::EntityFlagged(EntityFlagged { entity, .. })
            | Payload::RedactionRequested(RedactionRequested { entity, .. }) => {
                vec![entity.clone()]
            }
            Payload::DatasetVersionRegistered(registered) => {
                let mut keys = vec![EntityKey::dataset_version(
                    ws,
                    &registered.dataset,
                    &registered.version,
                )];
                keys.extend(registered.derived_from.iter().map(dataset));
                keys.extend(registered.produced_by_run_id.iter().map(|r| run(r)));
                keys
            }
            Payload::RunInputsDeclared(declared) => {
                let mut keys = vec![run(&declared.run_id)];
                keys.extend(declared.datasets.iter().map(dataset));
                keys.extend(
                    declared
                        .artifacts
                        .iter()
                        .map(|a| EntityKey::artifact(ws, &a.run_id, &a.name)),
                );
                keys.extend(
                    declared
                        .models
                        .iter()
                        .map(|m| EntityKey::model_version(ws, &m.model, &m.version)),
                );
                keys
            }
            Payload::ArtifactLogged(logged) => vec![
                run(&logged.run_id),
                EntityKey::artifact(ws, &logged.run_id, &logged.name),
            ],
            Payload::ModelRegistered(registered) => {
                let mut keys = vec![
                    EntityKey::model_version(ws, &registered.model, &registered.version),
                    run(&registered.source_run_id),
                ];
                keys.extend(
                    registered
                        .artifact_name
                        .iter()
                        .map(|name| EntityKey::artifact(ws, &registered.source_run_id, name)),
                );
                keys
            }
            Payload::ModelStageChanged(changed) => vec![EntityKey::model_version(
                ws,
                &changed.model,
                &changed.version,
            )],
            Payload::ModelDeployed(deployed) => vec![
                EntityKey::model_version(ws, &deployed.model, &deployed.version),
                EntityKey::endpoint(ws, &deployed.endpoint),
            ],
            // A model is not an entity of the graph: its versions are.
            Payload::PromotionCriteriaSet(_) => Vec::new(),
        }
    }

    /// The one entity the event is about: the node whose facts hold the
    /// event's personal fields, and so the entity a redaction must name to
    /// erase them. For `ModelDeployed` it is the endpoint: the deployment is
    /// a fact of the endpoint (the graph keeps it there), the model version
    /// only a reference. `None` for criteria, which are about a model, not
    /// an entity of the graph (their actor cannot be erased by entity).
    pub fn subject(&self) -> Option<EntityKey> {
        let ws = &self.workspace;
        Some(match &self.payload {
            Payload::ExperimentCreated(created) => EntityKey::experiment(ws, &created.experiment),
            Payload::RunStarted(RunStarted { run_id, .. })
            | Payload::RunFinished(RunFinished { run_id, .. })
            | Payload::ParamsLogged(ParamsLogged { run_id, .. })
            | Payload::MetricsLogged(MetricsLogged { run_id, .. })
            | Payload::RunInputsDeclared(RunInputsDeclared { run_id, .. }) => {
                EntityKey::run(ws, run_id)
            }
            Payload::TagsSet(TagsSet { entity, .. })
            | Payload::EntityFlagged(EntityFlagged { entity, .. })
            | Payload::RedactionRequested(RedactionRequested { entity, .. }) => entity.clone(),
            Payload::DatasetVersionRegistered(registered) => {
                EntityKey::dataset_version(ws, &registered.dataset, &registered.version)
            }
            Payload::ArtifactLogged(logged) => {
                EntityKey::artifact(ws, &logged.run_id, &logged.name)
            }
            Payload::ModelRegistered(ModelRegistered { model, version, .. })
            | Payload::ModelStageChanged(ModelStageChanged { model, version, .. }) => {
                EntityKey::model_version(ws, model, version)
            }
            Payload::ModelDeployed(deployed) => EntityKey::endpoint(ws, &deployed.endpoint),
            Payload::PromotionCriteriaSet(_) => return None,
        })
    }

    /// A copy with the value of each of `fields` the event has set to "":
    /// what the log keeps of the event once a redaction of its subject
    /// erased them. A tag keeps its key. Fields the event's type does not
    /// have are ignored; so is everything that is not a personal field.
    pub fn erased(&self, fields: &BTreeSet<PersonalField>) -> Event {
        let mut event = self.clone();
        for field in fields {
            match (field, &mut event.payload) {
                (PersonalField::Actor, _) => event.actor.clear(),
                (PersonalField::ApprovedBy, Payload::ModelRegistered(registered)) => {
                    registered.approved_by.clear()
                }
                (PersonalField::ApprovedBy, Payload::ModelStageChanged(changed)) => {
                    changed.approved_by.clear()
                }
                (PersonalField::ApprovalNotes, Payload::ModelRegistered(registered)) => {
                    registered.approval_notes.clear()
                }
                (PersonalField::Reason, Payload::ModelStageChanged(changed)) => {
                    changed.reason.clear()
                }
                (PersonalField::Reason, Payload::EntityFlagged(flagged)) => flagged.reason.clear(),
                (PersonalField::Error, Payload::RunFinished(finished)) => finished.error.clear(),
                (PersonalField::Description, Payload::ExperimentCreated(created)) => {
                    created.description.clear()
                }
                (
                    PersonalField::Tag(key),
                    Payload::ExperimentCreated(ExperimentCreated { tags, .. }),
                )
                | (PersonalField::Tag(key), Payload::RunStarted(RunStarted { tags, .. }))
                | (PersonalField::Tag(key), Payload::TagsSet(TagsSet { tags, .. })) => {
                    if let Some(value) = tags.get_mut(key) {
                        value.clear();
                    }
                }
                _ => {}
            }
        }
        event
    }
}

/// The kind of fact an event states, without the fact: what replays filter by.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PayloadKind {
    ExperimentCreated,
    RunStarted,
    RunFinished,
    ParamsLogged,
    MetricsLogged,
    TagsSet,
    DatasetVersionRegistered,
    RunInputsDeclared,
    ArtifactLogged,
    ModelRegistered,
    ModelStageChanged,
    ModelDeployed,
    EntityFlagged,
    RedactionRequested,
    PromotionCriteriaSet,
}

impl Payload {
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::ExperimentCreated(_) => PayloadKind::ExperimentCreated,
            Payload::RunStarted(_) => PayloadKind::RunStarted,
            Payload::RunFinished(_) => PayloadKind::RunFinished,
            Payload::ParamsLogged(_) => PayloadKind::ParamsLogged,
            Payload::MetricsLogged(_) => PayloadKind::MetricsLogged,
            Payload::TagsSet(_) => PayloadKind::TagsSet,
            Payload::DatasetVersionRegistered(_) => PayloadKind::DatasetVersionRegistered,
            Payload::RunInputsDeclared(_) => PayloadKind::RunInputsDeclared,
            Payload::ArtifactLogged(_) => PayloadKind::ArtifactLogged,
            Payload::ModelRegistered(_) => PayloadKind::ModelRegistered,
            Payload::ModelStageChanged(_) => PayloadKind::ModelStageChanged,
            Payload::ModelDeployed(_) => PayloadKind::ModelDeployed,
            Payload::EntityFlagged(_) => PayloadKind::EntityFlagged,
            Payload::RedactionRequested(_) => PayloadKind::RedactionRequested,
            Payload::PromotionCriteriaSet(_) => PayloadKind::PromotionCriteriaSet,
        }
    }
}

pub type StringMap = BTreeMap<String, String>;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExperimentCreated {
    pub experiment: String,
    pub description: String,
    pub tags: StringMap,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EnvironmentRef {
    pub name: String,
    pub version: String,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DatasetVersionRef {
    pub dataset: String,
    pub version: String,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ArtifactRef {
    pub run_id: String,
    pub name: String,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ModelVersionRef {
    pub model: String,
    pub version: String,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunStarted {
    pub run_id: String,
    pub experiment: Option<String>,
    pub name: String,
    pub parent_run_id: Option<String>,
    pub code_version: String,
    pub environment: Option<EnvironmentRef>,
    pub compute_target: Option<String>,
    pub params: StringMap,
    pub tags: StringMap,
}

/// Where a run is in its life. Terminal states always outrank `Started`, so
/// a late-arriving start never reopens a finished run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RunStatus {
    Started,
    Completed,
    Failed,
    Canceled,
}

impl RunStatus {
    /// The wire enum's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Started => "STARTED",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Canceled => "CANCELED",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunFinished {
    pub run_id: String,
    /// Completed, Failed or Canceled; validation rejects Started.
    pub status: RunStatus,
    pub error: String,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParamsLogged {
    pub run_id: String,
    pub params: StringMap,
}

#[derive(Clone, PartialEq, Debug)]
pub struct MetricPoint {
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: EventTime,
}

#[derive(Clone, PartialEq, Debug)]
pub struct MetricsLogged {
    pub run_id: String,
    pub metrics: Vec<MetricPoint>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TagsSet {
    pub entity: EntityKey,
    pub tags: StringMap,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DatasetVersionRegistered {
    pub dataset: String,
    pub version: String,
    pub uri: String,
    pub digest: String,
    pub derived_from: Vec<DatasetVersionRef>,
    pub produced_by_run_id: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunInputsDeclared {
    pub run_id: String,
    pub datasets: Vec<DatasetVersionRef>,
    pub artifacts: Vec<ArtifactRef>,
    pub models: Vec<ModelVersionRef>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ArtifactLogged {
    pub run_id: String,
    pub name: String,
    pub uri: String,
    pub digest: String,
    pub kind: String,
    pub size_bytes: u64,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModelRegistered {
    pub model: String,
    pub version: String,
    /// Always present: a registration without a source run is rejected
    /// before it reaches the log.
    pub source_run_id: String,
    pub artifact_name: Option<String>,
    pub approval_notes: String,
    pub approved_by: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ModelStage {
    Staging,
    Production,
    Archived,
}

impl ModelStage {
    /// The wire enum's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStage::Staging => "STAGING",
            ModelStage::Production => "PRODUCTION",
            ModelStage::Archived => "ARCHIVED",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModelStageChanged {
    pub model: String,
    pub version: String,
    pub stage: ModelStage,
    pub reason: String,
    pub approved_by: String,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModelDeployed {
    pub model: String,
    pub version: String,
    pub endpoint: String,
    pub deployment: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The wire enum's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EntityFlagged {
    pub entity: EntityKey,
    pub reason: String,
    pub severity: Severity,
}

/// Personal data to erase from every earlier event whose subject is
/// `entity`, keeping the lineage those events state.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RedactionRequested {
    pub entity: EntityKey,
    /// At least one; validation folds duplicates.
    pub fields: BTreeSet<PersonalField>,
    /// Why, for the audit trail; never empty.
    pub reason: String,
}

/// The criteria every production version of `model` must meet, replacing
/// the model's earlier ones (the greatest stamp stands).
#[derive(Clone, PartialEq, Debug)]
pub struct PromotionCriteriaSet {
    pub model: String,
    /// As written (and parsed by validation, so it parses).
    pub criteria: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(payload: Payload) -> Event {
        Event {
            id: EventId::new_unchecked("e1"),
            workspace: Workspace::parse("w").expect("valid"),
            occurred_at: EventTime::from_unix(1, 0).expect("in range"),
            producer: "tests".to_owned(),
            actor: "alice@example.com".to_owned(),
            payload,
        }
    }

    fn fields(names: &[&str]) -> BTreeSet<PersonalField> {
        names
            .iter()
            .map(|name| PersonalField::parse(name).expect("a field"))
            .collect()
    }

    #[test]
    fn the_subject_is_the_entity_holding_the_facts() {
        let ws = Workspace::parse("w").expect("valid");
        let deployed = event_of(Payload::ModelDeployed(ModelDeployed {
            model: "m".into(),
            version: "1".into(),
            endpoint: "scoring".into(),
            deployment: "d".into(),
        }));
        assert_eq!(
            deployed.subject(),
            Some(EntityKey::endpoint(&ws, "scoring"))
        );
        let logged = event_of(Payload::ArtifactLogged(ArtifactLogged {
            run_id: "r1".into(),
            name: "model.pkl".into(),
            uri: String::new(),
            digest: String::new(),
            kind: String::new(),
            size_bytes: 0,
        }));
        assert_eq!(
            logged.subject(),
            Some(EntityKey::artifact(&ws, "r1", "model.pkl"))
        );
        let inputs = event_of(Payload::RunInputsDeclared(RunInputsDeclared {
            run_id: "r1".into(),
            datasets: vec![DatasetVersionRef {
                dataset: "d".into(),
                version: "1".into(),
            }],
            artifacts: Vec::new(),
            models: Vec::new(),
        }));
        assert_eq!(inputs.subject(), Some(EntityKey::run(&ws, "r1")));
        // The subject is always among what the event mentions.
        for event in [&deployed, &logged, &inputs] {
            let subject = event.subject().expect("a subject");
            assert!(event.mentions().contains(&subject));
        }
    }

    #[test]
    fn erased_empties_the_named_fields_the_event_has_and_nothing_else() {
        let changed = event_of(Payload::ModelStageChanged(ModelStageChanged {
            model: "m".into(),
            version: "1".into(),
            stage: ModelStage::Production,
            reason: "alice says go".into(),
            approved_by: "alice".into(),
        }));
        let erased = changed.erased(&fields(&["actor", "reason", "error", "tags.owner"]));
        assert_eq!(erased.actor, "");
        let Payload::ModelStageChanged(after) = &erased.payload else {
            panic!("the payload's kind stays");
        };
        assert_eq!(
            (after.reason.as_str(), after.approved_by.as_str()),
            ("", "alice")
        );
        assert_eq!(
            (erased.id.clone(), erased.occurred_at),
            (changed.id.clone(), changed.occurred_at)
        );

        let started = event_of(Payload::RunStarted(RunStarted {
            run_id: "r1".into(),
            experiment: None,
            name: "r1".into(),
            parent_run_id: None,
            code_version: "abc".into(),
            environment: None,
            compute_target: None,
            params: BTreeMap::from([("owner".into(), "alice".into())]),
            tags: BTreeMap::from([
                ("owner".into(), "alice".into()),
                ("team".into(), "risk".into()),
            ]),
        }));
        let erased = started.erased(&fields(&["tags.owner", "tags.absent"]));
        let Payload::RunStarted(after) = &erased.payload else {
            panic!("the payload's kind stays");
        };
        assert_eq!(after.tags["owner"], "");
        assert_eq!(after.tags["team"], "risk");
        assert_eq!(after.tags.len(), 2, "no key is added");
        assert_eq!(after.params["owner"], "alice", "parameters are not tags");
        assert_eq!(erased.actor, "alice@example.com");
    }

    #[test]
    fn event_time_bounds() {
        assert!(EventTime::from_unix(0, 0).is_some());
        assert!(EventTime::from_unix(-1, 0).is_none());
        assert!(EventTime::from_unix(1_800_000_000, 999_999_999).is_some());
        assert!(EventTime::from_unix(1_800_000_000, 1_000_000_000).is_none());
        assert!(EventTime::from_unix(i64::MAX, 0).is_none());
        assert!(EventTime::from_unix(7_258_118_401, 0).is_none());
        let time = EventTime::from_unix(1_700_000_000, 5).expect("in range");
        assert_eq!(time.to_unix(), (1_700_000_000, 5));
    }
}
