//! Storage trouble: lineaged's data directory on a small tmpfs of its own
//! (a real filesystem, mounted by the test) runs out of space, and in the
//! second test also turns read-only, while a producer keeps publishing a
//! workload with duplicates. A real nats-server and a real lineaged.
//!
//! What is proven, while the disk cannot take writes:
//! - lineaged says so: `GetStatus` shows ingest disconnected with a reason
//!   naming the storage and the OS error ("No space left on device", "Read-only
//!   file system"), the standard gRPC health service reports
//!   `lineage.v1.Ingest` NOT_SERVING while `lineage.v1.LineageService`
//!   stays SERVING;
//! - queries keep answering from the graph (GetEntity, Provenance), while
//!   what reads the log (Replay, VerifyLog) answers UNAVAILABLE naming the
//!   storage;
//! - nothing is acknowledged: the durable consumer's ack floor and the
//!   graph's applied sequence stand still while the stream grows;
//!
//! and once the space (and write access) is back, lineaged resumes by
//! itself: every unique event applied exactly once (count and set), the log
//! verifies, the replay holds each event once as published, and the state
//! digest equals a clean single-pass projection. An acknowledgement of a
//! record that never became durable would show as an event missing from
//! the log at the end (its message is never delivered again).
//!
//! sled poisons its store after a failed write (every later write and
//! flush of that handle fails, even with the disk back), so this is also
//! the test of lineaged closing its log at the first storage error and
//! reopening it once the directory takes writes again.
//!
//! Why read-only only after the disk filled: Linux refuses to remount a
//! filesystem read-only while files on it are open for writing (EBUSY), and
//! sled keeps its files open while the log is. A volume turns read-only
//! under an open log only when the kernel forces it (ext4 with
//! `errors=remount-ro`), and then only an unmount repairs it; lineaged
//! makes that possible by releasing its files at the first failed write.
//! The second test does exactly that: with the log closed after the disk
//! filled, the volume is remounted read-only, lineaged reports it (and
//! keeps retrying), and is remounted read-write.
//!
//! Needs root (to mount a tmpfs); without it the test fails saying so.
//! Default scale (CI): 2,000 unique events (about 2,600 messages), a 4 s
//! outage, a 64 MiB tmpfs; the read-only test two fifths of the events.
//!
//! ```text
//! cargo test -p lineage-e2e --test storage_trouble
//! LINEAGE_STORAGE_EVENTS=50000 LINEAGE_STORAGE_OUTAGE_SECS=20 LINEAGE_STORAGE_TMPFS_MIB=1024 \
//!     cargo test --release -p lineage-e2e --test storage_trouble -- --nocapture
//! ```

mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use lineage_e2e::rng::SplitMix64;
use lineage_e2e::{Lineaged, NatsServer};
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use support::workload::{self, CONSUMER, STREAM, Workload, env_number};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const DEFAULT_EVENTS: u64 = 2_000;
const DEFAULT_OUTAGE_SECS: u64 = 4;
const DEFAULT_SEED: u64 = 0x5707_a6e0_0d15_c0de;
const WORKSPACES: [&str; 2] = ["ws-a", "ws-b"];
/// Room for the whole workload's log once the filler is gone (sled writes
/// several times the bytes it stores: about 8 MiB for the CI workload);
/// tmpfs takes memory only as used, the filler included.
const DEFAULT_TMPFS_MIB: u64 = 64;
/// Pause after each chunk of 100 messages: the producer is still
/// publishing when the disk fills, and throughout the outage.
const PRODUCER_PAUSE: Duration = Duration::from_millis(300);
/// Bound on every wait for lineaged to notice, recover or catch up.
const RECOVERY_WAIT: Duration = Duration::from_secs(60);
/// The names ingest and queries report under in the gRPC health service.
const INGEST_HEALTH: &str = "lineage.v1.Ingest";
const QUERY_HEALTH: &str = "lineage.v1.LineageService";
/// What GetStatus says when the disk is full or read-only (the OS's words).
const NO_SPACE: &str = "No space left on device";
const READ_ONLY: &str = "Read-only file system";

