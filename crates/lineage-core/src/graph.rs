//! The lineage graph: a projection of the event log into a petgraph graph.
//!
//! The projection is order-independent and idempotent. Nodes appear on first
//! reference (as placeholders) and are completed by their own event; scalar
//! facts are last-writer-wins registers ordered by [`Stamp`] (event time, then
//! event id), never by arrival; collections only grow. Edges implied by a
//! scalar fact (a run's environment, a dataset version's parents, the model
//! version an endpoint serves...) belong to that fact: when a later stamp
//! replaces the fact, its edges are retired, not deleted, so every edge keeps
//! the log sequence at which it appeared (for "as of" answers later).
//!
//! Nothing here can fail: events were validated before they were logged.
//!
//! A `RedactionRequested` is the one fact that is not order-independent: it
//! erases the personal fields of the facts its entity holds when it is
//! applied (at its log sequence), exactly what replaying the log after the
//! log erased those fields in the redaction's earlier records gives. Facts
//! applied after it keep their values.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashSet, HashTable};
use petgraph::Direction;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::event::{
    ArtifactLogged, DatasetVersionRef, DatasetVersionRegistered, EnvironmentRef, Event, EventId,
    EventTime, ExperimentCreated, ModelDeployed, ModelRegistered, ModelStage, ModelStageChanged,
    Payload, RedactionRequested, RunFinished, RunInputsDeclared, RunStarted, RunStatus, Severity,
    Stamp, StringMap,
};
use crate::id::{EntityKey, EntityKind, Workspace};
use crate::redaction::PersonalField;
pub use crate::series::{MetricPointFacts, MetricSeries};

/// How one entity relates to another; edges point from cause to effect.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum EdgeKind {
    /// dataset version, artifact or model version -> the run that read it
    Input,
    /// run -> the artifact or dataset version it wrote
    Produced,
    /// dataset version -> a dataset version derived from it
    Derived,
    /// run -> the model version registered from it
    Registered,
    /// artifact -> the model version that packages it
    Packaged,
    /// model version -> the endpoint currently serving it
    Deployed,
    /// environment -> a run that ran in it
    RanIn,
    /// compute target -> a run that ran on it
    RanOn,
    /// parent run -> child run
    ParentOf,
    /// run -> its experiment (skipped by traversals unless asked for)
    MemberOf,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 10] = [
        EdgeKind::Input,
        EdgeKind::Produced,
        EdgeKind::Derived,
        EdgeKind::Registered,
        EdgeKind::Packaged,
        EdgeKind::Deployed,
        EdgeKind::RanIn,
        EdgeKind::RanOn,
        EdgeKind::ParentOf,
        EdgeKind::MemberOf,
    ];

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A value decided by the greatest stamp among the facts that stated it.
#[derive(Clone, PartialEq, Debug)]
pub struct Lww<T> {
    pub stamp: Stamp,
    /// The log sequence of the event that stated it, so that a view as of
    /// an earlier sequence can tell whether it was known then.
    pub seq: u64,
    pub value: T,
}

/// Where in the log and in time the event being applied stands: every node,
/// edge and value it touches keeps the earliest of these it was seen at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct At {
    pub(crate) seq: u64,
    pub(crate) occurred_at: EventTime,
}

/// A string the graph holds many times (tag and parameter keys and values,
/// metric keys), stored once in the graph's interner and shared.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Name(Arc<str>);

