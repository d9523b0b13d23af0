//! The workload of the fault tests (crash, broker outage, cluster, storage
//! trouble): a history of runs with about a third of its events published
//! two or three times, some copies late, and the digests that tell whether
//! what lineaged holds is what was published.
//!
//! Some copies of an event carry `Nats-Msg-Id` (JetStream drops repeats of
//! those within its window) and some do not, so lineaged's own idempotency
//! by workspace and event id is what keeps the rest out of the log.
//!
//! `crates/lineage-server/tests/crash.rs` includes this file by path, so it
//! depends only on the `events` and `rng` modules beside it (reached as
//! `crate::events`, `crate::rng` from both crates), lineage-core,
//! lineage-proto, prost, hex and async-nats.

use async_nats::jetstream;
use lineage_core::LineageGraph;
use lineage_proto::v1;
use lineage_proto::validate::{Encoding, decode_event, validate_event, validate_logged_event};
use prost::Message as _;

use crate::events;
use crate::rng::SplitMix64;

/// The events stream and lineaged's durable consumer (the defaults).
pub const STREAM: &str = "LINEAGE_EVENTS";
pub const CONSUMER: &str = "lineaged";

/// Reads a number from the environment (the full-scale knobs).
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

/// One message the producer publishes: a copy of a unique event.
#[derive(Debug, Clone, Copy)]
pub struct Publication {
    /// Index into the unique events.
    pub event: usize,
    /// Whether the copy carries `Nats-Msg-Id` = its event id.
    pub msg_id: bool,
}

/// The unique events, each encoded once (copies are byte-identical), and
/// the order the producer publishes copies of them in.
#[derive(Debug)]
pub struct Workload {
    pub events: Vec<v1::Event>,
    pub encoded: Vec<Vec<u8>>,
    pub publications: Vec<Publication>,
}

/// The `n`-th payload of a history of runs: each run starts, registers a
/// dataset version derived from an earlier one, declares an input, logs a
/// metric and an artifact, registers a model from it and finishes.
fn payload(n: usize) -> v1::event::Payload {
    let unit = n / 7;
    let run = format!("run-{unit}");
    let previous = unit.saturating_sub(1);
    let dataset = format!("data-{}", unit % 50);
    let parent = format!("data-{}", (unit + 49) % 50);
    let input = format!("data-{}", (unit + 1) % 50);
    match n % 7 {
        0 => events::run_started(&run, "", &[("lr", &format!("0.{}", unit % 97))]),
        1 => events::dataset(
            &dataset,
            &format!("v{unit}"),
            &[(&parent, &format!("v{previous}"))],
            &run,
        ),
        2 => events::inputs(&run, &[(&input, &format!("v{previous}"))]),
        3 => events::metric(&run, "auc", (unit % 1000) as f64 / 1000.0),
        4 => events::artifact(&run, "model.pkl"),
        5 => events::registered(
            &format!("model-{}", unit % 7),
            &unit.to_string(),
            &run,
            "model.pkl",
        ),
        _ => events::run_finished(&run),
    }
}

impl Workload {
    /// `unique` events spread over `workspaces` (a run's seven events stay
    /// in one workspace), about a third of them published two or three
    /// times; a later copy comes up to `late_by` events after the first,
    /// so duplicates arrive in other batches and, often, across the fault
    /// a test causes.
    pub fn generate(
        unique: usize,
        workspaces: &[&str],
        late_by: usize,
        rng: &mut SplitMix64,
    ) -> Self {
        let events: Vec<v1::Event> = (0..unique)
            .map(|n| {
                let workspace = workspaces[(n / 7) % workspaces.len()];
                events::event(&format!("ev-{n:07}"), workspace, n as i64, payload(n))
            })
            .collect();
        let encoded = events.iter().map(|event| event.encode_to_vec()).collect();
        // Each copy gets a sort key: the first at the event's place, later
        // ones after it.
        let mut keyed = Vec::with_capacity(unique * 3 / 2);
        for event in 0..unique {
            let copies = match rng.below(100) {
                0..70 => 1,
                70..90 => 2,
                _ => 3,
            };
            for copy in 0..copies {
                let key = event as u64 * 16
                    + if copy == 0 {
                        0
                    } else {
                        1 + rng.below(16 * late_by.max(1)) as u64
                    };
                keyed.push((
                    key,
                    Publication {
                        event,
                        msg_id: rng.below(2) == 0,
                    },
                ));
            }
        }
        keyed.sort_by_key(|(key, _)| *key);
        Self {
            events,
            encoded,
            publications: keyed
                .into_iter()
                .map(|(_, publication)| publication)
                .collect(),
        }
    }

    pub fn unique(&self) -> u64 {
        self.events.len() as u64
    }

    /// The clean single pass: every unique event, validated as a
    /// producer's, applied once, in generation order.
    pub fn clean_digest(&self) -> String {
        let mut graph = LineageGraph::new();
        for (index, bytes) in self.encoded.iter().enumerate() {
            let wire = decode_event(bytes, Encoding::Protobuf).expect("the workload decodes");
            let event = validate_event(&wire)
                .unwrap_or_else(|rejection| panic!("{} is invalid: {rejection}", wire.event_id));
            graph.apply(index as u64 + 1, &event);
        }
        hex::encode(graph.state_digest())
    }
}

impl Workload {
    /// Asserts that the log's `records` (a whole replay) hold every unique
    /// event of the workload exactly once, without gaps, byte for byte as
    /// published.
    pub fn assert_log_holds_each_event_once_as_published(&self, records: &[v1::LogRecord]) {
        let index_of: std::collections::HashMap<(&str, &str), usize> = self
            .events
            .iter()
            .enumerate()
            .map(|(index, event)| ((event.workspace.as_str(), event.event_id.as_str()), index))
            .collect();
        let mut seen = vec![false; self.events.len()];
        for (position, record) in records.iter().enumerate() {
            assert_eq!(record.seq, position as u64 + 1, "the log has no gaps");
            let event = record.event.as_ref().expect("a record carries its event");
            let index = *index_of
                .get(&(event.workspace.as_str(), event.event_id.as_str()))
                .unwrap_or_else(|| {
                    panic!("record {} holds an unknown event {event:?}", record.seq)
                });
            assert!(
                !seen[index],
                "event {}/{} is in the log twice (again at {})",
                event.workspace, event.event_id, record.seq
            );
            seen[index] = true;
            assert_eq!(
                event, &self.events[index],
                "record {} holds the event as published",
                record.seq
            );
        }
    }
}

/// The digest of the log's records applied in log order: tells a digest
/// mismatch caused by what the log holds from one caused by applying.
pub fn log_order_digest(records: &[v1::LogRecord]) -> String {
    let mut graph = LineageGraph::new();
    for record in records {
        let wire = record.event.as_ref().expect("a record carries its event");
        let event = validate_logged_event(wire).expect("a logged event validates");
        graph.apply(record.seq, &event);
    }
    hex::encode(graph.state_digest())
}

/// The durable consumer's backlog: (not yet delivered, delivered but not
/// acknowledged), or `None` if the broker does not answer or lineaged has
/// not created the consumer yet.
pub async fn consumer_backlog(js: &jetstream::Context) -> Option<(u64, usize)> {
    let stream = js.get_stream(STREAM).await.ok()?;
    let info = stream.consumer_info(CONSUMER).await.ok()?;
    Some((info.num_pending, info.num_ack_pending))
}
