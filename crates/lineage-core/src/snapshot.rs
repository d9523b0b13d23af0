//! Projection snapshots: the whole graph as bytes and back, so that a
//! restart loads the projection instead of replaying the whole log.
//!
//! Pure bytes in and out; where a snapshot is kept, and which log head it
//! belongs to, is the caller's business. The graph's applied sequence is
//! part of the snapshot ([`LineageGraph::applied_seq`] after decoding).
//!
//! The format (version 4), little endian, lengths and indexes as LEB128
//! varints:
//!
//! ```text
//! magic "LGSNAP" | version u8 | body | blake3(magic..body) (32 bytes)
//! body: applied_seq
//!       names       (count, each a string)        interned strings
//!       point stamps (count, each a stamp)        metric points refer to these
//!       nodes       (count, each: key, first_seq, tags, flags, redactions, facts)
//!       edges       (count, each: from, to, kind, first_seq, retired_seq)
//!       event ids   (count, each a string)        stamps refer to these
//!       the offset of the event ids from the magic (u64)
//! ```
//!
//! The event ids come last so that a snapshot is written in one pass, in
//! chunks ([`LineageGraph::write_snapshot`]): they are known only once every
//! stamp has been written. A reader reads them first, from the offset.
//!
//! A run's metric series is its key, its point count and its points'
//! encoding as the graph holds it (`crate::series`, newest first), checked
//! point by point when read. Older versions are still read, so that the
//! first restart after an upgrade loads the old snapshot instead of
//! replaying: version 3 differs only in its nodes, which have no
//! redactions; version 2 also in its series, encoded oldest first;
//! version 1 also wrote the event ids between applied_seq and the names,
//! and each metric point in full (step, timestamp and value as 8 bytes
//! each, then the stamp index).
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
    ArtifactFacts, DatasetFacts, DeploymentFacts, Edge, EdgeKind, ExperimentFacts, Facts,
    FlagFacts, LineageGraph, Lww, MetricPointFacts, MetricSeries, ModelFacts, Name, Node,
    Redaction, Redactions, Registers, RegistrationFacts, RunFacts, RunFinishFacts, RunStartFacts,
    StageChangeFacts, StampRef,
};
use crate::id::{EntityKey, EntityKind, Workspace};
use crate::series::{self, PointOrder};

const MAGIC: &[u8; 6] = b"LGSNAP";
/// The format version this build writes (it reads this one, 3, 2 and 1).
pub const SNAPSHOT_VERSION: u8 = 4;
/// The format whose nodes have no redactions.
const SNAPSHOT_VERSION_NO_REDACTIONS: u8 = 3;
/// The format with metric series encoded oldest first.
const SNAPSHOT_VERSION_OLDEST_FIRST: u8 = 2;
/// The format with each metric point written in full.
const SNAPSHOT_VERSION_FULL_POINTS: u8 = 1;
const CHECKSUM_LEN: usize = 32;

