//! Hostile input: a corpus of more than ten thousand bad messages, generated
//! from a fixed seed and interleaved with valid events, published to a real
//! nats-server and consumed by a real lineaged.
//!
//! The corpus covers random bytes; truncated and bit-flipped events;
//! protobuf with wrong wire types, broken lengths and deep groups; the wrong
//! encoding for the `Content-Type`; deeply nested and huge JSON; invalid
//! UTF-8, control characters and unicode lookalikes in identifiers and
//! workspaces; negative, absent and absurd timestamps; messages above
//! `max_event_bytes`; conflicting duplicates; events on another workspace's
//! subject; events without a payload; and model registrations without a
//! source run. Valid events among them sit on the edges of what is allowed
//! (the first and last accepted times, a message of exactly the size limit,
//! every printable ASCII character in an id, unknown fields, fields out of
//! order), and exact duplicates are resent now and then.
//!
//! What the service must do with each message is worked out while the
//! corpus is generated, with the decoding and validation code lineaged uses,
//! in the order it checks (size, decoding, validation, the subject's
//! workspace, then the log's idempotency), so that a generated message that
//! happens to decode into something valid is known as such: a candidate
//! that would be stored is replaced by another, so every message meant to be
//! bad is. Then the test checks that lineaged survived, applied each valid
//! event once and in order, counted each exact duplicate, dead-lettered each
//! bad message once with the reason expected for it, and that its log
//! verifies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use lineage_core::id::MAX_EVENT_ID_LEN;
use lineage_e2e::events::{
    dataset, event, flagged, inputs, map, metric, registered, run_started, stage,
};
use lineage_e2e::rng::SplitMix64;
use lineage_e2e::{Lineaged, NatsServer, WAIT, entity};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use lineage_proto::validate::{
    Encoding, MAX_MAP_ENTRIES, MAX_REDACTED_FIELDS, MAX_VALUE_LEN, RejectReason, decode_event,
    validate_event,
};
use prost::Message as _;

/// The seed of the corpus: change it to get another one, keep it to get
/// the same messages in the same order on every machine.
const SEED: u64 = 0x2026_0301_0bad_5eed;
/// Bad messages in the corpus.
const BAD_MESSAGES: usize = 10_500;
/// One message in this many is a valid event.
const VALID_EVERY: usize = 6;
/// One message in this many (that is not a valid event) resends one exactly.
const DUPLICATE_EVERY: usize = 47;
/// Valid events published before the first bad message, so that duplicates
/// and conflicts have events to repeat from the start.
const VALID_FIRST: usize = 8;

/// The workspace the corpus is published to, and one whose name has a dot
/// (allowed, and a subject token of its own).
const WS: &str = "hostile";
const WS_DOTTED: &str = "hostile.v2";
const SUBJECT_PREFIX: &str = "lineage.events";
const DLQ_PREFIX: &str = "lineage.dlq";
const JSON: &str = "application/json";

/// The service's size limit in this test: small, so oversize messages are
/// cheap to make, and large enough for the semantic bounds (a value of
/// `MAX_VALUE_LEN` bytes, `MAX_MAP_ENTRIES` tags) to be reachable below it.
const MAX_EVENT_BYTES: usize = 16 * 1024;

/// Publishes sent before their acks are awaited.
const PUBLISH_WINDOW: usize = 256;
/// How long lineaged may take to handle the whole corpus (about ten times
/// what it needs on a 2-core machine in debug).
const INGEST_BOUND: Duration = Duration::from_secs(45);
/// Every so many valid events, one is looked up with GetEntity.
const SAMPLE_EVERY: usize = 17;

