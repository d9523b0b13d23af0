//! `lineage replay`: the log's records as JSON lines and, with `--verify`,
//! the hash chain recomputed here from nothing but what the server sent.
//!
//! The check trusts no field the server computed: each record's payload
//! digest is recomputed from its original bytes, its content digest from
//! those bytes decoded, its hash from its fields with the chain's own code
//! (`lineage_core::chain`), and each link from the record before. A replay
//! from the first record is proven from the genesis hash; one from a later
//! record only as far as the hash it starts from is trusted, and the
//! summary says so.
//!
//! A redacted record has no original bytes (they held what was erased):
//! its payload digest cannot be checked, but the event left, with the
//! digests of the erased values and the salts of the kept ones, must still
//! commit to its content digest, which the chain covers; and when the
//! redaction it names is in the replay too, that must be a
//! `RedactionRequested` of the record's entity.
//!
//! With the service's public key, the signed checkpoints carried by the
//! records are checked too (signed by that key, vouching for the hash the
//! chain reached there), and so is the newest checkpoint the service
//! reports: a replay that ends before it has lost records the service
//! vouched for, which the chain alone cannot show.

use std::io::Write as _;

use std::collections::BTreeMap;

use lineage_core::EntityKey;
use lineage_core::chain::ChainCheck;
use lineage_core::event::Payload;
use lineage_proto::validate::{self, ReplayedLink};
use lineage_proto::{fields, v1};

/// What `--verify` found after the whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// The last record that held and its hash, as hex.
    pub head_seq: u64,
    pub head_hash: String,
    /// The record before the first, whose stored hash the check started
    /// from, when the replay did not start at the first record.
    pub anchored_on: Option<u64>,
    /// Signed checkpoints that held, and the record of the last; `None`
    /// when no key was given to check them with.
    pub checkpoints: Option<(u64, u64)>,
}

impl Verified {
    /// One line for standard error.
    pub fn summary(&self) -> String {
        let proven = match self.anchored_on {
            None => "from the first record".to_owned(),
            Some(seq) => {
                format!("from the hash stored for record {seq}, which this check takes on trust")
            }
        };
        let mut summary = format!(
            "verified {} records {proven}: head {} {}",
            self.records, self.head_seq, self.head_hash
        );
        match self.checkpoints {
            None => {}
            Some((0, _)) => summary.push_str(
                "; no signed checkpoint among them, so nothing proves the log was not cut short",
            ),
            Some((held, last)) => summary.push_str(&format!(
                "; signed checkpoints held: {held}, the last of record {last}"
            )),
        }
        summary
    }
}

/// A record that does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq}: {problem}")]
pub struct Broken {
    pub seq: u64,
    pub problem: String,
}

/// Checks replayed records one after another.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    chain: Option<ChainCheck>,
    anchored_on: Option<u64>,
    /// The key checkpoints must be signed by.
    trusted: Option<ed25519_dalek::VerifyingKey>,
    /// Checkpoints that held, and the record of the last.
    checkpoints: (u64, u64),
    /// The newest checkpoint the service reported: its record and hash.
    expected: Option<(u64, [u8; 32])>,
    /// Redactions named by redacted records and not yet seen: the record
    /// of each, and the entity it must be about (with the record that
    /// named it).
    redactions_due: BTreeMap<u64, (EntityKey, u64)>,
}

impl ChainVerifier {
    /// A verifier that also checks signed checkpoints against `trusted`.
    pub fn with_key(trusted: ed25519_dalek::VerifyingKey) -> Self {
        Self {
            trusted: Some(trusted),
            ..Self::default()
        }
    }

