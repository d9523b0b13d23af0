//! Log tests against real sled stores in temporary directories.

use super::*;
use crate::segment::SegmentWriter;

fn digest(content: &str) -> [u8; 32] {
    *blake3::hash(content.as_bytes()).as_bytes()
}

fn new_record<'a>(stream_seq: u64, key: &'a str, content: &'a str) -> NewRecord<'a> {
    NewRecord {
        stream_seq,
        key: key.as_bytes(),
        content_digest: digest(content),
        encoding: 0,
        bytes: content.as_bytes(),
        payload_digest: digest(content),
        redaction: false,
        received_at: 0,
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    // sled's flush future completes on its own thread pool; a minimal
    // executor is enough and keeps this leaf crate free of tokio.
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn appends_dense_sequences_and_chains_hashes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    assert_eq!(log.head().seq, 0);
    let outcomes = log
        .append_batch(
            &[new_record(1, "w\0a", "A"), new_record(2, "w\0b", "B")],
            10,
        )
        .expect("append");
    assert_eq!(
        outcomes,
        vec![Appended::Stored { seq: 1 }, Appended::Stored { seq: 2 }]
    );
    let records: Vec<Record> = log
        .reader()
        .records_from(0)
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(records[1].bytes, b"B");
    assert_eq!(records[1].stream_seq, 2);
    assert_eq!(log.head().hash, records[1].hash);
}

#[test]
fn reopen_keeps_sequence_chain_and_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append_batch(&[new_record(1, "w\0a", "A")], 1)
            .expect("append");
        log.append_batch(&[new_record(2, "w\0a", "A")], 2)
            .expect("append duplicate");
        block_on(log.flush()).expect("flush");
        log.head()
    };
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(log.head(), head);
    assert_eq!(log.duplicates(), 1);
    let outcomes = log
        .append_batch(&[new_record(3, "w\0a", "A"), new_record(4, "w\0c", "C")], 3)
        .expect("append");
    assert_eq!(
        outcomes,
        vec![Appended::Duplicate { seq: 1 }, Appended::Stored { seq: 2 }]
    );
    let verification = log.reader().verify().expect("verify");
    assert_eq!(verification.first_problem, None);
    assert_eq!(verification.records_checked, 2);
    assert_eq!(verification.head, log.head());
}

#[test]
fn same_key_other_content_is_a_conflict_and_the_first_stands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let outcomes = log
        .append_batch(
            &[
                new_record(1, "w\0a", "first"),
                new_record(2, "w\0a", "second"),
                new_record(3, "w\0a", "first"),
            ],
            1,
        )
        .expect("append");
    assert_eq!(
        outcomes,
        vec![
            Appended::Stored { seq: 1 },
            Appended::Conflict { seq: 1 },
            Appended::Duplicate { seq: 1 },
        ]
    );
    let record = log
        .reader()
        .records_from(1)
        .next()
        .expect("one record")
        .expect("readable");
    assert_eq!(record.bytes, b"first");
    assert_eq!(log.head().seq, 1);
}

#[test]
fn rejections_count_once_per_stream_sequence() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let log = Log::open(dir.path(), LogOptions::default()).expect("open");
        let log = log.sync_handle();
        assert!(log.record_rejection(7, "undecodable").expect("record"));
        assert!(
            !log.record_rejection(7, "undecodable")
                .expect("record again")
        );
        assert!(log.record_rejection(9, "oversize").expect("record"));
        assert_eq!(log.rejected(), 2);
        block_on(log.flush()).expect("flush");
    }
    let log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(log.rejected(), 2);
}

fn three_records(log: &mut Log) {
    log.append_batch(
        &[
            new_record(1, "w\0a", "A"),
            new_record(2, "w\0b", "B"),
            new_record(3, "w\0c", "C"),
        ],
        1,
    )
    .expect("append");
}

/// Rewrites the one segment holding records 1-3 with `change` applied to
/// the records, re-encoded faithfully (as an attacker with the store would).
fn rewrite_segment(log: &Log, change: impl FnOnce(&mut Vec<Record>)) {
    let mut records: Vec<Record> = log
        .reader()
        .records_from(1)
        .collect::<Result<_, _>>()
        .expect("read");
    change(&mut records);
    let mut writer = SegmentWriter::new(&records[0].prev_hash, 0);
    for record in &records {
        writer.push(&RecordRef {
            seq: record.seq,
            stream_seq: record.stream_seq,
            recorded_at: record.recorded_at,
            encoding: record.encoding,
            key: &record.key,
            content_digest: &record.content_digest,
            payload_digest: &record.payload_digest,
            prev_hash: &record.prev_hash,
            hash: &record.hash,
            bytes: &record.bytes,
        });
    }
    log.segments()
        .insert(1u64.to_be_bytes(), writer.finish())
        .expect("rewrite");
}