/// 2026-03-01T00:00:00Z.
const BASE_SECONDS: i64 = 1_772_323_200;
/// 2200-01-01T00:00:00Z, the latest accepted event time.
const LATEST_SECONDS: i64 = 7_258_118_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_message_is_dead_lettered_once_and_every_valid_event_applied_once() {
    let started = Instant::now();
    let corpus = Corpus::generate(SEED);
    let generated = started.elapsed();
    let planned = corpus.counts();
    assert!(planned.bad >= 10_000, "{planned:?}");

    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.max_event_bytes = MAX_EVENT_BYTES;
        // Nothing is redelivered while the corpus is in the pipeline, so
        // the duplicates lineaged counts are exactly the resent events.
        config.ack_wait_secs = 30;
    })
    .await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;

    let publishing = Instant::now();
    let stream_seqs = publish_all(&js, &corpus.messages).await;
    let published = publishing.elapsed();
    let by_stream_seq: HashMap<u64, usize> = stream_seqs
        .iter()
        .enumerate()
        .map(|(index, seq)| (*seq, index))
        .collect();

    let status = wait_until_handled(&lineaged, &planned).await;
    let ingested = publishing.elapsed();
    assert!(status.ready, "{status:?}");
    assert!(status.ingest_connected, "{status:?}");
    assert_eq!(status.ingest_error, "", "{status:?}");

    // The dead-letter stream holds one message per bad message, each with
    // the reason worked out for it, its original subject, sequence and bytes.
    let mut dlq = js
        .get_stream("LINEAGE_DLQ")
        .await
        .expect("dead-letter stream");
    let dlq_messages = dlq.info().await.expect("stream info").state.messages;
    let letters = lineage_e2e::read_dead_letters(&js, dlq_messages as usize).await;
    let mut seen = HashSet::new();
    let mut wrong = Vec::new();
    let mut got_by_category: BTreeMap<(Category, String), u64> = BTreeMap::new();
    for letter in &letters {
        let Some(&index) = by_stream_seq.get(&letter.original_stream_seq) else {
            wrong.push(format!(
                "a dead letter for stream sequence {} that was not published: {letter:?}",
                letter.original_stream_seq
            ));
            continue;
        };
        let message = &corpus.messages[index];
        if !seen.insert(index) {
            wrong.push(format!(
                "message {index} ({}) dead-lettered twice",
                message.what
            ));
        }
        let Expected::Rejected { category, reason } = message.expected else {
            wrong.push(format!(
                "message {index} ({}) should have been {:?}, was dead-lettered as {} ({})",
                message.what, message.expected, letter.reason, letter.detail
            ));
            continue;
        };
        *got_by_category
            .entry((category, letter.reason.clone()))
            .or_default() += 1;
        if letter.reason != reason.code() {
            wrong.push(format!(
                "message {index} ({}; {} bytes, starting {}): expected {}, got {} ({})",
                message.what,
                message.payload.len(),
                hex_prefix(&message.payload),
                reason.code(),
                letter.reason,
                letter.detail
            ));
        }
        let dlq_subject = message
            .subject
            .strip_prefix(SUBJECT_PREFIX)
            .map(|rest| format!("{DLQ_PREFIX}{rest}"));
        if letter.original_subject != message.subject
            || Some(&letter.subject) != dlq_subject.as_ref()
            || letter.payload != message.payload
            || letter.detail.is_empty()
        {
            wrong.push(format!(
                "message {index} ({}): dead letter on {:?} from {:?} with {} bytes and detail {:?}",
                message.what,
                letter.subject,
                letter.original_subject,
                letter.payload.len(),
                letter.detail
            ));
        }
    }
    for (index, message) in corpus.messages.iter().enumerate() {
        if matches!(message.expected, Expected::Rejected { .. }) && !seen.contains(&index) {
            wrong.push(format!(
                "message {index} ({}; {} bytes, starting {}) was not dead-lettered",
                message.what,
                message.payload.len(),
                hex_prefix(&message.payload)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} problems with the dead letters, the first ones:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
    assert_eq!(got_by_category, corpus.expected_by_category());
    assert_eq!(
        dlq_messages, planned.bad,
        "the dead-letter stream holds exactly one message per bad one"
    );

    // The log holds the valid events, each once, in the order published,
    // byte for byte.
    let records = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("replay");
    let valid: Vec<usize> = corpus
        .messages
        .iter()
        .enumerate()
        .filter(|(_, message)| message.expected == Expected::Applied)
        .map(|(index, _)| index)
        .collect();
    let logged: Vec<u64> = records.iter().map(|record| record.stream_seq).collect();
    let expected_logged: Vec<u64> = valid.iter().map(|index| stream_seqs[*index]).collect();
    if logged != expected_logged {
        let logged_once: HashSet<u64> = logged.iter().copied().collect();
        let expected_once: HashSet<u64> = expected_logged.iter().copied().collect();
        let name = |seq: &u64| match by_stream_seq.get(seq) {
            Some(index) => format!(
                "message {index} ({}, expected {:?})",
                corpus.messages[*index].what, corpus.messages[*index].expected
            ),
            None => format!("stream sequence {seq}, never published"),
        };
        let missing: Vec<String> = expected_logged
            .iter()
            .filter(|seq| !logged_once.contains(seq))
            .map(name)
            .collect();
        let extra: Vec<String> = logged
            .iter()
            .filter(|seq| !expected_once.contains(seq))
            .map(name)
            .collect();
        panic!(
            "the log holds {} records, {} expected ({} of them distinct); not stored: {:?}; \
             stored but not valid: {:?}",
            logged.len(),
            expected_logged.len(),
            logged_once.len(),
            &missing[..missing.len().min(20)],
            &extra[..extra.len().min(20)]
        );
    }
    for (position, (record, index)) in records.iter().zip(&valid).enumerate() {
        let message = &corpus.messages[*index];
        assert_eq!(record.seq, position as u64 + 1);
        assert_eq!(
            record.original,
            message.payload.to_vec(),
            "{}",
            message.what
        );
    }

    // Every counter is exact, and the graph holds what the valid events
    // made and nothing else.
    assert_eq!(
        status.applied_seq, planned.valid,
        "every valid event applied once"
    );
    assert_eq!(
        status.dead_lettered, planned.bad,
        "every bad message dead-lettered once"
    );
    assert_eq!(
        status.duplicates, planned.duplicates,
        "every exact duplicate counted"
    );
    assert_eq!(
        (status.nodes, status.edges),
        (corpus.expected_nodes(), corpus.expected_edges()),
        "nodes and edges of the valid events only"
    );

    // A sample of what the valid events made is there, and nothing a bad
    // message named is.
    let mut client = lineaged.client().await;
    for check in corpus.samples() {
        let answer = client
            .get_entity(v1::GetEntityRequest {
                entity: Some(check.entity()),
                ..Default::default()
            })
            .await;
        match (check, answer) {
            (Sample::Run { .. }, Ok(found)) => {
                let found = found.into_inner();
                assert!(!found.placeholder, "{check:?}: {found:?}");
                assert!(
                    matches!(found.details, Some(v1::entity::Details::Run(_))),
                    "{check:?}: {found:?}"
                );
            }
            (Sample::Model { source_run, .. }, Ok(found)) => {
                let found = found.into_inner();
                let Some(v1::entity::Details::ModelVersion(model)) = found.details else {
                    panic!("{check:?}: {found:?}");
                };
                assert_eq!(&model.source_run_id, source_run, "{check:?}");
            }
            (Sample::Absent { .. }, Err(status)) => {
                assert_eq!(status.code(), tonic::Code::NotFound, "{check:?}: {status}");
            }
            (check, answer) => panic!("{check:?}: {answer:?}"),
        }
    }

    let verified = lineaged.verify_log(0, 0).await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, planned.valid);

    // Nothing arrived late: the counters are where they were.
    let after = lineaged.status_with_digest().await;
    assert_eq!(
        (after.applied_seq, after.dead_lettered, after.duplicates),
        (status.applied_seq, status.dead_lettered, status.duplicates)
    );
    assert!(after.ready && after.ingest_connected, "{after:?}");

    lineaged.stop().await;
    eprintln!(
        "hostile corpus: {planned:?}; generated in {generated:?}, published in {published:?}, \
         handled {ingested:?} after publishing started, whole test {:?}",
        started.elapsed()
    );
    for ((category, reason), count) in corpus.expected_by_category() {
        eprintln!("  {category:?}: {count} {reason}");
    }
}

/// Publishes the corpus in order, each message under its own `Nats-Msg-Id`
/// (so JetStream's duplicate window drops none), with at most
/// [`PUBLISH_WINDOW`] acks outstanding; returns each message's stream
/// sequence. Messages leave on one connection in order, so the stream holds
/// them in the order the expectations were worked out in, which the
/// increasing sequences confirm.
async fn publish_all(js: &jetstream::Context, messages: &[Planned]) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(messages.len());
    let mut pending = Vec::with_capacity(PUBLISH_WINDOW);
    for (index, message) in messages.iter().enumerate() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("hostile-{index}").as_str());
        if let Some(content_type) = message.content_type {
            headers.insert("Content-Type", content_type);
        }
        let ack = js
            .publish_with_headers(message.subject.clone(), headers, message.payload.clone())
            .await
            .unwrap_or_else(|error| panic!("publish message {index} ({}): {error}", message.what));
        pending.push(ack);
        if pending.len() == PUBLISH_WINDOW || index + 1 == messages.len() {
            for ack in pending.drain(..) {
                let ack = tokio::time::timeout(WAIT, ack)
                    .await
                    .expect("the stream acks within the wait bound")
                    .expect("publish ack");
                assert!(!ack.duplicate, "every message has its own id");
                seqs.push(ack.sequence);
            }
        }
    }
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "the stream holds the messages in the order published"
    );
    seqs
}

