//! A stopped service's store, opened directly to damage it as an intruder
//! who knows its layout would: records deleted, moved or forged, segments
//! removed or rewritten, with every stored value kept well-formed so that
//! only the hash chain or a signed checkpoint can tell.
//!
//! The layout is lineage-log's (crates/lineage-log/src/segment.rs); this is
//! a minimal reader and writer of it, written apart from the log's own code
//! so that a test damages the store without the log's help. A store of
//! another format fails the tests loudly.

use std::path::Path;

use lineage_core::redaction::record_field_key;
use lineage_log::Record;
use lineage_proto::fields::digests;
use lineage_proto::v1;
use lineage_proto::validate::Encoding;
use prost::Message as _;

/// The segment format this module reads and writes.
const SEGMENT_FORMAT: u8 = 2;

/// The idempotency key hash stored beside each segment, per record.
pub type KeyHash = [u8; 16];

/// One stored segment, decoded.
///
/// Records are [`Record`]s for readability, but their `seq` and `prev_hash`
/// are not stored: both follow from the record's position (and the
/// header's `prev_hash`), so [`Segment::encode`] ignores them. That is why
/// moving a record cannot go unnoticed.
#[derive(Debug, Clone)]
pub struct Segment {
    pub first_seq: u64,
    /// The hash of the record before the first one.
    pub prev_hash: [u8; 32],
    pub records: Vec<Record>,
}

/// Reads big-endian fields off the front of a stored value.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> &'a [u8] {
        assert!(self.0.len() >= len, "a field runs past the stored value");
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        field
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).try_into().expect("N bytes")
    }
}

impl Segment {
    /// Decodes the stored value of the segment that starts at `first_seq`.
    pub fn parse(first_seq: u64, raw: &[u8]) -> Self {
        let mut cursor = Cursor(raw);
        let [format] = cursor.array();
        assert_eq!(
            format, SEGMENT_FORMAT,
            "segment {first_seq}: unknown format"
        );
        let count = u32::from_be_bytes(cursor.array());
        let prev_hash = cursor.array();
        let mut prev = prev_hash;
        let records = (0..u64::from(count))
            .map(|position| {
                let stream_seq = u64::from_be_bytes(cursor.array());
                let recorded_at = i64::from_be_bytes(cursor.array());
                let [encoding] = cursor.array();
                let content_digest = cursor.array();
                let payload_digest = cursor.array();
                let hash = cursor.array();
                let key_len = usize::from(u16::from_be_bytes(cursor.array()));
                let bytes_len = u32::from_be_bytes(cursor.array()) as usize;
                let key = cursor.take(key_len).to_vec();
                let bytes = cursor.take(bytes_len).to_vec();
                let record = Record {
                    seq: first_seq + position,
                    stream_seq,
                    recorded_at,
                    encoding,
                    key,
                    content_digest,
                    payload_digest,
                    prev_hash: prev,
                    hash,
                    bytes,
                };
                prev = hash;
                record
            })
            .collect();
        assert!(
            cursor.0.is_empty(),
            "segment {first_seq}: bytes after its last record"
        );
        Self {
            first_seq,
            prev_hash,
            records,
        }
    }

    /// The stored value of the segment.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SEGMENT_FORMAT];
        let count = u32::try_from(self.records.len()).expect("a u32 count");
        out.extend(count.to_be_bytes());
        out.extend(self.prev_hash);
        for record in &self.records {
            out.extend(record.stream_seq.to_be_bytes());
            out.extend(record.recorded_at.to_be_bytes());
            out.push(record.encoding);
            out.extend(record.content_digest);
            out.extend(record.payload_digest);
            out.extend(record.hash);
            let key_len = u16::try_from(record.key.len()).expect("a u16 key length");
            out.extend(key_len.to_be_bytes());
            let bytes_len = u32::try_from(record.bytes.len()).expect("a u32 length");
            out.extend(bytes_len.to_be_bytes());
            out.extend(&record.key);
            out.extend(&record.bytes);
        }
        out
    }

    /// The sequence of the first record of the segment after this one.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }
}

/// The sequence a key of the store's trees names.
pub fn seq_of_key(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().expect("an 8-byte sequence key"))
}

