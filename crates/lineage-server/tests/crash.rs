//! The real `lineaged` binary, killed with SIGKILL at pseudo-random moments
//! while a producer keeps publishing a workload with duplicates: after the
//! last restart every unique event is applied exactly once, the log holds
//! each once and verifies, and the projection's digest equals that of a
//! clean single pass over the same events built in this process.
//!
//! The workload repeats some events two or three times under the same
//! event id. Some copies carry `Nats-Msg-Id` (JetStream drops those itself)
//! and some do not, so that lineaged's own idempotency by workspace and
//! event id is what keeps them out of the log. Each restart uses the same
//! data dir and gRPC port, a small random snapshot interval (so that kills
//! land during and around snapshots) and a random batch size; some kills
//! land while the snapshot is restored and the log replayed, before the
//! service is ready. JetStream stays up the whole time and the producer, in
//! its own task, keeps publishing across the kills.
//!
//! Default scale (CI, debug): 20,000 unique events, 20 kills:
//!
//! ```text
//! cargo test -p lineage-server --test crash
//! ```
//!
//! Full scale, in release (a debug build ingests too slowly): 200,000
//! unique events, 40 kills. The seed is optional; the test prints the one
//! it used.
//!
//! ```text
//! LINEAGE_CRASH_EVENTS=200000 LINEAGE_CRASH_KILLS=40 LINEAGE_CRASH_SEED=7 \
//!     cargo test --release -p lineage-server --test crash -- --nocapture
//! ```

// The end-to-end harness's nats-server helper and event builders, shared by
// path because the e2e crate depends on this one; this test uses only part
// of them.
#[allow(dead_code)]
#[path = "../../../tests/e2e/src/nats.rs"]
mod nats;

#[allow(dead_code)]
#[path = "../../../tests/e2e/src/events.rs"]
mod events;

#[allow(dead_code)]
#[path = "../../../tests/e2e/src/rng.rs"]
mod rng;

#[allow(dead_code)]
#[path = "../../../tests/e2e/src/workload.rs"]
mod workload;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use rng::SplitMix64;
use tonic::transport::Channel;
use workload::{STREAM, Workload, consumer_backlog, env_number, log_order_digest};

/// Unique events at the default scale.
const DEFAULT_EVENTS: usize = 20_000;
/// Kills at the default scale.
const DEFAULT_KILLS: usize = 20;
/// The seed when `LINEAGE_CRASH_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5eed_c0ff_ee15_dead;
/// Messages published before waiting for their acks.
const PUBLISH_CHUNK: usize = 250;
/// Seconds JetStream waits for an ack before redelivering (kept short so
/// that what a killed instance had fetched comes back quickly).
const ACK_WAIT_SECS: u64 = 2;
/// Snapshot intervals (records) a restart picks from at the default scale;
/// larger runs scale them with the event count, since each snapshot encodes
/// the whole graph and one every 25 records of a 200,000-event graph would
/// test nothing but patience.
const SNAPSHOT_INTERVALS: [u64; 6] = [25, 100, 300, 1_000, 3_000, 10_000];
/// Batch sizes a restart picks from.
const BATCH_SIZES: [u16; 3] = [16, 64, 256];
/// How long one gRPC call may take before the test calls it a failure.
const CALL_WAIT: Duration = Duration::from_secs(30);
/// The workspaces the events are spread over.
const WORKSPACES: [&str; 4] = ["ws-0", "ws-1", "ws-2", "ws-3"];
/// How far after its first copy a later copy of an event may come, in
/// events: a few thousand, often across a kill.
const LATE_BY: usize = 3_000;

/// What the producer's publish acks said.
#[derive(Debug, Default, Clone, Copy)]
struct Published {
    /// Messages the stream stored (lineaged will see each at least once).
    stored: u64,
    /// Copies JetStream itself dropped as duplicates of a `Nats-Msg-Id`.
    dropped_by_jetstream: u64,
}