#[test]
fn verify_accepts_an_intact_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    let verification = log.reader().verify().expect("verify");
    assert_eq!(verification.first_problem, None);
    assert_eq!(verification.records_checked, 3);
    assert_eq!(verification.head, log.head());
}

#[test]
fn verify_finds_a_changed_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    rewrite_segment(&log, |records| records[1].bytes[0] ^= 0x01);
    let verification = log.reader().verify().expect("verify");
    assert_eq!(
        verification.first_problem,
        Some((2, "payload does not match its digest"))
    );
    assert_eq!(verification.records_checked, 1);
}

#[test]
fn verify_finds_a_missing_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    rewrite_segment(&log, |records| {
        records.remove(1);
    });
    let verification = log.reader().verify().expect("verify");
    // Record 3 now sits at sequence 2, where its hash no longer fits.
    assert_eq!(verification.first_problem.map(|p| p.0), Some(1));
    let verification_problem = verification.first_problem.expect("a problem").1;
    assert_eq!(
        verification_problem,
        "the idempotency index does not match the segment"
    );
}

#[test]
fn verify_finds_two_swapped_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    rewrite_segment(&log, |records| records.swap(1, 2));
    let verification = log.reader().verify().expect("verify");
    assert_eq!(
        verification.first_problem,
        Some((2, "hash does not match the record"))
    );
}

#[test]
fn verify_finds_a_missing_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    for seq in 1..=3u64 {
        let key = format!("w\0{seq}");
        log.append_batch(&[new_record(seq, &key, "x")], 1)
            .expect("append");
    }
    log.segments().remove(2u64.to_be_bytes()).expect("delete");
    let verification = log.reader().verify().expect("verify");
    assert_eq!(verification.first_problem, Some((2, "sequence gap")));
    assert_eq!(verification.records_checked, 1);
}

#[test]
fn large_batches_span_segments_and_read_back_from_any_sequence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let payload = "p".repeat(1000);
    let keys: Vec<String> = (0..300).map(|i| format!("w\0event-{i}")).collect();
    let batch: Vec<NewRecord<'_>> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| new_record(i as u64 + 1, key, &payload))
        .collect();
    let outcomes = log.append_batch(&batch, 5).expect("append");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Appended::Stored { .. }))
    );
    assert!(log.segments().len() > 1, "300 KB must not fit one segment");
    let reader = log.reader();
    let from_middle: Vec<u64> = reader
        .records_from(150)
        .map(|r| r.expect("read").seq)
        .collect();
    assert_eq!(from_middle, (150..=300).collect::<Vec<u64>>());
    let mut visited = 0;
    reader
        .for_each_from(1, |record| {
            visited += 1;
            assert_eq!(record.seq, visited);
            Ok::<_, LogError>(())
        })
        .expect("scan");
    assert_eq!(visited, 300);
    let record = reader.record(222).expect("read").expect("present");
    assert_eq!(record.key, keys[221].as_bytes());
    assert_eq!(reader.record(301).expect("read"), None);
    let verification = reader.verify().expect("verify");
    assert_eq!(verification.first_problem, None);
    assert_eq!(verification.records_checked, 300);

    // Every key is recognised again, in a later batch and after reopening.
    let again = log.append_batch(&batch[..10], 6).expect("append again");
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Appended::Duplicate { .. }))
    );
    block_on(log.flush()).expect("flush");
    drop((reader, log));
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    let again = log.append_batch(&batch[290..], 7).expect("append again");
    assert_eq!(again[0], Appended::Duplicate { seq: 291 });
    assert_eq!(log.head().seq, 300);
}

fn one_hash_for_every_key(_key: &[u8]) -> crate::index::KeyHash {
    crate::index::KeyHash::from_bytes(&[7; 16])
}

