//! The scenarios, in the order one run performs them on one workload:
//!
//! 1. ingest: N events pre-published to a fresh stream; time until lineaged
//!    has stored and applied them all. Baseline: a bare pull consumer
//!    draining and acking the same stream.
//! 4. gRPC queries: C clients for T seconds, mixed queries. Baseline:
//!    GetStatus at the same concurrency.
//! 8. search: SearchRuns over gRPC at scenario 4's concurrency, for a
//!    selective filter (one experiment, a parameter value and a metric
//!    threshold), the runs using the hot dataset version ranked by a metric,
//!    and every completed run of a workspace ranked by a metric (a page of
//!    100); the selective one also with a single client. Baseline:
//!    GetEntity of a run at the same concurrency, right before each.
//! 5. queries during ingest: scenario 4 while lineaged ingests a second
//!    backlog. Baseline: the idle p99 of scenario 4.
//! 2. rebuild: restart on the N-event log as lineaged does (open the log,
//!    the snapshot lineaged wrote at shutdown, the records after it), and a
//!    replay of the whole log. Baseline: a raw scan of the log with protobuf
//!    decoding.
//! 6. memory and disk: RSS growth of the replay, split into what closing
//!    the log releases (sled's cache), the graph's attribute payload and
//!    its structure; sled bytes per stored event.
//! 3. queries in process: each query against the replayed graph, with and
//!    without building (and encoding) the protobuf answer, in the view a
//!    client would ask for (basic for lists and subgraphs), and for lists
//!    in the full view for comparison; scenario 8's searches among them.
//!
//! Nothing here asserts a speed: it measures and reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use lineage_core::search::SearchQuery;
use lineage_core::{
    AsOf, Cut, EdgeKinds, EntityKey, LineageGraph, NodeIndex, NodeKinds, Subgraph, TraversalSpec,
    Walk, Workspace,
};
use lineage_e2e::{Lineaged, NatsServer};
use lineage_log::{Log, LogOptions};
use lineage_proto::encode::Encoded;
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use lineage_proto::{convert, encode};
use prost::Message as _;
use serde_json::json;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::measure::{Samples, dir_bytes, repeat};
use crate::workload::{Workload, WorkloadFacts, WorkloadSpec};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Events in the workload, duplicates included.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Concurrent gRPC clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Seconds each gRPC scenario runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// lineaged's ingest batch size.
    #[arg(long, default_value_t = 256)]
    batch_size: u16,
    /// lineaged's `--ingest-priority` (how ingest yields the CPU to queries).
    #[arg(long, value_enum, default_value_t = lineage_server::IngestPriority::Low)]
    ingest_priority: lineage_server::IngestPriority,
    /// Stop after scenario 1 (ingest): for profiling and tuning it alone.
    #[arg(long)]
    ingest_only: bool,
    /// Events in scenario 5's second backlog (default: half of `--events`).
    /// Smaller at 10 M, where the broker's store and the log of 15 M events
    /// would not fit on this machine's disk.
    #[arg(long)]
    backlog_events: Option<u64>,
    /// Keep lineaged's data here (a new or empty directory) instead of in a
    /// temporary one, e.g. for `lineage-bench restart` to profile a restart.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Where lineaged keeps its data during a run: a temporary directory, or
/// one the caller asked to keep.
enum DataDir {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn new(kept: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let Some(dir) = kept else {
            return Ok(Self::Temporary(tempfile::tempdir()?));
        };
        std::fs::create_dir_all(dir)?;
        anyhow::ensure!(
            std::fs::read_dir(dir)?.next().is_none(),
            "{} is not empty",
            dir.display()
        );
        Ok(Self::Kept(dir.to_owned()))
    }

    fn path(&self) -> &std::path::Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Kept(dir) => dir,
        }
    }
}

/// A restart as lineaged does it, in this (fresh) process, on a data
/// directory lineaged left: prints its time and the restored graph's state
/// digest as JSON. Scenario 2 runs it as a child; by hand, after
/// `run --data-dir`, it profiles a restart.
pub fn restart_only(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let restart = restart(data_dir)?;
    println!(
        "{}",
        json!({
            "records": restart.log.head().seq,
            "secs": restart.secs,
            "log_open_secs": restart.log_open_secs,
            "state_digest": hex_digest(&restart.graph),
        })
    );
    Ok(())
}

/// How long one phase may take at the largest sizes before the run fails.
const LONG_WAIT: Duration = Duration::from_secs(3600);