/// Polls GetStatus until lineaged has handled every message (applied,
/// counted as a duplicate or dead-lettered: the three counters add up to the
/// messages published), or fails after [`INGEST_BOUND`] saying where it
/// stood. Whether each went the right way is checked after.
async fn wait_until_handled(lineaged: &Lineaged, planned: &Counts) -> v1::StatusResponse {
    let total = planned.valid + planned.duplicates + planned.bad;
    let client = lineaged.client().await;
    let last = Mutex::new(None);
    let waited = tokio::time::timeout(INGEST_BOUND, async {
        loop {
            let status = client
                .clone()
                .get_status(v1::GetStatusRequest::default())
                .await
                .map(tonic::Response::into_inner);
            match status {
                Ok(status)
                    if status.ready
                        && status.applied_seq + status.duplicates + status.dead_lettered
                            >= total =>
                {
                    return status;
                }
                Ok(status) => *last.lock().expect("not poisoned") = Some(Ok(status)),
                Err(error) => *last.lock().expect("not poisoned") = Some(Err(error)),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        panic!(
            "lineaged did not handle the corpus ({planned:?}) within {INGEST_BOUND:?}; \
             last GetStatus: {:?}",
            last.lock().expect("not poisoned")
        )
    })
}

/// The first bytes of a message, in hex, to name it in a failure.
fn hex_prefix(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(48)];
    let mut text = hex::encode(shown);
    if bytes.len() > shown.len() {
        text.push_str("...");
    }
    text
}

/// What a bad message was made to be. Each has the reasons its messages
/// may be rejected for; the corpus checks, as it makes each message, that
/// the validator's reason is one of them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
enum Category {
    RandomBytes,
    Truncated,
    BitFlipped,
    WrongWireType,
    WrongEncoding,
    NestedJson,
    HugeJson,
    InvalidUtf8,
    ControlCharacters,
    Lookalikes,
    BadTimestamps,
    Oversize,
    ConflictingDuplicate,
    WorkspaceMismatch,
    NoPayload,
    ModelWithoutSourceRun,
}

impl Category {
    /// Each category and its share of the bad messages, in percent.
    const WEIGHTS: [(Category, usize); 16] = [
        (Category::RandomBytes, 8),
        (Category::Truncated, 8),
        (Category::BitFlipped, 10),
        (Category::WrongWireType, 8),
        (Category::WrongEncoding, 5),
        (Category::NestedJson, 5),
        (Category::HugeJson, 4),
        (Category::InvalidUtf8, 6),
        (Category::ControlCharacters, 7),
        (Category::Lookalikes, 7),
        (Category::BadTimestamps, 7),
        (Category::Oversize, 4),
        (Category::ConflictingDuplicate, 7),
        (Category::WorkspaceMismatch, 6),
        (Category::NoPayload, 4),
        (Category::ModelWithoutSourceRun, 4),
    ];

    fn allowed(self) -> &'static [RejectReason] {
        use RejectReason::*;
        match self {
            Category::RandomBytes => &[
                Undecodable,
                MissingField,
                InvalidIdentifier,
                InvalidValue,
                EmptyPayload,
            ],
            // A published event whose fields were sent out of order may be
            // cut to a valid prefix of itself: the same id, less content.
            Category::Truncated => &[
                Undecodable,
                MissingField,
                EmptyPayload,
                ConflictingDuplicate,
            ],
            // A flipped bit may land anywhere, the event id included (which
            // may then name a stored event) but never the length.
            Category::BitFlipped => &[
                Undecodable,
                MissingField,
                InvalidIdentifier,
                InvalidValue,
                EmptyPayload,
                WorkspaceMismatch,
                ModelWithoutSourceRun,
                ConflictingDuplicate,
            ],
            Category::WrongWireType
            | Category::NestedJson
            | Category::InvalidUtf8
            | Category::WrongEncoding => &[Undecodable],
            Category::HugeJson => &[Oversize, InvalidValue, Undecodable],
            Category::ControlCharacters => &[InvalidIdentifier, InvalidValue],
            Category::Lookalikes => &[InvalidIdentifier, WorkspaceMismatch],
            Category::BadTimestamps => &[InvalidValue, MissingField, Undecodable],
            Category::Oversize => &[Oversize],
            Category::ConflictingDuplicate => &[ConflictingDuplicate],
            Category::WorkspaceMismatch => &[WorkspaceMismatch],
            Category::NoPayload => &[EmptyPayload],
            Category::ModelWithoutSourceRun => &[ModelWithoutSourceRun],
        }
    }
}

/// What lineaged must do with a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expected {
    /// Store it in the log and apply it to the graph.
    Applied,
    /// Acknowledge and count it: the same event is already stored.
    Duplicate,
    /// Dead-letter it with this reason.
    Rejected {
        category: Category,
        reason: RejectReason,
    },
}

/// One message of the corpus.
#[derive(Debug)]
struct Planned {
    subject: String,
    content_type: Option<&'static str>,
    payload: Bytes,
    expected: Expected,
    /// How it was made, to name it in a failure.
    what: String,
}

/// A message being made, before its fate is known.
struct Candidate {
    subject: String,
    content_type: Option<&'static str>,
    payload: Vec<u8>,
    what: String,
}

/// The verdict of [`Expectations::judge`].
enum Verdict {
    Store {
        key: (String, String),
        content: Vec<u8>,
    },
    Duplicate,
    Reject(RejectReason),
}

/// lineaged's rules, applied here to know each message's fate: the checks
/// of `classify` in the ingest loop, in its order, with the validator it
/// uses, then the log's idempotency (same workspace and event id: the same
/// canonical content is a duplicate, other content a conflict).
#[derive(Default)]
struct Expectations {
    /// Canonical encoding of each stored event, by workspace and event id.
    stored: HashMap<(String, String), Vec<u8>>,
}

impl Expectations {
    fn judge(&self, candidate: &Candidate) -> Verdict {
        if candidate.payload.len() > MAX_EVENT_BYTES {
            return Verdict::Reject(RejectReason::Oversize);
        }
        let encoding = Encoding::from_content_type(candidate.content_type);
        let wire = match decode_event(&candidate.payload, encoding) {
            Ok(wire) => wire,
            Err(rejection) => return Verdict::Reject(rejection.reason),
        };
        let event = match validate_event(&wire) {
            Ok(event) => event,
            Err(rejection) => return Verdict::Reject(rejection.reason),
        };
        let subject_workspace = candidate
            .subject
            .strip_prefix(SUBJECT_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'));
        if subject_workspace != Some(event.workspace.as_str()) {
            return Verdict::Reject(RejectReason::WorkspaceMismatch);
        }
        let key = (
            event.workspace.as_str().to_owned(),
            event.id.as_str().to_owned(),
        );
        // The content digest commits to the canonical encoding (personal
        // fields and all), so equal encodings are equal content.
        let content = wire.encode_to_vec();
        match self.stored.get(&key) {
            Some(stored) if *stored == content => Verdict::Duplicate,
            Some(_) => Verdict::Reject(RejectReason::ConflictingDuplicate),
            None => Verdict::Store { key, content },
        }
    }
}

/// A valid event as published, to resend or to mutate.
#[derive(Clone)]
struct Published {
    event: v1::Event,
    subject: String,
    content_type: Option<&'static str>,
    payload: Vec<u8>,
}

/// Something a valid event made (or a bad one would have), to look up.
#[derive(Clone, Debug)]
enum Sample {
    Run {
        workspace: String,
        run_id: String,
    },
    Model {
        name: String,
        source_run: String,
    },
    Absent {
        kind: v1::EntityKind,
        name: String,
        version: String,
    },
}

impl Sample {
    fn entity(&self) -> v1::EntityRef {
        match self {
            Sample::Run { workspace, run_id } => entity(workspace, v1::EntityKind::Run, run_id, ""),
            Sample::Model { name, .. } => entity(WS, v1::EntityKind::ModelVersion, name, "1"),
            Sample::Absent {
                kind,
                name,
                version,
            } => entity(WS, *kind, name, version),
        }
    }
}

/// How many messages of each fate.
#[derive(Clone, Copy, Debug)]
struct Counts {
    valid: u64,
    duplicates: u64,
    bad: u64,
}

/// The corpus and what it expects of the service.
struct Corpus {
    rng: SplitMix64,
    expectations: Expectations,
    messages: Vec<Planned>,
    published: Vec<Published>,
    /// Run ids started in [`WS`], newest last.
    runs: Vec<String>,
    /// Runs started in [`WS_DOTTED`].
    dotted_runs: usize,
    /// Model versions registered (each at version "1" in [`WS`]).
    models: usize,
    samples: Vec<Sample>,
    /// A counter for unique ids of bad messages.
    serial: usize,
}

impl Corpus {
    fn generate(seed: u64) -> Self {
        let mut corpus = Corpus {
            rng: SplitMix64(seed),
            expectations: Expectations::default(),
            messages: Vec::new(),
            published: Vec::new(),
            runs: Vec::new(),
            dotted_runs: 0,
            models: 0,
            samples: Vec::new(),
            serial: 0,
        };
        for _ in 0..VALID_FIRST {
            corpus.push_valid();
        }
        let total_weight: usize = Category::WEIGHTS.iter().map(|(_, weight)| weight).sum();
        let mut bad = 0usize;
        let mut step = 0usize;
        while bad < BAD_MESSAGES {
            step += 1;
            if step.is_multiple_of(VALID_EVERY) {
                corpus.push_valid();
            } else if step.is_multiple_of(DUPLICATE_EVERY) {
                corpus.push_duplicate();
            } else {
                let mut roll = corpus.rng.below(total_weight);
                let category = Category::WEIGHTS
                    .iter()
                    .find(|(_, weight)| {
                        let here = roll < *weight;
                        roll = roll.saturating_sub(*weight);
                        here
                    })
                    .map(|(category, _)| *category)
                    .expect("the roll is below the total weight");
                corpus.push_bad(category);
                bad += 1;
            }
        }
        corpus
    }

