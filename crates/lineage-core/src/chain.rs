//! The log's hash chain: how a record's hash is computed and how a run of
//! records is checked against it.
//!
//! It lives here, not in the log, because it is the contract between the
//! service that writes the chain and anyone who checks it: `lineage replay
//! --verify` recomputes it from nothing but the bytes a replay sent, with
//! the same code the service's own verification runs.
//!
//! A record's hash covers the previous hash and digests of the record's
//! content (not the raw bytes), so a redaction can replace a payload
//! without breaking the chain (see [`crate::redaction`]).

/// The hash before the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The hash of a record, from its fields and the previous hash.
#[allow(clippy::too_many_arguments)] // Each field is hashed; a struct would only rename them.
pub fn record_hash(
    prev_hash: &[u8; 32],
    seq: u64,
    stream_seq: u64,
    recorded_at: i64,
    encoding: u8,
    key: &[u8],
    content_digest: &[u8; 32],
    payload_digest: &[u8; 32],
) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"lineage-log-v2");
    hasher.update(prev_hash);
    hasher.update(&seq.to_be_bytes());
    hasher.update(&stream_seq.to_be_bytes());
    hasher.update(&recorded_at.to_be_bytes());
    hasher.update(&[encoding]);
    hasher.update(&(key.len() as u64).to_be_bytes());
    hasher.update(key);
    hasher.update(content_digest);
    hasher.update(payload_digest);
    *hasher.finalize().as_bytes()
}

/// The fields of one record that the chain commits to, borrowed from
/// wherever the record was read (a log segment, a replayed message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainedRecord<'a> {
    pub seq: u64,
    pub stream_seq: u64,
    /// When the log stored it, Unix nanoseconds.
    pub recorded_at: i64,
    pub encoding: u8,
    pub key: &'a [u8],
    pub content_digest: &'a [u8; 32],
    pub payload_digest: &'a [u8; 32],
    pub prev_hash: &'a [u8; 32],
    pub hash: &'a [u8; 32],
    /// The payload as received.
    pub bytes: &'a [u8],
}

impl ChainedRecord<'_> {
    /// Recomputes the record's hash from its fields and its previous hash.
    pub fn computed_hash(&self) -> [u8; 32] {
        record_hash(
            self.prev_hash,
            self.seq,
            self.stream_seq,
            self.recorded_at,
            self.encoding,
            self.key,
            self.content_digest,
            self.payload_digest,
        )
    }
}

/// Why a record does not hold in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// It is not the record after the last one checked.
    #[error("sequence gap")]
    SequenceGap,
    #[error("previous hash does not match the chain")]
    PreviousHash,
    #[error("hash does not match the record")]
    Hash,
    #[error("payload does not match its digest")]
    Payload,
}

impl ChainBreak {
    /// The problem as the log's verification reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainBreak::SequenceGap => "sequence gap",
            ChainBreak::PreviousHash => "previous hash does not match the chain",
            ChainBreak::Hash => "hash does not match the record",
            ChainBreak::Payload => "payload does not match its digest",
        }
    }
}

/// Checks records one after another against the chain, from the first
/// record or from a known record before the first to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainCheck {
    seq: u64,
    hash: [u8; 32],
    checked: u64,
}

impl ChainCheck {
    /// Checks from the first record of a log.
    pub fn from_genesis() -> Self {
        Self::anchored(0, GENESIS_HASH)
    }

    /// Checks from the record after `seq`, whose hash is `hash`: what is
    /// checked is proven only as far as that hash is trusted.
    pub fn anchored(seq: u64, hash: [u8; 32]) -> Self {
        Self {
            seq,
            hash,
            checked: 0,
        }
    }

    /// Checks the next record and, if it holds, moves the head to it. A
    /// record that does not hold leaves the head where it was.
    pub fn check(&mut self, record: &ChainedRecord<'_>) -> Result<(), ChainBreak> {
        self.check_with(record, true)
    }

    /// [`ChainCheck::check`] of a record whose payload a redaction erased:
    /// the bytes as received are gone, so the payload digest cannot be
    /// checked against them. The caller checks instead that what replaced
    /// them still commits to the record's content digest (see
    /// [`crate::redaction`]), which the hash covers.
    pub fn check_erased(&mut self, record: &ChainedRecord<'_>) -> Result<(), ChainBreak> {
        self.check_with(record, false)
    }

