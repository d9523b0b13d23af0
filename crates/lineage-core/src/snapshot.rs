//! Projection snapshots: the whole graph as bytes and back, so that a
//! restart loads the projection instead of replaying the whole log.
//!
//! Pure bytes in and out; where a snapshot is kept, and which log head it
//! belongs to, is the caller's business. The graph's applied sequence is
//! part of the snapshot ([`LineageGraph::applied_seq`] after decoding).
//!
//! The format (version 6), little endian, lengths, indexes and log
//! sequences as LEB128 varints, times as 8-byte nanoseconds:
//!
//! ```text
//! magic "LGSNAP" | version u8 | body | blake3(magic..body) (32 bytes)
//! body: applied_seq
//!       names        (count, each a string)       interned strings
//!       point stamps (count, each: stamp, seq)    metric points refer to these
//!       nodes        (count, each: key, first_seq, first_occurred_at, tags,
//!                     flags, redactions, facts, displaced)
//!       edges        (count, each: from, to, kind, first_seq,
//!                     first_occurred_at, retired_seq)
//!       criteria     (count, each: workspace, model, count, each: stamp,
//!                     seq, criteria)          promotion criteria by model
//!       event ids    (count, each a string)       stamps refer to these
//!       the offset of the event ids from the magic (u64)
//! stamp:     time, event id index
//! register:  present u8, then stamp, seq, value    (tags and parameters:
//!                                                  key name, stamp, seq,
//!                                                  value name)
//! displaced: count, each a variant u8 (the order of `graph::Displaced`)
//!            then a fact register's stamp, seq, value; a tag's or a
//!            parameter's key name, stamp, seq, value name; or a metric
//!            point's series name, step, timestamp, value (8 bytes each)
//!            and point stamp index
//! ```
//!
//! The event ids come last so that a snapshot is written in one pass, in
//! chunks ([`LineageGraph::write_snapshot`]): they are known only once every
//! stamp has been written. A reader reads them first, from the offset.
//!
//! A run's metric series is its key, its point count and its points'
//! encoding as the graph holds it (`crate::series`, newest first), checked
//! point by point when read. A node's displaced values (the values its
//! registers no longer hold or never held, [`LineageGraph::displaced`])
//! follow its facts, in the order the graph holds them: almost every node
//! has none and pays one byte for its count.
//!
//! Older formats (1 to 5) are refused ([`SnapshotError::UnsupportedVersion`]):
//! 1 to 4 lack the log sequence of each value, flag, stage change and point
//! stamp, the earliest event time of each node and edge, and the displaced
//! values, so a graph loaded from them would answer queries as of an earlier
//! sequence or event time wrongly; 5 lacks the promotion criteria. Nothing
//! in them can stand in for what is missing. The caller replays the log
//! instead, once; the snapshot it writes next is format 6.
//!
//! Nodes and edges are written in index order and re-added in that order,
//! so indexes and petgraph's adjacency order come back identical. The
//! indexes (keys, edge ends, runs by dataset, versions by dataset) are not
//! written: they are rebuilt from nodes and edges.
//!
//! Decoding never panics and never allocates more than the input could
//! describe: every count and length is bounded by the bytes that remain,
//! and every index by its table. The checksum and the metric series' point
//! checks run on a second thread beside the parse, and the parsed graph is
//! returned only if both hold.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::hash_table::Entry;
use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::event::{
    DatasetVersionRef, EnvironmentRef, EventId, EventTime, ModelStage, RunStatus, Severity, Stamp,
};
use crate::graph::{
    ArtifactFacts, CriteriaFacts, DatasetFacts, DeploymentFacts, Displaced, Edge, EdgeKind,
    ExperimentFacts, Facts, FlagFacts, LineageGraph, Lww, MetricPointFacts, MetricSeries,
    ModelFacts, Name, Node, Redaction, Redactions, Registers, RegistrationFacts, RunFacts,
    RunFinishFacts, RunStartFacts, StageChangeFacts, StampRef,
};
use crate::id::{EntityKey, EntityKind, Workspace};
use crate::series;

const MAGIC: &[u8; 6] = b"LGSNAP";
/// The format version this build writes, and the only one it reads.
pub const SNAPSHOT_VERSION: u8 = 6;
const CHECKSUM_LEN: usize = 32;

/// Why bytes are not a snapshot this build can load. Every variant means
/// the same thing to a caller: ignore the snapshot and replay the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Too short to hold a header and checksum, or not a snapshot at all.
    #[error("not a lineage snapshot (bad magic or too short)")]
    NotASnapshot,
    /// Written by a build with another format version: a later one, or an
    /// earlier one that lacks what views as of an earlier time need.
    #[error("snapshot format version {found}, this build reads {SNAPSHOT_VERSION}")]
    UnsupportedVersion { found: u8 },
    /// The bytes were altered or cut after they were written.
    #[error("snapshot checksum mismatch: corrupt or truncated")]
    ChecksumMismatch,
    /// The content ended early where a value was expected.
    #[error("snapshot truncated at byte {at}")]
    Truncated { at: usize },
    /// A value is out of range or contradicts another (a bad index, an
    /// unknown kind, a duplicate key...).
    #[error("invalid snapshot at byte {at}: {what}")]
    Invalid { what: &'static str, at: usize },
}

impl LineageGraph {
    /// The whole projection as a versioned, checksummed snapshot.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_snapshot(&mut |chunk| bytes.extend_from_slice(chunk));
        bytes
    }

    /// The same bytes as [`LineageGraph::encode_snapshot`], handed to
    /// `sink` in chunks of about [`SNAPSHOT_CHUNK`] bytes as they are
    /// encoded, so that a caller writing them to a file never holds the
    /// whole snapshot (~285 bytes per event: 2.8 GB at 10 M events).
    pub fn write_snapshot(&self, sink: &mut dyn FnMut(&[u8])) {
        let (mut encoder, names) = self.encoder();
        let mut out = Output {
            buf: Vec::with_capacity(SNAPSHOT_CHUNK + SNAPSHOT_CHUNK / 8),
            emitted: 0,
            hasher: blake3::Hasher::new(),
            sink,
        };
        out.buf.extend_from_slice(MAGIC);
        out.buf.push(SNAPSHOT_VERSION);
        varint(&mut out.buf, self.applied_seq);
        varint(&mut out.buf, names.len() as u64);
        for name in &names {
            string(&mut out.buf, name);
        }
        encoder.write_graph(self, &mut out);
        // The event ids come last: they are known only once every stamp
        // has been written. The trailer says where they start.
        let event_ids_at = out.position();
        varint(&mut out.buf, encoder.event_ids.len() as u64);
        for id in &encoder.event_ids {
            string(&mut out.buf, id);
            out.spill_if_full();
        }
        out.buf
            .extend_from_slice(&(event_ids_at as u64).to_le_bytes());
        out.spill();
        let checksum = out.hasher.finalize();
        (out.sink)(checksum.as_bytes());
    }

    /// An encoder, with the interned names in the fixed order they are
    /// written in.
    fn encoder(&self) -> (Encoder, Vec<&Arc<str>>) {
        let mut encoder = Encoder::default();
        let mut names: Vec<&Arc<str>> = self.interner.strings().collect();
        names.sort_unstable();
        for (index, name) in names.iter().enumerate() {
            encoder
                .names
                .insert(Arc::as_ptr(name) as *const u8, index as u32);
        }
        (encoder, names)
    }

    /// Loads a snapshot [`LineageGraph::encode_snapshot`] wrote. The graph
    /// is exactly the one encoded, applied sequence included.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<LineageGraph, SnapshotError> {
        if bytes.len() < MAGIC.len() + 1 + CHECKSUM_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let version = bytes[MAGIC.len()];
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion { found: version });
        }
        let (content, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        // The checksum and the metric series' point-by-point checks (together
        // over half of the time on one core at 1 M events) run on a thread
        // beside the parse; the parse is bounded and never panics on damaged
        // bytes, and its result is used only if both hold.
        let (checked, parsed) = std::thread::scope(|scope| {
            let (to_check, received) = std::sync::mpsc::sync_channel(SERIES_CHECK_QUEUE);
            let checking = std::thread::Builder::new()
                .name("snapshot-check".into())
                .spawn_scoped(scope, move || check_beside(content, checksum, &received))
                .ok();
            // Without a thread to spare, one after the other.
            let series_checks = checking.as_ref().map(|_| SeriesChecks::new(to_check));
            let parsed = Self::parse_snapshot(content, series_checks);
            let checked = match checking {
                Some(checking) => checking.join().unwrap_or(Checked {
                    intact: false,
                    bad_series_at: None,
                }),
                None => Checked {
                    intact: blake3::hash(content).as_bytes() == checksum,
                    bad_series_at: None,
                },
            };
            (checked, parsed)
        });
        if !checked.intact {
            return Err(SnapshotError::ChecksumMismatch);
        }
        let graph = parsed?;
        match checked.bad_series_at {
            Some(at) => Err(SnapshotError::Invalid {
                what: "a metric series that does not decode",
                at,
            }),
            None => {
                // Searches' run index reads the latest metric values, so it
                // is built only once every series is known to decode.
                let mut graph = graph;
                graph.rebuild_run_index();
                Ok(graph)
            }
        }
    }

    /// The graph of a snapshot's checksummed content (magic and version
    /// included, as written).
    /// With `series_checks`, the metric series are handed to them rather
    /// than checked here.
    fn parse_snapshot(
        content: &[u8],
        series_checks: Option<SeriesChecks>,
    ) -> Result<LineageGraph, SnapshotError> {
        let start = MAGIC.len() + 1;
        // The event ids are at the end, where the trailer's offset points.
        let trailer = content
            .len()
            .checked_sub(8)
            .filter(|&trailer| trailer >= start)
            .ok_or(SnapshotError::Truncated { at: content.len() })?;
        let offset = u64::from_le_bytes(content[trailer..].try_into().unwrap_or([0; 8]));
        if offset < start as u64 || offset > trailer as u64 {
            return Err(SnapshotError::Invalid {
                what: "an event id table offset out of range",
                at: trailer,
            });
        }
        let mut tables = Reader {
            bytes: &content[..trailer],
            at: offset as usize,
            series_checks: None,
        };
        let event_ids = tables.event_ids()?;
        if tables.at != trailer {
            return Err(tables.invalid("bytes after the event ids"));
        }
        let body = &content[..offset as usize];
        let mut reader = Reader {
            bytes: body,
            at: start,
            series_checks,
        };
        let graph = reader.graph(event_ids)?;
        if reader.at != body.len() {
            return Err(reader.invalid("bytes after the last edge"));
        }
        if let Some(checks) = reader.series_checks.take() {
            checks.finish();
        }
        Ok(graph)
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn string(out: &mut Vec<u8>, value: &str) {
    varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

fn opt_string(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            string(out, value);
        }
    }
}