/// Publishes every copy, a chunk at a time, waiting for each chunk's acks
/// and then `pause`, so that publishing spans the kills.
async fn produce(
    js: jetstream::Context,
    workload: std::sync::Arc<Workload>,
    pause: Duration,
) -> Published {
    let mut published = Published::default();
    for chunk in workload.publications.chunks(PUBLISH_CHUNK) {
        let mut acks = Vec::with_capacity(chunk.len());
        for publication in chunk {
            let event = &workload.events[publication.event];
            let mut headers = async_nats::HeaderMap::new();
            if publication.msg_id {
                headers.insert("Nats-Msg-Id", event.event_id.as_str());
            }
            let subject = format!("lineage.events.{}", event.workspace);
            let payload = workload.encoded[publication.event].clone();
            acks.push(
                js.publish_with_headers(subject, headers, payload.into())
                    .await
                    .expect("publish"),
            );
        }
        for ack in acks {
            let ack = tokio::time::timeout(CALL_WAIT, ack)
                .await
                .expect("publish ack within the wait bound")
                .expect("publish ack");
            if ack.duplicate {
                published.dropped_by_jetstream += 1;
            } else {
                published.stored += 1;
            }
        }
        tokio::time::sleep(pause).await;
    }
    published
}

/// A `lineaged` process this test started; killed (SIGKILL) on drop, so a
/// failing assertion leaves nothing running.
#[derive(Debug)]
struct Lineaged {
    child: Child,
    /// Its stderr, kept for the failure message.
    log: PathBuf,
    snapshot_every: u64,
    batch_size: u16,
}