    fn check_with(
        &mut self,
        record: &ChainedRecord<'_>,
        payload_present: bool,
    ) -> Result<(), ChainBreak> {
        if record.seq != self.seq + 1 {
            return Err(ChainBreak::SequenceGap);
        }
        if *record.prev_hash != self.hash {
            return Err(ChainBreak::PreviousHash);
        }
        if record.computed_hash() != *record.hash {
            return Err(ChainBreak::Hash);
        }
        if payload_present && blake3::hash(record.bytes).as_bytes() != record.payload_digest {
            return Err(ChainBreak::Payload);
        }
        self.seq = record.seq;
        self.hash = *record.hash;
        self.checked += 1;
        Ok(())
    }

    /// The last record that held (or the anchor), and its hash.
    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.seq, self.hash)
    }

    /// How many records held.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

/// A signed statement that the log's record `seq` had hash `head_hash` at
/// `signed_at`: evidence kept apart from the chain, so that a log cut short
/// or rewritten to its end (whose chain alone would still hold) is caught
/// by anyone who holds the public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub head_hash: [u8; 32],
    /// When it was signed, Unix nanoseconds.
    pub signed_at: i64,
}

/// The length of [`SignedCheckpoint::to_bytes`].
pub const SIGNED_CHECKPOINT_LEN: usize = 8 + 32 + 8 + 32 + 64;

impl Checkpoint {
    /// The bytes signed: a domain tag, then the fields big-endian.
    pub fn signed_bytes(&self) -> [u8; 24 + 8 + 32 + 8] {
        let mut bytes = [0u8; 24 + 8 + 32 + 8];
        bytes[..24].copy_from_slice(b"lineage-checkpoint-v1\0\0\0");
        bytes[24..32].copy_from_slice(&self.seq.to_be_bytes());
        bytes[32..64].copy_from_slice(&self.head_hash);
        bytes[64..72].copy_from_slice(&self.signed_at.to_be_bytes());
        bytes
    }

    pub fn sign(self, key: &ed25519_dalek::SigningKey) -> SignedCheckpoint {
        use ed25519_dalek::Signer as _;
        SignedCheckpoint {
            checkpoint: self,
            public_key: key.verifying_key().to_bytes(),
            signature: key.sign(&self.signed_bytes()).to_bytes(),
        }
    }
}

/// A checkpoint with its signature and the public key that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

/// Why a signed checkpoint is not evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint was signed by another key")]
    OtherKey,
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
    #[error("a stored checkpoint is not {SIGNED_CHECKPOINT_LEN} bytes")]
    Malformed,
}

impl SignedCheckpoint {
    /// Whether `trusted` signed exactly this checkpoint (strict RFC 8032
    /// verification: no malleable signatures, no weak keys).
    pub fn verify(&self, trusted: &ed25519_dalek::VerifyingKey) -> Result<(), CheckpointError> {
        if self.public_key != trusted.to_bytes() {
            return Err(CheckpointError::OtherKey);
        }
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        trusted
            .verify_strict(&self.checkpoint.signed_bytes(), &signature)
            .map_err(|_| CheckpointError::BadSignature)
    }