/// One line of the report.
struct Row {
    scenario: &'static str,
    figure: String,
    value: f64,
    unit: &'static str,
    baseline: Option<f64>,
    target: &'static str,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    fn add(
        &mut self,
        scenario: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
        baseline: Option<f64>,
        target: &'static str,
    ) {
        self.rows.push(Row {
            scenario,
            figure: figure.into(),
            value,
            unit,
            baseline,
            target,
        });
    }

    fn print(&self, args: &RunArgs) {
        println!(
            "\nlineage-bench: {} events, {} gRPC clients x {} s, ingest priority {:?}",
            args.events, args.clients, args.seconds, args.ingest_priority
        );
        println!(
            "| scenario | figure | value | baseline (same run) | ratio | target |\n|---|---|---|---|---|---|"
        );
        for row in &self.rows {
            let baseline = row
                .baseline
                .map_or("".to_owned(), |b| format!("{} {}", fmt(b), row.unit));
            let ratio = row
                .baseline
                .map_or("".to_owned(), |b| format!("{:.2}", row.value / b));
            println!(
                "| {} | {} | {} {} | {} | {} | {} |",
                row.scenario,
                row.figure,
                fmt(row.value),
                row.unit,
                baseline,
                ratio,
                row.target
            );
        }
        for note in &self.notes {
            println!("- {note}");
        }
    }

    fn json(&self, args: &RunArgs) -> serde_json::Value {
        json!({
            "events": args.events,
            "clients": args.clients,
            "seconds": args.seconds,
            "ingest_priority": format!("{:?}", args.ingest_priority),
            "rows": self.rows.iter().map(|row| json!({
                "scenario": row.scenario,
                "figure": row.figure,
                "value": row.value,
                "unit": row.unit,
                "baseline": row.baseline,
                "ratio": row.baseline.map(|b| row.value / b),
                "target": row.target,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut report = Report::default();
    let nats = NatsServer::start();
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;

    let published = Instant::now();
    let facts = publish_workload(&js, WorkloadSpec::new(args.events)).await?;
    report.notes.push(format!(
        "published {} events ({} unique) in {:.1} s",
        args.events,
        facts.unique_events,
        published.elapsed().as_secs_f64()
    ));

    // What the commitment of each event's content costs ingest.
    let (commitment_us, plain_us) = digest_costs(args.events.min(200_000));
    report.add(
        "1 ingest",
        "content digest per event: the commitment (skeleton and salted personal fields)",
        commitment_us,
        "µs",
        Some(plain_us),
        "",
    );

    // 1. Ingest, after its baseline so both read a warm broker.
    let baseline_secs = drain_with_bare_consumer(&js, args.events).await?;
    let data = DataDir::new(args.data_dir.as_deref())?;
    let started = Instant::now();
    let batch_size = args.batch_size;
    let ingest_priority = args.ingest_priority;
    let tweak = move |config: &mut lineage_server::Config| {
        config.batch_size = batch_size;
        config.ingest_priority = ingest_priority;
    };
    let lineaged = Lineaged::start(&nats.url(), data.path(), tweak).await;
    let status = lineaged
        // Every unique event stored and applied (duplicates are
        // acknowledged without either; redeliveries count as duplicates too,
        // so they cannot stand in for the events still to come).
        .wait_status_within(LONG_WAIT, "the workload ingested", |s| {
            s.applied_seq >= facts.unique_events
        })
        .await;
    let ingest_secs = started.elapsed().as_secs_f64();
    report.add(
        "1 ingest",
        "durable ingest (stored + applied + acked)",
        args.events as f64 / ingest_secs,
        "events/s",
        Some(args.events as f64 / baseline_secs),
        "ratio >= 0.5",
    );
    report.notes.push(format!(
        "ingest stored {} events, acknowledged {} duplicates, dead-lettered {}",
        status.applied_seq, status.duplicates, status.dead_lettered
    ));
    if args.ingest_only {
        lineaged.stop_within(LONG_WAIT).await;
        report.print(&args);
        return Ok(());
    }

    // 4. gRPC queries, idle: with clients decoding their answers, and with
    // clients taking them as bytes (the server's share of the machine).
    let mix = QueryMix::new(&facts);
    let ((status_qps, status_samples), (mixed_qps, mixed_samples)) =
        status_and_mix(&lineaged, &args, &mix, Reading::Decoded).await;
    let ((raw_status_qps, _), (raw_mixed_qps, raw_mixed_samples)) =
        status_and_mix(&lineaged, &args, &mix, Reading::Raw).await;
    report.add(
        "4 gRPC",
        "mixed queries, clients decoding answers",
        mixed_qps,
        "qps",
        Some(status_qps),
        "ratio >= 0.7",
    );
    report.add(
        "4 gRPC",
        "mixed queries, clients taking answers as bytes",
        raw_mixed_qps,
        "qps",
        Some(raw_status_qps),
        "ratio >= 0.7",
    );
    report.add(
        "4 gRPC",
        "mixed p50",
        mixed_samples.quantile_us(0.5),
        "µs",
        Some(status_samples.quantile_us(0.5)),
        "",
    );
    report.add(
        "4 gRPC",
        "mixed p99",
        mixed_samples.quantile_us(0.99),
        "µs",
        Some(status_samples.quantile_us(0.99)),
        "",
    );
    report.add(
        "4 gRPC",
        "mixed p99, clients taking answers as bytes",
        raw_mixed_samples.quantile_us(0.99),
        "µs",
        Some(status_samples.quantile_us(0.99)),
        "",
    );
    // Each query of the mix alone, to show which one holds the mix back.
    for (name, query) in mix.each() {
        for (reading, baseline, how) in [
            (Reading::Decoded, status_qps, "decoded"),
            (Reading::Raw, raw_status_qps, "as bytes"),
        ] {
            let (qps, _) = grpc_load(
                &lineaged,
                args.clients,
                args.seconds.min(2),
                None,
                reading,
                &|_| query.clone(),
            )
            .await;
            report.add(
                "4 gRPC",
                format!("{name} alone, {how}"),
                qps,
                "qps",
                Some(baseline),
                "",
            );
        }
    }
    // 8. Search, on the same idle service (scenario 3 asks the same
    // searches in process).
    let searches = search(&lineaged, &args, &facts, &mut report).await?;
    lineaged.stop_within(LONG_WAIT).await;

    // 5. Queries while a second backlog is ingested.
    let mut second = WorkloadSpec::new(args.backlog_events.unwrap_or(args.events / 2));
    second.seed = 7;
    second.id_prefix = "b-".into();
    let second_facts = publish_workload(&js, second).await?;
    let lineaged = Lineaged::start(&nats.url(), data.path(), tweak).await;
    lineaged
        .wait_status_within(LONG_WAIT, "replayed", |s| s.ready)
        .await;
    let target = status.applied_seq + second_facts.unique_events;
    let ingest_running = Arc::new(AtomicBool::new(true));
    let watcher = {
        let mut client = lineaged.client().await;
        let ingest_running = ingest_running.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            while Instant::now() < deadline {
                if let Ok(status) = client.get_status(v1::GetStatusRequest::default()).await
                    && status.into_inner().applied_seq >= target
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ingest_running.store(false, Ordering::Release);
        })
    };
    let mut status_client = lineaged.client().await;
    let applied_before = applied_seq(&mut status_client).await;
    let busy_started = Instant::now();
    let (busy_qps, busy_samples) = grpc_load(
        &lineaged,
        args.clients,
        args.seconds,
        Some(ingest_running.clone()),
        Reading::Decoded,
        &|i| mix.pick(i),
    )
    .await;
    // How fast ingest went while the queries ran: it yields the CPU to
    // them by design, so this is part of the figure.
    let busy_ingest_rate = applied_seq(&mut status_client)
        .await
        .saturating_sub(applied_before) as f64
        / busy_started.elapsed().as_secs_f64();
    let _ = watcher.await;
    report.add(
        "5 during ingest",
        "mixed p99 while ingesting",
        busy_samples.quantile_us(0.99),
        "µs",
        Some(mixed_samples.quantile_us(0.99)),
        "ratio <= 2",
    );
    report.notes.push(format!(
        "during ingest: {} queries at {:.0} qps while {} more events were ingested, at {:.0} events/s while the queries ran",
        busy_samples.len(),
        busy_qps,
        second_facts.unique_events,
        busy_ingest_rate
    ));
    let stored = lineaged
        .wait_status_within(LONG_WAIT, "the second backlog", |s| s.applied_seq >= target)
        .await
        .applied_seq;
    // 7. Audit, over the whole log (its figures are reported next to the
    // raw scan that scenario 2 measures).
    let audit = audit(&lineaged, &js).await?;
    lineaged.stop_within(LONG_WAIT).await;
    let disk = dir_bytes(data.path());
    report.add(
        "6 disk",
        "sled bytes per stored event",
        disk as f64 / stored as f64,
        "B",
        None,
        "",
    );

    // 2. Rebuild, and 6. memory.
    let data_dir = data.path().to_path_buf();
    let rebuild = tokio::task::spawn_blocking(move || rebuild(&data_dir)).await??;
    report.add(
        "2 rebuild",
        "restart until serving (open the log, newest snapshot, replay the rest)",
        rebuild.records as f64 / rebuild.restart_secs,
        "events/s",
        Some(rebuild.records as f64 / rebuild.scan_secs),
        ">= 1M/s, ratio >= 0.5",
    );
    report.notes.push(format!(
        "restart: {} records, serving after {:.3} s; the log opened (idempotency index rebuilt) in {:.3} s while the snapshot decoded",
        rebuild.records, rebuild.restart_secs, rebuild.log_open_secs
    ));
    report.add(
        "2 rebuild",
        "replay of the whole log into a graph (no snapshot)",
        rebuild.records as f64 / rebuild.replay_secs,
        "events/s",
        Some(rebuild.records as f64 / rebuild.scan_secs),
        "",
    );
    let scan_rate = rebuild.records as f64 / rebuild.scan_secs;
    report.add(
        "7 audit",
        "VerifyLog of the whole log (every hash, link, digest, index entry)",
        audit.records as f64 / audit.verify_secs,
        "records/s",
        Some(scan_rate),
        "",
    );
    report.add(
        "7 audit",
        "Replay of the whole log to a client recomputing the chain",
        audit.records as f64 / audit.replay_secs,
        "records/s",
        Some(scan_rate),
        "",
    );
    report.add(
        "7 audit",
        "Redaction of one run carried out (its records found in the whole log and erased, stream messages deleted, snapshots redone), as records of the log per second",
        audit.records as f64 / audit.redaction_secs,
        "records/s",
        Some(scan_rate),
        "",
    );
    report.notes.push(format!(
        "redaction: run {} ({} records erased) in {:.3} s, from publishing the request until GetStatus showed none pending",
        audit.redacted_run, audit.redacted_records, audit.redaction_secs
    ));
    let graph = rebuild.graph;
    // Memory is measured in fresh child processes: in this one, the
    // allocator reuses what lineaged freed and hides the growth. One opens
    // and scans the log (sled's page cache, the idempotency index), another
    // builds the graph from the log's records, so that neither reuses what
    // the other freed; the attribute payload is computed from the graph.
    let memory = crate::memory::log_memory_in_child(data.path())?;
    let total = memory.log_scan_growth + memory.graph_growth;
    let edges = memory.active_edges as f64;
    report.add(
        "6 memory",
        "RSS growth of opening the log and of the graph, per edge, all of it",
        total as f64 / edges,
        "B",
        None,
        "",
    );
    report.add(
        "6 memory",
        "of which the log: idempotency index, sled's cache and buffers (open and scan), per edge",
        memory.log_scan_growth as f64 / edges,
        "B",
        None,
        "",
    );
    report.add(
        "6 memory",
        "of which the graph (built from the log's records in a process of its own), per node",
        memory.graph_growth as f64 / memory.nodes as f64,
        "B",
        None,
        "",
    );
    report.add(
        "6 memory",
        "the graph's attribute payload, per edge",
        memory.payload as f64 / edges,
        "B",
        None,
        "",
    );
    report.add(
        "6 memory",
        "the graph's structure (growth minus payload), per edge",
        memory.graph_growth.saturating_sub(memory.payload) as f64 / edges,
        "B",
        None,
        "<= 300 B",
    );
    report.notes.push(format!(
        "graph: {} nodes, {} edges; RSS growth {:.1} MiB for opening and scanning the log, {:.1} MiB for the graph; attribute payload {:.1} MiB",
        memory.nodes,
        memory.active_edges,
        memory.log_scan_growth as f64 / 1_048_576.0,
        memory.graph_growth as f64 / 1_048_576.0,
        memory.payload as f64 / 1_048_576.0
    ));
    let snapshot = crate::memory::snapshot_figures(&graph)?;
    report.add(
        "2 rebuild",
        "decode a projection snapshot (events per second of log it stands for)",
        rebuild.records as f64 / snapshot.decode.as_secs_f64(),
        "events/s",
        Some(rebuild.records as f64 / rebuild.replay_secs),
        ">= 1M/s",
    );
    report.notes.push(format!(
        "snapshot: {:.1} MiB, encoded in {:.3} s, decoded in {:.3} s; the replay took {:.3} s",
        snapshot.bytes as f64 / 1_048_576.0,
        snapshot.encode.as_secs_f64(),
        snapshot.decode.as_secs_f64(),
        rebuild.replay_secs
    ));

    // 3. Queries in process.
    let graph = Arc::new(graph);
    let in_process = tokio::task::spawn_blocking({
        let graph = graph.clone();
        let facts = facts.clone();
        move || queries_in_process(&graph, &facts, &searches)
    })
    .await?;
    for figures in in_process {
        figures.report(&mut report);
    }

    report.print(&args);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.json(&args))?)?;
        println!("JSON written to {}", path.display());
    }
    drop(nats);
    Ok(())
}

/// The sequence lineaged has applied (0 if it cannot tell).
async fn applied_seq(client: &mut LineageServiceClient<Channel>) -> u64 {
    client
        .get_status(v1::GetStatusRequest::default())
        .await
        .map_or(0, |status| status.into_inner().applied_seq)
}

/// Publishes a workload as protobuf without `Nats-Msg-Id`, so its
/// duplicates reach lineaged as they would past JetStream's window.
async fn publish_workload(
    js: &jetstream::Context,
    spec: WorkloadSpec,
) -> anyhow::Result<WorkloadFacts> {
    const WINDOW: usize = 1024;
    let mut workload = Workload::new(spec);
    let mut in_flight = std::collections::VecDeque::with_capacity(WINDOW);
    for event in workload.by_ref() {
        if in_flight.len() >= WINDOW
            && let Some(ack) = in_flight.pop_front()
        {
            let ack: jetstream::context::PublishAckFuture = ack;
            ack.await?;
        }
        let subject = format!("lineage.events.{}", event.workspace);
        in_flight.push_back(js.publish(subject, event.encode_to_vec().into()).await?);
    }
    for ack in in_flight {
        ack.await?;
    }
    Ok(workload.facts())
}

/// Microseconds per event of the content digests lineaged computes for
/// each message (the commitment of `lineage_proto::fields`), and of the
/// plain digest it replaced (blake3 of the canonical encoding, which for a
/// canonically encoded message is the payload's own hash), over the first
/// `events` of the workload as published.
fn digest_costs(events: u64) -> (f64, f64) {
    use lineage_proto::fields;
    let published: Vec<(v1::Event, Vec<u8>)> = Workload::new(WorkloadSpec::new(events))
        .map(|event| {
            let bytes = event.encode_to_vec();
            (event, bytes)
        })
        .collect();
    let per_event = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / published.len().max(1) as f64;
    let secret = [7u8; 32];
    let started = Instant::now();
    for (event, bytes) in &published {
        let key = lineage_core::redaction::record_field_key(&secret, event.event_id.as_bytes());
        std::hint::black_box(fields::digests(event, bytes, &key));
    }
    let commitment = per_event(started.elapsed());
    let started = Instant::now();
    for (event, bytes) in &published {
        let payload = *blake3::hash(bytes).as_bytes();
        let canonical = event.encode_to_vec();
        let content = if canonical == *bytes {
            payload
        } else {
            *blake3::hash(&canonical).as_bytes()
        };
        std::hint::black_box((payload, content));
    }
    (commitment, per_event(started.elapsed()))
}

/// The baseline of scenario 1: a bare pull consumer that drains and acks.
///
/// It asks as lineaged does: one pull request of 256 messages at a time,
/// the next when the last is answered. async-nats's self-refilling
/// `consumer.stream()`, which this used before, miscounts what it is owed
/// under load and stops asking until its heartbeat timeout (BENCHMARKS.md,
/// "The ingest stall at 1 M"): at 10 M events it stalled for over 30 s.
async fn drain_with_bare_consumer(js: &jetstream::Context, events: u64) -> anyhow::Result<f64> {
    let stream = js.get_stream("LINEAGE_EVENTS").await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("bench-baseline".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: 1024,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let deadline = started + LONG_WAIT;
    let mut seen = 0;
    while seen < events {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the baseline consumer drained {seen} of {events} events in {LONG_WAIT:?}"
        );
        let mut batch = consumer
            .batch()
            .max_messages(256)
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        while seen < events {
            let Some(message) = tokio::time::timeout(Duration::from_secs(30), batch.next()).await?
            else {
                break; // Answered in full, or expired: ask again.
            };
            let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
            message.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            seen += 1;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Scenario 7's figures.
struct Audit {
    records: u64,
    verify_secs: f64,
    replay_secs: f64,
    redacted_run: String,
    redacted_records: usize,
    redaction_secs: f64,
}

/// Scenario 7: the whole log verified on the server, then replayed to this
/// client, which recomputes every record's payload digest, hash and link
/// (the chain check of `lineage replay --verify`, without its decoding of
/// each event for the content digest, and without writing JSON); then the
/// actor of the first run the replay showed is redacted, timed until the
/// erasures are all done.
async fn audit(lineaged: &Lineaged, js: &jetstream::Context) -> anyhow::Result<Audit> {
    let mut client = lineaged.client().await;
    let started = Instant::now();
    let verified = client
        .verify_log(v1::VerifyLogRequest::default())
        .await?
        .into_inner();
    let verify_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(verified.ok, "the log does not verify: {verified:?}");

    let started = Instant::now();
    let mut stream = client
        .replay(v1::ReplayRequest::default())
        .await?
        .into_inner();
    let mut chain = lineage_core::chain::ChainCheck::from_genesis();
    let mut first_run = None;
    while let Some(record) = stream.message().await? {
        if first_run.is_none()
            && let Some(event) = &record.event
            && let Some(v1::event::Payload::RunStarted(started)) = &event.payload
        {
            first_run = Some((event.workspace.clone(), started.run_id.clone()));
        }
        let link = lineage_proto::validate::ReplayedLink::parse(&record)?;
        chain
            .check(&link.chained(&record))
            .map_err(|problem| anyhow::anyhow!("record {}: {problem}", record.seq))?;
    }
    let replay_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        chain.checked() == verified.records_checked,
        "the replay checked {} records, VerifyLog {}",
        chain.checked(),
        verified.records_checked
    );
    let (workspace, run_id) = first_run.ok_or_else(|| anyhow::anyhow!("no run in the log"))?;
    let applied = lineaged.wait_applied(0).await.applied_seq;
    let request = v1::Event {
        event_id: "bench-redaction".into(),
        workspace: workspace.clone(),
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        producer: "lineage-bench".into(),
        actor: "dpo@bench.example".into(),
        payload: Some(v1::event::Payload::RedactionRequested(
            v1::RedactionRequested {
                entity: Some(v1::EntityRef {
                    workspace: workspace.clone(),
                    kind: v1::EntityKind::Run as i32,
                    name: run_id.clone(),
                    version: String::new(),
                }),
                fields: vec!["actor".into()],
                reason: "benchmark".into(),
            },
        )),
    };
    let started = Instant::now();
    lineage_e2e::publish(js, &request).await;
    lineaged
        .wait_status_within(LONG_WAIT, "the redaction carried out", |status| {
            status.applied_seq > applied && status.redactions_pending == 0
        })
        .await;
    let redaction_secs = started.elapsed().as_secs_f64();
    let redacted_records = lineaged
        .replay(v1::ReplayRequest {
            entity: request.payload.as_ref().and_then(|payload| match payload {
                v1::event::Payload::RedactionRequested(asked) => asked.entity.clone(),
                _ => None,
            }),
            ..Default::default()
        })
        .await?
        .iter()
        .filter(|record| record.redaction.is_some())
        .count();
    Ok(Audit {
        records: verified.records_checked,
        verify_secs,
        replay_secs,
        redacted_run: format!("{workspace}/{run_id}"),
        redacted_records,
        redaction_secs,
    })
}

struct Rebuild {
    graph: LineageGraph,
    records: u64,
    scan_secs: f64,
    restart_secs: f64,
    /// Of the restart: opening the log, while the snapshot decodes.
    log_open_secs: f64,
    replay_secs: f64,
}

/// Scenario 2: a raw scan with protobuf decoding (the baseline), a restart
/// as lineaged does it, and a replay of the whole log for comparison.
fn rebuild(data_dir: &std::path::Path) -> anyhow::Result<Rebuild> {
    // A restart is a new process: measured in one, so that it neither
    // reuses memory this one freed nor waits for the lock of a log this
    // one just closed.
    let restarted = crate::memory::child_json(&[
        "restart".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])?;
    let restart_field = |name: &str| {
        restarted[name]
            .as_f64()
            .ok_or_else(|| anyhow::anyhow!("the restart printed no {name}"))
    };
    let log = Log::open(data_dir, LogOptions::default())?;
    let started = Instant::now();
    let mut records = 0u64;
    log.reader().for_each_from(1, |record| {
        let event = v1::Event::decode(record.bytes)?;
        std::hint::black_box(event);
        records += 1;
        Ok::<_, anyhow::Error>(())
    })?;
    let scan_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let replayed = lineage_server::ingest::replay(&log.reader()).map_err(anyhow::Error::msg)?;
    let replay_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        restarted["state_digest"].as_str() == Some(&hex_digest(&replayed)),
        "the restored graph differs from the replayed one"
    );
    Ok(Rebuild {
        graph: replayed,
        records,
        scan_secs,
        restart_secs: restart_field("secs")?,
        log_open_secs: restart_field("log_open_secs")?,
        replay_secs,
    })
}

fn hex_digest(graph: &LineageGraph) -> String {
    graph
        .state_digest()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A restart, timed.
struct Restart {
    log: Log,
    graph: LineageGraph,
    /// Until it would serve.
    secs: f64,
    /// Of which opening the log, while the snapshot decodes.
    log_open_secs: f64,
}

/// What lineaged does at start, until it serves: open the log (which
/// rebuilds the idempotency index) while the newest snapshot (the one
/// lineaged wrote at shutdown) is decoded, then replay the records after it.
fn restart(data_dir: &std::path::Path) -> anyhow::Result<Restart> {
    let started = Instant::now();
    let snapshots = lineage_server::snapshot::SnapshotStore::new(data_dir);
    let decoding = lineage_server::snapshot::SnapshotDecoding::start(&snapshots);
    let log = Log::open(data_dir, LogOptions::default())?;
    let log_open_secs = started.elapsed().as_secs_f64();
    let restored = lineage_server::snapshot::restore_decoded(&log.reader(), &snapshots, decoding)
        .map_err(anyhow::Error::msg)?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        restored.snapshot_seq.is_some(),
        "lineaged left no usable snapshot"
    );
    Ok(Restart {
        log,
        graph: restored.graph,
        secs,
        log_open_secs,
    })
}

fn spec(walk: Walk, max_depth: u32) -> TraversalSpec {
    TraversalSpec {
        walk,
        max_depth,
        edge_kinds: EdgeKinds::lineage(),
        node_kinds: NodeKinds::all(),
        max_nodes: 1_000,
        max_edges: 4_000,
        max_visits: 500_000,
    }
}

/// One query of scenario 3: its domain answer and its protobuf answers.
struct QueryFigures {
    figure: String,
    /// The domain answer alone.
    domain: Samples,
    /// Entities in the domain answer.
    returned: usize,
    /// The view a client of this query would ask for (basic for lists and
    /// subgraphs, full for GetEntity).
    view: &'static str,
    /// The answer in that view, from the graph to the bytes the server
    /// sends, as the server does it.
    written: Samples,
    /// The same bytes the way the server made them before answers were
    /// written from the graph: prost structs built from the graph, then
    /// encoded.
    prost_built: Option<Samples>,
    /// A client decoding those bytes with prost (the other half of an
    /// answer's cost when client and server share the machine, as in
    /// scenario 4).
    decoded: Samples,
    /// For lists and subgraphs, the full view written, for comparison.
    full_written: Option<Samples>,
    /// The target of the written answer's p99.
    target: &'static str,
    /// The size of the written answer.
    bytes: usize,
}

impl QueryFigures {
    /// A list's or subgraph's figures: the basic view as clients ask for
    /// it, the full view written for comparison.
    fn listed(
        figure: String,
        domain: Samples,
        returned: usize,
        answer: AnswerSamples,
        full_written: Samples,
        target: &'static str,
    ) -> Self {
        QueryFigures {
            figure,
            domain,
            returned,
            view: "basic",
            bytes: answer.bytes,
            written: answer.written,
            prost_built: answer.prost_built,
            decoded: answer.decoded,
            full_written: Some(full_written),
            target,
        }
    }

    /// One entity's figures, in the full view it is always answered in.
    fn entity(figure: &str, domain: Samples, answer: AnswerSamples) -> Self {
        QueryFigures {
            figure: figure.into(),
            domain,
            returned: 1,
            view: "full",
            bytes: answer.bytes,
            written: answer.written,
            prost_built: answer.prost_built,
            decoded: answer.decoded,
            full_written: None,
            target: "",
        }
    }

    fn report(self, report: &mut Report) {
        let QueryFigures {
            figure,
            domain,
            returned,
            view,
            written,
            prost_built,
            decoded,
            full_written,
            target,
            bytes,
        } = self;
        report.add(
            "3 in process",
            format!("{figure} p99 ({returned} entities)"),
            domain.quantile_us(0.99),
            "µs",
            None,
            "",
        );
        report.add(
            "3 in process",
            format!("{figure} p50, {view} answer written as sent"),
            written.quantile_us(0.5),
            "µs",
            Some(domain.quantile_us(0.5)),
            "",
        );
        report.add(
            "3 in process",
            format!("{figure} p99, {view} answer written as sent"),
            written.quantile_us(0.99),
            "µs",
            Some(domain.quantile_us(0.99)),
            target,
        );
        report.add(
            "3 in process",
            format!("{figure}, {view} answer size"),
            bytes as f64,
            "B",
            None,
            "",
        );
        if let Some(prost_built) = prost_built {
            report.add(
                "3 in process",
                format!("{figure} p50, {view} answer built as prost structs and encoded"),
                prost_built.quantile_us(0.5),
                "µs",
                Some(written.quantile_us(0.5)),
                "",
            );
        }
        report.add(
            "3 in process",
            format!("{figure} p50, a client decoding the {view} answer"),
            decoded.quantile_us(0.5),
            "µs",
            Some(written.quantile_us(0.5)),
            "",
        );
        if let Some(full) = full_written {
            report.add(
                "3 in process",
                format!("{figure} p50, full answer written as sent"),
                full.quantile_us(0.5),
                "µs",
                Some(domain.quantile_us(0.5)),
                "",
            );
        }
    }
}

/// The samples of one answer's protobuf forms.
struct AnswerSamples {
    written: Samples,
    bytes: usize,
    prost_built: Option<Samples>,
    decoded: Samples,
}

/// Measures writing an answer as the server does (`write`), building and
/// encoding its prost message instead (`build`; the bytes must be the
/// same), and decoding the bytes as a client does.
fn answer_samples<M: prost::Message + Default>(
    budget: Duration,
    min_runs: usize,
    max_runs: usize,
    write: impl Fn() -> Vec<u8>,
    build: Option<&dyn Fn() -> M>,
) -> AnswerSamples {
    let (written, bytes) = repeat(budget, min_runs, max_runs, &write);
    let prost_built = build.map(|build| {
        let (samples, reference) = repeat(budget, min_runs, max_runs, || build().encode_to_vec());
        assert_eq!(bytes, reference, "the written answer is prost's encoding");
        samples
    });
    let (decoded, _) = repeat(budget, min_runs, max_runs, || {
        M::decode(bytes.as_slice()).expect("an answer just encoded decodes")
    });
    AnswerSamples {
        written,
        bytes: bytes.len(),
        prost_built,
        decoded,
    }
}

/// How long scenario 3 repeats each measurement (beyond its minimum runs).
const ANSWER_BUDGET: Duration = Duration::from_millis(700);

/// The edges of scenario 3's subgraphs and of scenario 4's mix: by
/// position in the answer's nodes, as a client that reads many edges asks.
const COMPACT: convert::EdgeForm = convert::EdgeForm::Compact;

/// Scenario 3: each query alone, against the graph (the domain answer),
/// and again including the protobuf answer the server would send.
fn queries_in_process(
    graph: &LineageGraph,
    facts: &WorkloadFacts,
    searches: &[(&'static str, v1::SearchRunsRequest)],
) -> Vec<QueryFigures> {
    let budget = ANSWER_BUDGET;
    let mut figures = Vec::new();
    let ws = |name: &str| Workspace::parse(name).expect("workload workspaces are valid");
    let (basic, full) = (convert::View::Basic, convert::View::Full);

    if let Some((workspace, run_id)) = &facts.run {
        let key = EntityKey::run(&ws(workspace), run_id);
        let (domain, _) = repeat(budget, 1_000, 200_000, || graph.find(&key));
        let write = || {
            graph
                .find(&key)
                .map(|node| encode::entity(&graph.present(), node).into_bytes())
                .unwrap_or_default()
        };
        let build = || {
            graph
                .find(&key)
                .map(|node| convert::entity_answer(&graph.present(), node))
                .unwrap_or_default()
        };
        let answer = answer_samples(budget, 1_000, 200_000, write, Some(&build));
        figures.push(QueryFigures::entity("GetEntity (run)", domain, answer));
    }
    for (label, dataset) in [("hot", &facts.hot_dataset), ("cold", &facts.cold_dataset)] {
        let Some((workspace, name, version)) = dataset else {
            continue;
        };
        let workspace = ws(workspace);
        let (domain, page) = repeat(budget, 1_000, 200_000, || {
            graph.runs_using_dataset(&workspace, name, Some(version), None, 100)
        });
        let page_of = || {
            graph
                .runs_using_dataset(&workspace, name, Some(version), None, 100)
                .0
        };
        let write = |view| encode::runs_page(&graph.present(), &page_of(), view, "").into_bytes();
        let build = || v1::RunsUsingDatasetResponse {
            runs: page_of()
                .iter()
                .map(|&run| convert::entity_in_view(&graph.present(), run, basic))
                .collect(),
            next_page_token: String::new(),
            applied_seq: graph.applied_seq(),
        };
        let answer = answer_samples(budget, 1_000, 200_000, || write(basic), Some(&build));
        let (full_written, _) = repeat(budget, 200, 100_000, || write(full));
        figures.push(QueryFigures::listed(
            format!("RunsUsingDataset ({label}, page of 100)"),
            domain,
            page.0.len(),
            answer,
            full_written,
            if label == "hot" { "<= 20 µs" } else { "" },
        ));
    }
    if let Some((workspace, model, version)) = &facts.model {
        let key = EntityKey::model_version(&ws(workspace), model, version);
        if let Some(root) = graph.find(&key) {
            for (depth, target) in [(4, ""), (64, "<= 50 µs")] {
                let label = if depth == 4 { "depth 4" } else { "full" };
                figures.push(traversal_figures(
                    graph.present(),
                    root,
                    &spec(Walk::Provenance, depth),
                    (200, 100_000),
                    |_| format!("Provenance of a model version ({label})"),
                    target,
                ));
            }
            let spec = spec(Walk::Provenance, 64);
            let (domain, trace) = repeat(budget, 200, 100_000, || graph.trace_model(root, &spec));
            let write = |view| {
                graph
                    .trace_model(root, &spec)
                    .map(|t| encode::model_trace(&graph.present(), &t, view, COMPACT).into_bytes())
                    .unwrap_or_default()
            };
            let build = || {
                graph
                    .trace_model(root, &spec)
                    .map(|t| convert::model_trace(&graph.present(), &t, basic, COMPACT))
                    .unwrap_or_default()
            };
            let answer = answer_samples(budget, 200, 100_000, || write(basic), Some(&build));
            let (full_written, _) = repeat(budget, 100, 50_000, || write(full));
            figures.push(QueryFigures::listed(
                "TraceModel".into(),
                domain,
                trace.map_or(0, |t| t.upstream.nodes.len()),
                answer,
                full_written,
                "",
            ));
            // Time travel: the same walk and entity halfway between the
            // model version's first reference and the end of the log,
            // read through a past view (a copy of each entity it returns).
            let halfway = (graph.node(root).first_seq + graph.applied_seq()) / 2;
            let past = graph.as_of(Cut::Logged(halfway));
            figures.push(traversal_figures(
                past,
                root,
                &spec,
                (100, 50_000),
                |_| "Provenance of a model version (full), as of halfway".into(),
                "",
            ));
            let (domain, _) = repeat(budget, 500, 100_000, || past.node(root).into_owned());
            let write = || encode::entity(&past, root).into_bytes();
            let build = || convert::entity_answer(&past, root);
            let answer = answer_samples(budget, 500, 100_000, write, Some(&build));
            figures.push(QueryFigures::entity(
                "GetEntity (model version), as of halfway",
                domain,
                answer,
            ));
        }
    }
    if let Some((workspace, name, version)) = &facts.hot_dataset {
        let key = EntityKey::dataset_version(&ws(workspace), name, version);
        if let Some(root) = graph.find(&key) {
            for depth in [4, 64] {
                let label = if depth == 4 { "depth 4" } else { "full" };
                figures.push(traversal_figures(
                    graph.present(),
                    root,
                    &spec(Walk::Impact, depth),
                    (50, 20_000),
                    |answer| {
                        let cut = if answer.truncated { ", truncated" } else { "" };
                        format!("Impact of a popular dataset version ({label}{cut})")
                    },
                    "",
                ));
            }
        }
    }
    // Scenario 8's searches, against the graph: the planning, the pass
    // over the candidates and the page (the domain answer), and the
    // answer as the server sends it (prost messages built, then encoded).
    for (name, request) in searches {
        let query = match SearchQuery::new(
            ws(&request.workspace),
            &request.experiments,
            &request.filter,
            &request.order_by,
            request.page_size as usize,
            "",
        ) {
            Ok(query) => query,
            Err(error) => panic!("scenario 8 asked {:?}: {error}", request.filter),
        };
        let (domain, page) = repeat(budget, 200, 100_000, || {
            lineage_core::search::search_runs(graph, &query)
        });
        let answer_in = |view| {
            let page = lineage_core::search::search_runs(graph, &query);
            v1::SearchRunsResponse {
                runs: page
                    .runs
                    .iter()
                    .map(|&run| convert::entity_in_view(&graph.present(), run, view))
                    .collect(),
                next_page_token: page.next_page_token,
                applied_seq: graph.applied_seq(),
                candidates: page.candidates,
            }
            .encode_to_vec()
        };
        let answer = answer_samples::<v1::SearchRunsResponse>(
            budget,
            200,
            100_000,
            || answer_in(basic),
            None,
        );
        let (full_written, _) = repeat(budget, 100, 50_000, || answer_in(full));
        figures.push(QueryFigures::listed(
            format!("SearchRuns, {name}"),
            domain,
            page.runs.len(),
            answer,
            full_written,
            "",
        ));
    }
    figures
}

/// Scenario 3's figures for one traversal from `root`: the domain answer,
/// its basic answer written, built the prost way and decoded, and its full
/// answer written. `runs` bounds the repetitions of the basic view (the
/// full view gets half as many); `figure` names the query, given its
/// answer (which says whether a bound cut it).
fn traversal_figures(
    graph: AsOf<'_>,
    root: NodeIndex,
    spec: &TraversalSpec,
    (min_runs, max_runs): (usize, usize),
    figure: impl FnOnce(&Subgraph) -> String,
    target: &'static str,
) -> QueryFigures {
    let budget = ANSWER_BUDGET;
    let (basic, full) = (convert::View::Basic, convert::View::Full);
    let (domain, traversed) = repeat(budget, min_runs, max_runs, || graph.traverse(root, spec));
    let write = |view| {
        let answer = graph.traverse(root, spec);
        encode::subgraph(&graph, &answer, view, COMPACT).into_bytes()
    };
    let build = || convert::subgraph(&graph, &graph.traverse(root, spec), basic, COMPACT);
    let answer = answer_samples(budget, min_runs, max_runs, || write(basic), Some(&build));
    let (full_written, _) = repeat(budget, min_runs / 2, max_runs / 2, || write(full));
    QueryFigures::listed(
        figure(&traversed),
        domain,
        traversed.nodes.len(),
        answer,
        full_written,
        target,
    )
}

/// The queries of the gRPC mix.
#[derive(Clone)]
enum GrpcQuery {
    Status,
    Entity(v1::GetEntityRequest),
    RunsUsing(v1::RunsUsingDatasetRequest),
    Provenance(v1::TraversalRequest),
    Impact(v1::TraversalRequest),
    Trace(v1::TraceModelRequest),
    /// Scenario 8 only, not in the mix.
    Search(v1::SearchRunsRequest),
}

struct QueryMix {
    queries: Vec<GrpcQuery>,
}

impl QueryMix {
    fn new(facts: &WorkloadFacts) -> Self {
        let mut queries = Vec::new();
        if let Some((workspace, run)) = &facts.run {
            queries.push(GrpcQuery::Entity(v1::GetEntityRequest {
                entity: Some(lineage_e2e::entity(workspace, v1::EntityKind::Run, run, "")),
                ..Default::default()
            }));
        }
        if let Some((workspace, dataset, version)) = &facts.hot_dataset {
            queries.push(GrpcQuery::RunsUsing(v1::RunsUsingDatasetRequest {
                workspace: workspace.clone(),
                dataset: dataset.clone(),
                version: version.clone(),
                page_size: 100,
                page_token: String::new(),
                view: v1::EntityView::Basic as i32,
                ..Default::default()
            }));
            queries.push(GrpcQuery::Impact(v1::TraversalRequest {
                root: Some(lineage_e2e::entity(
                    workspace,
                    v1::EntityKind::DatasetVersion,
                    dataset,
                    version,
                )),
                max_depth: 4,
                limit: 100,
                view: v1::EntityView::Basic as i32,
                compact_edges: true,
                ..Default::default()
            }));
        }
        if let Some((workspace, model, version)) = &facts.model {
            queries.push(GrpcQuery::Provenance(v1::TraversalRequest {
                root: Some(lineage_e2e::entity(
                    workspace,
                    v1::EntityKind::ModelVersion,
                    model,
                    version,
                )),
                view: v1::EntityView::Basic as i32,
                compact_edges: true,
                ..Default::default()
            }));
            queries.push(GrpcQuery::Trace(v1::TraceModelRequest {
                workspace: workspace.clone(),
                model: model.clone(),
                version: version.clone(),
                view: v1::EntityView::Basic as i32,
                compact_edges: true,
                ..Default::default()
            }));
        }
        if queries.is_empty() {
            queries.push(GrpcQuery::Status);
        }
        Self { queries }
    }

    /// Each query of the mix with its name.
    fn each(&self) -> impl Iterator<Item = (&'static str, &GrpcQuery)> {
        self.queries.iter().map(|query| {
            let name = match query {
                GrpcQuery::Status => "GetStatus",
                GrpcQuery::Entity(_) => "GetEntity (run)",
                GrpcQuery::RunsUsing(_) => "RunsUsingDataset (hot, page of 100, basic)",
                GrpcQuery::Provenance(_) => {
                    "Provenance (model version, full depth, basic, compact edges)"
                }
                GrpcQuery::Impact(_) => "Impact (hot, depth 4, limit 100, basic, compact edges)",
                GrpcQuery::Trace(_) => "TraceModel (basic, compact edges)",
                GrpcQuery::Search(_) => "SearchRuns",
            };
            (name, query)
        })
    }

    fn pick(&self, i: usize) -> GrpcQuery {
        self.queries[i % self.queries.len()].clone()
    }
}

async fn send(client: &mut LineageServiceClient<Channel>, query: GrpcQuery) -> bool {
    match query {
        GrpcQuery::Status => client
            .get_status(v1::GetStatusRequest::default())
            .await
            .is_ok(),
        GrpcQuery::Entity(r) => client.get_entity(r).await.is_ok(),
        GrpcQuery::RunsUsing(r) => client.runs_using_dataset(r).await.is_ok(),
        GrpcQuery::Provenance(r) => client.provenance(r).await.is_ok(),
        GrpcQuery::Impact(r) => client.impact(r).await.is_ok(),
        GrpcQuery::Trace(r) => client.trace_model(r).await.is_ok(),
        GrpcQuery::Search(r) => client.search_runs(r).await.is_ok(),
    }
}

/// Sends a query and takes the answer's bytes without building the
/// message: the load a server sees from clients on other machines.
async fn send_raw(grpc: &mut Grpc<Channel>, query: GrpcQuery) -> bool {
    const SERVICE: &str = "/lineage.v1.LineageService/";
    match query {
        GrpcQuery::Status => {
            let request = v1::GetStatusRequest::default();
            unary_raw::<_, v1::StatusResponse>(grpc, method_path(SERVICE, "GetStatus"), request)
                .await
        }
        GrpcQuery::Entity(r) => {
            unary_raw::<_, v1::Entity>(grpc, method_path(SERVICE, "GetEntity"), r).await
        }
        GrpcQuery::RunsUsing(r) => {
            let path = method_path(SERVICE, "RunsUsingDataset");
            unary_raw::<_, v1::RunsUsingDatasetResponse>(grpc, path, r).await
        }
        GrpcQuery::Provenance(r) => {
            unary_raw::<_, v1::Subgraph>(grpc, method_path(SERVICE, "Provenance"), r).await
        }
        GrpcQuery::Impact(r) => {
            unary_raw::<_, v1::Subgraph>(grpc, method_path(SERVICE, "Impact"), r).await
        }
        GrpcQuery::Trace(r) => {
            unary_raw::<_, v1::ModelTrace>(grpc, method_path(SERVICE, "TraceModel"), r).await
        }
        GrpcQuery::Search(r) => {
            let path = method_path(SERVICE, "SearchRuns");
            unary_raw::<_, v1::SearchRunsResponse>(grpc, path, r).await
        }
    }
}

fn method_path(service: &'static str, method: &'static str) -> PathAndQuery {
    PathAndQuery::try_from(format!("{service}{method}")).expect("a gRPC method path")
}

/// One unary call whose answer is kept as the bytes that came.
async fn unary_raw<Req, Resp>(grpc: &mut Grpc<Channel>, path: PathAndQuery, request: Req) -> bool
where
    Req: prost::Message + Send + 'static,
    Resp: Send + 'static,
{
    if grpc.ready().await.is_err() {
        return false;
    }
    let codec = tonic_prost::ProstCodec::<Req, Encoded<Resp>>::default();
    match grpc.unary(tonic::Request::new(request), path, codec).await {
        Ok(answer) => !answer.get_ref().as_bytes().is_empty(),
        Err(_) => false,
    }
}

/// The parameter and the metric scenario 8 filters and ranks by (every
/// run of the workload has both).
const SEARCH_PARAM: &str = "param_00";
const SEARCH_METRIC: &str = "metric_00";

/// One search of scenario 8, and what each run it answers must satisfy.
struct Search {
    name: &'static str,
    request: v1::SearchRunsRequest,
    /// Whether a run (in the full view) matches the filter.
    matches: Box<dyn Fn(&v1::RunDetails) -> bool + Send + Sync>,
    /// Whether the answer is ranked by [`SEARCH_METRIC`], best first.
    ranked: bool,
    /// Also measured with a single client.
    single_client: bool,
    target: &'static str,
}

/// A run's latest value of `key`, if it logged any.
fn latest_metric(run: &v1::RunDetails, key: &str) -> Option<f64> {
    run.latest_metrics
        .iter()
        .find(|metric| metric.key == key)
        .map(|metric| metric.value)
}

/// Scenario 8: SearchRuns at scenario 4's concurrency, each search first
/// checked once in the full view (every run it answers matches its filter,
/// in its order), then measured in the basic view a table of runs asks
/// for, right after GetEntity of a run at the same concurrency (the
/// baseline). The selective
/// search is built from the workload's first run as GetEntity shows it
/// (its experiment, its parameter value, half its metric), so it matches
/// that run and the few like it.
async fn search(
    lineaged: &Lineaged,
    args: &RunArgs,
    facts: &WorkloadFacts,
    report: &mut Report,
) -> anyhow::Result<Vec<(&'static str, v1::SearchRunsRequest)>> {
    let (Some((workspace, run_id)), Some((hot_workspace, dataset, version))) =
        (&facts.run, &facts.hot_dataset)
    else {
        report
            .notes
            .push("search: the workload has no run or no dataset version in use".into());
        return Ok(Vec::new());
    };
    let entity = v1::GetEntityRequest {
        entity: Some(lineage_e2e::entity(
            workspace,
            v1::EntityKind::Run,
            run_id,
            "",
        )),
        ..Default::default()
    };
    let mut client = lineaged.client().await;
    let run = client.get_entity(entity.clone()).await?.into_inner();
    let Some(v1::entity::Details::Run(first)) = run.details else {
        anyhow::bail!("GetEntity of run {run_id} answered no run details");
    };
    let param = first
        .params
        .get(SEARCH_PARAM)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("run {run_id} has no {SEARCH_PARAM}"))?;
    let threshold = latest_metric(&first, SEARCH_METRIC)
        .ok_or_else(|| anyhow::anyhow!("run {run_id} logged no {SEARCH_METRIC}"))?
        / 2.0;
    let experiment = first.experiment.clone();
    let ranked_by_metric = vec![format!("metrics.{SEARCH_METRIC} DESC")];
    let request = |workspace: &str, filter: String, order_by: Vec<String>| v1::SearchRunsRequest {
        workspace: workspace.to_owned(),
        filter,
        order_by,
        page_size: 100,
        view: v1::EntityView::Basic as i32,
        ..Default::default()
    };
    let used = v1::DatasetVersionRef {
        dataset: dataset.clone(),
        version: version.clone(),
    };
    let searches = [
        Search {
            name: "selective (one experiment, a param value, a metric threshold)",
            request: v1::SearchRunsRequest {
                experiments: vec![experiment.clone()],
                ..request(
                    workspace,
                    format!(
                        "params.{SEARCH_PARAM} = '{param}' and metrics.{SEARCH_METRIC} >= {threshold}"
                    ),
                    Vec::new(),
                )
            },
            matches: Box::new(move |run| {
                run.experiment == experiment
                    && run.params.get(SEARCH_PARAM) == Some(&param)
                    && latest_metric(run, SEARCH_METRIC).is_some_and(|value| value >= threshold)
            }),
            ranked: false,
            single_client: true,
            target: "p99 <= 1 ms at 1 M events",
        },
        Search {
            name: "uses the hot dataset version, by a metric, page of 100",
            request: request(
                hot_workspace,
                format!("uses dataset '{dataset}@{version}'"),
                ranked_by_metric.clone(),
            ),
            matches: Box::new(move |run| run.input_datasets.contains(&used)),
            ranked: true,
            single_client: false,
            target: "",
        },
        Search {
            name: "every completed run, by a metric, page of 100",
            request: request(
                hot_workspace,
                "status = 'COMPLETED'".into(),
                ranked_by_metric,
            ),
            matches: Box::new(|run| run.status == v1::RunStatus::Completed as i32),
            ranked: true,
            single_client: false,
            target: "",
        },
    ];

    for search in &searches {
        let checked = client
            .search_runs(v1::SearchRunsRequest {
                view: v1::EntityView::Full as i32,
                ..search.request.clone()
            })
            .await
            .map_err(|status| anyhow::anyhow!("SearchRuns, {}: {status}", search.name))?
            .into_inner();
        anyhow::ensure!(
            !checked.runs.is_empty(),
            "SearchRuns, {}: no run matched {:?}",
            search.name,
            search.request.filter
        );
        let mut values = Vec::with_capacity(checked.runs.len());
        for run in &checked.runs {
            let Some(v1::entity::Details::Run(details)) = &run.details else {
                anyhow::bail!("SearchRuns, {}: an answer without run details", search.name);
            };
            anyhow::ensure!(
                (search.matches)(details),
                "SearchRuns, {}: {:?} does not match {:?}",
                search.name,
                run.r#ref,
                search.request.filter
            );
            values.push(latest_metric(details, SEARCH_METRIC));
        }
        if search.ranked {
            // Runs without the metric sort last; the others best first.
            let present: Vec<f64> = values.iter().map_while(|value| *value).collect();
            anyhow::ensure!(
                values[present.len()..].iter().all(Option::is_none)
                    && present.windows(2).all(|pair| pair[0] >= pair[1]),
                "SearchRuns, {}: not ranked by {SEARCH_METRIC}: {values:?}",
                search.name
            );
        }
        // At the mix's concurrency and, for the selective search, with one
        // client: there the clients do not take the server's cores, and
        // the p99 is the service's rather than the scheduler's.
        let single = [args.clients, 1];
        let concurrencies = if search.single_client {
            &single[..]
        } else {
            &single[..1]
        };
        for &clients in concurrencies {
            // The baseline right before each search, so that both see the
            // same machine (a shared one, whose load drifts within a run).
            let (baseline_qps, baseline) = grpc_load(
                lineaged,
                clients,
                args.seconds,
                None,
                Reading::Decoded,
                &|_| GrpcQuery::Entity(entity.clone()),
            )
            .await;
            let (qps, samples) = grpc_load(
                lineaged,
                clients,
                args.seconds,
                None,
                Reading::Decoded,
                &|_| GrpcQuery::Search(search.request.clone()),
            )
            .await;
            anyhow::ensure!(
                samples.len() > 0,
                "SearchRuns, {}: no call answered",
                search.name
            );
            let figure = |what: &str| {
                let alone = if clients == 1 { ", 1 client" } else { "" };
                format!("SearchRuns, {}{alone}, {what}", search.name)
            };
            report.add(
                "8 search",
                figure("qps"),
                qps,
                "qps",
                Some(baseline_qps),
                "",
            );
            report.add(
                "8 search",
                figure("p50"),
                samples.quantile_us(0.5),
                "µs",
                Some(baseline.quantile_us(0.5)),
                "",
            );
            report.add(
                "8 search",
                figure("p99"),
                samples.quantile_us(0.99),
                "µs",
                Some(baseline.quantile_us(0.99)),
                search.target,
            );
        }
        report.notes.push(format!(
            "search, {}: {:?} answered {} runs{} from {} candidates",
            search.name,
            search.request.filter,
            checked.runs.len(),
            if checked.next_page_token.is_empty() {
                ""
            } else {
                " (a first page)"
            },
            checked.candidates
        ));
    }
    Ok(searches
        .into_iter()
        .map(|search| (search.name, search.request))
        .collect())
}

/// How the load generator's clients read their answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reading {
    /// Into the prost message, as an application would.
    Decoded,
    /// As bytes ([`send_raw`]): on this machine the clients share the
    /// server's two cores, and a client decoding a list of a hundred
    /// entities spends about what the server spent writing it.
    Raw,
}

/// Scenario 4's GetStatus baseline, then its mix, with clients reading
/// answers as `reading` says.
async fn status_and_mix(
    lineaged: &Lineaged,
    args: &RunArgs,
    mix: &QueryMix,
    reading: Reading,
) -> ((f64, Samples), (f64, Samples)) {
    let (clients, seconds) = (args.clients, args.seconds);
    let status = grpc_load(lineaged, clients, seconds, None, reading, &|_| {
        GrpcQuery::Status
    })
    .await;
    let mixed = grpc_load(lineaged, clients, seconds, None, reading, &|i| mix.pick(i)).await;
    (status, mixed)
}

/// Runs `clients` concurrent clients for `seconds` (or while `running`
/// stays true), each sending `query(i)`; returns qps and latencies.
async fn grpc_load(
    lineaged: &Lineaged,
    clients: usize,
    seconds: u64,
    running: Option<Arc<AtomicBool>>,
    reading: Reading,
    query: &dyn Fn(usize) -> GrpcQuery,
) -> (f64, Samples) {
    let mut queries_per_client = Vec::new();
    for c in 0..clients {
        // A bounded, precomputed list of requests per client.
        queries_per_client.push((0..64).map(|i| query(c * 64 + i)).collect::<Vec<_>>());
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for queries in queries_per_client {
        let channel = lineaged.channel().await;
        let mut client =
            LineageServiceClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
        let mut raw_client = Grpc::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let running = running.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut i = 0;
            while Instant::now() < deadline
                && running.as_ref().is_none_or(|r| r.load(Ordering::Acquire))
            {
                let began = Instant::now();
                let query = queries[i % queries.len()].clone();
                let answered = match reading {
                    Reading::Decoded => send(&mut client, query).await,
                    Reading::Raw => send_raw(&mut raw_client, query).await,
                };
                if answered {
                    samples.push(began.elapsed());
                }
                i += 1;
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        if let Ok(samples) = task.await {
            all.extend(samples);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    (all.len() as f64 / elapsed, all)
}