    /// Checks a checkpoint of record `seq` whose hash the chain reached as
    /// `hash`.
    fn check_checkpoint(
        &mut self,
        seq: u64,
        hash: &[u8; 32],
        wire: &v1::SignedCheckpoint,
    ) -> Result<(), Broken> {
        let Some(trusted) = &self.trusted else {
            return Ok(());
        };
        let broken = |problem: String| Broken { seq, problem };
        let signed = validate::signed_checkpoint("checkpoint", wire)
            .map_err(|error| broken(error.to_string()))?;
        if signed.checkpoint.seq != seq {
            return Err(broken(format!(
                "carries a checkpoint of record {}",
                signed.checkpoint.seq
            )));
        }
        signed
            .verify(trusted)
            .map_err(|error| broken(error.to_string()))?;
        if signed.checkpoint.head_hash != *hash {
            return Err(broken(
                "its hash is not the one signed for it in its checkpoint".to_owned(),
            ));
        }
        self.checkpoints = (self.checkpoints.0 + 1, seq);
        Ok(())
    }

    /// Takes the newest checkpoint the service reported before the replay
    /// started, checking its signature: the replay must reach its record
    /// and hold the hash it vouches for there ([`ChainVerifier::end`]).
    pub fn expect_checkpoint(&mut self, wire: &v1::SignedCheckpoint) -> Result<(), Broken> {
        let Some(trusted) = &self.trusted else {
            return Ok(());
        };
        let broken = |problem: String| Broken {
            seq: wire.seq,
            problem,
        };
        let signed = validate::signed_checkpoint("last_checkpoint", wire)
            .map_err(|error| broken(error.to_string()))?;
        signed
            .verify(trusted)
            .map_err(|error| broken(format!("the newest checkpoint: {error}")))?;
        self.expected = Some((signed.checkpoint.seq, signed.checkpoint.head_hash));
        Ok(())
    }

    /// Checks, once the stream has ended, that it reached the record of
    /// the checkpoint expected.
    pub fn end(&self) -> Result<(), Broken> {
        let Some((seq, _)) = self.expected else {
            return Ok(());
        };
        let reached = self.chain.map_or(0, |chain| chain.head().0);
        if reached < seq {
            return Err(Broken {
                seq: reached + 1,
                problem: format!(
                    "the service signed a checkpoint of record {seq}, but the replay ended at \
                     record {reached}: records it vouched for are missing"
                ),
            });
        }
        Ok(())
    }

    /// Checks the next record received.
    pub fn check(&mut self, record: &v1::LogRecord) -> Result<(), Broken> {
        let broken = |problem: String| Broken {
            seq: record.seq,
            problem,
        };
        let link = ReplayedLink::parse(record).map_err(|error| broken(error.to_string()))?;
        // Checked on a copy of the chain, kept only if the record holds in
        // every way: the summary's head is the last record that did.
        let (mut chain, anchored_on) = match self.chain {
            Some(chain) => (chain, self.anchored_on),
            None if record.seq <= 1 => (ChainCheck::from_genesis(), None),
            None => (
                ChainCheck::anchored(record.seq - 1, link.prev_hash),
                Some(record.seq - 1),
            ),
        };
        let event = match &record.redaction {
            None => {
                chain
                    .check(&link.chained(record))
                    .map_err(|problem| broken(problem.to_string()))?;
                let event = validate::decode_event(&record.original, link.encoding).map_err(
                    |rejection| broken(format!("original bytes do not decode: {rejection}")),
                )?;
                // The chain commits to the content digest; the bytes must be
                // the event it names, and the decoded event sent beside them
                // that event.
                let field_key: [u8; 32] = validate::hex_bytes("field_key", &record.field_key)
                    .map_err(|error| broken(error.to_string()))?;
                if fields::commitment(&event, &field_key) != link.content_digest {
                    return Err(broken(
                        "content digest does not match the original bytes".to_owned(),
                    ));
                }
                if record.event.as_ref() != Some(&event) {
                    return Err(broken(
                        "the decoded event sent is not the one the original bytes hold".to_owned(),
                    ));
                }
                event
            }
            Some(redaction) => {
                chain
                    .check_erased(&link.chained(record))
                    .map_err(|problem| broken(problem.to_string()))?;
                self.check_redacted(record, redaction, &link.content_digest)
                    .map_err(broken)?
            }
        };
        if let Some((entity, named_by)) = self.redactions_due.get(&record.seq) {
            let about = validate::validate_logged_event(&event)
                .ok()
                .and_then(|event| match event.payload {
                    Payload::RedactionRequested(asked) => Some(asked.entity),
                    _ => None,
                });
            if about.as_ref() != Some(entity) {
                return Err(broken(format!(
                    "record {named_by} was redacted by this record, which is not a redaction of {entity}"
                )));
            }
        }
        if let Some(checkpoint) = &record.checkpoint {
            self.check_checkpoint(record.seq, &link.hash, checkpoint)?;
        }
        if let Some((seq, signed_hash)) = self.expected
            && seq == record.seq
            && signed_hash != link.hash
        {
            return Err(broken(
                "its hash is not the one the service's newest checkpoint signed".to_owned(),
            ));
        }
        self.chain = Some(chain);
        self.anchored_on = anchored_on;
        self.redactions_due.remove(&record.seq);
        Ok(())
    }