fn i64_fixed(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Assigns table indexes to event ids as stamps are written.
/// About how many bytes [`LineageGraph::write_snapshot`] hands over at a
/// time.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;

/// Where the encoder writes: a buffer handed to the sink (and hashed)
/// whenever it holds a chunk.
struct Output<'a> {
    buf: Vec<u8>,
    /// Bytes already handed to the sink.
    emitted: usize,
    hasher: blake3::Hasher,
    sink: &'a mut dyn FnMut(&[u8]),
}

impl Output<'_> {
    /// The offset of the next byte from the start of the snapshot.
    fn position(&self) -> usize {
        self.emitted + self.buf.len()
    }

    fn spill_if_full(&mut self) {
        if self.buf.len() >= SNAPSHOT_CHUNK {
            self.spill();
        }
    }

    fn spill(&mut self) {
        self.hasher.update(&self.buf);
        (self.sink)(&self.buf);
        self.emitted += self.buf.len();
        self.buf.clear();
    }
}

#[derive(Default)]
struct Encoder {
    event_ids: Vec<Arc<str>>,
    /// Event id string -> index in `event_ids`.
    event_index: HashMap<Arc<str>, u32>,
    /// Interned string (by address) -> index in the names table.
    names: HashMap<*const u8, u32>,
}

/// The byte that says which [`Displaced`] variant follows, in the order of
/// the variants.
const DISPLACED_EXPERIMENT: u8 = 0;
const DISPLACED_RUN_START: u8 = 1;
const DISPLACED_RUN_FINISH: u8 = 2;
const DISPLACED_DATASET: u8 = 3;
const DISPLACED_ARTIFACT: u8 = 4;
const DISPLACED_REGISTRATION: u8 = 5;
const DISPLACED_DEPLOYMENT: u8 = 6;
const DISPLACED_TAG: u8 = 7;
const DISPLACED_PARAM: u8 = 8;
const DISPLACED_METRIC: u8 = 9;

/// The fewest bytes a displaced value takes: its variant, a stamp (time
/// and index), a sequence and a value of at least one byte.
const DISPLACED_MIN_LEN: usize = 1 + 9 + 1 + 1;

impl Encoder {
    fn stamp(&mut self, out: &mut Vec<u8>, stamp: &Stamp) {
        i64_fixed(out, stamp.occurred_at.unix_nanos());
        let index = match self.event_index.get(stamp.event_id.as_str()) {
            Some(&index) => index,
            None => self.add_event_id(stamp.event_id.shared()),
        };
        varint(out, u64::from(index));
    }

    /// A stamp of the point stamp table, whose ids are not shared.
    fn point_stamp(&mut self, out: &mut Vec<u8>, stamp: StampRef<'_>) {
        i64_fixed(out, stamp.occurred_at.unix_nanos());
        let index = match self.event_index.get(stamp.event_id) {
            Some(&index) => index,
            None => self.add_event_id(Arc::from(stamp.event_id)),
        };
        varint(out, u64::from(index));
    }

    fn add_event_id(&mut self, id: Arc<str>) -> u32 {
        let index = self.event_ids.len() as u32;
        self.event_ids.push(id.clone());
        self.event_index.insert(id, index);
        index
    }

    fn name(&self, out: &mut Vec<u8>, name: &Name) {
        let index = self.names[&(Arc::as_ptr(name.shared()) as *const u8)];
        varint(out, u64::from(index));
    }

    fn registers(&mut self, out: &mut Vec<u8>, registers: &Registers) {
        varint(out, registers.len() as u64);
        for (key, value) in registers.iter() {
            self.name_register(out, key, value);
        }
    }

    /// One tag or parameter: its key, then its value as a register holds it.
    fn name_register(&mut self, out: &mut Vec<u8>, key: &Name, value: &Lww<Name>) {
        self.name(out, key);
        self.stamp(out, &value.stamp);
        varint(out, value.seq);
        self.name(out, &value.value);
    }

    /// A value with the stamp and sequence of the event that stated it.
    fn lww<T>(&mut self, out: &mut Vec<u8>, lww: &Lww<T>, value: fn(&mut Vec<u8>, &T)) {
        self.stamp(out, &lww.stamp);
        varint(out, lww.seq);
        value(out, &lww.value);
    }

    fn register<T>(
        &mut self,
        out: &mut Vec<u8>,
        slot: Option<&Lww<T>>,
        value: fn(&mut Vec<u8>, &T),
    ) {
        match slot {
            None => out.push(0),
            Some(lww) => {
                out.push(1);
                self.lww(out, lww, value);
            }
        }
    }

    /// Point stamps, nodes and edges, spilling to the sink between items.
    fn write_graph(&mut self, graph: &LineageGraph, out: &mut Output) {
        varint(&mut out.buf, graph.point_stamps.len() as u64);
        for (index, stamp) in graph.point_stamps.iter().enumerate() {
            self.point_stamp(&mut out.buf, stamp);
            varint(&mut out.buf, graph.point_stamps.seq(index as u32));
            out.spill_if_full();
        }
        varint(&mut out.buf, graph.node_count() as u64);
        for (index, node) in graph.nodes() {
            self.node(&mut out.buf, node, graph.displaced(index));
            out.spill_if_full();
        }
        varint(&mut out.buf, graph.all_edges().count() as u64);
        for (from, to, edge) in graph.all_edges() {
            let buf = &mut out.buf;
            varint(buf, from.index() as u64);
            varint(buf, to.index() as u64);
            buf.push(edge.kind() as u8);
            varint(buf, edge.first_seq());
            i64_fixed(buf, edge.first_occurred_at.unix_nanos());
            match edge.retired_seq() {
                None => buf.push(0),
                Some(seq) => {
                    buf.push(1);
                    varint(buf, seq);
                }
            }
            out.spill_if_full();
        }
        varint(&mut out.buf, graph.criteria_by_model.len() as u64);
        for ((workspace, model), set) in &graph.criteria_by_model {
            string(&mut out.buf, workspace.as_str());
            string(&mut out.buf, model);
            varint(&mut out.buf, set.len() as u64);
            for (stamp, facts) in set {
                self.stamp(&mut out.buf, stamp);
                varint(&mut out.buf, facts.seq);
                string(&mut out.buf, &facts.criteria);
            }
            out.spill_if_full();
        }
    }

