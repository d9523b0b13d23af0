//! The append-only event log in sled: dense sequence numbers, the exact bytes
//! received, a blake3 hash chain, and the idempotency index.
//!
//! Trees:
//! - `segments`: first sequence (big-endian u64) -> a segment: the records of
//!   one append, in order, as one value (see [`segment`] for the layout).
//! - `key_hashes`: first sequence -> the 128-bit hashes of the idempotency
//!   keys of that segment's records, from which the in-memory idempotency
//!   index is rebuilt at open (see [`index`]).
//! - `collisions`: idempotency key -> sequence, for a key whose hash another
//!   key already had (never expected; kept so the index is exact anyway).
//! - `rejections`: JetStream stream sequence -> reason code, one per message
//!   sent to the dead-letter stream (so redeliveries are not counted twice).
//! - `checkpoints`: sequence -> the caller's signed statement of the hash
//!   at that record (opaque here), kept apart from the chain so that a log
//!   cut short or rewritten to its end is still caught.
//! - `erased`: sequence -> what the caller keeps of a record whose payload
//!   it erased (opaque here: for lineaged, the digests of the erased fields
//!   and the redaction that erased them). The record's bytes were replaced
//!   in its segment; its hash, which covers digests and not bytes, holds.
//! - `pending_redactions`: sequence of a redaction whose erasures are not
//!   all done yet, so that a restart finishes them.
//! - `meta`: the store format, counters and the field secret (the key the
//!   caller derives each record's field salts from).
//!
//! Idempotency is forever, not only within JetStream's duplicate window, and
//! tells a retry (same key, same content digest) from a conflicting reuse.
//!
//! Each record's hash covers the previous hash and digests of the record's
//! content (not the raw bytes), so a later redaction can replace a payload
//! without breaking the chain. An append is one sled transaction over a few
//! values, whatever the number of records, and becomes durable at
//! [`Log::flush`]; callers acknowledge nothing before it.
//!
//! sled 0.34 poisons a store after a failed write (a full or read-only
//! disk): every later write and flush of that handle fails, even once the
//! disk is back, and what was appended since the last good flush may or
//! may not be on disk. So after a storage error the writer closes the log
//! ([`Log::close`]: the files are released at once, and every handle then
//! answers [`LogError::Closed`]) and reopens it ([`Log::reopen`]) once the
//! directory takes writes again: the head and the idempotency index are
//! rebuilt from what is durable, and every reader and sync handle moves to
//! the reopened store.
//!
//! Architecture invariant: this crate knows nothing about events' meaning; it
//! stores bytes under keys and digests that the caller computes.

mod index;
pub mod segment;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::index::{KEY_HASH_LEN, KeyHash, KeyIndex, Lookup};
pub use crate::segment::{Record, RecordRef};
use crate::segment::{SegmentRecords, SegmentWriter};

use lineage_core::chain::{ChainBreak, ChainCheck};
pub use lineage_core::chain::{GENESIS_HASH, record_hash};

const FORMAT_KEY: &[u8] = b"format";
const STORE_FORMAT: u8 = segment::SEGMENT_FORMAT;
const DUPLICATES_KEY: &[u8] = b"duplicates";
const FIELD_SECRET_KEY: &[u8] = b"field_secret";
/// An append is cut into segments of about this size: big enough that a
/// segment costs one sled insert for several typical events, small enough
/// that a sled leaf (up to 17 values before it splits) stays under sled's
/// blob threshold of ~128 KiB: a larger leaf is written as a file of its
/// own on every rewrite, which cost a file creation per few appends.
const SEGMENT_TARGET_BYTES: usize = 6 * 1024;

/// What can go wrong with the log. All of them mean the storage cannot be
/// trusted right now: the caller must stop acknowledging and retry later.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// A payload longer than the record format allows.
    #[error("payload is {0} bytes, the limit is 4294967295")]
    PayloadTooLong(usize),
    /// The caller's payload digest is not the digest of the bytes (checked
    /// in debug builds; a release build stores it and `verify` reports it).
    #[error("the payload digest of the message at stream sequence {stream_seq} is wrong")]
    WrongPayloadDigest { stream_seq: u64 },
    /// The directory holds a store this version cannot read.
    #[error("{0}")]
    UnsupportedFormat(String),
    /// Another process (or a log not yet fully closed) holds the store's lock.
    #[error(
        "the store in {0} is in use: its lock was still held after {LOCK_WAIT:?}; is another lineaged running on it?"
    )]
    InUse(String),
    /// The log was closed after a storage error and is not reopened yet
    /// (the reason says why). Retry once the storage is back.
    #[error("the log is closed: {0}")]
    Closed(String),
    /// A reopen found no store, or another one, where the log was: its
    /// volume may not be mounted. Nothing is written there; fix the
    /// directory and the next reopen proceeds.
    #[error("{0}")]
    StoreMoved(String),
}

impl LogError {
    /// Whether this error may have left appended records out of the
    /// durable store, so that the writer must reopen the log before it
    /// appends again (every error but the caller's own mistakes).
    pub fn needs_reopen(&self) -> bool {
        !matches!(
            self,
            LogError::KeyTooLong(_)
                | LogError::PayloadTooLong(_)
                | LogError::WrongPayloadDigest { .. }
        )
    }
}

