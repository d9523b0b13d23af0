//! The on-disk form of records: a segment is a run of consecutive records
//! stored as one sled value, keyed by the sequence of its first record.
//!
//! Storing a batch as one value instead of one value per record is what
//! makes appends cheap: sled's cost is per insert, not per byte, and a
//! segment costs one insert however many records it holds.
//!
//! Layout (all integers big-endian):
//! ```text
//! segment = format:u8 (=2) | count:u32 | prev_hash:[32] | record * count
//! record  = stream_seq:u64 | recorded_at:i64 | encoding:u8
//!         | content_digest:[32] | payload_digest:[32] | hash:[32]
//!         | key_len:u16 | bytes_len:u32 | key | bytes
//! ```
//! A record's sequence is the segment's first sequence plus its position;
//! its previous hash is the previous record's hash (the segment header holds
//! the one before the first record), so neither is stored twice.

use lineage_core::chain::ChainedRecord;

use crate::{LogError, record_hash};

pub(crate) const SEGMENT_FORMAT: u8 = 2;
const SEGMENT_HEADER_LEN: usize = 1 + 4 + 32;
const RECORD_HEADER_LEN: usize = 8 + 8 + 1 + 32 + 32 + 32 + 2 + 4;

/// One stored record, borrowed from the segment that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub seq: u64,
    pub stream_seq: u64,
    /// When the log stored it, Unix nanoseconds.
    pub recorded_at: i64,
    pub encoding: u8,
    pub key: &'a [u8],
    /// The caller's digest of the content, independent of its encoding.
    pub content_digest: &'a [u8; 32],
    /// blake3 of `bytes` as received.
    pub payload_digest: &'a [u8; 32],
    pub prev_hash: &'a [u8; 32],
    pub hash: &'a [u8; 32],
    pub bytes: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// The fields the hash chain commits to.
    pub fn chained(&self) -> ChainedRecord<'a> {
        ChainedRecord {
            seq: self.seq,
            stream_seq: self.stream_seq,
            recorded_at: self.recorded_at,
            encoding: self.encoding,
            key: self.key,
            content_digest: self.content_digest,
            payload_digest: self.payload_digest,
            prev_hash: self.prev_hash,
            hash: self.hash,
            bytes: self.bytes,
        }
    }

    /// Recomputes this record's hash from its fields and its previous hash.
    pub fn computed_hash(&self) -> [u8; 32] {
        self.chained().computed_hash()
    }

    pub fn to_owned(&self) -> Record {
        Record {
            seq: self.seq,
            stream_seq: self.stream_seq,
            recorded_at: self.recorded_at,
            encoding: self.encoding,
            key: self.key.to_vec(),
            content_digest: *self.content_digest,
            payload_digest: *self.payload_digest,
            prev_hash: *self.prev_hash,
            hash: *self.hash,
            bytes: self.bytes.to_vec(),
        }
    }
}

/// One stored record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub stream_seq: u64,
    /// When the log stored it, Unix nanoseconds.
    pub recorded_at: i64,
    pub encoding: u8,
    pub key: Vec<u8>,
    /// The caller's digest of the content, independent of its encoding.
    pub content_digest: [u8; 32],
    /// blake3 of `bytes` as received.
    pub payload_digest: [u8; 32],
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

impl Record {
    /// Recomputes this record's hash from its fields and `prev_hash`.
    pub fn computed_hash(&self) -> [u8; 32] {
        record_hash(
            &self.prev_hash,
            self.seq,
            self.stream_seq,
            self.recorded_at,
            self.encoding,
            &self.key,
            &self.content_digest,
            &self.payload_digest,
        )
    }
}

/// Builds one segment value from records appended in order.
pub(crate) struct SegmentWriter {
    buffer: Vec<u8>,
    count: u32,
}

impl SegmentWriter {
    pub(crate) fn new(prev_hash: &[u8; 32], capacity: usize) -> Self {
        let mut buffer = Vec::with_capacity(SEGMENT_HEADER_LEN + capacity);
        buffer.push(SEGMENT_FORMAT);
        buffer.extend_from_slice(&0u32.to_be_bytes());
        buffer.extend_from_slice(prev_hash);
        Self { buffer, count: 0 }
    }

