//! `lineage-bench memory`: where the projection's memory goes, without sled.
//!
//! Builds the graph from the generated workload in this process (generate →
//! validate → apply, one event at a time, so the transient events stay
//! small), and reports the RSS growth beside a computed attribute payload:
//! the bytes the facts themselves carry (see [`payload_bytes`]). What is
//! left, growth minus payload, is the graph's structure: nodes, edges,
//! indexes, registers and their stamps, and the allocator's slack. It then
//! encodes a projection snapshot and decodes it, timing both against the
//! time spent applying the events.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lineage_core::LineageGraph;
use lineage_core::graph::Facts;
use lineage_proto::v1;
use lineage_proto::validate::{Encoding, decode_event, validate_logged_event};
use prost::Message as _;

use crate::measure::rss_bytes;
use crate::workload::{Workload, WorkloadSpec};

#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Events in the workload, duplicates included.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Leave out the events of these payload kinds (e.g. `metrics_logged`),
    /// to see what one kind of fact costs.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Measure the events of this file (written by a parent `memory` run)
    /// instead of generating them.
    #[arg(long, hide = true)]
    input: Option<PathBuf>,
}

/// What one in-memory build measured.
#[derive(Debug)]
pub struct MemoryFigures {
    pub applied: u64,
    pub nodes: usize,
    pub active_edges: usize,
    pub all_edges: usize,
    pub rss_growth: u64,
    pub payload: u64,
    /// Metric points in the graph, and the bytes their encoding takes.
    pub metric_points: u64,
    pub metric_bytes: u64,
    /// Time spent in `apply` alone.
    pub apply: Duration,
    /// Time of the whole loop: protobuf decoding, validation and apply.
    pub replay: Duration,
    pub graph: LineageGraph,
}

/// What encoding and decoding a snapshot of a graph took.
#[derive(Debug)]
pub struct SnapshotFigures {
    pub bytes: usize,
    pub encode: Duration,
    pub decode: Duration,
}

/// Encodes and decodes a snapshot of `graph`, checking that the decoded
/// graph has the same state digest.
pub fn snapshot_figures(graph: &LineageGraph) -> anyhow::Result<SnapshotFigures> {
    let started = Instant::now();
    let snapshot = graph.encode_snapshot();
    let encode = started.elapsed();
    let started = Instant::now();
    let decoded = LineageGraph::decode_snapshot(&snapshot)?;
    let decode = started.elapsed();
    anyhow::ensure!(
        decoded.state_digest() == graph.state_digest(),
        "the decoded snapshot differs from the graph"
    );
    Ok(SnapshotFigures {
        bytes: snapshot.len(),
        encode,
        decode,
    })
}

/// Writes the workload's unique events, protobuf-encoded and each behind
/// its length (u32, little endian), as the log would store them.
fn write_workload(events: u64, skip: &[String], path: &Path) -> anyhow::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut seen: HashSet<String> = HashSet::new();
    let mut buffer = Vec::new();
    for wire in Workload::new(WorkloadSpec::new(events)) {
        if skip.iter().any(|kind| payload_name(&wire) == kind) {
            continue;
        }
        if !seen.insert(wire.event_id.clone()) {
            continue; // The log stores a duplicate once.
        }
        buffer.clear();
        wire.encode(&mut buffer)?;
        out.write_all(&u32::try_from(buffer.len())?.to_le_bytes())?;
        out.write_all(&buffer)?;
    }
    out.flush()?;
    Ok(())
}

/// Builds the graph from a file `write_workload` wrote, measuring RSS
/// around it. Run in a fresh process, so that no memory the generator
/// freed is reused by the graph and hides its growth.
pub fn build_in_memory(path: &Path) -> anyhow::Result<MemoryFigures> {
    let mut input = BufReader::new(File::open(path)?);
    let mut graph = LineageGraph::new();
    let mut apply = Duration::ZERO;
    let mut seq = 0u64;
    let mut buffer = Vec::new();
    let rss_before = rss_bytes();
    let replay_started = Instant::now();
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(error.into()),
        }
        buffer.resize(u32::from_le_bytes(len) as usize, 0);
        input.read_exact(&mut buffer)?;
        let wire = v1::Event::decode(buffer.as_slice())?;
        let event = validate_logged_event(&wire).map_err(|r| anyhow::anyhow!("{r}"))?;
        seq += 1;
        let started = Instant::now();
        graph.apply(seq, &event);
        apply += started.elapsed();
    }
    let replay = replay_started.elapsed();
    let rss_growth = rss_bytes().saturating_sub(rss_before);
    let (metric_points, metric_bytes) = metric_encoding(&graph);
    Ok(MemoryFigures {
        applied: seq,
        replay,
        nodes: graph.node_count(),
        active_edges: graph.active_edge_count(),
        all_edges: graph.all_edges().count(),
        rss_growth,
        payload: payload_bytes(&graph),
        metric_points,
        metric_bytes,
        apply,
        graph,
    })
}

