//! A producer that publishes the fault tests' workload
//! (`lineage_e2e::workload`) through broker outages (retrying what was not
//! acknowledged, as a well-behaved producer does; a retry after a lost
//! publish ack adds copies of its own), and the end check of those tests:
//! every unique event applied exactly once (count and set), the log
//! verifies, and the state digest equals a clean single-pass projection of
//! the same events computed in this process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use lineage_e2e::Lineaged;
use lineage_e2e::workload::log_order_digest;
pub use lineage_e2e::workload::{
    CONSUMER, Publication, STREAM, Workload, consumer_backlog, env_number,
};
use lineage_proto::v1;

/// How far after its first copy a later copy of an event may come, in
/// events: a few batches, often across an outage.
pub const LATE_BY: usize = 500;
/// Messages published before waiting for their acks.
const PUBLISH_CHUNK: usize = 100;
/// How long one publish or its ack may take before it is retried.
const PUBLISH_WAIT: Duration = Duration::from_secs(4);
/// How long a message may keep failing (the broker away, a leader being
/// elected) before the producer gives up and the test fails.
const PUBLISH_GIVE_UP: Duration = Duration::from_secs(90);

/// What the producer saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Published {
    /// Publish acks saying the stream stored the message.
    pub stored: u64,
    /// Publish acks saying JetStream dropped it as a repeat of a
    /// `Nats-Msg-Id` (some of them retries of a message whose first ack
    /// was lost).
    pub dropped_by_jetstream: u64,
    /// Publishes that failed (no ack in time, no responders, a closed
    /// connection) and were sent again.
    pub retried: u64,
}

/// Holds the producer back before a given publication until the test
/// opens it, so that a fault is sure to land while events still arrive:
/// what comes after the gate is published only once the fault is there.
#[derive(Debug)]
pub struct Gate {
    /// Index into the workload's publications.
    pub before: usize,
    pub open: tokio::sync::watch::Receiver<bool>,
}

/// A gate before `fraction` of the publications, and the sender that
/// opens it.
pub fn gate(workload: &Workload, fraction: f64) -> (tokio::sync::watch::Sender<bool>, Gate) {
    let (open, receiver) = tokio::sync::watch::channel(false);
    let before = (workload.publications.len() as f64 * fraction) as usize;
    (
        open,
        Gate {
            before,
            open: receiver,
        },
    )
}

/// How long a gate may stay shut before the producer gives up.
const GATE_WAIT: Duration = Duration::from_secs(300);

