//! Erasure that keeps lineage: which fields of an event may hold personal
//! data, and how the log commits to an event's content so that those fields
//! can be erased later without breaking its hash chain.
//!
//! A record's content digest is a commitment, not a hash of the event's
//! bytes: the hash of the event's *skeleton* (its canonical encoding with
//! every personal field emptied) and of one digest per personal field, each
//! a keyed hash of the field's value under a salt of its own. Erasing a
//! value keeps its digest, so whoever checks a redacted record recomputes
//! the same commitment from the skeleton, the digests of what was erased and
//! the values (with their salts) of what was kept; the record's hash, which
//! covers the content digest, still holds.
//!
//! Salts derive from a secret the log keeps: without it, nobody can confirm
//! a guess of an erased value against its digest (an e-mail address is
//! easy to guess). A replay hands out a record's field key, from which all
//! its salts derive, only while nothing of the record is erased; after a
//! redaction it hands out the salts of the kept fields alone.

use std::collections::BTreeMap;
use std::fmt;

/// A field that may hold personal data, by the name a redaction uses.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PersonalField {
    /// Who or what published the event (every event has one).
    Actor,
    /// Who approved a registration or a stage change.
    ApprovedBy,
    /// A registration's approval notes.
    ApprovalNotes,
    /// Free text explaining a stage change or a flag.
    Reason,
    /// A failed run's error message.
    Error,
    /// An experiment's description.
    Description,
    /// The value of one tag (the key stays: it names what was erased).
    Tag(String),
}

/// Tag keys are at most this long (the graph's key rule).
const MAX_TAG_KEY: usize = 256;

impl PersonalField {
    /// Reads a field name: `actor`, `approved_by`, `approval_notes`,
    /// `reason`, `error`, `description` or `tags.<key>`.
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "actor" => PersonalField::Actor,
            "approved_by" => PersonalField::ApprovedBy,
            "approval_notes" => PersonalField::ApprovalNotes,
            "reason" => PersonalField::Reason,
            "error" => PersonalField::Error,
            "description" => PersonalField::Description,
            _ => match name.strip_prefix("tags.") {
                Some(key)
                    if !key.is_empty()
                        && key.len() <= MAX_TAG_KEY
                        && !key.chars().any(char::is_control) =>
                {
                    PersonalField::Tag(key.to_owned())
                }
                Some(_) => {
                    return Err(format!(
                        "{name:?}: a tag field is tags.<key>, with a key of 1 to {MAX_TAG_KEY} bytes without control characters"
                    ));
                }
                None => {
                    return Err(format!(
                        "{name:?} is not a personal field; one of actor, approved_by, approval_notes, reason, error, description, tags.<key>"
                    ));
                }
            },
        })
    }

    /// The name a redaction and a commitment use for the field.
    pub fn path(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PersonalField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonalField::Actor => f.write_str("actor"),
            PersonalField::ApprovedBy => f.write_str("approved_by"),
            PersonalField::ApprovalNotes => f.write_str("approval_notes"),
            PersonalField::Reason => f.write_str("reason"),
            PersonalField::Error => f.write_str("error"),
            PersonalField::Description => f.write_str("description"),
            PersonalField::Tag(key) => write!(f, "tags.{key}"),
        }
    }
}

/// The key from which one record's field salts derive: a keyed hash of the
/// record's idempotency key under the log's secret, so that a retry of an
/// event commits to its content exactly as the first delivery did.
pub fn record_field_key(secret: &[u8; 32], record_key: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(secret);
    hasher.update(b"lineage-field-key-v1");
    hasher.update(record_key);
    *hasher.finalize().as_bytes()
}

