//! Property-based fuzzing of the one door into the log: bytes are decoded
//! (protobuf or JSON), validated into domain events, and applied to the
//! graph, and none of the three may panic, overflow the stack or allocate
//! out of proportion to the input, whatever the bytes.
//!
//! Inputs come three ways: arbitrary bytes; valid events of every payload
//! kind (from the demo history, plus redactions built here) encoded and then
//! damaged field-aware (bit flips, truncations, splices, duplicated and
//! transplanted fields, stray varints); and their JSON text damaged (random
//! characters, nesting 10,000 deep, strings and numbers of megabytes).
//! Whatever validates must name only identifiers `lineage_core::id`
//! accepts, and a graph that applied it must digest and round-trip through
//! a snapshot to the same digest.
//!
//! The default case counts keep the file well under 20 seconds in a debug
//! build; set `PROPTEST_CASES` to run every property that many times.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::OnceLock;

use lineage_core::event::Payload;
use lineage_core::id;
use lineage_core::{EntityKey, Event, EventTime, LineageGraph, PayloadKind, Workspace};
use lineage_proto::v1;
use lineage_proto::validate::{self, Encoding};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use prost::Message as _;

/// Cases per property: `PROPTEST_CASES` when set (for long runs by hand),
/// else `default`, chosen per property so the file stays quick in CI.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        ..ProptestConfig::default()
    }
}

/// The most arbitrary bytes one input holds.
const MAX_ARBITRARY_BYTES: usize = 4 * 1024;

/// How deep the nesting attacks go: far past serde_json's recursion limit
/// (128), and deep enough that a recursive descent without a limit would
/// overflow a test thread's 2 MiB stack in a debug build.
const DEEP_NESTING: usize = 10_000;

/// The decoded event may take at most this many bytes per input byte (plus
/// a constant) when encoded again: decoding allocates in proportion to its
/// input. Protobuf never grows; JSON's shortest spellings are within this.
const DECODED_BYTES_PER_INPUT_BYTE: usize = 2;

/// Peak resident memory of the whole test process, above which something
/// allocated without bound (the largest input here is a few MiB).
const MAX_PEAK_RESIDENT_BYTES: u64 = 1024 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Seeds: valid events of every payload kind.

/// Valid events to mutate, and the graph they make.
struct Seeds {
    /// A few events of each payload kind, in history order.
    events: Vec<v1::Event>,
    /// Each event as binary protobuf.
    protobuf: Vec<Vec<u8>>,
    /// Each event as JSON text (the demo's own lines where it has them).
    json: Vec<String>,
    /// A snapshot of the graph that applied every seed, in order, at
    /// sequences `1..=events.len()`: each case starts from it.
    base_snapshot: Vec<u8>,
}

/// How many events of each kind the demo history gives the seeds.
const SEEDS_PER_KIND: usize = 3;

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/demo/history.jsonl"
        );
        let history = std::fs::read_to_string(path).expect("the demo history is in the repository");
        let mut per_kind: BTreeMap<PayloadKind, usize> = BTreeMap::new();
        let mut events = Vec::new();
        let mut json = Vec::new();
        for line in history.lines().filter(|line| !line.trim().is_empty()) {
            let wire = validate::decode_event(line.as_bytes(), Encoding::Json)
                .expect("each demo line decodes");
            let event = validate::validate_event(&wire).expect("each demo line validates");
            let taken = per_kind.entry(event.payload.kind()).or_default();
            if *taken < SEEDS_PER_KIND {
                *taken += 1;
                events.push(wire);
                json.push(line.to_owned());
            }
        }
        // The demo erases nothing: redactions of a run's owner and of an
        // experiment's tag, about entities the seeds name.
        for redaction in redactions(&events) {
            json.push(serde_json::to_string(&redaction).expect("events serialize"));
            events.push(redaction);
        }
        let mut graph = LineageGraph::new();
        for (seq, wire) in (1..).zip(&events) {
            let event = validate::validate_event(wire).expect("every seed validates");
            graph.apply(seq, &event);
        }
        let kinds: Vec<PayloadKind> = events
            .iter()
            .map(|wire| {
                validate::validate_event(wire)
                    .expect("valid")
                    .payload
                    .kind()
            })
            .collect();
        for kind in [
            PayloadKind::ExperimentCreated,
            PayloadKind::RunStarted,
            PayloadKind::RunFinished,
            PayloadKind::ParamsLogged,
            PayloadKind::MetricsLogged,
            PayloadKind::TagsSet,
            PayloadKind::DatasetVersionRegistered,
            PayloadKind::RunInputsDeclared,
            PayloadKind::ArtifactLogged,
            PayloadKind::ModelRegistered,
            PayloadKind::ModelStageChanged,
            PayloadKind::ModelDeployed,
            PayloadKind::EntityFlagged,
            PayloadKind::RedactionRequested,
        ] {
            assert!(kinds.contains(&kind), "the seeds hold a {kind:?}");
        }
        Seeds {
            protobuf: events.iter().map(|event| event.encode_to_vec()).collect(),
            events,
            json,
            base_snapshot: graph.encode_snapshot(),
        }
    })
}

