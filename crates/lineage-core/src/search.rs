//! `SearchRuns`: the run indexes the projection keeps, and the search that
//! answers from them rather than from a scan of every run.
//!
//! The index ([`RunIndex`], a field of the graph) holds, per workspace,
//! every run that is not a placeholder, under:
//! - what equality terms look up: experiment, status, code version,
//!   compute target, environment (by name, and by name and version),
//!   parent run, and each (parameter key, value) and (tag key, value);
//! - what range terms walk, in order: per metric key the finished runs by
//!   the bucket of their latest value (a running run's metrics move at
//!   every step; a metric term takes the running runs as candidates too,
//!   see [`METRIC_BUCKET_SHIFT`]), and the runs by start and by end time.
//!
//! Runs by the dataset (version) they read are the graph's own indexes;
//! model inputs, produced datasets and `upstream of model` come from the
//! graph's edges. Run names, `!=`, `like` and numeric parameter terms are
//! not indexed: they only check candidates that another term (or, failing
//! all, the workspace's list of runs) supplies.
//!
//! The index holds no string. Equality entries are 64-bit hashes of the
//! (field, key, value) they stand for, and metric values are bucketed:
//! both may admit a run that does not satisfy the term (a collision, a
//! value in the same bucket), never miss one that does, and every
//! candidate is checked against every term anyway. So the index costs a
//! few bytes per entry (about 24 per event at 1 M events of the benchmark
//! workload), and an erased tag value is not kept alive by it.
//!
//! It is kept current by [`LineageGraph::apply`]: before an event that
//! changes a run's indexed facts, the graph notes what the run is indexed
//! under in the part the event can change (its status and end time for a
//! finish, the parameters it names...); after, it takes the same part
//! again and moves the run from the entries that went to those that came.
//! Both come from the run's facts by one function, so removal is exact
//! without a copy of each run's entries in memory. A metrics event of a
//! running run, the most common event, changes nothing indexed and costs
//! one lookup of its run. The index is derived state: not in snapshots,
//! not in the state digest; a decoded snapshot rebuilds it.
//!
//! A search ([`search_runs`]) plans on sizes: each indexed term names its
//! candidate set (a time range counts its range, up to the smallest size
//! so far), the smallest drives, and every other term, the `experiments`
//! of the request and placeholders are checked on each candidate in one
//! pass, which keeps only the page in a bounded heap of `page_size + 1`
//! rows. Pages resume strictly after the last row's sort key and run id,
//! carried by an opaque page token bound to the question that issued it.
//!
//! Search answers "now", not as of an earlier moment.

use std::cmp::Ordering;
use std::collections::btree_map;
use std::collections::btree_set;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::hash::BuildHasher;
use std::ops::Bound;

use hashbrown::hash_map::Entry;
use hashbrown::{DefaultHashBuilder, HashMap};
use petgraph::graph::NodeIndex;

use crate::as_of::AsOf;
use crate::event::{Event, EventTime, Payload, RunStatus};
use crate::filter::{
    Attribute, Comparison, Condition, Filter, FilterError, LineageBounds, TextTest, UpstreamRuns,
    parse_number, run_holds, upstream_runs,
};
use crate::graph::{EdgeKind, Facts, LineageGraph, MetricSeries, Name, Node, RunFacts};
use crate::id::{self, EntityKey, EntityKind, Workspace};
use crate::redaction::PersonalField;

/// The most sort keys one search may name.
pub const MAX_ORDER_KEYS: usize = 8;
/// The most experiments one search may name.
pub const MAX_EXPERIMENTS: usize = 32;
/// The longest page token accepted, in characters: far more than any
/// this service issues (eight values of bounded length and a run id).
const MAX_PAGE_TOKEN_LEN: usize = 256 * 1024;
/// The first byte of every page token this build issues.
const PAGE_TOKEN_VERSION: u8 = 1;

/// Which fact an equality entry of the index stands for; hashed with the
/// fact's key and value.
#[derive(Clone, Copy, Hash)]
enum Field {
    Experiment,
    Status,
    CodeVersion,
    Compute,
    EnvironmentName,
    Environment,
    Parent,
    Param,
    Tag,
}

/// One thing a run is indexed under.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum IndexEntry {
    /// The workspace's list of runs, which searches without an indexed
    /// term walk.
    Run,
    /// The hash of an equality term's (field, key, value).
    Exact(u64),
    /// The hash of a metric's key, and the bucket of its latest value
    /// ([`metric_bucket`]).
    Metric {
        key: u64,
        bucket: u32,
    },
    StartedAt(EventTime),
    EndedAt(EventTime),
}

/// Sorted, distinct runs; one run without an allocation, as most sets
/// keyed by a code version or a parent hold a handful.
#[derive(Clone, Debug)]
enum RunSet {
    One(NodeIndex),
    Many(Vec<NodeIndex>),
}

impl RunSet {
    fn as_slice(&self) -> &[NodeIndex] {
        match self {
            RunSet::One(run) => std::slice::from_ref(run),
            RunSet::Many(runs) => runs,
        }
    }

    fn insert(&mut self, run: NodeIndex) {
        match self {
            RunSet::One(only) if *only == run => {}
            RunSet::One(only) => {
                let only = *only;
                *self = RunSet::Many(if only < run {
                    vec![only, run]
                } else {
                    vec![run, only]
                });
            }
            RunSet::Many(runs) => insert_sorted(runs, run),
        }
    }

