//! Erasure that keeps lineage, against a real nats-server and lineaged: a
//! `RedactionRequested` erases an entity's personal fields from what
//! queries, replays and the stream return, the lineage stays, the log still
//! verifies (by the service and by a client recomputing the chain from the
//! replay alone), a restart rebuilds the same graph from the erased log, and
//! a retry of an erased event is still a duplicate.

use std::collections::BTreeMap;

use lineage_core::chain::ChainCheck;
use lineage_e2e::events::{
    artifact, dataset, event, inputs, map, registered, run_finished, run_started,
};
use lineage_e2e::{
    Lineaged, entity, nats_with_events_stream, publish, publish_json, publish_with_msg_id,
    read_dead_letters,
};
use lineage_proto::v1::event::Payload;
use lineage_proto::{fields, v1, validate};
use prost::Message as _;

const WS: &str = "credit";
/// What the redaction erases: run r-1's owner, its owner tag and its error.
const ERASED: &str = "alice@lender.example";
const ERROR_TEXT: &str = "Alice's notebook ran out of memory";
/// Another person's data, about another run: kept.
const KEPT: &str = "dave@lender.example";

fn by(actor: &str, mut event: v1::Event) -> v1::Event {
    event.actor = actor.into();
    event
}

fn with_tags(mut event: v1::Event, tags: &[(&str, &str)]) -> v1::Event {
    if let Some(Payload::RunStarted(started)) = &mut event.payload {
        started.tags = map(tags);
    }
    event
}

fn failed(run_id: &str, error: &str) -> Payload {
    Payload::RunFinished(v1::RunFinished {
        run_id: run_id.into(),
        status: v1::RunStatus::Failed as i32,
        error: error.into(),
    })
}

fn run_ref(run_id: &str) -> v1::EntityRef {
    entity(WS, v1::EntityKind::Run, run_id, "")
}

fn redaction(id: &str, minute: i64, run_id: &str, fields: &[&str]) -> v1::Event {
    by(
        "dpo@lender.example",
        event(
            id,
            WS,
            minute,
            Payload::RedactionRequested(v1::RedactionRequested {
                entity: Some(run_ref(run_id)),
                fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                reason: "GDPR erasure request #42".into(),
            }),
        ),
    )
}

/// Events before the redaction: r-1 (Alice's, to be redacted) and r-2
/// (Dave's), a dataset both read, and a model registered from r-1.
fn history() -> Vec<(v1::Event, bool)> {
    let json = true;
    vec![
        (
            by(
                "etl",
                event("d-1", WS, 0, dataset("applications", "3", &[], "")),
            ),
            !json,
        ),
        (
            by(
                ERASED,
                with_tags(
                    event("r1-start", WS, 1, run_started("r-1", "", &[("lr", "0.1")])),
                    &[("owner", ERASED), ("team", "credit-risk")],
                ),
            ),
            !json,
        ),
        (
            by(
                ERASED,
                event("r1-in", WS, 2, inputs("r-1", &[("applications", "3")])),
            ),
            json,
        ),
        // About the artifact, not the run: a redaction of r-1 leaves it.
        (
            by(
                "ci-pipeline",
                event("r1-model", WS, 3, artifact("r-1", "model.pkl")),
            ),
            !json,
        ),
        (
            by(ERASED, event("r1-end", WS, 4, failed("r-1", ERROR_TEXT))),
            json,
        ),
        (
            by(
                KEPT,
                with_tags(
                    event("r2-start", WS, 5, run_started("r-2", "", &[("lr", "0.2")])),
                    &[("owner", KEPT)],
                ),
            ),
            !json,
        ),
        (
            by(
                KEPT,
                event("r2-in", WS, 6, inputs("r-2", &[("applications", "3")])),
            ),
            !json,
        ),
        (by(KEPT, event("r2-end", WS, 7, run_finished("r-2"))), !json),
        (
            by(
                "registry",
                event(
                    "m-1",
                    WS,
                    8,
                    registered("credit-risk", "7", "r-1", "model.pkl"),
                ),
            ),
            !json,
        ),
    ]
}

async fn run_entity(lineaged: &Lineaged, run_id: &str) -> v1::Entity {
    lineaged
        .client()
        .await
        .get_entity(v1::GetEntityRequest {
            entity: Some(run_ref(run_id)),
            ..Default::default()
        })
        .await
        .expect("the run is known")
        .into_inner()
}

fn run_details(entity: &v1::Entity) -> &v1::RunDetails {
    match &entity.details {
        Some(v1::entity::Details::Run(run)) => run,
        other => panic!("not a run: {other:?}"),
    }
}