/// A tmpfs mounted on a temporary directory, unmounted on drop (even when
/// the test panics, and lazily if something still holds a file on it).
struct Tmpfs {
    mount_point: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Self {
        let mount_point = tempfile::tempdir().expect("a mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(mount_point.path())
            .output();
        match output {
            Ok(output) if output.status.success() => Self { mount_point },
            Ok(output) => panic!(
                "could not mount a tmpfs on {} ({}): {}; this test needs root \
                 (CAP_SYS_ADMIN) and cannot prove anything without its own filesystem",
                mount_point.path().display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => panic!("could not run mount(8): {error}; this test needs it, as root"),
        }
    }

    fn path(&self) -> &Path {
        self.mount_point.path()
    }

    /// Remounts with `options` (`ro`, `rw`), retrying while the kernel
    /// answers busy: lineaged opens its files for a moment at each reopen
    /// attempt.
    fn remount(&self, options: &str) {
        let deadline = Instant::now() + RECOVERY_WAIT;
        loop {
            let output = Command::new("mount")
                .args(["-o", &format!("remount,{options}")])
                .arg(self.path())
                .output()
                .expect("run mount(8)");
            if output.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "could not remount {} {options}: {}",
                self.path().display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes a file until the filesystem has no space left; returns its
    /// path and size.
    fn fill(&self) -> (PathBuf, u64) {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let mut written = 0u64;
        // Large writes first, then pages, until not even a page fits.
        for chunk in [1024 * 1024, 4096] {
            let bytes = vec![0xa5u8; chunk];
            loop {
                match file.write_all(&bytes) {
                    Ok(()) => written += chunk as u64,
                    Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(error) => panic!("writing the filler: {error}"),
                }
            }
        }
        (path, written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // lineaged, if a failed test left it running, lets go of its files
        // shortly after its task is aborted.
        for _ in 0..50 {
            let unmounted = Command::new("umount")
                .arg(self.path())
                .status()
                .is_ok_and(|status| status.success());
            if unmounted {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Every entity the workload's events mention, once, as a request names it.
fn mentioned(workload: &Workload) -> Vec<v1::EntityRef> {
    let mut seen = std::collections::HashSet::new();
    let mut entities = Vec::new();
    for event in &workload.events {
        let event = lineage_proto::validate::validate_event(event).expect("the workload is valid");
        for key in event.mentions() {
            let entity = lineage_proto::convert::entity_ref(&key);
            let id = (
                entity.workspace.clone(),
                entity.kind,
                entity.name.clone(),
                entity.version.clone(),
            );
            if seen.insert(id) {
                entities.push(entity);
            }
        }
    }
    entities
}

/// GetEntity of each of `entities`, in order.
async fn entity_answers(lineaged: &Lineaged, entities: &[v1::EntityRef]) -> Vec<v1::Entity> {
    let mut client = lineaged.client().await;
    let mut answers = Vec::with_capacity(entities.len());
    for entity in entities {
        let answer = client
            .get_entity(v1::GetEntityRequest {
                entity: Some(entity.clone()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("{entity:?}: {status}"))
            .into_inner();
        answers.push(answer);
    }
    answers
}

/// Copies a stopped lineaged's log (not its graph snapshots, so that a
/// lineaged started on the copy replays the whole log).
fn copy_store(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("the data directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            if entry.file_name() == "graph-snapshots" {
                continue;
            }
            std::fs::create_dir_all(&target).expect("a directory");
            copy_store(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file of the store");
        }
    }
}

/// The bytes of the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => bytes_under(&entry.path()),
            _ => entry.metadata().map_or(0, |metadata| metadata.len()),
        })
        .sum()
}

async fn health(lineaged: &Lineaged, service: &str) -> ServingStatus {
    let status = HealthClient::new(lineaged.channel().await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap_or_else(|status| panic!("the health service answers for {service}: {status}"))
        .into_inner()
        .status;
    ServingStatus::try_from(status).expect("a known serving status")
}

/// The durable consumer's ack floor (the stream sequence through which
/// every message is acknowledged) and the stream's last sequence.
async fn ack_floor_and_last(js: &jetstream::Context) -> (u64, u64) {
    let stream = js.get_stream(STREAM).await.expect("the events stream");
    let consumer = stream
        .consumer_info(CONSUMER)
        .await
        .expect("lineaged's durable consumer");
    let last = stream
        .get_info()
        .await
        .expect("the events stream's info")
        .state
        .last_sequence;
    (consumer.ack_floor.stream_sequence, last)
}

/// What must hold while the disk cannot take writes: the status says why,
/// the health service says ingest is down and queries up, queries answer
/// from the graph, and what reads the log says the storage is unavailable.
async fn assert_unhealthy_but_answering(lineaged: &Lineaged, reason: &str) -> v1::StatusResponse {
    let mut client = lineaged.client().await;
    let status = client
        .get_status(v1::GetStatusRequest::default())
        .await
        .expect("GetStatus answers while the disk is unusable")
        .into_inner();
    assert!(status.ready, "{status:?}");
    assert!(!status.ingest_connected, "{status:?}");
    assert!(
        status.ingest_error.contains("storage") && status.ingest_error.contains(reason),
        "the status names the storage and {reason:?}: {:?}",
        status.ingest_error
    );
    assert_eq!(
        health(lineaged, INGEST_HEALTH).await,
        ServingStatus::NotServing
    );
    assert_eq!(health(lineaged, QUERY_HEALTH).await, ServingStatus::Serving);

    let answered_at =
        workload::assert_graph_answers(lineaged, WORKSPACES[0], "from the graph").await;
    assert_eq!(answered_at, status.applied_seq);

    // The log is closed: a replay ends at once, saying why.
    let mut replay = client
        .replay(v1::ReplayRequest::default())
        .await
        .expect("a replay starts")
        .into_inner();
    let (records, ended) = lineage_e2e::read_replay_to_end(&mut replay).await;
    let ended = ended.expect("the replay ends with an error, not as a complete history");
    assert!(records.is_empty(), "{} records", records.len());
    assert_eq!(ended.code(), tonic::Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("storage"), "{ended:?}");
    let verify = client
        .verify_log(v1::VerifyLogRequest::default())
        .await
        .expect_err("the log is closed: it cannot be verified now");
    assert_eq!(verify.code(), tonic::Code::Unavailable, "{verify:?}");
    status
}

/// Watches an outage for at least `span`: every `check` holds, the ack
/// floor and the applied sequence never move, while the stream grows.
/// Returns how many messages arrived meanwhile.
async fn hold_outage(
    lineaged: &Lineaged,
    js: &jetstream::Context,
    reason: &str,
    span: Duration,
) -> u64 {
    // Acks sent just before the failure (of batches flushed before it)
    // may still be on their way to the broker.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = assert_unhealthy_but_answering(lineaged, reason).await;
    let (floor, last_at_start) = ack_floor_and_last(js).await;
    let started = Instant::now();
    let mut last = last_at_start;
    while started.elapsed() < span {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let status = assert_unhealthy_but_answering(lineaged, reason).await;
        assert_eq!(
            status.applied_seq, first.applied_seq,
            "the graph applies nothing while the log cannot store"
        );
        let (floor_now, last_now) = ack_floor_and_last(js).await;
        assert_eq!(
            floor_now, floor,
            "nothing is acknowledged while the log cannot store (stream at {last_now})"
        );
        last = last_now;
    }
    assert!(
        floor < last,
        "messages wait unacknowledged: ack floor {floor}, stream at {last}"
    );
    last - last_at_start
}

/// Polls the applied sequence every 10 ms and notes any step back: the
/// graph applies only what is durable, so what readers saw is never taken
/// back by a reopen that finds less in the log.
struct AppliedWatch {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(u64, Vec<(u64, u64)>)>,
}

impl AppliedWatch {
    fn start(mut client: LineageServiceClient<Channel>) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let (mut polls, mut highest, mut backwards) = (0u64, 0u64, Vec::new());
            while !*stopped.borrow() {
                if let Ok(status) = client.get_status(v1::GetStatusRequest::default()).await {
                    let applied = status.into_inner().applied_seq;
                    if applied < highest {
                        backwards.push((highest, applied));
                    }
                    highest = highest.max(applied);
                    polls += 1;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    _ = stopped.changed() => {}
                }
            }
            (polls, backwards)
        });
        Self { stop, task }
    }

    async fn assert_never_went_back(self) {
        let _ = self.stop.send(true);
        let (polls, backwards) = self.task.await.expect("the watch does not panic");
        assert!(polls > 0, "the applied sequence was watched");
        assert!(
            backwards.is_empty(),
            "the applied sequence went back (from, to): {backwards:?}"
        );
    }
}

/// lineaged on `tmpfs`, the producer publishing `events` unique events in
/// the background: returns once `applied_first` are applied.
struct Scenario {
    workload: Arc<Workload>,
    clean_digest: String,
    js: jetstream::Context,
    producer: tokio::task::JoinHandle<workload::Published>,
    /// Watches the applied sequence from the start until the end check.
    applied_watch: AppliedWatch,
    lineaged: Lineaged,
    nats: NatsServer,
}

impl Scenario {
    async fn start(tmpfs: &Tmpfs, events: u64, seed: u64, applied_first: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let workload = Arc::new(Workload::generate(
            events as usize,
            &WORKSPACES,
            workload::LATE_BY,
            &mut rng,
        ));
        let clean_digest = workload.clean_digest();
        let nats = NatsServer::start();
        let js = jetstream::new(nats.client().await);
        lineage_e2e::ensure_events_stream(&js).await;
        let data_dir = tmpfs.path().join("lineaged");
        let lineaged = Lineaged::start(&nats.url(), &data_dir, |config| {
            // Small batches: many flushes, so the disk fills mid-stream.
            config.batch_size = 32;
        })
        .await;
        let producers: HashMap<String, jetstream::Context> = WORKSPACES
            .iter()
            .map(|ws| (ws.to_string(), js.clone()))
            .collect();
        let producer = tokio::spawn(workload::produce(
            producers,
            workload.clone(),
            PRODUCER_PAUSE,
            Vec::new(),
        ));
        lineaged
            .wait_status_within(RECOVERY_WAIT, "the first events applied", |status| {
                status.applied_seq >= applied_first
            })
            .await;
        assert_eq!(
            health(&lineaged, INGEST_HEALTH).await,
            ServingStatus::Serving
        );
        let applied_watch = AppliedWatch::start(lineaged.client().await);
        Self {
            workload,
            clean_digest,
            js,
            producer,
            applied_watch,
            lineaged,
            nats,
        }
    }

    /// Waits until lineaged reports `reason`.
    async fn wait_reported(&self, reason: &str) -> v1::StatusResponse {
        self.lineaged
            .wait_status_within(
                RECOVERY_WAIT,
                &format!("ingest reports {reason:?}"),
                |status| !status.ingest_connected && status.ingest_error.contains(reason),
            )
            .await
    }

    /// Waits for ingest to be back, then for every event to be applied
    /// once, and checks the whole log; stops lineaged.
    async fn assert_recovers(self, outage_started: Instant, failed_at: &v1::StatusResponse) {
        let resumed = self
            .lineaged
            .wait_status_within(RECOVERY_WAIT, "ingest resumes", |status| {
                status.ingest_connected && status.ingest_error.is_empty()
            })
            .await;
        eprintln!(
            "resumed {:?} after the disk failed: applied {} when it failed, {} when resumed \
             (what the reopened log held of the failed batches, and new batches)",
            outage_started.elapsed(),
            failed_at.applied_seq,
            resumed.applied_seq
        );
        assert_eq!(
            health(&self.lineaged, INGEST_HEALTH).await,
            ServingStatus::Serving
        );
        let published = tokio::time::timeout(RECOVERY_WAIT, self.producer)
            .await
            .expect("the producer finishes")
            .expect("the producer did not panic");
        let settled = workload::assert_every_event_applied_once(
            &self.lineaged,
            &self.js,
            &self.workload,
            &self.clean_digest,
            RECOVERY_WAIT,
        )
        .await;
        let (floor, last) = ack_floor_and_last(&self.js).await;
        assert_eq!(floor, last, "every message acknowledged in the end");
        self.applied_watch.assert_never_went_back().await;
        eprintln!(
            "{} unique events, {} messages in the stream ({} stored, {} dropped by JetStream, \
             {} retried by the producer), {} duplicates recognised by lineaged",
            self.workload.unique(),
            settled.stream_messages,
            published.stored,
            published.dropped_by_jetstream,
            published.retried,
            settled.duplicates
        );

        // The live graph is the projection of its log, sequences included
        // (which the state digest leaves out): every entity answers as it
        // does from a lineaged that replays a copy of the log afresh. A
        // graph that applied records the reopened log lost would show here
        // as entities first seen at sequences the log gave to other events.
        let entities = mentioned(&self.workload);
        let live = entity_answers(&self.lineaged, &entities).await;
        let data_dir = self.lineaged.data_dir.clone();
        self.lineaged.stop().await;
        let copy = tempfile::tempdir().expect("a directory for the copy");
        copy_store(&data_dir, copy.path());
        let fresh = Lineaged::start(&self.nats.url(), copy.path(), |_| {}).await;
        fresh.wait_applied(self.workload.unique()).await;
        let replayed = entity_answers(&fresh, &entities).await;
        for (live, replayed) in live.iter().zip(&replayed) {
            assert_eq!(
                live,
                replayed,
                "live and replayed from the log, {}",
                lineage_e2e::label(live)
            );
        }
        eprintln!(
            "{} entities answer alike live and replayed afresh from the log",
            entities.len()
        );
        fresh.stop().await;
        drop(self.nats);
    }

    fn tmpfs_mib() -> u64 {
        env_number("LINEAGE_STORAGE_TMPFS_MIB", DEFAULT_TMPFS_MIB)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_acknowledgements_until_space_returns_and_loses_nothing() {
    let started = Instant::now();
    let events = env_number("LINEAGE_STORAGE_EVENTS", DEFAULT_EVENTS);
    let outage = Duration::from_secs(env_number(
        "LINEAGE_STORAGE_OUTAGE_SECS",
        DEFAULT_OUTAGE_SECS,
    ));
    let seed = env_number("LINEAGE_STORAGE_SEED", DEFAULT_SEED);
    assert!(events >= 1_000, "the disk fills after the first 300 events");
    // Declared first, so it is unmounted after lineaged has stopped.
    let tmpfs = Tmpfs::mount(Scenario::tmpfs_mib() * 1024 * 1024);
    let scenario = Scenario::start(&tmpfs, events, seed, 300).await;

    let (filler, filled) = tmpfs.fill();
    let outage_started = Instant::now();
    let noticed = scenario.wait_reported(NO_SPACE).await;
    let arrived = hold_outage(&scenario.lineaged, &scenario.js, NO_SPACE, outage).await;
    eprintln!(
        "disk full ({filled} bytes of filler) at applied {}: reported as {:?}; \
         {arrived} messages arrived and none was acknowledged in {outage:?}",
        noticed.applied_seq, noticed.ingest_error
    );

    std::fs::remove_file(&filler).expect("remove the filler");
    scenario.assert_recovers(outage_started, &noticed).await;
    eprintln!(
        "full disk: {:?} in all; the data directory holds {} bytes",
        started.elapsed(),
        bytes_under(tmpfs.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_disk_is_reported_and_lineaged_resumes_when_it_is_writable_again() {
    let started = Instant::now();
    // Smaller: this outage is about the reason reported, not the volume.
    let events = (env_number("LINEAGE_STORAGE_EVENTS", DEFAULT_EVENTS) * 2 / 5).max(800);
    let seed = env_number("LINEAGE_STORAGE_SEED", DEFAULT_SEED) ^ 1;
    let tmpfs = Tmpfs::mount(Scenario::tmpfs_mib() * 1024 * 1024);
    let scenario = Scenario::start(&tmpfs, events, seed, 200).await;

    // The disk fills: lineaged closes its log, releasing its files.
    let (filler, _) = tmpfs.fill();
    let outage_started = Instant::now();
    let failed_at = scenario.wait_reported(NO_SPACE).await;
    // Now the volume can be made read-only under it.
    tmpfs.remount("ro");
    let noticed = scenario.wait_reported(READ_ONLY).await;
    let arrived = hold_outage(
        &scenario.lineaged,
        &scenario.js,
        READ_ONLY,
        Duration::from_secs(2),
    )
    .await;
    eprintln!(
        "read-only at applied {}: reported as {:?}; {arrived} messages arrived, none acknowledged",
        noticed.applied_seq, noticed.ingest_error
    );

    tmpfs.remount("rw");
    // Writable, but still full: lineaged says so again.
    scenario.wait_reported(NO_SPACE).await;
    std::fs::remove_file(&filler).expect("remove the filler");
    scenario.assert_recovers(outage_started, &failed_at).await;
    eprintln!("read-only disk: {:?} in all", started.elapsed());
}