impl Name {
    /// A name of its own, not interned (run ids in the dataset indexes).
    pub(crate) fn new(s: &str) -> Self {
        Name(Arc::from(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Keeps one copy of each repeated string. Keys and values of tags and
/// parameters repeat across thousands of runs (`region=emea`, `lr=0.01`),
/// so a run holds pointers rather than its own copies.
#[derive(Debug, Default)]
pub(crate) struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(found) = self.0.get(s) {
            return found.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.0.insert(shared.clone());
        shared
    }

    pub(crate) fn name(&mut self, s: &str) -> Name {
        Name(self.intern(s))
    }

    pub(crate) fn strings(&self) -> impl Iterator<Item = &Arc<str>> {
        self.0.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Drops every string nothing but the interner holds any more, so that
    /// an erased value is not kept (nor written to a snapshot) for nobody.
    /// A full pass, which only redactions (rare) pay for.
    pub(crate) fn forget_unreferenced(&mut self) {
        self.0.retain(|shared| Arc::strong_count(shared) > 1);
    }
}

/// String registers by key (tags, parameters), sorted by key.
///
/// A sorted vector rather than a `BTreeMap`: entities carry a dozen keys at
/// most, and a B-tree's nodes would cost several times the entries.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Registers {
    entries: Vec<(Name, Lww<Name>)>,
}

impl Registers {
    /// The registers in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Name, &Lww<Name>)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    pub fn get(&self, key: &str) -> Option<&Lww<Name>> {
        self.entries
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|at| &self.entries[at].1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Offers each value to its key's register; the values that lost, or
    /// that a winner replaced, go to `displaced` with their keys.
    fn merge(
        &mut self,
        interner: &mut Interner,
        stamp: &Stamp,
        seq: u64,
        values: &StringMap,
        displaced: &mut Vec<(Name, Lww<Name>)>,
    ) {
        for (key, value) in values {
            match self
                .entries
                .binary_search_by(|(k, _)| k.as_str().cmp(key.as_str()))
            {
                Ok(at) => {
                    let (name, slot) = &mut self.entries[at];
                    let offered = Lww {
                        stamp: stamp.clone(),
                        seq,
                        value: interner.name(value),
                    };
                    if slot.stamp < *stamp {
                        displaced.push((name.clone(), std::mem::replace(slot, offered)));
                    } else {
                        displaced.push((name.clone(), offered));
                    }
                }
                Err(at) => {
                    if self.entries.len() == self.entries.capacity() {
                        self.entries.reserve_exact(values.len().max(2));
                    }
                    self.entries.insert(
                        at,
                        (
                            interner.name(key),
                            Lww {
                                stamp: stamp.clone(),
                                seq,
                                value: interner.name(value),
                            },
                        ),
                    );
                }
            }
        }
    }

    /// Replaces the value of `key`'s register, if any, keeping its stamp.
    fn erase(&mut self, key: &str, empty: &Name) {
        if let Ok(at) = self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            self.entries[at].1.value = empty.clone();
        }
    }

    pub(crate) fn from_sorted(entries: Vec<(Name, Lww<Name>)>) -> Self {
        Self { entries }
    }
}

impl std::ops::Index<&str> for Registers {
    type Output = Lww<Name>;
    fn index(&self, key: &str) -> &Lww<Name> {
        self.get(key).expect("no register with this key")
    }
}

/// Offers a value to a register: it wins over a smaller stamp.
fn offer<T>(slot: &mut Option<Lww<T>>, offered: Lww<T>) -> Offer<T> {
    match slot {
        Some(current) if current.stamp >= offered.stamp => Offer::Lost(offered),
        _ => Offer::Won(slot.replace(offered)),
    }
}

/// What became of an offer: it won (and replaced the value given, if any)
/// or lost (and is handed back). Either way one value leaves the register's
/// present and is kept as history ([`Displaced`]).
enum Offer<T> {
    Won(Option<Lww<T>>),
    Lost(Lww<T>),
}

/// Offers a value to a boxed register (facts most entities never have, or
/// whose size would bloat every node).
fn offer_boxed<T>(slot: &mut Option<Box<Lww<T>>>, offered: Lww<T>) -> Offer<T> {
    match slot {
        Some(current) if current.stamp >= offered.stamp => Offer::Lost(offered),
        _ => Offer::Won(slot.replace(Box::new(offered)).map(|previous| *previous)),
    }
}

/// A value a register no longer holds, or never held because a greater
/// stamp had stated it first. The graph keeps these so that a view as of an
/// earlier log sequence, or of an earlier event time, can pick the winner
/// that held then ([`crate::view`]); almost every register only ever sees one
/// offer, so almost no node has any.
///
/// Facts of a kind an entity states once are boxed, so that the tags and
/// parameters that make most of these (a tag overwritten) cost 72 bytes
/// rather than the size of a run's start.
#[derive(Clone, PartialEq, Debug)]
pub enum Displaced {
    Experiment(Box<Lww<ExperimentFacts>>),
    RunStart(Box<Lww<RunStartFacts>>),
    RunFinish(Box<Lww<RunFinishFacts>>),
    Dataset(Box<Lww<DatasetFacts>>),
    Artifact(Box<Lww<ArtifactFacts>>),
    Registration(Box<Lww<RegistrationFacts>>),
    Deployment(Box<Lww<DeploymentFacts>>),
    Tag(Name, Lww<Name>),
    Param(Name, Lww<Name>),
    /// A metric point replaced by, or losing to, a point of a greater stamp
    /// at the same (step, timestamp) of the series `key`.
    Metric(Name, MetricPointFacts),
}

impl Displaced {
    /// Sets the value of `field`, if this holds one, to "".
    fn erase(&mut self, field: &PersonalField, empty: &Name) {
        match (field, self) {
            (PersonalField::Actor, Displaced::RunStart(started)) => {
                started.value.owner = String::new()
            }
            (PersonalField::ApprovedBy, Displaced::Registration(registered)) => {
                registered.value.approved_by = String::new()
            }
            (PersonalField::ApprovalNotes, Displaced::Registration(registered)) => {
                registered.value.approval_notes = String::new()
            }
            (PersonalField::Error, Displaced::RunFinish(finished)) => {
                finished.value.error = String::new()
            }
            (PersonalField::Description, Displaced::Experiment(created)) => {
                created.value.description = String::new()
            }
            (PersonalField::Tag(key), Displaced::Tag(name, tag)) if name.as_str() == key => {
                tag.value = empty.clone()
            }
            _ => {}
        }
    }
}

/// The stamps of the events that logged metric points, each stored once;
/// a point refers to its event's stamp by index. Indexes are assigned in
/// arrival order, but points compare the stamps they point at, so the
/// outcome does not depend on arrival.
///
/// Columns rather than a `Vec<Stamp>`: a metrics event is one of the most
/// common, and its id, kept here alone, would otherwise be an allocation of
/// its own behind a 24-byte stamp. Here it costs its bytes and an offset.
#[derive(Debug, Default)]
pub(crate) struct StampTable {
    times: Vec<EventTime>,
    /// Each event's log sequence, for views as of an earlier sequence.
    seqs: Vec<u64>,
    /// Every event id, one after another.
    ids: String,
    /// Where each id ends in `ids`.
    id_ends: Vec<u64>,
}

/// A stamp as the [`StampTable`] holds it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct StampRef<'a> {
    pub(crate) occurred_at: EventTime,
    pub(crate) event_id: &'a str,
}

impl<'a> From<&'a Stamp> for StampRef<'a> {
    fn from(stamp: &'a Stamp) -> Self {
        StampRef {
            occurred_at: stamp.occurred_at,
            event_id: stamp.event_id.as_str(),
        }
    }
}

impl StampTable {
    pub(crate) fn get(&self, index: u32) -> StampRef<'_> {
        let index = index as usize;
        let start = match index {
            0 => 0,
            _ => self.id_ends[index - 1] as usize,
        };
        StampRef {
            occurred_at: self.times[index],
            event_id: &self.ids[start..self.id_ends[index] as usize],
        }
    }

    /// The log sequence of the event of stamp `index`.
    pub(crate) fn seq(&self, index: u32) -> u64 {
        self.seqs[index as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Every stamp, by index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = StampRef<'_>> {
        (0..self.len()).map(|index| self.get(index as u32))
    }

    /// Adds the stamp of the event at log sequence `seq`; returns its index.
    pub(crate) fn push(&mut self, stamp: StampRef<'_>, seq: u64) -> u32 {
        let index = u32::try_from(self.times.len()).expect("fewer than 2^32 metric events");
        self.times.push(stamp.occurred_at);
        self.seqs.push(seq);
        self.ids.push_str(stamp.event_id);
        self.id_ends.push(self.ids.len() as u64);
        index
    }

    /// Room for `additional` stamps of `id_bytes` bytes of ids in all.
    pub(crate) fn reserve_exact(&mut self, additional: usize, id_bytes: usize) {
        self.times.reserve_exact(additional);
        self.seqs.reserve_exact(additional);
        self.id_ends.reserve_exact(additional);
        self.ids.reserve_exact(id_bytes);
    }
}

/// The facts of an experiment's creation.
#[derive(Clone, PartialEq, Debug)]
pub struct ExperimentFacts {
    pub description: String,
}

/// The facts a `RunStarted` states about its run, decided as one register.
#[derive(Clone, PartialEq, Debug)]
pub struct RunStartFacts {
    pub experiment: Option<String>,
    pub name: String,
    pub parent_run_id: Option<String>,
    pub code_version: String,
    pub environment: Option<EnvironmentRef>,
    pub compute_target: Option<String>,
    pub owner: String,
}

#[derive(Clone, PartialEq, Debug)]
pub struct RunFinishFacts {
    pub status: RunStatus,
    pub error: String,
}

#[derive(Clone, PartialEq, Debug, Default)]
pub struct RunFacts {
    pub started: Option<Lww<RunStartFacts>>,
    pub finished: Option<Lww<RunFinishFacts>>,
    pub params: Registers,
    /// The series sorted by key, each with its values by (step, timestamp).
    pub(crate) metrics: Vec<MetricSeries>,
}

impl RunFacts {
    /// Terminal states outrank `Started`; among terminal states the latest
    /// stamp wins. `None` for a run only referenced so far.
    pub fn status(&self) -> Option<RunStatus> {
        match (&self.finished, &self.started) {
            (Some(finished), _) => Some(finished.value.status),
            (None, Some(_)) => Some(RunStatus::Started),
            (None, None) => None,
        }
    }