/// How long an open waits for the store's lock. sled releases it only when
/// its background threads let go of the file, a few milliseconds after the
/// last handle of a closed log is dropped; a lock held longer than this
/// belongs to another process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens sled in `dir`, waiting up to [`LOCK_WAIT`] for its lock.
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, LogError> {
    const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(20);
    let config = sled::Config::new().path(dir).cache_capacity(cache_bytes);
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(error)) if is_lock_contention(&error) => {
                if std::time::Instant::now() >= deadline {
                    return Err(LogError::InUse(dir.display().to_string()));
                }
                std::thread::sleep(RETRY_EVERY);
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// sled reports a held lock only as an `Other` IO error with this message.
fn is_lock_contention(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::Other
        && error.to_string().starts_with("could not acquire lock")
}

impl From<TransactionError<LogError>> for LogError {
    fn from(error: TransactionError<LogError>) -> Self {
        match error {
            TransactionError::Abort(error) => error,
            TransactionError::Storage(error) => LogError::Storage(error),
        }
    }
}

/// How to open the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// The most memory sled may use to cache pages of the store.
    pub cache_bytes: u64,
    /// The secret a new store's field commitments are keyed with, instead
    /// of a random one: replicas of one stream given the same secret write
    /// the same records, hashes included. A store created with another
    /// secret is refused.
    pub field_secret: Option<[u8; 32]>,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 64 * 1024 * 1024,
            field_secret: None,
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
    /// blake3 of `bytes`. The caller has it already (it is often the
    /// content digest too). Debug builds refuse a wrong one; `verify`
    /// reports one that got stored.
    pub payload_digest: [u8; 32],
    /// A redaction request: when stored, it is marked pending in the same
    /// transaction, so no crash or failed flush can keep the record and
    /// lose the mark (and with it the erasures it asks for).
    pub redaction: bool,
    /// When its message was received (ns since the epoch): the stream's
    /// timestamp of it, so that every replica consuming the stream stamps
    /// it alike; 0 for the batch's `recorded_at`.
    pub received_at: i64,
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

/// The chain's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last sequence stored; 0 for an empty log.
    pub seq: u64,
    pub hash: [u8; 32],
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records_checked: u64,
    pub head: Head,
    /// The first record that breaks the chain, and how.
    pub first_problem: Option<(u64, &'static str)>,
}

/// What the index and the staged batch know of a key.
struct Found {
    /// The sequence and content digest it is stored under.
    stored: Option<(u64, [u8; 32])>,
    /// Another key already has its hash.
    hash_taken: bool,
}

impl Found {
    fn at(seq: u64, content_digest: [u8; 32]) -> Self {
        Self {
            stored: Some((seq, content_digest)),
            hash_taken: false,
        }
    }
}

/// A record of the batch being appended.
struct Staged<'a> {
    seq: u64,
    key_hash: KeyHash,
    /// Its hash was already taken by another key: indexed by exact key.
    collided: bool,
    new: &'a NewRecord<'a>,
}

/// The open sled store and its trees (see the crate's doc for each).
struct Store {
    db: sled::Db,
    segments: sled::Tree,
    key_hashes: sled::Tree,
    collisions: sled::Tree,
    rejections: sled::Tree,
    checkpoints: sled::Tree,
    erased: sled::Tree,
    pending_redactions: sled::Tree,
    meta: sled::Tree,
}

/// The store every handle of one log uses: open, or closed with the
/// reason. Handles take the store for one operation at a time, so closing
/// releases sled's files (and its lock) as soon as the operations under
/// way end, and a reopen moves every handle to the new store.
#[derive(Clone)]
struct StoreCell(Arc<RwLock<Result<Arc<Store>, String>>>);

impl StoreCell {
    fn new(store: Store) -> Self {
        Self(Arc::new(RwLock::new(Ok(Arc::new(store)))))
    }

    fn get(&self) -> Result<Arc<Store>, LogError> {
        match &*self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            Ok(store) => Ok(store.clone()),
            Err(reason) => Err(LogError::Closed(reason.clone())),
        }
    }

    fn set(&self, store: Result<Arc<Store>, String>) {
        // The old store is dropped outside the lock: dropping sled's last
        // handle joins its flusher thread.
        let old = std::mem::replace(
            &mut *self
                .0
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            store,
        );
        drop(old);
    }

    fn is_open(&self) -> bool {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_ok()
    }
}

impl std::fmt::Debug for StoreCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            Ok(_) => f.write_str("StoreCell(open)"),
            Err(reason) => write!(f, "StoreCell(closed: {reason})"),
        }
    }
}

/// Everything [`Log::open`] reads from a store.
struct Loaded {
    store: Store,
    /// The secret the caller derives field salts from (`meta`).
    field_secret: [u8; 32],
    /// The idempotency index, rebuilt from the stored key hashes.
    index: KeyIndex,
    /// The chain's end, and when its record was stored.
    head: Head,
    last_recorded_at: i64,
    /// The counters the store keeps: duplicates and dead-letters.
    duplicates: u64,
    rejected: u64,
}