    /// Checks what a redaction left of a record, and notes the redaction
    /// it names; returns the event left.
    fn check_redacted(
        &mut self,
        record: &v1::LogRecord,
        redaction: &v1::RecordRedaction,
        content_digest: &[u8; 32],
    ) -> Result<v1::Event, String> {
        if !record.original.is_empty() {
            return Err("a redacted record still carries bytes as received".to_owned());
        }
        let event = record
            .event
            .clone()
            .ok_or("a redacted record without the event it left")?;
        let hex_map = |field: &str, map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(path, hex)| {
                    validate::hex_bytes::<32>(&format!("{field}[{path}]"), hex)
                        .map(|bytes| (path.clone(), bytes))
                        .map_err(|error| error.to_string())
                })
                .collect::<Result<BTreeMap<String, [u8; 32]>, String>>()
        };
        let erased = hex_map("erased_digests", &redaction.erased_digests)?;
        let kept_salts = hex_map("kept_salts", &redaction.kept_salts)?;
        let committed =
            fields::redacted_commitment(&event, &erased, |path| kept_salts.get(path).copied())?;
        if committed != *content_digest {
            return Err("what the redaction left does not commit to the content digest".to_owned());
        }
        if redaction.redaction_seq <= record.seq {
            return Err(format!(
                "it names record {} as its redaction, which is not after it",
                redaction.redaction_seq
            ));
        }
        let subject = validate::validate_logged_event(&event)
            .map_err(|rejection| format!("the event left does not validate: {rejection}"))?
            .subject()
            .ok_or("the event left has no subject a redaction could name")?;
        self.redactions_due
            .entry(redaction.redaction_seq)
            .or_insert((subject, record.seq));
        Ok(event)
    }

    /// The outcome once the stream has ended.
    pub fn finish(&self) -> Verified {
        let (head_seq, head_hash, records) = match &self.chain {
            Some(chain) => {
                let (seq, hash) = chain.head();
                (seq, hex::encode(hash), chain.checked())
            }
            None => (0, String::new(), 0),
        };
        Verified {
            records,
            head_seq,
            head_hash,
            anchored_on: self.anchored_on,
            checkpoints: self.trusted.map(|_| self.checkpoints),
        }
    }
}

/// Where replayed records come from: the service, or a file of JSON lines
/// saved from it.
pub enum Records {
    Streamed(tonic::Streaming<v1::LogRecord>),
    Saved {
        lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
        line: u64,
    },
}

