//! Every reject reason lands in the dead-letter stream with its original
//! bytes and headers, while the valid events around it are applied, and
//! exact duplicates are acknowledged and counted instead.

use std::collections::BTreeMap;

use async_nats::jetstream;
use lineage_e2e::events::{event, map, registered, run_finished, run_started};
use lineage_e2e::{
    Lineaged, NatsServer, entity, publish, publish_raw, publish_with_msg_id, read_dead_letters,
};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use prost::Message as _;

fn headers(msg_id: &str, content_type: Option<&str>) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    if let Some(content_type) = content_type {
        headers.insert("Content-Type", content_type);
    }
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reject_reason_is_dead_lettered_and_valid_events_still_apply() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.max_event_bytes = 4096;
    })
    .await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let subject = "lineage.events.w";

    let valid = |n: usize| {
        event(
            &format!("ok-{n}"),
            "w",
            n as i64,
            run_started(&format!("r{n}"), "", &[]),
        )
    };
    let mut expected: BTreeMap<&str, Vec<u8>> = BTreeMap::new();

    publish(&js, &valid(1)).await;

    let garbage = vec![0xff, 0xfe, 0x00, 0x13, 0x37];
    publish_raw(&js, subject, headers("bad-1", None), garbage.clone()).await;
    expected.insert("undecodable", garbage);

    publish(&js, &valid(2)).await;

    let mut no_time = valid(100);
    no_time.event_id = "bad-2".into();
    no_time.occurred_at = None;
    publish_raw(
        &js,
        subject,
        headers("bad-2", None),
        no_time.encode_to_vec(),
    )
    .await;
    expected.insert("missing_field", no_time.encode_to_vec());

    let bad_id = event("bad-3", "w", 3, run_started("run with spaces", "", &[]));
    let bad_id_json = serde_json::to_vec(&bad_id).expect("serialize");
    publish_raw(
        &js,
        subject,
        headers("bad-3", Some("application/json")),
        bad_id_json.clone(),
    )
    .await;
    expected.insert("invalid_identifier", bad_id_json);

    let mut empty = valid(101);
    empty.event_id = "bad-4".into();
    empty.payload = None;
    publish_raw(&js, subject, headers("bad-4", None), empty.encode_to_vec()).await;
    expected.insert("empty_payload", empty.encode_to_vec());

    let elsewhere = event("bad-5", "other-team", 5, run_finished("r1"));
    publish_raw(
        &js,
        subject,
        headers("bad-5", None),
        elsewhere.encode_to_vec(),
    )
    .await;
    expected.insert("workspace_mismatch", elsewhere.encode_to_vec());

    let orphan = event("bad-6", "w", 6, registered("credit-risk", "9", "", ""));
    publish_raw(&js, subject, headers("bad-6", None), orphan.encode_to_vec()).await;
    expected.insert("model_without_source_run", orphan.encode_to_vec());

    let big = event(
        "bad-7",
        "w",
        7,
        Payload::ParamsLogged(v1::ParamsLogged {
            run_id: "r1".into(),
            params: map(&[("blob", &"x".repeat(6000))]),
        }),
    );
    publish_raw(&js, subject, headers("bad-7", None), big.encode_to_vec()).await;
    expected.insert("oversize", big.encode_to_vec());

    publish(&js, &valid(3)).await;

    // The same event id with other content, under another Nats-Msg-Id so
    // that JetStream's own window does not hide it: the first one stands.
    let mut conflicting = valid(3);
    conflicting.payload = Some(run_started("r-other", "", &[]));
    publish_with_msg_id(&js, &conflicting, "conflict-1").await;
    expected.insert("conflicting_duplicate", conflicting.encode_to_vec());

    // An exact duplicate is acknowledged and counted, not dead-lettered.
    publish_with_msg_id(&js, &valid(2), "dup-1").await;
    // JSON that does not parse.
    publish_raw(
        &js,
        subject,
        headers("bad-8", Some("application/json")),
        b"{\"event_id\": ".to_vec(),
    )
    .await;

    publish(&js, &valid(4)).await;

    let status = lineaged
        .wait_status("every message handled", |s| {
            s.applied_seq >= 4 && s.dead_lettered >= 9
        })
        .await;
    assert_eq!(
        status.applied_seq, 4,
        "exactly the valid events were stored"
    );
    assert_eq!(status.dead_lettered, 9);
    assert_eq!(status.duplicates, 1);

    let letters = read_dead_letters(&js, 9).await;
    assert_eq!(letters.len(), 9);
    let mut reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "conflicting_duplicate",
            "empty_payload",
            "invalid_identifier",
            "missing_field",
            "model_without_source_run",
            "oversize",
            "undecodable",
            "undecodable",
            "workspace_mismatch",
        ]
    );
    for letter in &letters {
        assert_eq!(letter.subject, "lineage.dlq.w");
        assert_eq!(letter.original_subject, subject);
        assert!(letter.original_stream_seq > 0);
        assert!(!letter.detail.is_empty(), "{letter:?}");
        if let Some(bytes) = expected.get(letter.reason.as_str())
            && letter.reason != "undecodable"
        {
            assert_eq!(
                &letter.payload, bytes,
                "original bytes kept for {}",
                letter.reason
            );
        }
    }
    let detail_of = |reason: &str| {
        letters
            .iter()
            .find(|l| l.reason == reason)
            .map(|l| l.detail.clone())
            .unwrap_or_default()
    };
    assert!(detail_of("missing_field").contains("occurred_at"));
    assert!(detail_of("invalid_identifier").contains("run_started.run_id"));
    assert!(detail_of("model_without_source_run").contains("source_run_id"));

    // The first content under the id stands.
    let mut client = lineaged.client().await;
    let first = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity("w", v1::EntityKind::Run, "r3", "")),
            ..Default::default()
        })
        .await;
    assert!(first.is_ok());
    let second = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity("w", v1::EntityKind::Run, "r-other", "")),
            ..Default::default()
        })
        .await
        .expect_err("the conflicting content was not applied");
    assert_eq!(second.code(), tonic::Code::NotFound);

    lineaged.stop().await;
}
