//! The personal fields of a wire event, and the commitment a log record
//! holds to an event's content: its skeleton and a salted digest of each
//! personal field, so that a redaction can erase the fields and the record
//! still proves what it held (the scheme is `lineage_core::redaction`'s; the
//! bytes are spelled out in service.proto, `LogRecord.content_digest`).

use std::collections::{BTreeMap, BTreeSet};

use lineage_core::redaction::{content_commitment, field_digest, field_salt};
use prost::Message as _;

use crate::v1;
use crate::v1::event::Payload;

/// The digests a log record holds of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    /// The commitment to the event's content, whatever its encoding: two
    /// deliveries of one event id are the same event iff equal.
    pub content: [u8; 32],
    /// blake3 of the bytes as received.
    pub payload: [u8; 32],
}

/// The digests of a received message under the record's field key (see
/// `lineage_core::redaction::record_field_key`).
pub fn digests(event: &v1::Event, bytes: &[u8], field_key: &[u8; 32]) -> Digests {
    Digests {
        content: commitment(event, field_key),
        payload: *blake3::hash(bytes).as_bytes(),
    }
}

/// The commitment to an event's content, every personal field present.
pub fn commitment(event: &v1::Event, field_key: &[u8; 32]) -> [u8; 32] {
    let (skeleton, values) = split(event);
    let digests = values
        .into_iter()
        .map(|(path, value)| {
            let digest = field_digest(&field_salt(field_key, &path), &value);
            (path, digest)
        })
        .collect();
    content_commitment(&skeleton, &digests)
}