    fn counts(&self) -> Counts {
        let mut counts = Counts {
            valid: 0,
            duplicates: 0,
            bad: 0,
        };
        for message in &self.messages {
            match message.expected {
                Expected::Applied => counts.valid += 1,
                Expected::Duplicate => counts.duplicates += 1,
                Expected::Rejected { .. } => counts.bad += 1,
            }
        }
        counts
    }

    fn expected_by_category(&self) -> BTreeMap<(Category, String), u64> {
        let mut counts = BTreeMap::new();
        for message in &self.messages {
            if let Expected::Rejected { category, reason } = message.expected {
                *counts
                    .entry((category, reason.code().to_owned()))
                    .or_default() += 1;
            }
        }
        counts
    }

    /// A run node per run started, a model version node per registration.
    fn expected_nodes(&self) -> u64 {
        (self.runs.len() + self.dotted_runs + self.models) as u64
    }

    /// A model version's edge from the run that produced it.
    fn expected_edges(&self) -> u64 {
        self.models as u64
    }

    fn samples(&self) -> &[Sample] {
        &self.samples
    }

    fn fresh_id(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}-{}", self.serial)
    }

    fn plan(&mut self, candidate: Candidate, expected: Expected) {
        self.messages.push(Planned {
            subject: candidate.subject,
            content_type: candidate.content_type,
            payload: Bytes::from(candidate.payload),
            expected,
            what: candidate.what,
        });
    }

    /// The next valid event: mostly a run started, every fifth a model
    /// version registered from the newest run, now and then a run finished
    /// padded to exactly the size limit; some on the edges of what is
    /// allowed, in either encoding and in unusual but valid shapes.
    fn push_valid(&mut self) {
        let n = self.published.len();
        let workspace = if n % 11 == 5 { WS_DOTTED } else { WS };
        let id = match n % 13 {
            3 => format!("ok-{n}-!\"#$%&'()*+,-./:;<=>?@[\\]^_`{{|}}~"),
            7 => {
                let mut id = format!("ok-{n}-");
                while id.len() < MAX_EVENT_ID_LEN {
                    id.push('x');
                }
                id
            }
            _ => format!("ok-{n}"),
        };
        let occurred_at = match n % 17 {
            8 => timestamp(0, 0),
            9 => timestamp(LATEST_SECONDS, 0),
            _ => timestamp(BASE_SECONDS + n as i64, (n * 7_919 % 1_000_000_000) as i32),
        };
        // Free text may hold control and bidirectional characters.
        let actor = if n % 7 == 2 {
            "mallory\u{202e}gnp.exe \u{1b}[31mred\u{7}"
        } else {
            "alice@lender.example"
        };
        let mut event = v1::Event {
            event_id: id,
            workspace: workspace.to_owned(),
            occurred_at: Some(occurred_at),
            producer: "hostile-corpus/1".into(),
            actor: actor.into(),
            payload: None,
        };
        let newest_run = self.runs.last().cloned();
        let mut exact_size = false;
        let mut sample = None;
        match newest_run {
            Some(run) if workspace == WS && n % 5 == 4 => {
                let name = format!("model-{n}");
                event.payload = Some(registered(&name, "1", &run, ""));
                self.models += 1;
                sample = Some(Sample::Model {
                    name,
                    source_run: run,
                });
            }
            Some(run) if workspace == WS && n % 23 == 12 => {
                exact_size = true;
                event.payload = Some(Payload::RunFinished(v1::RunFinished {
                    run_id: run,
                    status: v1::RunStatus::Failed as i32,
                    error: String::new(),
                }));
            }
            _ => {
                let run_id = format!("run-{n}");
                event.payload = Some(Payload::RunStarted(v1::RunStarted {
                    run_id: run_id.clone(),
                    name: run_id.clone(),
                    ..Default::default()
                }));
                if workspace == WS {
                    self.runs.push(run_id.clone());
                } else {
                    self.dotted_runs += 1;
                }
                sample = Some(Sample::Run {
                    workspace: workspace.to_owned(),
                    run_id,
                });
            }
        }
        let (content_type, payload, shape) = if exact_size {
            let payload = padded(&mut event, MAX_EVENT_BYTES);
            assert_eq!(payload.len(), MAX_EVENT_BYTES, "padded to the limit");
            (None, payload, "protobuf of exactly the size limit")
        } else {
            match n % 6 {
                1 | 4 => (Some(JSON), to_json(&event), "JSON"),
                2 => (
                    None,
                    fields_in_any_order(&event, &mut self.rng),
                    "protobuf with its fields out of order",
                ),
                5 => (
                    None,
                    with_unknown_field(&event),
                    "protobuf with an unknown field",
                ),
                _ => (None, event.encode_to_vec(), "protobuf"),
            }
        };
        let candidate = Candidate {
            subject: subject(workspace),
            content_type,
            payload,
            what: format!("valid event {:?} as {shape}", event.event_id),
        };
        match self.expectations.judge(&candidate) {
            Verdict::Store { key, content } => {
                self.expectations.stored.insert(key, content);
            }
            _ => panic!("the corpus's valid event is not valid: {}", candidate.what),
        }
        if let Some(sample) = sample
            && n.is_multiple_of(SAMPLE_EVERY)
        {
            self.samples.push(sample);
        }
        self.published.push(Published {
            event,
            subject: candidate.subject.clone(),
            content_type: candidate.content_type,
            payload: candidate.payload.clone(),
        });
        self.plan(candidate, Expected::Applied);
    }

