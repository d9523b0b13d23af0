//! `VerifyLog` against a real lineaged whose store was damaged while it
//! was stopped: the damage is found and located, and ranges around it
//! still verify.

use lineage_e2e::events::credit_story;
use lineage_e2e::store::Store;
use lineage_e2e::{Lineaged, assert_log_broken_at, nats_with_events_stream, publish};
use lineage_proto::v1;

/// Flips the last byte of the log's first segment (the end of its last
/// record's payload) and returns that record's sequence.
fn flip_a_payload_byte(data_dir: &std::path::Path) -> u64 {
    let store = Store::open(data_dir);
    let mut first = store
        .segments()
        .into_iter()
        .next()
        .expect("a first segment");
    assert_eq!(first.first_seq, 1, "the first segment starts the log");
    let last = first
        .records
        .last_mut()
        .expect("a record in the first segment");
    *last.bytes.last_mut().expect("a payload") ^= 0x01;
    let damaged = last.seq;
    store.rewrite(&first);
    store.close();
    damaged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_byte_in_the_store_is_found_and_located() {
    let (nats, js) = nats_with_events_stream().await;
    let data = tempfile::tempdir().expect("data dir");
    let story = credit_story();
    let total = story.len() as u64;

    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    for event in &story {
        publish(&js, event).await;
    }
    let status = lineaged.wait_applied(total).await;
    let intact = lineaged.verify_log(0, 0).await;
    assert!(intact.ok, "{intact:?}");
    assert_eq!(intact.records_checked, total);
    assert_eq!(
        (intact.verified_seq, &intact.verified_hash),
        (total, &status.head_hash)
    );
    lineaged.stop().await;

    let damaged = flip_a_payload_byte(data.path());
    // The story fills more than one segment, so the damaged record has
    // records on both sides.
    assert!(
        damaged > 1 && damaged < total,
        "record {damaged} of {total}"
    );

    // It starts (from its snapshot) and serves; the damage is an answer.
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    lineaged.wait_applied(total).await;
    let found = lineaged.verify_log(0, 0).await;
    assert_log_broken_at(&found, damaged, "payload does not match its digest");
    // Ranges that leave it out hold; the one after it is anchored on the
    // damaged record's stored hash, which the damage did not change.
    let before = lineaged.verify_log(1, damaged - 1).await;
    assert!(before.ok, "{before:?}");
    let after = lineaged.verify_log(damaged + 1, 0).await;
    assert!(after.ok, "{after:?}");
    assert_eq!(after.records_checked, total - damaged);
    assert_eq!(after.verified_hash, status.head_hash);
    let backwards = lineaged
        .client()
        .await
        .verify_log(v1::VerifyLogRequest {
            from_seq: 5,
            to_seq: 2,
            ..Default::default()
        })
        .await
        .expect_err("a backwards range is refused");
    assert_eq!(backwards.code(), tonic::Code::InvalidArgument);
    lineaged.stop().await;
}
