//! `VerifyLog` against a real lineaged whose stopped store was tampered
//! with by someone who knows its layout: records deleted, reordered or
//! forged so that every record is well-formed and most are internally
//! consistent. verification.rs covers damage that a record betrays by
//! itself (a flipped byte); these prove that the hash chain alone finds and
//! locates what a careful intruder does, because a record's sequence and
//! previous hash are not stored but implied by where it sits.
//!
//! Each test damages a segment that is neither the last one nor, for
//! single records, at a segment's ends, so that the damage lies between
//! intact records on both sides: the service still starts (from the
//! snapshot of the intact log) and the ranges around the damage can be
//! shown to verify.

use std::path::Path;

use async_nats::jetstream;
use lineage_e2e::events::credit_story;
use lineage_e2e::{Lineaged, NatsServer, ensure_events_stream, publish};
use lineage_log::Record;
use lineage_proto::v1;
use lineage_proto::validate::{Encoding, digests};
use prost::Message as _;

/// The segment format this file reads and writes (see lineage-log's
/// `segment` module); a store of another format fails the tests loudly.
const SEGMENT_FORMAT: u8 = 2;

/// The idempotency key hash stored beside each segment, per record.
type KeyHash = [u8; 16];

/// One stored segment, decoded.
///
/// Records are [`Record`]s for readability, but their `seq` and `prev_hash`
/// are not stored: both follow from the record's position (and the
/// header's `prev_hash`), so [`Segment::encode`] ignores them. That is why
/// moving a record cannot go unnoticed.
#[derive(Debug, Clone)]
struct Segment {
    first_seq: u64,
    prev_hash: [u8; 32],
    records: Vec<Record>,
}

/// Reads big-endian fields off the front of a stored value.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> &'a [u8] {
        assert!(self.0.len() >= len, "a field runs past the stored value");
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        field
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).try_into().expect("N bytes")
    }
}

impl Segment {
    fn parse(first_seq: u64, raw: &[u8]) -> Self {
        let mut cursor = Cursor(raw);
        let [format] = cursor.array();
        assert_eq!(
            format, SEGMENT_FORMAT,
            "segment {first_seq}: unknown format"
        );
        let count = u32::from_be_bytes(cursor.array());
        let prev_hash = cursor.array();
        let mut prev = prev_hash;
        let records = (0..u64::from(count))
            .map(|position| {
                let stream_seq = u64::from_be_bytes(cursor.array());
                let recorded_at = i64::from_be_bytes(cursor.array());
                let [encoding] = cursor.array();
                let content_digest = cursor.array();
                let payload_digest = cursor.array();
                let hash = cursor.array();
                let key_len = usize::from(u16::from_be_bytes(cursor.array()));
                let bytes_len = u32::from_be_bytes(cursor.array()) as usize;
                let key = cursor.take(key_len).to_vec();
                let bytes = cursor.take(bytes_len).to_vec();
                let record = Record {
                    seq: first_seq + position,
                    stream_seq,
                    recorded_at,
                    encoding,
                    key,
                    content_digest,
                    payload_digest,
                    prev_hash: prev,
                    hash,
                    bytes,
                };
                prev = hash;
                record
            })
            .collect();
        assert!(
            cursor.0.is_empty(),
            "segment {first_seq}: bytes after its last record"
        );
        Self {
            first_seq,
            prev_hash,
            records,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![SEGMENT_FORMAT];
        let count = u32::try_from(self.records.len()).expect("a u32 count");
        out.extend(count.to_be_bytes());
        out.extend(self.prev_hash);
        for record in &self.records {
            out.extend(record.stream_seq.to_be_bytes());
            out.extend(record.recorded_at.to_be_bytes());
            out.push(record.encoding);
            out.extend(record.content_digest);
            out.extend(record.payload_digest);
            out.extend(record.hash);
            let key_len = u16::try_from(record.key.len()).expect("a u16 key length");
            out.extend(key_len.to_be_bytes());
            let bytes_len = u32::try_from(record.bytes.len()).expect("a u32 length");
            out.extend(bytes_len.to_be_bytes());
            out.extend(&record.key);
            out.extend(&record.bytes);
        }
        out
    }

    /// The sequence of the first record of the segment after this one.
    fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }
}