/// Two redactions about entities the seeds already hold.
fn redactions(seeds: &[v1::Event]) -> Vec<v1::Event> {
    let run = seeds
        .iter()
        .find_map(|event| match &event.payload {
            Some(v1::event::Payload::RunStarted(started)) => {
                Some((event.workspace.clone(), started.run_id.clone()))
            }
            _ => None,
        })
        .expect("the demo starts runs");
    let experiment = seeds
        .iter()
        .find_map(|event| match &event.payload {
            Some(v1::event::Payload::ExperimentCreated(created)) => {
                Some((event.workspace.clone(), created.experiment.clone()))
            }
            _ => None,
        })
        .expect("the demo creates experiments");
    let redaction =
        |n: u32, (workspace, name): (String, String), kind, fields: &[&str]| v1::Event {
            event_id: format!("fuzz-redaction-{n}"),
            workspace,
            occurred_at: Some(pbjson_types::Timestamp {
                seconds: 1_780_000_000,
                nanos: 0,
            }),
            producer: "privacy-desk/1.0".into(),
            actor: "dpo@example.org".into(),
            payload: Some(v1::event::Payload::RedactionRequested(
                v1::RedactionRequested {
                    entity: Some(v1::EntityRef {
                        workspace: String::new(),
                        kind: kind as i32,
                        name,
                        version: String::new(),
                    }),
                    fields: fields.iter().map(|field| (*field).to_owned()).collect(),
                    reason: "erasure request".into(),
                },
            )),
        };
    vec![
        redaction(1, run, v1::EntityKind::Run, &["actor", "tags.owner"]),
        redaction(
            2,
            experiment,
            v1::EntityKind::Experiment,
            &["description", "tags.team"],
        ),
    ]
}

// ---------------------------------------------------------------------------
// The pipeline under test, and what must hold of whatever passes it.

/// A graph being fed inputs at increasing sequences.
struct Pipeline {
    graph: LineageGraph,
    next_seq: u64,
}

impl Pipeline {
    /// An empty graph.
    fn empty() -> Self {
        Self {
            graph: LineageGraph::new(),
            next_seq: 1,
        }
    }

    /// The graph of every seed, so mutated events meet entities they name.
    fn on_seeds() -> Self {
        let seeds = seeds();
        Self {
            graph: LineageGraph::decode_snapshot(&seeds.base_snapshot)
                .expect("the seeds' snapshot decodes"),
            next_seq: seeds.events.len() as u64 + 1,
        }
    }

    /// Decodes, validates and applies `bytes`; any step may refuse, none
    /// may panic.
    fn feed(&mut self, bytes: &[u8], encoding: Encoding) {
        if let Ok(wire) = validate::decode_event(bytes, encoding) {
            let decoded_len = wire.encoded_len();
            assert!(
                decoded_len <= DECODED_BYTES_PER_INPUT_BYTE * bytes.len() + 64,
                "{} input bytes ({encoding:?}) decoded into an event of {decoded_len} bytes",
                bytes.len()
            );
            self.feed_decoded(&wire);
        }
    }

    /// Validates and applies a decoded event: as a producer's (strict) and
    /// as one read back from the log (which tolerates erased fields, and
    /// is what a replay applies).
    fn feed_decoded(&mut self, wire: &v1::Event) {
        let produced = validate::validate_event(wire);
        let logged = validate::validate_logged_event(wire);
        if let Ok(event) = &produced {
            let logged = logged
                .as_ref()
                .expect("what a producer may send, the log may hold");
            // Debug rather than ==: a NaN metric is valid and unequal to itself.
            assert_eq!(format!("{event:?}"), format!("{logged:?}"));
        }
        if let Ok(event) = logged {
            assert_validated_invariants(&event);
            self.graph.apply(self.next_seq, &event);
            self.next_seq += 1;
            let _ = self.graph.state_digest();
        }
    }

    /// The graph survives a snapshot: same digest and sequence after a
    /// round trip.
    fn finish(self) {
        let bytes = self.graph.encode_snapshot();
        let decoded =
            LineageGraph::decode_snapshot(&bytes).expect("a snapshot of any graph decodes");
        assert_eq!(decoded.applied_seq(), self.graph.applied_seq());
        assert_eq!(
            hex::encode(decoded.state_digest()),
            hex::encode(self.graph.state_digest()),
            "a snapshot round trip changed the graph"
        );
        assert_peak_memory_bounded();
    }
}