    /// Removes the run; returns whether it was there.
    fn remove(&mut self, run: NodeIndex) -> bool {
        match self {
            RunSet::One(only) if *only == run => {
                *self = RunSet::Many(Vec::new());
                true
            }
            RunSet::One(_) => false,
            RunSet::Many(runs) => remove_sorted(runs, run),
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// Inserts into a sorted vector; new runs mostly have the highest index,
/// so this is mostly a push.
fn insert_sorted(runs: &mut Vec<NodeIndex>, run: NodeIndex) {
    match runs.last() {
        None => runs.push(run),
        Some(&last) if last < run => runs.push(run),
        Some(_) => {
            if let Err(at) = runs.binary_search(&run) {
                runs.insert(at, run);
            }
        }
    }
}

fn remove_sorted(runs: &mut Vec<NodeIndex>, run: NodeIndex) -> bool {
    match runs.binary_search(&run) {
        Ok(at) => {
            runs.remove(at);
            true
        }
        Err(_) => false,
    }
}

/// The place of a metric value in the order of `f32`s, as an unsigned
/// integer. Rounding to `f32` never reverses two values' order, so a range
/// of places holds every value of the matching range of `f64`s (and a
/// few more, which the check of each candidate drops).
fn metric_position(value: f64) -> u32 {
    // -0.0 and 0.0 are equal, and must share a place.
    let value = if value == 0.0 { 0.0f32 } else { value as f32 };
    let bits = value.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// Metric values are indexed by bucket, 16 to a power of two (each a
/// sixteenth of the values between 2^n and 2^(n+1)): a set of runs per
/// bucket costs a few bytes per run, where an ordered entry per run would
/// cost several times that. A range term takes the buckets the range
/// touches, whose runs the check of each candidate then sorts out.
///
/// Only finished runs are in buckets. A running run's latest values move
/// at every step (most metrics events are a running run's), and moving it
/// between buckets each time doubled the cost of applying them; so a
/// metric term takes the workspace's running runs (its `STARTED` status
/// set) as candidates besides the buckets, and a run enters the buckets
/// once, when it finishes.
const METRIC_BUCKET_SHIFT: u32 = 19;

/// The bucket of a metric value (see [`METRIC_BUCKET_SHIFT`]).
fn metric_bucket(value: f64) -> u32 {
    metric_position(value) >> METRIC_BUCKET_SHIFT
}

/// One workspace's runs, by what searches ask of them.
#[derive(Debug, Default)]
struct WorkspaceRuns {
    /// Every run that is not a placeholder, by node index.
    runs: Vec<NodeIndex>,
    /// By the hash of (field, key, value).
    exact: HashMap<u64, RunSet>,
    /// By the hash of a metric key: runs by the bucket of their latest
    /// value.
    metrics: HashMap<u64, BTreeMap<u32, RunSet>>,
    started_at: BTreeSet<(EventTime, NodeIndex)>,
    ended_at: BTreeSet<(EventTime, NodeIndex)>,
}

impl WorkspaceRuns {
    fn insert(&mut self, entry: IndexEntry, run: NodeIndex) {
        match entry {
            IndexEntry::Run => insert_sorted(&mut self.runs, run),
            IndexEntry::Exact(hash) => match self.exact.entry(hash) {
                Entry::Occupied(mut set) => set.get_mut().insert(run),
                Entry::Vacant(slot) => {
                    slot.insert(RunSet::One(run));
                }
            },
            IndexEntry::Metric { key, bucket } => {
                match self.metrics.entry(key).or_default().entry(bucket) {
                    btree_map::Entry::Occupied(mut set) => set.get_mut().insert(run),
                    btree_map::Entry::Vacant(slot) => {
                        slot.insert(RunSet::One(run));
                    }
                }
            }
            IndexEntry::StartedAt(time) => {
                self.started_at.insert((time, run));
            }
            IndexEntry::EndedAt(time) => {
                self.ended_at.insert((time, run));
            }
        }
    }

    /// Removes the run from the entry; returns whether it was there.
    fn remove(&mut self, entry: IndexEntry, run: NodeIndex) -> bool {
        match entry {
            IndexEntry::Run => remove_sorted(&mut self.runs, run),
            IndexEntry::Exact(hash) => {
                let Some(set) = self.exact.get_mut(&hash) else {
                    return false;
                };
                let removed = set.remove(run);
                if set.is_empty() {
                    self.exact.remove(&hash);
                }
                removed
            }
            IndexEntry::Metric { key, bucket } => {
                let Some(buckets) = self.metrics.get_mut(&key) else {
                    return false;
                };
                let Some(set) = buckets.get_mut(&bucket) else {
                    return false;
                };
                let removed = set.remove(run);
                if set.is_empty() {
                    buckets.remove(&bucket);
                    if buckets.is_empty() {
                        self.metrics.remove(&key);
                    }
                }
                removed
            }
            IndexEntry::StartedAt(time) => self.started_at.remove(&(time, run)),
            IndexEntry::EndedAt(time) => self.ended_at.remove(&(time, run)),
        }
    }

    fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.exact.is_empty()
            && self.metrics.is_empty()
            && self.started_at.is_empty()
            && self.ended_at.is_empty()
    }

    fn exact(&self, hash: u64) -> &[NodeIndex] {
        self.exact.get(&hash).map_or(&[], RunSet::as_slice)
    }
}

/// The runs of every workspace by what searches ask of them; see the
/// module's documentation.
#[derive(Debug, Default)]
pub(crate) struct RunIndex {
    /// Hashes equality entries and metric keys; the same for the index's
    /// whole life (it is never stored, so it need not be stable across
    /// processes).
    hasher: DefaultHashBuilder,
    workspaces: HashMap<Workspace, WorkspaceRuns>,
}

/// The part of a run an event can change, so that re-indexing takes only
/// that part: a metrics event, the most common, touches only its metrics.
/// Keys are sorted and distinct.
#[derive(Debug)]
enum Scope<'e> {
    Whole,
    /// What a run's end changes once it has started: its status, its end
    /// time, and its metrics (which enter their buckets).
    Finish,
    Params(Vec<&'e str>),
    Tags(Vec<&'e str>),
    Metrics(Vec<&'e str>),
}

/// What a run is indexed under, in one part.
#[derive(Debug, PartialEq)]
enum Entries {
    /// Everything, in no order.
    Whole(Vec<IndexEntry>),
    /// One per key of the scope, in its order; `None` where the run has
    /// no value for the key.
    Keyed(Vec<Option<IndexEntry>>),
}

/// What the run an event is about was indexed under, in the part the
/// event can change, before the graph applied it.
#[derive(Debug)]
pub(crate) struct RunEntriesBefore<'e> {
    /// The run, to find it after the event when it did not exist before.
    key: EntityKey,
    /// The run, if it existed before the event.
    run: Option<NodeIndex>,
    scope: Scope<'e>,
    entries: Entries,
}

/// Sorted, distinct keys.
fn sorted_keys<'e>(keys: impl Iterator<Item = &'e str>) -> Vec<&'e str> {
    let mut keys: Vec<&str> = keys.collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Which part of a run an event can change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    Whole,
    Finish,
    Params,
    Tags,
    Metrics,
}

/// The run an event changes indexed facts of, and which part.
fn indexed_part_of(event: &Event) -> Option<(EntityKey, Part)> {
    let ws = &event.workspace;
    Some(match &event.payload {
        Payload::RunStarted(started) => (EntityKey::run(ws, &started.run_id), Part::Whole),
        Payload::RunFinished(finished) => (EntityKey::run(ws, &finished.run_id), Part::Finish),
        Payload::ParamsLogged(logged) => (EntityKey::run(ws, &logged.run_id), Part::Params),
        Payload::MetricsLogged(logged) => (EntityKey::run(ws, &logged.run_id), Part::Metrics),
        Payload::TagsSet(set) if set.entity.kind == EntityKind::Run => {
            (set.entity.clone(), Part::Tags)
        }
        Payload::RedactionRequested(requested)
            if requested.entity.kind == EntityKind::Run
                && requested
                    .fields
                    .iter()
                    .any(|field| matches!(field, PersonalField::Tag(_))) =>
        {
            (requested.entity.clone(), Part::Tags)
        }
        _ => return None,
    })
}

/// The keys of `part` an event names.
fn scope_of(event: &Event, part: Part) -> Scope<'_> {
    match (&event.payload, part) {
        (Payload::ParamsLogged(logged), Part::Params) => {
            Scope::Params(sorted_keys(logged.params.keys().map(String::as_str)))
        }
        (Payload::MetricsLogged(logged), Part::Metrics) => {
            Scope::Metrics(sorted_keys(logged.metrics.iter().map(|p| p.key.as_str())))
        }
        (Payload::TagsSet(set), Part::Tags) => {
            Scope::Tags(sorted_keys(set.tags.keys().map(String::as_str)))
        }
        (Payload::RedactionRequested(requested), Part::Tags) => Scope::Tags(sorted_keys(
            requested.fields.iter().filter_map(|field| match field {
                PersonalField::Tag(key) => Some(key.as_str()),
                _ => None,
            }),
        )),
        (_, Part::Finish) => Scope::Finish,
        _ => Scope::Whole,
    }
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Started => "STARTED",
        RunStatus::Completed => "COMPLETED",
        RunStatus::Failed => "FAILED",
        RunStatus::Canceled => "CANCELED",
    }
}

impl RunIndex {
    fn exact(&self, field: Field, key: &str, value: &str) -> u64 {
        self.hasher.hash_one((field, key, value))
    }