/// The commitment to the content of an event some of whose personal fields
/// were erased: `erased` holds the digest of each erased value, and
/// `kept_salt` gives the salt of each field kept. Fails, saying why, when
/// the parts do not fit together: an erased field that still has a value or
/// that the event does not have, or a kept field without a salt.
pub fn redacted_commitment(
    event: &v1::Event,
    erased: &BTreeMap<String, [u8; 32]>,
    kept_salt: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<[u8; 32], String> {
    let (skeleton, values) = split(event);
    if let Some(path) = erased.keys().find(|path| !values.contains_key(*path)) {
        return Err(format!("erased field {path} is not a field of the event"));
    }
    let mut digests = BTreeMap::new();
    for (path, value) in values {
        let digest = match erased.get(&path) {
            Some(_) if !value.is_empty() => {
                return Err(format!("field {path} is said to be erased but has a value"));
            }
            Some(digest) => *digest,
            None => {
                let salt =
                    kept_salt(&path).ok_or_else(|| format!("no salt for the kept field {path}"))?;
                field_digest(&salt, &value)
            }
        };
        digests.insert(path, digest);
    }
    Ok(content_commitment(&skeleton, &digests))
}

/// The event's canonical protobuf encoding (maps ordered): what an erased
/// record's payload is replaced with.
pub fn canonical_bytes(event: &v1::Event) -> Vec<u8> {
    event.encode_to_vec()
}

/// The event's skeleton (its canonical encoding with every personal field
/// emptied) and the value of each personal field, by path.
pub fn split(event: &v1::Event) -> (Vec<u8>, BTreeMap<String, String>) {
    let mut skeleton = event.clone();
    let mut values = BTreeMap::new();
    for_each_personal_field(&mut skeleton, |path, value| {
        values.insert(path, std::mem::take(value));
    });
    (skeleton.encode_to_vec(), values)
}

/// The paths of the personal fields the event has.
pub fn personal_paths(event: &v1::Event) -> BTreeSet<String> {
    split(event).1.into_keys().collect()
}

/// Empties the personal fields of `event` named in `paths` (a tag's key
/// stays, its value goes); returns the paths it emptied that held a value.
pub fn erase(event: &mut v1::Event, paths: &BTreeSet<String>) -> BTreeSet<String> {
    let mut emptied = BTreeSet::new();
    for_each_personal_field(event, |path, value| {
        if paths.contains(&path) && !value.is_empty() {
            value.clear();
            emptied.insert(path);
        }
    });
    emptied
}

/// Visits each field of `event` that may hold personal data, with its path
/// (`lineage_core::redaction::PersonalField`'s names). A new payload with
/// such a field must be listed here, or its values would be committed as
/// part of the skeleton and could never be erased.
fn for_each_personal_field(event: &mut v1::Event, mut visit: impl FnMut(String, &mut String)) {
    visit("actor".to_owned(), &mut event.actor);
    fn tags(tags: &mut BTreeMap<String, String>, visit: &mut impl FnMut(String, &mut String)) {
        for (key, value) in tags.iter_mut() {
            visit(format!("tags.{key}"), value);
        }
    }
    match &mut event.payload {
        Some(Payload::ExperimentCreated(created)) => {
            visit("description".to_owned(), &mut created.description);
            tags(&mut created.tags, &mut visit);
        }
        Some(Payload::RunStarted(started)) => tags(&mut started.tags, &mut visit),
        Some(Payload::RunFinished(finished)) => visit("error".to_owned(), &mut finished.error),
        Some(Payload::TagsSet(set)) => tags(&mut set.tags, &mut visit),
        Some(Payload::ModelRegistered(registered)) => {
            visit("approval_notes".to_owned(), &mut registered.approval_notes);
            visit("approved_by".to_owned(), &mut registered.approved_by);
        }
        Some(Payload::ModelStageChanged(changed)) => {
            visit("reason".to_owned(), &mut changed.reason);
            visit("approved_by".to_owned(), &mut changed.approved_by);
        }
        Some(Payload::EntityFlagged(flagged)) => visit("reason".to_owned(), &mut flagged.reason),
        Some(
            Payload::ParamsLogged(_)
            | Payload::MetricsLogged(_)
            | Payload::DatasetVersionRegistered(_)
            | Payload::RunInputsDeclared(_)
            | Payload::ArtifactLogged(_)
            | Payload::ModelDeployed(_)
            | Payload::RedactionRequested(_)
            | Payload::PromotionCriteriaSet(_),
        )
        | None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> v1::Event {
        v1::Event {
            event_id: "ev-1".into(),
            workspace: "credit".into(),
            actor: "alice@example.com".into(),
            payload: Some(Payload::ModelRegistered(v1::ModelRegistered {
                model: "credit-risk".into(),
                version: "7".into(),
                source_run_id: "r-1".into(),
                approval_notes: "call Alice on +44 20 7946 0000".into(),
                approved_by: "bob@example.com".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn an_erased_event_still_commits_to_its_content() {
        let key = [5; 32];
        let event = registered();
        let committed = commitment(&event, &key);
        let mut redacted = event.clone();
        let paths = BTreeSet::from(["actor".to_owned(), "approval_notes".to_owned()]);
        assert_eq!(erase(&mut redacted, &paths), paths);
        assert_eq!(redacted.actor, "");
        let erased: BTreeMap<String, [u8; 32]> = paths
            .iter()
            .map(|path| {
                let value = split(&event).1[path].clone();
                (path.clone(), field_digest(&field_salt(&key, path), &value))
            })
            .collect();
        let kept_salt = |path: &str| Some(field_salt(&key, path));
        assert_eq!(
            redacted_commitment(&redacted, &erased, kept_salt),
            Ok(committed)
        );
        // The skeleton binds everything else: change a non-personal field
        // and the commitment no longer holds.
        let mut forged = redacted.clone();
        if let Some(Payload::ModelRegistered(registered)) = &mut forged.payload {
            registered.version = "8".into();
        }
        assert_ne!(
            redacted_commitment(&forged, &erased, kept_salt),
            Ok(committed)
        );
        // A value put back into an erased field, or a kept field without
        // its salt, is named.
        let mut refilled = redacted.clone();
        refilled.actor = "mallory@example.com".into();
        assert!(
            redacted_commitment(&refilled, &erased, kept_salt)
                .expect_err("refused")
                .contains("actor")
        );
        assert!(
            redacted_commitment(&redacted, &erased, |_| None)
                .expect_err("refused")
                .contains("approved_by")
        );
        // Nothing erased: the same commitment from the field key alone.
        assert_eq!(
            redacted_commitment(&event, &BTreeMap::new(), kept_salt),
            Ok(committed)
        );
    }

    #[test]
    fn tags_are_erased_by_key_and_the_key_stays() {
        let mut event = v1::Event {
            actor: "ci".into(),
            payload: Some(Payload::TagsSet(v1::TagsSet {
                entity: None,
                tags: BTreeMap::from([
                    ("owner".to_owned(), "alice".to_owned()),
                    ("team".to_owned(), "risk".to_owned()),
                ]),
            })),
            ..Default::default()
        };
        assert_eq!(
            personal_paths(&event),
            BTreeSet::from(["actor".into(), "tags.owner".into(), "tags.team".into()])
        );
        erase(&mut event, &BTreeSet::from(["tags.owner".to_owned()]));
        let Some(Payload::TagsSet(set)) = &event.payload else {
            unreachable!()
        };
        assert_eq!(set.tags["owner"], "");
        assert_eq!(set.tags["team"], "risk");
    }

    #[test]
    fn digests_agree_however_the_event_was_encoded() {
        use crate::validate::{Encoding, decode_event};
        const KEY: [u8; 32] = [5; 32];
        let json = br#"{"event_id":"e1","workspace":"w","occurred_at":"2026-02-02T02:40:00Z",
            "producer":"test","actor":"alice","run_finished":{"run_id":"r1","status":"COMPLETED"}}"#;
        let from_json = decode_event(json, Encoding::Json).expect("decodes");
        let canonical = from_json.encode_to_vec();
        let from_proto = decode_event(&canonical, Encoding::Protobuf).expect("decodes");
        // A field repeated on the wire: the last one wins, so the same event,
        // but not its canonical encoding.
        let mut padded = v1::Event {
            producer: "other".into(),
            ..from_json.clone()
        }
        .encode_to_vec();
        padded.extend_from_slice(&canonical);
        let from_padded = decode_event(&padded, Encoding::Protobuf).expect("decodes");

        let of_json = digests(&from_json, json, &KEY);
        let of_proto = digests(&from_proto, &canonical, &KEY);
        let of_padded = digests(&from_padded, &padded, &KEY);
        let content = commitment(&from_json, &KEY);
        for (digests, bytes) in [
            (of_json, json.as_slice()),
            (of_proto, canonical.as_slice()),
            (of_padded, padded.as_slice()),
        ] {
            assert_eq!(digests.content, content);
            assert_eq!(digests.payload, *blake3::hash(bytes).as_bytes());
        }
    }
}
