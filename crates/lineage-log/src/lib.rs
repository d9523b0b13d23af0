//! The append-only event log in sled: dense sequence numbers, the exact bytes
//! received, a blake3 hash chain, and the idempotency index.
//!
//! Trees:
//! - `records`: sequence (big-endian u64) -> one encoded [`Record`].
//! - `event_index`: idempotency key (workspace, NUL, event id) -> sequence and
//!   content digest. It makes ingestion idempotent forever, not only within
//!   JetStream's duplicate window, and tells a retry from a conflicting reuse.
//! - `rejections`: JetStream stream sequence -> reason code, one per message
//!   sent to the dead-letter stream (so redeliveries are not counted twice).
//! - `meta`: counters.
//!
//! Each record's hash covers the previous hash and a digest of the record's
//! content (not the raw bytes), so a later redaction can replace a payload
//! without breaking the chain. Appends are transactional across trees and
//! become durable at [`Log::flush`]; callers acknowledge nothing before it.
//!
//! Architecture invariant: this crate knows nothing about events' meaning; it
//! stores bytes under keys and digests that the caller computes.

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

/// The hash before the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

const RECORD_FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + 8 + 1 + 32 + 32 + 32 + 2;
const DUPLICATES_KEY: &[u8] = b"duplicates";

/// What can go wrong with the log. All of them mean the storage cannot be
/// trusted right now: the caller must stop acknowledging and retry later.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// sled failed (disk full, read-only, IO error). Retry after the cause is fixed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record does not parse: the store is damaged.
    #[error("record {seq} is corrupt: {problem}")]
    Corrupt { seq: u64, problem: &'static str },
    /// A key longer than the record format allows.
    #[error("idempotency key is {0} bytes, the limit is 65535")]
    KeyTooLong(usize),
}

impl From<TransactionError<LogError>> for LogError {
    fn from(error: TransactionError<LogError>) -> Self {
        match error {
            TransactionError::Abort(error) => error,
            TransactionError::Storage(error) => LogError::Storage(error),
        }
    }
}

/// One message to append.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    /// The JetStream stream sequence it came from.
    pub stream_seq: u64,
    /// The idempotency key: the same key is stored at most once.
    pub key: &'a [u8],
    /// Identifies the content independent of encoding; a second message
    /// under the same key with another digest is a conflict.
    pub content_digest: [u8; 32],
    /// How `bytes` are encoded (caller-defined; stored and hashed).
    pub encoding: u8,
    /// The exact bytes received.
    pub bytes: &'a [u8],
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored at this sequence.
    Stored { seq: u64 },
    /// Already stored at this sequence with the same content.
    Duplicate { seq: u64 },
    /// The key is already stored at this sequence with different content.
    Conflict { seq: u64 },
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub stream_seq: u64,
    /// When the log stored it, Unix nanoseconds.
    pub recorded_at: i64,
    pub encoding: u8,
    pub key: Vec<u8>,
    /// blake3 of `bytes` as received.
    pub payload_digest: [u8; 32],
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

/// The chain's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last sequence stored; 0 for an empty log.
    pub seq: u64,
    pub hash: [u8; 32],
}