    fn metric_key(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// What a run is indexed under, in the part `scope` names: nothing
    /// for a placeholder (or a run not there yet), which no search returns.
    fn entries(&self, node: Option<&Node>, scope: &Scope<'_>) -> Entries {
        let facts = match node {
            Some(node) if !node.is_placeholder() => match &node.facts {
                Facts::Run(facts) => Some((node, facts)),
                _ => None,
            },
            _ => None,
        };
        let keyed = |keys: &[&str]| -> Vec<Option<IndexEntry>> { vec![None; keys.len()] };
        let Some((node, facts)) = facts else {
            return match scope {
                Scope::Whole | Scope::Finish => Entries::Whole(Vec::new()),
                Scope::Params(keys) | Scope::Tags(keys) | Scope::Metrics(keys) => {
                    Entries::Keyed(keyed(keys))
                }
            };
        };
        let finished = facts.finished.is_some();
        let param =
            |key: &str, value: &Name| IndexEntry::Exact(self.exact(Field::Param, key, value));
        let tag = |key: &str, value: &Name| IndexEntry::Exact(self.exact(Field::Tag, key, value));
        let metric = |series: &MetricSeries| IndexEntry::Metric {
            key: self.metric_key(series.key()),
            bucket: metric_bucket(series.latest().value),
        };
        match scope {
            Scope::Params(keys) => Entries::Keyed(
                keys.iter()
                    .map(|key| facts.params.get(key).map(|value| param(key, &value.value)))
                    .collect(),
            ),
            Scope::Tags(keys) => Entries::Keyed(
                keys.iter()
                    .map(|key| node.tags.get(key).map(|value| tag(key, &value.value)))
                    .collect(),
            ),
            // A running run's metrics are not in buckets (see
            // `METRIC_BUCKET_SHIFT`): nothing to walk.
            Scope::Metrics(keys) if !finished => Entries::Keyed(keyed(keys)),
            Scope::Metrics(keys) => {
                // Both sorted by key: one merge, rather than a search per
                // key (twice per metrics event).
                let mut series = facts.metrics().map(|(_, series)| series).peekable();
                Entries::Keyed(
                    keys.iter()
                        .map(|&key| {
                            while series.next_if(|series| series.key() < key).is_some() {}
                            series.next_if(|series| series.key() == key).map(metric)
                        })
                        .collect(),
                )
            }
            Scope::Finish => {
                let mut out = Vec::with_capacity(2 + facts.metrics.len());
                self.finish_entries(facts, &mut out);
                Entries::Whole(out)
            }
            Scope::Whole => {
                let mut out = vec![IndexEntry::Run];
                self.finish_entries(facts, &mut out);
                if let Some(started) = &facts.started {
                    out.push(IndexEntry::StartedAt(started.stamp.occurred_at));
                    let start = &started.value;
                    let mut exact = |field, key: &str, value: &str| {
                        out.push(IndexEntry::Exact(self.exact(field, key, value)));
                    };
                    if let Some(experiment) = &start.experiment {
                        exact(Field::Experiment, experiment, "");
                    }
                    exact(Field::CodeVersion, &start.code_version, "");
                    if let Some(compute) = &start.compute_target {
                        exact(Field::Compute, compute, "");
                    }
                    if let Some(environment) = &start.environment {
                        exact(Field::EnvironmentName, &environment.name, "");
                        exact(Field::Environment, &environment.name, &environment.version);
                    }
                    if let Some(parent) = &start.parent_run_id {
                        exact(Field::Parent, parent, "");
                    }
                }
                out.extend(
                    facts
                        .params
                        .iter()
                        .map(|(key, value)| param(key, &value.value)),
                );
                out.extend(node.tags.iter().map(|(key, value)| tag(key, &value.value)));
                Entries::Whole(out)
            }
        }
    }

    /// The entries of [`Scope::Finish`]: status, end time, and the
    /// metrics of a finished run.
    fn finish_entries(&self, facts: &RunFacts, out: &mut Vec<IndexEntry>) {
        if let Some(status) = facts.status() {
            let hash = self.exact(Field::Status, status_name(status), "");
            out.push(IndexEntry::Exact(hash));
        }
        if let Some(finished) = &facts.finished {
            out.push(IndexEntry::EndedAt(finished.stamp.occurred_at));
            out.extend(facts.metrics().map(|(key, series)| IndexEntry::Metric {
                key: self.metric_key(key),
                bucket: metric_bucket(series.latest().value),
            }));
        }
    }

    /// Moves `run` from the entries it left to those it gained: those in
    /// `before` and not in `after`, and the other way round.
    fn update(&mut self, workspace: &Workspace, run: NodeIndex, before: Entries, after: Entries) {
        if before == after {
            return;
        }
        let (left, gained) = match (before, after) {
            (Entries::Keyed(before), Entries::Keyed(after)) => {
                // Aligned by key: only the keys whose entry changed count,
                // each checked against the whole other side (two keys may,
                // however unlikely, hash alike).
                let mut left = Vec::new();
                let mut gained = Vec::new();
                for (old, new) in before.iter().zip(&after) {
                    if old == new {
                        continue;
                    }
                    if let Some(old) = old
                        && !after.contains(&Some(*old))
                    {
                        left.push(*old);
                    }
                    if let Some(new) = new
                        && !before.contains(&Some(*new))
                    {
                        gained.push(*new);
                    }
                }
                (left, gained)
            }
            // A run entering the index (its start, mostly) has nothing to
            // leave; its entries may repeat, which inserting ignores.
            (Entries::Whole(before), Entries::Whole(after)) if before.is_empty() => (before, after),
            (Entries::Whole(mut before), Entries::Whole(mut after)) => {
                before.sort_unstable();
                before.dedup();
                after.sort_unstable();
                after.dedup();
                let left = before
                    .iter()
                    .filter(|entry| after.binary_search(entry).is_err())
                    .copied()
                    .collect();
                let gained = after
                    .iter()
                    .filter(|entry| before.binary_search(entry).is_err())
                    .copied()
                    .collect();
                (left, gained)
            }
            _ => unreachable!("both sides are taken in the same scope"),
        };
        let runs = self.workspaces.entry(workspace.clone()).or_default();
        for entry in left {
            let removed = runs.remove(entry, run);
            debug_assert!(removed, "{entry:?} of {run:?} was indexed");
        }
        for entry in gained {
            runs.insert(entry, run);
        }
        if runs.is_empty() {
            self.workspaces.remove(workspace);
        }
    }
}

impl LineageGraph {
    /// What the run `event` is about is indexed under, in the part the
    /// event can change, taken before the graph applies it; `None` for an
    /// event that changes no indexed fact of a run.
    pub(crate) fn run_entries_before<'e>(&self, event: &'e Event) -> Option<RunEntriesBefore<'e>> {
        let (key, mut part) = indexed_part_of(event)?;
        let run = self.find(&key);
        let indexed = run
            .map(|run| &self.graph[run])
            .is_some_and(|node| !node.is_placeholder());
        if part == Part::Finish && !indexed {
            // Its end makes a placeholder a run: all of it enters.
            part = Part::Whole;
        }
        if !matches!(part, Part::Whole | Part::Finish) {
            // Only a run's start or end makes it more than a placeholder,
            // and only its end puts its metrics in the index: no other
            // event changes what a run is indexed under while it is not
            // there, a placeholder, or (for its metrics) still running.
            // Most events are metrics of a running run: this is their
            // whole cost.
            let node = &self.graph[run?];
            let Facts::Run(facts) = &node.facts else {
                return None;
            };
            if node.is_placeholder() || (part == Part::Metrics && facts.finished.is_none()) {
                return None;
            }
        }
        let scope = scope_of(event, part);
        let entries = self
            .run_index
            .entries(run.map(|run| &self.graph[run]), &scope);
        Some(RunEntriesBefore {
            key,
            run,
            scope,
            entries,
        })
    }

    /// Re-indexes the run an event changed, once the graph applied it:
    /// from the entries noted before ([`Self::run_entries_before`]) to
    /// those of the run now.
    pub(crate) fn reindex_run_touched_by(&mut self, before: Option<RunEntriesBefore<'_>>) {
        let Some(before) = before else {
            return;
        };
        let Some(run) = before.run.or_else(|| self.find(&before.key)) else {
            return;
        };
        let node = &self.graph[run];
        let after = self.run_index.entries(Some(node), &before.scope);
        let workspace = node.key.workspace.clone();
        self.run_index
            .update(&workspace, run, before.entries, after);
    }

    /// Builds the run index from the nodes (after a snapshot is decoded).
    /// Runs come in index order, so every set grows at its end; the time
    /// orders are built in bulk, packed tighter than those grown one event
    /// at a time.
    pub(crate) fn rebuild_run_index(&mut self) {
        #[derive(Default)]
        struct Staged {
            started_at: Vec<(EventTime, NodeIndex)>,
            ended_at: Vec<(EventTime, NodeIndex)>,
        }
        let mut index = RunIndex {
            hasher: std::mem::take(&mut self.run_index.hasher),
            workspaces: HashMap::new(),
        };
        let mut staged: HashMap<Workspace, Staged> = HashMap::new();
        for run in self.graph.node_indices() {
            let node = &self.graph[run];
            if node.key.kind != EntityKind::Run {
                continue;
            }
            let Entries::Whole(entries) = index.entries(Some(node), &Scope::Whole) else {
                unreachable!("the whole run is taken whole");
            };
            if entries.is_empty() {
                continue;
            }
            let workspace = &node.key.workspace;
            let runs = index.workspaces.entry(workspace.clone()).or_default();
            let staged = staged.entry(workspace.clone()).or_default();
            for entry in entries {
                match entry {
                    IndexEntry::StartedAt(time) => staged.started_at.push((time, run)),
                    IndexEntry::EndedAt(time) => staged.ended_at.push((time, run)),
                    IndexEntry::Run | IndexEntry::Exact(_) | IndexEntry::Metric { .. } => {
                        runs.insert(entry, run)
                    }
                }
            }
        }
        for (workspace, staged) in staged {
            let runs = index.workspaces.entry(workspace).or_default();
            runs.started_at = staged.started_at.into_iter().collect();
            runs.ended_at = staged.ended_at.into_iter().collect();
        }
        self.run_index = index;
    }
}