    /// The parameters by key, each with the stamp that decided it.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Lww<Name>)> {
        self.params.iter().map(|(key, value)| (key.as_str(), value))
    }

    /// Every metric series, by key.
    pub fn metrics(&self) -> impl Iterator<Item = (&str, &MetricSeries)> {
        self.metrics.iter().map(|series| (series.key(), series))
    }

    /// One metric's series.
    pub fn metric(&self, key: &str) -> Option<&MetricSeries> {
        self.metric_position(key).ok().map(|at| &self.metrics[at])
    }

    fn metric_position(&self, key: &str) -> Result<usize, usize> {
        self.metrics
            .binary_search_by(|series| series.key().cmp(key))
    }

    /// The value at the highest step (latest timestamp within it) per key.
    pub fn latest_metrics(&self) -> impl Iterator<Item = (&str, i64, EventTime, f64)> {
        self.metrics.iter().map(|series| {
            let point = series.latest();
            (series.key(), point.step, point.timestamp, point.value)
        })
    }
}

#[derive(Clone, PartialEq, Debug)]
pub struct DatasetFacts {
    pub uri: String,
    pub digest: String,
    pub derived_from: Vec<DatasetVersionRef>,
    pub produced_by_run_id: Option<String>,
}

#[derive(Clone, PartialEq, Debug)]
pub struct ArtifactFacts {
    pub uri: String,
    pub digest: String,
    pub kind: String,
    pub size_bytes: u64,
}

#[derive(Clone, PartialEq, Debug)]
pub struct RegistrationFacts {
    pub source_run_id: String,
    pub artifact_name: Option<String>,
    pub approval_notes: String,
    pub approved_by: String,
}

#[derive(Clone, PartialEq, Debug)]
pub struct StageChangeFacts {
    pub stage: ModelStage,
    pub reason: String,
    pub approved_by: String,
    /// The change's log sequence.
    pub seq: u64,
}

#[derive(Clone, PartialEq, Debug, Default)]
pub struct ModelFacts {
    pub registered: Option<Lww<RegistrationFacts>>,
    /// Every stage change, keyed (and so ordered) by its stamp.
    pub stage_changes: BTreeMap<Stamp, StageChangeFacts>,
}

impl ModelFacts {
    /// The stage of the latest change by event time, if any.
    pub fn stage(&self) -> Option<ModelStage> {
        self.stage_changes.values().next_back().map(|c| c.stage)
    }
}

#[derive(Clone, PartialEq, Debug)]
pub struct DeploymentFacts {
    pub model: String,
    pub version: String,
    pub deployment: String,
}

/// One `PromotionCriteriaSet` of a model.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CriteriaFacts {
    /// As written; it parsed when the event was validated.
    pub criteria: String,
    /// The event's log sequence.
    pub seq: u64,
}

/// What is known about an entity, by kind.
#[derive(Clone, PartialEq, Debug)]
///
/// Every variant is at most a pointer, so a node's size does not follow its
/// largest kind's facts, and placeholders carry none.
pub enum Facts {
    Experiment(Option<Box<Lww<ExperimentFacts>>>),
    Run(Box<RunFacts>),
    DatasetVersion(Option<Box<Lww<DatasetFacts>>>),
    Artifact(Option<Box<Lww<ArtifactFacts>>>),
    ModelVersion(Box<ModelFacts>),
    Environment,
    Compute,
    /// The deployment the endpoint currently serves.
    Endpoint(Option<Box<Lww<DeploymentFacts>>>),
}

impl Facts {
    fn empty(kind: EntityKind) -> Self {
        match kind {
            EntityKind::Experiment => Facts::Experiment(None),
            EntityKind::Run => Facts::Run(Box::default()),
            EntityKind::DatasetVersion => Facts::DatasetVersion(None),
            EntityKind::Artifact => Facts::Artifact(None),
            EntityKind::ModelVersion => Facts::ModelVersion(Box::default()),
            EntityKind::Environment => Facts::Environment,
            EntityKind::Compute => Facts::Compute,
            EntityKind::Endpoint => Facts::Endpoint(None),
        }
    }
}

/// A flag raised on an entity.
#[derive(Clone, PartialEq, Debug)]
pub struct FlagFacts {
    pub reason: String,
    pub severity: Severity,
    pub flagged_at: EventTime,
    pub flagged_by: String,
    /// The flag's log sequence.
    pub seq: u64,
}

/// One `RedactionRequested` applied to an entity: what it erased, why and
/// at whose request. The record of the erasure, kept with the entity.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Redaction {
    /// The paths of the erased fields (`actor`, `tags.<key>`...), sorted.
    pub fields: Vec<String>,
    pub reason: String,
    /// The request's actor.
    pub requested_by: String,
    pub requested_at: EventTime,
    /// The request's log sequence.
    pub seq: u64,
    pub event_id: EventId,
}

/// A node's redactions, behind one pointer.
#[allow(clippy::box_collection)] // 8 bytes in every node, where a Vec would take 24.
pub(crate) type Redactions = Box<Vec<Redaction>>;

/// One entity in the graph.
#[derive(Clone, PartialEq, Debug)]
pub struct Node {
    pub key: EntityKey,
    /// The log sequence at which the entity was first referenced.
    pub first_seq: u64,
    /// The earliest event time of the events that referenced it: the entity
    /// exists in a view of what had happened by then.
    pub first_occurred_at: EventTime,
    pub facts: Facts,
    pub tags: Registers,
    /// Flags by the id of the event that raised them.
    pub flags: BTreeMap<EventId, FlagFacts>,
    /// The redactions applied to the entity, oldest first; boxed because
    /// almost no entity has any (a pointer per node rather than a vector).
    pub(crate) redactions: Option<Redactions>,
}

impl Node {
    /// The redactions applied to the entity, in log order (oldest first).
    pub fn redactions(&self) -> &[Redaction] {
        self.redactions.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Sets every value of `field` the node holds to "", keeping stamps.
    fn erase(&mut self, field: &PersonalField, empty: &Name) {
        match field {
            PersonalField::Actor => {
                if let Facts::Run(run) = &mut self.facts
                    && let Some(started) = &mut run.started
                {
                    started.value.owner = String::new();
                }
                for flag in self.flags.values_mut() {
                    flag.flagged_by = String::new();
                }
                for redaction in self.redactions.iter_mut().flat_map(|r| r.iter_mut()) {
                    redaction.requested_by = String::new();
                }
            }
            PersonalField::ApprovedBy => {
                if let Facts::ModelVersion(model) = &mut self.facts {
                    if let Some(registered) = &mut model.registered {
                        registered.value.approved_by = String::new();
                    }
                    for change in model.stage_changes.values_mut() {
                        change.approved_by = String::new();
                    }
                }
            }
            PersonalField::ApprovalNotes => {
                if let Facts::ModelVersion(model) = &mut self.facts
                    && let Some(registered) = &mut model.registered
                {
                    registered.value.approval_notes = String::new();
                }
            }
            PersonalField::Reason => {
                if let Facts::ModelVersion(model) = &mut self.facts {
                    for change in model.stage_changes.values_mut() {
                        change.reason = String::new();
                    }
                }
                for flag in self.flags.values_mut() {
                    flag.reason = String::new();
                }
            }
            PersonalField::Error => {
                if let Facts::Run(run) = &mut self.facts
                    && let Some(finished) = &mut run.finished
                {
                    finished.value.error = String::new();
                }
            }
            PersonalField::Description => {
                if let Facts::Experiment(Some(created)) = &mut self.facts {
                    created.value.description = String::new();
                }
            }
            PersonalField::Tag(key) => self.tags.erase(key, empty),
        }
    }

    /// True while the entity is only referenced and its own registering event
    /// has not arrived. Environments, compute targets and endpoints have no
    /// registering event, so they are never placeholders.
    pub fn is_placeholder(&self) -> bool {
        match &self.facts {
            Facts::Experiment(created) => created.is_none(),
            Facts::Run(run) => run.started.is_none() && run.finished.is_none(),
            Facts::DatasetVersion(registered) => registered.is_none(),
            Facts::Artifact(logged) => logged.is_none(),
            Facts::ModelVersion(model) => model.registered.is_none(),
            Facts::Environment | Facts::Compute | Facts::Endpoint(_) => false,
        }
    }
}

/// One relationship in the graph.
#[derive(Clone, PartialEq, Eq)]
pub struct Edge {
    /// The kind in the top four bits, the log sequence at which the edge
    /// appeared in the other sixty (no log reaches 2^60 records): an edge is
    /// 24 bytes, as it was before it kept its earliest event time.
    kind_and_first_seq: u64,
    /// The earliest event time of the events that stated the edge; what a
    /// view as of an event time reads for the edges no register owns
    /// (inputs), whose history is only their first statement.
    pub first_occurred_at: EventTime,
    /// The log sequence at which a later fact replaced the fact that implied
    /// this edge, [`Edge::HOLDS`] while the edge holds: a sentinel rather
    /// than an `Option`, which would take 8 more bytes in every edge.
    retired_at: u64,
}

impl fmt::Debug for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edge")
            .field("kind", &self.kind())
            .field("first_seq", &self.first_seq())
            .field("first_occurred_at", &self.first_occurred_at)
            .field("retired_seq", &self.retired_seq())
            .finish()
    }
}