    fn node(&mut self, out: &mut Vec<u8>, node: &Node, displaced: &[Displaced]) {
        let key = &node.key;
        let workspace = self.names[&(Arc::as_ptr(key.workspace.shared()) as *const u8)];
        varint(out, u64::from(workspace));
        out.push(key.kind as u8);
        string(out, &key.name);
        string(out, &key.version);
        varint(out, node.first_seq);
        i64_fixed(out, node.first_occurred_at.unix_nanos());
        self.registers(out, &node.tags);
        varint(out, node.flags.len() as u64);
        for (event_id, flag) in &node.flags {
            self.stamp(
                out,
                &Stamp {
                    occurred_at: flag.flagged_at,
                    event_id: event_id.clone(),
                },
            );
            string(out, &flag.reason);
            out.push(flag.severity as u8);
            string(out, &flag.flagged_by);
            varint(out, flag.seq);
        }
        varint(out, node.redactions().len() as u64);
        for redaction in node.redactions() {
            varint(out, redaction.fields.len() as u64);
            for field in &redaction.fields {
                string(out, field);
            }
            string(out, &redaction.reason);
            string(out, &redaction.requested_by);
            self.stamp(
                out,
                &Stamp {
                    occurred_at: redaction.requested_at,
                    event_id: redaction.event_id.clone(),
                },
            );
            varint(out, redaction.seq);
        }
        match &node.facts {
            Facts::Experiment(created) => self.register(out, created.as_deref(), experiment_facts),
            Facts::Run(run) => {
                self.register(out, run.started.as_ref(), run_start_facts);
                self.register(out, run.finished.as_ref(), run_finish_facts);
                self.registers(out, &run.params);
                varint(out, run.metrics.len() as u64);
                for series in &run.metrics {
                    self.name(out, series.name());
                    varint(out, series.len() as u64);
                    let encoded = series.encoded();
                    varint(out, encoded.len() as u64);
                    out.extend_from_slice(encoded);
                }
            }
            Facts::DatasetVersion(registered) => {
                self.register(out, registered.as_deref(), dataset_facts)
            }
            Facts::Artifact(logged) => self.register(out, logged.as_deref(), artifact_facts),
            Facts::ModelVersion(model) => {
                self.register(out, model.registered.as_ref(), registration_facts);
                varint(out, model.stage_changes.len() as u64);
                for (stamp, change) in &model.stage_changes {
                    self.stamp(out, stamp);
                    out.push(change.stage as u8);
                    string(out, &change.reason);
                    string(out, &change.approved_by);
                    varint(out, change.seq);
                }
            }
            Facts::Environment | Facts::Compute => {}
            Facts::Endpoint(deployment) => {
                self.register(out, deployment.as_deref(), deployment_facts)
            }
        }
        self.displaced(out, displaced);
    }

    /// A node's displaced values, in the order the graph holds them.
    fn displaced(&mut self, out: &mut Vec<u8>, displaced: &[Displaced]) {
        varint(out, displaced.len() as u64);
        for value in displaced {
            match value {
                Displaced::Experiment(lww) => {
                    out.push(DISPLACED_EXPERIMENT);
                    self.lww(out, lww, experiment_facts);
                }
                Displaced::RunStart(lww) => {
                    out.push(DISPLACED_RUN_START);
                    self.lww(out, lww, run_start_facts);
                }
                Displaced::RunFinish(lww) => {
                    out.push(DISPLACED_RUN_FINISH);
                    self.lww(out, lww, run_finish_facts);
                }
                Displaced::Dataset(lww) => {
                    out.push(DISPLACED_DATASET);
                    self.lww(out, lww, dataset_facts);
                }
                Displaced::Artifact(lww) => {
                    out.push(DISPLACED_ARTIFACT);
                    self.lww(out, lww, artifact_facts);
                }
                Displaced::Registration(lww) => {
                    out.push(DISPLACED_REGISTRATION);
                    self.lww(out, lww, registration_facts);
                }
                Displaced::Deployment(lww) => {
                    out.push(DISPLACED_DEPLOYMENT);
                    self.lww(out, lww, deployment_facts);
                }
                Displaced::Tag(key, lww) => {
                    out.push(DISPLACED_TAG);
                    self.name_register(out, key, lww);
                }
                Displaced::Param(key, lww) => {
                    out.push(DISPLACED_PARAM);
                    self.name_register(out, key, lww);
                }
                Displaced::Metric(key, point) => {
                    out.push(DISPLACED_METRIC);
                    self.name(out, key);
                    i64_fixed(out, point.step);
                    i64_fixed(out, point.timestamp.unix_nanos());
                    out.extend_from_slice(&point.value.to_bits().to_le_bytes());
                    varint(out, u64::from(point.stamp));
                }
            }
        }
    }
}

// The values of the fact registers, as the registers and the displaced
// values both write them.

fn experiment_facts(out: &mut Vec<u8>, facts: &ExperimentFacts) {
    string(out, &facts.description);
}

fn run_start_facts(out: &mut Vec<u8>, facts: &RunStartFacts) {
    opt_string(out, facts.experiment.as_deref());
    string(out, &facts.name);
    opt_string(out, facts.parent_run_id.as_deref());
    string(out, &facts.code_version);
    match &facts.environment {
        None => out.push(0),
        Some(environment) => {
            out.push(1);
            string(out, &environment.name);
            string(out, &environment.version);
        }
    }
    opt_string(out, facts.compute_target.as_deref());
    string(out, &facts.owner);
}

fn run_finish_facts(out: &mut Vec<u8>, facts: &RunFinishFacts) {
    out.push(facts.status as u8);
    string(out, &facts.error);
}

fn dataset_facts(out: &mut Vec<u8>, facts: &DatasetFacts) {
    string(out, &facts.uri);
    string(out, &facts.digest);
    varint(out, facts.derived_from.len() as u64);
    for parent in &facts.derived_from {
        string(out, &parent.dataset);
        string(out, &parent.version);
    }
    opt_string(out, facts.produced_by_run_id.as_deref());
}

fn artifact_facts(out: &mut Vec<u8>, facts: &ArtifactFacts) {
    string(out, &facts.uri);
    string(out, &facts.digest);
    string(out, &facts.kind);
    varint(out, facts.size_bytes);
}

fn registration_facts(out: &mut Vec<u8>, facts: &RegistrationFacts) {
    string(out, &facts.source_run_id);
    opt_string(out, facts.artifact_name.as_deref());
    string(out, &facts.approval_notes);
    string(out, &facts.approved_by);
}

fn deployment_facts(out: &mut Vec<u8>, facts: &DeploymentFacts) {
    string(out, &facts.model);
    string(out, &facts.version);
    string(out, &facts.deployment);
}

/// Reads the body, bounding everything by the bytes that remain.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where metric series go to be checked on another thread, if they do.
    series_checks: Option<SeriesChecks>,
}

/// Metric series queued for their point-by-point check on the thread
/// beside the parse ([`check_beside`]), in batches; the series themselves
/// are taken as they are, and the graph is used only if every check holds.
struct SeriesChecks {
    batch: Vec<SeriesCheck>,
    to_check: std::sync::mpsc::SyncSender<Vec<SeriesCheck>>,
}

/// One series to check: where its encoding lies in the snapshot's content.
struct SeriesCheck {
    at: usize,
    len: usize,
    points: u32,
    /// The length of the stamp table its points index.
    stamps: usize,
}

/// What the thread beside the parse found.
struct Checked {
    intact: bool,
    /// Where the first series that does not check is.
    bad_series_at: Option<usize>,
}

/// Series per batch handed to the checking thread.
const SERIES_CHECK_BATCH: usize = 4096;

/// Batches waiting for the checking thread: about 10 MiB of series, past
/// which the parse waits for the checks.
const SERIES_CHECK_QUEUE: usize = 64;

/// Bytes hashed at a time between batches of series checks.
const HASH_CHUNK: usize = 1 << 20;

impl SeriesChecks {
    fn new(to_check: std::sync::mpsc::SyncSender<Vec<SeriesCheck>>) -> Self {
        Self {
            batch: Vec::with_capacity(SERIES_CHECK_BATCH),
            to_check,
        }
    }

    fn push(&mut self, check: SeriesCheck) {
        self.batch.push(check);
        if self.batch.len() == SERIES_CHECK_BATCH {
            let full = std::mem::replace(&mut self.batch, Vec::with_capacity(SERIES_CHECK_BATCH));
            // A checker that is gone has failed, and its result says so.
            let _ = self.to_check.send(full);
        }
    }

    /// Sends the last batch; dropping the sender tells the checker that no
    /// more series come.
    fn finish(self) {
        if !self.batch.is_empty() {
            let _ = self.to_check.send(self.batch);
        }
    }
}

/// Hashes `content` against `checksum` and checks the series the parse
/// queues, whichever has work: series first, so that the parse does not
/// wait for the hash.
fn check_beside(
    content: &[u8],
    checksum: &[u8],
    received: &std::sync::mpsc::Receiver<Vec<SeriesCheck>>,
) -> Checked {
    use std::sync::mpsc::TryRecvError;
    let mut hasher = blake3::Hasher::new();
    let mut hashed = 0;
    let mut bad_series_at = None;
    loop {
        let batch = if hashed < content.len() {
            match received.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Empty) => {
                    let end = (hashed + HASH_CHUNK).min(content.len());
                    hasher.update(&content[hashed..end]);
                    hashed = end;
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
            }
        } else {
            match received.recv() {
                Ok(batch) => batch,
                Err(_) => break,
            }
        };
        if bad_series_at.is_some() {
            continue;
        }
        bad_series_at = batch
            .iter()
            .find(|check| {
                content
                    .get(check.at..check.at + check.len)
                    .is_none_or(|encoded| {
                        series::check_encoded(encoded, check.points, check.stamps).is_err()
                    })
            })
            .map(|check| check.at);
    }
    hasher.update(&content[hashed..]);
    Checked {
        intact: hasher.finalize().as_bytes() == checksum,
        bad_series_at,
    }
}