/// What a search orders by.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum OrderField {
    /// The latest value.
    Metric(String),
    /// As numbers when the values are numbers, else as strings; numbers
    /// come before strings.
    Param(String),
    Tag(String),
    StartedAt,
    EndedAt,
    /// The run's name.
    Name,
    RunId,
}

/// One sort key of a search.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrderKey {
    pub field: OrderField,
    pub descending: bool,
}

impl OrderKey {
    /// Reads `metrics.<key>`, `params.<key>`, `tags.<key>` (a bare key or
    /// a backquoted one), `started_at`, `ended_at`, `name` or `run_id`,
    /// optionally followed by `ASC` or `DESC` (any case).
    pub fn parse(text: &str) -> Result<OrderKey, String> {
        let text = text.trim();
        let (subject, descending) = match text.rsplit_once(char::is_whitespace) {
            Some((subject, direction)) if direction.eq_ignore_ascii_case("desc") => {
                (subject.trim_end(), true)
            }
            Some((subject, direction)) if direction.eq_ignore_ascii_case("asc") => {
                (subject.trim_end(), false)
            }
            _ => (text, false),
        };
        const EXPECTED: &str = "expected metrics.<key>, params.<key>, tags.<key>, started_at, \
                                ended_at, name or run_id, then ASC or DESC";
        if subject.is_empty() {
            return Err(format!("is empty: {EXPECTED}"));
        }
        let field = match subject.to_ascii_lowercase().as_str() {
            "started_at" => OrderField::StartedAt,
            "ended_at" => OrderField::EndedAt,
            "name" => OrderField::Name,
            "run_id" => OrderField::RunId,
            _ => {
                let Some((head, key)) = subject.split_once('.') else {
                    return Err(format!("'{subject}' is not a sort key: {EXPECTED}"));
                };
                let key = match key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
                    Some(quoted) => quoted,
                    None if key.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
                    }) =>
                    {
                        key
                    }
                    None => {
                        return Err(format!(
                            "'{key}' is not a key: write it bare ([A-Za-z0-9_.-/]) \
                             or in backquotes"
                        ));
                    }
                };
                id::check_key(key).map_err(|e| format!("the key '{key}' {e}"))?;
                match head.to_ascii_lowercase().as_str() {
                    "metrics" | "metric" => OrderField::Metric(key.to_owned()),
                    "params" | "param" => OrderField::Param(key.to_owned()),
                    "tags" | "tag" => OrderField::Tag(key.to_owned()),
                    _ => return Err(format!("'{subject}' is not a sort key: {EXPECTED}")),
                }
            }
        };
        Ok(OrderKey { field, descending })
    }
}

/// Why a search request cannot be answered as asked; the client must fix
/// the field [`SearchError::field`] names. Retrying as is fails the same
/// way.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SearchError {
    /// The filter does not parse, or holds a promotion-only term.
    #[error("filter: {0}")]
    Filter(FilterError),
    /// A sort key is not one, or there are too many.
    #[error("{}: {message}", order_by_field(*index))]
    OrderBy {
        /// The key's position, `None` when the list itself is at fault.
        index: Option<usize>,
        message: String,
    },
    /// An experiment name is not one, or there are too many.
    #[error("{}: {message}", experiments_field(*index))]
    Experiments {
        index: Option<usize>,
        message: String,
    },
    /// The page token was not issued by this service, or was issued for
    /// another question (workspace, experiments, filter or order).
    #[error("page_token: {0}")]
    PageToken(String),
}

fn order_by_field(index: Option<usize>) -> String {
    index.map_or_else(|| "order_by".into(), |i| format!("order_by[{i}]"))
}

fn experiments_field(index: Option<usize>) -> String {
    index.map_or_else(|| "experiments".into(), |i| format!("experiments[{i}]"))
}

impl SearchError {
    /// The request field at fault, as a client names it (`filter`,
    /// `order_by[1]`, `page_token`...).
    pub fn field(&self) -> String {
        match self {
            SearchError::Filter(_) => "filter".into(),
            SearchError::OrderBy { index, .. } => order_by_field(*index),
            SearchError::Experiments { index, .. } => experiments_field(*index),
            SearchError::PageToken(_) => "page_token".into(),
        }
    }

    /// What is wrong with it.
    pub fn reason(&self) -> String {
        match self {
            SearchError::Filter(error) => error.to_string(),
            SearchError::OrderBy { message, .. }
            | SearchError::Experiments { message, .. }
            | SearchError::PageToken(message) => message.clone(),
        }
    }
}