impl Edge {
    /// The `retired_at` of an edge that holds; no log reaches this sequence.
    const HOLDS: u64 = u64::MAX;
    /// Where the kind starts in `kind_and_first_seq`.
    const KIND_SHIFT: u32 = 60;
    const SEQ_MASK: u64 = (1 << Self::KIND_SHIFT) - 1;

    pub(crate) fn new(
        kind: EdgeKind,
        first_seq: u64,
        first_occurred_at: EventTime,
        retired_seq: Option<u64>,
    ) -> Self {
        assert!(
            first_seq <= Self::SEQ_MASK,
            "log sequence {first_seq} is past 2^60: no log gets there"
        );
        Self {
            kind_and_first_seq: (kind as u64) << Self::KIND_SHIFT | first_seq,
            first_occurred_at,
            retired_at: retired_seq.unwrap_or(Self::HOLDS),
        }
    }

    pub fn kind(&self) -> EdgeKind {
        EdgeKind::ALL[(self.kind_and_first_seq >> Self::KIND_SHIFT) as usize]
    }

    /// The log sequence at which the edge appeared.
    pub fn first_seq(&self) -> u64 {
        self.kind_and_first_seq & Self::SEQ_MASK
    }

    /// The log sequence at which a later fact replaced the fact that implied
    /// this edge; `None` while the edge holds.
    pub fn retired_seq(&self) -> Option<u64> {
        (self.retired_at != Self::HOLDS).then_some(self.retired_at)
    }

    pub fn is_active(&self) -> bool {
        self.retired_at == Self::HOLDS
    }

    fn retire(&mut self, seq: u64) {
        self.retired_at = seq;
    }

    pub(crate) fn reactivate(&mut self) {
        self.retired_at = Self::HOLDS;
    }
}

pub(crate) type EdgeEnds = (NodeIndex, NodeIndex, EdgeKind);

/// The projection of the log: the graph plus the indexes queries need.
#[derive(Debug, Default)]
pub struct LineageGraph {
    pub(crate) graph: DiGraph<Node, Edge>,
    /// Finds a node by its identity. Holds only node indexes, hashed by the
    /// key the node itself stores, so no key is stored twice.
    pub(crate) nodes_by_key: HashTable<NodeIndex>,
    /// Makes edges a set: one edge per (from, to, kind); holds edge
    /// indexes hashed by the ends petgraph already stores.
    pub(crate) edges_by_ends: HashTable<EdgeIndex>,
    /// Hashes keys and edge ends for the two tables above.
    pub(crate) hasher: DefaultHashBuilder,
    /// One copy of each workspace, tag, parameter and metric name and value.
    pub(crate) interner: Interner,
    /// The stamps metric points refer to.
    pub(crate) point_stamps: StampTable,
    /// Run ids (sorted, for stable pagination) that used any version of a
    /// dataset, per (workspace, dataset).
    pub(crate) runs_by_dataset: HashMap<(Workspace, String), BTreeMap<Name, NodeIndex>>,
    /// Run ids that used one dataset version, per dataset version node.
    pub(crate) runs_by_dataset_version: HashMap<NodeIndex, BTreeMap<Name, NodeIndex>>,
    /// The versions of each dataset ever referenced, per (workspace, dataset).
    pub(crate) versions_by_dataset: HashMap<(Workspace, String), BTreeMap<String, NodeIndex>>,
    /// Every workspace a node belongs to: where a question that names no
    /// workspace (the Marquez-shaped HTTP read) looks for an entity.
    pub(crate) workspaces: BTreeSet<Workspace>,
    /// Every promotion criteria ever set, per (workspace, model), by stamp:
    /// the greatest a view admits stands, so earlier ones answer views as
    /// of earlier moments.
    pub(crate) criteria_by_model: HashMap<(Workspace, String), BTreeMap<Stamp, CriteriaFacts>>,
    /// The highest log sequence applied.
    pub(crate) applied_seq: u64,
    /// Edges not retired, kept so that status answers in O(1).
    pub(crate) active_edges: usize,
    /// The values each node's registers hold no longer or never held, for
    /// views as of earlier sequences or event times; only nodes that have
    /// any are here.
    pub(crate) displaced: HashMap<NodeIndex, Vec<Displaced>>,
    /// The runs of each workspace by what searches ask of them
    /// (`crate::search`): derived from the nodes by `apply`, rebuilt after
    /// a snapshot is decoded, never written nor digested.
    pub(crate) run_index: crate::search::RunIndex,
}