fn payload_name(event: &v1::Event) -> &'static str {
    use v1::event::Payload;
    match &event.payload {
        Some(Payload::ExperimentCreated(_)) => "experiment_created",
        Some(Payload::RunStarted(_)) => "run_started",
        Some(Payload::RunFinished(_)) => "run_finished",
        Some(Payload::ParamsLogged(_)) => "params_logged",
        Some(Payload::MetricsLogged(_)) => "metrics_logged",
        Some(Payload::TagsSet(_)) => "tags_set",
        Some(Payload::DatasetVersionRegistered(_)) => "dataset_version_registered",
        Some(Payload::RunInputsDeclared(_)) => "run_inputs_declared",
        Some(Payload::ArtifactLogged(_)) => "artifact_logged",
        Some(Payload::ModelRegistered(_)) => "model_registered",
        Some(Payload::ModelStageChanged(_)) => "model_stage_changed",
        Some(Payload::ModelDeployed(_)) => "model_deployed",
        Some(Payload::EntityFlagged(_)) => "entity_flagged",
        Some(Payload::RedactionRequested(_)) => "redaction_requested",
        Some(Payload::PromotionCriteriaSet(_)) => "promotion_criteria_set",
        None => "none",
    }
}

/// How many metric points the graph holds, and the bytes their delta
/// encoding takes (the payload counts 24 per point).
pub fn metric_encoding(graph: &LineageGraph) -> (u64, u64) {
    let (mut points, mut bytes) = (0, 0);
    for (_, node) in graph.nodes() {
        if let Facts::Run(run) = &node.facts {
            for (_, series) in run.metrics() {
                points += series.len() as u64;
                bytes += series.encoded_len() as u64;
            }
        }
    }
    (points, bytes)
}

/// The attribute payload: the bytes the facts carry, counted where they
/// occur. Every string's length (entity names and versions, tag and
/// parameter keys and values, URIs, digests, descriptions, notes...), each
/// metric key once per series, 24 B per metric point (step, time, value)
/// and 8 B per number (sizes, flag times). Stamps, sequences, edges and
/// indexes are structure, not payload.
pub fn payload_bytes(graph: &LineageGraph) -> u64 {
    let mut total = 0usize;
    for (_, node) in graph.nodes() {
        total += node.key.name.len() + node.key.version.len();
        for (key, value) in node.tags.iter() {
            total += key.len() + value.value.len();
        }
        for flag in node.flags.values() {
            total += flag.reason.len() + flag.flagged_by.len() + 8;
        }
        match &node.facts {
            Facts::Experiment(created) => {
                total += created.as_ref().map_or(0, |c| c.value.description.len());
            }
            Facts::Run(run) => {
                if let Some(started) = &run.started {
                    let facts = &started.value;
                    total += facts.experiment.as_ref().map_or(0, String::len)
                        + facts.name.len()
                        + facts.parent_run_id.as_ref().map_or(0, String::len)
                        + facts.code_version.len()
                        + facts
                            .environment
                            .as_ref()
                            .map_or(0, |e| e.name.len() + e.version.len())
                        + facts.compute_target.as_ref().map_or(0, String::len)
                        + facts.owner.len();
                }
                if let Some(finished) = &run.finished {
                    total += finished.value.error.len();
                }
                for (key, value) in run.params() {
                    total += key.len() + value.value.len();
                }
                for (key, series) in run.metrics() {
                    total += key.len() + 24 * series.len();
                }
            }
            Facts::DatasetVersion(registered) => {
                if let Some(registered) = registered {
                    let facts = &registered.value;
                    total += facts.uri.len()
                        + facts.digest.len()
                        + facts
                            .derived_from
                            .iter()
                            .map(|p| p.dataset.len() + p.version.len())
                            .sum::<usize>()
                        + facts.produced_by_run_id.as_ref().map_or(0, String::len);
                }
            }
            Facts::Artifact(logged) => {
                if let Some(logged) = logged {
                    let facts = &logged.value;
                    total += facts.uri.len() + facts.digest.len() + facts.kind.len() + 8;
                }
            }
            Facts::ModelVersion(model) => {
                if let Some(registered) = &model.registered {
                    let facts = &registered.value;
                    total += facts.source_run_id.len()
                        + facts.artifact_name.as_ref().map_or(0, String::len)
                        + facts.approval_notes.len()
                        + facts.approved_by.len();
                }
                for change in model.stage_changes.values() {
                    total += change.reason.len() + change.approved_by.len();
                }
            }
            Facts::Environment | Facts::Compute => {}
            Facts::Endpoint(deployment) => {
                if let Some(deployment) = deployment {
                    let facts = &deployment.value;
                    total += facts.model.len() + facts.version.len() + facts.deployment.len();
                }
            }
        }
    }
    total as u64
}