/// A validated search: what [`search_runs`] answers.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    workspace: Workspace,
    /// Sorted and distinct; empty means every experiment.
    experiments: Vec<String>,
    filter: Filter,
    order_by: Vec<OrderKey>,
    page_size: usize,
    /// Where the previous page ended.
    after: Option<Position>,
    /// Binds page tokens to the question that issued them.
    fingerprint: [u8; 8],
    lineage_bounds: LineageBounds,
}

impl SearchQuery {
    /// Checks and parses a request: at most [`MAX_EXPERIMENTS`] valid
    /// experiment names, a search filter, at most [`MAX_ORDER_KEYS`]
    /// sort keys, and a page token this service issued for the same
    /// question (empty for the first page). `page_size` is the caller's
    /// to bound; at least one row is returned per page.
    pub fn new(
        workspace: Workspace,
        experiments: &[String],
        filter: &str,
        order_by: &[String],
        page_size: usize,
        page_token: &str,
    ) -> Result<SearchQuery, SearchError> {
        if experiments.len() > MAX_EXPERIMENTS {
            return Err(SearchError::Experiments {
                index: None,
                message: format!(
                    "lists {} experiments, the limit is {MAX_EXPERIMENTS}",
                    experiments.len()
                ),
            });
        }
        for (index, experiment) in experiments.iter().enumerate() {
            id::check_name(experiment).map_err(|e| SearchError::Experiments {
                index: Some(index),
                message: format!("'{experiment}' {e}"),
            })?;
        }
        let mut experiments = experiments.to_vec();
        experiments.sort_unstable();
        experiments.dedup();
        let filter = Filter::parse_search(filter).map_err(SearchError::Filter)?;
        if order_by.len() > MAX_ORDER_KEYS {
            return Err(SearchError::OrderBy {
                index: None,
                message: format!(
                    "names {} sort keys, the limit is {MAX_ORDER_KEYS}",
                    order_by.len()
                ),
            });
        }
        let order_by = order_by
            .iter()
            .enumerate()
            .map(|(index, text)| {
                OrderKey::parse(text).map_err(|message| SearchError::OrderBy {
                    index: Some(index),
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut query = SearchQuery {
            workspace,
            experiments,
            filter,
            order_by,
            page_size: page_size.max(1),
            after: None,
            fingerprint: [0; 8],
            lineage_bounds: LineageBounds::default(),
        };
        query.fingerprint = query.compute_fingerprint();
        if !page_token.is_empty() {
            query.after = Some(query.decode_page_token(page_token)?);
        }
        Ok(query)
    }

    /// How far `upstream of model` walks (the default is the service's
    /// default traversal).
    pub fn with_lineage_bounds(mut self, bounds: LineageBounds) -> Self {
        self.lineage_bounds = bounds;
        self
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    pub fn order_by(&self) -> &[OrderKey] {
        &self.order_by
    }

    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Whether answering may walk the lineage graph (`upstream of model`),
    /// whose cost the candidate count does not bound.
    pub fn walks_lineage(&self) -> bool {
        self.filter
            .terms
            .iter()
            .any(|term| matches!(term.condition, Condition::UpstreamOfModel { .. }))
    }

    fn compute_fingerprint(&self) -> [u8; 8] {
        let conditions: Vec<&Condition> = self
            .filter
            .terms
            .iter()
            .map(|term| &term.condition)
            .collect();
        let canonical = format!(
            "{}\0{:?}\0{:?}\0{:?}",
            self.workspace, self.experiments, conditions, self.order_by
        );
        let hash = blake3::hash(canonical.as_bytes());
        let mut fingerprint = [0; 8];
        fingerprint.copy_from_slice(&hash.as_bytes()[..8]);
        fingerprint
    }

    /// The token of a page that ended at `row`.
    fn page_token(&self, row: &Row<'_>) -> String {
        let mut bytes = vec![PAGE_TOKEN_VERSION];
        bytes.extend_from_slice(&self.fingerprint);
        bytes.push(row.values.len() as u8);
        for value in &row.values {
            match value {
                None => bytes.push(0),
                Some(SortValue::Number(number)) => {
                    bytes.push(1);
                    bytes.extend_from_slice(&number.to_bits().to_le_bytes());
                }
                Some(SortValue::Text(text)) => {
                    bytes.push(2);
                    bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
                    bytes.extend_from_slice(text.as_bytes());
                }
                Some(SortValue::Time(time)) => {
                    bytes.push(3);
                    bytes.extend_from_slice(&time.unix_nanos().to_le_bytes());
                }
            }
        }
        bytes.extend_from_slice(&(row.run_id.len() as u32).to_le_bytes());
        bytes.extend_from_slice(row.run_id.as_bytes());
        hex(&bytes)
    }

    /// Reads a page token back, checking that it is one of this question's.
    fn decode_page_token(&self, token: &str) -> Result<Position, SearchError> {
        let foreign = || SearchError::PageToken("is not a token this service issued".into());
        if token.len() > MAX_PAGE_TOKEN_LEN {
            return Err(foreign());
        }
        let bytes = unhex(token).ok_or_else(foreign)?;
        let mut reader = TokenReader { bytes: &bytes };
        if reader.byte()? != PAGE_TOKEN_VERSION {
            return Err(foreign());
        }
        if reader.take(8)? != self.fingerprint {
            return Err(SearchError::PageToken(
                "was issued for another question: send the workspace, experiments, filter \
                 and order_by of the first page with it"
                    .into(),
            ));
        }
        let count = usize::from(reader.byte()?);
        if count != self.order_by.len() {
            return Err(foreign());
        }
        let mut values = Vec::with_capacity(count);
        for key in &self.order_by {
            let value = match reader.byte()? {
                0 => None,
                1 => Some(OwnedSortValue::Number(f64::from_bits(u64::from_le_bytes(
                    reader.array()?,
                )))),
                2 => {
                    let len = u32::from_le_bytes(reader.array()?) as usize;
                    let text = std::str::from_utf8(reader.take(len)?).map_err(|_| foreign())?;
                    Some(OwnedSortValue::Text(text.to_owned()))
                }
                3 => Some(OwnedSortValue::Time(EventTime::from_unix_nanos(
                    i64::from_le_bytes(reader.array()?),
                ))),
                _ => return Err(foreign()),
            };
            // Each key has values of one kind (parameters: of two).
            let fits = matches!(
                (&key.field, &value),
                (_, None)
                    | (OrderField::Metric(_), Some(OwnedSortValue::Number(_)))
                    | (
                        OrderField::Param(_),
                        Some(OwnedSortValue::Number(_) | OwnedSortValue::Text(_))
                    )
                    | (
                        OrderField::Tag(_) | OrderField::Name | OrderField::RunId,
                        Some(OwnedSortValue::Text(_))
                    )
                    | (
                        OrderField::StartedAt | OrderField::EndedAt,
                        Some(OwnedSortValue::Time(_))
                    )
            );
            if !fits {
                return Err(foreign());
            }
            values.push(value);
        }
        let len = u32::from_le_bytes(reader.array()?) as usize;
        let run_id = std::str::from_utf8(reader.take(len)?).map_err(|_| foreign())?;
        if !reader.bytes.is_empty() || id::check_run_id(run_id).is_err() {
            return Err(foreign());
        }
        Ok(Position {
            values,
            run_id: run_id.to_owned(),
        })
    }
}

/// Reads a page token's bytes; running out is a foreign token.
struct TokenReader<'a> {
    bytes: &'a [u8],
}

impl<'a> TokenReader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SearchError> {
        if len > self.bytes.len() {
            return Err(SearchError::PageToken(
                "is not a token this service issued".into(),
            ));
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, SearchError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SearchError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xF)]));
    }
    text
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A value a run is sorted by, borrowed from the graph.
#[derive(Clone, Copy, PartialEq, Debug)]
enum SortValue<'a> {
    Number(f64),
    Text(&'a str),
    Time(EventTime),
}