/// The hash of a record, from its fields and the previous hash.
#[allow(clippy::too_many_arguments)] // Each field is hashed; a struct would only rename them.
pub fn record_hash(
    prev_hash: &[u8; 32],
    seq: u64,
    stream_seq: u64,
    recorded_at: i64,
    encoding: u8,
    key: &[u8],
    payload_digest: &[u8; 32],
) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"lineage-log-v1");
    hasher.update(prev_hash);
    hasher.update(&seq.to_be_bytes());
    hasher.update(&stream_seq.to_be_bytes());
    hasher.update(&recorded_at.to_be_bytes());
    hasher.update(&[encoding]);
    hasher.update(&(key.len() as u64).to_be_bytes());
    hasher.update(key);
    hasher.update(payload_digest);
    *hasher.finalize().as_bytes()
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.key.len() + self.bytes.len());
        out.push(RECORD_FORMAT_V1);
        out.extend_from_slice(&self.stream_seq.to_be_bytes());
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.push(self.encoding);
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.payload_digest);
        out.extend_from_slice(&(self.key.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.bytes);
        out
    }

    fn decode(seq: u64, raw: &[u8]) -> Result<Self, LogError> {
        let corrupt = |problem| LogError::Corrupt { seq, problem };
        if raw.len() < HEADER_LEN {
            return Err(corrupt("shorter than a record header"));
        }
        if raw[0] != RECORD_FORMAT_V1 {
            return Err(corrupt("unknown record format"));
        }
        let u64_at = |at: usize| u64::from_be_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let hash_at = |at: usize| -> [u8; 32] { raw[at..at + 32].try_into().expect("32 bytes") };
        let key_len = u16::from_be_bytes([raw[HEADER_LEN - 2], raw[HEADER_LEN - 1]]) as usize;
        if raw.len() < HEADER_LEN + key_len {
            return Err(corrupt("key runs past the record"));
        }
        Ok(Record {
            seq,
            stream_seq: u64_at(1),
            recorded_at: u64_at(9) as i64,
            encoding: raw[17],
            prev_hash: hash_at(18),
            hash: hash_at(50),
            payload_digest: hash_at(82),
            key: raw[HEADER_LEN..HEADER_LEN + key_len].to_vec(),
            bytes: raw[HEADER_LEN + key_len..].to_vec(),
        })
    }

    /// Recomputes this record's hash from its fields and `prev_hash`.
    pub fn computed_hash(&self) -> [u8; 32] {
        record_hash(
            &self.prev_hash,
            self.seq,
            self.stream_seq,
            self.recorded_at,
            self.encoding,
            &self.key,
            &self.payload_digest,
        )
    }
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records_checked: u64,
    pub head: Head,
    /// The first record that breaks the chain, and how.
    pub first_problem: Option<(u64, &'static str)>,
}

/// The log. One writer (the ingest loop) owns it; readers use [`Log::reader`].
#[derive(Debug)]
pub struct Log {
    db: sled::Db,
    records: sled::Tree,
    event_index: sled::Tree,
    rejections: sled::Tree,
    meta: sled::Tree,
    /// The chain's end as of the last append, so appends need no read.
    head: Head,
    /// Deliveries acknowledged as exact duplicates, ever.
    duplicates: u64,
    /// Messages dead-lettered, ever (one per stream sequence).
    rejected: u64,
}