/// What holds of every validated event: its id, workspace and every entity
/// it names are identifiers `lineage_core::id` accepts, all in the event's
/// workspace; its keys are valid keys; its time is in range.
#[track_caller]
fn assert_validated_invariants(event: &Event) {
    id::check_event_id(event.id.as_str()).expect("a validated event id is valid");
    let workspace = Workspace::parse(event.workspace.as_str()).expect("a valid workspace");
    assert_eq!(workspace, event.workspace);
    assert!(
        (EventTime::MIN..=EventTime::MAX).contains(&event.occurred_at),
        "occurred_at {:?} out of range",
        event.occurred_at
    );
    for key in event.mentions().into_iter().chain(event.subject()) {
        assert_eq!(
            key.workspace, event.workspace,
            "{key:?} leaves the workspace"
        );
        let reparsed = EntityKey::parse(key.workspace.clone(), key.kind, &key.name, &key.version)
            .unwrap_or_else(|error| panic!("validated event names a bad key {key:?}: {error}"));
        assert_eq!(reparsed, key);
    }
    for key in payload_keys(&event.payload) {
        id::check_key(key).unwrap_or_else(|error| panic!("bad key {key:?}: {error}"));
    }
}

/// The tag, parameter and metric keys a payload states.
fn payload_keys(payload: &Payload) -> Vec<&str> {
    let keys = map_keys;
    match payload {
        Payload::ExperimentCreated(created) => keys(&created.tags),
        Payload::RunStarted(started) => {
            let mut all = keys(&started.params);
            all.extend(keys(&started.tags));
            all
        }
        Payload::ParamsLogged(logged) => keys(&logged.params),
        Payload::TagsSet(set) => keys(&set.tags),
        Payload::MetricsLogged(logged) => logged
            .metrics
            .iter()
            .map(|metric| metric.key.as_str())
            .collect(),
        _ => Vec::new(),
    }
}

fn map_keys(map: &BTreeMap<String, String>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

/// Peak resident memory of this process (Linux), if known.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[track_caller]
fn assert_peak_memory_bounded() {
    if let Some(peak) = peak_resident_bytes() {
        assert!(
            peak < MAX_PEAK_RESIDENT_BYTES,
            "the test process peaked at {peak} resident bytes"
        );
    }
}

// ---------------------------------------------------------------------------
// Protobuf mutations, aware of the wire format's fields.

/// One change to an encoded event. Positions are drawn as [`Index`]es and
/// resolved against the bytes as they are when the mutation applies.
#[derive(Clone, Debug)]
enum ProtoMutation {
    FlipBit {
        at: Index,
        bit: u8,
    },
    Truncate {
        at: Index,
    },
    /// This event's first part, then another seed's last part.
    Splice {
        other: Index,
        mine: Index,
        theirs: Index,
    },
    /// Another whole seed appended: protobuf merges the two.
    Concatenate {
        other: Index,
    },
    /// A copy of one top-level field inserted between two fields.
    DuplicateField {
        field: Index,
        to: Index,
    },
    /// A top-level field of another seed inserted between two fields (a
    /// second payload, a second workspace...).
    TransplantField {
        other: Index,
        field: Index,
        to: Index,
    },
    /// A copy of a field inside the payload message, with the payload's
    /// length fixed up so the damage is past the outer framing.
    DuplicatePayloadField {
        field: Index,
        to: Index,
    },
    /// A varint (a tag, a length, a value) inserted anywhere.
    InsertVarint {
        at: Index,
        value: u64,
    },
    InsertBytes {
        at: Index,
        bytes: Vec<u8>,
    },
    /// A byte range copied elsewhere.
    DuplicateRange {
        from: Index,
        len: usize,
        to: Index,
    },
    DeleteRange {
        from: Index,
        len: usize,
    },
}

fn interesting_varint() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        select(vec![
            0,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            i64::MAX as u64,
            u64::MAX,
            // Lengths past the end of any input.
            4_096,
            1 << 31,
        ]),
        // A key: field numbers of Event and its payloads, every wire type.
        (1u64..32, 0u64..8).prop_map(|(field, wire_type)| (field << 3) | wire_type),
    ]
}

fn proto_mutation() -> impl Strategy<Value = ProtoMutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| ProtoMutation::FlipBit { at, bit }),
        1 => any::<Index>().prop_map(|at| ProtoMutation::Truncate { at }),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(other, mine, theirs)| ProtoMutation::Splice { other, mine, theirs }),
        1 => any::<Index>().prop_map(|other| ProtoMutation::Concatenate { other }),
        2 => (any::<Index>(), any::<Index>())
            .prop_map(|(field, to)| ProtoMutation::DuplicateField { field, to }),
        2 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(other, field, to)| ProtoMutation::TransplantField { other, field, to }),
        2 => (any::<Index>(), any::<Index>())
            .prop_map(|(field, to)| ProtoMutation::DuplicatePayloadField { field, to }),
        2 => (any::<Index>(), interesting_varint())
            .prop_map(|(at, value)| ProtoMutation::InsertVarint { at, value }),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| ProtoMutation::InsertBytes { at, bytes }),
        1 => (any::<Index>(), 1usize..64, any::<Index>())
            .prop_map(|(from, len, to)| ProtoMutation::DuplicateRange { from, len, to }),
        1 => (any::<Index>(), 1usize..16)
            .prop_map(|(from, len)| ProtoMutation::DeleteRange { from, len }),
    ]
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(at)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

/// One field of a message: its number and wire type, where it starts and
/// ends, and for a length-delimited field where its content starts.
#[derive(Clone, Debug)]
struct FieldSpan {
    number: u64,
    wire_type: u64,
    span: Range<usize>,
    content_at: usize,
}