impl SortValue<'_> {
    /// Numbers before strings before times (only parameters mix kinds).
    fn rank(&self) -> u8 {
        match self {
            SortValue::Number(_) => 0,
            SortValue::Text(_) => 1,
            SortValue::Time(_) => 2,
        }
    }

    fn compare(&self, other: &SortValue<'_>) -> Ordering {
        match (self, other) {
            (SortValue::Number(a), SortValue::Number(b)) => a.total_cmp(b),
            (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
            (SortValue::Time(a), SortValue::Time(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// A sort value read back from a page token.
#[derive(Clone, PartialEq, Debug)]
enum OwnedSortValue {
    Number(f64),
    Text(String),
    Time(EventTime),
}

impl OwnedSortValue {
    fn borrowed(&self) -> SortValue<'_> {
        match self {
            OwnedSortValue::Number(number) => SortValue::Number(*number),
            OwnedSortValue::Text(text) => SortValue::Text(text),
            OwnedSortValue::Time(time) => SortValue::Time(*time),
        }
    }
}

/// Where a page ended: the last row's sort values and run id.
#[derive(Clone, PartialEq, Debug)]
struct Position {
    values: Vec<Option<OwnedSortValue>>,
    run_id: String,
}

/// Compares two rows' sort values key by key (a run without the key
/// last, whatever the direction), then their run ids.
fn compare_rows<'a>(
    order_by: &[OrderKey],
    a: impl Iterator<Item = Option<SortValue<'a>>>,
    a_run_id: &str,
    b: impl Iterator<Item = Option<SortValue<'a>>>,
    b_run_id: &str,
) -> Ordering {
    for ((key, a), b) in order_by.iter().zip(a).zip(b) {
        let ordering = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) if key.descending => b.compare(&a),
            (Some(a), Some(b)) => a.compare(&b),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a_run_id.cmp(b_run_id)
}

/// One matching run with what it sorts by.
#[derive(Debug)]
struct Row<'g> {
    values: Vec<Option<SortValue<'g>>>,
    run_id: &'g str,
    run: NodeIndex,
}

/// A row in the page heap, ordered by the search's keys (the heap's
/// greatest is the row that leaves first when the page is full).
#[derive(Debug)]
struct Ranked<'g, 'q> {
    row: Row<'g>,
    order_by: &'q [OrderKey],
}

impl Ranked<'_, '_> {
    fn compare(&self, other: &Self) -> Ordering {
        compare_rows(
            self.order_by,
            self.row.values.iter().copied(),
            self.row.run_id,
            other.row.values.iter().copied(),
            other.row.run_id,
        )
    }
}

impl PartialEq for Ranked<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

impl Eq for Ranked<'_, '_> {}

impl PartialOrd for Ranked<'_, '_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_, '_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.compare(other)
    }
}

/// The sort values of a run.
fn sort_row<'g>(node: &'g Node, run: NodeIndex, order_by: &[OrderKey]) -> Row<'g> {
    let values = order_by
        .iter()
        .map(|key| {
            let Facts::Run(facts) = &node.facts else {
                return None;
            };
            match &key.field {
                OrderField::Metric(key) => facts
                    .metric(key)
                    .map(|series| SortValue::Number(series.latest().value)),
                OrderField::Param(key) => facts.params.get(key).map(|param| {
                    let text: &'g str = param.value.as_str();
                    parse_number(text).map_or(SortValue::Text(text), SortValue::Number)
                }),
                OrderField::Tag(key) => node
                    .tags
                    .get(key)
                    .map(|tag| SortValue::Text(tag.value.as_str())),
                OrderField::StartedAt => facts
                    .started
                    .as_ref()
                    .map(|started| SortValue::Time(started.stamp.occurred_at)),
                OrderField::EndedAt => facts
                    .finished
                    .as_ref()
                    .map(|finished| SortValue::Time(finished.stamp.occurred_at)),
                OrderField::Name => facts
                    .started
                    .as_ref()
                    .map(|started| SortValue::Text(started.value.name.as_str())),
                OrderField::RunId => Some(SortValue::Text(node.key.name.as_str())),
            }
        })
        .collect();
    Row {
        values,
        run_id: node.key.name.as_str(),
        run,
    }
}

/// One page of a search.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SearchPage {
    /// The runs, in the search's order.
    pub runs: Vec<NodeIndex>,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
    /// How many runs were examined: the candidates of the filter's most
    /// selective indexed term (or of the workspace, without one).
    pub candidates: u64,
    /// An `upstream of model` walk was cut by its bounds: runs beyond
    /// them are missing from the answer.
    pub lineage_truncated: bool,
}