impl Log {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let db = sled::Config::new().path(dir).open()?;
        let records = db.open_tree("records")?;
        let event_index = db.open_tree("event_index")?;
        let rejections = db.open_tree("rejections")?;
        let meta = db.open_tree("meta")?;
        let head = match records.last()? {
            None => Head {
                seq: 0,
                hash: GENESIS_HASH,
            },
            Some((key, raw)) => {
                let seq = seq_from_key(&key)?;
                let record = Record::decode(seq, &raw)?;
                Head {
                    seq,
                    hash: record.hash,
                }
            }
        };
        let duplicates = meta
            .get(DUPLICATES_KEY)?
            .map(|raw| read_u64(&raw))
            .unwrap_or(0);
        let rejected = rejections.len() as u64;
        Ok(Self {
            db,
            records,
            event_index,
            rejections,
            meta,
            head,
            duplicates,
            rejected,
        })
    }

    pub fn head(&self) -> Head {
        self.head
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Appends a batch in one transaction, in order. Not durable until
    /// [`Log::flush`] returns.
    pub fn append_batch(
        &mut self,
        batch: &[NewRecord<'_>],
        recorded_at: i64,
    ) -> Result<Vec<Appended>, LogError> {
        if let Some(record) = batch.iter().find(|r| r.key.len() > u16::MAX as usize) {
            return Err(LogError::KeyTooLong(record.key.len()));
        }
        let start = self.head;
        let duplicates_before = self.duplicates;
        let (outcomes, head, duplicates) = (&self.records, &self.event_index, &self.meta)
            .transaction(|(records, index, meta)| {
                let mut head = start;
                let mut duplicates = duplicates_before;
                let mut outcomes = Vec::with_capacity(batch.len());
                for new in batch {
                    if let Some(existing) = index.get(new.key)? {
                        let (seq, digest) = parse_index_value(&existing).ok_or(
                            ConflictableTransactionError::Abort(LogError::Corrupt {
                                seq: 0,
                                problem: "event index entry",
                            }),
                        )?;
                        if digest == new.content_digest {
                            duplicates += 1;
                            outcomes.push(Appended::Duplicate { seq });
                        } else {
                            outcomes.push(Appended::Conflict { seq });
                        }
                        continue;
                    }
                    let seq = head.seq + 1;
                    let payload_digest = *blake3::hash(new.bytes).as_bytes();
                    let hash = record_hash(
                        &head.hash,
                        seq,
                        new.stream_seq,
                        recorded_at,
                        new.encoding,
                        new.key,
                        &payload_digest,
                    );
                    let record = Record {
                        seq,
                        stream_seq: new.stream_seq,
                        recorded_at,
                        encoding: new.encoding,
                        key: new.key.to_vec(),
                        payload_digest,
                        prev_hash: head.hash,
                        hash,
                        bytes: new.bytes.to_vec(),
                    };
                    records.insert(&seq.to_be_bytes(), record.encode())?;
                    let mut index_value = Vec::with_capacity(40);
                    index_value.extend_from_slice(&seq.to_be_bytes());
                    index_value.extend_from_slice(&new.content_digest);
                    index.insert(new.key, index_value)?;
                    head = Head { seq, hash };
                    outcomes.push(Appended::Stored { seq });
                }
                if duplicates != duplicates_before {
                    meta.insert(DUPLICATES_KEY, &duplicates.to_be_bytes())?;
                }
                Ok((outcomes, head, duplicates))
            })?;
        self.head = head;
        self.duplicates = duplicates;
        Ok(outcomes)
    }

    /// Records that the message at `stream_seq` was dead-lettered with
    /// `reason`. Returns false if it was already recorded (a redelivery).
    /// Not durable until [`Log::flush`].
    pub fn record_rejection(&mut self, stream_seq: u64, reason: &str) -> Result<bool, LogError> {
        let previous = self.rejections.compare_and_swap(
            stream_seq.to_be_bytes(),
            None::<&[u8]>,
            Some(reason),
        )?;
        let inserted = previous.is_ok();
        if inserted {
            self.rejected += 1;
        }
        Ok(inserted)
    }

    /// Makes everything appended so far durable.
    pub async fn flush(&self) -> Result<(), LogError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// A handle for reading records while the writer appends.
    pub fn reader(&self) -> LogReader {
        LogReader {
            records: self.records.clone(),
        }
    }
}

/// Reads records; cheap to clone, safe beside the writer.
#[derive(Debug, Clone)]
pub struct LogReader {
    records: sled::Tree,
}

impl LogReader {
    /// Records from `from_seq` (inclusive) to the end, in order.
    pub fn records_from(
        &self,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<Record, LogError>> + use<> {
        self.records.range(from_seq.to_be_bytes()..).map(|entry| {
            let (key, raw) = entry?;
            Record::decode(seq_from_key(&key)?, &raw)
        })
    }

    /// Recomputes the hash chain from the first record: every sequence
    /// present and dense, every link and hash and payload digest right.
    pub fn verify(&self) -> Result<Verification, LogError> {
        let mut head = Head {
            seq: 0,
            hash: GENESIS_HASH,
        };
        let mut checked = 0;
        for record in self.records_from(0) {
            let record = match record {
                Ok(record) => record,
                Err(LogError::Corrupt { seq, problem }) => {
                    return Ok(Verification {
                        records_checked: checked,
                        head,
                        first_problem: Some((seq, problem)),
                    });
                }
                Err(error) => return Err(error),
            };
            let problem = if record.seq != head.seq + 1 {
                Some("sequence gap")
            } else if record.prev_hash != head.hash {
                Some("previous hash does not match the chain")
            } else if record.computed_hash() != record.hash {
                Some("hash does not match the record")
            } else if *blake3::hash(&record.bytes).as_bytes() != record.payload_digest {
                Some("payload does not match its digest")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(Verification {
                    records_checked: checked,
                    head,
                    first_problem: Some((record.seq, problem)),
                });
            }
            checked += 1;
            head = Head {
                seq: record.seq,
                hash: record.hash,
            };
        }
        Ok(Verification {
            records_checked: checked,
            head,
            first_problem: None,
        })
    }
}

fn seq_from_key(key: &[u8]) -> Result<u64, LogError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| LogError::Corrupt {
        seq: 0,
        problem: "record key is not a sequence number",
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn read_u64(raw: &[u8]) -> u64 {
    raw.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

fn parse_index_value(raw: &[u8]) -> Option<(u64, [u8; 32])> {
    if raw.len() != 40 {
        return None;
    }
    let seq = u64::from_be_bytes(raw[..8].try_into().ok()?);
    let digest = raw[8..].try_into().ok()?;
    Some((seq, digest))
}

#[cfg(test)]
mod tests;