#[test]
fn keys_sharing_a_hash_are_told_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    log.hash_key = one_hash_for_every_key;
    let outcomes = log
        .append_batch(
            &[
                new_record(1, "w\0a", "A"),
                new_record(2, "w\0b", "B"),
                new_record(3, "w\0b", "B"),
            ],
            1,
        )
        .expect("append");
    assert_eq!(
        outcomes,
        vec![
            Appended::Stored { seq: 1 },
            Appended::Stored { seq: 2 },
            Appended::Duplicate { seq: 2 },
        ]
    );
    let outcomes = log
        .append_batch(
            &[
                new_record(4, "w\0c", "C"),
                new_record(5, "w\0a", "A"),
                new_record(6, "w\0b", "other"),
            ],
            2,
        )
        .expect("append");
    assert_eq!(
        outcomes,
        vec![
            Appended::Stored { seq: 3 },
            Appended::Duplicate { seq: 1 },
            Appended::Conflict { seq: 2 },
        ]
    );
    block_on(log.flush()).expect("flush");
    drop(log);
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    log.hash_key = one_hash_for_every_key;
    let outcomes = log
        .append_batch(
            &[
                new_record(7, "w\0a", "A"),
                new_record(8, "w\0b", "B"),
                new_record(9, "w\0c", "C"),
            ],
            3,
        )
        .expect("append");
    assert_eq!(
        outcomes,
        vec![
            Appended::Duplicate { seq: 1 },
            Appended::Duplicate { seq: 2 },
            Appended::Duplicate { seq: 3 },
        ]
    );
}

#[test]
fn a_store_of_the_earlier_format_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = sled::open(dir.path()).expect("sled");
        db.open_tree("records")
            .expect("tree")
            .insert(1u64.to_be_bytes(), b"old".as_slice())
            .expect("insert");
        db.flush().expect("flush");
    }
    let error = Log::open(dir.path(), LogOptions::default()).expect_err("refused");
    assert!(
        error.to_string().contains("earlier lineaged"),
        "unexpected error: {error}"
    );
}

#[test]
fn a_store_held_open_elsewhere_is_refused_as_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _held = Log::open(dir.path(), LogOptions::default()).expect("open");
    let error = Log::open(dir.path(), LogOptions::default()).expect_err("second open");
    assert!(matches!(error, LogError::InUse(_)), "{error:?}");
    assert!(error.to_string().contains("in use"), "{error}");
}

#[test]
fn verify_range_checks_only_its_records_anchored_on_the_one_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    for seq in 1..=5u64 {
        let key = format!("w\0{seq}");
        log.append_batch(&[new_record(seq, &key, "x")], 1)
            .expect("append");
    }
    let middle = log.reader().verify_range(2, 4).expect("verify");
    assert_eq!(middle.first_problem, None);
    assert_eq!(middle.records_checked, 3);
    assert_eq!(middle.head.seq, 4);
    let whole = log.reader().verify_range(0, u64::MAX).expect("verify");
    assert_eq!((whole.records_checked, whole.head), (5, log.head()));
    // Past the end: nothing to check, and nothing to anchor on.
    let after = log.reader().verify_range(6, u64::MAX).expect("verify");
    assert_eq!((after.records_checked, after.first_problem), (0, None));
    let beyond = log.reader().verify_range(8, u64::MAX).expect("verify");
    assert_eq!(
        beyond.first_problem,
        Some((7, "no record to anchor the chain on"))
    );

    // A missing record is found by a range that covers it, not by one
    // that ends before it.
    log.segments().remove(4u64.to_be_bytes()).expect("delete");
    assert_eq!(
        log.reader()
            .verify_range(3, 5)
            .expect("verify")
            .first_problem,
        Some((4, "sequence gap"))
    );
    assert_eq!(
        log.reader()
            .verify_range(1, 3)
            .expect("verify")
            .first_problem,
        None
    );
}

#[test]
fn verify_range_finds_a_changed_byte_inside_a_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    rewrite_segment(&log, |records| records[2].bytes[0] ^= 0x01);
    // The segment starts before the range; its first records are skipped.
    let verification = log.reader().verify_range(2, 3).expect("verify");
    assert_eq!(
        verification.first_problem,
        Some((3, "payload does not match its digest"))
    );
    assert_eq!(verification.records_checked, 1);
    assert_eq!(
        log.reader()
            .verify_range(1, 2)
            .expect("verify")
            .first_problem,
        None
    );
}