/// Where a search's candidates come from.
enum Candidates<'g> {
    /// Disjoint sorted sets.
    Sets(Vec<&'g [NodeIndex]>),
    /// A range of a metric's buckets, and the runs still running, whose
    /// metrics are not in buckets yet.
    Metric {
        buckets: btree_map::Range<'g, u32, RunSet>,
        running: &'g [NodeIndex],
    },
    /// A range of runs by start or end time.
    Times(btree_set::Range<'g, (EventTime, NodeIndex)>),
    /// Runs by run id (the runs-by-dataset indexes).
    ByRunId(&'g BTreeMap<Name, NodeIndex>),
    /// Runs found in the graph's edges.
    Nodes(Vec<NodeIndex>),
}

impl Candidates<'_> {
    /// The number of candidates, counted up to `cap` for a time range
    /// (whose size a B-tree does not keep).
    fn size(&self, cap: usize) -> usize {
        match self {
            Candidates::Sets(sets) => sets.iter().map(|set| set.len()).sum(),
            Candidates::Metric { buckets, running } => {
                running.len()
                    + buckets
                        .clone()
                        .map(|(_, set)| set.as_slice().len())
                        .sum::<usize>()
            }
            Candidates::Times(range) => range.clone().take(cap.saturating_add(1)).count(),
            Candidates::ByRunId(runs) => runs.len(),
            Candidates::Nodes(nodes) => nodes.len(),
        }
    }
}

/// The two ends of a range of runs by time.
type TimeRange = (Bound<(EventTime, NodeIndex)>, Bound<(EventTime, NodeIndex)>);

/// The range of `(time, run)` entries whose time compares to `at` as
/// `comparison` says (`None`: all of them).
fn time_range(comparison: Comparison, at: EventTime) -> Option<TimeRange> {
    let (first_run, last_run) = (NodeIndex::new(0), NodeIndex::end());
    Some(match comparison {
        Comparison::Equal => (
            Bound::Included((at, first_run)),
            Bound::Included((at, last_run)),
        ),
        Comparison::Less => (Bound::Unbounded, Bound::Excluded((at, first_run))),
        Comparison::LessOrEqual => (Bound::Unbounded, Bound::Included((at, last_run))),
        Comparison::Greater => (Bound::Excluded((at, last_run)), Bound::Unbounded),
        Comparison::GreaterOrEqual => (Bound::Included((at, first_run)), Bound::Unbounded),
        Comparison::NotEqual => return None,
    })
}

/// A search as it runs: the graph, the workspace's index and the walks
/// its lineage terms took.
struct Search<'g, 'q> {
    graph: &'g LineageGraph,
    view: AsOf<'g>,
    runs: &'g WorkspaceRuns,
    index: &'g RunIndex,
    query: &'q SearchQuery,
    /// Per term, the runs of its `upstream of model` walk.
    upstream: Vec<Option<UpstreamRuns>>,
}

impl<'g> Search<'g, '_> {
    /// The candidates a term names from the indexes, if it is indexed.
    fn candidates_of(&self, condition: &Condition) -> Option<Candidates<'g>> {
        let index = self.index;
        let runs = self.runs;
        let exact = |field, key: &str, value: &str| {
            Candidates::Sets(vec![runs.exact(index.exact(field, key, value))])
        };
        Some(match condition {
            Condition::Metric {
                key,
                comparison,
                value,
            } => {
                let started = index.exact(Field::Status, status_name(RunStatus::Started), "");
                let running = runs.exact(started);
                let Some(buckets) = runs.metrics.get(&index.metric_key(key)) else {
                    return Some(Candidates::Sets(vec![running]));
                };
                // The bucket of the value itself holds values on both sides
                // of it: every range includes it.
                let bucket = metric_bucket(*value);
                let buckets = match comparison {
                    Comparison::Equal => buckets.range(bucket..=bucket),
                    Comparison::Less | Comparison::LessOrEqual => buckets.range(..=bucket),
                    Comparison::Greater | Comparison::GreaterOrEqual => buckets.range(bucket..),
                    Comparison::NotEqual => buckets.range(..),
                };
                Candidates::Metric { buckets, running }
            }
            Condition::Param {
                key,
                test: TextTest::Equal(value),
            } => exact(Field::Param, key, value),
            Condition::Tag {
                key,
                test: TextTest::Equal(value),
            } => exact(Field::Tag, key, value),
            Condition::Status { equal, status } => {
                let statuses = [
                    RunStatus::Started,
                    RunStatus::Completed,
                    RunStatus::Failed,
                    RunStatus::Canceled,
                ];
                let mut hashes: Vec<u64> = statuses
                    .into_iter()
                    .filter(|candidate| (candidate == status) == *equal)
                    .map(|status| index.exact(Field::Status, status_name(status), ""))
                    .collect();
                hashes.sort_unstable();
                hashes.dedup();
                Candidates::Sets(hashes.into_iter().map(|hash| runs.exact(hash)).collect())
            }
            Condition::StartedAt { comparison, time } | Condition::EndedAt { comparison, time } => {
                let set = match condition {
                    Condition::StartedAt { .. } => &runs.started_at,
                    _ => &runs.ended_at,
                };
                Candidates::Times(match time_range(*comparison, *time) {
                    None => set.range(..),
                    Some(bounds) => set.range(bounds),
                })
            }
            Condition::Attribute {
                attribute,
                equal: true,
                value,
            } => match attribute {
                Attribute::Experiment => exact(Field::Experiment, value, ""),
                Attribute::CodeVersion => exact(Field::CodeVersion, value, ""),
                Attribute::Compute => exact(Field::Compute, value, ""),
                Attribute::Parent => exact(Field::Parent, value, ""),
                Attribute::Name => return None,
            },
            Condition::Environment {
                equal: true,
                name,
                version,
            } => match version {
                Some(version) => exact(Field::Environment, name, version),
                None => exact(Field::EnvironmentName, name, ""),
            },
            Condition::UsesDataset { dataset, version } => {
                let graph = self.graph;
                let ws = &self.query.workspace;
                let used = match version {
                    Some(version) => graph
                        .find(&EntityKey::dataset_version(ws, dataset, version))
                        .and_then(|node| graph.runs_by_dataset_version(node)),
                    None => graph.runs_by_dataset(ws, dataset),
                };
                match used {
                    Some(runs) => Candidates::ByRunId(runs),
                    None => Candidates::Nodes(Vec::new()),
                }
            }
            Condition::UsesModel {
                model,
                version: Some(version),
            } => {
                let key = EntityKey::model_version(&self.query.workspace, model, version);
                Candidates::Nodes(match self.graph.find(&key) {
                    Some(node) => self
                        .view
                        .outgoing(node, EdgeKind::Input)
                        .map(|(_, run)| run)
                        .collect(),
                    None => Vec::new(),
                })
            }
            Condition::ProducedDataset { dataset, version } => {
                let graph = self.graph;
                let ws = &self.query.workspace;
                let versions: Vec<NodeIndex> = match version {
                    Some(version) => graph
                        .find(&EntityKey::dataset_version(ws, dataset, version))
                        .into_iter()
                        .collect(),
                    None => graph
                        .dataset_versions(ws, dataset)
                        .map(|versions| versions.values().copied().collect())
                        .unwrap_or_default(),
                };
                let mut producers: Vec<NodeIndex> = versions
                    .into_iter()
                    .flat_map(|version| self.view.incoming(version, EdgeKind::Produced))
                    .map(|(_, run)| run)
                    .collect();
                producers.sort_unstable();
                producers.dedup();
                Candidates::Nodes(producers)
            }
            _ => return None,
        })
    }

    /// The smallest candidate set the terms and the experiments name, or
    /// every run of the workspace.
    fn plan(&self) -> Candidates<'g> {
        let mut best = Candidates::Sets(vec![self.runs.runs.as_slice()]);
        let mut best_size = self.runs.runs.len();
        // A term as large as the workspace still beats its list of runs:
        // a term's runs may come in the page's order (by run id), and
        // then the pass stops at the page.
        let mut best_is_workspace = true;
        let mut consider = |candidates: Candidates<'g>| {
            let size = candidates.size(best_size);
            if size < best_size || (best_is_workspace && size == best_size) {
                best = candidates;
                best_size = size;
                best_is_workspace = false;
            }
        };
        if !self.query.experiments.is_empty() {
            let mut hashes: Vec<u64> = self
                .query
                .experiments
                .iter()
                .map(|experiment| self.index.exact(Field::Experiment, experiment, ""))
                .collect();
            hashes.sort_unstable();
            hashes.dedup();
            consider(Candidates::Sets(
                hashes
                    .into_iter()
                    .map(|hash| self.runs.exact(hash))
                    .collect(),
            ));
        }
        for (term, upstream) in self.query.filter.terms.iter().zip(&self.upstream) {
            if let Some(upstream) = upstream {
                let mut runs: Vec<NodeIndex> = upstream.runs.iter().copied().collect();
                runs.sort_unstable();
                consider(Candidates::Nodes(runs));
            } else if let Some(candidates) = self.candidates_of(&term.condition) {
                consider(candidates);
            }
        }
        best
    }

    /// Whether a candidate is a run the search returns.
    fn matches(&self, run: NodeIndex, node: &Node) -> bool {
        let Facts::Run(facts) = &node.facts else {
            return false;
        };
        if node.is_placeholder() || node.key.workspace != self.query.workspace {
            return false;
        }
        if !self.query.experiments.is_empty() {
            let experiment = facts
                .started
                .as_ref()
                .and_then(|started| started.value.experiment.as_deref());
            let listed = experiment.is_some_and(|experiment| {
                self.query
                    .experiments
                    .binary_search_by(|listed| listed.as_str().cmp(experiment))
                    .is_ok()
            });
            if !listed {
                return false;
            }
        }
        self.query
            .filter
            .terms
            .iter()
            .zip(&self.upstream)
            .all(|(term, upstream)| match upstream {
                Some(upstream) => upstream.runs.contains(&run),
                None => run_holds(&self.view, run, node, &term.condition).unwrap_or(false),
            })
    }
}

