//! Signed checkpoints against a real lineaged with a signing key: it signs
//! its durable head as the head moves and once more at shutdown, and
//! VerifyLog, GetStatus and Replay carry that evidence.
//!
//! These tests prove that the evidence is sound (each checkpoint verifies
//! under the public key alone, with ed25519 over the bytes service.proto
//! documents, not only through the service's code), that it is checked
//! against the key asked for, and that it catches the two kinds of damage
//! the hash chain alone cannot: a log cut short at its end, and a log
//! rewritten from some record to its end with every hash recomputed.
//!
//! The damage is done to the stopped service's store, as in tampering.rs,
//! with the harness's [`lineage_e2e::store`].

use std::path::PathBuf;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use lineage_e2e::events::credit_story;
use lineage_e2e::store::{Store, forge_actor};
use lineage_e2e::{
    Lineaged, NatsServer, assert_log_broken_at, nats_with_events_stream, publish, timestamp,
};
use lineage_proto::v1;
use lineage_proto::validate;

/// The seed of the service's signing key in every test.
const SEED: [u8; 32] = [7; 32];

/// The seed of a key that signed nothing here.
const OTHER_SEED: [u8; 32] = [8; 32];

/// The domain tag that starts the signed bytes (service.proto,
/// `SignedCheckpoint`).
const CHECKPOINT_TAG: &[u8; 24] = b"lineage-checkpoint-v1\0\0\0";

fn verifying_key(seed: &[u8; 32]) -> VerifyingKey {
    SigningKey::from_bytes(seed).verifying_key()
}

fn public_key_hex(seed: &[u8; 32]) -> String {
    hex::encode(verifying_key(seed).as_bytes())
}

/// A lineaged that signed checkpoints while it stored the credit story in
/// two parts, then stopped: a periodic tick signed the end of the first
/// part, the shutdown signed the head.
struct SignedStory {
    nats: NatsServer,
    data: tempfile::TempDir,
    /// Holds the key file, apart from the data dir.
    _key_dir: tempfile::TempDir,
    key_path: PathBuf,
    total: u64,
    /// The last record of the first part.
    first_part_end: u64,
    /// The head hash lineaged reported with the whole story stored.
    head_hash: String,
}

impl SignedStory {
    async fn record() -> Self {
        let (nats, js) = nats_with_events_stream().await;
        let data = tempfile::tempdir().expect("data dir");
        let key_dir = tempfile::tempdir().expect("key dir");
        let key_path = key_dir.path().join("signing.key");
        std::fs::write(&key_path, format!("{}\n", hex::encode(SEED))).expect("write the key file");
        let story = credit_story();
        let total = story.len() as u64;
        let (first_part, second_part) = story.split_at(story.len() / 2);
        let first_part_end = first_part.len() as u64;
        let mut recorded = Self {
            nats,
            data,
            _key_dir: key_dir,
            key_path,
            total,
            first_part_end,
            head_hash: String::new(),
        };

        let lineaged = recorded.start(true).await;
        for event in first_part {
            publish(&js, event).await;
        }
        lineaged.wait_applied(first_part_end).await;
        // The head rests here until a tick signs it.
        lineaged
            .wait_status("a checkpoint of the first part's end", |status| {
                status
                    .last_checkpoint
                    .as_ref()
                    .is_some_and(|checkpoint| checkpoint.seq == first_part_end)
            })
            .await;
        for event in second_part {
            publish(&js, event).await;
        }
        recorded.head_hash = lineaged.wait_applied(total).await.head_hash;
        lineaged.stop().await;
        recorded
    }

    /// Starts lineaged on the store, signing with the key (every second)
    /// or without any key.
    async fn start(&self, signing: bool) -> Lineaged {
        Lineaged::start(&self.nats.url(), self.data.path(), |config| {
            if signing {
                config.signing_key = Some(self.key_path.clone());
                config.checkpoint_every_secs = 1;
            }
        })
        .await
    }

    fn store(&self) -> Store {
        Store::open(self.data.path())
    }
}