#[test]
fn verify_finds_a_record_replaced_with_a_recomputed_hash_at_the_next_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    // Record 2 rewritten whole, as a forger with the store would: new
    // payload, its digest and its own hash recomputed. Only the link from
    // record 3 still rests on the old hash: a segment stores each link as
    // the hash of the record before, so record 3's own hash no longer fits.
    rewrite_segment(&log, |records| {
        let forged = &mut records[1];
        forged.bytes = b"forged".to_vec();
        forged.payload_digest = *blake3::hash(&forged.bytes).as_bytes();
        forged.hash = forged.computed_hash();
    });
    let verification = log.reader().verify().expect("verify");
    assert_eq!(
        verification.first_problem,
        Some((3, "hash does not match the record"))
    );
    assert_eq!(verification.records_checked, 2);
    // Forging every record from there to the end leaves nothing after it
    // to disagree: only a head hash known from elsewhere (the service's,
    // a client's, a signed checkpoint) tells.
    rewrite_segment(&log, |records| {
        let before = records[1].hash;
        let forged = &mut records[2];
        forged.prev_hash = before;
        forged.bytes = b"forged too".to_vec();
        forged.payload_digest = *blake3::hash(&forged.bytes).as_bytes();
        forged.hash = forged.computed_hash();
    });
    let verification = log.reader().verify().expect("verify");
    assert_eq!(verification.first_problem, None);
    assert_ne!(verification.head.hash, log.head().hash);
}

#[test]
fn recorded_times_never_decrease_even_when_the_clock_steps_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append_batch(&[new_record(1, "w\0a", "A")], 100)
            .expect("append");
        // The clock stepped back: the record keeps the last time.
        log.append_batch(&[new_record(2, "w\0b", "B")], 40)
            .expect("append");
        // A batch of duplicates stores nothing and moves nothing.
        log.append_batch(&[new_record(3, "w\0b", "B")], 500)
            .expect("append");
        block_on(log.flush()).expect("flush");
    }
    // The last time is read back at open.
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    log.append_batch(&[new_record(4, "w\0c", "C")], 70)
        .expect("append");
    let times: Vec<i64> = log
        .reader()
        .records_from(1)
        .map(|r| r.expect("record").recorded_at)
        .collect();
    assert_eq!(times, vec![100, 100, 100]);
    assert!(
        log.reader()
            .verify()
            .expect("verify")
            .first_problem
            .is_none()
    );
}

#[test]
fn an_erased_payload_keeps_the_chain_and_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (secret, hashes) = {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append_batch(
            &[
                new_record(1, "w\0a", "alice wrote A"),
                new_record(2, "w\0b", "B"),
                new_record(3, "w\0c", "C"),
            ],
            10,
        )
        .expect("append");
        log.mark_redaction_pending(3).expect("mark");
        let sync = log.sync_handle();
        sync.erase_payload(1, b"someone wrote A", b"kept beside it")
            .expect("erase");
        block_on(log.flush()).expect("flush");
        let reader = log.reader();
        let hashes: Vec<[u8; 32]> = reader
            .records_from(1)
            .map(|record| record.expect("read").hash)
            .collect();
        // The chain check that skips erased payloads holds; a plain one
        // names the record whose bytes no longer match their digest.
        let verified = reader.verify().expect("verify");
        assert_eq!(verified.first_problem, None);
        assert_eq!(verified.records_checked, 3);
        let mut plain = ChainCheck::from_genesis();
        let first = reader.record(1).expect("read").expect("stored");
        assert_eq!(first.bytes, b"someone wrote A");
        let chained = lineage_core::chain::ChainedRecord {
            seq: first.seq,
            stream_seq: first.stream_seq,
            recorded_at: first.recorded_at,
            encoding: first.encoding,
            key: &first.key,
            content_digest: &first.content_digest,
            payload_digest: &first.payload_digest,
            prev_hash: &first.prev_hash,
            hash: &first.hash,
            bytes: &first.bytes,
        };
        assert_eq!(plain.check(&chained), Err(ChainBreak::Payload));
        assert_eq!(plain.check_erased(&chained), Ok(()));
        assert_eq!(reader.pending_redactions().expect("pending"), vec![3]);
        sync.redaction_done(3).expect("done");
        block_on(log.flush()).expect("flush");
        (log.field_secret(), hashes)
    };
    let log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(
        log.field_secret(),
        secret,
        "the secret is the store's, for good"
    );
    let reader = log.reader();
    let records: Vec<Record> = reader
        .records_from(1)
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(
        records.iter().map(|r| r.hash).collect::<Vec<_>>(),
        hashes,
        "no hash moved"
    );
    assert_eq!(records[0].bytes, b"someone wrote A");
    assert_eq!(records[1].bytes, b"B");
    assert_eq!(
        reader.erased(1).expect("read").as_deref(),
        Some(&b"kept beside it"[..])
    );
    assert_eq!(reader.erased(2).expect("read"), None);
    assert!(reader.pending_redactions().expect("pending").is_empty());
    assert_eq!(reader.verify().expect("verify").first_problem, None);
    // Erasing what is not stored is refused and changes nothing.
    assert!(log.sync_handle().erase_payload(9, b"x", b"y").is_err());
}