/// The log. One writer (the ingest loop) owns it; readers use [`Log::reader`].
pub struct Log {
    /// Where the store lives, and how it is opened: for [`Log::reopen`].
    dir: PathBuf,
    options: LogOptions,
    /// The store, shared with every reader and sync handle.
    store: StoreCell,
    field_secret: [u8; 32],
    sync: LogSync,
    index: KeyIndex,
    /// How keys are hashed for the index; replaced only by tests that need
    /// two keys with one hash.
    hash_key: fn(&[u8]) -> KeyHash,
    /// The chain's end as of the last append, so appends need no read.
    head: Head,
    /// The recorded time of the last record: no later record is stamped
    /// earlier, so readers can stop at the first record past a time.
    last_recorded_at: i64,
    /// Deliveries acknowledged as exact duplicates, ever.
    duplicates: u64,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("head", &self.head)
            .field("indexed_keys", &self.index.len())
            .field("duplicates", &self.duplicates)
            .field("rejected", &self.rejected())
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// Opens (or creates) the store in `dir` and reads what the writer
    /// keeps in memory: the head and the idempotency index.
    fn open(dir: &Path, options: LogOptions) -> Result<Self, LogError> {
        let db = open_sled(dir, options.cache_bytes)?;
        let meta = db.open_tree("meta")?;
        match meta.get(FORMAT_KEY)? {
            Some(format) if format.as_ref() == [STORE_FORMAT] => {}
            Some(format) => {
                return Err(LogError::UnsupportedFormat(format!(
                    "the store in {} has format {:?}; this lineaged reads format {STORE_FORMAT}",
                    dir.display(),
                    format.as_ref()
                )));
            }
            None => {
                if db
                    .tree_names()
                    .iter()
                    .any(|name| name.as_ref() == b"records")
                {
                    return Err(LogError::UnsupportedFormat(format!(
                        "the store in {} was written by an earlier lineaged (one sled value per record); \
                         start on an empty data directory and let the stream be consumed again",
                        dir.display()
                    )));
                }
                meta.insert(FORMAT_KEY, &[STORE_FORMAT])?;
            }
        }
        let segments = db.open_tree("segments")?;
        let key_hashes = db.open_tree("key_hashes")?;
        let collisions = db.open_tree("collisions")?;
        let rejections = db.open_tree("rejections")?;
        let checkpoints = db.open_tree("checkpoints")?;
        let erased = db.open_tree("erased")?;
        let pending_redactions = db.open_tree("pending_redactions")?;
        let field_secret = match meta.get(FIELD_SECRET_KEY)? {
            Some(secret) => {
                let secret: [u8; 32] =
                    secret.as_ref().try_into().map_err(|_| LogError::Corrupt {
                        seq: 0,
                        problem: "the field secret is not 32 bytes",
                    })?;
                if options.field_secret.is_some_and(|given| given != secret) {
                    return Err(LogError::UnsupportedFormat(format!(
                        "the store in {} was created with another field secret than the one given",
                        dir.display()
                    )));
                }
                secret
            }
            None if options.field_secret.is_some() => {
                let secret = options.field_secret.unwrap_or_default();
                meta.insert(FIELD_SECRET_KEY, &secret)?;
                secret
            }
            None => {
                let mut secret = [0u8; 32];
                getrandom::getrandom(&mut secret).map_err(|error| {
                    LogError::Storage(sled::Error::Io(std::io::Error::other(format!(
                        "no randomness for the field secret: {error}"
                    ))))
                })?;
                meta.insert(FIELD_SECRET_KEY, &secret)?;
                secret
            }
        };
        let (head, last_recorded_at) = match segments.last()? {
            None => (
                Head {
                    seq: 0,
                    hash: GENESIS_HASH,
                },
                0,
            ),
            Some((key, raw)) => {
                let first_seq = seq_from_key(&key)?;
                let mut last = None;
                for record in SegmentRecords::parse(first_seq, &raw)? {
                    let record = record?;
                    last = Some((record.seq, *record.hash, record.recorded_at));
                }
                let (seq, hash, recorded_at) = last.ok_or(LogError::Corrupt {
                    seq: first_seq,
                    problem: "empty segment",
                })?;
                (Head { seq, hash }, recorded_at)
            }
        };
        let mut index = KeyIndex::with_capacity(head.seq as usize);
        for entry in key_hashes.iter() {
            let (key, hashes) = entry?;
            let first_seq = seq_from_key(&key)?;
            if hashes.len() % KEY_HASH_LEN != 0 {
                return Err(LogError::Corrupt {
                    seq: first_seq,
                    problem: "key hashes of a segment are not whole hashes",
                });
            }
            for (offset, hash) in hashes.chunks_exact(KEY_HASH_LEN).enumerate() {
                index.load(KeyHash::from_bytes(hash), first_seq + offset as u64);
            }
        }
        for entry in collisions.iter() {
            let (key, seq) = entry?;
            index.insert_collided(key.to_vec(), read_u64(&seq));
        }
        let duplicates = meta
            .get(DUPLICATES_KEY)?
            .map(|raw| read_u64(&raw))
            .unwrap_or(0);
        let rejected = rejections.len() as u64;
        Ok(Self {
            store: Store {
                db,
                segments,
                key_hashes,
                collisions,
                rejections,
                checkpoints,
                erased,
                pending_redactions,
                meta,
            },
            field_secret,
            index,
            head,
            last_recorded_at,
            duplicates,
            rejected,
        })
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`, and rebuilds the idempotency
    /// index from the stored key hashes.
    pub fn open(dir: &Path, options: LogOptions) -> Result<Self, LogError> {
        let loaded = Loaded::open(dir, options)?;
        let store = StoreCell::new(loaded.store);
        let sync = LogSync {
            store: store.clone(),
            rejected: Arc::new(AtomicU64::new(loaded.rejected)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            options,
            store,
            field_secret: loaded.field_secret,
            sync,
            index: loaded.index,
            hash_key: KeyHash::of,
            head: loaded.head,
            last_recorded_at: loaded.last_recorded_at,
            duplicates: loaded.duplicates,
        })
    }

    /// Closes the store after a storage error: sled's files are released
    /// as soon as the reads under way end, and until [`Log::reopen`] every
    /// handle answers [`LogError::Closed`] with `reason`. What was
    /// appended and not flushed may or may not be in the store reopened.
    pub fn close(&mut self, reason: String) {
        self.store.set(Err(reason));
    }

    /// Whether the store is open (not closed after a storage error).
    pub fn is_open(&self) -> bool {
        self.store.is_open()
    }

    /// Reopens the store in the directory it was opened from, after
    /// [`Log::close`] or a failed write (a store sled poisoned stays
    /// unusable until it is reopened). The head, the idempotency index and
    /// the counters are read again from what is durable, which may be less
    /// than what was appended (never less than what was flushed). Refuses
    /// a directory that no longer holds this store (a volume that is not
    /// mounted, say) rather than start an empty one there. On error the
    /// log stays closed, with that error as the reason, and may be
    /// reopened again later.
    pub fn reopen(&mut self) -> Result<(), LogError> {
        // sled's lock is released only once the old store is dropped.
        self.store.set(Err("the log is being reopened".into()));
        let reopened = self.load_same_store();
        match reopened {
            Ok(loaded) => {
                self.index = loaded.index;
                self.head = loaded.head;
                self.last_recorded_at = loaded.last_recorded_at;
                self.duplicates = loaded.duplicates;
                self.sync.rejected.store(loaded.rejected, Ordering::Relaxed);
                self.store.set(Ok(Arc::new(loaded.store)));
                Ok(())
            }
            Err(error) => {
                self.store.set(Err(format!("reopening failed: {error}")));
                Err(error)
            }
        }
    }

    fn load_same_store(&self) -> Result<Loaded, LogError> {
        // sled names its data file `db`; without it, sled would start an
        // empty store in whatever the directory now is.
        if !self.dir.join("db").is_file() {
            return Err(LogError::StoreMoved(format!(
                "{} no longer holds the log (is its volume mounted?)",
                self.dir.display()
            )));
        }
        let loaded = Loaded::open(&self.dir, self.options)?;
        if loaded.field_secret != self.field_secret {
            return Err(LogError::StoreMoved(format!(
                "{} now holds another store than the log opened there",
                self.dir.display()
            )));
        }
        Ok(loaded)
    }

    fn store(&self) -> Result<Arc<Store>, LogError> {
        self.store.get()
    }

    /// The segments tree, for tests that damage the store.
    #[cfg(test)]
    fn segments(&self) -> sled::Tree {
        self.store().expect("open").segments.clone()
    }

    pub fn head(&self) -> Head {
        self.head
    }

    /// The secret the caller derives each record's field salts from,
    /// created with the store and never changed (see
    /// `lineage_core::redaction`).
    pub fn field_secret(&self) -> [u8; 32] {
        self.field_secret
    }

    /// Notes that the record `seq` asks for erasures still to be done;
    /// durable with the next flush, so a crash before they are done leaves
    /// them to the next start ([`LogReader::pending_redactions`]).
    pub fn mark_redaction_pending(&self, seq: u64) -> Result<(), LogError> {
        self.store()?
            .pending_redactions
            .insert(seq.to_be_bytes(), &[])?;
        Ok(())
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn rejected(&self) -> u64 {
        self.sync.rejected()
    }

    /// Appends a batch in one transaction, in order. Not durable until
    /// [`Log::flush`] returns. On error nothing of the batch is stored.
    /// Each record is stamped its `received_at` (or `recorded_at` when
    /// that is 0), or the previous record's time if that is later (a clock
    /// stepped back): recorded times never decrease.
    pub fn append_batch(
        &mut self,
        batch: &[NewRecord<'_>],
        recorded_at: i64,
    ) -> Result<Vec<Appended>, LogError> {
        let recorded_at = recorded_at.max(self.last_recorded_at);
        if let Some(record) = batch.iter().find(|r| r.key.len() > u16::MAX as usize) {
            return Err(LogError::KeyTooLong(record.key.len()));
        }
        if let Some(record) = batch.iter().find(|r| r.bytes.len() > u32::MAX as usize) {
            return Err(LogError::PayloadTooLong(record.bytes.len()));
        }
        if cfg!(debug_assertions)
            && let Some(record) = batch
                .iter()
                .find(|r| *blake3::hash(r.bytes).as_bytes() != r.payload_digest)
        {
            return Err(LogError::WrongPayloadDigest {
                stream_seq: record.stream_seq,
            });
        }
        let store = self.store()?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut staged: Vec<Staged<'_>> = Vec::with_capacity(batch.len());
        let mut duplicates = self.duplicates;
        for new in batch {
            let key_hash = (self.hash_key)(new.key);
            let Found {
                stored: existing,
                hash_taken: collided,
            } = self.find(new.key, &key_hash, &staged)?;
            match existing {
                Some((seq, digest)) if digest == new.content_digest => {
                    duplicates += 1;
                    outcomes.push(Appended::Duplicate { seq });
                }
                Some((seq, _)) => outcomes.push(Appended::Conflict { seq }),
                None => {
                    let seq = self.head.seq + 1 + staged.len() as u64;
                    staged.push(Staged {
                        seq,
                        key_hash,
                        collided,
                        new,
                    });
                    outcomes.push(Appended::Stored { seq });
                }
            }
        }

        let (segments, head, last_recorded_at) =
            encode_segments(&staged, self.head, recorded_at, self.last_recorded_at);
        let collisions: Vec<&Staged<'_>> = staged.iter().filter(|s| s.collided).collect();
        let duplicates_changed = duplicates != self.duplicates;
        (
            &store.segments,
            &store.key_hashes,
            &store.collisions,
            &store.meta,
            &store.pending_redactions,
        )
            .transaction(|(segment_tree, hash_tree, collision_tree, meta, pending)| {
                for segment in &segments {
                    let key = segment.first_seq.to_be_bytes();
                    segment_tree.insert(&key, segment.value.as_slice())?;
                    hash_tree.insert(&key, segment.key_hashes.as_slice())?;
                }
                for record in &collisions {
                    collision_tree.insert(record.new.key, &record.seq.to_be_bytes())?;
                }
                if duplicates_changed {
                    meta.insert(DUPLICATES_KEY, &duplicates.to_be_bytes())?;
                }
                for record in staged.iter().filter(|record| record.new.redaction) {
                    pending.insert(&record.seq.to_be_bytes(), &[])?;
                }
                Ok::<_, ConflictableTransactionError<LogError>>(())
            })?;

        for record in &staged {
            if record.collided {
                self.index
                    .insert_collided(record.new.key.to_vec(), record.seq);
            } else {
                self.index.insert(record.key_hash, record.seq);
            }
        }
        self.head = head;
        self.last_recorded_at = last_recorded_at;
        self.duplicates = duplicates;
        Ok(outcomes)
    }

    /// Where `key` is stored (sequence and content digest), looking in the
    /// index and in the batch being staged; and whether its hash is already
    /// another key's.
    fn find(
        &self,
        key: &[u8],
        key_hash: &KeyHash,
        staged: &[Staged<'_>],
    ) -> Result<Found, LogError> {
        let mut hash_taken = false;
        match self.index.lookup(key, key_hash) {
            Lookup::Absent => {}
            Lookup::Exact(seq) => {
                let record = self.stored(seq)?;
                return Ok(Found::at(seq, record.content_digest));
            }
            Lookup::SameHash(seq) => {
                let record = self.stored(seq)?;
                if record.key == key {
                    return Ok(Found::at(seq, record.content_digest));
                }
                hash_taken = true;
            }
        }
        // Batches are a few hundred records: a scan beats building a map.
        for record in staged {
            if record.key_hash == *key_hash {
                if record.new.key == key {
                    return Ok(Found::at(record.seq, record.new.content_digest));
                }
                hash_taken = true;
            }
        }
        Ok(Found {
            stored: None,
            hash_taken,
        })
    }

    fn stored(&self, seq: u64) -> Result<Record, LogError> {
        self.reader().record(seq)?.ok_or(LogError::Corrupt {
            seq,
            problem: "the idempotency index names a record that is not stored",
        })
    }

    /// Makes everything appended so far durable.
    pub async fn flush(&self) -> Result<(), LogError> {
        self.sync.flush().await
    }

    /// A handle that flushes and records dead-letters beside the writer, so
    /// the next batch can be appended while the last one is made durable.
    pub fn sync_handle(&self) -> LogSync {
        self.sync.clone()
    }

    /// A handle for reading records while the writer appends.
    pub fn reader(&self) -> LogReader {
        LogReader {
            store: self.store.clone(),
            field_secret: self.field_secret,
        }
    }
}

/// Flushes the log and keeps the dead-letter ledger; cheap to clone, used
/// beside the writer.
#[derive(Debug, Clone)]
pub struct LogSync {
    store: StoreCell,
    /// Messages dead-lettered, ever (one per stream sequence).
    rejected: Arc<AtomicU64>,
}

impl LogSync {
    fn store(&self) -> Result<Arc<Store>, LogError> {
        self.store.get()
    }

    /// Makes everything appended so far, by any handle, durable.
    pub async fn flush(&self) -> Result<(), LogError> {
        let db = self.store()?.db.clone();
        db.flush_async().await?;
        Ok(())
    }

    /// Records that the message at `stream_seq` was dead-lettered with
    /// `reason`. Returns false if it was already recorded (a redelivery).
    /// Not durable until the next flush.
    pub fn record_rejection(&self, stream_seq: u64, reason: &str) -> Result<bool, LogError> {
        let previous = self.store()?.rejections.compare_and_swap(
            stream_seq.to_be_bytes(),
            None::<&[u8]>,
            Some(reason),
        )?;
        let inserted = previous.is_ok();
        if inserted {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
        Ok(inserted)
    }

    /// Messages dead-lettered, ever.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Stores a checkpoint of record `seq` (replacing one stored for it).
    /// Not durable until the next flush.
    pub fn store_checkpoint(&self, seq: u64, checkpoint: &[u8]) -> Result<(), LogError> {
        self.store()?
            .checkpoints
            .insert(seq.to_be_bytes(), checkpoint)?;
        Ok(())
    }

    /// Replaces the payload of record `seq` with `bytes` and keeps `kept`
    /// beside it (what the caller needs to show the replacement still
    /// commits to the record's content digest), in one transaction. Every
    /// other field of the record, its hash included, stays. Not durable
    /// until the next flush. Appends never rewrite a stored segment, so
    /// this may run beside the writer.
    pub fn erase_payload(&self, seq: u64, bytes: &[u8], kept: &[u8]) -> Result<(), LogError> {
        if bytes.len() > u32::MAX as usize {
            return Err(LogError::PayloadTooLong(bytes.len()));
        }
        let missing = LogError::Corrupt {
            seq,
            problem: "no stored segment holds the record to erase",
        };
        let store = self.store()?;
        let (key, _) = store
            .segments
            .range(..=seq.to_be_bytes())
            .next_back()
            .ok_or_else(|| missing.clone())??;
        let first_seq = seq_from_key(&key)?;
        (&store.segments, &store.erased).transaction(|(segments, erased)| {
            let raw = segments
                .get(&key)?
                .ok_or_else(|| ConflictableTransactionError::Abort(missing.clone()))?;
            let rewritten = segment::with_bytes_replaced(first_seq, &raw, seq, bytes)
                .map_err(ConflictableTransactionError::Abort)?;
            segments.insert(&key, rewritten)?;
            erased.insert(&seq.to_be_bytes(), kept)?;
            Ok::<_, ConflictableTransactionError<LogError>>(())
        })?;
        Ok(())
    }

    /// Notes that every erasure the redaction at `seq` asked for is done.
    /// Not durable until the next flush.
    pub fn redaction_done(&self, seq: u64) -> Result<(), LogError> {
        self.store()?.pending_redactions.remove(seq.to_be_bytes())?;
        Ok(())
    }
}

/// One segment ready to store.
struct EncodedSegment {
    first_seq: u64,
    value: Vec<u8>,
    key_hashes: Vec<u8>,
}

/// Chains the staged records onto `head` and cuts them into segments.
/// The records' segments, the new head, and the last record's time
/// (`after`, the time of the record before them, when none is staged).
fn encode_segments(
    staged: &[Staged<'_>],
    mut head: Head,
    batch_recorded_at: i64,
    after: i64,
) -> (Vec<EncodedSegment>, Head, i64) {
    let mut segments = Vec::new();
    let mut writer: Option<(u64, SegmentWriter, Vec<u8>)> = None;
    let mut last_recorded_at = after;
    for record in staged {
        let new = record.new;
        let recorded_at = if new.received_at == 0 {
            batch_recorded_at
        } else {
            new.received_at
        }
        .max(last_recorded_at);
        last_recorded_at = recorded_at;
        let payload_digest = new.payload_digest;
        let hash = record_hash(
            &head.hash,
            record.seq,
            new.stream_seq,
            recorded_at,
            new.encoding,
            new.key,
            &new.content_digest,
            &payload_digest,
        );
        let (_, segment, hashes) = writer.get_or_insert_with(|| {
            (
                record.seq,
                SegmentWriter::new(&head.hash, SEGMENT_TARGET_BYTES),
                Vec::new(),
            )
        });
        segment.push(&RecordRef {
            seq: record.seq,
            stream_seq: new.stream_seq,
            recorded_at,
            encoding: new.encoding,
            key: new.key,
            content_digest: &new.content_digest,
            payload_digest: &payload_digest,
            prev_hash: &head.hash,
            hash: &hash,
            bytes: new.bytes,
        });
        hashes.extend_from_slice(&record.key_hash.to_bytes());
        head = Head {
            seq: record.seq,
            hash,
        };
        if segment.encoded_len() >= SEGMENT_TARGET_BYTES {
            let (first_seq, segment, key_hashes) = writer.take().expect("a segment is open");
            segments.push(EncodedSegment {
                first_seq,
                value: segment.finish(),
                key_hashes,
            });
        }
    }
    if let Some((first_seq, segment, key_hashes)) = writer
        && !segment.is_empty()
    {
        segments.push(EncodedSegment {
            first_seq,
            value: segment.finish(),
            key_hashes,
        });
    }
    (segments, head, last_recorded_at)
}

/// Reads records; cheap to clone, safe beside the writer.
#[derive(Debug, Clone)]
pub struct LogReader {
    store: StoreCell,
    field_secret: [u8; 32],
}

/// The entries of a range of a tree, or the error that kept it from being
/// read, as one iterator.
fn entries_or(
    range: Result<sled::Iter, LogError>,
) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), LogError>> {
    let (range, error) = match range {
        Ok(range) => (Some(range), None),
        Err(error) => (None, Some(error)),
    };
    error.into_iter().map(Err).chain(
        range
            .into_iter()
            .flatten()
            .map(|entry| entry.map_err(LogError::from)),
    )
}

impl LogReader {
    fn store(&self) -> Result<Arc<Store>, LogError> {
        self.store.get()
    }

    /// The stored segments that hold `from_seq` and everything after it.
    fn segments_from(&self, from_seq: u64) -> Result<sled::Iter, LogError> {
        let store = self.store()?;
        let start = match store.segments.range(..=from_seq.to_be_bytes()).next_back() {
            Some(entry) => entry?.0,
            None => sled::IVec::from(&from_seq.to_be_bytes()),
        };
        Ok(store.segments.range(start..))
    }

    /// Calls `visit` with each record from `from_seq` (inclusive) to the
    /// end, in order, borrowing it from its segment: the fast way through
    /// the whole log.
    pub fn for_each_from<E: From<LogError>>(
        &self,
        from_seq: u64,
        mut visit: impl FnMut(RecordRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        for entry in self.segments_from(from_seq)? {
            let (key, raw) = entry.map_err(LogError::from)?;
            for record in SegmentRecords::parse(seq_from_key(&key)?, &raw)? {
                let record = record?;
                if record.seq >= from_seq {
                    visit(record)?;
                }
            }
        }
        Ok(())
    }

    /// Records from `from_seq` (inclusive) to the end, in order, owned.
    pub fn records_from(
        &self,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<Record, LogError>> + use<> {
        let segments = self.segments_from(from_seq);
        let mut pending = std::collections::VecDeque::new();
        let mut segments = match segments {
            Ok(iter) => Some(iter),
            Err(error) => {
                pending.push_back(Err(error));
                None
            }
        };
        std::iter::from_fn(move || {
            loop {
                if let Some(next) = pending.pop_front() {
                    return Some(next);
                }
                let entry = segments.as_mut()?.next()?;
                let parsed = entry.map_err(LogError::from).and_then(|(key, raw)| {
                    let records: Vec<Result<Record, LogError>> =
                        SegmentRecords::parse(seq_from_key(&key)?, &raw)?
                            .filter(|r| r.as_ref().map_or(true, |r| r.seq >= from_seq))
                            .map(|r| r.map(|r| r.to_owned()))
                            .collect();
                    Ok(records)
                });
                match parsed {
                    Ok(records) => {
                        let failed = records.iter().any(Result::is_err);
                        pending.extend(records);
                        if failed {
                            segments = None;
                        }
                    }
                    Err(error) => {
                        segments = None;
                        return Some(Err(error));
                    }
                }
            }
        })
    }

    /// The stored checkpoints of records `from_seq..=to_seq`, in order.
    pub fn checkpoints(
        &self,
        from_seq: u64,
        to_seq: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), LogError>> + use<> {
        let range = self.store().map(|store| {
            store
                .checkpoints
                .range(from_seq.to_be_bytes()..=to_seq.to_be_bytes())
        });
        entries_or(range).map(|entry| {
            let (key, value) = entry?;
            Ok((seq_from_key(&key)?, value))
        })
    }

    /// See [`Log::field_secret`].
    pub fn field_secret(&self) -> [u8; 32] {
        self.field_secret
    }

    /// What was kept beside record `seq` when its payload was erased, if it
    /// was ([`LogSync::erase_payload`]).
    pub fn erased(&self, seq: u64) -> Result<Option<sled::IVec>, LogError> {
        Ok(self.store()?.erased.get(seq.to_be_bytes())?)
    }

    /// The records of `from_seq..=to_seq` whose payloads were erased, with
    /// what was kept beside each, in order.
    pub fn erased_in(
        &self,
        from_seq: u64,
        to_seq: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), LogError>> + use<> {
        let range = self.store().map(|store| {
            store
                .erased
                .range(from_seq.to_be_bytes()..=to_seq.to_be_bytes())
        });
        entries_or(range).map(|entry| {
            let (key, value) = entry?;
            Ok((seq_from_key(&key)?, value))
        })
    }

    /// Redactions whose erasures are not all done, oldest first.
    pub fn pending_redactions(&self) -> Result<Vec<u64>, LogError> {
        self.store()?
            .pending_redactions
            .iter()
            .keys()
            .map(|key| seq_from_key(&key?))
            .collect()
    }

    /// The last record's sequence (0 for an empty log).
    pub fn last_seq(&self) -> Result<u64, LogError> {
        let Some((key, raw)) = self.store()?.segments.last()? else {
            return Ok(0);
        };
        let first_seq = seq_from_key(&key)?;
        let records = SegmentRecords::parse(first_seq, &raw)?;
        Ok(first_seq + records.len() as u64 - 1)
    }

    /// The newest checkpoint stored, of any record.
    pub fn last_checkpoint(&self) -> Result<Option<(u64, sled::IVec)>, LogError> {
        match self.store()?.checkpoints.last()? {
            Some((key, value)) => Ok(Some((seq_from_key(&key)?, value))),
            None => Ok(None),
        }
    }

    /// The record at `seq`, if stored.
    pub fn record(&self, seq: u64) -> Result<Option<Record>, LogError> {
        let Some(entry) = self
            .store()?
            .segments
            .range(..=seq.to_be_bytes())
            .next_back()
        else {
            return Ok(None);
        };
        let (key, raw) = entry?;
        for record in SegmentRecords::parse(seq_from_key(&key)?, &raw)? {
            let record = record?;
            if record.seq == seq {
                return Ok(Some(record.to_owned()));
            }
        }
        Ok(None)
    }

    /// The last sequence among the records stored by `time` (unix nanos),
    /// 0 if none was: what "as of a recorded time" means in sequences. A
    /// binary search, which holds because recorded times never decrease
    /// along the log (see [`Log::append_batch`]).
    pub fn last_seq_recorded_by(&self, time: i64) -> Result<u64, LogError> {
        // Invariant: record `low` (or none, at 0) was stored by `time`;
        // every record after `high` was stored later.
        let (mut low, mut high) = (0, self.last_seq()?);
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            let recorded_at = self
                .record(mid)?
                .ok_or(LogError::Corrupt {
                    seq: mid,
                    problem: "a record is missing between the first and the last",
                })?
                .recorded_at;
            if recorded_at <= time {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        Ok(low)
    }

    /// Recomputes the hash chain from the first record: every sequence
    /// present and dense, every link, hash, payload digest and index entry
    /// right.
    pub fn verify(&self) -> Result<Verification, LogError> {
        self.verify_range(1, u64::MAX)
    }

    /// [`LogReader::verify`] of the records `from_seq..=to_seq` (to the end
    /// if there are fewer). The chain is anchored on the stored hash of the
    /// record before `from_seq`, which this does not check: only a check
    /// from the first record, or from a hash known some other way, proves
    /// everything before it too.
    pub fn verify_range(&self, from_seq: u64, to_seq: u64) -> Result<Verification, LogError> {
        let from_seq = from_seq.max(1);
        let head = match from_seq - 1 {
            0 => Head {
                seq: 0,
                hash: GENESIS_HASH,
            },
            before => match self.record(before)? {
                Some(record) => Head {
                    seq: before,
                    hash: record.hash,
                },
                None => {
                    return Ok(Verification {
                        records_checked: 0,
                        head: Head {
                            seq: before,
                            hash: GENESIS_HASH,
                        },
                        first_problem: Some((before, "no record to anchor the chain on")),
                    });
                }
            },
        };
        let store = self.store()?;
        let mut check = ChainCheck::anchored(head.seq, head.hash);
        // Erased payloads are rare: their sequences fit in memory.
        let erased = self
            .erased_in(from_seq, to_seq)
            .map(|entry| entry.map(|(seq, _)| seq))
            .collect::<Result<std::collections::BTreeSet<u64>, LogError>>()?;
        let problem_at = |check: &ChainCheck, seq, problem| {
            let (seq_held, hash) = check.head();
            Verification {
                records_checked: check.checked(),
                head: Head {
                    seq: seq_held,
                    hash,
                },
                first_problem: Some((seq, problem)),
            }
        };
        for entry in self.segments_from(from_seq)? {
            let (key, raw) = entry?;
            let first_seq = seq_from_key(&key)?;
            if first_seq > to_seq {
                break;
            }
            // The segment holding `from_seq` may start before it.
            let next = check.head().0 + 1;
            if first_seq != next && !(check.checked() == 0 && first_seq <= from_seq) {
                return Ok(problem_at(&check, next, ChainBreak::SequenceGap.as_str()));
            }
            let records = match SegmentRecords::parse(first_seq, &raw) {
                Ok(records) => records,
                Err(LogError::Corrupt { seq, problem }) => {
                    return Ok(problem_at(&check, seq, problem));
                }
                Err(error) => return Err(error),
            };
            let hashes = store.key_hashes.get(&key)?.unwrap_or_default();
            if hashes.len() != records.len() as usize * KEY_HASH_LEN {
                return Ok(problem_at(
                    &check,
                    first_seq,
                    "the idempotency index does not match the segment",
                ));
            }
            for (position, record) in records.enumerate() {
                let record = match record {
                    Ok(record) => record,
                    Err(LogError::Corrupt { seq, problem }) => {
                        return Ok(problem_at(&check, seq, problem));
                    }
                    Err(error) => return Err(error),
                };
                if record.seq < from_seq {
                    continue;
                }
                if record.seq > to_seq {
                    break;
                }
                let stored_key_hash =
                    &hashes[position * KEY_HASH_LEN..(position + 1) * KEY_HASH_LEN];
                let before = check;
                let checked = if erased.contains(&record.seq) {
                    check.check_erased(&record.chained())
                } else {
                    match check.check(&record.chained()) {
                        // Erased since the erased records were listed (a
                        // redaction carried out beside this verification).
                        Err(ChainBreak::Payload)
                            if store.erased.contains_key(record.seq.to_be_bytes())? =>
                        {
                            check.check_erased(&record.chained())
                        }
                        checked => checked,
                    }
                };
                if let Err(problem) = checked {
                    return Ok(problem_at(&check, record.seq, problem.as_str()));
                }
                if KeyHash::of(record.key).to_bytes() != stored_key_hash {
                    return Ok(problem_at(
                        &before,
                        record.seq,
                        "the idempotency index does not match the record",
                    ));
                }
            }
        }
        let (seq, hash) = check.head();
        Ok(Verification {
            records_checked: check.checked(),
            head: Head { seq, hash },
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

#[cfg(test)]
mod tests;