/// Why bytes are not a snapshot this build can load. Every variant means
/// the same thing to a caller: ignore the snapshot and replay the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Too short to hold a header and checksum, or not a snapshot at all.
    #[error("not a lineage snapshot (bad magic or too short)")]
    NotASnapshot,
    /// Written by a build with another format version.
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
    /// whole snapshot (~270 bytes per event: 2.7 GB at 10 M events).
    pub fn write_snapshot(&self, sink: &mut dyn FnMut(&[u8])) {
        self.write_snapshot_version(SNAPSHOT_VERSION, sink);
    }

    /// A snapshot in `version`, 2 or later (2 and 3 for the tests that
    /// such snapshots still load; redactions are left out of them).
    fn write_snapshot_version(&self, version: u8, sink: &mut dyn FnMut(&[u8])) {
        let (mut encoder, names) = self.encoder(version);
        let mut out = Output {
            buf: Vec::with_capacity(SNAPSHOT_CHUNK + SNAPSHOT_CHUNK / 8),
            emitted: 0,
            hasher: blake3::Hasher::new(),
            sink,
        };
        out.buf.extend_from_slice(MAGIC);
        out.buf.push(version);
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

    /// An encoder for `version`, with the interned names in the fixed
    /// order they are written in.
    fn encoder(&self, version: u8) -> (Encoder, Vec<&Arc<str>>) {
        let mut encoder = Encoder {
            version,
            ..Encoder::default()
        };
        let mut names: Vec<&Arc<str>> = self.interner.strings().collect();
        names.sort_unstable();
        for (index, name) in names.iter().enumerate() {
            encoder
                .names
                .insert(Arc::as_ptr(name) as *const u8, index as u32);
        }
        (encoder, names)
    }

    /// A snapshot in format version 1 (event ids before the nodes, each
    /// metric point in full), for the tests that such snapshots still load.
    #[cfg(test)]
    fn encode_snapshot_version_1(&self) -> Vec<u8> {
        let (mut encoder, names) = self.encoder(SNAPSHOT_VERSION_FULL_POINTS);
        let mut sink = |_: &[u8]| {};
        let mut rest = Output {
            buf: Vec::new(),
            emitted: 0,
            hasher: blake3::Hasher::new(),
            sink: &mut sink,
        };
        // Never spilled: the test graphs are far smaller than a chunk.
        encoder.write_graph(self, &mut rest);
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(SNAPSHOT_VERSION_FULL_POINTS);
        varint(&mut out, self.applied_seq);
        varint(&mut out, encoder.event_ids.len() as u64);
        for id in &encoder.event_ids {
            string(&mut out, id);
        }
        varint(&mut out, names.len() as u64);
        for name in &names {
            string(&mut out, name);
        }
        out.extend_from_slice(&rest.buf);
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out
    }

    /// Loads a snapshot [`LineageGraph::encode_snapshot`] wrote. The graph
    /// is exactly the one encoded, applied sequence included.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<LineageGraph, SnapshotError> {
        if bytes.len() < MAGIC.len() + 1 + CHECKSUM_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let version = bytes[MAGIC.len()];
        if ![
            SNAPSHOT_VERSION,
            SNAPSHOT_VERSION_NO_REDACTIONS,
            SNAPSHOT_VERSION_OLDEST_FIRST,
            SNAPSHOT_VERSION_FULL_POINTS,
        ]
        .contains(&version)
        {
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
            None => Ok(graph),
        }
    }

    /// The graph of a snapshot's checksummed content (magic and version
    /// included, as written).
    /// With `series_checks`, the current format's metric series are handed
    /// to them rather than checked here.
    fn parse_snapshot(
        content: &[u8],
        series_checks: Option<SeriesChecks>,
    ) -> Result<LineageGraph, SnapshotError> {
        let version = content[MAGIC.len()];
        let start = MAGIC.len() + 1;
        // Version 1 has its event ids before the nodes; later versions at
        // the end, where the trailer's offset points.
        let (body, event_ids) = if version == SNAPSHOT_VERSION_FULL_POINTS {
            (content, None)
        } else {
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
                version,
                series_checks: None,
            };
            let event_ids = tables.event_ids()?;
            if tables.at != trailer {
                return Err(tables.invalid("bytes after the event ids"));
            }
            (&content[..offset as usize], Some(event_ids))
        };
        let mut reader = Reader {
            bytes: body,
            at: start,
            version,
            // Only series newest first, as the graph holds them, are taken
            // unchecked; older formats' are re-encoded as they are read.
            series_checks: series_checks.filter(|_| version >= SNAPSHOT_VERSION_NO_REDACTIONS),
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
    /// The format version written.
    version: u8,
}