impl Records {
    pub fn saved(path: &std::path::Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|error| anyhow::anyhow!("opening {}: {error}", path.display()))?;
        Ok(Records::Saved {
            lines: std::io::BufRead::lines(std::io::BufReader::new(file)),
            line: 0,
        })
    }

    pub async fn next(&mut self) -> anyhow::Result<Option<v1::LogRecord>> {
        match self {
            Records::Streamed(stream) => Ok(stream.message().await?),
            Records::Saved { lines, line } => loop {
                let Some(text) = lines.next().transpose()? else {
                    return Ok(None);
                };
                *line += 1;
                if text.trim().is_empty() {
                    continue;
                }
                return serde_json::from_str(&text).map(Some).map_err(|error| {
                    anyhow::anyhow!("line {line}: not a lineage.v1.LogRecord: {error}")
                });
            },
        }
    }
}

/// Writes a new ed25519 signing key (its 32-byte seed, as 64 hex digits)
/// to `path`, readable by its owner only, and returns the public key as hex.
pub fn generate_key(path: &std::path::Path) -> anyhow::Result<String> {
    let seed = crate::access::random_secret()?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    crate::access::write_secret_file(path, &format!("{}\n", hex::encode(seed)))?;
    Ok(hex::encode(key.verifying_key().to_bytes()))
}

/// Whether an exported document carries a signature by `trusted` over its
/// exact bytes.
pub fn check_signature(
    answer: &v1::ExportProvResponse,
    trusted: &ed25519_dalek::VerifyingKey,
) -> Result<(), String> {
    if answer.signature.is_empty() {
        return Err("the document is not signed (the service has no signing key)".to_owned());
    }
    let signature: [u8; 64] =
        validate::hex_bytes("signature", &answer.signature).map_err(|error| error.to_string())?;
    if answer.public_key != hex::encode(trusted.to_bytes()) {
        return Err(format!(
            "the document was signed by {}, not by the key given",
            answer.public_key
        ));
    }
    trusted
        .verify_strict(
            answer.document.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| "the document's signature does not verify".to_owned())
}

/// Writes each record as one JSON line (the proto3 JSON mapping of
/// `LogRecord`). A closed pipe ends the output quietly.
pub struct JsonLines<W: std::io::Write> {
    out: std::io::BufWriter<W>,
    closed: bool,
}

