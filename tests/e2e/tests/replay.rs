//! `Replay` against a real lineaged fed through a real nats-server: the
//! stream is the stored history, record for record, and a client can
//! recompute the hash chain from nothing but what it received; ranges and
//! filters send exactly the records they describe, and malformed requests
//! are refused naming the field; a client that stops reading holds its
//! replay slot only for the stall timeout, then gets everything buffered
//! followed by DEADLINE_EXCEEDED naming where to resume, and resuming there
//! completes the history.
//!
//! The chain is recomputed with `lineage_core::chain::ChainCheck`, the
//! check the log's own verification and `lineage replay --verify` run
//! (sequence, link, hash, payload digest); on top of it, each record's
//! content digest is checked against the event its bytes hold.

use std::time::Duration;

use hex::FromHex as _;
use lineage_core::chain::{ChainCheck, ChainedRecord, GENESIS_HASH};
use lineage_e2e::events::{self, credit_story, map};
use lineage_e2e::{
    Lineaged, NatsServer, WAIT, nats_with_events_stream, publish, read_replay_to_end, timestamp,
};
use lineage_proto::v1::event::Payload;
use lineage_proto::validate::{self, Encoding};
use lineage_proto::{fields, v1};
use lineage_server::Config;
use prost::Message as _;
use tonic::{Code, Status};

/// A lineaged that has applied a history, and what it runs on.
struct Stack {
    lineaged: Lineaged,
    /// The status once the whole history was applied.
    status: v1::StatusResponse,
    /// Dropped after lineaged (fields drop in order).
    _data: tempfile::TempDir,
    _nats: NatsServer,
}

/// Starts nats-server and lineaged (its config adjusted by `tweak`), then
/// publishes each part of a history one event at a time, in order, and
/// waits until the part is applied before publishing the next: parts are
/// stored at distinct, increasing recorded times.
async fn start_with_history(parts: &[&[v1::Event]], tweak: impl FnOnce(&mut Config)) -> Stack {
    let (nats, js) = nats_with_events_stream().await;
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), tweak).await;
    let mut published = 0;
    let mut status = None;
    for part in parts {
        for event in *part {
            assert!(!publish(&js, event).await, "{} is new", event.event_id);
        }
        published += part.len() as u64;
        status = Some(lineaged.wait_applied(published).await);
    }
    let status = status.expect("a history of at least one part");
    assert_eq!(status.applied_seq, published);
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    Stack {
        lineaged,
        status,
        _data: data,
        _nats: nats,
    }
}

/// The credit story in three parts of nine events (see
/// [`start_with_history`]).
fn in_three_parts(story: &[v1::Event]) -> [&[v1::Event]; 3] {
    assert_eq!(story.len(), 27, "the credit story has 27 events");
    let (first, rest) = story.split_at(9);
    let (second, third) = rest.split_at(9);
    [first, second, third]
}

fn seqs(records: &[v1::LogRecord]) -> Vec<u64> {
    records.iter().map(|record| record.seq).collect()
}

fn event_of(record: &v1::LogRecord) -> &v1::Event {
    record
        .event
        .as_ref()
        .unwrap_or_else(|| panic!("record {} carries its event", record.seq))
}

fn event_ids(records: &[v1::LogRecord]) -> Vec<&str> {
    records
        .iter()
        .map(|record| event_of(record).event_id.as_str())
        .collect()
}

/// The ids of the events of `history` that `keep` selects, in order.
fn ids_where(history: &[v1::Event], keep: impl Fn(&v1::Event) -> bool) -> Vec<&str> {
    history
        .iter()
        .filter(|event| keep(event))
        .map(|event| event.event_id.as_str())
        .collect()
}

/// A replay that must be answered in full; each record it sends must be
/// unchanged by the filters: the record of the whole replay `whole` at its
/// sequence.
async fn filtered(
    lineaged: &Lineaged,
    whole: &[v1::LogRecord],
    request: v1::ReplayRequest,
) -> Vec<v1::LogRecord> {
    let records = lineaged
        .replay(request.clone())
        .await
        .unwrap_or_else(|status| panic!("{request:?} answers: {status:?}"));
    for record in &records {
        let index = usize::try_from(record.seq - 1).expect("a small sequence");
        assert_eq!(Some(record), whole.get(index), "record {}", record.seq);
    }
    records
}