impl LineageGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest log sequence applied so far.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Edges currently holding (retired edges are kept but not counted).
    pub fn active_edge_count(&self) -> usize {
        self.active_edges
    }

    pub fn find(&self, key: &EntityKey) -> Option<NodeIndex> {
        let hash = self.hasher.hash_one(key);
        self.nodes_by_key
            .find(hash, |&index| self.graph[index].key == *key)
            .copied()
    }

    fn find_edge(&self, ends: EdgeEnds) -> Option<EdgeIndex> {
        let hash = self.hasher.hash_one(ends);
        self.edges_by_ends
            .find(hash, |&index| self.edge_ends(index) == ends)
            .copied()
    }

    pub(crate) fn edge_ends(&self, index: EdgeIndex) -> EdgeEnds {
        let (from, to, edge) = self.edge(index);
        (from, to, edge.kind())
    }

    /// Indexes a node that was just added to the graph.
    pub(crate) fn index_node(&mut self, index: NodeIndex) {
        let (graph, hasher) = (&self.graph, &self.hasher);
        let hash = hasher.hash_one(&graph[index].key);
        self.nodes_by_key
            .insert_unique(hash, index, |&i| hasher.hash_one(&graph[i].key));
    }

    /// Indexes an edge that was just added to the graph.
    pub(crate) fn index_edge(&mut self, index: EdgeIndex) {
        let ends = |i: EdgeIndex| {
            let (from, to) = self.graph.edge_endpoints(i).expect("indexed edges exist");
            (from, to, self.graph[i].kind())
        };
        let hash = self.hasher.hash_one(ends(index));
        self.edges_by_ends
            .insert_unique(hash, index, |&i| self.hasher.hash_one(ends(i)));
    }

    pub fn node(&self, index: NodeIndex) -> &Node {
        &self.graph[index]
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeIndex, &Node)> {
        self.graph
            .node_indices()
            .map(move |index| (index, &self.graph[index]))
    }

    /// The ends and data of an edge.
    pub fn edge(&self, index: EdgeIndex) -> (NodeIndex, NodeIndex, &Edge) {
        let (from, to) = self
            .graph
            .edge_endpoints(index)
            .expect("edge indexes come from this graph and edges are never removed");
        (from, to, &self.graph[index])
    }

    /// Active edges of one kind arriving at a node, as (edge, source).
    pub fn incoming(
        &self,
        node: NodeIndex,
        kind: EdgeKind,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + '_ {
        self.present().incoming(node, kind)
    }

    /// Active edges of one kind leaving a node, as (edge, target).
    pub fn outgoing(
        &self,
        node: NodeIndex,
        kind: EdgeKind,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + '_ {
        self.present().outgoing(node, kind)
    }

    /// Every edge at a node in one direction, active or retired, as (edge,
    /// the other end, data).
    pub(crate) fn all_edges_of(
        &self,
        node: NodeIndex,
        direction: Direction,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex, &Edge)> + '_ {
        self.graph.edges_directed(node, direction).map(move |edge| {
            let other = match direction {
                Direction::Outgoing => edge.target(),
                Direction::Incoming => edge.source(),
            };
            (edge.id(), other, edge.weight())
        })
    }

    /// Every edge ever added, active or retired.
    pub fn all_edges(&self) -> impl Iterator<Item = (NodeIndex, NodeIndex, &Edge)> + '_ {
        self.graph.edge_indices().map(move |index| self.edge(index))
    }

    pub(crate) fn runs_by_dataset(
        &self,
        workspace: &Workspace,
        dataset: &str,
    ) -> Option<&BTreeMap<Name, NodeIndex>> {
        self.runs_by_dataset
            .get(&(workspace.clone(), dataset.to_owned()))
    }

    /// The versions of a dataset ever referenced, ordered by version.
    pub fn dataset_versions(
        &self,
        workspace: &Workspace,
        dataset: &str,
    ) -> Option<&BTreeMap<String, NodeIndex>> {
        self.versions_by_dataset
            .get(&(workspace.clone(), dataset.to_owned()))
    }

    /// Every workspace that holds an entity, sorted.
    pub fn workspaces(&self) -> &BTreeSet<Workspace> {
        &self.workspaces
    }

    pub(crate) fn runs_by_dataset_version(
        &self,
        dataset_version: NodeIndex,
    ) -> Option<&BTreeMap<Name, NodeIndex>> {
        self.runs_by_dataset_version.get(&dataset_version)
    }

    /// The log sequence and event id of the event that logged a metric point.
    pub fn metric_point_origin(&self, point: &MetricPointFacts) -> (u64, &str) {
        let stamp = point.stamp;
        (
            self.point_stamps.seq(stamp),
            self.point_stamps.get(stamp).event_id,
        )
    }

    /// Every promotion criteria set for a model, by stamp (the last one
    /// stands now; see `AsOf::promotion_criteria` for earlier views).
    pub fn promotion_criteria(
        &self,
        workspace: &Workspace,
        model: &str,
    ) -> Option<&BTreeMap<Stamp, CriteriaFacts>> {
        self.criteria_by_model
            .get(&(workspace.clone(), model.to_owned()))
    }

    /// Every model with promotion criteria, with them.
    pub fn all_promotion_criteria(
        &self,
    ) -> impl Iterator<Item = (&(Workspace, String), &BTreeMap<Stamp, CriteriaFacts>)> {
        self.criteria_by_model.iter()
    }

    /// The values a node's registers hold no longer or never held, in the
    /// order they left (see [`Displaced`]).
    pub fn displaced(&self, node: NodeIndex) -> &[Displaced] {
        self.displaced.get(&node).map_or(&[], Vec::as_slice)
    }

    fn displace(&mut self, node: NodeIndex, value: Displaced) {
        self.displaced.entry(node).or_default().push(value);
    }

    fn displace_registers(
        &mut self,
        node: NodeIndex,
        displaced: Vec<(Name, Lww<Name>)>,
        wrap: fn(Name, Lww<Name>) -> Displaced,
    ) {
        if !displaced.is_empty() {
            let history = self.displaced.entry(node).or_default();
            history.extend(displaced.into_iter().map(|(key, value)| wrap(key, value)));
        }
    }

    /// Offers tags to a node's registers.
    fn merge_tags(&mut self, node: NodeIndex, stamp: &Stamp, seq: u64, tags: &StringMap) {
        let mut displaced = Vec::new();
        self.graph[node]
            .tags
            .merge(&mut self.interner, stamp, seq, tags, &mut displaced);
        self.displace_registers(node, displaced, Displaced::Tag);
    }

    /// Offers parameters to a run's registers.
    fn merge_params(&mut self, run: NodeIndex, stamp: &Stamp, seq: u64, params: &StringMap) {
        let mut displaced = Vec::new();
        let Facts::Run(facts) = &mut self.graph[run].facts else {
            unreachable!("run keys always map to run nodes");
        };
        facts
            .params
            .merge(&mut self.interner, stamp, seq, params, &mut displaced);
        self.displace_registers(run, displaced, Displaced::Param);
    }

    /// Folds one logged event into the graph. `seq` is its log sequence.
    pub fn apply(&mut self, seq: u64, event: &Event) {
        let run_entries_before = self.run_entries_before(event);
        let stamp = event.stamp();
        let ws = &event.workspace;
        let at = At {
            seq,
            occurred_at: event.occurred_at,
        };
        match &event.payload {
            Payload::ExperimentCreated(created) => {
                self.apply_experiment_created(at, ws, &stamp, created)
            }
            Payload::RunStarted(started) => {
                self.apply_run_started(at, ws, &stamp, &event.actor, started)
            }
            Payload::RunFinished(finished) => self.apply_run_finished(at, ws, &stamp, finished),
            Payload::ParamsLogged(logged) => {
                let run = self.ensure_node(at, EntityKey::run(ws, &logged.run_id));
                self.merge_params(run, &stamp, seq, &logged.params);
            }
            Payload::MetricsLogged(logged) => {
                let run = self.ensure_node(at, EntityKey::run(ws, &logged.run_id));
                let Facts::Run(facts) = &mut self.graph[run].facts else {
                    unreachable!("run keys always map to run nodes");
                };
                let mut stamp_index = None;
                let mut displaced = Vec::new();
                // Producers log a step's metrics in one event, mostly in key
                // order: the series after the last one is tried first.
                let mut next = 0;
                for point in &logged.metrics {
                    let position = match facts.metrics.get(next) {
                        Some(series) if series.key() == point.key => Ok(next),
                        _ => facts.metric_position(&point.key),
                    };
                    let (Ok(at) | Err(at)) = position;
                    next = at + 1;
                    match position {
                        Ok(at) => {
                            let series = &mut facts.metrics[at];
                            if let Some(lost) = series.record(
                                point.step,
                                point.timestamp,
                                point.value,
                                &stamp,
                                seq,
                                &mut self.point_stamps,
                                &mut stamp_index,
                            ) {
                                displaced.push(Displaced::Metric(series.name().clone(), lost));
                            }
                        }
                        Err(at) => {
                            if facts.metrics.len() == facts.metrics.capacity() {
                                facts.metrics.reserve_exact(logged.metrics.len().max(1));
                            }
                            let key = self.interner.name(&point.key);
                            let first = MetricPointFacts {
                                step: point.step,
                                timestamp: point.timestamp,
                                value: point.value,
                                stamp: self.point_stamps.index_of(&stamp, seq, &mut stamp_index),
                            };
                            facts.metrics.insert(at, MetricSeries::new(key, first));
                        }
                    }
                }
                if !displaced.is_empty() {
                    self.displaced.entry(run).or_default().extend(displaced);
                }
            }
            Payload::TagsSet(set) => {
                let node = self.ensure_node(at, set.entity.clone());
                self.merge_tags(node, &stamp, seq, &set.tags);
            }
            Payload::DatasetVersionRegistered(registered) => {
                self.apply_dataset_registered(at, ws, &stamp, registered)
            }
            Payload::RunInputsDeclared(declared) => self.apply_run_inputs(at, ws, declared),
            Payload::ArtifactLogged(logged) => self.apply_artifact_logged(at, ws, &stamp, logged),
            Payload::ModelRegistered(registered) => {
                self.apply_model_registered(at, ws, &stamp, registered)
            }
            Payload::ModelStageChanged(changed) => {
                self.apply_model_stage_changed(at, ws, &stamp, changed)
            }
            Payload::ModelDeployed(deployed) => self.apply_model_deployed(at, ws, &stamp, deployed),
            Payload::EntityFlagged(flagged) => {
                let node = self.ensure_node(at, flagged.entity.clone());
                self.graph[node].flags.insert(
                    event.id.clone(),
                    FlagFacts {
                        reason: flagged.reason.clone(),
                        severity: flagged.severity,
                        flagged_at: event.occurred_at,
                        flagged_by: event.actor.clone(),
                        seq,
                    },
                );
            }
            Payload::RedactionRequested(requested) => self.apply_redaction(at, event, requested),
            Payload::PromotionCriteriaSet(set) => {
                self.criteria_by_model
                    .entry((ws.clone(), set.model.clone()))
                    .or_default()
                    .insert(
                        stamp,
                        CriteriaFacts {
                            criteria: set.criteria.clone(),
                            seq,
                        },
                    );
            }
        }
        self.applied_seq = self.applied_seq.max(seq);
        self.reindex_run_touched_by(run_entries_before);
    }

    /// Erases the fields' values on the entity, current and displaced (as
    /// if each earlier event about it had stated them empty), and records
    /// the redaction. The same redaction again (a repeat of its event)
    /// changes nothing: the log never applies an event twice, and a repeat
    /// must not erase who asked for the first.
    fn apply_redaction(&mut self, at: At, event: &Event, requested: &RedactionRequested) {
        let index = self.ensure_node(at, requested.entity.clone());
        if self.graph[index]
            .redactions()
            .iter()
            .any(|r| r.event_id == event.id)
        {
            return;
        }
        let empty = self.interner.name("");
        let node = &mut self.graph[index];
        for field in &requested.fields {
            node.erase(field, &empty);
        }
        if let Some(history) = self.displaced.get_mut(&index) {
            for displaced in history.iter_mut() {
                for field in &requested.fields {
                    displaced.erase(field, &empty);
                }
            }
        }
        let mut fields: Vec<String> = requested.fields.iter().map(PersonalField::path).collect();
        fields.sort_unstable();
        node.redactions
            .get_or_insert_with(Box::default)
            .push(Redaction {
                fields,
                reason: requested.reason.clone(),
                requested_by: event.actor.clone(),
                requested_at: event.occurred_at,
                seq: at.seq,
                event_id: event.id.clone(),
            });
        drop(empty);
        self.interner.forget_unreferenced();
    }

    fn apply_experiment_created(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        created: &ExperimentCreated,
    ) {
        let node = self.ensure_node(at, EntityKey::experiment(ws, &created.experiment));
        if let Facts::Experiment(slot) = &mut self.graph[node].facts {
            let offered = Lww {
                stamp: stamp.clone(),
                seq: at.seq,
                value: ExperimentFacts {
                    description: created.description.clone(),
                },
            };
            match offer_boxed(slot, offered) {
                Offer::Won(None) => {}
                Offer::Won(Some(previous)) | Offer::Lost(previous) => {
                    self.displace(node, Displaced::Experiment(Box::new(previous)))
                }
            }
        }
        self.merge_tags(node, stamp, at.seq, &created.tags);
    }

    fn apply_run_started(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        actor: &str,
        started: &RunStarted,
    ) {
        let run = self.ensure_node(at, EntityKey::run(ws, &started.run_id));
        let facts = RunStartFacts {
            experiment: started.experiment.clone(),
            name: started.name.clone(),
            parent_run_id: started.parent_run_id.clone(),
            code_version: started.code_version.clone(),
            environment: started.environment.clone(),
            compute_target: started.compute_target.clone(),
            owner: actor.to_owned(),
        };
        // Referenced entities exist whether or not this fact wins, so the
        // set of nodes does not depend on arrival order.
        let new = self.run_start_edges(at, ws, run, &facts);
        let offered = Lww {
            stamp: stamp.clone(),
            seq: at.seq,
            value: facts,
        };
        let outcome = offer(&mut self.run_facts_mut(run).started, offered);
        self.settle_owned(
            at,
            run,
            outcome,
            &new,
            Displaced::RunStart,
            |graph, facts| graph.run_start_edges(at, ws, run, facts),
        );
        self.merge_params(run, stamp, at.seq, &started.params);
        self.merge_tags(run, stamp, at.seq, &started.tags);
    }

    /// The edges a run's start facts imply, creating the entities they name.
    pub(crate) fn run_start_edges(
        &mut self,
        at: At,
        ws: &Workspace,
        run: NodeIndex,
        facts: &RunStartFacts,
    ) -> Vec<EdgeEnds> {
        let mut edges = Vec::with_capacity(4);
        if let Some(experiment) = &facts.experiment {
            let experiment = self.ensure_node(at, EntityKey::experiment(ws, experiment));
            edges.push((run, experiment, EdgeKind::MemberOf));
        }
        if let Some(parent) = &facts.parent_run_id {
            let parent = self.ensure_node(at, EntityKey::run(ws, parent));
            edges.push((parent, run, EdgeKind::ParentOf));
        }
        if let Some(environment) = &facts.environment {
            let environment = self.ensure_node(
                at,
                EntityKey::environment(ws, &environment.name, &environment.version),
            );
            edges.push((environment, run, EdgeKind::RanIn));
        }
        if let Some(compute) = &facts.compute_target {
            let compute = self.ensure_node(at, EntityKey::compute(ws, compute));
            edges.push((compute, run, EdgeKind::RanOn));
        }
        edges
    }

    fn apply_run_finished(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        finished: &RunFinished,
    ) {
        let run = self.ensure_node(at, EntityKey::run(ws, &finished.run_id));
        let offered = Lww {
            stamp: stamp.clone(),
            seq: at.seq,
            value: RunFinishFacts {
                status: finished.status,
                error: finished.error.clone(),
            },
        };
        match offer(&mut self.run_facts_mut(run).finished, offered) {
            Offer::Won(None) => {}
            Offer::Won(Some(previous)) | Offer::Lost(previous) => {
                self.displace(run, Displaced::RunFinish(Box::new(previous)))
            }
        }
    }

    fn apply_dataset_registered(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        registered: &DatasetVersionRegistered,
    ) {
        let dataset = self.ensure_node(
            at,
            EntityKey::dataset_version(ws, &registered.dataset, &registered.version),
        );
        let facts = DatasetFacts {
            uri: registered.uri.clone(),
            digest: registered.digest.clone(),
            derived_from: registered.derived_from.clone(),
            produced_by_run_id: registered.produced_by_run_id.clone(),
        };
        let new = self.dataset_edges(at, ws, dataset, &facts);
        let Facts::DatasetVersion(slot) = &mut self.graph[dataset].facts else {
            return;
        };
        let offered = Lww {
            stamp: stamp.clone(),
            seq: at.seq,
            value: facts,
        };
        let outcome = offer_boxed(slot, offered);
        self.settle_owned(
            at,
            dataset,
            outcome,
            &new,
            Displaced::Dataset,
            |graph, facts| graph.dataset_edges(at, ws, dataset, facts),
        );
    }

    /// The edges a dataset version's registration implies, creating the
    /// entities it names.
    pub(crate) fn dataset_edges(
        &mut self,
        at: At,
        ws: &Workspace,
        dataset: NodeIndex,
        facts: &DatasetFacts,
    ) -> Vec<EdgeEnds> {
        let mut edges = Vec::with_capacity(facts.derived_from.len() + 1);
        for parent in &facts.derived_from {
            let parent = self.ensure_node(
                at,
                EntityKey::dataset_version(ws, &parent.dataset, &parent.version),
            );
            edges.push((parent, dataset, EdgeKind::Derived));
        }
        if let Some(run_id) = &facts.produced_by_run_id {
            let run = self.ensure_node(at, EntityKey::run(ws, run_id));
            edges.push((run, dataset, EdgeKind::Produced));
        }
        edges
    }

    fn apply_run_inputs(&mut self, at: At, ws: &Workspace, declared: &RunInputsDeclared) {
        let run = self.ensure_node(at, EntityKey::run(ws, &declared.run_id));
        // One shared copy of the run id for every index entry it gets.
        let mut run_id: Option<Name> = None;
        for input in &declared.datasets {
            let dataset = self.ensure_node(
                at,
                EntityKey::dataset_version(ws, &input.dataset, &input.version),
            );
            self.activate_edge(at, (dataset, run, EdgeKind::Input));
            let run_id = run_id.get_or_insert_with(|| Name::new(&declared.run_id));
            self.runs_by_dataset
                .entry((ws.clone(), input.dataset.clone()))
                .or_default()
                .insert(run_id.clone(), run);
            self.runs_by_dataset_version
                .entry(dataset)
                .or_default()
                .insert(run_id.clone(), run);
        }
        for input in &declared.artifacts {
            let artifact =
                self.ensure_node(at, EntityKey::artifact(ws, &input.run_id, &input.name));
            self.activate_edge(at, (artifact, run, EdgeKind::Input));
        }
        for input in &declared.models {
            let model = self.ensure_node(
                at,
                EntityKey::model_version(ws, &input.model, &input.version),
            );
            self.activate_edge(at, (model, run, EdgeKind::Input));
        }
    }

    fn apply_artifact_logged(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        logged: &ArtifactLogged,
    ) {
        let artifact = self.ensure_node(at, EntityKey::artifact(ws, &logged.run_id, &logged.name));
        if let Facts::Artifact(slot) = &mut self.graph[artifact].facts {
            let offered = Lww {
                stamp: stamp.clone(),
                seq: at.seq,
                value: ArtifactFacts {
                    uri: logged.uri.clone(),
                    digest: logged.digest.clone(),
                    kind: logged.kind.clone(),
                    size_bytes: logged.size_bytes,
                },
            };
            match offer_boxed(slot, offered) {
                Offer::Won(None) => {}
                Offer::Won(Some(previous)) | Offer::Lost(previous) => {
                    self.displace(artifact, Displaced::Artifact(Box::new(previous)))
                }
            }
        }
    }

    fn apply_model_registered(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        registered: &ModelRegistered,
    ) {
        let model = self.ensure_node(
            at,
            EntityKey::model_version(ws, &registered.model, &registered.version),
        );
        let facts = RegistrationFacts {
            source_run_id: registered.source_run_id.clone(),
            artifact_name: registered.artifact_name.clone(),
            approval_notes: registered.approval_notes.clone(),
            approved_by: registered.approved_by.clone(),
        };
        let new = self.registration_edges(at, ws, model, &facts);
        let Facts::ModelVersion(model_facts) = &mut self.graph[model].facts else {
            return;
        };
        let offered = Lww {
            stamp: stamp.clone(),
            seq: at.seq,
            value: facts,
        };
        let outcome = offer(&mut model_facts.registered, offered);
        self.settle_owned(
            at,
            model,
            outcome,
            &new,
            Displaced::Registration,
            |graph, facts| graph.registration_edges(at, ws, model, facts),
        );
    }

    /// The edges a model version's registration implies, creating the
    /// entities it names.
    pub(crate) fn registration_edges(
        &mut self,
        at: At,
        ws: &Workspace,
        model: NodeIndex,
        facts: &RegistrationFacts,
    ) -> Vec<EdgeEnds> {
        let run = self.ensure_node(at, EntityKey::run(ws, &facts.source_run_id));
        let mut edges = vec![(run, model, EdgeKind::Registered)];
        if let Some(artifact) = &facts.artifact_name {
            let artifact =
                self.ensure_node(at, EntityKey::artifact(ws, &facts.source_run_id, artifact));
            edges.push((artifact, model, EdgeKind::Packaged));
        }
        edges
    }

    fn apply_model_stage_changed(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        changed: &ModelStageChanged,
    ) {
        let model = self.ensure_node(
            at,
            EntityKey::model_version(ws, &changed.model, &changed.version),
        );
        if let Facts::ModelVersion(model_facts) = &mut self.graph[model].facts {
            model_facts.stage_changes.insert(
                stamp.clone(),
                StageChangeFacts {
                    stage: changed.stage,
                    reason: changed.reason.clone(),
                    approved_by: changed.approved_by.clone(),
                    seq: at.seq,
                },
            );
        }
    }

    fn apply_model_deployed(
        &mut self,
        at: At,
        ws: &Workspace,
        stamp: &Stamp,
        deployed: &ModelDeployed,
    ) {
        let endpoint = self.ensure_node(at, EntityKey::endpoint(ws, &deployed.endpoint));
        let facts = DeploymentFacts {
            model: deployed.model.clone(),
            version: deployed.version.clone(),
            deployment: deployed.deployment.clone(),
        };
        let new = self.deployment_edges(at, ws, endpoint, &facts);
        let Facts::Endpoint(slot) = &mut self.graph[endpoint].facts else {
            return;
        };
        let offered = Lww {
            stamp: stamp.clone(),
            seq: at.seq,
            value: facts,
        };
        let outcome = offer_boxed(slot, offered);
        self.settle_owned(
            at,
            endpoint,
            outcome,
            &new,
            Displaced::Deployment,
            |graph, facts| graph.deployment_edges(at, ws, endpoint, facts),
        );
    }

    /// The edge an endpoint's deployment implies, creating the model version.
    pub(crate) fn deployment_edges(
        &mut self,
        at: At,
        ws: &Workspace,
        endpoint: NodeIndex,
        facts: &DeploymentFacts,
    ) -> Vec<EdgeEnds> {
        let model = self.ensure_node(
            at,
            EntityKey::model_version(ws, &facts.model, &facts.version),
        );
        vec![(model, endpoint, EdgeKind::Deployed)]
    }

    fn run_facts_mut(&mut self, run: NodeIndex) -> &mut RunFacts {
        match &mut self.graph[run].facts {
            Facts::Run(facts) => facts,
            _ => unreachable!("run keys always map to run nodes"),
        }
    }

    /// Returns the node for a key, creating a placeholder on first reference.
    fn ensure_node(&mut self, at: At, mut key: EntityKey) -> NodeIndex {
        if let Some(index) = self.find(&key) {
            let node = &mut self.graph[index];
            node.first_occurred_at = node.first_occurred_at.min(at.occurred_at);
            // The artifact's run, below, was referenced at that time too.
            if let Some((run_id, _)) = key.artifact_parts()
                && let Some(run) = self.find(&EntityKey::run(&key.workspace, run_id))
            {
                let run = &mut self.graph[run];
                run.first_occurred_at = run.first_occurred_at.min(at.occurred_at);
            }
            return index;
        }
        key.workspace = Workspace::from_shared(self.interner.intern(key.workspace.as_str()));
        let kind = key.kind;
        let index = self.graph.add_node(Node {
            key: key.clone(),
            first_seq: at.seq,
            first_occurred_at: at.occurred_at,
            facts: Facts::empty(kind),
            tags: Registers::default(),
            flags: BTreeMap::new(),
            redactions: None,
        });
        self.index_node(index);
        if !self.workspaces.contains(&key.workspace) {
            self.workspaces.insert(key.workspace.clone());
        }
        if kind == EntityKind::DatasetVersion {
            self.versions_by_dataset
                .entry((key.workspace.clone(), key.name.clone()))
                .or_default()
                .insert(key.version.clone(), index);
        }
        // An artifact's name says which run logged it, so that edge is known
        // from the first reference, whichever event arrives first.
        if let Some((run_id, _)) = key.artifact_parts() {
            let run = self.ensure_node(at, EntityKey::run(&key.workspace, run_id));
            self.activate_edge(at, (run, index, EdgeKind::Produced));
        }
        index
    }

    /// Adds an edge, or brings a retired one back.
    fn activate_edge(&mut self, at: At, (from, to, kind): EdgeEnds) {
        match self.find_edge((from, to, kind)) {
            Some(index) => {
                let edge = &mut self.graph[index];
                edge.first_occurred_at = edge.first_occurred_at.min(at.occurred_at);
                if !edge.is_active() {
                    edge.reactivate();
                    self.active_edges += 1;
                }
            }
            None => {
                let edge = Edge::new(kind, at.seq, at.occurred_at, None);
                let index = self.graph.add_edge(from, to, edge);
                self.index_edge(index);
                self.active_edges += 1;
            }
        }
    }

    /// Adds, retired, the edges an offer that lost implies and the graph
    /// does not have: no view of the present holds them, but a view as of
    /// an event time before the winner's may pick the lost offer, and its
    /// traversals must find them.
    fn add_dormant_edges(&mut self, at: At, edges: &[EdgeEnds]) {
        for &(from, to, kind) in edges {
            if self.find_edge((from, to, kind)).is_none() {
                let edge = Edge::new(kind, at.seq, at.occurred_at, Some(at.seq));
                let index = self.graph.add_edge(from, to, edge);
                self.index_edge(index);
            }
        }
    }

    /// Settles an offer to a register whose value implies edges: a winner's
    /// edges (`new`) replace those of the value it displaced, a loser's are
    /// kept dormant, and whichever value left the register goes to the
    /// node's history as `wrap` makes it.
    fn settle_owned<T>(
        &mut self,
        at: At,
        node: NodeIndex,
        outcome: Offer<T>,
        new: &[EdgeEnds],
        wrap: fn(Box<Lww<T>>) -> Displaced,
        mut edges_of: impl FnMut(&mut Self, &T) -> Vec<EdgeEnds>,
    ) {
        match outcome {
            Offer::Won(previous) => {
                let old = match &previous {
                    Some(previous) => edges_of(self, &previous.value),
                    None => Vec::new(),
                };
                self.replace_owned_edges(at, &old, new);
                if let Some(previous) = previous {
                    self.displace(node, wrap(Box::new(previous)));
                }
            }
            Offer::Lost(offered) => {
                self.add_dormant_edges(at, new);
                self.displace(node, wrap(Box::new(offered)));
            }
        }
    }

    fn retire_edge(&mut self, seq: u64, ends: EdgeEnds) {
        if let Some(index) = self.find_edge(ends) {
            let edge = &mut self.graph[index];
            if edge.is_active() {
                edge.retire(seq);
                self.active_edges -= 1;
            }
        }
    }

    /// Swaps the edges implied by a replaced fact for those of its successor.
    fn replace_owned_edges(&mut self, at: At, old: &[EdgeEnds], new: &[EdgeEnds]) {
        let keep: BTreeSet<&EdgeEnds> = new.iter().collect();
        for ends in old {
            if !keep.contains(ends) {
                self.retire_edge(at.seq, *ends);
            }
        }
        for ends in new {
            self.activate_edge(at, *ends);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_keeps_its_kind_and_first_sequence_in_one_word() {
        assert_eq!(std::mem::size_of::<Edge>(), 24);
        let time = EventTime::from_unix_nanos(7);
        for kind in EdgeKind::ALL {
            for seq in [0, 1, 715, (1 << 60) - 1] {
                let edge = Edge::new(kind, seq, time, Some(seq));
                assert_eq!((edge.kind(), edge.first_seq()), (kind, seq));
                assert_eq!(edge.retired_seq(), Some(seq));
                assert_eq!(edge.first_occurred_at, time);
            }
        }
    }
}