/// The fields of a message as far as they parse.
fn field_spans(bytes: &[u8]) -> Vec<FieldSpan> {
    let mut spans = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let Some((key, next)) = read_varint(bytes, at) else {
            break;
        };
        let (number, wire_type) = (key >> 3, key & 7);
        let (content_at, end) = match wire_type {
            0 => match read_varint(bytes, next) {
                Some((_, end)) => (next, end),
                None => break,
            },
            1 => (next, next + 8),
            2 => match read_varint(bytes, next) {
                Some((len, content_at)) => match usize::try_from(len)
                    .ok()
                    .and_then(|len| content_at.checked_add(len))
                {
                    Some(end) => (content_at, end),
                    None => break,
                },
                None => break,
            },
            5 => (next, next + 4),
            _ => break,
        };
        if end > bytes.len() {
            break;
        }
        spans.push(FieldSpan {
            number,
            wire_type,
            span: start..end,
            content_at,
        });
        at = end;
    }
    spans
}

/// Where a field may be inserted: the start of each field, and the end.
fn boundaries(spans: &[FieldSpan], len: usize) -> Vec<usize> {
    let mut at: Vec<usize> = spans.iter().map(|field| field.span.start).collect();
    at.push(spans.last().map_or(len, |field| field.span.end));
    at
}

fn insert(bytes: &mut Vec<u8>, at: usize, what: &[u8]) {
    let at = at.min(bytes.len());
    bytes.splice(at..at, what.iter().copied());
}

/// `Index::index` of an empty range panics; positions in `0..=len`.
fn position(index: &Index, len: usize) -> usize {
    index.index(len + 1)
}

