//! `VerifyLog` against a real lineaged whose store was damaged while it
//! was stopped: the damage is found and located, and ranges around it
//! still verify.

use lineage_e2e::events::credit_story;
use lineage_e2e::store::Store;
use lineage_e2e::{Lineaged, assert_log_broken_at, nats_with_events_stream, publish};
use lineage_proto::v1;

/// Flips the last byte of the segment that ends at `seq` (the end of that
/// record's payload).
fn flip_a_payload_byte(data_dir: &std::path::Path, seq: u64) {
    let store = Store::open(data_dir);
    let mut segment = store
        .segments()
        .into_iter()
        .find(|segment| segment.end_seq() == seq + 1)
        .unwrap_or_else(|| panic!("a segment ending at record {seq}"));
    let last = segment.records.last_mut().expect("a record in the segment");
    *last.bytes.last_mut().expect("a payload") ^= 0x01;
    store.rewrite(&segment);
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_byte_in_the_store_is_found_and_located() {
    let (nats, js) = nats_with_events_stream().await;
    let data = tempfile::tempdir().expect("data dir");
    let story = credit_story();
    let total = story.len() as u64;

    // Published in two halves, each applied before the next, so that a
    // segment ends at the first half's last record, with records on both
    // sides of it. How the service batches otherwise is its own affair.
    let damaged = total / 2;
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    let (first_half, second_half) = story.split_at(damaged as usize);
    for event in first_half {
        publish(&js, event).await;
    }
    lineaged.wait_applied(damaged).await;
    for event in second_half {
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

    flip_a_payload_byte(data.path(), damaged);

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