/// A 32-byte hash from its 64 hex digits.
fn unhex(hex: &str) -> [u8; 32] {
    <[u8; 32]>::from_hex(hex)
        .unwrap_or_else(|error| panic!("a hash is 64 hex digits: {hex:?}: {error}"))
}

/// How the log stored a record's bytes (the byte the chain hashes).
fn stored_encoding(record: &v1::LogRecord) -> Encoding {
    match v1::PayloadEncoding::try_from(record.encoding) {
        Ok(v1::PayloadEncoding::Protobuf) => Encoding::Protobuf,
        Ok(v1::PayloadEncoding::Json) => Encoding::Json,
        other => panic!("record {} has encoding {other:?}", record.seq),
    }
}

/// Recomputes the chain over `records` as a client would, from the record
/// `anchor_seq` whose hash is `anchor_hash` (0 and the genesis hash for
/// the start of the log), with `ChainCheck`: each record follows the one
/// before, links to its hash, hashes to its stored hash and has the payload
/// digest of its bytes as received; and, which the chain cannot recompute,
/// the content digest of the event those bytes hold. Returns the hash of
/// the last record.
fn check_chain(records: &[v1::LogRecord], anchor_seq: u64, anchor_hash: [u8; 32]) -> [u8; 32] {
    let mut chain = ChainCheck::anchored(anchor_seq, anchor_hash);
    for record in records {
        let seq = record.seq;
        let encoding = stored_encoding(record);
        let content_digest = unhex(&record.content_digest);
        chain
            .check(&ChainedRecord {
                seq,
                stream_seq: record.stream_seq,
                recorded_at: record.recorded_at_unix_nanos,
                encoding: encoding.as_byte(),
                key: &record.key,
                content_digest: &content_digest,
                payload_digest: &unhex(&record.payload_digest),
                prev_hash: &unhex(&record.prev_hash),
                hash: &unhex(&record.hash),
                bytes: &record.original,
            })
            .unwrap_or_else(|problem| panic!("record {seq} holds in the chain: {problem}"));
        let event = validate::decode_event(&record.original, encoding)
            .unwrap_or_else(|e| panic!("record {seq}'s bytes decode: {e:?}"));
        let field_key = unhex(&record.field_key);
        assert_eq!(
            content_digest,
            fields::commitment(&event, &field_key),
            "record {seq}'s content digest"
        );
    }
    chain.head().1
}