/// Answers a search in one pass over the candidates of its most selective
/// indexed term, keeping only the page.
pub fn search_runs(graph: &LineageGraph, query: &SearchQuery) -> SearchPage {
    search(graph, query, None).expect("without a budget, a search always answers")
}

/// [`search_runs`], unless it would examine more than `max_candidates`
/// runs or walk the lineage graph: then `None`, having done only the
/// planning. Lets a caller answer small searches where it stands and hand
/// the others to a thread that may take longer.
pub fn search_runs_within(
    graph: &LineageGraph,
    query: &SearchQuery,
    max_candidates: usize,
) -> Option<SearchPage> {
    search(graph, query, Some(max_candidates))
}

fn search(graph: &LineageGraph, query: &SearchQuery, budget: Option<usize>) -> Option<SearchPage> {
    let empty = SearchPage {
        runs: Vec::new(),
        next_page_token: String::new(),
        candidates: 0,
        lineage_truncated: false,
    };
    let Some(runs) = graph.run_index.workspaces.get(&query.workspace) else {
        return Some(empty);
    };
    if budget.is_some() && query.walks_lineage() {
        return None;
    }
    let view = graph.present();
    let upstream: Vec<Option<UpstreamRuns>> = query
        .filter
        .terms
        .iter()
        .map(|term| match &term.condition {
            Condition::UpstreamOfModel { model, version } => Some(upstream_runs(
                &view,
                &query.workspace,
                model,
                version,
                query.lineage_bounds,
            )),
            _ => None,
        })
        .collect();
    let lineage_truncated = upstream.iter().flatten().any(|walk| walk.truncated);
    let search = Search {
        graph,
        view,
        runs,
        index: &graph.run_index,
        query,
        upstream,
    };
    let candidates = search.plan();
    if let Some(budget) = budget
        && candidates.size(budget) > budget
    {
        return None;
    }

    let order_by = query.order_by.as_slice();
    let by_run_id_only = order_by
        .iter()
        .all(|key| key.field == OrderField::RunId && !key.descending);
    let keep = query.page_size + 1;
    let mut page: BinaryHeap<Ranked<'_, '_>> = BinaryHeap::with_capacity(keep);
    let mut examined: u64 = 0;
    // Takes a candidate; returns how many rows the page holds.
    let mut consider = |run: NodeIndex| -> usize {
        examined += 1;
        let node = graph.node(run);
        if !search.matches(run, node) {
            return page.len();
        }
        let row = sort_row(node, run, order_by);
        if let Some(after) = &query.after {
            let ordering = compare_rows(
                order_by,
                row.values.iter().copied(),
                row.run_id,
                after
                    .values
                    .iter()
                    .map(|value| value.as_ref().map(OwnedSortValue::borrowed)),
                &after.run_id,
            );
            if ordering != Ordering::Greater {
                return page.len();
            }
        }
        let ranked = Ranked { row, order_by };
        if page.len() < keep {
            page.push(ranked);
        } else if page.peek().is_some_and(|worst| ranked < *worst) {
            page.pop();
            page.push(ranked);
        }
        page.len()
    };
    match candidates {
        Candidates::Sets(sets) => {
            for &run in sets.into_iter().flatten() {
                consider(run);
            }
        }
        Candidates::Metric { buckets, running } => {
            for &run in running
                .iter()
                .chain(buckets.flat_map(|(_, set)| set.as_slice()))
            {
                consider(run);
            }
        }
        Candidates::Times(range) => {
            for &(_, run) in range {
                consider(run);
            }
        }
        Candidates::Nodes(nodes) => {
            for run in nodes {
                consider(run);
            }
        }
        Candidates::ByRunId(runs) if by_run_id_only => {
            // Already in the page's order: start after the last page and
            // stop once the page (and one more row) is full.
            let start = match &query.after {
                Some(after) => Bound::Excluded(after.run_id.as_str()),
                None => Bound::Unbounded,
            };
            let remaining: btree_map::Range<'_, Name, NodeIndex> =
                runs.range::<str, _>((start, Bound::Unbounded));
            for (_, &run) in remaining {
                if consider(run) == keep {
                    break;
                }
            }
        }
        Candidates::ByRunId(runs) => {
            for &run in runs.values() {
                consider(run);
            }
        }
    }

    let mut rows = page.into_sorted_vec();
    let next_page_token = if rows.len() > query.page_size {
        rows.truncate(query.page_size);
        rows.last()
            .map(|last| query.page_token(&last.row))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Some(SearchPage {
        runs: rows.into_iter().map(|ranked| ranked.row.run).collect(),
        next_page_token,
        candidates: examined,
        lineage_truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_positions_keep_the_order_of_values() {
        let values = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            0.1,
            0.100_000_000_000_000_1,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(
                metric_position(pair[0]) <= metric_position(pair[1]),
                "{} then {}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(metric_position(-0.0), metric_position(0.0));
        assert!(metric_position(-2.5) < metric_position(2.5));
        // Sixteen buckets between two powers of two.
        assert_eq!(metric_bucket(0.5), metric_bucket(0.53));
        assert!(metric_bucket(0.5) < metric_bucket(0.54));
        assert_eq!(metric_bucket(1.0) - metric_bucket(0.5), 16);
    }

    #[test]
    fn run_sets_stay_sorted_and_distinct() {
        let mut set = RunSet::One(NodeIndex::new(5));
        set.insert(NodeIndex::new(5));
        assert_eq!(set.as_slice(), [NodeIndex::new(5)]);
        for run in [9, 1, 7, 1] {
            set.insert(NodeIndex::new(run));
        }
        let runs: Vec<usize> = set.as_slice().iter().map(|run| run.index()).collect();
        assert_eq!(runs, [1, 5, 7, 9]);
        assert!(set.remove(NodeIndex::new(7)));
        assert!(!set.remove(NodeIndex::new(7)));
        let mut one = RunSet::One(NodeIndex::new(3));
        assert!(!one.remove(NodeIndex::new(4)));
        assert!(one.remove(NodeIndex::new(3)));
        assert!(one.is_empty());
    }

    #[test]
    fn order_keys_parse() {
        let key = |text: &str| OrderKey::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            key("metrics.auc DESC"),
            OrderKey {
                field: OrderField::Metric("auc".into()),
                descending: true
            }
        );
        assert_eq!(
            key("  params.`learning rate`   asc "),
            OrderKey {
                field: OrderField::Param("learning rate".into()),
                descending: false
            }
        );
        assert_eq!(key("tags.region").field, OrderField::Tag("region".into()));
        assert_eq!(key("STARTED_AT desc").field, OrderField::StartedAt);
        assert_eq!(key("ended_at").field, OrderField::EndedAt);
        assert_eq!(key("name").field, OrderField::Name);
        assert_eq!(key("run_id Desc").field, OrderField::RunId);
        for bad in [
            "",
            "desc",
            "auc",
            "metrics.",
            "metrics.a b",
            "owner.x",
            "metrics.`a b ",
        ] {
            assert!(OrderKey::parse(bad).is_err(), "{bad:?} is not a sort key");
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_what_it_never_writes() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xff];
        assert_eq!(unhex(&hex(&bytes)).as_deref(), Some(&bytes[..]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("AB"), None, "only lower case is issued");
    }
}
