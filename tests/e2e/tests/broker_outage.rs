//! The broker goes away mid-ingest and comes back: a real nats-server with
//! its JetStream store, a real lineaged, and a producer publishing a
//! workload with duplicates (retrying what the broker did not acknowledge).
//! The broker is stopped twice while events are flowing, once gracefully
//! (SIGTERM, as systemd stops it) and once killed (SIGKILL, as a crash or
//! the OOM killer would), each time for several seconds, and started again
//! on the same port and store.
//!
//! While it is away, lineaged keeps answering queries (GetStatus,
//! GetEntity, Provenance) from its graph, and GetStatus says ingest is not
//! connected, and why. When it is back, lineaged reconnects by itself and
//! resumes from the same durable consumer (created once, before the first
//! outage). At the end every unique event is applied exactly once (count and
//! set), the log verifies, and the state digest equals a clean single-pass
//! projection of the same events.
//!
//! Default scale (CI): 3,000 unique events, two outages of 4 s.
//!
//! ```text
//! cargo test -p lineage-e2e --test broker_outage
//! ```
//!
//! Larger, with longer outages (the seed is optional; the test prints it):
//!
//! ```text
//! LINEAGE_OUTAGE_EVENTS=50000 LINEAGE_OUTAGE_SECS=15 LINEAGE_OUTAGE_SEED=7 \
//!     cargo test --release -p lineage-e2e --test broker_outage -- --nocapture
//! ```

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use lineage_e2e::rng::SplitMix64;
use lineage_e2e::{Lineaged, NatsServer};
use lineage_proto::v1;
use support::workload::{self, CONSUMER, STREAM, Workload, env_number};

const DEFAULT_EVENTS: u64 = 3_000;
const DEFAULT_OUTAGE_SECS: u64 = 4;
const DEFAULT_SEED: u64 = 0x0b0c_e2e0_07a6_e5ed;
const WORKSPACES: [&str; 3] = ["ws-a", "ws-b", "ws-c"];
/// How long publishing the whole workload is spread over (outages add to it).
const PRODUCTION_SPAN: Duration = Duration::from_secs(10);
/// Bound on every wait for lineaged to notice, recover or catch up.
const RECOVERY_WAIT: Duration = Duration::from_secs(45);

/// How the broker is taken away.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM: nats-server closes its clients and store and exits.
    Graceful,
    /// SIGKILL: nothing is closed.
    Kill,
}

/// The queries lineaged must keep answering while the broker is away: the
/// status, the first run of the workload and the provenance of the first
/// dataset version (both applied before any outage).
async fn queries_answer(lineaged: &Lineaged) -> v1::StatusResponse {
    let mut client = lineaged.client().await;
    let status = client
        .get_status(v1::GetStatusRequest::default())
        .await
        .expect("GetStatus answers while the broker is away")
        .into_inner();
    workload::assert_graph_answers(lineaged, WORKSPACES[0], "while the broker is away").await;
    status
}

/// Waits until lineaged has applied at least `seq` records.
async fn wait_applied_at_least(lineaged: &Lineaged, seq: u64) -> v1::StatusResponse {
    lineaged
        .wait_status_within(RECOVERY_WAIT, &format!("applied_seq >= {seq}"), |status| {
            status.ready && status.applied_seq >= seq
        })
        .await
}

/// One outage to inflict.
struct Outage<'a> {
    how: Stop,
    /// Records lineaged has applied when the broker is stopped.
    applied_first: u64,
    /// How long the broker stays away, at least.
    lasting: Duration,
    /// Opened as the broker stops: lets the producer publish into the
    /// outage.
    opens: &'a tokio::sync::watch::Sender<bool>,
}