    pub(crate) fn encoded_len(&self) -> usize {
        self.buffer.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record whose sequence and previous hash follow the last one.
    /// The key must fit in a u16 length and the bytes in a u32 (checked by
    /// the caller before anything is written).
    pub(crate) fn push(&mut self, record: &RecordRef<'_>) {
        let out = &mut self.buffer;
        out.reserve(RECORD_HEADER_LEN + record.key.len() + record.bytes.len());
        out.extend_from_slice(&record.stream_seq.to_be_bytes());
        out.extend_from_slice(&record.recorded_at.to_be_bytes());
        out.push(record.encoding);
        out.extend_from_slice(record.content_digest);
        out.extend_from_slice(record.payload_digest);
        out.extend_from_slice(record.hash);
        out.extend_from_slice(&(record.key.len() as u16).to_be_bytes());
        out.extend_from_slice(&(record.bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(record.key);
        out.extend_from_slice(record.bytes);
        self.count += 1;
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buffer[1..5].copy_from_slice(&self.count.to_be_bytes());
        self.buffer
    }
}

/// Reads the records of one segment value.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRecords<'a> {
    raw: &'a [u8],
    at: usize,
    next_seq: u64,
    remaining: u32,
    prev_hash: &'a [u8; 32],
}

impl<'a> SegmentRecords<'a> {
    pub(crate) fn parse(first_seq: u64, raw: &'a [u8]) -> Result<Self, LogError> {
        let corrupt = |problem| LogError::Corrupt {
            seq: first_seq,
            problem,
        };
        if raw.len() < SEGMENT_HEADER_LEN {
            return Err(corrupt("shorter than a segment header"));
        }
        if raw[0] != SEGMENT_FORMAT {
            return Err(corrupt("unknown segment format"));
        }
        let count = u32::from_be_bytes(raw[1..5].try_into().expect("4 bytes"));
        if count == 0 {
            return Err(corrupt("empty segment"));
        }
        Ok(Self {
            raw,
            at: SEGMENT_HEADER_LEN,
            next_seq: first_seq,
            remaining: count,
            prev_hash: raw[5..37].try_into().expect("32 bytes"),
        })
    }

    /// How many records the segment says it holds.
    pub(crate) fn len(&self) -> u32 {
        self.remaining
    }
}

impl<'a> Iterator for SegmentRecords<'a> {
    type Item = Result<RecordRef<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return if self.at == self.raw.len() {
                None
            } else {
                self.at = self.raw.len();
                Some(Err(LogError::Corrupt {
                    seq: self.next_seq,
                    problem: "bytes after the last record of a segment",
                }))
            };
        }
        let seq = self.next_seq;
        let raw = self.raw;
        let fail = |this: &mut Self, problem| {
            this.remaining = 0;
            this.at = raw.len();
            Some(Err(LogError::Corrupt { seq, problem }))
        };
        let rest = &raw[self.at..];
        if rest.len() < RECORD_HEADER_LEN {
            return fail(self, "record header runs past its segment");
        }
        let u64_at = |at: usize| u64::from_be_bytes(rest[at..at + 8].try_into().expect("8 bytes"));
        let hash_at = |at: usize| -> &'a [u8; 32] {
            raw[self.at + at..self.at + at + 32]
                .try_into()
                .expect("32 bytes")
        };
        let key_len = u16::from_be_bytes([rest[113], rest[114]]) as usize;
        let bytes_len = u32::from_be_bytes(rest[115..119].try_into().expect("4 bytes")) as usize;
        let body = RECORD_HEADER_LEN + key_len + bytes_len;
        if rest.len() < body {
            return fail(self, "record runs past its segment");
        }
        let start = self.at;
        let record = RecordRef {
            seq,
            stream_seq: u64_at(0),
            recorded_at: u64_at(8) as i64,
            encoding: rest[16],
            content_digest: hash_at(17),
            payload_digest: hash_at(49),
            hash: hash_at(81),
            prev_hash: self.prev_hash,
            key: &raw[start + RECORD_HEADER_LEN..start + RECORD_HEADER_LEN + key_len],
            bytes: &raw[start + RECORD_HEADER_LEN + key_len..start + body],
        };
        self.at += body;
        self.next_seq += 1;
        self.remaining -= 1;
        self.prev_hash = record.hash;
        Some(Ok(record))
    }
}

/// The segment `raw` (first record `first_seq`) with the bytes of record
/// `seq` replaced by `bytes`, every other field of every record as stored:
/// how a redaction erases a payload. The chain does not move, since hashes
/// cover digests, not bytes.
pub(crate) fn with_bytes_replaced(
    first_seq: u64,
    raw: &[u8],
    seq: u64,
    bytes: &[u8],
) -> Result<Vec<u8>, LogError> {
    let records = SegmentRecords::parse(first_seq, raw)?;
    let mut writer = SegmentWriter::new(records.prev_hash, raw.len());
    let mut found = false;
    for record in records {
        let mut record = record?;
        if record.seq == seq {
            record.bytes = bytes;
            found = true;
        }
        writer.push(&record);
    }
    if !found {
        return Err(LogError::Corrupt {
            seq,
            problem: "the record to erase is not in the segment that should hold it",
        });
    }
    Ok(writer.finish())
}