    /// seq | head_hash | signed_at | public_key | signature, big-endian.
    pub fn to_bytes(&self) -> [u8; SIGNED_CHECKPOINT_LEN] {
        let mut bytes = [0u8; SIGNED_CHECKPOINT_LEN];
        bytes[..8].copy_from_slice(&self.checkpoint.seq.to_be_bytes());
        bytes[8..40].copy_from_slice(&self.checkpoint.head_hash);
        bytes[40..48].copy_from_slice(&self.checkpoint.signed_at.to_be_bytes());
        bytes[48..80].copy_from_slice(&self.public_key);
        bytes[80..].copy_from_slice(&self.signature);
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let bytes: &[u8; SIGNED_CHECKPOINT_LEN] =
            bytes.try_into().map_err(|_| CheckpointError::Malformed)?;
        let field = |range: std::ops::Range<usize>| &bytes[range];
        let array32 = |range| -> [u8; 32] { field(range).try_into().expect("32 bytes") };
        let be8 = |range| -> [u8; 8] { field(range).try_into().expect("8 bytes") };
        Ok(Self {
            checkpoint: Checkpoint {
                seq: u64::from_be_bytes(be8(0..8)),
                head_hash: array32(8..40),
                signed_at: i64::from_be_bytes(be8(40..48)),
            },
            public_key: array32(48..80),
            signature: field(80..SIGNED_CHECKPOINT_LEN)
                .try_into()
                .expect("64 bytes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test record: sequence, payload digest, previous hash, hash, payload.
    type TestRecord = (u64, [u8; 32], [u8; 32], [u8; 32], Vec<u8>);

    /// A chain of `n` records with the payloads `b"event <seq>"`.
    fn chain(n: u64) -> Vec<TestRecord> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let bytes = format!("event {seq}").into_bytes();
                let digest = *blake3::hash(&bytes).as_bytes();
                let hash = record_hash(&prev, seq, seq + 100, 7, 0, b"ws/e", &digest, &digest);
                let record = (seq, digest, prev, hash, bytes);
                prev = hash;
                record
            })
            .collect()
    }

    fn view(record: &TestRecord) -> ChainedRecord<'_> {
        let (seq, digest, prev, hash, bytes) = record;
        ChainedRecord {
            seq: *seq,
            stream_seq: seq + 100,
            recorded_at: 7,
            encoding: 0,
            key: b"ws/e",
            content_digest: digest,
            payload_digest: digest,
            prev_hash: prev,
            hash,
            bytes,
        }
    }

    #[test]
    fn an_intact_chain_holds_from_genesis_and_from_an_anchor() {
        let records = chain(5);
        let mut check = ChainCheck::from_genesis();
        for record in &records {
            check.check(&view(record)).expect("holds");
        }
        assert_eq!(check.head(), (5, records[4].3));
        assert_eq!(check.checked(), 5);

        let mut check = ChainCheck::anchored(2, records[1].3);
        for record in &records[2..] {
            check.check(&view(record)).expect("holds");
        }
        assert_eq!(check.checked(), 3);
    }

    #[test]
    fn each_kind_of_damage_is_named_and_leaves_the_head_on_the_last_good_record() {
        let records = chain(4);
        let damaged = |change: &dyn Fn(&mut ChainedRecord<'_>)| {
            let mut check = ChainCheck::from_genesis();
            check.check(&view(&records[0])).expect("first holds");
            let mut second = view(&records[1]);
            change(&mut second);
            let problem = check.check(&second).expect_err("damaged");
            assert_eq!(check.head(), (1, records[0].3));
            problem
        };
        assert_eq!(damaged(&|r| r.seq = 3), ChainBreak::SequenceGap);
        assert_eq!(
            damaged(&|r| r.prev_hash = &GENESIS_HASH),
            ChainBreak::PreviousHash
        );
        assert_eq!(damaged(&|r| r.stream_seq += 1), ChainBreak::Hash);
        assert_eq!(damaged(&|r| r.bytes = b"forged"), ChainBreak::Payload);
        // Skipping a record is a gap, not a link problem.
        let mut check = ChainCheck::from_genesis();
        check.check(&view(&records[0])).expect("first holds");
        assert_eq!(
            check.check(&view(&records[2])),
            Err(ChainBreak::SequenceGap)
        );
    }

    #[test]
    fn a_checkpoint_verifies_only_under_its_key_and_unchanged() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        let signed = Checkpoint {
            seq: 42,
            head_hash: [3; 32],
            signed_at: 1_700_000_000_000_000_000,
        }
        .sign(&key);
        assert_eq!(signed.verify(&key.verifying_key()), Ok(()));
        assert_eq!(
            signed.verify(&other.verifying_key()),
            Err(CheckpointError::OtherKey)
        );
        let read = SignedCheckpoint::from_bytes(&signed.to_bytes()).expect("round trip");
        assert_eq!(read, signed);
        // A checkpoint moved to another record no longer verifies.
        let mut moved = signed;
        moved.checkpoint.seq = 41;
        assert_eq!(
            moved.verify(&key.verifying_key()),
            Err(CheckpointError::BadSignature)
        );
        assert_eq!(
            SignedCheckpoint::from_bytes(&[0; 10]),
            Err(CheckpointError::Malformed)
        );
    }
}