impl Lineaged {
    fn start(
        nats_url: &str,
        data_dir: &Path,
        grpc_port: u16,
        log: PathBuf,
        snapshot_every: u64,
        batch_size: u16,
    ) -> Self {
        let stderr = File::create(&log).expect("lineaged log file");
        let child = Command::new(env!("CARGO_BIN_EXE_lineaged"))
            .env("LINEAGE_NATS_URL", nats_url)
            .env("LINEAGE_DATA_DIR", data_dir)
            .env("LINEAGE_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("LINEAGE_ACK_WAIT_SECS", ACK_WAIT_SECS.to_string())
            .env("LINEAGE_BATCH_SIZE", batch_size.to_string())
            .env("LINEAGE_SNAPSHOT_EVERY", snapshot_every.to_string())
            .env("LINEAGE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start lineaged");
        Self {
            child,
            log,
            snapshot_every,
            batch_size,
        }
    }

    /// Panics, with its log, if the process has exited on its own.
    fn assert_running(&mut self, context: &str) {
        if let Some(exit) = self.child.try_wait().expect("poll lineaged") {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "lineaged (snapshot every {}, batch {}) exited by itself {context}: {exit:?}\n{tail}",
                self.snapshot_every, self.batch_size
            );
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Lineaged {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn client(grpc_port: u16, connect_wait: Duration) -> Option<LineageServiceClient<Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .ok()?
        .connect_timeout(connect_wait)
        .timeout(CALL_WAIT)
        .connect()
        .await
        .ok()?;
    Some(LineageServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

async fn status(
    client: &mut LineageServiceClient<Channel>,
    include_state_digest: bool,
) -> Option<v1::StatusResponse> {
    Some(
        client
            .get_status(v1::GetStatusRequest {
                include_state_digest,
            })
            .await
            .ok()?
            .into_inner(),
    )
}

/// The whole log, streamed by `Replay`.
async fn replay_all(
    client: &mut LineageServiceClient<Channel>,
    bound: usize,
) -> Vec<v1::LogRecord> {
    let mut stream = client
        .replay(v1::ReplayRequest::default())
        .await
        .expect("replay starts")
        .into_inner();
    let mut records = Vec::new();
    loop {
        let next = tokio::time::timeout(CALL_WAIT, stream.message())
            .await
            .expect("the replay sends its next record within the wait bound")
            .expect("the replay sends records without error");
        match next {
            Some(record) => records.push(record),
            None => return records,
        }
        assert!(
            records.len() <= bound,
            "the replay sent more than {bound} records"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_nothing_and_applies_nothing_twice() {
    let started = Instant::now();
    let unique = env_number("LINEAGE_CRASH_EVENTS", DEFAULT_EVENTS as u64) as usize;
    let kills = env_number("LINEAGE_CRASH_KILLS", DEFAULT_KILLS as u64) as usize;
    let seed = env_number("LINEAGE_CRASH_SEED", DEFAULT_SEED);
    assert!(unique > 0 && kills > 0);
    eprintln!("crash test: {unique} unique events, {kills} kills, seed {seed}");
    let mut rng = SplitMix64(seed);
    let workload = std::sync::Arc::new(Workload::generate(unique, &WORKSPACES, LATE_BY, &mut rng));
    let expected_digest = workload.clean_digest();

    let nats = nats::NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    let grpc_port = nats::free_port();
    let js = jetstream::new(nats.client().await);
    js.get_or_create_stream(jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["lineage.events.>".into()],
        ..Default::default()
    })
    .await
    .expect("events stream");

    // Publishing is paced to last about as long as the kills take (an
    // instance lives 0.9 s on average, plus its start), so that kills land
    // while events still arrive.
    let chunks = workload.publications.len().div_ceil(PUBLISH_CHUNK) as u32;
    let pause = (Duration::from_millis(900) * kills as u32) / chunks.max(1);
    let producer = tokio::spawn(produce(js.clone(), workload.clone(), pause));

    let snapshot_scale = (unique / DEFAULT_EVENTS).max(1) as u64;
    let mut killed_before_ready = 0usize;
    let mut highest_applied = 0u64;
    for kill in 0..kills {
        let snapshot_every = *rng.pick(&SNAPSHOT_INTERVALS) * snapshot_scale;
        let batch_size = *rng.pick(&BATCH_SIZES);
        let mut lineaged = Lineaged::start(
            &nats.url(),
            data.path(),
            grpc_port,
            logs.path().join(format!("lineaged-{kill}.log")),
            snapshot_every,
            batch_size,
        );
        // A quarter of the kills come early (often during restore and
        // replay), the rest once it has been ingesting for a while.
        let uptime = if rng.below(4) == 0 {
            Duration::from_millis(rng.below(400) as u64)
        } else {
            Duration::from_millis(300 + rng.below(1_700) as u64)
        };
        let kill_at = Instant::now() + uptime;
        while Instant::now() < kill_at {
            lineaged.assert_running(&format!("before kill {kill}"));
            tokio::time::sleep(Duration::from_millis(10).min(uptime)).await;
        }
        lineaged.assert_running(&format!("before kill {kill}"));
        // A quick look (bounded, so the kill moment barely moves) at how
        // far it got; never required.
        let seen = match tokio::time::timeout(Duration::from_millis(100), async {
            let mut client = client(grpc_port, Duration::from_millis(50)).await?;
            status(&mut client, false).await
        })
        .await
        {
            Ok(Some(status)) if status.ready => Some(status.applied_seq),
            _ => None,
        };
        lineaged.kill();
        match seen {
            Some(applied) => {
                assert!(
                    applied <= unique as u64,
                    "applied_seq {applied} exceeds the {unique} unique events (kill {kill})"
                );
                assert!(
                    applied >= highest_applied,
                    "applied_seq went back from {highest_applied} to {applied} (kill {kill})"
                );
                highest_applied = applied;
            }
            None => killed_before_ready += 1,
        }
        eprintln!(
            "kill {kill}: after {uptime:?}, snapshot every {snapshot_every}, batch {batch_size}, applied {seen:?}"
        );
    }

    // The last restart, left alone.
    let snapshot_every = *rng.pick(&SNAPSHOT_INTERVALS) * snapshot_scale;
    let batch_size = *rng.pick(&BATCH_SIZES);
    let mut lineaged = Lineaged::start(
        &nats.url(),
        data.path(),
        grpc_port,
        logs.path().join("lineaged-final.log"),
        snapshot_every,
        batch_size,
    );
    let final_wait = Duration::from_secs(60) + Duration::from_millis(unique as u64);
    let published = tokio::time::timeout(final_wait, producer)
        .await
        .expect("the producer finishes within the wait bound")
        .expect("the producer task did not panic");
    let kill_phase = started.elapsed();

    // Wait until the log has every unique event and every stored message is
    // accounted for: applied, or recognised as a duplicate (redeliveries
    // after a kill may be counted more than once), with nothing left for
    // the consumer.
    let deadline = Instant::now() + final_wait;
    let mut client = loop {
        lineaged.assert_running("after the last restart");
        if let Some(client) = client(grpc_port, Duration::from_secs(1)).await {
            break client;
        }
        assert!(
            Instant::now() < deadline,
            "lineaged never answered after the last restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut last = None;
    loop {
        lineaged.assert_running("while catching up");
        if let Some(status) = status(&mut client, false).await {
            assert!(
                status.applied_seq <= unique as u64,
                "applied_seq {} exceeds the {unique} unique events: something was applied twice",
                status.applied_seq
            );
            if status.ready
                && status.applied_seq == unique as u64
                && status.applied_seq + status.duplicates >= published.stored
                && consumer_backlog(&js).await == Some((0, 0))
            {
                break;
            }
            last = Some(status);
        }
        assert!(
            Instant::now() < deadline,
            "lineaged did not catch up within {final_wait:?}: {published:?}, last status {last:?}, backlog {:?}",
            consumer_backlog(&js).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = started.elapsed();
    // Wait out a redelivery of anything still in flight, then look again.
    tokio::time::sleep(Duration::from_secs(ACK_WAIT_SECS + 1)).await;
    lineaged.assert_running("after catching up");
    let status = status(&mut client, true).await.expect("status with digest");

    let stream_messages = js
        .get_stream(STREAM)
        .await
        .expect("events stream")
        .get_info()
        .await
        .expect("stream info")
        .state
        .messages;
    assert_eq!(
        stream_messages, published.stored,
        "the stream holds what the producer's acks said it stored"
    );
    assert!(
        published.stored > unique as u64,
        "some duplicates got past JetStream to lineaged: {published:?}"
    );
    assert!(
        published.dropped_by_jetstream > 0,
        "some duplicates were dropped by JetStream: {published:?}"
    );
    assert_eq!(
        status.applied_seq, unique as u64,
        "nothing applied twice after settling"
    );
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    assert!(
        status.applied_seq + status.duplicates >= published.stored,
        "every stored message applied or recognised: {status:?}, {published:?}"
    );

    let verified = client
        .verify_log(v1::VerifyLogRequest::default())
        .await
        .expect("verify log")
        .into_inner();
    assert!(verified.ok, "the log verifies: {verified:?}");
    assert_eq!(verified.records_checked, unique as u64, "{verified:?}");
    assert_eq!(verified.verified_hash, status.head_hash, "{verified:?}");

    let records = replay_all(&mut client, unique + 1).await;
    assert_eq!(
        records.len(),
        unique,
        "the log holds each unique event once"
    );
    workload.assert_log_holds_each_event_once_as_published(&records);

    assert_eq!(
        status.state_digest,
        expected_digest,
        "the state digest equals a clean single pass (log-order pass: {})",
        log_order_digest(&records)
    );

    eprintln!(
        "crash test: {unique} unique events, {} stored messages ({} duplicates reached lineaged, {} dropped by JetStream), \
         {kills} kills ({killed_before_ready} before ready), duplicates counted {}, \
         kills done at {kill_phase:?}, caught up at {caught_up:?}, checked at {:?}",
        published.stored,
        published.stored - unique as u64,
        published.dropped_by_jetstream,
        status.duplicates,
        started.elapsed()
    );
    lineaged.kill();
}
