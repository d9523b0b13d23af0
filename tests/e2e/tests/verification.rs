//! `VerifyLog` against a real lineaged whose store was damaged while it
//! was stopped: the damage is found and located, and ranges around it
//! still verify.

use async_nats::jetstream;
use lineage_e2e::events::credit_story;
use lineage_e2e::{Lineaged, NatsServer, publish};
use lineage_proto::v1;

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

/// Flips the last byte of the log's first segment (the end of its last
/// record's payload) and returns that record's sequence.
fn flip_a_payload_byte(data_dir: &std::path::Path) -> u64 {
    let db = sled::open(data_dir).expect("the stopped service's store opens");
    let segments = db.open_tree("segments").expect("segments");
    let first = 1u64.to_be_bytes();
    let mut segment = segments
        .get(first)
        .expect("read")
        .expect("a first segment")
        .to_vec();
    // Layout: format u8, record count u32 (big-endian), ...
    let count = u32::from_be_bytes(segment[1..5].try_into().expect("4 bytes"));
    let last = segment.len() - 1;
    segment[last] ^= 0x01;
    segments.insert(first, segment).expect("write");
    db.flush().expect("flush");
    u64::from(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_byte_in_the_store_is_found_and_located() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let story = credit_story();
    let total = story.len() as u64;

    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    for event in &story {
        publish(&js, event).await;
    }
    let status = lineaged.wait_applied(total).await;
    let intact = verify(&lineaged, 0, 0).await;
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
    let found = verify(&lineaged, 0, 0).await;
    assert!(!found.ok);
    assert_eq!(found.first_bad_seq, damaged);
    assert_eq!(found.problem, "payload does not match its digest");
    assert_eq!(found.records_checked, damaged - 1);
    assert_eq!(found.verified_seq, damaged - 1);
    // Ranges that leave it out hold; the one after it is anchored on the
    // damaged record's stored hash, which the damage did not change.
    let before = verify(&lineaged, 1, damaged - 1).await;
    assert!(before.ok, "{before:?}");
    let after = verify(&lineaged, damaged + 1, 0).await;
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