/// Whether an event names the dataset version, as its subject or in a
/// reference, read off the wire payload (independently of the server's
/// own reading of what an event mentions).
fn names_dataset_version(event: &v1::Event, dataset: &str, version: &str) -> bool {
    let is_it = |r: &v1::DatasetVersionRef| r.dataset == dataset && r.version == version;
    match &event.payload {
        Some(Payload::DatasetVersionRegistered(registered)) => {
            (registered.dataset == dataset && registered.version == version)
                || registered.derived_from.iter().any(is_it)
        }
        Some(Payload::RunInputsDeclared(declared)) => declared.datasets.iter().any(is_it),
        Some(
            Payload::TagsSet(v1::TagsSet {
                entity: Some(entity),
                ..
            })
            | Payload::EntityFlagged(v1::EntityFlagged {
                entity: Some(entity),
                ..
            }),
        ) => {
            entity.kind == v1::EntityKind::DatasetVersion as i32
                && entity.name == dataset
                && entity.version == version
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_is_the_stored_history_and_its_chain_recomputes() {
    let story = credit_story();
    let total = story.len() as u64;
    let stack = start_with_history(&in_three_parts(&story), |_| {}).await;
    let lineaged = &stack.lineaged;

    let whole = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("a whole replay");
    assert_eq!(seqs(&whole), (1..=total).collect::<Vec<_>>());
    // The events in the order they were published and stored.
    assert_eq!(
        event_ids(&whole),
        ids_where(&story, |_| true),
        "the stored order"
    );
    for (record, published) in whole.iter().zip(&story) {
        let seq = record.seq;
        assert_eq!(
            record.encoding,
            v1::PayloadEncoding::Protobuf as i32,
            "record {seq}"
        );
        assert_eq!(
            record.original,
            published.encode_to_vec(),
            "record {seq}'s bytes as published"
        );
        let decoded = v1::Event::decode(record.original.as_slice()).expect("the bytes decode");
        assert_eq!(record.event.as_ref(), Some(&decoded), "record {seq}");
        assert_eq!(&decoded, published, "record {seq}");
        assert_eq!(
            record.key,
            format!("{}\0{}", published.workspace, published.event_id).into_bytes(),
            "record {seq}'s idempotency key"
        );
        // A fresh stream that received only these events, all accepted.
        assert_eq!(record.stream_seq, seq);
        assert_eq!(
            record.recorded_at,
            Some(timestamp(record.recorded_at_unix_nanos)),
            "record {seq}'s recorded time, both ways"
        );
    }
    assert!(
        whole
            .windows(2)
            .all(|pair| pair[0].recorded_at_unix_nanos <= pair[1].recorded_at_unix_nanos),
        "recorded times never decrease"
    );

    // The chain, from nothing but what was received, ends at the head the
    // service reports.
    assert_eq!(unhex(&whole[0].prev_hash), GENESIS_HASH);
    let head = check_chain(&whole, 0, GENESIS_HASH);
    assert_eq!(head, unhex(&stack.status.head_hash));
    assert_eq!(whole.last().expect("records").hash, stack.status.head_hash);

    // A range, then the rest from where it stopped.
    let first_five = lineaged
        .replay(v1::ReplayRequest {
            to_seq: 5,
            ..Default::default()
        })
        .await
        .expect("a replay to record 5");
    assert_eq!(seqs(&first_five), vec![1, 2, 3, 4, 5]);
    assert_eq!(first_five, whole[..5]);
    let rest = lineaged
        .replay(v1::ReplayRequest {
            from_seq: 6,
            ..Default::default()
        })
        .await
        .expect("a replay from record 6");
    assert_eq!(seqs(&rest), (6..=total).collect::<Vec<_>>());
    assert_eq!(rest, whole[5..]);
    assert_eq!(rest[0].prev_hash, first_five[4].hash);
    let resumed_head = check_chain(&rest, 5, unhex(&first_five[4].hash));
    assert_eq!(resumed_head, head);

    stack.lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_send_exactly_the_records_they_describe() {
    let story = credit_story();
    let stack = start_with_history(&in_three_parts(&story), |_| {}).await;
    let lineaged = &stack.lineaged;
    let whole = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("a whole replay");
    assert_eq!(whole.len(), story.len());

    // Workspaces.
    let workspace = story[0].workspace.clone();
    let in_story = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            workspaces: vec![workspace.clone()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(in_story, whole);
    let elsewhere = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            workspaces: vec!["borrower".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(elsewhere, Vec::new());
    let either = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            workspaces: vec!["borrower".into(), workspace.clone()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(either, whole);

    // Kinds.
    let is_run_started = |event: &v1::Event| matches!(event.payload, Some(Payload::RunStarted(_)));
    let started = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            kinds: vec![v1::PayloadKind::RunStarted as i32],
            ..Default::default()
        },
    )
    .await;
    assert!(
        started
            .iter()
            .all(|record| is_run_started(event_of(record)))
    );
    let expected_started = ids_where(&story, is_run_started);
    assert!(expected_started.len() > 1, "the story starts several runs");
    assert_eq!(event_ids(&started), expected_started);
    let run_lifecycle = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            kinds: vec![
                v1::PayloadKind::RunFinished as i32,
                v1::PayloadKind::RunStarted as i32,
            ],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        event_ids(&run_lifecycle),
        ids_where(&story, |event| matches!(
            event.payload,
            Some(Payload::RunStarted(_) | Payload::RunFinished(_))
        )),
        "either kind, in stored order"
    );

    // An entity: a dataset version the story registers, derives from,
    // reads and flags.
    let (dataset, version) = ("applications", "3");
    let names_it = |event: &v1::Event| names_dataset_version(event, dataset, version);
    let applications_3 =
        lineage_e2e::entity(&workspace, v1::EntityKind::DatasetVersion, dataset, version);
    let mentioning = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            entity: Some(applications_3.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(mentioning.iter().all(|record| names_it(event_of(record))));
    let expected_mentioning = ids_where(&story, names_it);
    assert!(
        expected_mentioning.len() > 1,
        "the story names {dataset}@{version} several times"
    );
    assert_eq!(event_ids(&mentioning), expected_mentioning);
    // Filters combine: the runs that read it.
    let reading = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            entity: Some(applications_3),
            kinds: vec![v1::PayloadKind::RunInputsDeclared as i32],
            workspaces: vec![workspace.clone()],
            ..Default::default()
        },
    )
    .await;
    let expected_reading = ids_where(&story, |event| {
        names_it(event) && matches!(event.payload, Some(Payload::RunInputsDeclared(_)))
    });
    assert!(
        !expected_reading.is_empty(),
        "a run reads {dataset}@{version}"
    );
    assert_eq!(event_ids(&reading), expected_reading);

    // Recorded time. The parts were stored one after another, so the first
    // record of the second part (10) is the first recorded at or after its
    // time, and the last of the second part (18) the last recorded at or
    // before its time.
    let at_time = |record: &v1::LogRecord| record.recorded_at;
    let (tenth, eighteenth) = (&whole[9], &whole[17]);
    assert!(
        whole[8].recorded_at_unix_nanos < tenth.recorded_at_unix_nanos
            && eighteenth.recorded_at_unix_nanos < whole[18].recorded_at_unix_nanos,
        "each part is stored after the one before"
    );
    let since = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            from_time: at_time(tenth),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(seqs(&since), (10..=27).collect::<Vec<_>>());
    let until = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            to_time: at_time(eighteenth),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(seqs(&until), (1..=18).collect::<Vec<_>>());
    let between = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            from_time: at_time(tenth),
            to_time: at_time(eighteenth),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(seqs(&between), (10..=18).collect::<Vec<_>>());
    // Times combine with sequences and filters.
    let between_from_12 = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            from_seq: 12,
            from_time: at_time(tenth),
            to_time: at_time(eighteenth),
            kinds: vec![v1::PayloadKind::RunStarted as i32],
            ..Default::default()
        },
    )
    .await;
    let expected_between_from_12 = ids_where(&story[11..18], is_run_started);
    assert!(!expected_between_from_12.is_empty(), "runs start then");
    assert_eq!(event_ids(&between_from_12), expected_between_from_12);
    let last = whole.last().expect("records");
    let after_the_last = filtered(
        lineaged,
        &whole,
        v1::ReplayRequest {
            from_time: Some(timestamp(last.recorded_at_unix_nanos + 1)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(after_the_last, Vec::new());

    // Malformed requests are refused, naming the field.
    let refused = [
        (
            v1::ReplayRequest {
                from_seq: 5,
                to_seq: 2,
                ..Default::default()
            },
            "to_seq:",
        ),
        (
            v1::ReplayRequest {
                entity: Some(lineage_e2e::entity(
                    "",
                    v1::EntityKind::DatasetVersion,
                    dataset,
                    version,
                )),
                ..Default::default()
            },
            "entity.workspace:",
        ),
        (
            v1::ReplayRequest {
                kinds: vec![999],
                ..Default::default()
            },
            "kinds[0]:",
        ),
        (
            v1::ReplayRequest {
                from_time: at_time(tenth),
                to_time: Some(timestamp(tenth.recorded_at_unix_nanos - 1)),
                ..Default::default()
            },
            "to_time:",
        ),
    ];
    for (request, field) in refused {
        let status = lineaged
            .replay(request.clone())
            .await
            .expect_err(&format!("{request:?} is refused"));
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{request:?}: {status:?}"
        );
        assert!(
            status.message().starts_with(field),
            "{request:?} names {field}: {status:?}"
        );
    }

    stack.lineaged.stop().await;
}

/// Events in the flow-control test: more than the server and the client
/// buffer together. Each record carries its event twice (decoded and as
/// received), about 2 KB on the wire with the value below; what a client
/// that stops reading can hold back is the client's HTTP/2 stream window
/// (hyper's default, 2 MiB), the server's HTTP/2 send buffer (400 KiB),
/// the replay's channel (64 records) and one chunk (256 records): at most
/// about 1,500 records, well under the 4,000 here.
const BULK_EVENTS: u64 = 4_000;

/// The size of the parameter value each bulk event carries.
const BULK_VALUE_BYTES: usize = 1_000;

/// Small valid events: parameters logged on one run.
fn bulk_history() -> Vec<v1::Event> {
    let value = "x".repeat(BULK_VALUE_BYTES);
    (1..=BULK_EVENTS)
        .map(|n| {
            let payload = Payload::ParamsLogged(v1::ParamsLogged {
                run_id: "bulk-run".into(),
                params: map(&[("blob", &value)]),
            });
            events::event(&format!("bulk-{n:05}"), "bulk", n as i64, payload)
        })
        .collect()
}

/// The record a DEADLINE_EXCEEDED replay says to resume from.
fn resume_from(status: &Status) -> u64 {
    let (_, after) = status
        .message()
        .split_once("resume from record ")
        .unwrap_or_else(|| panic!("{status:?} says where to resume"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{status:?} names a record"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_replay_frees_its_slot_and_says_where_to_resume() {
    let history = bulk_history();
    let total = BULK_EVENTS;
    let stack = start_with_history(&[&history], |config| {
        config.replay_concurrency = 1;
        config.replay_stall_secs = 1;
    })
    .await;
    let lineaged = &stack.lineaged;
    let mut client = lineaged.client().await;

    // Take one record, then stop reading.
    let mut stalled = client
        .replay(v1::ReplayRequest::default())
        .await
        .expect("the first replay takes the only slot")
        .into_inner();
    let first = tokio::time::timeout(WAIT, stalled.message())
        .await
        .expect("the first record within the wait bound")
        .expect("a record, not an error")
        .expect("a record, not the end");
    assert_eq!(first.seq, 1);

    // The stalled replay holds the only slot...
    let busy = client
        .replay(v1::ReplayRequest::default())
        .await
        .expect_err("a second replay while the first holds the only slot");
    assert_eq!(busy.code(), Code::ResourceExhausted, "{busy:?}");

    // ...until the stall timeout ends it.
    let mut freed = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match client
            .replay(v1::ReplayRequest {
                to_seq: 1,
                ..Default::default()
            })
            .await
        {
            Ok(response) => {
                freed = Some(read_replay_to_end(&mut response.into_inner()).await);
                break;
            }
            Err(status) if status.code() == Code::ResourceExhausted => {}
            Err(status) => panic!("a replay answers {status:?}"),
        }
    }
    let (records, end) = freed.expect("a replay is accepted once the stalled one timed out");
    assert_eq!(seqs(&records), vec![1]);
    assert!(end.is_none(), "{end:?}");

    // The stalled stream still delivers what was buffered, then the error
    // (never a silent end that would look like the whole history).
    let (rest_of_stalled, end) = read_replay_to_end(&mut stalled).await;
    let mut received = vec![first];
    received.extend(rest_of_stalled);
    let end = end.expect("the stalled replay ends with an error");
    assert_eq!(end.code(), Code::DeadlineExceeded, "{end:?}");
    let last = received.last().expect("records").seq;
    assert_eq!(seqs(&received), (1..=last).collect::<Vec<_>>());
    assert!(
        last > 64,
        "the replay's channel of 64 records was delivered: {last}"
    );
    assert!(
        last < total,
        "the history did not fit in the buffers: {last}"
    );
    let resume = resume_from(&end);
    assert_eq!(resume, last + 1, "{end:?}");

    // Resuming there completes the history, and the chain holds across.
    let resumed = lineaged
        .replay(v1::ReplayRequest {
            from_seq: resume,
            ..Default::default()
        })
        .await
        .expect("the resumed replay");
    assert_eq!(seqs(&resumed), (resume..=total).collect::<Vec<_>>());
    assert_eq!(received.len() + resumed.len(), history.len());
    assert_eq!(resumed[0].prev_hash, received[received.len() - 1].hash);
    received.extend(resumed);
    assert_eq!(
        event_ids(&received),
        ids_where(&history, |_| true),
        "the stored order"
    );
    let head = check_chain(&received, 0, GENESIS_HASH);
    assert_eq!(head, unhex(&stack.status.head_hash));

    stack.lineaged.stop().await;
}