/// The salt of one field of a record.
pub fn field_salt(field_key: &[u8; 32], path: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(field_key);
    hasher.update(b"lineage-field-salt-v1");
    hasher.update(path.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The digest that stands for a field's value once it is erased.
pub fn field_digest(salt: &[u8; 32], value: &str) -> [u8; 32] {
    *blake3::keyed_hash(salt, value.as_bytes()).as_bytes()
}

/// The commitment to an event's content: its skeleton and the digest of
/// each personal field it has, by path.
pub fn content_commitment(skeleton: &[u8], fields: &BTreeMap<String, [u8; 32]>) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"lineage-content-v2");
    hasher.update(&(skeleton.len() as u64).to_be_bytes());
    hasher.update(skeleton);
    hasher.update(&(fields.len() as u64).to_be_bytes());
    for (path, digest) in fields {
        hasher.update(&(path.len() as u64).to_be_bytes());
        hasher.update(path.as_bytes());
        hasher.update(digest);
    }
    *hasher.finalize().as_bytes()
}

/// What a record keeps of the fields a redaction erased: the digest of each
/// erased value, and which redaction erased it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ErasedFields {
    /// The log sequence of the `RedactionRequested` record.
    pub redaction_seq: u64,
    /// The digest of each erased value, by path.
    pub digests: BTreeMap<String, [u8; 32]>,
}

impl ErasedFields {
    /// `redaction_seq:u64 | count:u32 | (path_len:u16 | path | digest:[32])*`,
    /// big-endian: how the log stores it beside a redacted record.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(12 + self.digests.len() * 48);
        bytes.extend(self.redaction_seq.to_be_bytes());
        bytes.extend((self.digests.len() as u32).to_be_bytes());
        for (path, digest) in &self.digests {
            bytes.extend((path.len() as u16).to_be_bytes());
            bytes.extend(path.as_bytes());
            bytes.extend(digest);
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err("erased fields cut short".to_owned());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let redaction_seq = u64::from_be_bytes(take(8)?.try_into().expect("8 bytes"));
        let count = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
        let mut digests = BTreeMap::new();
        for _ in 0..count {
            let len = u16::from_be_bytes(take(2)?.try_into().expect("2 bytes")) as usize;
            let path = std::str::from_utf8(take(len)?)
                .map_err(|_| "an erased field's path is not UTF-8".to_owned())?
                .to_owned();
            let digest: [u8; 32] = take(32)?.try_into().expect("32 bytes");
            digests.insert(path, digest);
        }
        if !rest.is_empty() {
            return Err("erased fields have trailing bytes".to_owned());
        }
        Ok(Self {
            redaction_seq,
            digests,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip_and_bad_ones_say_why() {
        for name in [
            "actor",
            "approved_by",
            "approval_notes",
            "reason",
            "error",
            "description",
            "tags.owner",
        ] {
            assert_eq!(PersonalField::parse(name).expect(name).path(), name);
        }
        assert!(
            PersonalField::parse("owner")
                .expect_err("not a field")
                .contains("tags.<key>")
        );
        assert!(PersonalField::parse("tags.").is_err());
        assert!(PersonalField::parse("tags.a\u{7}").is_err());
    }

    #[test]
    fn a_commitment_survives_erasure_and_binds_every_part() {
        let secret = [3; 32];
        let key = record_field_key(&secret, b"ws\0ev-1");
        let salt = field_salt(&key, "actor");
        let mut fields = BTreeMap::new();
        fields.insert("actor".to_owned(), field_digest(&salt, "alice@example.com"));
        let committed = content_commitment(b"skeleton", &fields);
        // What a redacted record keeps recomputes the same commitment.
        let erased = ErasedFields {
            redaction_seq: 9,
            digests: fields.clone(),
        };
        let kept = ErasedFields::from_bytes(&erased.to_bytes()).expect("round trip");
        assert_eq!(kept, erased);
        assert_eq!(content_commitment(b"skeleton", &kept.digests), committed);
        // Another value, salt, skeleton or secret commits to something else.
        let other_value = BTreeMap::from([(
            "actor".to_owned(),
            field_digest(&salt, "mallory@example.com"),
        )]);
        assert_ne!(content_commitment(b"skeleton", &other_value), committed);
        assert_ne!(content_commitment(b"skeletoN", &fields), committed);
        assert_ne!(field_salt(&key, "reason"), salt);
        assert_ne!(record_field_key(&[4; 32], b"ws\0ev-1"), key);
        assert!(ErasedFields::from_bytes(&erased.to_bytes()[..20]).is_err());
    }
}