/// Generates the workload into a file, then builds and measures the graph
/// in a child process (this same binary, given `--input`).
pub fn run(args: MemoryArgs) -> anyhow::Result<()> {
    if let Some(input) = &args.input {
        let figures = build_in_memory(input)?;
        print(&figures);
        let snapshot = snapshot_figures(&figures.graph)?;
        println!(
            "snapshot: {:.1} MiB ({:.0} B/event); encode {:.3} s; decode {:.3} s = {:.0} events/s \
             against apply {:.3} s = {:.0} events/s and replay (protobuf decode + validate + apply) \
             {:.3} s = {:.0} events/s, same run",
            snapshot.bytes as f64 / 1_048_576.0,
            snapshot.bytes as f64 / figures.applied as f64,
            snapshot.encode.as_secs_f64(),
            snapshot.decode.as_secs_f64(),
            figures.applied as f64 / snapshot.decode.as_secs_f64(),
            figures.apply.as_secs_f64(),
            figures.applied as f64 / figures.apply.as_secs_f64(),
            figures.replay.as_secs_f64(),
            figures.applied as f64 / figures.replay.as_secs_f64(),
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("workload.bin");
    write_workload(args.events, &args.skip, &path)?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("memory")
        .arg("--input")
        .arg(&path)
        .status()?;
    anyhow::ensure!(status.success(), "the measuring process failed: {status}");
    Ok(())
}

pub fn print(figures: &MemoryFigures) {
    let edges = figures.active_edges as f64;
    let structure = figures.rss_growth.saturating_sub(figures.payload);
    println!(
        "in memory, no sled: {} events applied, {} nodes, {} active edges ({} with retired)",
        figures.applied, figures.nodes, figures.active_edges, figures.all_edges
    );
    println!(
        "RSS growth {:.1} MiB = {:.0} B/node, {:.0} B/edge (everything charged to edges)",
        figures.rss_growth as f64 / 1_048_576.0,
        figures.rss_growth as f64 / figures.nodes as f64,
        figures.rss_growth as f64 / edges
    );
    println!(
        "attribute payload {:.1} MiB = {:.0} B/edge; structure (growth - payload) {:.0} B/edge",
        figures.payload as f64 / 1_048_576.0,
        figures.payload as f64 / edges,
        structure as f64 / edges
    );
    println!(
        "metric points: {}, encoded in {:.1} MiB = {:.1} B/point (24 B/point in the payload)",
        figures.metric_points,
        figures.metric_bytes as f64 / 1_048_576.0,
        figures.metric_bytes as f64 / figures.metric_points.max(1) as f64
    );
    println!(
        "apply: {:.3} s = {:.0} events/s (apply calls only)",
        figures.apply.as_secs_f64(),
        figures.applied as f64 / figures.apply.as_secs_f64()
    );
}

/// What the log and the graph built from it hold in memory, each measured
/// in a fresh process (see [`log_memory_in_child`]).
#[derive(Debug, Clone, Copy)]
pub struct LogAndGraphMemory {
    pub nodes: u64,
    pub active_edges: u64,
    /// RSS growth of opening the log and scanning every record: the
    /// in-memory idempotency index, sled's page cache (lineaged's default
    /// capacity, 64 MiB) and its buffers.
    pub log_scan_growth: u64,
    /// RSS growth of building the graph from the log's records, in a
    /// process of its own: the graph and the allocator's slack.
    pub graph_growth: u64,
    pub payload: u64,
}

/// Opens the log in `data_dir`, scans it, writes its records to
/// `records_out` (protobuf, each behind its length, as [`build_in_memory`]
/// reads them) and prints the RSS growth of the open and scan as one JSON
/// line. Meant for a fresh process: in one that has freed memory before,
/// the allocator reuses it and hides the growth.
pub fn log_memory(data_dir: &Path, records_out: &Path) -> anyhow::Result<()> {
    let rss_start = rss_bytes();
    let log = lineage_log::Log::open(data_dir, lineage_log::LogOptions::default())?;
    let reader = log.reader();
    let mut out = BufWriter::new(File::create(records_out)?);
    let mut converted = Vec::new();
    // A redaction re-encodes what it erases as protobuf.
    let erased: std::collections::BTreeSet<u64> = reader
        .erased_in(1, u64::MAX)
        .map(|entry| entry.map(|(seq, _)| seq))
        .collect::<Result<_, _>>()?;
    reader.for_each_from(1, |record| {
        let encoding = match Encoding::from_byte(record.encoding) {
            _ if erased.contains(&record.seq) => Encoding::Protobuf,
            Some(encoding) => encoding,
            None => anyhow::bail!("record {} has an unknown encoding", record.seq),
        };
        let bytes = match encoding {
            Encoding::Protobuf => record.bytes,
            Encoding::Json => {
                let event = decode_event(record.bytes, encoding)
                    .map_err(|rejection| anyhow::anyhow!("record {}: {rejection}", record.seq))?;
                converted = event.encode_to_vec();
                &converted
            }
        };
        out.write_all(&u32::try_from(bytes.len())?.to_le_bytes())?;
        out.write_all(bytes)?;
        Ok::<_, anyhow::Error>(())
    })?;
    out.flush()?;
    let rss_scanned = rss_bytes();
    println!(
        "{}",
        serde_json::json!({ "log_scan_growth": rss_scanned.saturating_sub(rss_start) })
    );
    Ok(())
}

/// Builds the graph from the records [`log_memory`] wrote and prints its
/// figures as one JSON line. Meant for a fresh process, as `memory` does it.
pub fn graph_memory(records: &Path) -> anyhow::Result<()> {
    let figures = build_in_memory(records)?;
    println!(
        "{}",
        serde_json::json!({
            "nodes": figures.nodes,
            "active_edges": figures.active_edges,
            "graph_growth": figures.rss_growth,
            "payload": figures.payload,
        })
    );
    Ok(())
}

/// Measures the log in `data_dir` and the graph built from its records,
/// each in a fresh child process of this binary (`log-memory`, then
/// `graph-memory`), so that neither sees memory the other, or lineaged in
/// this process, freed.
pub fn log_memory_in_child(data_dir: &Path) -> anyhow::Result<LogAndGraphMemory> {
    let scratch = tempfile::tempdir()?;
    let records = scratch.path().join("records.bin");
    let log = child_json(&[
        "log-memory".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--records-out".as_ref(),
        records.as_os_str(),
    ])?;
    let graph = child_json(&[
        "graph-memory".as_ref(),
        "--input".as_ref(),
        records.as_os_str(),
    ])?;
    let field = |line: &serde_json::Value, name: &str| {
        line[name]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("the child printed no {name}"))
    };
    Ok(LogAndGraphMemory {
        nodes: field(&graph, "nodes")?,
        active_edges: field(&graph, "active_edges")?,
        log_scan_growth: field(&log, "log_scan_growth")?,
        graph_growth: field(&graph, "graph_growth")?,
        payload: field(&graph, "payload")?,
    })
}

/// Runs this binary with `args` and reads the JSON line it prints.
pub(crate) fn child_json(args: &[&std::ffi::OsStr]) -> anyhow::Result<serde_json::Value> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "the {:?} process failed: {}",
        args.first(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}