/// One outage: the broker stopped as `plan.how` once lineaged has applied
/// `plan.applied_first` records, kept away for at least `plan.lasting`
/// (and until lineaged has noticed), queries checked all along, then
/// started again on the same port and store; returns once lineaged
/// ingests again (or has applied all `unique` events).
async fn outage(
    nats: &mut NatsServer,
    js: &jetstream::Context,
    lineaged: &Lineaged,
    unique: u64,
    plan: Outage<'_>,
) {
    let Outage {
        how,
        applied_first,
        lasting: outage,
        opens: open_gate,
    } = plan;
    let before = wait_applied_at_least(lineaged, applied_first).await;
    let stored_before = workload::stream_messages(js)
        .await
        .expect("stream info before the outage");
    match how {
        Stop::Graceful => tokio::task::block_in_place(|| nats.stop_gracefully()),
        Stop::Kill => tokio::task::block_in_place(|| nats.stop()),
    }
    let stopped = Instant::now();
    open_gate.send_replace(true);
    let mut noticed: Option<v1::StatusResponse> = None;
    let mut queries = 0u32;
    while stopped.elapsed() < outage || noticed.is_none() {
        let status = queries_answer(lineaged).await;
        queries += 1;
        if !status.ingest_connected && !status.ingest_error.is_empty() {
            noticed.get_or_insert(status);
        }
        assert!(
            stopped.elapsed() < RECOVERY_WAIT,
            "lineaged did not report the outage within {RECOVERY_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let noticed = noticed.expect("noticed");
    let away = stopped.elapsed();

    tokio::task::block_in_place(|| nats.restart());
    let restarted = Instant::now();
    let resumed = lineaged
        .wait_status_within(
            RECOVERY_WAIT,
            "ingest resumes after the restart",
            |status| status.ingest_connected && status.ingest_error.is_empty(),
        )
        .await;
    // It ingests again: the producer, retrying, keeps the stream growing
    // (unless everything was applied already).
    let moving = lineaged
        .wait_status_within(RECOVERY_WAIT, "applying after the restart", |status| {
            status.applied_seq > resumed.applied_seq || status.applied_seq == unique
        })
        .await;
    let stored_after = workload::stream_messages(js)
        .await
        .expect("stream info after the outage");
    assert!(
        stored_after >= stored_before,
        "the store kept every message across the {how:?} stop: {stored_before} before, {stored_after} after"
    );
    eprintln!(
        "{how:?} stop at applied {}: away {away:?} ({queries} rounds of queries answered; \
         noticed as {:?}), ingesting again {:?} after the restart (applied {})",
        before.applied_seq,
        noticed.ingest_error,
        restarted.elapsed(),
        moving.applied_seq,
    );
}

/// lineaged's durable consumer: when it was created, and the stream
/// sequence below which everything is acknowledged.
/// (Creation time in nanoseconds since the epoch.)
async fn durable_consumer(js: &jetstream::Context) -> (i128, u64) {
    let stream = js.get_stream(STREAM).await.expect("events stream");
    let info = stream
        .consumer_info(CONSUMER)
        .await
        .expect("lineaged's durable consumer");
    (
        info.created.unix_timestamp_nanos(),
        info.ack_floor.stream_sequence,
    )
}

/// Asserts that lineaged resumed from the consumer it had before the
/// outage instead of a new one: created when that one was (the server
/// keeps the time to within microseconds, a new consumer would be seconds
/// younger), acknowledged at least as far.
#[track_caller]
fn assert_same_consumer(before: (i128, u64), after: (i128, u64)) {
    assert!(
        (after.0 - before.0).abs() < 1_000_000_000,
        "the durable consumer was created again: {before:?} -> {after:?}"
    );
    assert!(
        after.1 >= before.1,
        "the consumer's acknowledgements went back: {before:?} -> {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_stopped_and_killed_mid_ingest_loses_nothing_while_queries_keep_working() {
    let started = Instant::now();
    let unique = env_number("LINEAGE_OUTAGE_EVENTS", DEFAULT_EVENTS) as usize;
    let outage_span = Duration::from_secs(env_number("LINEAGE_OUTAGE_SECS", DEFAULT_OUTAGE_SECS));
    let seed = env_number("LINEAGE_OUTAGE_SEED", DEFAULT_SEED);
    assert!(unique >= 1_000, "at least 1,000 events");
    eprintln!("broker outage: {unique} unique events, outages of {outage_span:?}, seed {seed}");
    let mut rng = SplitMix64(seed);
    let workload = Arc::new(Workload::generate(
        unique,
        &WORKSPACES,
        workload::LATE_BY,
        &mut rng,
    ));
    let clean_digest = workload.clean_digest();

    let mut nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    // The test's own view of the broker; the client reconnects after
    // each restart by itself.
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;

    // The producer has a connection of its own, like a real one.
    let producer = jetstream::new(nats.client().await);
    let producers: HashMap<String, jetstream::Context> = WORKSPACES
        .iter()
        .map(|ws| ((*ws).to_owned(), producer.clone()))
        .collect();
    let chunks = workload.publications.len().div_ceil(100) as u32;
    let pause = PRODUCTION_SPAN / chunks.max(1);
    // What comes after 35 % of the publications is published only once the
    // first outage has begun, after 70 % once the second has: the producer
    // publishes into each outage, retrying until the broker is back.
    let (open_second_part, second_part) = workload::gate(&workload, 0.35);
    let (open_third_part, third_part) = workload::gate(&workload, 0.70);
    let producing = tokio::spawn(workload::produce(
        producers,
        workload.clone(),
        pause,
        vec![second_part, third_part],
    ));

    wait_applied_at_least(&lineaged, 1).await;
    let consumer = durable_consumer(&js).await;
    // The first outage a fifth of the way in, the second half way.
    outage(
        &mut nats,
        &js,
        &lineaged,
        unique as u64,
        Outage {
            how: Stop::Graceful,
            applied_first: unique as u64 / 5,
            lasting: outage_span,
            opens: &open_second_part,
        },
    )
    .await;
    let consumer_after_first = durable_consumer(&js).await;
    assert_same_consumer(consumer, consumer_after_first);
    outage(
        &mut nats,
        &js,
        &lineaged,
        unique as u64,
        Outage {
            how: Stop::Kill,
            applied_first: unique as u64 / 2,
            lasting: outage_span,
            opens: &open_third_part,
        },
    )
    .await;
    assert_same_consumer(consumer_after_first, durable_consumer(&js).await);

    let published = tokio::time::timeout(RECOVERY_WAIT * 4, producing)
        .await
        .expect("the producer finishes within the wait bound")
        .expect("the producer did not panic");
    let settled = workload::assert_every_event_applied_once(
        &lineaged,
        &js,
        &workload,
        &clean_digest,
        RECOVERY_WAIT * 2,
    )
    .await;
    eprintln!(
        "broker outage: {unique} unique events, {} publications ({published:?}), \
         {} messages in the stream, {} duplicates recognised by lineaged, 2 outages \
         (one SIGTERM, one SIGKILL), done in {:?}",
        workload.publications.len(),
        settled.stream_messages,
        settled.duplicates,
        started.elapsed()
    );
    lineaged.stop().await;
}
