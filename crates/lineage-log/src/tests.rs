//! Log tests against real sled stores in temporary directories.

use super::*;

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
    let mut log = Log::open(dir.path()).expect("open");
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
        let mut log = Log::open(dir.path()).expect("open");
        log.append_batch(&[new_record(1, "w\0a", "A")], 1)
            .expect("append");
        log.append_batch(&[new_record(2, "w\0a", "A")], 2)
            .expect("append duplicate");
        block_on(log.flush()).expect("flush");
        log.head()
    };
    let mut log = Log::open(dir.path()).expect("reopen");
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
    let mut log = Log::open(dir.path()).expect("open");
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
        let mut log = Log::open(dir.path()).expect("open");
        assert!(log.record_rejection(7, "undecodable").expect("record"));
        assert!(
            !log.record_rejection(7, "undecodable")
                .expect("record again")
        );
        assert!(log.record_rejection(9, "oversize").expect("record"));
        assert_eq!(log.rejected(), 2);
        block_on(log.flush()).expect("flush");
    }
    let log = Log::open(dir.path()).expect("reopen");
    assert_eq!(log.rejected(), 2);
}

#[test]
fn verify_finds_a_changed_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::open(dir.path()).expect("open");
    log.append_batch(
        &[
            new_record(1, "w\0a", "A"),
            new_record(2, "w\0b", "B"),
            new_record(3, "w\0c", "C"),
        ],
        1,
    )
    .expect("append");
    let raw = log
        .records
        .get(2u64.to_be_bytes())
        .expect("read")
        .expect("present");
    let mut damaged = raw.to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    log.records
        .insert(2u64.to_be_bytes(), damaged)
        .expect("damage");
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
    let mut log = Log::open(dir.path()).expect("open");
    log.append_batch(
        &[
            new_record(1, "w\0a", "A"),
            new_record(2, "w\0b", "B"),
            new_record(3, "w\0c", "C"),
        ],
        1,
    )
    .expect("append");
    log.records.remove(2u64.to_be_bytes()).expect("delete");
    let verification = log.reader().verify().expect("verify");
    assert_eq!(verification.first_problem, Some((3, "sequence gap")));
}
