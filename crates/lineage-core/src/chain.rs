//! The log's hash chain: how a record's hash is computed and how a run of
//! records is checked against it.
//!
//! It lives here, not in the log, because it is the contract between the
//! service that writes the chain and anyone who checks it: `lineage replay
//! --verify` recomputes it from nothing but the bytes a replay sent, with
//! the same code the service's own verification runs.
//!
//! A record's hash covers the previous hash and digests of the record's
//! content (not the raw bytes), so a later redaction can replace a payload
//! without breaking the chain.

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
        if record.seq != self.seq + 1 {
            return Err(ChainBreak::SequenceGap);
        }
        if *record.prev_hash != self.hash {
            return Err(ChainBreak::PreviousHash);
        }
        if record.computed_hash() != *record.hash {
            return Err(ChainBreak::Hash);
        }
        if blake3::hash(record.bytes).as_bytes() != record.payload_digest {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `n` records with the payloads `b"event <seq>"`.
    fn chain(n: u64) -> Vec<(u64, [u8; 32], [u8; 32], [u8; 32], Vec<u8>)> {
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

    fn view(record: &(u64, [u8; 32], [u8; 32], [u8; 32], Vec<u8>)) -> ChainedRecord<'_> {
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
}