    /// Resends a published event under another message id: the same bytes,
    /// the other encoding, or its fields in another order.
    fn push_duplicate(&mut self) {
        let original = self.rng.pick(&self.published).clone();
        let shapes: [(Option<&'static str>, Vec<u8>, &str); 4] = [
            (
                original.content_type,
                original.payload.clone(),
                "the same bytes",
            ),
            (Some(JSON), to_json(&original.event), "JSON"),
            (None, original.event.encode_to_vec(), "protobuf"),
            (
                None,
                fields_in_any_order(&original.event, &mut self.rng),
                "protobuf with its fields out of order",
            ),
        ];
        let first = self.rng.below(shapes.len());
        // A shape that would be too large (a resent event of exactly the
        // limit, in JSON) gives way to the next.
        for offset in 0..shapes.len() {
            let (content_type, payload, shape) = &shapes[(first + offset) % shapes.len()];
            let candidate = Candidate {
                subject: original.subject.clone(),
                content_type: *content_type,
                payload: payload.clone(),
                what: format!(
                    "exact duplicate of {:?} as {shape}",
                    original.event.event_id
                ),
            };
            if let Verdict::Duplicate = self.expectations.judge(&candidate) {
                self.plan(candidate, Expected::Duplicate);
                return;
            }
        }
        panic!(
            "no exact duplicate of {:?} could be made",
            original.event.event_id
        );
    }

    /// A bad message of `category`: candidates are made until one would be
    /// rejected (a mutation may happen to stay valid), and its reason must
    /// be one the category allows.
    fn push_bad(&mut self, category: Category) {
        for _ in 0..1_000 {
            let candidate = self.candidate(category);
            match self.expectations.judge(&candidate) {
                Verdict::Reject(reason) => {
                    assert!(
                        category.allowed().contains(&reason),
                        "the corpus made {} ({category:?}), rejected as {}, which that category \
                         does not expect; starts {}",
                        candidate.what,
                        reason.code(),
                        hex_prefix(&candidate.payload)
                    );
                    self.plan(candidate, Expected::Rejected { category, reason });
                    return;
                }
                Verdict::Store { .. } | Verdict::Duplicate => continue,
            }
        }
        panic!("no bad message of {category:?} could be made");
    }

    /// A published event, or a fresh one in its image.
    fn base(&mut self) -> (v1::Event, String, Option<&'static str>, Vec<u8>) {
        if self.rng.one_in(2) {
            let original = self.rng.pick(&self.published).clone();
            (
                original.event,
                original.subject,
                original.content_type,
                original.payload,
            )
        } else {
            let event = self.template("tpl");
            let (content_type, payload) = self.encode_either(&event);
            (event, subject(WS), content_type, payload)
        }
    }

    /// A fresh event of one of several kinds in [`WS`], valid as it is.
    fn template(&mut self, prefix: &str) -> v1::Event {
        let id = self.fresh_id(prefix);
        let minute = self.rng.below(100_000) as i64;
        let payload = match self.rng.below(8) {
            0 => run_started(&format!("{id}-run"), "", &[("lr", "0.01")]),
            1 => registered("credit-risk", "7", "run-1", "model.pkl"),
            2 => dataset("applications", "3", &[("applications-raw", "3")], "run-1"),
            3 => metric("run-1", "auc", 0.81),
            4 => flagged(v1::EntityKind::DatasetVersion, "applications", "3"),
            5 => stage("credit-risk", "7", v1::ModelStage::Production),
            6 => inputs("run-1", &[("features", "3")]),
            _ => Payload::TagsSet(v1::TagsSet {
                entity: Some(entity("", v1::EntityKind::Run, "run-1", "")),
                tags: map(&[("team", "credit-risk")]),
            }),
        };
        event(&id, WS, minute, payload)
    }

    fn encode_either(&mut self, event: &v1::Event) -> (Option<&'static str>, Vec<u8>) {
        if self.rng.one_in(3) {
            (Some(JSON), to_json(event))
        } else {
            (None, event.encode_to_vec())
        }
    }

    fn candidate(&mut self, category: Category) -> Candidate {
        match category {
            Category::RandomBytes => self.random_bytes(),
            Category::Truncated => self.truncated(),
            Category::BitFlipped => self.bit_flipped(),
            Category::WrongWireType => self.wrong_wire_type(),
            Category::WrongEncoding => self.wrong_encoding(),
            Category::NestedJson => self.nested_json(),
            Category::HugeJson => self.huge_json(),
            Category::InvalidUtf8 => self.invalid_utf8(),
            Category::ControlCharacters => self.control_characters(),
            Category::Lookalikes => self.lookalikes(),
            Category::BadTimestamps => self.bad_timestamp(),
            Category::Oversize => self.oversize(),
            Category::ConflictingDuplicate => self.conflicting_duplicate(),
            Category::WorkspaceMismatch => self.workspace_mismatch(),
            Category::NoPayload => self.no_payload(),
            Category::ModelWithoutSourceRun => self.model_without_source_run(),
        }
    }

    fn random_bytes(&mut self) -> Candidate {
        let len = self.rng.below(512);
        let json = self.rng.one_in(3);
        let payload = if json && self.rng.one_in(2) {
            // Printable text heavy in JSON punctuation.
            const ALPHABET: &[u8] = b"{}[]\":,\\ 0123456789eE.-+truefalsnul_abcxyz";
            (0..len).map(|_| *self.rng.pick(ALPHABET)).collect()
        } else {
            self.rng.bytes(len)
        };
        Candidate {
            subject: subject(WS),
            content_type: json.then_some(JSON),
            what: format!(
                "{len} random bytes as {}",
                if json { "JSON" } else { "protobuf" }
            ),
            payload,
        }
    }

    fn truncated(&mut self) -> Candidate {
        let (event, subject, content_type, mut payload) = self.base();
        let cut = self.rng.below(payload.len());
        payload.truncate(cut);
        Candidate {
            subject,
            content_type,
            payload,
            what: format!(
                "{:?} as {} cut to {cut} bytes",
                event.event_id,
                encoding_name(content_type)
            ),
        }
    }

    fn bit_flipped(&mut self) -> Candidate {
        let (event, subject, content_type, mut payload) = self.base();
        let flips = 1 + self.rng.below(4);
        let mut at = Vec::new();
        for _ in 0..flips {
            let byte = self.rng.below(payload.len());
            payload[byte] ^= 1 << self.rng.below(8);
            at.push(byte);
        }
        Candidate {
            subject,
            content_type,
            payload,
            what: format!(
                "{:?} as {} with bits flipped in bytes {at:?}",
                event.event_id,
                encoding_name(content_type)
            ),
        }
    }

    fn wrong_wire_type(&mut self) -> Candidate {
        let event = self.template("wire");
        let payload = event.encode_to_vec();
        let value = self.rng.next_u64() >> self.rng.below(64);
        let (bad, what): (Vec<u8>, String) = match self.rng.below(15) {
            0 => (
                [key(1, VARINT), varint(value)].concat(),
                "event_id as a varint".into(),
            ),
            1 => (
                [key(2, FIXED32), self.rng.bytes(4)].concat(),
                "workspace as fixed32".into(),
            ),
            2 => (
                [key(3, FIXED64), self.rng.bytes(8)].concat(),
                "occurred_at as fixed64".into(),
            ),
            3 => {
                let field = 10 + self.rng.below(14) as u32;
                (
                    [key(field, VARINT), varint(value)].concat(),
                    format!("payload field {field} as a varint"),
                )
            }
            4 => {
                let field = 1 + self.rng.below(30) as u32;
                let wire = 6 + self.rng.below(2) as u8;
                (
                    key(field, wire),
                    format!("field {field} of wire type {wire}"),
                )
            }
            5 => {
                let field = 1 + self.rng.below(200) as u32;
                let len = self.rng.below(16);
                (
                    [key(field, START_GROUP), self.rng.bytes(len)].concat(),
                    format!("field {field} opening a group never closed"),
                )
            }
            6 => {
                let field = 1 + self.rng.below(200) as u32;
                (
                    key(field, END_GROUP),
                    format!("field {field} closing a group never opened"),
                )
            }
            7 => {
                let depth = 101 + self.rng.below(1_900);
                let mut groups = key(99, START_GROUP).repeat(depth);
                groups.extend(key(99, END_GROUP).repeat(depth));
                (groups, format!("groups nested {depth} deep"))
            }
            8 => (
                [
                    key(1, LENGTH_DELIMITED),
                    varint(1 << (20 + self.rng.below(40))),
                ]
                .concat(),
                "a length beyond the message".into(),
            ),
            9 => (
                [
                    key(50, VARINT),
                    vec![0xff; 10 + self.rng.below(6)],
                    vec![0x01],
                ]
                .concat(),
                "a varint longer than ten bytes".into(),
            ),
            10 => (vec![0x00], "field number 0".into()),
            11 => (
                varint((1 << 32) + value % (1 << 40)),
                "a key above u32".into(),
            ),
            12 => (
                length_delimited(
                    3,
                    &[key(1, LENGTH_DELIMITED), varint(3), b"abc".to_vec()].concat(),
                ),
                "occurred_at.seconds as bytes".into(),
            ),
            13 => (
                length_delimited(11, &[key(1, VARINT), varint(value)].concat()),
                "run_started.run_id as a varint".into(),
            ),
            _ => (
                length_delimited(14, &[key(2, VARINT), varint(1)].concat()),
                "metrics_logged.metrics as a varint".into(),
            ),
        };
        let before = self.rng.one_in(2);
        let payload = if before {
            [bad, payload].concat()
        } else {
            [payload, bad].concat()
        };
        Candidate {
            subject: subject(WS),
            content_type: None,
            payload,
            what: format!(
                "protobuf {:?} with {what} {}",
                event.event_id,
                if before { "before it" } else { "after it" }
            ),
        }
    }

    fn wrong_encoding(&mut self) -> Candidate {
        let event = self.template("enc");
        let (content_type, payload, what): (Option<&'static str>, Vec<u8>, &str) =
            match self.rng.below(5) {
                0 => (None, to_json(&event), "JSON without a Content-Type"),
                1 => (
                    Some("text/plain"),
                    to_json(&event),
                    "JSON sent as text/plain",
                ),
                2 => (Some(JSON), event.encode_to_vec(), "protobuf sent as JSON"),
                3 => (
                    Some("application/json; charset=utf-16"),
                    to_json(&event).iter().flat_map(|byte| [*byte, 0]).collect(),
                    "JSON in UTF-16",
                ),
                _ => (
                    Some(JSON),
                    [b"\xef\xbb\xbf".to_vec(), to_json(&event)].concat(),
                    "JSON after a byte order mark",
                ),
            };
        Candidate {
            subject: subject(WS),
            content_type,
            payload,
            what: format!("{:?} as {what}", event.event_id),
        }
    }

    fn nested_json(&mut self) -> Candidate {
        let event = self.template("nest");
        let id = &event.event_id;
        let (payload, what) = match self.rng.below(4) {
            0 => {
                let depth = 129 + self.rng.below(6_000);
                let payload = format!(
                    r#"{{"event_id":"{id}","workspace":"{WS}","run_started":{{"run_id":"r1","tags":{}{}}}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                (payload, format!("tags nested {depth} arrays deep"))
            }
            1 => {
                let depth = 129 + self.rng.below(2_000);
                let payload = format!(
                    r#"{{"event_id":"{id}","workspace":"{WS}","x":{}1{}}}"#,
                    r#"{"a":"#.repeat(depth),
                    "}".repeat(depth)
                );
                (
                    payload,
                    format!("an unknown field nested {depth} objects deep"),
                )
            }
            2 => {
                let depth = 129 + self.rng.below(7_000);
                let payload = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
                (payload, format!("a document of {depth} nested arrays"))
            }
            _ => {
                // Nesting serde_json allows, where a string belongs.
                let depth = 1 + self.rng.below(100);
                let mut value = serde_json::to_value(&event).expect("events serialize");
                value["actor"] =
                    serde_json::from_str(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
                        .expect("nested arrays parse");
                (
                    serde_json::to_string(&value).expect("values serialize"),
                    format!("an actor of {depth} nested arrays"),
                )
            }
        };
        Candidate {
            subject: subject(WS),
            content_type: Some(JSON),
            payload: payload.into_bytes(),
            what: format!("JSON {id:?} with {what}"),
        }
    }

    fn huge_json(&mut self) -> Candidate {
        let id = self.fresh_id("huge");
        let base = |payload: Payload| event(&id, WS, 1, payload);
        let (event, what) = match self.rng.below(5) {
            0 => {
                let len = MAX_EVENT_BYTES + self.rng.below(3 * MAX_EVENT_BYTES);
                (
                    base(Payload::ExperimentCreated(v1::ExperimentCreated {
                        experiment: "e".into(),
                        description: "d".repeat(len),
                        tags: Default::default(),
                    })),
                    format!("a description of {len} bytes"),
                )
            }
            1 => {
                let entries = MAX_MAP_ENTRIES + 1 + self.rng.below(100);
                (
                    base(Payload::RunStarted(v1::RunStarted {
                        run_id: "r1".into(),
                        tags: (0..entries)
                            .map(|i| (format!("t{i}"), "v".into()))
                            .collect(),
                        ..Default::default()
                    })),
                    format!("{entries} tags"),
                )
            }
            2 => {
                let len = MAX_VALUE_LEN + 1 + self.rng.below(500);
                (
                    base(Payload::ParamsLogged(v1::ParamsLogged {
                        run_id: "r1".into(),
                        params: map(&[("blob", &"p".repeat(len))]),
                    })),
                    format!("a parameter of {len} bytes"),
                )
            }
            3 => {
                let fields = MAX_REDACTED_FIELDS + 1 + self.rng.below(100);
                (
                    base(Payload::RedactionRequested(v1::RedactionRequested {
                        entity: Some(entity("", v1::EntityKind::Run, "run-1", "")),
                        fields: (0..fields).map(|i| format!("tags.k{i}")).collect(),
                        reason: "DSR-1".into(),
                    })),
                    format!("a redaction of {fields} fields"),
                )
            }
            _ => {
                let len = 257 + self.rng.below(2_000);
                (
                    base(Payload::RunStarted(v1::RunStarted {
                        run_id: "r1".into(),
                        name: "\0".repeat(len),
                        ..Default::default()
                    })),
                    format!("a run name of {len} NULs"),
                )
            }
        };
        Candidate {
            subject: subject(WS),
            content_type: Some(JSON),
            payload: to_json(&event),
            what: format!("JSON {id:?} with {what}"),
        }
    }

    fn invalid_utf8(&mut self) -> Candidate {
        /// Twelve bytes found nowhere else in an encoded template.
        const MARKER: &[u8; 12] = b"QZQZQZQZQZQZ";
        const INVALID: [&[u8]; 9] = [
            b"\xff",
            b"\xfe",
            b"\xc0\x80",
            b"\xc1\xbf",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
            b"\x80",
            b"\xf8\x88\x80\x80\x80",
        ];
        let marker = std::str::from_utf8(MARKER).expect("ASCII");
        let mut event = self.template("utf8");
        let field = match self.rng.below(4) {
            0 => {
                event.event_id = marker.into();
                "event_id"
            }
            1 => {
                event.workspace = marker.into();
                "workspace"
            }
            2 => {
                event.payload = Some(run_started(marker, "", &[]));
                "run_started.run_id"
            }
            _ => {
                event.actor = marker.into();
                "actor"
            }
        };
        let json = self.rng.one_in(3);
        let payload = if json {
            to_json(&event)
        } else {
            event.encode_to_vec()
        };
        let replacement = if json && self.rng.one_in(3) {
            // A lone surrogate, escaped: valid bytes, invalid text.
            b"\\ud800QZQZQZ".to_vec()
        } else {
            let invalid = *self.rng.pick(&INVALID);
            let at = self.rng.below(MARKER.len() - invalid.len() + 1);
            let mut replacement = b"abcdefghijkl".to_vec();
            replacement[at..at + invalid.len()].copy_from_slice(invalid);
            replacement
        };
        let mut replaced = Vec::with_capacity(payload.len());
        let mut rest = payload.as_slice();
        while let Some(found) = find(rest, MARKER) {
            replaced.extend_from_slice(&rest[..found]);
            replaced.extend_from_slice(&replacement);
            rest = &rest[found + MARKER.len()..];
        }
        replaced.extend_from_slice(rest);
        assert_ne!(replaced, payload, "the marker is in the encoding");
        let payload = replaced;
        Candidate {
            subject: subject(WS),
            content_type: json.then_some(JSON),
            payload,
            what: format!(
                "{} with {field} {:?}",
                if json { "JSON" } else { "protobuf" },
                String::from_utf8_lossy(&replacement)
            ),
        }
    }

    fn control_characters(&mut self) -> Candidate {
        const CHARACTERS: [char; 13] = [
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{200b}', '\u{202e}',
            '\u{2028}', '\u{feff}', ' ',
        ];
        let character = *self.rng.pick(&CHARACTERS);
        let mut event = self.template("ctl");
        let insert = |rng: &mut SplitMix64, text: &str| {
            let at = rng.below(text.len() + 1);
            format!("{}{character}{}", &text[..at], &text[at..])
        };
        let field = match self.rng.below(7) {
            0 => {
                event.event_id = insert(&mut self.rng, &event.event_id);
                "event_id"
            }
            1 => {
                event.workspace = insert(&mut self.rng, WS);
                "workspace"
            }
            2 => {
                let run_id = insert(&mut self.rng, "run-7");
                event.payload = Some(run_started(&run_id, "", &[]));
                "run_started.run_id"
            }
            3 => {
                let model = insert(&mut self.rng, "credit-risk");
                event.payload = Some(registered(&model, "1", "run-1", ""));
                "model_registered.model"
            }
            4 => {
                // A space inside a key is allowed, a trailing one is not.
                let key = if character == ' ' {
                    "owner ".to_owned()
                } else {
                    insert(&mut self.rng, "owner")
                };
                event.payload = Some(Payload::TagsSet(v1::TagsSet {
                    entity: Some(entity("", v1::EntityKind::Run, "run-1", "")),
                    tags: [(key, "x".to_owned())].into_iter().collect(),
                }));
                "tags_set.tags key"
            }
            // Free text takes any character but NUL.
            5 => {
                event.producer = insert(&mut self.rng, "producer");
                event.producer.push('\0');
                "producer"
            }
            _ => {
                event.actor = insert(&mut self.rng, "actor");
                event.actor.insert(0, '\0');
                "actor"
            }
        };
        let (content_type, payload) = self.encode_either(&event);
        Candidate {
            subject: subject(WS),
            content_type,
            payload,
            what: format!(
                "{} with {character:?} in {field}",
                encoding_name(content_type)
            ),
        }
    }

    fn lookalikes(&mut self) -> Candidate {
        const SPOOFS: [&str; 10] = [
            "h\u{43e}stile",         // Cyrillic o
            "hostil\u{435}",         // Cyrillic e
            "\u{4bb}ostile",         // Cyrillic shha
            "ho\u{455}tile",         // Cyrillic dze
            "host\u{456}le",         // Cyrillic i
            "\u{ff48}\u{ff4f}stile", // fullwidth
            "hos\u{ff54}ile",        // fullwidth t
            "ho\u{301}stile",        // a combining accent
            "HOSTILE",               // upper case
            "ho\u{17f}tile",         // long s
        ];
        let spoof = *self.rng.pick(&SPOOFS);
        let mut event = self.template("look");
        let (subject, what) = match self.rng.below(7) {
            0 => {
                event.workspace = spoof.into();
                (subject(WS), "event workspace".to_owned())
            }
            1 => (subject(spoof), "subject workspace".to_owned()),
            2 => {
                event.workspace = spoof.into();
                (subject(spoof), "event and subject workspace".to_owned())
            }
            3 => {
                let original = self.rng.pick(&self.published).event.event_id.clone();
                event.event_id = original.replacen('o', "\u{43e}", 1);
                (subject(WS), format!("event id spoofing {original:?}"))
            }
            4 => {
                let run = self.rng.pick(&self.runs).replacen('r', "\u{433}", 1);
                event.payload = Some(run_started(&run, "", &[]));
                (subject(WS), "run id".to_owned())
            }
            5 => {
                let model = "cr\u{435}dit-risk";
                event.payload = Some(registered(model, "1", "run-1", ""));
                (subject(WS), "model name".to_owned())
            }
            _ => {
                event.payload = Some(Payload::TagsSet(v1::TagsSet {
                    entity: Some(entity(spoof, v1::EntityKind::Run, "run-1", "")),
                    tags: map(&[("team", "credit-risk")]),
                }));
                (subject(WS), "tagged entity's workspace".to_owned())
            }
        };
        let (content_type, payload) = self.encode_either(&event);
        Candidate {
            subject,
            content_type,
            payload,
            what: format!(
                "{} with {spoof:?} as the {what}",
                encoding_name(content_type)
            ),
        }
    }

    fn bad_timestamp(&mut self) -> Candidate {
        const TIMES: [(i64, i32); 12] = [
            (-1, 0),
            (-62_135_596_800, 0),
            (i64::MIN, 0),
            (i64::MIN, i32::MIN),
            (i64::MAX, 999_999_999),
            (0, -1),
            (0, 1_000_000_000),
            (5, i32::MAX),
            (LATEST_SECONDS, 1),
            (LATEST_SECONDS + 1, 0),
            (253_402_300_800, 0),
            (i64::MAX / 1_000_000_000 + 1, 0),
        ];
        const JSON_TIMES: [&str; 13] = [
            r#""1969-12-31T23:59:59Z""#,
            r#""0001-01-01T00:00:00Z""#,
            r#""9999-12-31T23:59:59.999999999Z""#,
            r#""2200-01-01T00:00:00.000000001Z""#,
            r#""2026-13-45T99:99:99Z""#,
            r#""""#,
            r#""yesterday""#,
            r#""2026-03-01T00:00:00""#,
            r#""+275760-09-13T00:00:00Z""#,
            "0",
            "-1",
            "1e300",
            r#"{"seconds":-5,"nanos":0}"#,
        ];
        let mut event = self.template("time");
        match self.rng.below(4) {
            0 => {
                let (seconds, nanos) = *self.rng.pick(&TIMES);
                event.occurred_at = Some(timestamp(seconds, nanos));
                Candidate {
                    subject: subject(WS),
                    content_type: None,
                    payload: event.encode_to_vec(),
                    what: format!("protobuf occurred at {seconds}s {nanos}ns"),
                }
            }
            1 => {
                event.occurred_at = None;
                let (content_type, payload) = self.encode_either(&event);
                Candidate {
                    subject: subject(WS),
                    content_type,
                    payload,
                    what: format!("{} without occurred_at", encoding_name(content_type)),
                }
            }
            2 => {
                let (seconds, nanos) = *self.rng.pick(&TIMES);
                event.payload = Some(Payload::MetricsLogged(v1::MetricsLogged {
                    run_id: "run-1".into(),
                    metrics: vec![v1::Metric {
                        key: "auc".into(),
                        value: 0.5,
                        step: 1,
                        timestamp: Some(timestamp(seconds, nanos)),
                    }],
                }));
                Candidate {
                    subject: subject(WS),
                    content_type: None,
                    payload: event.encode_to_vec(),
                    what: format!("protobuf metric measured at {seconds}s {nanos}ns"),
                }
            }
            _ => {
                let time = *self.rng.pick(&JSON_TIMES);
                let mut value = serde_json::to_value(&event).expect("events serialize");
                value["occurred_at"] = serde_json::from_str(time).expect("valid JSON");
                Candidate {
                    subject: subject(WS),
                    content_type: Some(JSON),
                    payload: serde_json::to_vec(&value).expect("values serialize"),
                    what: format!("JSON occurred at {time}"),
                }
            }
        }
    }

    fn oversize(&mut self) -> Candidate {
        let id = self.fresh_id("big");
        let roll = self.rng.below(25);
        let (content_type, payload, what) = if roll < 12 {
            let target = MAX_EVENT_BYTES + 1 + self.rng.below(4_096);
            let mut event = event(
                &id,
                WS,
                1,
                Payload::ParamsLogged(v1::ParamsLogged {
                    run_id: "r1".into(),
                    params: map(&[("blob", "")]),
                }),
            );
            (
                None,
                padded(&mut event, target),
                format!("protobuf of {target} bytes"),
            )
        } else if roll < 18 {
            let len = MAX_EVENT_BYTES + self.rng.below(4_096);
            let event = event(
                &id,
                WS,
                1,
                Payload::ParamsLogged(v1::ParamsLogged {
                    run_id: "r1".into(),
                    params: map(&[("blob", &"j".repeat(len))]),
                }),
            );
            (Some(JSON), to_json(&event), "JSON".to_owned())
        } else if roll < 24 {
            let len = MAX_EVENT_BYTES + 1 + self.rng.below(8_192);
            (None, self.rng.bytes(len), format!("{len} random bytes"))
        } else {
            let len = 64 * 1024 + self.rng.below(96 * 1024);
            (
                Some(JSON),
                self.rng.bytes(len),
                format!("{len} random bytes as JSON"),
            )
        };
        Candidate {
            subject: subject(WS),
            content_type,
            what: format!("{what}, {} bytes", payload.len()),
            payload,
        }
    }

    fn conflicting_duplicate(&mut self) -> Candidate {
        let original = self.rng.pick(&self.published).clone();
        let mut event = original.event.clone();
        let small = original.payload.len() < MAX_EVENT_BYTES / 2;
        let change = if small { self.rng.below(4) } else { 0 };
        let what = match change {
            0 => {
                // Same length, so an event of exactly the limit stays there.
                event.producer = "hostile-corpus/2".into();
                "another producer"
            }
            1 => {
                event.occurred_at = Some(timestamp(BASE_SECONDS - 86_400, 0));
                "another time"
            }
            2 => {
                event.actor = "eve@lender.example".into();
                "another actor"
            }
            _ => {
                let run_id = self.fresh_id("conflict-run");
                self.samples.push(Sample::Absent {
                    kind: v1::EntityKind::Run,
                    name: run_id.clone(),
                    version: String::new(),
                });
                event.payload = Some(run_started(&run_id, "", &[]));
                "another payload"
            }
        };
        let (content_type, payload) = if small {
            self.encode_either(&event)
        } else {
            (None, event.encode_to_vec())
        };
        Candidate {
            subject: original.subject,
            content_type,
            payload,
            what: format!(
                "{:?} again as {} with {what}",
                original.event.event_id,
                encoding_name(content_type)
            ),
        }
    }

    fn workspace_mismatch(&mut self) -> Candidate {
        let mut event = self.template("ws");
        let (subject, what) = match self.rng.below(7) {
            0 => {
                event.workspace = "other-team".into();
                (subject(WS), "workspace other-team on hostile's subject")
            }
            1 => (
                subject("other-team"),
                "workspace hostile on other-team's subject",
            ),
            2 => (
                subject("hostile.extra"),
                "workspace hostile on a longer subject",
            ),
            3 => {
                event.workspace = WS_DOTTED.into();
                (subject(WS), "workspace hostile.v2 on hostile's subject")
            }
            4 => {
                event.payload = Some(Payload::TagsSet(v1::TagsSet {
                    entity: Some(entity("other-team", v1::EntityKind::Run, "run-1", "")),
                    tags: map(&[("team", "x")]),
                }));
                (subject(WS), "tags set on another workspace's run")
            }
            5 => {
                event.payload = Some(Payload::EntityFlagged(v1::EntityFlagged {
                    entity: Some(entity(
                        "other-team",
                        v1::EntityKind::DatasetVersion,
                        "applications",
                        "3",
                    )),
                    reason: "spite".into(),
                    severity: v1::Severity::Critical as i32,
                }));
                (subject(WS), "a flag on another workspace's dataset")
            }
            _ => {
                // A stored event's very bytes, replayed onto another subject.
                let original = self.rng.pick(&self.published).clone();
                let elsewhere = if original.subject == subject(WS) {
                    WS_DOTTED
                } else {
                    WS
                };
                return Candidate {
                    subject: subject(elsewhere),
                    content_type: original.content_type,
                    payload: original.payload,
                    what: format!(
                        "{:?} replayed onto {elsewhere}'s subject",
                        original.event.event_id
                    ),
                };
            }
        };
        let (content_type, payload) = self.encode_either(&event);
        Candidate {
            subject,
            content_type,
            payload,
            what: format!("{} with {what}", encoding_name(content_type)),
        }
    }

    fn no_payload(&mut self) -> Candidate {
        let mut event = self.template("empty");
        event.payload = None;
        let (content_type, payload) = self.encode_either(&event);
        Candidate {
            subject: subject(WS),
            content_type,
            payload,
            what: format!(
                "{} {:?} without a payload",
                encoding_name(content_type),
                event.event_id
            ),
        }
    }

    fn model_without_source_run(&mut self) -> Candidate {
        let id = self.fresh_id("orphan");
        let model = format!("orphan-model-{}", self.serial);
        if self.serial.is_multiple_of(50) {
            self.samples.push(Sample::Absent {
                kind: v1::EntityKind::ModelVersion,
                name: model.clone(),
                version: "1".into(),
            });
        }
        let artifact = if self.rng.one_in(2) { "model.pkl" } else { "" };
        let event = event(
            &id,
            WS,
            self.rng.below(1_000) as i64,
            registered(&model, "1", "", artifact),
        );
        let (content_type, payload) = self.encode_either(&event);
        Candidate {
            subject: subject(WS),
            content_type,
            payload,
            what: format!(
                "{} registering {model} from no run",
                encoding_name(content_type)
            ),
        }
    }
}

fn subject(workspace: &str) -> String {
    format!("{SUBJECT_PREFIX}.{workspace}")
}

fn timestamp(seconds: i64, nanos: i32) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds, nanos }
}

fn encoding_name(content_type: Option<&str>) -> &'static str {
    match Encoding::from_content_type(content_type) {
        Encoding::Json => "JSON",
        Encoding::Protobuf => "protobuf",
    }
}

fn to_json(event: &v1::Event) -> Vec<u8> {
    serde_json::to_vec(event).expect("events with times in range serialize")
}

/// Fills the free-text field of `event` (a run's error, a parameter's
/// value) until its protobuf encoding is `target` bytes, or the fewest
/// above when a length prefix growing by a byte skips `target`.
fn padded(event: &mut v1::Event, target: usize) -> Vec<u8> {
    let mut encode_with = |filler: usize| {
        let text = "e".repeat(filler);
        match &mut event.payload {
            Some(Payload::RunFinished(finished)) => finished.error = text,
            Some(Payload::ParamsLogged(logged)) => {
                logged.params.insert("blob".into(), text);
            }
            other => panic!("no field to pad in {other:?}"),
        }
        event.encode_to_vec()
    };
    // The encoding grows with the filler, by at least as much: the
    // estimate reaches the target, a few bytes less does not.
    let estimate = target.saturating_sub(encode_with(0).len());
    for filler in estimate.saturating_sub(16)..=estimate {
        let bytes = encode_with(filler);
        if bytes.len() >= target {
            return bytes;
        }
    }
    unreachable!("a filler of {estimate} bytes reaches {target}");
}

/// The event's top-level fields, each encoded on its own, concatenated in
/// a random order: the same message to a protobuf decoder.
fn fields_in_any_order(event: &v1::Event, rng: &mut SplitMix64) -> Vec<u8> {
    let mut parts = [
        v1::Event {
            event_id: event.event_id.clone(),
            ..Default::default()
        },
        v1::Event {
            workspace: event.workspace.clone(),
            ..Default::default()
        },
        v1::Event {
            occurred_at: event.occurred_at,
            ..Default::default()
        },
        v1::Event {
            producer: event.producer.clone(),
            ..Default::default()
        },
        v1::Event {
            actor: event.actor.clone(),
            ..Default::default()
        },
        v1::Event {
            payload: event.payload.clone(),
            ..Default::default()
        },
    ];
    // Fisher-Yates.
    for i in (1..parts.len()).rev() {
        parts.swap(i, rng.below(i + 1));
    }
    parts.iter().flat_map(|part| part.encode_to_vec()).collect()
}

/// The event with a field a newer producer might send appended; decoders
/// skip it.
fn with_unknown_field(event: &v1::Event) -> Vec<u8> {
    let mut bytes = event.encode_to_vec();
    bytes.extend(length_delimited(1_000, b"from a newer schema"));
    bytes
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

fn varint(mut value: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(10);
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
    bytes
}

fn key(field: u32, wire_type: u8) -> Vec<u8> {
    varint((u64::from(field) << 3) | u64::from(wire_type))
}

fn length_delimited(field: u32, content: &[u8]) -> Vec<u8> {
    [
        key(field, LENGTH_DELIMITED),
        varint(content.len() as u64),
        content.to_vec(),
    ]
    .concat()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