#[test]
fn a_recorded_time_maps_to_the_last_record_stored_by_then() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let reader = log.reader();
    assert_eq!(reader.last_seq_recorded_by(i64::MAX).expect("empty"), 0);
    // Batches of 1, 3 and 2 records at 10, 20 and 30; then a clock that
    // stepped back to 25 stores at 30 again.
    let keys: Vec<String> = (0..8).map(|n| format!("w\0e{n}")).collect();
    let batch = |range: std::ops::Range<usize>| -> Vec<NewRecord<'_>> {
        range
            .map(|n| new_record(n as u64 + 1, &keys[n], "x"))
            .collect()
    };
    log.append_batch(&batch(0..1), 10).expect("append");
    log.append_batch(&batch(1..4), 20).expect("append");
    log.append_batch(&batch(4..6), 30).expect("append");
    log.append_batch(&batch(6..8), 25).expect("append");
    let by = |time| reader.last_seq_recorded_by(time).expect("search");
    assert_eq!(by(9), 0);
    assert_eq!(by(10), 1);
    assert_eq!(by(19), 1);
    assert_eq!(by(20), 4);
    assert_eq!(by(29), 4);
    assert_eq!(by(30), 8);
    assert_eq!(by(i64::MAX), 8);
}

#[test]
fn a_closed_log_answers_closed_everywhere_and_releases_its_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    three_records(&mut log);
    block_on(log.flush()).expect("flush");
    // Handles taken before the close, as the query service holds them.
    let (reader, sync) = (log.reader(), log.sync_handle());
    log.close("No space left on device".into());
    assert!(!log.is_open());
    for error in [
        reader.record(1).expect_err("record"),
        reader.verify().expect_err("verify"),
        block_on(sync.flush()).expect_err("flush"),
        sync.record_rejection(9, "reason").expect_err("rejection"),
        log.append_batch(&[new_record(4, "w\0d", "D")], 4)
            .expect_err("append"),
    ] {
        assert!(
            matches!(&error, LogError::Closed(reason) if reason.contains("No space")),
            "{error:?}"
        );
    }
    assert!(matches!(
        reader.checkpoints(1, 3).next(),
        Some(Err(LogError::Closed(_)))
    ));
    // sled's lock is free: another process could open (or fsck) the store.
    drop(Log::open(dir.path(), LogOptions::default()).expect("the files were released"));
}

#[test]
fn reopen_reads_the_durable_store_and_moves_every_handle_to_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let (reader, sync) = (log.reader(), log.sync_handle());
    three_records(&mut log);
    block_on(log.flush()).expect("flush");
    assert!(sync.record_rejection(7, "undecodable").expect("rejection"));
    block_on(sync.flush()).expect("flush");
    let head = log.head();
    log.close("a failed write".into());
    log.reopen().expect("reopen");
    assert!(log.is_open());
    assert_eq!(log.head(), head);
    assert_eq!(log.rejected(), 1);
    // The handles taken before the close read and write the reopened store.
    assert_eq!(reader.last_seq().expect("read"), 3);
    assert!(!sync.record_rejection(7, "undecodable").expect("rejection"));
    // The idempotency index was rebuilt from the store.
    let outcomes = log
        .append_batch(
            &[new_record(9, "w\0b", "B"), new_record(10, "w\0d", "D")],
            9,
        )
        .expect("append");
    assert_eq!(
        outcomes,
        vec![Appended::Duplicate { seq: 2 }, Appended::Stored { seq: 4 }]
    );
    block_on(sync.flush()).expect("flush");
    let verification = reader.verify().expect("verify");
    assert_eq!(verification.first_problem, None);
    assert_eq!(verification.records_checked, 4);
}