/// The order a format version writes metric series' points in.
fn point_order(version: u8) -> PointOrder {
    match version {
        SNAPSHOT_VERSION_OLDEST_FIRST => PointOrder::OldestFirst,
        _ => PointOrder::NewestFirst,
    }
}

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
            self.name(out, key);
            self.stamp(out, &value.stamp);
            self.name(out, &value.value);
        }
    }

    fn register<T>(
        &mut self,
        out: &mut Vec<u8>,
        slot: Option<&Lww<T>>,
        value: impl FnOnce(&mut Self, &mut Vec<u8>, &T),
    ) {
        match slot {
            None => out.push(0),
            Some(lww) => {
                out.push(1);
                self.stamp(out, &lww.stamp);
                value(self, out, &lww.value);
            }
        }
    }

    /// Point stamps, nodes and edges, spilling to the sink between items.
    fn write_graph(&mut self, graph: &LineageGraph, out: &mut Output) {
        varint(&mut out.buf, graph.point_stamps.len() as u64);
        for stamp in graph.point_stamps.iter() {
            self.point_stamp(&mut out.buf, stamp);
            out.spill_if_full();
        }
        varint(&mut out.buf, graph.node_count() as u64);
        for (_, node) in graph.nodes() {
            self.node(&mut out.buf, node);
            out.spill_if_full();
        }
        varint(&mut out.buf, graph.all_edges().count() as u64);
        for (from, to, edge) in graph.all_edges() {
            let buf = &mut out.buf;
            varint(buf, from.index() as u64);
            varint(buf, to.index() as u64);
            buf.push(edge.kind as u8);
            varint(buf, edge.first_seq);
            match edge.retired_seq() {
                None => buf.push(0),
                Some(seq) => {
                    buf.push(1);
                    varint(buf, seq);
                }
            }
            out.spill_if_full();
        }
    }

    fn node(&mut self, out: &mut Vec<u8>, node: &Node) {
        let key = &node.key;
        let workspace = self.names[&(Arc::as_ptr(key.workspace.shared()) as *const u8)];
        varint(out, u64::from(workspace));
        out.push(key.kind as u8);
        string(out, &key.name);
        string(out, &key.version);
        varint(out, node.first_seq);
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
        }
        if self.version >= SNAPSHOT_VERSION {
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
        }
        match &node.facts {
            Facts::Experiment(created) => self.register(out, created.as_deref(), |_, out, f| {
                string(out, &f.description)
            }),
            Facts::Run(run) => {
                self.register(out, run.started.as_ref(), |_, out, f| {
                    opt_string(out, f.experiment.as_deref());
                    string(out, &f.name);
                    opt_string(out, f.parent_run_id.as_deref());
                    string(out, &f.code_version);
                    match &f.environment {
                        None => out.push(0),
                        Some(environment) => {
                            out.push(1);
                            string(out, &environment.name);
                            string(out, &environment.version);
                        }
                    }
                    opt_string(out, f.compute_target.as_deref());
                    string(out, &f.owner);
                });
                self.register(out, run.finished.as_ref(), |_, out, f| {
                    out.push(f.status as u8);
                    string(out, &f.error);
                });
                self.registers(out, &run.params);
                varint(out, run.metrics.len() as u64);
                for series in &run.metrics {
                    self.name(out, series.name());
                    varint(out, series.len() as u64);
                    if self.version == SNAPSHOT_VERSION_FULL_POINTS {
                        for point in series.points() {
                            i64_fixed(out, point.step);
                            i64_fixed(out, point.timestamp.unix_nanos());
                            out.extend_from_slice(&point.value.to_bits().to_le_bytes());
                            varint(out, u64::from(point.stamp));
                        }
                    } else {
                        let encoded = series.encoded(point_order(self.version));
                        varint(out, encoded.len() as u64);
                        out.extend_from_slice(&encoded);
                    }
                }
            }
            Facts::DatasetVersion(registered) => {
                self.register(out, registered.as_deref(), |_, out, f| {
                    string(out, &f.uri);
                    string(out, &f.digest);
                    varint(out, f.derived_from.len() as u64);
                    for parent in &f.derived_from {
                        string(out, &parent.dataset);
                        string(out, &parent.version);
                    }
                    opt_string(out, f.produced_by_run_id.as_deref());
                })
            }
            Facts::Artifact(logged) => self.register(out, logged.as_deref(), |_, out, f| {
                string(out, &f.uri);
                string(out, &f.digest);
                string(out, &f.kind);
                varint(out, f.size_bytes);
            }),
            Facts::ModelVersion(model) => {
                self.register(out, model.registered.as_ref(), |_, out, f| {
                    string(out, &f.source_run_id);
                    opt_string(out, f.artifact_name.as_deref());
                    string(out, &f.approval_notes);
                    string(out, &f.approved_by);
                });
                varint(out, model.stage_changes.len() as u64);
                for (stamp, change) in &model.stage_changes {
                    self.stamp(out, stamp);
                    out.push(change.stage as u8);
                    string(out, &change.reason);
                    string(out, &change.approved_by);
                }
            }
            Facts::Environment | Facts::Compute => {}
            Facts::Endpoint(deployment) => {
                self.register(out, deployment.as_deref(), |_, out, f| {
                    string(out, &f.model);
                    string(out, &f.version);
                    string(out, &f.deployment);
                })
            }
        }
    }
}