/// Publishes every copy, a chunk at a time, waiting for each chunk's acks
/// and then `pause`, and at each of `gates` until the test opens it. A copy
/// whose publish or ack fails is sent again until acknowledged (bounded by
/// [`PUBLISH_GIVE_UP`]): the broker may be away or electing a leader. Each
/// workspace's copies go through its own context (a producer may only
/// publish to its workspace's subject).
pub async fn produce(
    producers: HashMap<String, jetstream::Context>,
    workload: Arc<Workload>,
    pause: Duration,
    mut gates: Vec<Gate>,
) -> Published {
    let mut published = Published::default();
    gates.sort_by_key(|gate| gate.before);
    let mut gates = gates.into_iter().peekable();
    let mut start = 0;
    while start < workload.publications.len() {
        let mut end = (start + PUBLISH_CHUNK).min(workload.publications.len());
        if let Some(gate) = gates.peek_mut() {
            if gate.before <= start {
                tokio::time::timeout(GATE_WAIT, gate.open.wait_for(|open| *open))
                    .await
                    .expect("the test opens every gate")
                    .expect("the gate's sender is alive until it opens");
                gates.next();
                continue;
            }
            end = end.min(gate.before);
        }
        let chunk = &workload.publications[start..end];
        start = end;
        let mut pending: Vec<Publication> = chunk.to_vec();
        let started = Instant::now();
        while !pending.is_empty() {
            let mut acks = Vec::with_capacity(pending.len());
            for publication in &pending {
                let event = &workload.events[publication.event];
                let js = producers
                    .get(&event.workspace)
                    .unwrap_or_else(|| panic!("no producer for workspace {}", event.workspace));
                let mut headers = async_nats::HeaderMap::new();
                if publication.msg_id {
                    headers.insert("Nats-Msg-Id", event.event_id.as_str());
                }
                let subject = format!("lineage.events.{}", event.workspace);
                let payload = workload.encoded[publication.event].clone();
                let ack = tokio::time::timeout(
                    PUBLISH_WAIT,
                    js.publish_with_headers(subject, headers, payload.into()),
                )
                .await;
                acks.push((*publication, ack));
            }
            let mut failed = Vec::new();
            for (publication, ack) in acks {
                let acked = match ack {
                    Ok(Ok(ack)) => tokio::time::timeout(PUBLISH_WAIT, ack)
                        .await
                        .ok()
                        .and_then(Result::ok),
                    _ => None,
                };
                match acked {
                    Some(ack) if ack.duplicate => published.dropped_by_jetstream += 1,
                    Some(_) => published.stored += 1,
                    None => failed.push(publication),
                }
            }
            published.retried += failed.len() as u64;
            pending = failed;
            if !pending.is_empty() {
                assert!(
                    started.elapsed() < PUBLISH_GIVE_UP,
                    "{} messages were not acknowledged within {PUBLISH_GIVE_UP:?}",
                    pending.len()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(pause).await;
    }
    published
}

/// The stream's and the durable consumer's state as the broker reports
/// them, for a failure message.
pub async fn broker_view(js: &jetstream::Context) -> String {
    let Ok(stream) = js.get_stream(STREAM).await else {
        return "no stream info".into();
    };
    let stream_state = stream
        .get_info()
        .await
        .map(|info| format!("{:?}, cluster {:?}", info.state, info.cluster));
    let consumer = stream.consumer_info(CONSUMER).await.map(|info| {
        format!(
            "delivered {:?}, ack floor {:?}, pending {}, ack pending {}, redelivered {}, waiting {}, cluster {:?}",
            info.delivered,
            info.ack_floor,
            info.num_pending,
            info.num_ack_pending,
            info.num_redelivered,
            info.num_waiting,
            info.cluster
        )
    });
    format!("stream {stream_state:?}; consumer {consumer:?}")
}

/// Messages the events stream holds.
pub async fn stream_messages(js: &jetstream::Context) -> Option<u64> {
    let stream = js.get_stream(STREAM).await.ok()?;
    Some(stream.get_info().await.ok()?.state.messages)
}

/// The status, or `None` if lineaged does not answer.
pub async fn status(lineaged: &Lineaged) -> Option<v1::StatusResponse> {
    let mut client = lineaged.client().await;
    Some(
        tokio::time::timeout(
            Duration::from_secs(10),
            client.get_status(v1::GetStatusRequest::default()),
        )
        .await
        .ok()?
        .ok()?
        .into_inner(),
    )
}

/// What the end check found, for the test's summary line.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    pub stream_messages: u64,
    pub duplicates: u64,
}

/// Waits (at most `bound`) until lineaged has applied every unique event
/// and accounted for every stored message, with nothing left for its
/// consumer; then checks, after a redelivery could have happened: nothing
/// applied twice, nothing dead-lettered, the log verifies and holds each
/// unique event once as published, and the state digest equals
/// `clean_digest`.
pub async fn assert_every_event_applied_once(
    lineaged: &Lineaged,
    js: &jetstream::Context,
    workload: &Workload,
    clean_digest: &str,
    bound: Duration,
) -> Settled {
    let unique = workload.unique();
    let deadline = Instant::now() + bound;
    let mut last = None;
    loop {
        if let Some(status) = status(lineaged).await {
            assert!(
                status.applied_seq <= unique,
                "applied_seq {} exceeds the {unique} unique events: something was applied twice",
                status.applied_seq
            );
            let stored = stream_messages(js).await;
            if status.ready
                && status.applied_seq == unique
                && stored.is_some_and(|stored| status.applied_seq + status.duplicates >= stored)
                && consumer_backlog(js).await == Some((0, 0))
            {
                break;
            }
            last = Some((status, stored));
        }
        assert!(
            Instant::now() < deadline,
            "lineaged did not catch up within {bound:?}: last (status, stream messages) {last:?}; {}",
            broker_view(js).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything still in flight would be redelivered after the ack wait
    // (2 s in the harness): wait it out, then look again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = lineaged.status_with_digest().await;
    let stream_messages = stream_messages(js).await.expect("stream info");
    assert_eq!(
        status.applied_seq, unique,
        "nothing applied twice after settling"
    );
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    assert!(
        status.applied_seq + status.duplicates >= stream_messages,
        "every stored message applied or recognised: {status:?}, {stream_messages} in the stream"
    );
    assert!(
        stream_messages > unique,
        "some duplicates got past JetStream to lineaged ({stream_messages} stored)"
    );

    let verified = lineaged.verify_log(0, 0).await;
    assert!(verified.ok, "the log verifies: {verified:?}");
    assert_eq!(verified.records_checked, unique, "{verified:?}");
    assert_eq!(verified.verified_hash, status.head_hash, "{verified:?}");

    let records = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("the whole log replays");
    assert_eq!(
        records.len() as u64,
        unique,
        "the log holds each unique event once"
    );
    workload.assert_log_holds_each_event_once_as_published(&records);

    assert_eq!(
        status.state_digest,
        clean_digest,
        "the state digest equals a clean single pass (a pass in log order gives {})",
        log_order_digest(&records)
    );
    Settled {
        stream_messages,
        duplicates: status.duplicates,
    }
}

/// The questions lineaged must keep answering from its graph whatever
/// ingest is going through (`while_` says what, for the failure message):
/// the workload's first run in `ws`, and the provenance of its first
/// dataset version, which reaches that run. Returns the provenance's
/// applied sequence.
pub async fn assert_graph_answers(lineaged: &Lineaged, ws: &str, while_: &str) -> u64 {
    use lineage_e2e::{entity, label, labels};
    let mut client = lineaged.client().await;
    let run = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(ws, v1::EntityKind::Run, "run-0", "")),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("GetEntity answers {while_}: {status:?}"))
        .into_inner();
    assert_eq!(label(&run), "run:run-0");
    let provenance = client
        .provenance(v1::TraversalRequest {
            root: Some(entity(ws, v1::EntityKind::DatasetVersion, "data-0", "v0")),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("Provenance answers {while_}: {status:?}"))
        .into_inner();
    assert!(
        labels(&provenance.nodes).contains(&"run:run-0".to_owned()),
        "the provenance of data-0@v0 reaches the run that produced it: {:?}",
        labels(&provenance.nodes)
    );
    provenance.applied_seq
}