/// Whether `needle` occurs anywhere in `bytes`.
fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Checks a replay as a client with nothing but the records would: every
/// record in the chain, each content digest recomputed (from the original
/// bytes and the field key, or, for a redacted record, from the event left,
/// the erased values' digests and the kept fields' salts). Returns the
/// sequences of the redacted records.
fn check_replay(records: &[v1::LogRecord]) -> Vec<u64> {
    let unhex = |hex: &str| -> [u8; 32] {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).expect("64 hex digits");
        bytes
    };
    let mut chain = ChainCheck::from_genesis();
    let mut redacted = Vec::new();
    for record in records {
        let link = validate::ReplayedLink::parse(record).expect("a well-formed record");
        let chained = link.chained(record);
        let content = link.content_digest;
        let event = record.event.as_ref().expect("each record's event");
        match &record.redaction {
            None => {
                chain
                    .check(&chained)
                    .unwrap_or_else(|e| panic!("record {}: {e}", record.seq));
                assert_eq!(
                    fields::commitment(event, &unhex(&record.field_key)),
                    content,
                    "record {}'s content digest",
                    record.seq
                );
            }
            Some(redaction) => {
                chain
                    .check_erased(&chained)
                    .unwrap_or_else(|e| panic!("record {}: {e}", record.seq));
                assert!(record.original.is_empty() && record.field_key.is_empty());
                let hex_map = |map: &BTreeMap<String, String>| -> BTreeMap<String, [u8; 32]> {
                    map.iter().map(|(k, v)| (k.clone(), unhex(v))).collect()
                };
                let erased = hex_map(&redaction.erased_digests);
                let salts = hex_map(&redaction.kept_salts);
                assert_eq!(
                    fields::redacted_commitment(event, &erased, |path| salts.get(path).copied()),
                    Ok(content),
                    "record {}: what the redaction left commits to the content digest",
                    record.seq
                );
                redacted.push(record.seq);
            }
        }
    }
    redacted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_erases_personal_fields_and_keeps_lineage_and_the_chain() {
    let (nats, js) = nats_with_events_stream().await;
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        // Snapshots before the redaction hold what it erases.
        config.snapshot_every = 3;
    })
    .await;

    let history = history();
    for (event, json) in &history {
        if *json {
            publish_json(&js, event).await;
        } else {
            publish(&js, event).await;
        }
    }
    let before = history.len() as u64;
    lineaged.wait_applied(before).await;
    let owner_before = run_details(&run_entity(&lineaged, "r-1").await)
        .owner
        .clone();
    assert_eq!(owner_before, ERASED);

    // A request naming no personal field is dead-lettered, saying why.
    publish(&js, &redaction("bad-redaction", 9, "r-1", &["owner"])).await;
    let dead = read_dead_letters(&js, 1).await;
    assert!(dead[0].detail.contains("tags.<key>"), "{dead:?}");

    let redaction_seq = before + 1;
    publish(
        &js,
        &redaction("redact-1", 10, "r-1", &["actor", "tags.owner", "error"]),
    )
    .await;
    // A later fact about r-1 is not erased.
    let later = by(
        "carol@lender.example",
        event(
            "r1-retag",
            WS,
            11,
            Payload::TagsSet(v1::TagsSet {
                entity: Some(run_ref("r-1")),
                tags: map(&[("reviewer", "carol@lender.example")]),
            }),
        ),
    );
    publish(&js, &later).await;
    let total = redaction_seq + 1;
    lineaged.wait_applied(total).await;
    // The erasures follow the redaction's batch.
    lineaged
        .wait_status("the redaction carried out", |status| {
            status.redactions_pending == 0
        })
        .await;
    let records = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("a replay");

    // Queries: r-1's personal fields are gone, the redaction is listed, and
    // everything else (lineage included) stays.
    let r1 = run_entity(&lineaged, "r-1").await;
    let run = run_details(&r1);
    assert_eq!(run.owner, "");
    assert_eq!(run.error, "");
    assert_eq!(run.status, v1::RunStatus::Failed as i32);
    assert_eq!(r1.tags.get("owner").map(String::as_str), Some(""));
    assert_eq!(r1.tags["team"], "credit-risk");
    assert_eq!(r1.tags["reviewer"], "carol@lender.example");
    assert_eq!(run.params["lr"], "0.1");
    assert_eq!(run.input_datasets.len(), 1);
    assert_eq!(r1.redactions.len(), 1);
    let asked = &r1.redactions[0];
    assert_eq!(asked.fields, vec!["actor", "error", "tags.owner"]);
    assert_eq!(asked.reason, "GDPR erasure request #42");
    assert_eq!(asked.requested_by, "dpo@lender.example");
    assert_eq!(
        (asked.seq, asked.event_id.as_str()),
        (redaction_seq, "redact-1")
    );
    let r2 = run_entity(&lineaged, "r-2").await;
    assert_eq!(run_details(&r2).owner, KEPT);
    assert!(r2.redactions.is_empty());
    let provenance = lineaged
        .client()
        .await
        .provenance(v1::TraversalRequest {
            root: Some(entity(WS, v1::EntityKind::ModelVersion, "credit-risk", "7")),
            ..Default::default()
        })
        .await
        .expect("provenance")
        .into_inner();
    let names: Vec<&str> = provenance
        .nodes
        .iter()
        .filter_map(|node| node.r#ref.as_ref().map(|r| r.name.as_str()))
        .collect();
    assert!(
        names.contains(&"r-1") && names.contains(&"applications"),
        "lineage stays: {names:?}"
    );

    // Replays: nothing of the erased values, anywhere; each of r-1's
    // earlier records says what was erased and by which redaction; the
    // chain and every content digest still check.
    for record in &records {
        assert!(
            !contains(&record.encode_to_vec(), ERASED)
                && !contains(&record.encode_to_vec(), ERROR_TEXT),
            "record {} still holds erased data",
            record.seq
        );
    }
    assert!(
        records.iter().any(|r| contains(&r.encode_to_vec(), KEPT)),
        "Dave's data, about another run, stays"
    );
    let redacted = check_replay(&records);
    // r1-start, r1-in, r1-end: the records r-1 is the subject of.
    assert_eq!(redacted, vec![2, 3, 5]);
    for seq in &redacted {
        let record = &records[*seq as usize - 1];
        let redaction = record.redaction.as_ref().expect("redacted");
        assert_eq!(redaction.redaction_seq, redaction_seq);
        assert!(
            redaction.erased_digests.contains_key("actor"),
            "record {seq}: {redaction:?}"
        );
    }
    assert_eq!(
        records[4]
            .redaction
            .as_ref()
            .expect("r1-end")
            .erased_digests
            .len(),
        2,
        "r1-end: its actor and its error"
    );

    // The service's own verification agrees.
    let verified = lineaged.verify_log(0, 0).await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, total);

    // The stream no longer holds the erased messages.
    let stream = js.get_stream("LINEAGE_EVENTS").await.expect("the stream");
    for seq in &redacted {
        let stream_seq = records[*seq as usize - 1].stream_seq;
        assert!(
            stream.get_raw_message(stream_seq).await.is_err(),
            "stream message {stream_seq} (record {seq}) was erased"
        );
    }

    // Snapshots written before the redaction are gone; none holds it.
    let snapshots = data.path().join("graph-snapshots");
    for file in std::fs::read_dir(&snapshots).expect("snapshot dir") {
        let path = file.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read a snapshot");
        assert!(
            !contains(&bytes, ERASED),
            "{} holds erased data",
            path.display()
        );
    }

    // A retry of an erased event is still the same event: a duplicate, not
    // a conflict, and not applied again.
    let status = lineaged.status_with_digest().await;
    publish_with_msg_id(&js, &history[1].0, "r1-start-retry").await;
    let retried = lineaged
        .wait_status("the retry counted as a duplicate", |s| {
            s.duplicates > status.duplicates
        })
        .await;
    assert_eq!(retried.dead_lettered, status.dead_lettered);
    assert_eq!(run_details(&run_entity(&lineaged, "r-1").await).owner, "");

    // A restart rebuilds the same graph from the erased log (from no
    // snapshot, then from the one taken at shutdown).
    let digest = lineaged.status_with_digest().await.state_digest;
    lineaged.stop().await;
    for file in std::fs::read_dir(&snapshots).expect("snapshot dir") {
        std::fs::remove_file(file.expect("entry").path()).expect("remove a snapshot");
    }
    for _ in 0..2 {
        let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
        lineaged.wait_applied(total).await;
        assert_eq!(lineaged.status_with_digest().await.state_digest, digest);
        assert_eq!(run_details(&run_entity(&lineaged, "r-1").await).owner, "");
        assert!(lineaged.verify_log(0, 0).await.ok);
        lineaged.stop().await;
    }

    // A redaction a crash left pending is carried out at the next start;
    // carrying it out again changes nothing.
    let store = lineage_e2e::store::Store::open(data.path());
    store.mark_redaction_pending(redaction_seq);
    store.close();
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    lineaged.wait_applied(total).await;
    lineaged
        .wait_status("the pending redaction carried out", |status| {
            status.redactions_pending == 0
        })
        .await;
    assert_eq!(lineaged.status_with_digest().await.state_digest, digest);
    let again = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("a replay");
    assert_eq!(check_replay(&again), redacted);
    assert_eq!(again, records, "nothing changed");
    assert!(lineaged.verify_log(0, 0).await.ok);
    lineaged.stop().await;
}
