//! Erasure that keeps lineage, on the log's side.
//!
//! A `RedactionRequested` record asks that named personal fields be erased
//! from every earlier event about an entity (the events it is the subject
//! of). The graph erases them when it applies the request; this module
//! erases them from the log: each such record's payload is replaced with
//! its event re-encoded (canonical protobuf) without the erased values, and
//! the digest of each erased value is kept beside it, so the record still
//! proves its content digest, which its hash covers (the scheme is
//! `lineage_core::redaction`'s). The messages are erased from the JetStream
//! stream too, and snapshots written before are deleted, by the ingest's
//! committer ([`crate::ingest`]).
//!
//! A redaction's erasures are noted as pending when its record is appended
//! and marked done once they are durable, so a crash in between leaves them
//! to the next start; carrying one out twice changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use lineage_core::EntityKey;
use lineage_core::event::Payload;
use lineage_core::redaction::{ErasedFields, field_digest, field_salt, record_field_key};
use lineage_log::{LogError, LogReader, LogSync, Record, RecordRef};
use lineage_proto::fields;
use lineage_proto::v1;
use lineage_proto::validate::{self, Encoding};

/// The event a stored record holds. An erased record's bytes are the
/// canonical protobuf encoding of what was kept, whatever the encoding the
/// event arrived in.
pub(crate) fn decode_stored(
    seq: u64,
    encoding: u8,
    bytes: &[u8],
    erased: bool,
) -> Result<v1::Event, String> {
    let encoding = if erased {
        Encoding::Protobuf
    } else {
        Encoding::from_byte(encoding)
            .ok_or_else(|| format!("record {seq} has unknown encoding {encoding}"))?
    };
    validate::decode_event(bytes, encoding)
        .map_err(|rejection| format!("record {seq} no longer decodes: {rejection}"))
}

/// The validated event stored at `seq`, erased or not; `None` if no record
/// is stored there.
fn stored_event(reader: &LogReader, seq: u64) -> Result<Option<lineage_core::Event>, String> {
    let storage = |error: LogError| error.to_string();
    let Some(record) = reader.record(seq).map_err(storage)? else {
        return Ok(None);
    };
    let erased = reader.erased(seq).map_err(storage)?.is_some();
    let wire = decode_stored(seq, record.encoding, &record.bytes, erased)?;
    validate::validate_logged_event(&wire)
        .map(Some)
        .map_err(|rejection| format!("record {seq} no longer validates: {rejection}"))
}

/// The sequences of the erased records of `from_seq..=to_seq` (few: only
/// redactions make them).
pub(crate) fn erased_seqs(
    reader: &LogReader,
    from_seq: u64,
    to_seq: u64,
) -> Result<BTreeSet<u64>, LogError> {
    reader
        .erased_in(from_seq, to_seq)
        .map(|entry| entry.map(|(seq, _)| seq))
        .collect()
}

/// What carrying out one redaction did.
#[derive(Debug, Default)]
pub(crate) struct Erasure {
    /// The entity whose events were redacted.
    pub entity: Option<EntityKey>,
    /// Records whose payloads were rewritten.
    pub records: u64,
    /// Their JetStream stream sequences, to erase from the stream.
    pub stream_seqs: Vec<u64>,
}

/// Erases, from every record before `redaction_seq` about the entity the
/// redaction names, the fields it names. Not durable until the next flush.
/// Reads the whole log before the redaction once (redactions are rare and
/// the log keeps no index of records by entity).
pub(crate) fn carry_out(
    reader: &LogReader,
    sync: &LogSync,
    redaction_seq: u64,
) -> Result<Erasure, String> {
    let storage = |error: LogError| error.to_string();
    let event = stored_event(reader, redaction_seq)?
        .ok_or_else(|| format!("the redaction at record {redaction_seq} is not stored"))?;
    let Payload::RedactionRequested(redaction) = &event.payload else {
        return Err(format!(
            "record {redaction_seq} is not a RedactionRequested"
        ));
    };
    let paths: BTreeSet<String> = redaction.fields.iter().map(|field| field.path()).collect();
    let erased = erased_seqs(reader, 1, redaction_seq).map_err(storage)?;

    // First find the records (sequences only: an entity may have many).
    let mut about = Vec::new();
    reader
        .for_each_from(1, |record: RecordRef<'_>| {
            if record.seq >= redaction_seq {
                return Err(Scan::Done);
            }
            let wire = decode_stored(
                record.seq,
                record.encoding,
                record.bytes,
                erased.contains(&record.seq),
            )?;
            let names_a_field = fields::split(&wire)
                .1
                .iter()
                .any(|(path, value)| paths.contains(path) && !value.is_empty());
            if names_a_field
                && validate::validate_logged_event(&wire)
                    .is_ok_and(|event| event.subject().as_ref() == Some(&redaction.entity))
            {
                about.push(record.seq);
            }
            Ok(())
        })
        .or_else(|scan| match scan {
            Scan::Done => Ok(()),
            Scan::Failed(problem) => Err(problem),
        })?;

    let secret = reader.field_secret();
    let mut erasure = Erasure {
        entity: Some(redaction.entity.clone()),
        ..Erasure::default()
    };
    for seq in about {
        let record = reader
            .record(seq)
            .map_err(storage)?
            .ok_or_else(|| format!("record {seq} vanished during a redaction"))?;
        let kept = reader.erased(seq).map_err(storage)?;
        let mut wire = decode_stored(seq, record.encoding, &record.bytes, kept.is_some())?;
        let mut digests = match &kept {
            Some(bytes) => {
                ErasedFields::from_bytes(bytes)
                    .map_err(|problem| format!("record {seq}: {problem}"))?
                    .digests
            }
            None => BTreeMap::new(),
        };
        let field_key = record_field_key(&secret, &record.key);
        let values = fields::split(&wire).1;
        let emptied = fields::erase(&mut wire, &paths);
        for path in &emptied {
            let digest = field_digest(&field_salt(&field_key, path), &values[path]);
            digests.insert(path.clone(), digest);
        }
        let kept = ErasedFields {
            redaction_seq,
            digests,
        };
        sync.erase_payload(seq, &fields::canonical_bytes(&wire), &kept.to_bytes())
            .map_err(storage)?;
        erasure.records += 1;
        erasure.stream_seqs.push(record.stream_seq);
    }
    Ok(erasure)
}