#[test]
fn reopen_refuses_a_directory_that_no_longer_holds_the_store() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("log");
    let mut log = Log::open(&dir, LogOptions::default()).expect("open");
    three_records(&mut log);
    block_on(log.flush()).expect("flush");
    log.close("a failed write".into());
    // As a volume that failed to mount leaves an empty mount point.
    std::fs::rename(&dir, parent.path().join("moved")).expect("move away");
    std::fs::create_dir(&dir).expect("empty directory");
    let error = log.reopen().expect_err("no store");
    assert!(matches!(error, LogError::StoreMoved(_)), "{error:?}");
    assert!(
        std::fs::read_dir(&dir).expect("list").next().is_none(),
        "nothing was created in the empty directory"
    );
    assert!(matches!(log.reader().record(1), Err(LogError::Closed(_))));
    // Another store where the log was is refused too.
    drop(Log::open(&dir, LogOptions::default()).expect("another store"));
    let error = log.reopen().expect_err("another store");
    assert!(matches!(error, LogError::StoreMoved(_)), "{error:?}");
    // The store back in place: the reopen proceeds.
    std::fs::remove_dir_all(&dir).expect("remove the other store");
    std::fs::rename(parent.path().join("moved"), &dir).expect("move back");
    log.reopen().expect("reopen");
    assert_eq!(log.head().seq, 3);
}

#[test]
fn a_stored_redaction_is_marked_pending_with_its_record_and_only_then() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        let redaction = |stream_seq, key| NewRecord {
            redaction: true,
            ..new_record(stream_seq, key, "erase the actor of w\0a")
        };
        let outcomes = log
            .append_batch(
                &[
                    new_record(1, "w\0a", "A"),
                    redaction(2, "w\0r"),
                    // A retry of the same request is a duplicate: no mark.
                    redaction(3, "w\0r"),
                ],
                10,
            )
            .expect("append");
        assert_eq!(
            outcomes,
            vec![
                Appended::Stored { seq: 1 },
                Appended::Stored { seq: 2 },
                Appended::Duplicate { seq: 2 }
            ]
        );
        assert_eq!(log.reader().pending_redactions().expect("pending"), vec![2]);
        block_on(log.flush()).expect("flush");
    }
    // Durable together: the reopened log still owes the erasure.
    let log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(log.reader().pending_redactions().expect("pending"), vec![2]);
}

#[test]
fn records_are_stamped_when_received_and_never_earlier_than_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let received = |stream_seq, key, received_at| NewRecord {
        received_at,
        ..new_record(stream_seq, key, key)
    };
    log.append_batch(&[received(1, "w\0a", 500), received(2, "w\0b", 0)], 300)
        .expect("append");
    // A receipt time before the last record's is raised to it.
    log.append_batch(&[received(3, "w\0c", 200), received(4, "w\0d", 900)], 100)
        .expect("append");
    block_on(log.flush()).expect("flush");
    let times: Vec<i64> = log
        .reader()
        .records_from(1)
        .map(|record| record.expect("readable").recorded_at)
        .collect();
    assert_eq!(times, [500, 500, 500, 900]);
}

#[test]
fn replicas_given_one_field_secret_write_the_same_hashes() {
    let secret = [7u8; 32];
    let options = || LogOptions {
        field_secret: Some(secret),
        ..LogOptions::default()
    };
    let heads: Vec<Head> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut log = Log::open(dir.path(), options()).expect("open");
            assert_eq!(log.field_secret(), secret);
            let batch = [
                NewRecord {
                    received_at: 1_000,
                    ..new_record(1, "w\0a", "A")
                },
                NewRecord {
                    received_at: 2_000,
                    ..new_record(2, "w\0b", "B")
                },
            ];
            log.append_batch(&batch, 5_000).expect("append");
            log.head()
        })
        .collect();
    assert_eq!(heads[0], heads[1]);

    let dir = tempfile::tempdir().expect("temp dir");
    drop(Log::open(dir.path(), options()).expect("open"));
    let other = LogOptions {
        field_secret: Some([8u8; 32]),
        ..LogOptions::default()
    };
    let refused = Log::open(dir.path(), other).expect_err("another secret");
    assert!(refused.to_string().contains("field secret"), "{refused}");
    // Without one given, the store's own is used.
    assert_eq!(
        Log::open(dir.path(), LogOptions::default())
            .expect("open")
            .field_secret(),
        secret
    );
}