/// The stopped service's store, opened directly as an intruder would.
struct Store {
    db: sled::Db,
    segments: sled::Tree,
    key_hashes: sled::Tree,
}

impl Store {
    fn open(data_dir: &Path) -> Self {
        let db = sled::open(data_dir).expect("the stopped service's store opens");
        Self {
            segments: db.open_tree("segments").expect("segments"),
            key_hashes: db.open_tree("key_hashes").expect("key_hashes"),
            db,
        }
    }

    fn segments(&self) -> Vec<Segment> {
        self.segments
            .iter()
            .map(|entry| {
                let (key, raw) = entry.expect("read a segment");
                let first_seq = u64::from_be_bytes(key.as_ref().try_into().expect("8-byte key"));
                Segment::parse(first_seq, &raw)
            })
            .collect()
    }

    fn key_hashes(&self, first_seq: u64) -> Vec<KeyHash> {
        let raw = self
            .key_hashes
            .get(first_seq.to_be_bytes())
            .expect("read key hashes")
            .expect("every segment has its key hashes");
        raw.chunks_exact(16)
            .map(|hash| hash.try_into().expect("16 bytes"))
            .collect()
    }

    /// Stores `segment` and its key hashes together, so the index stays
    /// consistent with the segment and only the chain can tell.
    fn write(&self, segment: &Segment, key_hashes: &[KeyHash]) {
        assert_eq!(
            segment.records.len(),
            key_hashes.len(),
            "one hash per record"
        );
        let key = segment.first_seq.to_be_bytes();
        self.segments.insert(key, segment.encode()).expect("write");
        self.key_hashes
            .insert(key, key_hashes.concat())
            .expect("write");
    }

    fn remove(&self, first_seq: u64) {
        let key = first_seq.to_be_bytes();
        self.segments.remove(key).expect("remove");
        self.key_hashes.remove(key).expect("remove");
    }

    /// Makes the damage durable and releases the store for lineaged.
    fn close(self) {
        self.db.flush().expect("flush");
    }
}

/// The position of the first segment, other than the last, that holds at
/// least `records` records: damage there has intact records on both sides.
fn a_middle_segment(segments: &[Segment], records: usize) -> usize {
    let counts: Vec<usize> = segments.iter().map(|s| s.records.len()).collect();
    counts[..counts.len().saturating_sub(1)]
        .iter()
        .position(|&count| count >= records)
        .unwrap_or_else(|| {
            panic!(
                "the story should fill a segment of at least {records} records before the last \
                 one; records per segment: {counts:?}"
            )
        })
}

fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How many appends the story is stored in.
const STORY_PARTS: usize = 3;

/// A lineaged that stored the credit story, proved it intact and stopped,
/// leaving its store to be damaged.
struct StoppedWithStory {
    nats: NatsServer,
    data: tempfile::TempDir,
    total: u64,
    /// The head hash lineaged reported while the log was intact.
    head_hash: String,
}

impl StoppedWithStory {
    async fn record() -> Self {
        let nats = NatsServer::start();
        let data = tempfile::tempdir().expect("data dir");
        let js = jetstream::new(nats.client().await);
        ensure_events_stream(&js).await;
        let story = credit_story();
        let total = story.len() as u64;
        // Each part is published while lineaged is stopped, so it is pulled
        // in one burst and appended as one batch (in full segments, not one
        // per event); and a batch never shares a segment with another, so
        // every test can count on at least one segment per part.
        let mut stored = 0;
        let mut head_hash = String::new();
        for part in story.chunks(story.len().div_ceil(STORY_PARTS)) {
            for event in part {
                publish(&js, event).await;
            }
            stored += part.len() as u64;
            let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
            head_hash = lineaged.wait_applied(stored).await.head_hash;
            let intact = verify(&lineaged, 0, 0).await;
            assert!(intact.ok, "{intact:?}");
            assert_eq!(intact.records_checked, stored);
            lineaged.stop().await;
        }
        Self {
            nats,
            data,
            total,
            head_hash,
        }
    }