/// Rewrites a stored event to say that `actor` acted, as a careful intruder
/// would: a valid event with both digests recomputed (its content digest
/// with the store's own field secret, [`Store::field_secret`]), so that the
/// record is consistent in itself but for its hash, which the caller
/// recomputes (for this record alone, or for every record after it too).
pub fn forge_actor(record: &mut Record, actor: &str, field_secret: &[u8; 32]) {
    assert_eq!(record.encoding, Encoding::Protobuf.as_byte());
    let mut event = v1::Event::decode(record.bytes.as_slice()).expect("a stored event");
    event.actor = actor.into();
    record.bytes = event.encode_to_vec();
    let forged = digests(
        &event,
        &record.bytes,
        &record_field_key(field_secret, &record.key),
    );
    record.content_digest = forged.content;
    record.payload_digest = forged.payload;
}

/// The stopped service's store, opened directly as an intruder would.
/// [`Store::close`] makes the damage durable and releases the store for
/// lineaged.
#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    /// Segments by their first sequence.
    segments: sled::Tree,
    /// Each segment's records' idempotency key hashes, by its first sequence.
    key_hashes: sled::Tree,
    /// Signed checkpoints, by the sequence of the record they vouch for.
    checkpoints: sled::Tree,
}

impl Store {
    /// The secret the store's content digests are salted with, read as an
    /// intruder with the store in hand would.
    pub fn field_secret(&self) -> [u8; 32] {
        let meta = self.db.open_tree("meta").expect("meta");
        let secret = meta
            .get(b"field_secret")
            .expect("meta reads")
            .expect("the store has a field secret");
        secret.as_ref().try_into().expect("32 bytes")
    }

    pub fn open(data_dir: &Path) -> Self {
        let db = sled::open(data_dir).expect("the stopped service's store opens");
        Self {
            segments: db.open_tree("segments").expect("segments"),
            key_hashes: db.open_tree("key_hashes").expect("key_hashes"),
            checkpoints: db.open_tree("checkpoints").expect("checkpoints"),
            db,
        }
    }

    /// Every stored segment, in order.
    pub fn segments(&self) -> Vec<Segment> {
        self.segments
            .iter()
            .map(|entry| {
                let (key, raw) = entry.expect("read a segment");
                Segment::parse(seq_of_key(&key), &raw)
            })
            .collect()
    }

    /// The key hashes stored beside the segment that starts at `first_seq`.
    pub fn key_hashes(&self, first_seq: u64) -> Vec<KeyHash> {
        let raw = self
            .key_hashes
            .get(first_seq.to_be_bytes())
            .expect("read key hashes")
            .expect("every segment has its key hashes");
        raw.chunks_exact(16)
            .map(|hash| hash.try_into().expect("16 bytes"))
            .collect()
    }

    /// The records that have a stored checkpoint, in order.
    pub fn checkpoint_seqs(&self) -> Vec<u64> {
        self.checkpoints
            .iter()
            .keys()
            .map(|key| seq_of_key(&key.expect("read a checkpoint")))
            .collect()
    }

    /// Stores `segment` and its key hashes together, so the index stays
    /// consistent with the segment and only the chain can tell.
    pub fn write(&self, segment: &Segment, key_hashes: &[KeyHash]) {
        assert_eq!(
            segment.records.len(),
            key_hashes.len(),
            "one hash per record"
        );
        self.rewrite(segment);
        self.key_hashes
            .insert(segment.first_seq.to_be_bytes(), key_hashes.concat())
            .expect("write");
    }

    /// Stores a rewritten segment alone: its records keep their keys, so
    /// its key hashes stay right.
    pub fn rewrite(&self, segment: &Segment) {
        self.segments
            .insert(segment.first_seq.to_be_bytes(), segment.encode())
            .expect("write");
    }

    /// Removes a segment and its key hashes, as if it had never been
    /// appended.
    pub fn remove(&self, first_seq: u64) {
        let key = first_seq.to_be_bytes();
        self.segments.remove(key).expect("remove");
        self.key_hashes.remove(key).expect("remove");
    }

    /// Notes the redaction at `seq` as not carried out yet, as a crash
    /// between storing it and finishing its erasures would leave it.
    pub fn mark_redaction_pending(&self, seq: u64) {
        self.db
            .open_tree("pending_redactions")
            .expect("pending_redactions")
            .insert(seq.to_be_bytes(), &[])
            .expect("mark");
    }

    /// Makes the damage durable and releases the store for lineaged.
    pub fn close(self) {
        self.db.flush().expect("flush");
    }
}
