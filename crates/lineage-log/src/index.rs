//! The idempotency index, held in memory: which sequence stores each key.
//!
//! Keys are long (workspace and event id) and there is one per record, so the
//! index keeps a 128-bit hash of each key (about 30 bytes per record in all)
//! and persists nothing per record: the hashes of each segment are stored
//! beside it in one value, and [`KeyIndex`] is rebuilt from them at open,
//! which reads 16 bytes per record rather than the records themselves.
//!
//! A hash match is confirmed against the stored record's key before it is
//! believed. Two different keys with the same 128-bit hash will not occur in
//! practice, but if they do, the later key is kept exactly (and persisted in
//! the `collisions` tree), so the index is never wrong, only slower.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A key's 128-bit blake3 hash, as two words (8-byte aligned, so an entry
/// of the map is 24 bytes, not 32).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct KeyHash([u64; 2]);

impl std::hash::Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: one word is as good as a hash.
        state.write_u64(self.0[0]);
    }
}

pub(crate) const KEY_HASH_LEN: usize = 16;

impl KeyHash {
    pub(crate) fn of(key: &[u8]) -> Self {
        Self::from_bytes(&blake3::hash(key).as_bytes()[..KEY_HASH_LEN])
    }

    pub(crate) fn to_bytes(self) -> [u8; KEY_HASH_LEN] {
        let mut out = [0; KEY_HASH_LEN];
        out[..8].copy_from_slice(&self.0[0].to_le_bytes());
        out[8..].copy_from_slice(&self.0[1].to_le_bytes());
        out
    }

    /// From the first 16 bytes of `bytes`.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self([
            u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
        ])
    }
}

/// The identity hasher for [`KeyHash`], which hashes itself as one word.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if something other than a KeyHash is hashed.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }
}

/// Key hash -> the sequence of the record stored under that key; exact keys
/// for the (never expected) hashes shared by two keys.
#[derive(Default)]
pub(crate) struct KeyIndex {
    by_hash: HashMap<KeyHash, u64, BuildHasherDefault<PassThrough>>,
    collided: HashMap<Vec<u8>, u64>,
}

/// Where a key may be stored.
pub(crate) enum Lookup {
    /// Not stored.
    Absent,
    /// Stored at this sequence, certainly (an exact key match).
    Exact(u64),
    /// A record with the same key hash is at this sequence: compare keys.
    SameHash(u64),
}

impl KeyIndex {
    pub(crate) fn with_capacity(records: usize) -> Self {
        Self {
            by_hash: HashMap::with_capacity_and_hasher(records, Default::default()),
            collided: HashMap::new(),
        }
    }

    pub(crate) fn lookup(&self, key: &[u8], hash: &KeyHash) -> Lookup {
        if let Some(&seq) = self.collided.get(key) {
            return Lookup::Exact(seq);
        }
        match self.by_hash.get(hash) {
            Some(&seq) => Lookup::SameHash(seq),
            None => Lookup::Absent,
        }
    }

    /// Loads a persisted hash; the first record with a hash owns it (a later
    /// record with the same hash is in `collided`).
    pub(crate) fn load(&mut self, hash: KeyHash, seq: u64) {
        self.by_hash.entry(hash).or_insert(seq);
    }

    pub(crate) fn insert(&mut self, hash: KeyHash, seq: u64) {
        self.by_hash.insert(hash, seq);
    }

    pub(crate) fn insert_collided(&mut self, key: Vec<u8>, seq: u64) {
        self.collided.insert(key, seq);
    }

    pub(crate) fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }
}