impl<W: std::io::Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: std::io::BufWriter::new(out),
            closed: false,
        }
    }

    /// Whether the reader went away (nothing more needs writing).
    pub fn closed(&self) -> bool {
        self.closed
    }

    pub fn write(&mut self, record: &v1::LogRecord) -> anyhow::Result<()> {
        let line = serde_json::to_string(record)?;
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        self.handle(written)
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        let flushed = self.out.flush();
        self.handle(flushed)
    }

    fn handle(&mut self, result: std::io::Result<()>) -> anyhow::Result<()> {
        match result {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage_core::chain::{GENESIS_HASH, record_hash};
    use prost::Message as _;

    const FIELD_KEY: [u8; 32] = [9; 32];

    /// Records as a server would send them, chained from `prev`.
    fn records(first_seq: u64, count: u64, mut prev: [u8; 32]) -> Vec<v1::LogRecord> {
        (first_seq..first_seq + count)
            .map(|seq| {
                let event = v1::Event {
                    event_id: format!("e{seq}"),
                    workspace: "credit".into(),
                    ..Default::default()
                };
                let original = event.encode_to_vec();
                let payload = *blake3::hash(&original).as_bytes();
                let content = fields::commitment(&event, &FIELD_KEY);
                let key = format!("credit\0e{seq}").into_bytes();
                let hash = record_hash(&prev, seq, seq + 10, 1_000, 0, &key, &content, &payload);
                let record = v1::LogRecord {
                    seq,
                    stream_seq: seq + 10,
                    recorded_at_unix_nanos: 1_000,
                    encoding: v1::PayloadEncoding::Protobuf as i32,
                    key,
                    content_digest: hex::encode(content),
                    payload_digest: hex::encode(payload),
                    field_key: hex::encode(FIELD_KEY),
                    prev_hash: hex::encode(prev),
                    hash: hex::encode(hash),
                    event: Some(event),
                    original,
                    ..Default::default()
                };
                prev = hash;
                record
            })
            .collect()
    }

    fn verify(records: &[v1::LogRecord]) -> Result<Verified, Broken> {
        let mut verifier = ChainVerifier::default();
        for record in records {
            verifier.check(record)?;
        }
        Ok(verifier.finish())
    }

    #[test]
    fn an_intact_replay_verifies_from_the_first_record_or_says_what_it_trusts() {
        let all = records(1, 4, GENESIS_HASH);
        let verified = verify(&all).expect("intact");
        assert_eq!(
            (verified.records, verified.head_seq, verified.anchored_on),
            (4, 4, None)
        );
        assert_eq!(verified.head_hash, all[3].hash);
        let resumed = verify(&all[2..]).expect("intact");
        assert_eq!((resumed.records, resumed.anchored_on), (2, Some(2)));
        assert!(
            resumed.summary().contains("takes on trust"),
            "{}",
            resumed.summary()
        );
    }

    fn signed(seq: u64, hash: &str, key: &ed25519_dalek::SigningKey) -> v1::SignedCheckpoint {
        let mut head_hash = [0u8; 32];
        hex::decode_to_slice(hash, &mut head_hash).expect("hex");
        let signed = lineage_core::chain::Checkpoint {
            seq,
            head_hash,
            signed_at: 5,
        }
        .sign(key);
        lineage_proto::convert::signed_checkpoint(&signed)
    }

    #[test]
    fn signed_checkpoints_prove_the_end_of_the_log() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let mut all = records(1, 4, GENESIS_HASH);
        all[1].checkpoint = Some(signed(2, &all[1].hash, &key));
        let newest = signed(4, &all[3].hash, &key);

        let mut verifier = ChainVerifier::with_key(key.verifying_key());
        verifier
            .expect_checkpoint(&newest)
            .expect("signed by the key");
        for record in &all {
            verifier.check(record).expect("holds");
        }
        verifier.end().expect("reached the newest checkpoint");
        assert_eq!(verifier.finish().checkpoints, Some((1, 2)));
        assert!(
            verifier
                .finish()
                .summary()
                .ends_with("signed checkpoints held: 1, the last of record 2")
        );

        // Cut short after record 3: the chain holds, the checkpoint does not.
        let mut verifier = ChainVerifier::with_key(key.verifying_key());
        verifier
            .expect_checkpoint(&newest)
            .expect("signed by the key");
        for record in &all[..3] {
            verifier.check(record).expect("holds");
        }
        let cut = verifier.end().expect_err("cut short");
        assert_eq!(cut.seq, 4);
        assert!(
            cut.problem.contains("records it vouched for are missing"),
            "{cut}"
        );

        // Signed by another key: not evidence.
        let other = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let mut verifier = ChainVerifier::with_key(other.verifying_key());
        verifier.check(&all[0]).expect("holds");
        assert_eq!(
            verifier.check(&all[1]).expect_err("other key").problem,
            "the checkpoint was signed by another key"
        );

        // A checkpoint of another hash at that record.
        let mut moved = all.clone();
        moved[1].checkpoint = Some(signed(2, &all[2].hash, &key));
        let mut verifier = ChainVerifier::with_key(key.verifying_key());
        verifier.check(&moved[0]).expect("holds");
        assert_eq!(
            verifier.check(&moved[1]).expect_err("other hash").problem,
            "its hash is not the one signed for it in its checkpoint"
        );
    }

    #[test]
    fn an_export_verifies_only_unchanged_and_under_its_key() {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let document = r#"{"entity":{}}"#.to_owned();
        let answer = v1::ExportProvResponse {
            signature: hex::encode(key.sign(document.as_bytes()).to_bytes()),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            document,
            ..Default::default()
        };
        assert_eq!(check_signature(&answer, &key.verifying_key()), Ok(()));
        let changed = v1::ExportProvResponse {
            document: r#"{"entity":{"x":{}}}"#.to_owned(),
            ..answer.clone()
        };
        assert_eq!(
            check_signature(&changed, &key.verifying_key()),
            Err("the document's signature does not verify".to_owned())
        );
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        assert!(
            check_signature(&answer, &other.verifying_key())
                .expect_err("another key")
                .contains("not by the key given")
        );
        let unsigned = v1::ExportProvResponse {
            signature: String::new(),
            ..answer
        };
        assert!(check_signature(&unsigned, &key.verifying_key()).is_err());
    }

    #[test]
    fn every_field_the_server_could_alter_is_caught() {
        let all = records(1, 3, GENESIS_HASH);
        let problem = |change: &dyn Fn(&mut v1::LogRecord)| {
            let mut altered = all.clone();
            change(&mut altered[1]);
            verify(&altered).expect_err("altered")
        };
        let at_2 = |problem: &str| Broken {
            seq: 2,
            problem: problem.to_owned(),
        };
        assert_eq!(
            problem(&|r| r.original.push(0)),
            at_2("payload does not match its digest")
        );
        assert_eq!(
            problem(&|r| r.stream_seq += 1),
            at_2("hash does not match the record")
        );
        assert_eq!(
            problem(&|r| r.event.as_mut().expect("event").actor = "mallory".into()),
            at_2("the decoded event sent is not the one the original bytes hold")
        );
        assert_eq!(
            problem(&|r| r.hash = "zz".into()),
            at_2("hash: is not 64 hex digits")
        );
        // The summary's head is the last record that held in every way.
        let mut verifier = ChainVerifier::default();
        verifier.check(&all[0]).expect("holds");
        let mut lying = all[1].clone();
        lying.event.as_mut().expect("event").actor = "mallory".into();
        verifier.check(&lying).expect_err("the decoded event lies");
        let verified = verifier.finish();
        assert_eq!((verified.records, verified.head_seq), (1, 1));
        // A record left out is a gap where it was.
        let mut gap = all.clone();
        gap.remove(1);
        assert_eq!(
            verify(&gap).expect_err("gap"),
            Broken {
                seq: 3,
                problem: "sequence gap".into()
            }
        );
        // A record whose content digest names other bytes, hashed anew so
        // that only the digest check can tell.
        let mut forged = all.clone();
        let record = &mut forged[0];
        let other = *blake3::hash(b"other content").as_bytes();
        record.content_digest = hex::encode(other);
        let payload = *blake3::hash(&record.original).as_bytes();
        let hash = record_hash(
            &GENESIS_HASH,
            1,
            11,
            1_000,
            0,
            &record.key,
            &other,
            &payload,
        );
        record.hash = hex::encode(hash);
        assert_eq!(
            verify(&forged[..1]).expect_err("forged"),
            Broken {
                seq: 1,
                problem: "content digest does not match the original bytes".into()
            }
        );
    }

    /// A run started by Alice, then a redaction of the run's actor: the
    /// first record as the service replays it once redacted.
    fn redacted_story(redaction_of: &str) -> Vec<v1::LogRecord> {
        use lineage_core::redaction::{field_digest, field_salt};
        use v1::event::Payload;
        let at = |minute: i64| pbjson_types::Timestamp {
            seconds: 1_772_323_200 + minute * 60,
            nanos: 0,
        };
        let started = v1::Event {
            event_id: "r1-start".into(),
            workspace: "credit".into(),
            occurred_at: Some(at(0)),
            producer: "test".into(),
            actor: "alice@lender.example".into(),
            payload: Some(Payload::RunStarted(v1::RunStarted {
                run_id: "r-1".into(),
                tags: [("team".to_owned(), "risk".to_owned())].into(),
                ..Default::default()
            })),
        };
        let redaction = v1::Event {
            event_id: "redact-1".into(),
            workspace: "credit".into(),
            occurred_at: Some(at(1)),
            producer: "test".into(),
            actor: "dpo@lender.example".into(),
            payload: Some(Payload::RedactionRequested(v1::RedactionRequested {
                entity: Some(v1::EntityRef {
                    workspace: "credit".into(),
                    kind: v1::EntityKind::Run as i32,
                    name: redaction_of.into(),
                    version: String::new(),
                }),
                fields: vec!["actor".into()],
                reason: "GDPR".into(),
            })),
        };
        let mut prev = GENESIS_HASH;
        let mut records = Vec::new();
        for (seq, event) in [(1u64, started), (2, redaction)] {
            let original = event.encode_to_vec();
            let payload = *blake3::hash(&original).as_bytes();
            let content = fields::commitment(&event, &FIELD_KEY);
            let key = format!("credit\0{}", event.event_id).into_bytes();
            let hash = record_hash(&prev, seq, seq, 1_000, 0, &key, &content, &payload);
            records.push(v1::LogRecord {
                seq,
                stream_seq: seq,
                recorded_at_unix_nanos: 1_000,
                encoding: v1::PayloadEncoding::Protobuf as i32,
                key,
                content_digest: hex::encode(content),
                payload_digest: hex::encode(payload),
                prev_hash: hex::encode(prev),
                hash: hex::encode(hash),
                event: Some(event),
                original,
                field_key: hex::encode(FIELD_KEY),
                ..Default::default()
            });
            prev = hash;
        }
        let first = &mut records[0];
        let salt = |path: &str| hex::encode(field_salt(&FIELD_KEY, path));
        let erased = field_digest(&field_salt(&FIELD_KEY, "actor"), "alice@lender.example");
        first.event.as_mut().expect("event").actor.clear();
        first.original.clear();
        first.field_key.clear();
        first.redaction = Some(v1::RecordRedaction {
            redaction_seq: 2,
            erased_digests: [("actor".to_owned(), hex::encode(erased))].into(),
            kept_salts: [("tags.team".to_owned(), salt("tags.team"))].into(),
        });
        records
    }

    #[test]
    fn a_redacted_record_verifies_and_what_it_left_cannot_be_changed() {
        let story = redacted_story("r-1");
        assert_eq!(verify(&story).expect("holds").records, 2);
        let problem = |change: &dyn Fn(&mut v1::LogRecord)| {
            let mut altered = story.clone();
            change(&mut altered[0]);
            verify(&altered).expect_err("altered").problem
        };
        let redaction = |r: &mut v1::LogRecord| r.redaction.as_mut().expect("redacted").clone();
        assert_eq!(
            problem(&|r| r.event.as_mut().expect("event").actor = "mallory".into()),
            "field actor is said to be erased but has a value"
        );
        assert_eq!(
            problem(&|r| {
                if let Some(v1::event::Payload::RunStarted(started)) =
                    &mut r.event.as_mut().expect("event").payload
                {
                    started.tags.insert("team".into(), "fraud".into());
                }
            }),
            "what the redaction left does not commit to the content digest"
        );
        assert_eq!(
            problem(&|r| r.original = b"alice".to_vec()),
            "a redacted record still carries bytes as received"
        );
        assert_eq!(
            problem(&|r| {
                let mut changed = redaction(r);
                changed.kept_salts.clear();
                r.redaction = Some(changed);
            }),
            "no salt for the kept field tags.team"
        );
        assert_eq!(
            problem(&|r| {
                let mut changed = redaction(r);
                changed.redaction_seq = 1;
                r.redaction = Some(changed);
            }),
            "it names record 1 as its redaction, which is not after it"
        );
        // The redaction it names must be one of its entity.
        assert_eq!(
            verify(&redacted_story("r-2")).expect_err("another run's redaction"),
            Broken {
                seq: 2,
                problem:
                    "record 1 was redacted by this record, which is not a redaction of run:r-1"
                        .into()
            }
        );
    }
}