/// Reads the body, bounding everything by the bytes that remain.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The format version, read from the header.
    version: u8,
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
                        series::check_encoded(
                            encoded,
                            PointOrder::NewestFirst,
                            check.points,
                            check.stamps,
                        )
                        .is_err()
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

    /// A metric series as version 1 wrote it: each point in full.
    fn full_points_series(
        &mut self,
        key: Name,
        point_stamps: usize,
    ) -> Result<MetricSeries, SnapshotError> {
        let points = self.count()?;
        // Each point takes at least 25 bytes.
        if points > self.remaining() / 25 {
            return Err(self.truncated());
        }
        let mut series: Vec<MetricPointFacts> = Vec::with_capacity(points);
        for _ in 0..points {
            let point = MetricPointFacts {
                step: self.i64()?,
                timestamp: EventTime::from_unix_nanos(self.i64()?),
                value: f64::from_bits(u64::from_le_bytes(self.fixed8()?)),
                stamp: self.index(point_stamps, "a point stamp index out of range")? as u32,
            };
            if !(EventTime::MIN..=EventTime::MAX).contains(&{ point.timestamp }) {
                return Err(self.invalid("a metric time out of range"));
            }
            if let Some(last) = series.last()
                && (last.step, last.timestamp) >= (point.step, point.timestamp)
            {
                return Err(self.invalid("metric points out of order"));
            }
            series.push(point);
        }
        MetricSeries::from_sorted(key, series).ok_or_else(|| self.invalid("an empty metric series"))
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
            let key = self.name(tables)?;
            let stamp = self.stamp(tables)?;
            let value = self.name(tables)?;
            entries.push((key, Lww { stamp, value }));
        }
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            return Err(self.invalid("registers out of key order"));
        }
        Ok(Registers::from_sorted(entries))
    }

    fn register<T>(
        &mut self,
        tables: &Tables,
        value: impl FnOnce(&mut Self) -> Result<T, SnapshotError>,
    ) -> Result<Option<Lww<T>>, SnapshotError> {
        if !self.flag()? {
            return Ok(None);
        }
        let stamp = self.stamp(tables)?;
        let value = value(self)?;
        Ok(Some(Lww { stamp, value }))
    }

    fn event_ids(&mut self) -> Result<Vec<EventId>, SnapshotError> {
        let count = self.count()?;
        let mut event_ids = Vec::with_capacity(count);
        for _ in 0..count {
            event_ids.push(EventId::new_unchecked(self.str()?));
        }
        Ok(event_ids)
    }

    /// The graph; `event_ids` when they were read from the end (format 2),
    /// `None` to read them here (format 1).
    fn graph(&mut self, event_ids: Option<Vec<EventId>>) -> Result<LineageGraph, SnapshotError> {
        let mut graph = LineageGraph::new();
        graph.applied_seq = self.varint()?;
        let event_ids = match event_ids {
            Some(event_ids) => event_ids,
            None => self.event_ids()?,
        };
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
            stamps.push(self.stamp(&tables)?);
        }
        let id_bytes = stamps.iter().map(|s| s.event_id.as_str().len()).sum();
        graph.point_stamps.reserve_exact(count, id_bytes);
        for stamp in &stamps {
            graph.point_stamps.push(stamp.into());
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
            let node = self.node(&tables, graph.point_stamps.len())?;
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
                hasher.hash_one((from, to, edges[i].kind))
            });
        }
        for _ in 0..count {
            let from = NodeIndex::new(self.index(nodes, "an edge end out of range")?);
            let to = NodeIndex::new(self.index(nodes, "an edge end out of range")?);
            let kind = *EdgeKind::ALL
                .get(usize::from(self.u8()?))
                .ok_or_else(|| self.invalid("an unknown edge kind"))?;
            let first_seq = self.varint()?;
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
                (from, to, edges[i].kind)
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
            let edge = Edge::new(kind, first_seq, retired_seq);
            if edge.is_active() {
                graph.active_edges += 1;
            }
            graph.graph.add_edge(from, to, edge);
        }
        rebuild_indexes(&mut graph);
        Ok(graph)
    }

    fn node(&mut self, tables: &Tables, point_stamps: usize) -> Result<Node, SnapshotError> {
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
                },
            );
        }
        let redactions = if self.version >= SNAPSHOT_VERSION {
            self.redactions(tables)?
        } else {
            None
        };
        let facts = match kind {
            EntityKind::Experiment => Facts::Experiment(
                self.register(tables, |r| {
                    Ok(ExperimentFacts {
                        description: r.string()?,
                    })
                })?
                .map(Box::new),
            ),
            EntityKind::Run => Facts::Run(Box::new(self.run(tables, point_stamps)?)),
            EntityKind::DatasetVersion => Facts::DatasetVersion(
                self.register(tables, |r| {
                    let uri = r.string()?;
                    let digest = r.string()?;
                    let count = r.count()?;
                    let mut derived_from = Vec::with_capacity(count);
                    for _ in 0..count {
                        derived_from.push(DatasetVersionRef {
                            dataset: r.string()?,
                            version: r.string()?,
                        });
                    }
                    Ok(DatasetFacts {
                        uri,
                        digest,
                        derived_from,
                        produced_by_run_id: r.opt_string()?,
                    })
                })?
                .map(Box::new),
            ),
            EntityKind::Artifact => Facts::Artifact(
                self.register(tables, |r| {
                    Ok(ArtifactFacts {
                        uri: r.string()?,
                        digest: r.string()?,
                        kind: r.string()?,
                        size_bytes: r.varint()?,
                    })
                })?
                .map(Box::new),
            ),
            EntityKind::ModelVersion => {
                let registered = self.register(tables, |r| {
                    Ok(RegistrationFacts {
                        source_run_id: r.string()?,
                        artifact_name: r.opt_string()?,
                        approval_notes: r.string()?,
                        approved_by: r.string()?,
                    })
                })?;
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
            EntityKind::Endpoint => Facts::Endpoint(
                self.register(tables, |r| {
                    Ok(DeploymentFacts {
                        model: r.string()?,
                        version: r.string()?,
                        deployment: r.string()?,
                    })
                })?
                .map(Box::new),
            ),
        };
        Ok(Node {
            key,
            first_seq,
            facts,
            tags,
            flags,
            redactions,
        })
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
        let started = self.register(tables, |r| {
            let experiment = r.opt_string()?;
            let name = r.string()?;
            let parent_run_id = r.opt_string()?;
            let code_version = r.string()?;
            let environment = if r.flag()? {
                Some(EnvironmentRef {
                    name: r.string()?,
                    version: r.string()?,
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
                compute_target: r.opt_string()?,
                owner: r.string()?,
            })
        })?;
        let finished = self.register(tables, |r| {
            let status = match r.u8()? {
                0 => RunStatus::Started,
                1 => RunStatus::Completed,
                2 => RunStatus::Failed,
                3 => RunStatus::Canceled,
                _ => return Err(r.invalid("an unknown run status")),
            };
            Ok(RunFinishFacts {
                status,
                error: r.string()?,
            })
        })?;
        let params = self.registers(tables)?;
        let count = self.count()?;
        let mut metrics = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.name(tables)?;
            let series = if self.version == SNAPSHOT_VERSION_FULL_POINTS {
                self.full_points_series(key, point_stamps)?
            } else {
                // Each point takes at least 4 bytes.
                let points = self.count()?;
                let len = self.count()?;
                if points > len / 4 {
                    return Err(self.invalid("more points than their bytes could hold"));
                }
                let start = self.at;
                self.at += len;
                let encoded = &self.bytes[start..self.at];
                match &mut self.series_checks {
                    Some(checks) => {
                        checks.push(SeriesCheck {
                            at: start,
                            len,
                            points: points as u32,
                            stamps: point_stamps,
                        });
                        MetricSeries::from_encoded_checked_apart(key, encoded, points as u32)
                    }
                    None => MetricSeries::from_encoded(
                        key,
                        encoded,
                        point_order(self.version),
                        points as u32,
                        point_stamps,
                    )
                    .map_err(|_| SnapshotError::Invalid {
                        what: "a metric series that does not decode",
                        at: start,
                    })?,
                }
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
}

/// Rebuilds the indexes that are not written: dataset versions by dataset,
/// and runs by the dataset (version) they read. Input edges are never
/// retired, and a dataset version's Input edges are exactly the entries
/// of the runs-by-dataset indexes.
fn rebuild_indexes(graph: &mut LineageGraph) {
    let mut run_ids: Vec<Option<Name>> = vec![None; graph.node_count()];
    for dataset in graph.graph.node_indices() {
        let key = &graph.graph[dataset].key;
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
            if edge.weight().kind != EdgeKind::Input {
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

    #[test]
    fn version_1_snapshots_with_full_points_still_load() {
        let graph = metrics_out_of_order();
        let old = graph.encode_snapshot_version_1();
        assert_eq!(old[MAGIC.len()], 1);
        let restored = LineageGraph::decode_snapshot(&old).expect("a version 1 snapshot loads");
        assert_eq!(restored.state_digest(), graph.state_digest());
        // Written again, it is the current format, byte for byte.
        assert_eq!(restored.encode_snapshot(), graph.encode_snapshot());
        assert_ne!(graph.encode_snapshot(), old);
    }

    /// The snapshot of [`metrics_out_of_order`], as the last build that
    /// wrote format 2 wrote it (commit 7126399).
    const FORMAT_2_FIXTURE: &str = "4c47534e4150020303036175630d6372656469742d6c656e646572046c6f73730300e87648170000000000b864d9450000000100d0ed902e0000000201010102723100010000000000020003300280a0b787e905e6cc99b3e6cc99f33f000280a0b787e905e6cc99b3e6cc9907040280a0b787e9059ab3e6cc99b366010202210280a0b787e905cd99b3e6cc99b3f63f000280a0b787e905cd99b3e6cc99b306040003026531026533026532a200000000000000c7ed24f1ee5e73c54ef65bfb8ef1152582ad83476ae612e161b8c86942924780";

    #[test]
    fn a_snapshot_written_by_a_format_2_build_loads() {
        let graph = metrics_out_of_order();
        let fixture: Vec<u8> = (0..FORMAT_2_FIXTURE.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&FORMAT_2_FIXTURE[at..at + 2], 16).expect("hex"))
            .collect();
        assert_eq!(fixture[MAGIC.len()], 2);
        let restored = LineageGraph::decode_snapshot(&fixture).expect("a format 2 snapshot loads");
        assert_eq!(restored.state_digest(), graph.state_digest());
        assert_eq!(restored.encode_snapshot(), graph.encode_snapshot());
        let mut rewritten = Vec::new();
        graph.write_snapshot_version(SNAPSHOT_VERSION_OLDEST_FIRST, &mut |chunk| {
            rewritten.extend_from_slice(chunk)
        });
        assert_eq!(
            rewritten, fixture,
            "format 2 is written as that build wrote it"
        );
    }

    /// The snapshot of [`metrics_out_of_order`], as the last build that
    /// wrote format 3 (before redactions) wrote it.
    const FORMAT_3_FIXTURE: &str = "4c47534e4150030303036175630d6372656469742d6c656e646572046c6f73730300e87648170000000000b864d9450000000100d0ed902e0000000201010102723100010000000000020003310600b864d9450000009a9999999999e93f0101ff9fb787e9059ab3e6cc99b3660201ff9fb787e905e6cc99b3e6cc9907030202220400d0ed902e000000000000000000e03f0201ff9fb787e905cd99b3e6cc99b306030003026531026533026532a4000000000000005c615dec87a9fb9159acc1fc46f65ab3d06561f37fe5e69044999e8236ca70fa";

    #[test]
    fn a_snapshot_written_by_a_format_3_build_loads() {
        let graph = metrics_out_of_order();
        let fixture: Vec<u8> = (0..FORMAT_3_FIXTURE.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&FORMAT_3_FIXTURE[at..at + 2], 16).expect("hex"))
            .collect();
        assert_eq!(fixture[MAGIC.len()], SNAPSHOT_VERSION_NO_REDACTIONS);
        let restored = LineageGraph::decode_snapshot(&fixture).expect("a format 3 snapshot loads");
        assert_eq!(restored.state_digest(), graph.state_digest());
        assert!(
            restored
                .nodes()
                .all(|(_, node)| node.redactions().is_empty())
        );
        assert_eq!(restored.encode_snapshot(), graph.encode_snapshot());
        let mut rewritten = Vec::new();
        graph.write_snapshot_version(SNAPSHOT_VERSION_NO_REDACTIONS, &mut |chunk| {
            rewritten.extend_from_slice(chunk)
        });
        assert_eq!(
            rewritten, fixture,
            "format 3 is written as that build wrote it"
        );
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
        let encoded = auc.encoded(PointOrder::NewestFirst).into_owned();
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
}