/// Checks a checkpoint as whoever holds only the public key would: ed25519
/// over the bytes service.proto documents, and again through the code a
/// client uses.
fn assert_signed_by(checkpoint: &v1::SignedCheckpoint, key: &VerifyingKey) {
    assert_eq!(checkpoint.public_key, hex::encode(key.as_bytes()));
    let head_hash: [u8; 32] =
        validate::hex_bytes("head_hash", &checkpoint.head_hash).expect("a hex head hash");
    let signature: [u8; 64] =
        validate::hex_bytes("signature", &checkpoint.signature).expect("a hex signature");
    let signature = Signature::from_bytes(&signature);
    let signed_bytes = |seq: u64| {
        let mut bytes = CHECKPOINT_TAG.to_vec();
        bytes.extend(seq.to_be_bytes());
        bytes.extend(head_hash);
        bytes.extend(checkpoint.signed_at_unix_nanos.to_be_bytes());
        bytes
    };
    key.verify_strict(&signed_bytes(checkpoint.seq), &signature)
        .unwrap_or_else(|error| panic!("checkpoint of record {}: {error}", checkpoint.seq));
    // The signature covers the record it vouches for: moved, it is void.
    assert!(
        key.verify_strict(&signed_bytes(checkpoint.seq + 1), &signature)
            .is_err()
    );
    validate::signed_checkpoint("checkpoint", checkpoint)
        .expect("a well-formed checkpoint")
        .verify(key)
        .expect("verifies through lineage-core");
    assert_eq!(
        checkpoint.signed_at,
        Some(timestamp(checkpoint.signed_at_unix_nanos))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoints_of_an_intact_log_hold_and_verify_under_the_public_key() {
    let story = SignedStory::record().await;
    let total = story.total;
    let store = story.store();
    let checkpoints = store.checkpoint_seqs();
    store.close();
    // Ticks may also have signed heads while the second part came in.
    assert!(
        checkpoints.len() >= 2
            && checkpoints.contains(&story.first_part_end)
            && checkpoints.last() == Some(&total),
        "checkpoints of records {checkpoints:?}"
    );

    let lineaged = story.start(true).await;
    let status = lineaged.wait_applied(total).await;
    assert_eq!(status.head_hash, story.head_hash);
    let verified = lineaged.verify_log(0, 0).await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, total);
    assert_eq!(
        (verified.verified_seq, &verified.verified_hash),
        (total, &story.head_hash)
    );
    assert_eq!(verified.checkpoints_checked, checkpoints.len() as u64);
    assert_eq!(verified.last_checkpoint_seq, total);
    assert_eq!(verified.checkpoint_key, public_key_hex(&SEED));
    // The service's own key, given explicitly, is the same check.
    assert_eq!(
        lineaged
            .verify_log_with_key(0, 0, &public_key_hex(&SEED))
            .await,
        verified
    );

    let key = verifying_key(&SEED);
    let newest = status
        .last_checkpoint
        .expect("GetStatus reports the newest checkpoint");
    assert_eq!(newest.seq, total);
    assert_eq!(newest.head_hash, status.head_hash);
    assert_signed_by(&newest, &key);

    // Each record carries its own checkpoint, vouching for its hash.
    let records = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("Replay answers");
    assert_eq!(records.len() as u64, total);
    let mut carried = Vec::new();
    for record in &records {
        if let Some(checkpoint) = &record.checkpoint {
            assert_eq!(checkpoint.seq, record.seq);
            assert_eq!(checkpoint.head_hash, record.hash);
            assert_signed_by(checkpoint, &key);
            carried.push(record.seq);
        }
    }
    assert_eq!(carried, checkpoints);
    let head = records.last().expect("records");
    assert_eq!(head.seq, total);
    assert_eq!(head.checkpoint.as_ref(), Some(&newest));

    // Against a key that signed none of them, the first is not evidence,
    // though the chain itself holds.
    let first = checkpoints[0];
    let other = lineaged
        .verify_log_with_key(0, 0, &public_key_hex(&OTHER_SEED))
        .await;
    assert!(!other.ok);
    assert_eq!(other.first_bad_seq, first);
    assert_eq!(
        other.problem,
        format!("checkpoint of record {first}: the checkpoint was signed by another key")
    );
    assert_eq!(
        (other.checkpoints_checked, other.last_checkpoint_seq),
        (0, 0)
    );
    assert_eq!(other.checkpoint_key, public_key_hex(&OTHER_SEED));
    assert_eq!((other.records_checked, other.verified_seq), (total, total));

    let malformed_keys = [
        "not a key".to_owned(),
        "0707".to_owned(),
        "zz".repeat(32),
        "07".repeat(33),
    ];
    for malformed in malformed_keys {
        let refused = lineaged
            .client()
            .await
            .verify_log(v1::VerifyLogRequest {
                public_key: malformed.clone(),
                ..Default::default()
            })
            .await
            .expect_err("a malformed public key is refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{malformed}");
    }
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_short_at_its_end_is_found_by_the_checkpoint_past_it() {
    let story = SignedStory::record().await;
    let total = story.total;
    let store = story.store();
    let checkpoints = store.checkpoint_seqs();
    let segments = store.segments();
    let last = segments.last().expect("a stored segment");
    assert_eq!(last.end_seq(), total + 1);
    // The second part was appended apart from the first, and a batch never
    // shares a segment: the cut leaves the first part's checkpoint intact.
    let new_end = last.first_seq - 1;
    assert!(
        new_end >= story.first_part_end,
        "the last segment starts at record {}",
        last.first_seq
    );
    store.remove(last.first_seq);
    store.close();
    let (held, lost): (Vec<u64>, Vec<u64>) =
        checkpoints.iter().copied().partition(|&seq| seq <= new_end);
    let first_lost = lost[0];

    // No snapshot belongs to the shorter log, so lineaged replays it.
    let lineaged = story.start(true).await;
    let status = lineaged.wait_applied(new_end).await;
    assert_eq!(status.applied_seq, new_end);
    assert!(status.applied_seq < total);
    // It still reports a checkpoint of a record it no longer has.
    assert_eq!(
        status.last_checkpoint.map(|checkpoint| checkpoint.seq),
        Some(total)
    );

    let found = lineaged.verify_log(0, 0).await;
    // The chain alone holds to the new end; the record after it is missing.
    assert_log_broken_at(
        &found,
        new_end + 1,
        &format!(
            "the log ends at record {new_end}, but a signed checkpoint vouches for record \
             {first_lost}: records after {new_end} were lost"
        ),
    );
    assert_eq!(found.checkpoints_checked, held.len() as u64);
    assert_eq!(Some(&found.last_checkpoint_seq), held.last());
    assert_eq!(found.checkpoint_key, public_key_hex(&SEED));

    // A range that ends at the new end has only checkpoints that hold.
    let up_to_the_cut = lineaged.verify_log(1, new_end).await;
    assert!(up_to_the_cut.ok, "{up_to_the_cut:?}");
    assert_eq!(up_to_the_cut.checkpoints_checked, held.len() as u64);
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_rewritten_to_its_end_holds_as_a_chain_but_not_against_its_checkpoints() {
    let story = SignedStory::record().await;
    let total = story.total;
    let store = story.store();
    let checkpoints = store.checkpoint_seqs();
    // The last checkpoint before the head: the rewrite starts after it.
    let last_held = *checkpoints
        .iter()
        .rev()
        .find(|&&seq| seq < total)
        .expect("a checkpoint before the head");
    assert!(last_held >= story.first_part_end, "{checkpoints:?}");
    let forged_seq = last_held + 1;

    // A forgery a careful intruder would write: a valid event saying
    // someone else acted, its digests and hash recomputed, and the hash of
    // every later record too (segment headers included), so that the
    // chain holds to the end.
    let mut segments = store.segments();
    let field_secret = store.field_secret();
    let mut prev_hash = segments[0].prev_hash;
    for segment in &mut segments {
        let rewritten = segment.end_seq() > forged_seq;
        segment.prev_hash = prev_hash;
        for record in &mut segment.records {
            if record.seq == forged_seq {
                forge_actor(record, "mallory@lender.example", &field_secret);
            }
            if record.seq >= forged_seq {
                record.prev_hash = prev_hash;
                record.hash = record.computed_hash();
            }
            prev_hash = record.hash;
        }
        if rewritten {
            store.rewrite(segment);
        }
    }
    store.close();
    let forged_head = hex::encode(prev_hash);
    assert_ne!(forged_head, story.head_hash);

    let lineaged = story.start(true).await;
    let status = lineaged.wait_applied(total).await;
    assert_eq!(status.head_hash, forged_head);
    let found = lineaged.verify_log(0, 0).await;
    assert!(!found.ok);
    // No chain problem: every record holds, to the forged head.
    assert_eq!(found.records_checked, total);
    assert_eq!(
        (found.verified_seq, &found.verified_hash),
        (total, &forged_head)
    );
    assert_eq!(found.first_bad_seq, total);
    assert_eq!(
        found.problem,
        format!(
            "record {total}'s hash is not the one signed for it: the log was rewritten after \
             record {last_held}, the last checkpoint that held"
        )
    );
    assert_eq!(found.checkpoints_checked, checkpoints.len() as u64 - 1);
    assert_eq!(found.last_checkpoint_seq, last_held);
    lineaged.stop().await;

    // Without a key the chain alone cannot see the forgery; whoever holds
    // the public key still can.
    let keyless = story.start(false).await;
    keyless.wait_applied(total).await;
    let blind = keyless.verify_log(0, 0).await;
    assert!(blind.ok, "{blind:?}");
    assert_eq!(blind.records_checked, total);
    assert_eq!(blind.verified_hash, forged_head);
    assert_eq!(
        (blind.checkpoints_checked, blind.last_checkpoint_seq),
        (0, 0)
    );
    assert_eq!(blind.checkpoint_key, "");
    let with_key = keyless
        .verify_log_with_key(0, 0, &public_key_hex(&SEED))
        .await;
    assert_eq!(with_key, found);
    keyless.stop().await;
}