/// What the body's tables hold while nodes are read.
struct Tables {
    event_ids: Vec<EventId>,
    names: Vec<Name>,
}

impl Reader<'_> {
    fn truncated(&self) -> SnapshotError {
        SnapshotError::Truncated { at: self.at }
    }

    fn invalid(&self, what: &'static str) -> SnapshotError {
        SnapshotError::Invalid { what, at: self.at }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        let byte = *self.bytes.get(self.at).ok_or_else(|| self.truncated())?;
        self.at += 1;
        Ok(byte)
    }

    fn flag(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.invalid("a presence flag other than 0 or 1")),
        }
    }

    fn varint(&mut self) -> Result<u64, SnapshotError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift == 63 && byte > 1 {
                    break;
                }
                return Ok(value);
            }
        }
        Err(self.invalid("a varint longer than 64 bits"))
    }

    /// A count of items that take at least one byte each.
    fn count(&mut self) -> Result<usize, SnapshotError> {
        let count = self.varint()?;
        if count > self.remaining() as u64 {
            return Err(self.invalid("a count larger than the bytes that remain"));
        }
        Ok(count as usize)
    }

    fn index(&mut self, len: usize, what: &'static str) -> Result<usize, SnapshotError> {
        let index = self.varint()?;
        if index >= len as u64 {
            return Err(self.invalid(what));
        }
        Ok(index as usize)
    }

    fn fixed8(&mut self) -> Result<[u8; 8], SnapshotError> {
        let end = self.at.checked_add(8).ok_or_else(|| self.truncated())?;
        let bytes = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| self.truncated())?;
        self.at = end;
        Ok(bytes.try_into().unwrap_or([0; 8]))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.fixed8()?))
    }

    fn str(&mut self) -> Result<&str, SnapshotError> {
        let len = self.varint()?;
        if len > self.remaining() as u64 {
            return Err(self.truncated());
        }
        let start = self.at;
        self.at += len as usize;
        std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| SnapshotError::Invalid {
            what: "a string that is not UTF-8",
            at: start,
        })
    }

    fn string(&mut self) -> Result<String, SnapshotError> {
        self.str().map(str::to_owned)
    }

    fn opt_string(&mut self) -> Result<Option<String>, SnapshotError> {
        if self.flag()? {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }

    fn stamp(&mut self, tables: &Tables) -> Result<Stamp, SnapshotError> {
        let occurred_at = EventTime::from_unix_nanos(self.i64()?);
        let index = self.index(tables.event_ids.len(), "an event id index out of range")?;
        Ok(Stamp {
            occurred_at,
            event_id: tables.event_ids[index].clone(),
        })
    }

    fn name(&mut self, tables: &Tables) -> Result<Name, SnapshotError> {
        let index = self.index(tables.names.len(), "a name index out of range")?;
        Ok(tables.names[index].clone())
    }

    fn registers(&mut self, tables: &Tables) -> Result<Registers, SnapshotError> {
        let count = self.count()?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(self.name_register(tables)?);
        }
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            return Err(self.invalid("registers out of key order"));
        }
        Ok(Registers::from_sorted(entries))
    }

    /// One tag or parameter: its key, then its value as a register holds it.
    fn name_register(&mut self, tables: &Tables) -> Result<(Name, Lww<Name>), SnapshotError> {
        let key = self.name(tables)?;
        let stamp = self.stamp(tables)?;
        let seq = self.varint()?;
        let value = self.name(tables)?;
        Ok((key, Lww { stamp, seq, value }))
    }

    /// A value with the stamp and sequence of the event that stated it.
    fn lww<T>(
        &mut self,
        tables: &Tables,
        value: impl FnOnce(&mut Self) -> Result<T, SnapshotError>,
    ) -> Result<Lww<T>, SnapshotError> {
        let stamp = self.stamp(tables)?;
        let seq = self.varint()?;
        let value = value(self)?;
        Ok(Lww { stamp, seq, value })
    }

    fn register<T>(
        &mut self,
        tables: &Tables,
        value: impl FnOnce(&mut Self) -> Result<T, SnapshotError>,
    ) -> Result<Option<Lww<T>>, SnapshotError> {
        if !self.flag()? {
            return Ok(None);
        }
        self.lww(tables, value).map(Some)
    }

    fn event_ids(&mut self) -> Result<Vec<EventId>, SnapshotError> {
        let count = self.count()?;
        let mut event_ids = Vec::with_capacity(count);
        for _ in 0..count {
            event_ids.push(EventId::new_unchecked(self.str()?));
        }
        Ok(event_ids)
    }

    /// The graph, with the `event_ids` read from the end.
    fn graph(&mut self, event_ids: Vec<EventId>) -> Result<LineageGraph, SnapshotError> {
        let mut graph = LineageGraph::new();
        graph.applied_seq = self.varint()?;
        let count = self.count()?;
        let mut names = Vec::with_capacity(count);
        for _ in 0..count {
            names.push(graph.interner.name(self.str()?));
        }
        if names.len() != graph.interner.len() {
            return Err(self.invalid("a name written twice"));
        }
        let tables = Tables { event_ids, names };

        let count = self.count()?;
        let mut stamps = Vec::with_capacity(count);
        for _ in 0..count {
            stamps.push((self.stamp(&tables)?, self.varint()?));
        }
        let id_bytes = stamps.iter().map(|(s, _)| s.event_id.as_str().len()).sum();
        graph.point_stamps.reserve_exact(count, id_bytes);
        for (stamp, seq) in &stamps {
            graph.point_stamps.push(stamp.into(), *seq);
        }
        drop(stamps);

        let count = self.count()?;
        graph.graph.reserve_nodes(count);
        {
            let (nodes, hasher) = (&graph.graph, &graph.hasher);
            graph
                .nodes_by_key
                .reserve(count, |&i| hasher.hash_one(&nodes[i].key));
        }
        for _ in 0..count {
            let (node, displaced) = self.node(&tables, graph.point_stamps.len())?;
            // One hash per node: the table's entry, for the index the node
            // is about to get.
            let index = NodeIndex::new(graph.graph.node_count());
            let hash = graph.hasher.hash_one(&node.key);
            let (nodes, hasher) = (&graph.graph, &graph.hasher);
            match graph.nodes_by_key.entry(
                hash,
                |&i| nodes[i].key == node.key,
                |&i| hasher.hash_one(&nodes[i].key),
            ) {
                Entry::Occupied(_) => return Err(self.invalid("a node key written twice")),
                Entry::Vacant(vacant) => {
                    vacant.insert(index);
                }
            }
            graph.graph.add_node(node);
            if !displaced.is_empty() {
                graph.displaced.insert(index, displaced);
            }
        }

        let count = self.count()?;
        let nodes = graph.node_count();
        graph.graph.reserve_edges(count);
        {
            let (edges, hasher) = (&graph.graph, &graph.hasher);
            graph.edges_by_ends.reserve(count, |&i| {
                let (from, to) = edges
                    .edge_endpoints(i)
                    .unwrap_or((NodeIndex::end(), NodeIndex::end()));
                hasher.hash_one((from, to, edges[i].kind()))
            });
        }
        for _ in 0..count {
            let from = NodeIndex::new(self.index(nodes, "an edge end out of range")?);
            let to = NodeIndex::new(self.index(nodes, "an edge end out of range")?);
            let kind = *EdgeKind::ALL
                .get(usize::from(self.u8()?))
                .ok_or_else(|| self.invalid("an unknown edge kind"))?;
            let first_seq = self.varint()?;
            let first_occurred_at = EventTime::from_unix_nanos(self.i64()?);
            let retired_seq = if self.flag()? {
                match self.varint()? {
                    u64::MAX => return Err(self.invalid("an edge retired past the last sequence")),
                    seq => Some(seq),
                }
            } else {
                None
            };
            let ends = (from, to, kind);
            let index = EdgeIndex::new(graph.graph.edge_count());
            let hash = graph.hasher.hash_one(ends);
            let (edges, hasher) = (&graph.graph, &graph.hasher);
            let ends_of = |i: EdgeIndex| {
                let (from, to) = edges.edge_endpoints(i).unwrap_or((from, to));
                (from, to, edges[i].kind())
            };
            match graph.edges_by_ends.entry(
                hash,
                |&i| ends_of(i) == ends,
                |&i| hasher.hash_one(ends_of(i)),
            ) {
                Entry::Occupied(_) => return Err(self.invalid("an edge written twice")),
                Entry::Vacant(vacant) => {
                    vacant.insert(index);
                }
            }
            let edge = Edge::new(kind, first_seq, first_occurred_at, retired_seq);
            if edge.is_active() {
                graph.active_edges += 1;
            }
            graph.graph.add_edge(from, to, edge);
        }

        let count = self.count()?;
        for _ in 0..count {
            let workspace = Workspace::parse(self.str()?)
                .map_err(|_| self.invalid("a criteria workspace that is not one"))?;
            let model = self.string()?;
            let entries = self.count()?;
            let mut set = BTreeMap::new();
            for _ in 0..entries {
                let stamp = self.stamp(&tables)?;
                let seq = self.varint()?;
                let criteria = self.string()?;
                set.insert(stamp, CriteriaFacts { criteria, seq });
            }
            if graph
                .criteria_by_model
                .insert((workspace, model), set)
                .is_some()
            {
                return Err(self.invalid("a model's criteria written twice"));
            }
        }
        rebuild_indexes(&mut graph);
        Ok(graph)
    }

    /// A node and its displaced values.
    fn node(
        &mut self,
        tables: &Tables,
        point_stamps: usize,
    ) -> Result<(Node, Vec<Displaced>), SnapshotError> {
        let workspace = self.name(tables)?;
        let kind = *EntityKind::ALL
            .get(usize::from(self.u8()?))
            .ok_or_else(|| self.invalid("an unknown entity kind"))?;
        let name = self.string()?;
        let version = self.string()?;
        let key = EntityKey::new_unchecked(
            Workspace::from_shared(workspace.shared().clone()),
            kind,
            name,
            version,
        );
        let first_seq = self.varint()?;
        let first_occurred_at = EventTime::from_unix_nanos(self.i64()?);
        let tags = self.registers(tables)?;
        let count = self.count()?;
        let mut flags = BTreeMap::new();
        for _ in 0..count {
            let stamp = self.stamp(tables)?;
            let reason = self.string()?;
            let severity = match self.u8()? {
                0 => Severity::Low,
                1 => Severity::Medium,
                2 => Severity::High,
                3 => Severity::Critical,
                _ => return Err(self.invalid("an unknown severity")),
            };
            let flagged_by = self.string()?;
            flags.insert(
                stamp.event_id,
                FlagFacts {
                    reason,
                    severity,
                    flagged_at: stamp.occurred_at,
                    flagged_by,
                    seq: self.varint()?,
                },
            );
        }
        let redactions = self.redactions(tables)?;
        let facts = match kind {
            EntityKind::Experiment => {
                Facts::Experiment(self.register(tables, Self::experiment_facts)?.map(Box::new))
            }
            EntityKind::Run => Facts::Run(Box::new(self.run(tables, point_stamps)?)),
            EntityKind::DatasetVersion => {
                Facts::DatasetVersion(self.register(tables, Self::dataset_facts)?.map(Box::new))
            }
            EntityKind::Artifact => {
                Facts::Artifact(self.register(tables, Self::artifact_facts)?.map(Box::new))
            }
            EntityKind::ModelVersion => {
                let registered = self.register(tables, Self::registration_facts)?;
                let count = self.count()?;
                let mut stage_changes = BTreeMap::new();
                for _ in 0..count {
                    let stamp = self.stamp(tables)?;
                    let stage = match self.u8()? {
                        0 => ModelStage::Staging,
                        1 => ModelStage::Production,
                        2 => ModelStage::Archived,
                        _ => return Err(self.invalid("an unknown model stage")),
                    };
                    stage_changes.insert(
                        stamp,
                        StageChangeFacts {
                            stage,
                            reason: self.string()?,
                            approved_by: self.string()?,
                            seq: self.varint()?,
                        },
                    );
                }
                Facts::ModelVersion(Box::new(ModelFacts {
                    registered,
                    stage_changes,
                }))
            }
            EntityKind::Environment => Facts::Environment,
            EntityKind::Compute => Facts::Compute,
            EntityKind::Endpoint => {
                Facts::Endpoint(self.register(tables, Self::deployment_facts)?.map(Box::new))
            }
        };
        let displaced = self.displaced(tables, &facts, point_stamps)?;
        let node = Node {
            key,
            first_seq,
            first_occurred_at,
            facts,
            tags,
            flags,
            redactions,
        };
        Ok((node, displaced))
    }

    /// A node's redactions, `None` when it has none (as the graph holds it).
    fn redactions(&mut self, tables: &Tables) -> Result<Option<Redactions>, SnapshotError> {
        let count = self.count()?;
        if count == 0 {
            return Ok(None);
        }
        let mut redactions = Vec::with_capacity(count);
        for _ in 0..count {
            let fields_count = self.count()?;
            let mut fields = Vec::with_capacity(fields_count);
            for _ in 0..fields_count {
                fields.push(self.string()?);
            }
            if !fields.is_sorted() {
                return Err(self.invalid("redacted fields out of order"));
            }
            let reason = self.string()?;
            let requested_by = self.string()?;
            let stamp = self.stamp(tables)?;
            redactions.push(Redaction {
                fields,
                reason,
                requested_by,
                requested_at: stamp.occurred_at,
                seq: self.varint()?,
                event_id: stamp.event_id,
            });
        }
        Ok(Some(Box::new(redactions)))
    }

    fn run(&mut self, tables: &Tables, point_stamps: usize) -> Result<RunFacts, SnapshotError> {
        let started = self.register(tables, Self::run_start_facts)?;
        let finished = self.register(tables, Self::run_finish_facts)?;
        let params = self.registers(tables)?;
        let count = self.count()?;
        let mut metrics = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.name(tables)?;
            // Each point takes at least 4 bytes.
            let points = self.count()?;
            let len = self.count()?;
            if points > len / 4 {
                return Err(self.invalid("more points than their bytes could hold"));
            }
            let start = self.at;
            self.at += len;
            let encoded = &self.bytes[start..self.at];
            let series = match &mut self.series_checks {
                Some(checks) => {
                    checks.push(SeriesCheck {
                        at: start,
                        len,
                        points: points as u32,
                        stamps: point_stamps,
                    });
                    MetricSeries::from_encoded_checked_apart(key, encoded, points as u32)
                }
                None => MetricSeries::from_encoded(key, encoded, points as u32, point_stamps)
                    .map_err(|_| SnapshotError::Invalid {
                        what: "a metric series that does not decode",
                        at: start,
                    })?,
            };
            metrics.push(series);
        }
        if !metrics.is_sorted_by(|a, b| a.key() < b.key()) {
            return Err(self.invalid("metric series out of key order"));
        }
        Ok(RunFacts {
            started,
            finished,
            params,
            metrics,
        })
    }

    /// A node's displaced values. Each must be one the node's `facts`
    /// could have held: a run's for a run start, a series of the run for a
    /// metric point, and so on; tags, any entity's.
    fn displaced(
        &mut self,
        tables: &Tables,
        facts: &Facts,
        point_stamps: usize,
    ) -> Result<Vec<Displaced>, SnapshotError> {
        let count = self.count()?;
        if count > self.remaining() / DISPLACED_MIN_LEN {
            return Err(self.invalid("more displaced values than their bytes could hold"));
        }
        let mut displaced = Vec::with_capacity(count);
        for _ in 0..count {
            let variant_at = self.at;
            let value = match self.u8()? {
                DISPLACED_EXPERIMENT => {
                    Displaced::Experiment(Box::new(self.lww(tables, Self::experiment_facts)?))
                }
                DISPLACED_RUN_START => {
                    Displaced::RunStart(Box::new(self.lww(tables, Self::run_start_facts)?))
                }
                DISPLACED_RUN_FINISH => {
                    Displaced::RunFinish(Box::new(self.lww(tables, Self::run_finish_facts)?))
                }
                DISPLACED_DATASET => {
                    Displaced::Dataset(Box::new(self.lww(tables, Self::dataset_facts)?))
                }
                DISPLACED_ARTIFACT => {
                    Displaced::Artifact(Box::new(self.lww(tables, Self::artifact_facts)?))
                }
                DISPLACED_REGISTRATION => {
                    Displaced::Registration(Box::new(self.lww(tables, Self::registration_facts)?))
                }
                DISPLACED_DEPLOYMENT => {
                    Displaced::Deployment(Box::new(self.lww(tables, Self::deployment_facts)?))
                }
                DISPLACED_TAG => {
                    let (key, value) = self.name_register(tables)?;
                    Displaced::Tag(key, value)
                }
                DISPLACED_PARAM => {
                    let (key, value) = self.name_register(tables)?;
                    Displaced::Param(key, value)
                }
                DISPLACED_METRIC => {
                    let key = self.name(tables)?;
                    let point = MetricPointFacts {
                        step: self.i64()?,
                        timestamp: EventTime::from_unix_nanos(self.i64()?),
                        value: f64::from_bits(u64::from_le_bytes(self.fixed8()?)),
                        stamp: self.index(point_stamps, "a point stamp index out of range")? as u32,
                    };
                    if !(EventTime::MIN..=EventTime::MAX).contains(&{ point.timestamp }) {
                        return Err(self.invalid("a metric time out of range"));
                    }
                    Displaced::Metric(key, point)
                }
                _ => {
                    return Err(SnapshotError::Invalid {
                        what: "an unknown kind of displaced value",
                        at: variant_at,
                    });
                }
            };
            let fits = match (&value, facts) {
                (Displaced::Experiment(_), Facts::Experiment(_))
                | (
                    Displaced::RunStart(_) | Displaced::RunFinish(_) | Displaced::Param(..),
                    Facts::Run(_),
                )
                | (Displaced::Dataset(_), Facts::DatasetVersion(_))
                | (Displaced::Artifact(_), Facts::Artifact(_))
                | (Displaced::Registration(_), Facts::ModelVersion(_))
                | (Displaced::Deployment(_), Facts::Endpoint(_))
                | (Displaced::Tag(..), _) => true,
                (Displaced::Metric(key, _), Facts::Run(run)) => run.metric(key).is_some(),
                _ => false,
            };
            if !fits {
                return Err(SnapshotError::Invalid {
                    what: "a displaced value its entity could not have held",
                    at: variant_at,
                });
            }
            displaced.push(value);
        }
        Ok(displaced)
    }

    // The values of the fact registers, as the registers and the displaced
    // values both hold them.

    fn experiment_facts(&mut self) -> Result<ExperimentFacts, SnapshotError> {
        Ok(ExperimentFacts {
            description: self.string()?,
        })
    }

    fn run_start_facts(&mut self) -> Result<RunStartFacts, SnapshotError> {
        let experiment = self.opt_string()?;
        let name = self.string()?;
        let parent_run_id = self.opt_string()?;
        let code_version = self.string()?;
        let environment = if self.flag()? {
            Some(EnvironmentRef {
                name: self.string()?,
                version: self.string()?,
            })
        } else {
            None
        };
        Ok(RunStartFacts {
            experiment,
            name,
            parent_run_id,
            code_version,
            environment,
            compute_target: self.opt_string()?,
            owner: self.string()?,
        })
    }

    fn run_finish_facts(&mut self) -> Result<RunFinishFacts, SnapshotError> {
        let status = match self.u8()? {
            0 => RunStatus::Started,
            1 => RunStatus::Completed,
            2 => RunStatus::Failed,
            3 => RunStatus::Canceled,
            _ => return Err(self.invalid("an unknown run status")),
        };
        Ok(RunFinishFacts {
            status,
            error: self.string()?,
        })
    }

    fn dataset_facts(&mut self) -> Result<DatasetFacts, SnapshotError> {
        let uri = self.string()?;
        let digest = self.string()?;
        let count = self.count()?;
        let mut derived_from = Vec::with_capacity(count);
        for _ in 0..count {
            derived_from.push(DatasetVersionRef {
                dataset: self.string()?,
                version: self.string()?,
            });
        }
        Ok(DatasetFacts {
            uri,
            digest,
            derived_from,
            produced_by_run_id: self.opt_string()?,
        })
    }

    fn artifact_facts(&mut self) -> Result<ArtifactFacts, SnapshotError> {
        Ok(ArtifactFacts {
            uri: self.string()?,
            digest: self.string()?,
            kind: self.string()?,
            size_bytes: self.varint()?,
        })
    }

    fn registration_facts(&mut self) -> Result<RegistrationFacts, SnapshotError> {
        Ok(RegistrationFacts {
            source_run_id: self.string()?,
            artifact_name: self.opt_string()?,
            approval_notes: self.string()?,
            approved_by: self.string()?,
        })
    }

    fn deployment_facts(&mut self) -> Result<DeploymentFacts, SnapshotError> {
        Ok(DeploymentFacts {
            model: self.string()?,
            version: self.string()?,
            deployment: self.string()?,
        })
    }
}