/// Why the scan for a redaction's records stopped.
enum Scan {
    Done,
    Failed(String),
}

impl From<String> for Scan {
    fn from(problem: String) -> Self {
        Scan::Failed(problem)
    }
}

impl From<LogError> for Scan {
    fn from(error: LogError) -> Self {
        Scan::Failed(error.to_string())
    }
}

/// Checks each erased record of `from_seq..=to_seq`: what replaced its
/// payload, with the digests kept for the erased values, must commit to the
/// record's content digest (which the chain covers), and the redaction it
/// names must be a `RedactionRequested` after it about the record's entity.
/// Returns the first record that fails and why.
pub(crate) fn check_erased(
    reader: &LogReader,
    from_seq: u64,
    to_seq: u64,
) -> Result<Option<(u64, String)>, LogError> {
    let secret = reader.field_secret();
    for entry in reader.erased_in(from_seq, to_seq) {
        let (seq, kept) = entry?;
        let Some(record) = reader.record(seq)? else {
            return Ok(Some((seq, "an erased record that is not stored".into())));
        };
        if let Err(problem) = check_one(reader, &secret, &record, &kept) {
            return Ok(Some((seq, format!("erased record {seq}: {problem}"))));
        }
    }
    Ok(None)
}

fn check_one(
    reader: &LogReader,
    secret: &[u8; 32],
    record: &Record,
    kept: &[u8],
) -> Result<(), String> {
    let kept = ErasedFields::from_bytes(kept)?;
    let wire = decode_stored(record.seq, record.encoding, &record.bytes, true)?;
    let field_key = record_field_key(secret, &record.key);
    let committed = fields::redacted_commitment(&wire, &kept.digests, |path| {
        Some(field_salt(&field_key, path))
    })?;
    if committed != record.content_digest {
        return Err("what replaced its payload does not commit to its content digest".into());
    }
    if kept.redaction_seq <= record.seq {
        return Err(format!(
            "it names record {} as its redaction, which is not after it",
            kept.redaction_seq
        ));
    }
    let subject = validate::validate_logged_event(&wire)
        .map_err(|rejection| rejection.to_string())?
        .subject()
        .ok_or("its event has no subject a redaction could name")?;
    let redaction = stored_event(reader, kept.redaction_seq)?.ok_or_else(|| {
        format!(
            "its redaction, record {}, is not stored",
            kept.redaction_seq
        )
    })?;
    match &redaction.payload {
        Payload::RedactionRequested(asked) if asked.entity == subject => Ok(()),
        _ => Err(format!(
            "record {} is not a redaction of {subject}",
            kept.redaction_seq
        )),
    }
}

/// What a replayed record says of its personal fields: the field key while
/// nothing of it is erased; once something is, the digests of what was
/// erased and the salts of what was kept.
pub(crate) fn replayed_fields(
    secret: &[u8; 32],
    record: &RecordRef<'_>,
    event: Option<&v1::Event>,
    kept: Option<&[u8]>,
) -> (String, Option<v1::RecordRedaction>) {
    let field_key = record_field_key(secret, record.key);
    let Some(kept) = kept else {
        return (hex::encode(field_key), None);
    };
    // A damaged entry is sent as nothing erased; VerifyLog names it.
    let Ok(kept) = ErasedFields::from_bytes(kept) else {
        return (String::new(), Some(v1::RecordRedaction::default()));
    };
    let kept_salts = event
        .map(fields::personal_paths)
        .unwrap_or_default()
        .into_iter()
        .filter(|path| !kept.digests.contains_key(path))
        .map(|path| {
            let salt = hex::encode(field_salt(&field_key, &path));
            (path, salt)
        })
        .collect();
    let redaction = v1::RecordRedaction {
        redaction_seq: kept.redaction_seq,
        erased_digests: kept
            .digests
            .iter()
            .map(|(path, digest)| (path.clone(), hex::encode(digest)))
            .collect(),
        kept_salts,
    };
    (String::new(), Some(redaction))
}
