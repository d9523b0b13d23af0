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

use lineage_e2e::events::credit_story;
use lineage_e2e::store::{Segment, Store, forge_actor};
use lineage_e2e::{Lineaged, NatsServer, assert_log_broken_at, nats_with_events_stream, publish};

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
        let (nats, js) = nats_with_events_stream().await;
        let data = tempfile::tempdir().expect("data dir");
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
            let intact = lineaged.verify_log(0, 0).await;
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

    /// Asserts that a check from record `from_seq` to the head holds, with
    /// every record of the range checked, and ends at the head hash
    /// lineaged reported while the log was intact.
    async fn assert_holds_from(&self, lineaged: &Lineaged, from_seq: u64) {
        let after = lineaged.verify_log(from_seq, 0).await;
        assert!(after.ok, "{after:?}");
        assert_eq!(
            after.records_checked,
            self.total - from_seq + 1,
            "from record {from_seq}"
        );
        assert_eq!(
            after.verified_hash, self.head_hash,
            "from record {from_seq}"
        );
    }

    /// Asserts what follows records lost just before `next_segment`, the
    /// first record of an intact segment: a check from it has no record to
    /// anchor the chain on, and a check from the record after it holds.
    async fn assert_holds_one_record_into(&self, lineaged: &Lineaged, next_segment: u64) {
        let at_next = lineaged.verify_log(next_segment, 0).await;
        assert!(!at_next.ok);
        assert_eq!(at_next.first_bad_seq, next_segment - 1);
        assert_eq!(at_next.problem, "no record to anchor the chain on");
        self.assert_holds_from(lineaged, next_segment + 1).await;
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
    let found = lineaged.verify_log(0, 0).await;
    // The record after the deleted one now sits at its sequence, right
    // after its true predecessor; but its stored hash was computed for the
    // next sequence, so the recomputed one differs.
    assert_log_broken_at(&found, deleted, "hash does not match the record");

    let before = lineaged.verify_log(1, deleted - 1).await;
    assert!(before.ok, "{before:?}");
    assert_eq!(before.records_checked, deleted - 1);
    // The next segment is intact, but the record its range would be
    // anchored on is gone (the damaged segment now ends one short), so a
    // range must start one record into it.
    story
        .assert_holds_one_record_into(&lineaged, next_segment)
        .await;
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
    let found = lineaged.verify_log(0, 0).await;
    // The link holds (the record before the pair is untouched), but the
    // later record's hash was computed for another sequence and another
    // predecessor.
    assert_log_broken_at(&found, first_swapped, "hash does not match the record");

    let before = lineaged.verify_log(1, first_swapped - 1).await;
    assert!(before.ok, "{before:?}");
    assert_eq!(before.records_checked, first_swapped - 1);
    // Anchored on the damaged segment's last record, which is untouched.
    story.assert_holds_from(&lineaged, next_segment).await;
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
    let found = lineaged.verify_log(0, 0).await;
    assert_log_broken_at(&found, deleted.first_seq, "sequence gap");

    let before = lineaged.verify_log(1, deleted.first_seq - 1).await;
    assert!(before.ok, "{before:?}");
    // As with a deleted record: the range from the next segment has no
    // record to anchor on, the range one record into it verifies.
    story
        .assert_holds_one_record_into(&lineaged, next_segment)
        .await;
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
    forge_actor(forged, "mallory@lender.example", &store.field_secret());
    forged.hash = forged.computed_hash();
    let (forged_seq, forged_hash) = (forged.seq, forged.hash);
    store.write(segment, &key_hashes);
    store.close();

    let lineaged = story.restart().await;
    let found = lineaged.verify_log(0, 0).await;
    // The forgery itself verifies. The next record's previous hash is
    // taken from the forgery (it is not stored), so the link holds too;
    // but its own stored hash was chained on the original.
    assert_log_broken_at(&found, forged_seq + 1, "hash does not match the record");
    assert_eq!(found.verified_hash, hex::encode(forged_hash));

    // So a range that ends at the forgery holds: only a check that goes
    // past it, or a hash of it known from elsewhere, exposes it.
    let up_to_forgery = lineaged.verify_log(1, forged_seq).await;
    assert!(up_to_forgery.ok, "{up_to_forgery:?}");
    story.assert_holds_from(&lineaged, forged_seq + 2).await;
    lineaged.stop().await;
}