/// Rebuilds the indexes that are not written: the workspaces, dataset
/// versions by dataset, and runs by the dataset (version) they read. Input
/// edges are never retired, and a dataset version's Input edges are
/// exactly the entries of the runs-by-dataset indexes.
fn rebuild_indexes(graph: &mut LineageGraph) {
    let mut run_ids: Vec<Option<Name>> = vec![None; graph.node_count()];
    for dataset in graph.graph.node_indices() {
        let key = &graph.graph[dataset].key;
        if !graph.workspaces.contains(&key.workspace) {
            graph.workspaces.insert(key.workspace.clone());
        }
        if key.kind != EntityKind::DatasetVersion {
            continue;
        }
        let by_dataset = (key.workspace.clone(), key.name.clone());
        graph
            .versions_by_dataset
            .entry(by_dataset.clone())
            .or_default()
            .insert(key.version.clone(), dataset);
        let mut runs = Vec::new();
        for edge in graph.graph.edges_directed(dataset, Direction::Outgoing) {
            if edge.weight().kind() != EdgeKind::Input {
                continue;
            }
            let run = edge.target();
            let run_id = run_ids[run.index()]
                .get_or_insert_with(|| Name::new(&graph.graph[run].key.name))
                .clone();
            runs.push((run_id, run));
        }
        if runs.is_empty() {
            continue;
        }
        let all_versions = graph.runs_by_dataset.entry(by_dataset).or_default();
        all_versions.extend(runs.iter().cloned());
        graph
            .runs_by_dataset_version
            .insert(dataset, runs.into_iter().collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, MetricPoint, MetricsLogged, Payload};

    fn metrics_event(id: &str, seconds: i64, points: &[(&str, f64, i64)]) -> Event {
        metrics_event_of("r1", id, seconds, points)
    }

    fn metrics_event_of(
        run_id: &str,
        id: &str,
        seconds: i64,
        points: &[(&str, f64, i64)],
    ) -> Event {
        let at = EventTime::from_unix(seconds, 0).expect("in range");
        Event {
            id: EventId::new_unchecked(id),
            workspace: Workspace::parse("credit-lender").expect("valid"),
            occurred_at: at,
            producer: "tests".to_owned(),
            actor: "alice".to_owned(),
            payload: Payload::MetricsLogged(MetricsLogged {
                run_id: run_id.to_owned(),
                metrics: points
                    .iter()
                    .map(|&(key, value, step)| MetricPoint {
                        key: key.to_owned(),
                        value,
                        step,
                        timestamp: at,
                    })
                    .collect(),
            }),
        }
    }

    /// Three metrics events applied out of event-time order.
    fn metrics_out_of_order() -> LineageGraph {
        let mut graph = LineageGraph::new();
        let events = [
            metrics_event("e1", 100, &[("auc", 0.7, 1), ("loss", 0.9, 1)]),
            metrics_event("e3", 300, &[("auc", 0.8, 3)]),
            metrics_event("e2", 200, &[("auc", 0.75, 2), ("loss", 0.5, 2)]),
        ];
        for (seq, event) in (1u64..).zip(&events) {
            graph.apply(seq, event);
        }
        graph
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
            .collect()
    }

    /// The snapshot of [`metrics_out_of_order`], as the last build that
    /// wrote format 2 wrote it (commit 7126399).
    const FORMAT_2_FIXTURE: &str = "4c47534e4150020303036175630d6372656469742d6c656e646572046c6f73730300e87648170000000000b864d9450000000100d0ed902e0000000201010102723100010000000000020003300280a0b787e905e6cc99b3e6cc99f33f000280a0b787e905e6cc99b3e6cc9907040280a0b787e9059ab3e6cc99b366010202210280a0b787e905cd99b3e6cc99b3f63f000280a0b787e905cd99b3e6cc99b306040003026531026533026532a200000000000000c7ed24f1ee5e73c54ef65bfb8ef1152582ad83476ae612e161b8c86942924780";

    #[test]
    fn a_snapshot_written_by_a_format_2_build_is_refused() {
        let fixture = from_hex(FORMAT_2_FIXTURE);
        assert_eq!(fixture[MAGIC.len()], 2);
        assert_eq!(
            LineageGraph::decode_snapshot(&fixture).err(),
            Some(SnapshotError::UnsupportedVersion { found: 2 })
        );
    }

    /// The snapshot of [`metrics_out_of_order`], as the last build that
    /// wrote format 3 (before redactions) wrote it.
    const FORMAT_3_FIXTURE: &str = "4c47534e4150030303036175630d6372656469742d6c656e646572046c6f73730300e87648170000000000b864d9450000000100d0ed902e0000000201010102723100010000000000020003310600b864d9450000009a9999999999e93f0101ff9fb787e9059ab3e6cc99b3660201ff9fb787e905e6cc99b3e6cc9907030202220400d0ed902e000000000000000000e03f0201ff9fb787e905cd99b3e6cc99b306030003026531026533026532a4000000000000005c615dec87a9fb9159acc1fc46f65ab3d06561f37fe5e69044999e8236ca70fa";

    #[test]
    fn a_snapshot_written_by_a_format_3_build_is_refused() {
        let fixture = from_hex(FORMAT_3_FIXTURE);
        assert_eq!(fixture[MAGIC.len()], 3);
        assert_eq!(
            LineageGraph::decode_snapshot(&fixture).err(),
            Some(SnapshotError::UnsupportedVersion { found: 3 })
        );
    }

    #[test]
    fn the_workspaces_are_rebuilt_from_the_nodes() {
        let mut graph = metrics_out_of_order();
        let mut other = metrics_event_of("r9", "e9", 400, &[("auc", 0.5, 1)]);
        other.workspace = Workspace::parse("agri-yield").expect("valid");
        graph.apply(4, &other);
        let decoded = LineageGraph::decode_snapshot(&graph.encode_snapshot()).expect("decodes");
        let names: Vec<&str> = decoded.workspaces().iter().map(Workspace::as_str).collect();
        assert_eq!(names, ["agri-yield", "credit-lender"]);
        assert_eq!(decoded.workspaces(), graph.workspaces());
    }

    #[test]
    fn every_older_format_is_refused_even_behind_a_valid_checksum() {
        let snapshot = metrics_out_of_order().encode_snapshot();
        assert_eq!(snapshot[MAGIC.len()], SNAPSHOT_VERSION);
        for version in 1..SNAPSHOT_VERSION {
            let mut content = snapshot[..snapshot.len() - CHECKSUM_LEN].to_vec();
            content[MAGIC.len()] = version;
            content.extend_from_slice(blake3::hash(&content).as_bytes());
            assert_eq!(
                LineageGraph::decode_snapshot(&content).err(),
                Some(SnapshotError::UnsupportedVersion { found: version })
            );
        }
    }

    #[test]
    fn redactions_round_trip() {
        use crate::event::RedactionRequested;
        use crate::redaction::PersonalField;
        let mut graph = metrics_out_of_order();
        let entity = EntityKey::run(&Workspace::parse("credit-lender").expect("valid"), "r1");
        for (seq, id, fields) in [
            (4, "red-1", &["error", "tags.owner"][..]),
            (5, "red-2", &["actor"][..]),
        ] {
            graph.apply(
                seq,
                &Event {
                    id: EventId::new_unchecked(id),
                    workspace: entity.workspace.clone(),
                    occurred_at: EventTime::from_unix(400 + seq as i64, 7).expect("in range"),
                    producer: "tests".to_owned(),
                    actor: "dpo".to_owned(),
                    payload: Payload::RedactionRequested(RedactionRequested {
                        entity: entity.clone(),
                        fields: fields
                            .iter()
                            .map(|f| PersonalField::parse(f).expect("a field"))
                            .collect(),
                        reason: format!("ticket {id}"),
                    }),
                },
            );
        }
        let snapshot = graph.encode_snapshot();
        assert_eq!(snapshot[MAGIC.len()], SNAPSHOT_VERSION);
        let restored = LineageGraph::decode_snapshot(&snapshot).expect("decodes");
        let index = restored.find(&entity).expect("the run");
        assert_eq!(restored.node(index), graph.node(index));
        assert_eq!(restored.node(index).redactions().len(), 2);
        assert_eq!(restored.state_digest(), graph.state_digest());
        assert_eq!(restored.encode_snapshot(), snapshot);
    }

    #[test]
    fn a_series_that_does_not_check_is_refused_behind_a_valid_checksum() {
        let graph = metrics_out_of_order();
        let auc = graph
            .nodes()
            .find_map(|(_, node)| match &node.facts {
                Facts::Run(run) => run.metric("auc"),
                _ => None,
            })
            .expect("the run's auc series");
        let encoded = auc.encoded().to_vec();
        let snapshot = graph.encode_snapshot();
        let at = snapshot
            .windows(encoded.len())
            .position(|window| window == encoded)
            .expect("the series is in the snapshot as the graph holds it");
        // The newest point: its step (one byte), time and value (8 bytes
        // each), then its stamp index, here pointed past the three stamps.
        let mut content = snapshot[..snapshot.len() - CHECKSUM_LEN].to_vec();
        content[at + 17] = 0x7f;
        content.extend_from_slice(blake3::hash(&content).as_bytes());
        assert_eq!(
            LineageGraph::decode_snapshot(&content).err(),
            Some(SnapshotError::Invalid {
                what: "a metric series that does not decode",
                at,
            })
        );
    }

    #[test]
    fn a_large_snapshot_is_written_in_chunks_that_decode_as_one() {
        let mut graph = LineageGraph::new();
        let keys: Vec<String> = (0..20).map(|m| format!("metric_{m:02}")).collect();
        for run in 0..400u32 {
            for step in 0..10i64 {
                let seq = u64::from(run) * 10 + step as u64 + 1;
                let points: Vec<(&str, f64, i64)> = keys
                    .iter()
                    .map(|key| (key.as_str(), f64::from(run) / 7.0 + step as f64, step))
                    .collect();
                let event = metrics_event_of(
                    &format!("run-{run}"),
                    &format!("e{seq}"),
                    1_000 + seq as i64,
                    &points,
                );
                graph.apply(seq, &event);
            }
        }
        let mut chunks = Vec::new();
        graph.write_snapshot(&mut |chunk| chunks.push(chunk.to_vec()));
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        // Every chunk but the checksum is about a chunk long: spilled after
        // the item that filled it.
        for chunk in &chunks[..chunks.len() - 2] {
            assert!(chunk.len() >= SNAPSHOT_CHUNK && chunk.len() < SNAPSHOT_CHUNK + 64 * 1024);
        }
        assert_eq!(chunks.last().map(Vec::len), Some(CHECKSUM_LEN));
        let whole = chunks.concat();
        assert_eq!(whole, graph.encode_snapshot());
        let restored = LineageGraph::decode_snapshot(&whole).expect("decodes");
        assert_eq!(restored.state_digest(), graph.state_digest());
    }

    fn event_at(id: &str, seconds: i64, payload: Payload) -> Event {
        Event {
            id: EventId::new_unchecked(id),
            workspace: Workspace::parse("credit-lender").expect("valid"),
            occurred_at: EventTime::from_unix(seconds, 0).expect("in range"),
            producer: "tests".to_owned(),
            actor: "alice".to_owned(),
            payload,
        }
    }

    fn string_map(pairs: &[(&str, &str)]) -> crate::event::StringMap {
        pairs
            .iter()
            .map(|&(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }

    fn key_of(kind: EntityKind, name: &str, version: &str) -> EntityKey {
        let workspace = Workspace::parse("credit-lender").expect("valid");
        EntityKey::parse(workspace, kind, name, version).expect("a valid key")
    }

    /// A history whose graph holds every kind of value the format writes
    /// for views as of an earlier time: each register kind stated more
    /// than once, out of order (so that values are displaced, some because
    /// they lost and leave dormant edges), metric points re-logged, flags,
    /// stage changes, a redaction and a redeployed endpoint. Applied at
    /// log sequences 100, 107, 114..., so that no sequence is an index.
    fn time_travel_history() -> LineageGraph {
        use crate::event::{
            ArtifactLogged, DatasetVersionRegistered, EntityFlagged, ExperimentCreated,
            ModelDeployed, ModelRegistered, ModelStageChanged, ParamsLogged, RedactionRequested,
            RunFinished, RunInputsDeclared, RunStarted, TagsSet,
        };
        use crate::redaction::PersonalField;

        let experiment = |id: &str, seconds, description: &str| {
            event_at(
                id,
                seconds,
                Payload::ExperimentCreated(ExperimentCreated {
                    experiment: "churn".to_owned(),
                    description: description.to_owned(),
                    tags: string_map(&[("area", description)]),
                }),
            )
        };
        let started = |id: &str, seconds, python: &str, compute: Option<&str>, params, tags| {
            event_at(
                id,
                seconds,
                Payload::RunStarted(RunStarted {
                    run_id: "r1".to_owned(),
                    experiment: Some("churn".to_owned()),
                    name: format!("r1 {id}"),
                    parent_run_id: None,
                    code_version: "abc123".to_owned(),
                    environment: Some(EnvironmentRef {
                        name: "python".to_owned(),
                        version: python.to_owned(),
                    }),
                    compute_target: compute.map(str::to_owned),
                    params,
                    tags,
                }),
            )
        };
        let params = |id: &str, seconds, pairs: &[(&str, &str)]| {
            event_at(
                id,
                seconds,
                Payload::ParamsLogged(ParamsLogged {
                    run_id: "r1".to_owned(),
                    params: string_map(pairs),
                }),
            )
        };
        let tags = |id: &str, seconds, entity: EntityKey, pairs: &[(&str, &str)]| {
            event_at(
                id,
                seconds,
                Payload::TagsSet(TagsSet {
                    entity,
                    tags: string_map(pairs),
                }),
            )
        };
        // Every point at (step 1, 600 s), whenever its event occurred.
        let auc = |id: &str, seconds, value| {
            let mut event = metrics_event(id, seconds, &[("auc", value, 1)]);
            if let Payload::MetricsLogged(logged) = &mut event.payload {
                for point in &mut logged.metrics {
                    point.timestamp = EventTime::from_unix(600, 0).expect("in range");
                }
            }
            event
        };
        let finished = |id: &str, seconds, status, error: &str| {
            event_at(
                id,
                seconds,
                Payload::RunFinished(RunFinished {
                    run_id: "r1".to_owned(),
                    status,
                    error: error.to_owned(),
                }),
            )
        };
        let dataset = |id: &str, seconds, parent: &str| {
            event_at(
                id,
                seconds,
                Payload::DatasetVersionRegistered(DatasetVersionRegistered {
                    dataset: "applications".to_owned(),
                    version: "1".to_owned(),
                    uri: format!("s3://data/applications/1/{id}"),
                    digest: format!("blake3:{id}"),
                    derived_from: vec![DatasetVersionRef {
                        dataset: "raw".to_owned(),
                        version: parent.to_owned(),
                    }],
                    produced_by_run_id: Some("r0".to_owned()),
                }),
            )
        };
        let inputs = |id: &str, seconds| {
            event_at(
                id,
                seconds,
                Payload::RunInputsDeclared(RunInputsDeclared {
                    run_id: "r1".to_owned(),
                    datasets: vec![DatasetVersionRef {
                        dataset: "applications".to_owned(),
                        version: "1".to_owned(),
                    }],
                    artifacts: Vec::new(),
                    models: Vec::new(),
                }),
            )
        };
        let artifact = |id: &str, seconds, size_bytes| {
            event_at(
                id,
                seconds,
                Payload::ArtifactLogged(ArtifactLogged {
                    run_id: "r1".to_owned(),
                    name: "model.pkl".to_owned(),
                    uri: format!("s3://artifacts/r1/model.pkl/{id}"),
                    digest: format!("blake3:{id}"),
                    kind: "model".to_owned(),
                    size_bytes,
                }),
            )
        };
        let registered = |id: &str, seconds, source_run_id: &str| {
            event_at(
                id,
                seconds,
                Payload::ModelRegistered(ModelRegistered {
                    model: "credit".to_owned(),
                    version: "1".to_owned(),
                    source_run_id: source_run_id.to_owned(),
                    artifact_name: Some("model.pkl".to_owned()),
                    approval_notes: format!("notes of {id}"),
                    approved_by: "committee".to_owned(),
                }),
            )
        };
        let stage = |id: &str, seconds, stage| {
            event_at(
                id,
                seconds,
                Payload::ModelStageChanged(ModelStageChanged {
                    model: "credit".to_owned(),
                    version: "1".to_owned(),
                    stage,
                    reason: format!("review {id}"),
                    approved_by: "committee".to_owned(),
                }),
            )
        };
        let deployed = |id: &str, seconds, version: &str| {
            event_at(
                id,
                seconds,
                Payload::ModelDeployed(ModelDeployed {
                    model: "credit".to_owned(),
                    version: version.to_owned(),
                    endpoint: "scoring".to_owned(),
                    deployment: format!("scoring-{version}"),
                }),
            )
        };
        let run = key_of(EntityKind::Run, "r1", "");
        let model = key_of(EntityKind::ModelVersion, "credit", "1");
        let events = [
            experiment("exp-b", 60, "second"),
            // Older than the experiment's creation: displaced as it arrives.
            experiment("exp-a", 50, "first"),
            started(
                "start-b",
                200,
                "3.11",
                None,
                string_map(&[("lr", "0.1")]),
                string_map(&[("team", "risk"), ("owner", "bob")]),
            ),
            // Loses to start-b: its environment and compute edges are
            // dormant, its parameter and tag displaced.
            started(
                "start-a",
                100,
                "3.10",
                Some("gpu-1"),
                string_map(&[("lr", "0.01")]),
                string_map(&[("team", "ops")]),
            ),
            // Wins over start-b, whose environment edge is retired.
            started(
                "start-c",
                300,
                "3.12",
                None,
                Default::default(),
                Default::default(),
            ),
            params("params-new", 400, &[("lr", "0.2")]),
            params("params-old", 40, &[("lr", "0.05"), ("epochs", "10")]),
            tags("tags-new", 450, run.clone(), &[("team", "fraud")]),
            tags("tags-old", 30, run.clone(), &[("team", "ops2")]),
            auc("auc-1", 600, 0.7),
            // A newer stamp for the same point replaces it, an older loses.
            auc("auc-3", 700, 0.8),
            auc("auc-2", 650, 0.75),
            finished("fin-a", 800, RunStatus::Failed, "out of memory"),
            finished("fin-b", 810, RunStatus::Completed, ""),
            event_at(
                "red-1",
                820,
                Payload::RedactionRequested(RedactionRequested {
                    entity: run.clone(),
                    fields: ["actor", "error", "tags.team"]
                        .iter()
                        .map(|field| PersonalField::parse(field).expect("a field"))
                        .collect(),
                    reason: "ticket 7".to_owned(),
                }),
            ),
            event_at(
                "flag-1",
                830,
                Payload::EntityFlagged(EntityFlagged {
                    entity: run.clone(),
                    reason: "leaky feature".to_owned(),
                    severity: Severity::High,
                }),
            ),
            dataset("ds-b", 20, "1"),
            dataset("ds-a", 10, "0"),
            // Declared late, then early: the edge's time is the earliest.
            inputs("in-late", 900),
            inputs("in-early", 5),
            artifact("art-b", 910, 1024),
            artifact("art-a", 905, 2048),
            registered("reg-b", 920, "r1"),
            registered("reg-a", 915, "r0"),
            stage("stage-1", 930, ModelStage::Staging),
            stage("stage-2", 940, ModelStage::Production),
            tags("model-tags", 950, model, &[("note", "champion")]),
            deployed("dep-1", 1000, "1"),
            // Redeployed: the first deployment is displaced and its edge
            // retired; an older deployment arriving last loses.
            deployed("dep-2", 1100, "2"),
            deployed("dep-0", 1050, "3"),
        ];
        let mut graph = LineageGraph::new();
        for (seq, event) in (100u64..).step_by(7).zip(&events) {
            graph.apply(seq, event);
        }
        graph
    }

    /// The stamp table's rows: time, event id and log sequence.
    fn point_stamps(graph: &LineageGraph) -> Vec<(EventTime, String, u64)> {
        (0..graph.point_stamps.len() as u32)
            .map(|index| {
                let stamp = graph.point_stamps.get(index);
                (
                    stamp.occurred_at,
                    stamp.event_id.to_owned(),
                    graph.point_stamps.seq(index),
                )
            })
            .collect()
    }

    #[test]
    fn what_views_as_of_an_earlier_time_need_round_trips() {
        let graph = time_travel_history();
        let at = |seconds| EventTime::from_unix(seconds, 0).expect("in range");
        // The history holds what the test is about.
        let variants: std::collections::HashSet<_> = graph
            .displaced
            .values()
            .flatten()
            .map(std::mem::discriminant)
            .collect();
        assert_eq!(variants.len(), 10, "every kind of displaced value");
        let run = graph
            .find(&key_of(EntityKind::Run, "r1", ""))
            .expect("the run");
        assert_eq!(graph.node(run).first_occurred_at, at(5));
        assert!(
            graph
                .all_edges()
                .any(|(_, _, edge)| edge.retired_seq() == Some(edge.first_seq())),
            "a dormant edge"
        );
        assert!(
            graph
                .all_edges()
                .any(|(_, _, edge)| edge.kind() == EdgeKind::Input
                    && edge.first_occurred_at == at(5))
        );
        assert_eq!(graph.node(run).redactions().len(), 1);
        assert_eq!(graph.node(run).flags.len(), 1);
        assert!(point_stamps(&graph).iter().all(|&(_, _, seq)| seq >= 100));

        let snapshot = graph.encode_snapshot();
        assert_eq!(snapshot[MAGIC.len()], SNAPSHOT_VERSION);
        let restored = LineageGraph::decode_snapshot(&snapshot).expect("decodes");
        assert_eq!(restored.node_count(), graph.node_count());
        for (index, node) in graph.nodes() {
            assert_eq!(restored.node(index), node, "node {index:?}");
        }
        assert_eq!(restored.displaced, graph.displaced);
        let edges = |graph: &LineageGraph| -> Vec<(NodeIndex, NodeIndex, Edge)> {
            graph
                .all_edges()
                .map(|(from, to, edge)| (from, to, edge.clone()))
                .collect()
        };
        assert_eq!(edges(&restored), edges(&graph));
        assert_eq!(restored.active_edge_count(), graph.active_edge_count());
        assert_eq!(point_stamps(&restored), point_stamps(&graph));
        assert_eq!(restored.applied_seq(), graph.applied_seq());
        assert_eq!(restored.state_digest(), graph.state_digest());
        assert_eq!(restored.encode_snapshot(), snapshot);
    }

    #[test]
    fn damage_behind_a_valid_checksum_never_panics() {
        let snapshot = time_travel_history().encode_snapshot();
        let body_end = snapshot.len() - CHECKSUM_LEN;
        let resealed = |content: &[u8]| {
            let mut bytes = content.to_vec();
            bytes.extend_from_slice(blake3::hash(content).as_bytes());
            bytes
        };
        for at in MAGIC.len() + 1..body_end {
            for value in [0x00, 0x7f, 0xff] {
                let mut content = snapshot[..body_end].to_vec();
                content[at] = value;
                // An error or a graph, never a panic.
                let _ = LineageGraph::decode_snapshot(&resealed(&content));
            }
            assert!(LineageGraph::decode_snapshot(&resealed(&snapshot[..at])).is_err());
        }
    }
}