    fn store(&self) -> Store {
        Store::open(self.data.path())
    }

    /// Starts lineaged again on the damaged store. It restores the graph
    /// from the snapshot it wrote at stop, which belongs to the log (the
    /// last segment is intact), so it starts and serves despite the damage.
    async fn restart(&self) -> Lineaged {
        let lineaged = Lineaged::start(&self.nats.url(), self.data.path(), |_| {}).await;
        lineaged.wait_applied(self.total).await;
        lineaged
    }
}

async fn verify(lineaged: &Lineaged, from_seq: u64, to_seq: u64) -> v1::VerifyLogResponse {
    lineaged
        .client()
        .await
        .verify_log(v1::VerifyLogRequest {
            from_seq,
            to_seq,
            ..Default::default()
        })
        .await
        .expect("VerifyLog answers")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_from_a_segment_is_found_where_it_was() {
    let story = StoppedWithStory::record().await;
    let store = story.store();
    let mut segments = store.segments();
    let damaged = a_middle_segment(&segments, 3);
    let next_segment = segments[damaged + 1].first_seq;
    let segment = &mut segments[damaged];
    let mut key_hashes = store.key_hashes(segment.first_seq);
    segment.records.remove(1);
    key_hashes.remove(1);
    let deleted = segment.first_seq + 1;
    store.write(segment, &key_hashes);
    store.close();

    let lineaged = story.restart().await;
    let found = verify(&lineaged, 0, 0).await;
    // The record after the deleted one now sits at its sequence, right
    // after its true predecessor; but its stored hash was computed for the
    // next sequence, so the recomputed one differs.
    assert!(!found.ok);
    assert_eq!(found.first_bad_seq, deleted);
    assert_eq!(found.problem, "hash does not match the record");
    assert_eq!(found.records_checked, deleted - 1);
    assert_eq!(found.verified_seq, deleted - 1);

    let before = verify(&lineaged, 1, deleted - 1).await;
    assert!(before.ok, "{before:?}");
    assert_eq!(before.records_checked, deleted - 1);
    // The next segment is intact, but the record its range would be
    // anchored on is gone (the damaged segment now ends one short), so a
    // range must start one record into it.
    let at_next = verify(&lineaged, next_segment, 0).await;
    assert!(!at_next.ok);
    assert_eq!(at_next.first_bad_seq, next_segment - 1);
    assert_eq!(at_next.problem, "no record to anchor the chain on");
    let after = verify(&lineaged, next_segment + 1, 0).await;
    assert!(after.ok, "{after:?}");
    assert_eq!(after.records_checked, story.total - next_segment);
    assert_eq!(after.verified_hash, story.head_hash);
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_swapped_records_are_found_at_the_first_of_them() {
    let story = StoppedWithStory::record().await;
    let store = story.store();
    let mut segments = store.segments();
    // Four records, so that the swapped pair (positions 1 and 2) is
    // followed by an untouched record that ends the segment.
    let damaged = a_middle_segment(&segments, 4);
    let next_segment = segments[damaged + 1].first_seq;
    let segment = &mut segments[damaged];
    let mut key_hashes = store.key_hashes(segment.first_seq);
    segment.records.swap(1, 2);
    key_hashes.swap(1, 2);
    let first_swapped = segment.first_seq + 1;
    store.write(segment, &key_hashes);
    store.close();

    let lineaged = story.restart().await;
    let found = verify(&lineaged, 0, 0).await;
    // The link holds (the record before the pair is untouched), but the
    // later record's hash was computed for another sequence and another
    // predecessor.
    assert!(!found.ok);
    assert_eq!(found.first_bad_seq, first_swapped);
    assert_eq!(found.problem, "hash does not match the record");
    assert_eq!(found.records_checked, first_swapped - 1);
    assert_eq!(found.verified_seq, first_swapped - 1);

    let before = verify(&lineaged, 1, first_swapped - 1).await;
    assert!(before.ok, "{before:?}");
    assert_eq!(before.records_checked, first_swapped - 1);
    // Anchored on the damaged segment's last record, which is untouched.
    let after = verify(&lineaged, next_segment, 0).await;
    assert!(after.ok, "{after:?}");
    assert_eq!(after.records_checked, story.total - next_segment + 1);
    assert_eq!(after.verified_hash, story.head_hash);
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_segment_is_a_sequence_gap_at_its_first_record() {
    let story = StoppedWithStory::record().await;
    let store = story.store();
    let segments = store.segments();
    // Not the first segment, so that records before the gap can be shown
    // to verify, and not the last, so that the log's head is unchanged.
    assert!(
        segments.len() >= 3,
        "the story should fill at least 3 segments; records per segment: {:?}",
        segments.iter().map(|s| s.records.len()).collect::<Vec<_>>()
    );
    let deleted = &segments[1];
    let next_segment = deleted.end_seq();
    store.remove(deleted.first_seq);
    store.close();

    let lineaged = story.restart().await;
    let found = verify(&lineaged, 0, 0).await;
    assert!(!found.ok);
    assert_eq!(found.first_bad_seq, deleted.first_seq);
    assert_eq!(found.problem, "sequence gap");
    assert_eq!(found.records_checked, deleted.first_seq - 1);
    assert_eq!(found.verified_seq, deleted.first_seq - 1);

    let before = verify(&lineaged, 1, deleted.first_seq - 1).await;
    assert!(before.ok, "{before:?}");
    // As with a deleted record: the range from the next segment has no
    // record to anchor on, the range one record into it verifies.
    let at_next = verify(&lineaged, next_segment, 0).await;
    assert!(!at_next.ok);
    assert_eq!(at_next.first_bad_seq, next_segment - 1);
    assert_eq!(at_next.problem, "no record to anchor the chain on");
    let after = verify(&lineaged, next_segment + 1, 0).await;
    assert!(after.ok, "{after:?}");
    assert_eq!(after.records_checked, story.total - next_segment);
    assert_eq!(after.verified_hash, story.head_hash);
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_is_found_at_the_record_after_it() {
    let story = StoppedWithStory::record().await;
    let store = story.store();
    let mut segments = store.segments();
    let damaged = a_middle_segment(&segments, 3);
    let segment = &mut segments[damaged];
    let key_hashes = store.key_hashes(segment.first_seq);
    // A forgery a careful intruder would write: a valid event saying
    // someone else acted, with both digests and its own hash recomputed,
    // so the record is consistent in itself.
    let forged = &mut segment.records[1];
    assert_eq!(forged.encoding, Encoding::Protobuf.as_byte());
    let mut event = v1::Event::decode(forged.bytes.as_slice()).expect("a stored event");
    event.actor = "mallory@lender.example".into();
    forged.bytes = event.encode_to_vec();
    let forged_digests = digests(&event, &forged.bytes, Encoding::Protobuf);
    forged.content_digest = forged_digests.content;
    forged.payload_digest = forged_digests.payload;
    forged.hash = forged.computed_hash();
    let (forged_seq, forged_hash) = (forged.seq, forged.hash);
    store.write(segment, &key_hashes);
    store.close();

    let lineaged = story.restart().await;
    let found = verify(&lineaged, 0, 0).await;
    // The forgery itself verifies. The next record's previous hash is
    // taken from the forgery (it is not stored), so the link holds too;
    // but its own stored hash was chained on the original.
    assert!(!found.ok);
    assert_eq!(found.first_bad_seq, forged_seq + 1);
    assert_eq!(found.problem, "hash does not match the record");
    assert_eq!(found.records_checked, forged_seq);
    assert_eq!(found.verified_seq, forged_seq);
    assert_eq!(found.verified_hash, hex(&forged_hash));

    // So a range that ends at the forgery holds: only a check that goes
    // past it, or a hash of it known from elsewhere, exposes it.
    let up_to_forgery = verify(&lineaged, 1, forged_seq).await;
    assert!(up_to_forgery.ok, "{up_to_forgery:?}");
    let after = verify(&lineaged, forged_seq + 2, 0).await;
    assert!(after.ok, "{after:?}");
    assert_eq!(after.records_checked, story.total - forged_seq - 1);
    assert_eq!(after.verified_hash, story.head_hash);
    lineaged.stop().await;
}