fn apply_proto_mutation(bytes: &mut Vec<u8>, mutation: &ProtoMutation) {
    let seeds = &seeds().protobuf;
    let seed = |index: &Index| &seeds[index.index(seeds.len())];
    match mutation {
        ProtoMutation::FlipBit { at, bit } => {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
        }
        ProtoMutation::Truncate { at } => bytes.truncate(position(at, bytes.len())),
        ProtoMutation::Splice {
            other,
            mine,
            theirs,
        } => {
            let other = seed(other);
            bytes.truncate(position(mine, bytes.len()));
            bytes.extend_from_slice(&other[position(theirs, other.len())..]);
        }
        ProtoMutation::Concatenate { other } => bytes.extend_from_slice(seed(other)),
        ProtoMutation::DuplicateField { field, to } => {
            let spans = field_spans(bytes);
            if !spans.is_empty() {
                let copy = bytes[spans[field.index(spans.len())].span.clone()].to_vec();
                let at = *to.get(&boundaries(&spans, bytes.len()));
                insert(bytes, at, &copy);
            }
        }
        ProtoMutation::TransplantField { other, field, to } => {
            let other = seed(other);
            let theirs = field_spans(other);
            if !theirs.is_empty() {
                let copy = &other[theirs[field.index(theirs.len())].span.clone()];
                let at = *to.get(&boundaries(&field_spans(bytes), bytes.len()));
                insert(bytes, at, copy);
            }
        }
        ProtoMutation::DuplicatePayloadField { field, to } => {
            // The payload is the one top-level message field numbered 10+.
            let spans = field_spans(bytes);
            let Some(payload) = spans
                .iter()
                .find(|span| span.number >= 10 && span.wire_type == 2)
            else {
                return;
            };
            let mut content = bytes[payload.content_at..payload.span.end].to_vec();
            let inner = field_spans(&content);
            if inner.is_empty() {
                return;
            }
            let copy = content[inner[field.index(inner.len())].span.clone()].to_vec();
            let at = *to.get(&boundaries(&inner, content.len()));
            insert(&mut content, at, &copy);
            let mut framed = varint((payload.number << 3) | 2);
            framed.extend(varint(content.len() as u64));
            framed.extend(content);
            bytes.splice(payload.span.clone(), framed);
        }
        ProtoMutation::InsertVarint { at, value } => {
            insert(bytes, position(at, bytes.len()), &varint(*value));
        }
        ProtoMutation::InsertBytes { at, bytes: what } => {
            insert(bytes, position(at, bytes.len()), what);
        }
        ProtoMutation::DuplicateRange { from, len, to } => {
            if !bytes.is_empty() {
                let from = from.index(bytes.len());
                let end = (from + len).min(bytes.len());
                let copy = bytes[from..end].to_vec();
                insert(bytes, position(to, bytes.len()), &copy);
            }
        }
        ProtoMutation::DeleteRange { from, len } => {
            if !bytes.is_empty() {
                let from = from.index(bytes.len());
                let end = (from + len).min(bytes.len());
                bytes.drain(from..end);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// JSON mutations.

/// Fragments that change how a JSON parser or the proto3 JSON mapping
/// reads what follows.
const JSON_FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "\\",
    "null",
    "true",
    "-0",
    "1e999",
    "-1e999",
    "NaN",
    "\"NaN\"",
    "\"Infinity\"",
    "18446744073709551616",
    "-9223372036854775809",
    "9007199254740993",
    "0.1e-400",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\udfff\\ud800\"",
    "\"\\uD83D\\uDE00\"",
    "\"\u{1F600}\"",
    "\"\u{202E}\"",
    "\"event_id\":\"dup\",",
    "\"workspace\":\"other-ws\",",
    "\"occurred_at\":\"10000-01-01T00:00:00Z\",",
    "\"occurred_at\":\"1969-12-31T23:59:59.999999999Z\",",
    "\"occurred_at\":\"2026-01-01T00:00:00.1234567891Z\",",
    "\"occurred_at\":\"2026-02-30T25:61:61+99:99\",",
    "\"run_started\":{},",
    "\"run_finished\":{\"run_id\":\"r\",\"status\":\"STARTED\"},",
    "\"run_finished\":{\"run_id\":\"r\",\"status\":99},",
    "\"entity_flagged\":{\"entity\":{\"kind\":2147483647},\"severity\":-1},",
    "\"redaction_requested\":{\"entity\":{\"kind\":\"RUN\",\"name\":\"r\"},\"fields\":[\"tags.\"],\"reason\":\"x\"},",
    "\"metrics_logged\":{\"run_id\":\"r\",\"metrics\":[{\"key\":\"k\",\"value\":\"-Infinity\",\"step\":\"-9223372036854775808\"}]},",
    "\"unknown_field\":[1,{\"a\":null}],",
];

#[derive(Clone, Debug)]
enum JsonMutation {
    /// The byte at a position replaced by a character's UTF-8 (which may
    /// split a multi-byte character: invalid UTF-8 is input too).
    ReplaceChar {
        at: Index,
        with: char,
    },
    InsertFragment {
        at: Index,
        fragment: Index,
    },
    DeleteRange {
        from: Index,
        len: usize,
    },
    /// This text's first part, then another seed's last part.
    Splice {
        other: Index,
        mine: Index,
        theirs: Index,
    },
    InsertByte {
        at: Index,
        byte: u8,
    },
}

fn json_char() -> impl Strategy<Value = char> {
    prop_oneof![
        any::<char>(),
        select(vec![
            '{',
            '}',
            '[',
            ']',
            '"',
            '\\',
            ':',
            ',',
            '0',
            '9',
            '-',
            '+',
            'e',
            'E',
            '.',
            'n',
            't',
            'u',
            ' ',
            '\n',
            '\t',
            '\0',
            '\u{7f}',
            '\u{85}',
            'é',
            '\u{FEFF}',
            '\u{1F600}',
        ]),
    ]
}

fn json_mutation() -> impl Strategy<Value = JsonMutation> {
    prop_oneof![
        4 => (any::<Index>(), json_char())
            .prop_map(|(at, with)| JsonMutation::ReplaceChar { at, with }),
        3 => (any::<Index>(), any::<Index>())
            .prop_map(|(at, fragment)| JsonMutation::InsertFragment { at, fragment }),
        1 => (any::<Index>(), 1usize..32)
            .prop_map(|(from, len)| JsonMutation::DeleteRange { from, len }),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(other, mine, theirs)| JsonMutation::Splice { other, mine, theirs }),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| JsonMutation::InsertByte { at, byte }),
    ]
}

fn apply_json_mutation(text: &mut Vec<u8>, mutation: &JsonMutation) {
    match mutation {
        JsonMutation::ReplaceChar { at, with } => {
            if !text.is_empty() {
                let at = at.index(text.len());
                let mut utf8 = [0; 4];
                let with = with.encode_utf8(&mut utf8).as_bytes();
                text.splice(at..=at, with.iter().copied());
            }
        }
        JsonMutation::InsertFragment { at, fragment } => {
            let fragment = fragment.get(JSON_FRAGMENTS).as_bytes();
            insert(text, position(at, text.len()), fragment);
        }
        JsonMutation::DeleteRange { from, len } => {
            if !text.is_empty() {
                let from = from.index(text.len());
                let end = (from + len).min(text.len());
                text.drain(from..end);
            }
        }
        JsonMutation::Splice {
            other,
            mine,
            theirs,
        } => {
            let other = other.get(&seeds().json).as_bytes();
            text.truncate(position(mine, text.len()));
            text.extend_from_slice(&other[position(theirs, other.len())..]);
        }
        JsonMutation::InsertByte { at, byte } => {
            insert(text, position(at, text.len()), &[*byte]);
        }
    }
}

// ---------------------------------------------------------------------------
// Nesting and size attacks on the JSON decoder.

#[derive(Clone, Copy, Debug)]
enum Nesting {
    /// `[[[...]]]`
    Arrays,
    /// `{"a":{"a":...}}`
    Objects,
    /// `[{"a":[{"a":...}]}]`
    Mixed,
}

/// A value nested `depth` deep, closed or left open.
fn nested(depth: usize, shape: Nesting, closed: bool) -> String {
    let (open, close) = match shape {
        Nesting::Arrays => ("[", "]"),
        Nesting::Objects => ("{\"a\":", "}"),
        Nesting::Mixed => ("[{\"a\":", "}]"),
    };
    let mut text = open.repeat(depth);
    text.push('1');
    if closed {
        text.push_str(&close.repeat(depth));
    }
    text
}

/// Where a nested value goes in an otherwise valid-looking event.
#[derive(Clone, Copy, Debug)]
enum Placement {
    /// The whole document.
    Document,
    /// An unknown field of the event.
    UnknownField,
    /// A string field (`event_id`).
    StringField,
    /// The timestamp `occurred_at`.
    Timestamp,
    /// The payload message itself.
    Payload,
    /// A map value (an experiment's tags).
    MapValue,
    /// An item of a repeated field (metrics).
    ListItem,
    /// A field of a nested message (an entity reference's kind).
    NestedMessageField,
}

const PLACEMENTS: [Placement; 8] = [
    Placement::Document,
    Placement::UnknownField,
    Placement::StringField,
    Placement::Timestamp,
    Placement::Payload,
    Placement::MapValue,
    Placement::ListItem,
    Placement::NestedMessageField,
];

/// An event with `value` spliced in at `placement`, as JSON text.
fn placed(value: &str, placement: Placement) -> String {
    const HEAD: &str = r#""event_id":"e1","workspace":"w","occurred_at":"2026-01-01T00:00:00Z","producer":"p","actor":"a""#;
    match placement {
        Placement::Document => value.to_owned(),
        Placement::UnknownField => {
            format!(
                r#"{{"zz_unknown":{value},{HEAD},"run_finished":{{"run_id":"r","status":"COMPLETED"}}}}"#
            )
        }
        Placement::StringField => {
            format!(
                r#"{{"event_id":{value},"workspace":"w","run_finished":{{"run_id":"r","status":"COMPLETED"}}}}"#
            )
        }
        Placement::Timestamp => {
            format!(
                r#"{{"occurred_at":{value},"event_id":"e1","run_finished":{{"run_id":"r","status":"COMPLETED"}}}}"#
            )
        }
        Placement::Payload => format!(r#"{{{HEAD},"run_started":{value}}}"#),
        Placement::MapValue => format!(
            r#"{{{HEAD},"experiment_created":{{"experiment":"x","tags":{{"k":{value}}}}}}}"#
        ),
        Placement::ListItem => {
            format!(r#"{{{HEAD},"metrics_logged":{{"run_id":"r","metrics":[{value}]}}}}"#)
        }
        Placement::NestedMessageField => format!(
            r#"{{{HEAD},"tags_set":{{"entity":{{"kind":{value},"name":"r"}},"tags":{{"k":"v"}}}}}}"#
        ),
    }
}

/// A JSON string body of about `len` decoded bytes, repeating `unit` (raw
/// JSON, escapes included).
fn huge_string_body(unit: &str, len: usize) -> String {
    let decoded_per_unit = match unit {
        "\\u00e9" | "é" => 2,
        "\\ud83d\\ude00" | "\u{1F600}" => 4,
        _ => 1,
    };
    unit.repeat(len.div_ceil(decoded_per_unit))
}

/// What replaces a placeholder in a seed's JSON: a string of a given body,
/// or a bare number literal.
#[derive(Clone, Debug)]
enum HugeValue {
    String { unit: &'static str, len: usize },
    Number { literal: &'static str, len: usize },
}

impl HugeValue {
    fn json(&self) -> String {
        match self {
            HugeValue::String { unit, len } => format!("\"{}\"", huge_string_body(unit, *len)),
            HugeValue::Number { literal, len } => match *literal {
                "integer" => format!("1{}", "0".repeat(*len)),
                "negative" => format!("-9{}", "9".repeat(*len)),
                "exponent" => format!("1e{}", "9".repeat(*len)),
                "fraction" => format!("0.{}1", "0".repeat(*len)),
                _ => format!("{}1", "0".repeat(*len)),
            },
        }
    }
}

fn huge_value() -> impl Strategy<Value = HugeValue> {
    let lengths = select(vec![
        id::MAX_WORKSPACE_LEN,
        id::MAX_WORKSPACE_LEN + 1,
        id::MAX_EVENT_ID_LEN + 1,
        id::MAX_NAME_LEN,
        id::MAX_NAME_LEN + 1,
        validate::MAX_VALUE_LEN,
        validate::MAX_VALUE_LEN + 1,
        validate::MAX_TEXT_LEN,
        validate::MAX_TEXT_LEN + 1,
        100 * 1024,
        1024 * 1024,
    ]);
    prop_oneof![
        3 => (
            select(vec![
                "a",
                "é",
                "\u{1F600}",
                "\\u00e9",
                "\\ud83d\\ude00",
                "\\ud800",
                "\\u0000",
                "\\n",
                "\\\"",
                "\\\\",
            ]),
            lengths.clone()
        )
            .prop_map(|(unit, len)| HugeValue::String { unit, len }),
        1 => (
            select(vec!["integer", "negative", "exponent", "fraction", "zeros"]),
            lengths
        )
            .prop_map(|(literal, len)| HugeValue::Number { literal, len }),
    ]
}

/// Where in a seed a huge value goes.
#[derive(Clone, Debug)]
enum HugeAt {
    /// A top-level field: event_id, workspace, occurred_at, producer, actor.
    TopLevel(Index),
    /// One of the payload's fields.
    PayloadField(Index),
    /// A new key in the payload (unknown, or a map's key if it is a map).
    PayloadKey,
    /// A new entry in the first map of the payload, by key or by value.
    MapEntry { as_key: bool },
}

fn huge_at() -> impl Strategy<Value = HugeAt> {
    prop_oneof![
        1 => any::<Index>().prop_map(HugeAt::TopLevel),
        2 => any::<Index>().prop_map(HugeAt::PayloadField),
        1 => any::<bool>().prop_map(|as_key| HugeAt::MapEntry { as_key }),
        1 => Just(HugeAt::PayloadKey),
    ]
}

const PLACEHOLDER: &str = "HUGE-VALUE-PLACEHOLDER-7f3a";

/// The seed's JSON with a huge value at `at`.
fn with_huge_value(seed: &str, at: &HugeAt, value: &HugeValue) -> String {
    let mut event: serde_json::Value = serde_json::from_str(seed).expect("seeds are JSON");
    let object = event.as_object_mut().expect("events are objects");
    let top = ["event_id", "workspace", "occurred_at", "producer", "actor"];
    let payload_name = object
        .keys()
        .find(|key| !top.contains(&key.as_str()))
        .cloned()
        .expect("seeds have a payload");
    let placeholder = serde_json::Value::String(PLACEHOLDER.to_owned());
    let mut as_key = false;
    match at {
        HugeAt::TopLevel(index) => {
            object.insert((*index.get(&top)).to_owned(), placeholder);
        }
        HugeAt::PayloadField(index) => {
            let payload = object[&payload_name]
                .as_object_mut()
                .expect("payloads are objects");
            let keys: Vec<String> = payload.keys().cloned().collect();
            if !keys.is_empty() {
                payload.insert(index.get(&keys).clone(), placeholder);
            }
        }
        HugeAt::PayloadKey => {
            let payload = object[&payload_name]
                .as_object_mut()
                .expect("payloads are objects");
            payload.insert(PLACEHOLDER.to_owned(), serde_json::Value::from("v"));
            as_key = true;
        }
        HugeAt::MapEntry { as_key: key } => {
            let payload = object[&payload_name]
                .as_object_mut()
                .expect("payloads are objects");
            let name = ["tags", "params"]
                .into_iter()
                .find(|name| payload.contains_key(*name))
                .unwrap_or("tags");
            let map = payload
                .entry(name)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(map) = map.as_object_mut() {
                if *key {
                    map.insert(PLACEHOLDER.to_owned(), serde_json::Value::from("v"));
                    as_key = true;
                } else {
                    map.insert("k".to_owned(), placeholder);
                }
            }
        }
    }
    let text = serde_json::to_string(&event).expect("values serialize");
    let quoted = format!("\"{PLACEHOLDER}\"");
    // A map key must stay a string.
    let replacement = match (as_key, value) {
        (true, HugeValue::Number { .. }) => format!("\"{}\"", value.json()),
        _ => value.json(),
    };
    text.replace(&quoted, &replacement)
}

// ---------------------------------------------------------------------------
// The properties.

/// Bytes drawn mostly from what JSON is made of, so the JSON decoder gets
/// past its first character.
fn json_alphabet_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> = b"{}[]\":,.-+0123456789eEnulltrue _\\/abcdefghijklmnopqrstuvwxyz"
        .iter()
        .copied()
        .chain([0x00, 0x7f, 0xc3, 0xa9, 0xff])
        .collect();
    prop::collection::vec(select(alphabet), 0..MAX_ARBITRARY_BYTES)
}

fn arbitrary_inputs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            // Short inputs are the ones that decode as protobuf at all.
            prop::collection::vec(any::<u8>(), 0..32),
            prop::collection::vec(any::<u8>(), 0..MAX_ARBITRARY_BYTES),
            json_alphabet_bytes(),
        ],
        1..6,
    )
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes, read both ways, on an empty graph and on the
    /// seeds' graph.
    #[test]
    fn arbitrary_bytes_never_panic(inputs in arbitrary_inputs(), on_seeds in any::<bool>()) {
        let mut pipeline = if on_seeds { Pipeline::on_seeds() } else { Pipeline::empty() };
        for bytes in &inputs {
            pipeline.feed(bytes, Encoding::Protobuf);
            pipeline.feed(bytes, Encoding::Json);
        }
        pipeline.finish();
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Valid events damaged field-aware; every step of the damage is fed,
    /// in order, to the seeds' graph.
    #[test]
    fn mutated_protobuf_never_panics(
        seed in any::<Index>(),
        mutations in prop::collection::vec(proto_mutation(), 1..8),
    ) {
        let seeds = seeds();
        let mut bytes = seed.get(&seeds.protobuf).clone();
        let mut pipeline = Pipeline::on_seeds();
        for mutation in &mutations {
            apply_proto_mutation(&mut bytes, mutation);
            pipeline.feed(&bytes, Encoding::Protobuf);
        }
        pipeline.finish();
    }

    /// Valid events' JSON damaged character by character.
    #[test]
    fn mutated_json_never_panics(
        seed in any::<Index>(),
        mutations in prop::collection::vec(json_mutation(), 1..8),
    ) {
        let seeds = seeds();
        let mut text = seed.get(&seeds.json).as_bytes().to_vec();
        let mut pipeline = Pipeline::on_seeds();
        for mutation in &mutations {
            apply_json_mutation(&mut text, mutation);
            pipeline.feed(&text, Encoding::Json);
        }
        pipeline.finish();
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Nesting of any depth up to and past the limit, of any shape, at any
    /// place, closed or not: an error, never a stack overflow.
    #[test]
    fn deep_json_nesting_is_an_error_not_a_crash(
        depth in prop_oneof![1usize..200, 200usize..=DEEP_NESTING, Just(DEEP_NESTING)],
        shape in select(vec![Nesting::Arrays, Nesting::Objects, Nesting::Mixed]),
        placement in select(PLACEMENTS.to_vec()),
        closed in any::<bool>(),
    ) {
        let text = placed(&nested(depth, shape, closed), placement);
        let mut pipeline = Pipeline::on_seeds();
        pipeline.feed(text.as_bytes(), Encoding::Json);
        pipeline.finish();
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Strings and numbers around every length limit and up to a MiB, in
    /// every kind of field of valid events.
    #[test]
    fn huge_json_values_are_bounded(
        seed in any::<Index>(),
        at in huge_at(),
        value in huge_value(),
    ) {
        let seeds = seeds();
        let json: &String = seed.get(&seeds.json);
        let text = with_huge_value(json, &at, &value);
        let mut pipeline = Pipeline::on_seeds();
        pipeline.feed(text.as_bytes(), Encoding::Json);
        pipeline.finish();
    }
}

/// Every seed decodes, validates and applies in both encodings, and the
/// invariants hold of each: the structure-aware properties start from
/// valid input.
#[test]
fn every_seed_passes_the_whole_pipeline() {
    let seeds = seeds();
    assert!(seeds.events.len() >= 14 * 2, "a few seeds of every kind");
    let mut pipeline = Pipeline::empty();
    for (bytes, json) in seeds.protobuf.iter().zip(&seeds.json) {
        for (bytes, encoding) in [
            (bytes.as_slice(), Encoding::Protobuf),
            (json.as_bytes(), Encoding::Json),
        ] {
            let wire = validate::decode_event(bytes, encoding).expect("a seed decodes");
            let before = pipeline.next_seq;
            pipeline.feed_decoded(&wire);
            assert_eq!(pipeline.next_seq, before + 1, "a seed applies");
        }
    }
    pipeline.finish();
}

/// Exactly 10,000 deep, every shape at every place, closed and open.
#[test]
fn nesting_ten_thousand_deep_everywhere_is_refused() {
    for shape in [Nesting::Arrays, Nesting::Objects, Nesting::Mixed] {
        for placement in PLACEMENTS {
            for closed in [true, false] {
                let text = placed(&nested(DEEP_NESTING, shape, closed), placement);
                let decoded = validate::decode_event(text.as_bytes(), Encoding::Json);
                assert!(
                    decoded.is_err(),
                    "{shape:?} nesting at {placement:?} (closed: {closed}) decoded"
                );
            }
        }
    }
    assert_peak_memory_bounded();
}

/// No message of an event holds itself, so protobuf nests only through
/// unknown fields: length-delimited ones 10,000 deep inside an entity
/// reference (skipped by their length), and groups 10,000 deep (skipped
/// by descending into them, which prost bounds).
#[test]
fn protobuf_nesting_ten_thousand_deep_is_harmless() {
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..DEEP_NESTING {
        // Unknown field 99, length-delimited, around what is inside.
        let mut framed = varint((99 << 3) | 2);
        framed.extend(varint(inner.len() as u64));
        framed.extend(inner);
        inner = framed;
    }
    // TagsSet (15) { entity (1): EntityRef { 99: { 99: ... } } }.
    let mut payload = varint((1 << 3) | 2);
    payload.extend(varint(inner.len() as u64));
    payload.extend(inner);
    let mut event = varint((15 << 3) | 2);
    event.extend(varint(payload.len() as u64));
    event.extend(payload);
    let mut pipeline = Pipeline::empty();
    pipeline.feed(&event, Encoding::Protobuf);
    // Groups nested 10,000 deep, closed and not.
    let mut groups = Vec::new();
    for _ in 0..DEEP_NESTING {
        groups.extend(varint((99 << 3) | 3));
    }
    for _ in 0..DEEP_NESTING {
        groups.extend(varint((99 << 3) | 4));
    }
    pipeline.feed(&groups, Encoding::Protobuf);
    pipeline.feed(&groups[..groups.len() / 2], Encoding::Protobuf);
    pipeline.finish();
}
