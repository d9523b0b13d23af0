//! The projection is a pure function of the set of events: any arrival
//! order, and any number of deliveries of each event, give the same graph.
//!
//! Histories are drawn from small pools of names so that references collide
//! (the same run started twice, a dataset version both read and registered,
//! an endpoint redeployed) and from a small range of times so that event
//! times tie and event ids must decide.

mod common;

use common::*;
use lineage_core::event::{
    ArtifactLogged, ArtifactRef, DatasetVersionRef, DatasetVersionRegistered, EntityFlagged,
    EnvironmentRef, ExperimentCreated, MetricPoint, MetricsLogged, ModelDeployed, ModelRegistered,
    ModelStage, ModelStageChanged, ModelVersionRef, ParamsLogged, RedactionRequested, RunFinished,
    RunInputsDeclared, RunStarted, RunStatus, Severity, TagsSet,
};
use std::collections::BTreeSet;

use lineage_core::graph::Facts;
use lineage_core::redaction::PersonalField;
use lineage_core::{
    AsOf, Cut, EdgeIndex, EdgeKind, EntityKey, Event, EventId, LineageGraph, Node, NodeIndex,
    Payload,
};
use proptest::prelude::*;
use proptest::sample::select;

const RUNS: [&str; 4] = ["r0", "r1", "r2", "r3"];
const DATASETS: [&str; 3] = ["applications", "bureau", "features"];
const DATASET_VERSIONS: [&str; 2] = ["1", "2"];
const MODELS: [&str; 2] = ["credit-risk", "fraud"];
const MODEL_VERSIONS: [&str; 2] = ["7", "8"];
const ENDPOINTS: [&str; 2] = ["scoring", "shadow"];
const ENVIRONMENTS: [(&str, &str); 2] = [("sklearn", "1.4"), ("sklearn", "1.5")];
const COMPUTE: [&str; 2] = ["gpu-a", "cpu-b"];
const EXPERIMENTS: [&str; 2] = ["credit-risk-2026", "fraud-2026"];
const ARTIFACTS: [&str; 2] = ["model.pkl", "confusion.png"];
const KEYS: [&str; 3] = ["lr", "depth", "region"];
const VALUES: [&str; 3] = ["0.01", "0.1", "emea"];
const ACTORS: [&str; 2] = ["alice", "bob"];
/// Event times fall in 0..TIMES seconds, so ties are common.
const TIMES: i64 = 4;

fn name<const N: usize>(pool: [&'static str; N]) -> impl Strategy<Value = String> {
    select(pool.to_vec()).prop_map(str::to_owned)
}

fn optional<S: Strategy>(inner: S) -> impl Strategy<Value = Option<S::Value>> {
    prop::option::of(inner)
}

fn string_map() -> impl Strategy<Value = std::collections::BTreeMap<String, String>> {
    prop::collection::btree_map(name(KEYS), name(VALUES), 0..3)
}

fn dataset_ref() -> impl Strategy<Value = DatasetVersionRef> {
    (name(DATASETS), name(DATASET_VERSIONS))
        .prop_map(|(dataset, version)| DatasetVersionRef { dataset, version })
}

fn model_ref() -> impl Strategy<Value = ModelVersionRef> {
    (name(MODELS), name(MODEL_VERSIONS))
        .prop_map(|(model, version)| ModelVersionRef { model, version })
}

fn artifact_ref() -> impl Strategy<Value = ArtifactRef> {
    (name(RUNS), name(ARTIFACTS)).prop_map(|(run_id, name)| ArtifactRef { run_id, name })
}

fn environment_ref() -> impl Strategy<Value = EnvironmentRef> {
    select(ENVIRONMENTS.to_vec()).prop_map(|(name, version)| EnvironmentRef {
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

/// Every entity the pools can name, in the workspace `WS`.
fn all_pool_keys() -> Vec<EntityKey> {
    let ws = workspace(WS);
    let mut keys = Vec::new();
    for run in RUNS {
        keys.push(EntityKey::run(&ws, run));
        for artifact in ARTIFACTS {
            keys.push(EntityKey::artifact(&ws, run, artifact));
        }
    }
    for dataset in DATASETS {
        for version in DATASET_VERSIONS {
            keys.push(EntityKey::dataset_version(&ws, dataset, version));
        }
    }
    for model in MODELS {
        for version in MODEL_VERSIONS {
            keys.push(EntityKey::model_version(&ws, model, version));
        }
    }
    keys.extend(ENDPOINTS.map(|endpoint| EntityKey::endpoint(&ws, endpoint)));
    keys.extend(ENVIRONMENTS.map(|(name, version)| EntityKey::environment(&ws, name, version)));
    keys.extend(COMPUTE.map(|compute| EntityKey::compute(&ws, compute)));
    keys.extend(EXPERIMENTS.map(|experiment| EntityKey::experiment(&ws, experiment)));
    keys
}

fn any_key() -> impl Strategy<Value = EntityKey> {
    select(all_pool_keys())
}

/// Any of the 13 payloads, over the pools.
fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (name(EXPERIMENTS), name(VALUES), string_map()).prop_map(
            |(experiment, description, tags)| Payload::ExperimentCreated(ExperimentCreated {
                experiment,
                description,
                tags,
            })
        ),
        (
            name(RUNS),
            optional(name(EXPERIMENTS)),
            optional(name(RUNS)),
            optional(environment_ref()),
            optional(name(COMPUTE)),
            name(VALUES),
            string_map(),
            string_map(),
        )
            .prop_map(
                |(run_id, experiment, parent, environment, compute_target, code, params, tags)| {
                    Payload::RunStarted(RunStarted {
                        // A run is not its own parent; validation would say so.
                        parent_run_id: parent.filter(|parent| *parent != run_id),
                        name: run_id.clone(),
                        run_id,
                        experiment,
                        code_version: code,
                        environment,
                        compute_target,
                        params,
                        tags,
                    })
                }
            ),
        (
            name(RUNS),
            select(vec![
                RunStatus::Completed,
                RunStatus::Failed,
                RunStatus::Canceled
            ]),
            name(VALUES),
        )
            .prop_map(|(run_id, status, error)| Payload::RunFinished(RunFinished {
                run_id,
                status,
                error,
            })),
        (name(RUNS), string_map())
            .prop_map(|(run_id, params)| Payload::ParamsLogged(ParamsLogged { run_id, params })),
        (
            name(RUNS),
            prop::collection::vec((name(KEYS), 0..4i32, 0..3i64, 0..TIMES), 0..4),
        )
            .prop_map(|(run_id, points)| Payload::MetricsLogged(MetricsLogged {
                run_id,
                metrics: points
                    .into_iter()
                    .map(|(key, value, step, timestamp)| MetricPoint {
                        key,
                        value: f64::from(value) / 4.0,
                        step,
                        timestamp: at(timestamp),
                    })
                    .collect(),
            })),
        (any_key(), string_map())
            .prop_map(|(entity, tags)| Payload::TagsSet(TagsSet { entity, tags })),
        (
            dataset_ref(),
            name(VALUES),
            prop::collection::vec(dataset_ref(), 0..3),
            optional(name(RUNS)),
        )
            .prop_map(|(this, uri, derived_from, produced_by_run_id)| {
                Payload::DatasetVersionRegistered(DatasetVersionRegistered {
                    digest: format!("digest-{uri}"),
                    derived_from: derived_from
                        .into_iter()
                        .filter(|parent| *parent != this)
                        .collect(),
                    dataset: this.dataset,
                    version: this.version,
                    uri,
                    produced_by_run_id,
                })
            }),
        (
            name(RUNS),
            prop::collection::vec(dataset_ref(), 0..3),
            prop::collection::vec(artifact_ref(), 0..2),
            prop::collection::vec(model_ref(), 0..2),
        )
            .prop_map(|(run_id, datasets, artifacts, models)| {
                Payload::RunInputsDeclared(RunInputsDeclared {
                    run_id,
                    datasets,
                    artifacts,
                    models,
                })
            }),
        (name(RUNS), name(ARTIFACTS), name(VALUES), 0..3u64).prop_map(
            |(run_id, name, uri, size_bytes)| Payload::ArtifactLogged(ArtifactLogged {
                run_id,
                name,
                digest: format!("digest-{uri}"),
                uri,
                kind: "model".to_owned(),
                size_bytes,
            })
        ),
        (
            model_ref(),
            name(RUNS),
            optional(name(ARTIFACTS)),
            name(VALUES),
            name(ACTORS),
        )
            .prop_map(|(model, source_run_id, artifact_name, notes, approver)| {
                Payload::ModelRegistered(ModelRegistered {
                    model: model.model,
                    version: model.version,
                    source_run_id,
                    artifact_name,
                    approval_notes: notes,
                    approved_by: approver,
                })
            }),
        (
            model_ref(),
            select(vec![
                ModelStage::Staging,
                ModelStage::Production,
                ModelStage::Archived
            ]),
            name(VALUES),
            name(ACTORS),
        )
            .prop_map(|(model, stage, reason, approved_by)| {
                Payload::ModelStageChanged(ModelStageChanged {
                    model: model.model,
                    version: model.version,
                    stage,
                    reason,
                    approved_by,
                })
            }),
        (model_ref(), name(ENDPOINTS), name(VALUES)).prop_map(|(model, endpoint, deployment)| {
            Payload::ModelDeployed(ModelDeployed {
                model: model.model,
                version: model.version,
                endpoint,
                deployment,
            })
        }),
        (
            any_key(),
            name(VALUES),
            select(vec![
                Severity::Low,
                Severity::Medium,
                Severity::High,
                Severity::Critical
            ]),
        )
            .prop_map(
                |(entity, reason, severity)| Payload::EntityFlagged(EntityFlagged {
                    entity,
                    reason,
                    severity,
                })
            ),
    ]
}

/// A history of up to `max_len` events with unique ids, small times and
/// one of two actors.
fn history(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    history_of(payload(), "e", 1, max_len)
}

/// A history of `min_len` to `max_len` events of `payloads`, with ids
/// `<prefix>000`, `<prefix>001`...
fn history_of(
    payloads: impl Strategy<Value = Payload>,
    prefix: &'static str,
    min_len: usize,
    max_len: usize,
) -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((payloads, 0..TIMES, name(ACTORS)), min_len..=max_len).prop_map(
        move |drawn| {
            drawn
                .into_iter()
                .enumerate()
                .map(|(index, (payload, at_secs, actor))| {
                    let mut event = event(WS, &format!("{prefix}{index:03}"), at_secs, payload);
                    event.actor = actor;
                    event
                })
                .collect()
        },
    )
}

/// Personal fields, among them tags the pools use and one they never do.
fn personal_fields() -> impl Strategy<Value = std::collections::BTreeSet<PersonalField>> {
    let fields = [
        "actor",
        "approved_by",
        "approval_notes",
        "reason",
        "error",
        "description",
        "tags.lr",
        "tags.depth",
        "tags.region",
        "tags.absent",
    ]
    .map(|name| PersonalField::parse(name).expect("a personal field"));
    prop::collection::btree_set(select(fields.to_vec()), 1..=4)
}

fn redaction() -> impl Strategy<Value = Payload> {
    (any_key(), personal_fields(), name(VALUES)).prop_map(|(entity, fields, reason)| {
        Payload::RedactionRequested(RedactionRequested {
            entity,
            fields,
            reason,
        })
    })
}

/// One `TagsSet` per entity the pools can name, so that every node exists
/// whatever else the history says.
fn touch_every_entity() -> Vec<Event> {
    all_pool_keys()
        .into_iter()
        .enumerate()
        .map(|(index, entity)| {
            event(
                WS,
                &format!("touch{index:03}"),
                0,
                Payload::TagsSet(TagsSet {
                    entity,
                    tags: Default::default(),
                }),
            )
        })
        .collect()
}

/// A history, a shuffle of it, and a shuffle with each event repeated 1 to 3
/// times (so repeats arrive under different log sequences).
fn arrivals(history: impl Strategy<Value = Vec<Event>>) -> impl Strategy<Value = Arrivals> {
    history.prop_flat_map(|events| {
        let len = events.len();
        let shuffled = Just(events.clone()).prop_shuffle();
        let repeated = prop::collection::vec(1..=3usize, len).prop_flat_map(move |counts| {
            let order: Vec<usize> = counts
                .iter()
                .enumerate()
                .flat_map(|(index, &count)| std::iter::repeat_n(index, count))
                .collect();
            Just(order).prop_shuffle()
        });
        (Just(events), shuffled, repeated).prop_map(|(original, shuffled, order)| {
            let duplicated = order.iter().map(|&index| original[index].clone()).collect();
            Arrivals {
                original,
                shuffled,
                duplicated,
            }
        })
    })
}

#[derive(Debug, Clone)]
struct Arrivals {
    original: Vec<Event>,
    shuffled: Vec<Event>,
    duplicated: Vec<Event>,
}

fn assert_same_projection(arrivals: &Arrivals) -> Result<(), TestCaseError> {
    let original = project(&arrivals.original);
    for (what, events) in [
        ("shuffled", &arrivals.shuffled),
        ("shuffled with duplicates", &arrivals.duplicated),
    ] {
        let other = project(events);
        prop_assert_eq!(original.node_count(), other.node_count(), "nodes, {}", what);
        prop_assert_eq!(
            original.active_edge_count(),
            other.active_edge_count(),
            "active edges, {}",
            what
        );
        prop_assert_eq!(
            original.state_digest(),
            other.state_digest(),
            "digest, {}",
            what
        );
    }
    Ok(())
}

/// 64 cases keep the suite quick; `PROPTEST_CASES=5000` searches harder.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Random histories over all 13 payload kinds, plus one event naming
    /// each pool entity, so that every entity has facts of its own.
    #[test]
    fn any_order_and_any_repeats_give_the_same_graph(
        arrivals in arrivals(history(60).prop_map(|mut events| {
            events.extend(touch_every_entity());
            events
        }))
    ) {
        assert_same_projection(&arrivals)?;
    }

    /// The same property without help: every node must exist whatever the
    /// order, including those only a superseded fact referenced.
    #[test]
        fn any_order_and_any_repeats_give_the_same_graph_without_touching_every_entity(
        arrivals in arrivals(history(60))
    ) {
        assert_same_projection(&arrivals)?;
    }
}

#[test]
fn repeating_every_event_changes_nothing() {
    let history = vec![
        run_started(WS, "s-r1", "r1", 1)
            .env("sklearn@1.4")
            .param("lr", "0.01"),
        inputs(WS, "i-r1", "r1", &["dataset:applications@3"], 2),
        dataset(WS, "d3", "applications@3", 1),
        metrics(WS, "m-r1", "r1", &[("auc", 0.9, 1)], 3),
        artifact(WS, "a-r1", "r1", "model.pkl", 4),
        registered(WS, "reg-7", "credit-risk@7", "r1", 5).packaging("model.pkl"),
        stage(WS, "st-7", "credit-risk@7", ModelStage::Production, 6),
        deployed(WS, "dep-7", "credit-risk@7", "scoring", 7),
        flagged(WS, "flag-3", "dataset:applications@3", 8),
    ];
    let once = project(&history);
    let thrice = project(history.iter().chain(&history).chain(history.iter().rev()));
    assert_eq!(once.node_count(), thrice.node_count());
    assert_eq!(once.active_edge_count(), thrice.active_edge_count());
    assert_eq!(once.state_digest(), thrice.state_digest());
    assert_eq!(thrice.applied_seq(), 3 * history.len() as u64);
}

// ---------------------------------------------------------------------------
// The digest tells different lineage apart
// ---------------------------------------------------------------------------

fn base_history() -> Vec<Event> {
    vec![
        run_started(WS, "s-r1", "r1", 1).param("lr", "0.01"),
        inputs(WS, "i-r1", "r1", &["dataset:applications@3"], 2),
        dataset(WS, "d3", "applications@3", 1),
    ]
}

#[test]
fn one_more_param_changes_the_digest() {
    let base = project(&base_history());
    let mut more = base_history();
    more.push(params(WS, "p-r1", "r1", &[("depth", "6")], 3));
    let with_param = project(&more);
    assert_eq!(base.node_count(), with_param.node_count());
    assert_eq!(base.active_edge_count(), with_param.active_edge_count());
    assert_ne!(base.state_digest(), with_param.state_digest());
}

#[test]
fn small_differences_change_the_digest() {
    let base = project(&base_history()).state_digest();
    let variants: Vec<(&str, Event)> = vec![
        (
            "a param's value",
            params(WS, "p-r1", "r1", &[("lr", "0.02")], 3),
        ),
        (
            "a tag",
            tags(WS, "t-r1", "run:r1", &[("region", "emea")], 3),
        ),
        ("a metric", metrics(WS, "m-r1", "r1", &[("auc", 0.9, 1)], 3)),
        ("a flag", flagged(WS, "flag-3", "dataset:applications@3", 3)),
        (
            "an unrelated placeholder",
            inputs(WS, "i-r2", "r2", &["dataset:bureau@1"], 3),
        ),
        (
            "a finish",
            run_finished(WS, "f-r1", "r1", RunStatus::Completed, 3),
        ),
    ];
    for (what, extra) in variants {
        let mut history = base_history();
        history.push(extra);
        assert_ne!(project(&history).state_digest(), base, "{what}");
    }
    // The same fact from a different event (another stamp) is a different
    // state: the digest covers the stamps that decided each register.
    let mut restamped = base_history();
    restamped[0].id = EventId::new_unchecked("s-r1-retry");
    assert_ne!(
        project(&restamped).state_digest(),
        base,
        "a restamped start"
    );
}

#[test]
fn the_digest_of_an_empty_graph_is_stable() {
    assert_eq!(
        LineageGraph::new().state_digest(),
        project(&Vec::<Event>::new()).state_digest()
    );
    assert_ne!(
        LineageGraph::new().state_digest(),
        project(&base_history()).state_digest()
    );
}

// ---------------------------------------------------------------------------
// Snapshots: a decoded snapshot is the graph it was taken of
// ---------------------------------------------------------------------------

/// Applies `events` from log sequence `first_seq` on.
fn apply_from(graph: &mut LineageGraph, first_seq: u64, events: &[Event]) {
    for (offset, event) in events.iter().enumerate() {
        graph.apply(first_seq + offset as u64, event);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Snapshot at a random cut, decode, apply the rest: the same state as
    /// never snapshotting, and the decoded graph re-encodes to the same
    /// bytes (so sequences and retired edges came back too).
    #[test]
    fn a_snapshot_at_any_cut_continues_like_the_original(
        (events, cut) in history(60).prop_flat_map(|events| {
            let len = events.len();
            (Just(events), 0..=len)
        })
    ) {
        let mut original = LineageGraph::new();
        apply_from(&mut original, 1, &events[..cut]);
        let snapshot = original.encode_snapshot();
        let mut restored = LineageGraph::decode_snapshot(&snapshot)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(restored.state_digest(), original.state_digest());
        prop_assert_eq!(restored.applied_seq(), original.applied_seq());
        prop_assert_eq!(restored.encode_snapshot(), snapshot);

        apply_from(&mut original, cut as u64 + 1, &events[cut..]);
        apply_from(&mut restored, cut as u64 + 1, &events[cut..]);
        prop_assert_eq!(restored.state_digest(), original.state_digest());
        prop_assert_eq!(restored.active_edge_count(), original.active_edge_count());
        prop_assert_eq!(restored.encode_snapshot(), original.encode_snapshot());
    }
}

#[test]
fn an_empty_graph_survives_a_snapshot() {
    let graph = LineageGraph::new();
    let restored = LineageGraph::decode_snapshot(&graph.encode_snapshot()).expect("decodes");
    assert_eq!(restored.state_digest(), graph.state_digest());
    assert_eq!(restored.node_count(), 0);
}

#[test]
fn corrupt_or_truncated_snapshots_are_errors_not_panics() {
    use lineage_core::SnapshotError;
    let mut graph = LineageGraph::new();
    let mut events = base_history();
    events.extend(touch_every_entity());
    events.push(flagged(WS, "flag-r1", "run:r1", 3));
    events.push(event(
        WS,
        "redact-r1",
        4,
        Payload::RedactionRequested(RedactionRequested {
            entity: key(WS, "run:r1"),
            fields: ["actor", "reason"]
                .map(|name| PersonalField::parse(name).expect("a personal field"))
                .into(),
            reason: "GDPR art. 17".to_owned(),
        }),
    ));
    apply_from(&mut graph, 1, &events);
    assert_eq!(
        graph
            .node(graph.find(&key(WS, "run:r1")).expect("r1"))
            .redactions()
            .len(),
        1
    );
    let snapshot = graph.encode_snapshot();

    for len in 0..snapshot.len() {
        assert!(
            LineageGraph::decode_snapshot(&snapshot[..len]).is_err(),
            "a snapshot cut at {len} bytes must not load"
        );
    }
    let mut flipped = snapshot.clone();
    flipped[snapshot.len() / 2] ^= 0x40;
    assert_eq!(
        LineageGraph::decode_snapshot(&flipped).err(),
        Some(SnapshotError::ChecksumMismatch)
    );
    let mut other_version = snapshot.clone();
    other_version[6] = 99;
    assert_eq!(
        LineageGraph::decode_snapshot(&other_version).err(),
        Some(SnapshotError::UnsupportedVersion { found: 99 })
    );

    // Garbage behind a valid checksum: each body byte replaced, each cut,
    // with the checksum recomputed, must give an error or a graph, never a
    // panic or a huge allocation.
    let body_end = snapshot.len() - 32;
    let resealed = |content: &[u8]| {
        let mut bytes = content.to_vec();
        bytes.extend_from_slice(blake3::hash(content).as_bytes());
        bytes
    };
    for at in 7..body_end {
        for value in [0x00, 0x7f, 0xff] {
            let mut content = snapshot[..body_end].to_vec();
            content[at] = value;
            let _ = LineageGraph::decode_snapshot(&resealed(&content));
        }
        let cut = LineageGraph::decode_snapshot(&resealed(&snapshot[..at]));
        assert!(cut.is_err(), "a body cut at {at} bytes must not load");
    }
}

// ---------------------------------------------------------------------------
// Redactions: erasing in place is replaying the erased log
// ---------------------------------------------------------------------------

/// `events` with the fields of `redaction` erased from those about its
/// entity: what the log holds once it applied the redaction to its records.
fn erased_by(events: &[Event], redaction: &Event) -> Vec<Event> {
    let Payload::RedactionRequested(requested) = &redaction.payload else {
        panic!("needs a RedactionRequested, not {:?}", redaction.payload);
    };
    events
        .iter()
        .map(|event| {
            if event.subject().as_ref() == Some(&requested.entity) {
                event.erased(&requested.fields)
            } else {
                event.clone()
            }
        })
        .collect()
}

/// Same digest, same nodes (every fact, stamp, sequence and redaction),
/// same edges and the same snapshot bytes, which holds the interned names.
fn assert_same_graph(erased: &LineageGraph, replayed: &LineageGraph) -> Result<(), TestCaseError> {
    prop_assert_eq!(erased.state_digest(), replayed.state_digest());
    prop_assert_eq!(erased.node_count(), replayed.node_count());
    for (_, node) in erased.nodes() {
        let other = replayed.find(&node.key).map(|index| replayed.node(index));
        prop_assert_eq!(Some(node), other);
    }
    prop_assert_eq!(erased.active_edge_count(), replayed.active_edge_count());
    prop_assert_eq!(erased.encode_snapshot(), replayed.encode_snapshot());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Applying e1..eN then a redaction R erases exactly what replaying
    /// e1'..eN' then R gives, where ei' is ei with R's fields erased if R's
    /// entity is its subject: a restart after the log erased its records
    /// sees the graph the running service had. Earlier redactions may be
    /// in the history; events after R keep their values in both.
    #[test]
    fn a_redaction_gives_the_graph_of_the_erased_log(
        (before, redaction, after) in (
            history_of(prop_oneof![9 => payload(), 1 => redaction()], "e", 1, 50),
            history_of(redaction(), "redact", 1, 1),
            history_of(payload(), "late", 0, 10),
        )
    ) {
        let redaction = &redaction[0];
        let n = before.len() as u64;
        let mut erased = LineageGraph::new();
        apply_from(&mut erased, 1, &before);
        erased.apply(n + 1, redaction);
        let mut replayed = LineageGraph::new();
        apply_from(&mut replayed, 1, &erased_by(&before, redaction));
        replayed.apply(n + 1, redaction);
        assert_same_graph(&erased, &replayed)?;

        apply_from(&mut erased, n + 2, &after);
        apply_from(&mut replayed, n + 2, &after);
        assert_same_graph(&erased, &replayed)?;
    }
}

// ---------------------------------------------------------------------------
// Time travel: a view through a cut is the projection of the records that
// pass it
// ---------------------------------------------------------------------------

/// The log's records as it holds them once it carried out every redaction
/// in `events`: each redaction erased its fields from the records before it
/// about its entity.
fn erased_log(events: &[Event]) -> Vec<Event> {
    let mut log = events.to_vec();
    for (at, event) in events.iter().enumerate() {
        if let Payload::RedactionRequested(_) = &event.payload {
            let erased = erased_by(&log[..at], event);
            log.splice(..at, erased);
        }
    }
    log
}

/// A metric's points as (step, timestamp, value bits), by its key.
type MetricValues = (String, Vec<(i64, i64, u64)>);

/// A node as a fresh projection of a view's records would hold it, but for
/// what records left out of the view still moved: the earliest event time
/// of the references, and for an event-time view the first sequence. Metric
/// points refer to their events' stamps by an index into a table of the
/// graph's own, so their values are compared and not the indexes.
fn comparable(node: &Node, cut: Cut) -> (String, Vec<MetricValues>) {
    let mut node = node.clone();
    node.first_occurred_at = lineage_core::EventTime::MIN;
    if let Cut::Occurred(_) = cut {
        node.first_seq = 0;
    }
    let metrics = match &node.facts {
        Facts::Run(run) => run
            .metrics()
            .map(|(key, series)| {
                let points = series
                    .points()
                    .map(|p| (p.step, p.timestamp.unix_nanos(), p.value.to_bits()))
                    .collect();
                (key.to_owned(), points)
            })
            .collect(),
        _ => Vec::new(),
    };
    let debug = format!("{node:?}");
    let mut without_encodings = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("encoded: [") {
        without_encodings.push_str(&rest[..at]);
        let end = rest[at..].find(']').expect("a closing bracket");
        rest = &rest[at + end + 1..];
    }
    without_encodings.push_str(rest);
    (without_encodings, metrics)
}

/// Every edge that holds, by its ends' keys, with its first sequence where
/// a view through `cut` keeps it exact (a view of a log prefix).
fn holding_edges(view: &AsOf<'_>, cut: Cut) -> BTreeSet<(String, String, EdgeKind, u64)> {
    view.graph()
        .all_edges()
        .enumerate()
        .filter(|&(index, _)| view.holds(EdgeIndex::new(index)))
        .map(|(_, (from, to, edge))| {
            let first_seq = match cut {
                Cut::Occurred(_) => 0,
                _ => edge.first_seq(),
            };
            (
                view.key(from).to_string(),
                view.key(to).to_string(),
                edge.kind(),
                first_seq,
            )
        })
        .collect()
}

/// Everything the questions read, asked of `view` and of a fresh projection
/// of the records that pass its cut, must agree.
fn assert_view_is_projection(view: AsOf<'_>, fresh: &LineageGraph) -> Result<(), TestCaseError> {
    let cut = view.cut();
    let graph = view.graph();
    let in_view: Vec<NodeIndex> = graph
        .nodes()
        .map(|(index, _)| index)
        .filter(|&index| view.contains(index))
        .collect();
    prop_assert_eq!(in_view.len(), fresh.node_count(), "nodes in {:?}", cut);
    for &index in &in_view {
        let key = view.key(index);
        let other = fresh.find(key);
        prop_assert!(
            other.is_some(),
            "{} is in {:?} but not in the projection",
            key,
            cut
        );
        let other = fresh.node(other.expect("checked"));
        prop_assert_eq!(
            comparable(&view.node(index), cut),
            comparable(other, cut),
            "{} in {:?}",
            key,
            cut
        );
    }
    prop_assert_eq!(
        holding_edges(&view, cut),
        holding_edges(&fresh.present(), cut),
        "edges in {:?}",
        cut
    );
    let keys = |graph: &LineageGraph, nodes: &[NodeIndex]| -> Vec<String> {
        nodes
            .iter()
            .map(|&n| graph.node(n).key.to_string())
            .collect()
    };
    let ws = workspace(WS);
    for dataset in DATASETS {
        for version in [None, Some("1"), Some("2")] {
            let (page, more) = view.runs_using_dataset(&ws, dataset, version, None, 2);
            let (fresh_page, fresh_more) = fresh.runs_using_dataset(&ws, dataset, version, None, 2);
            prop_assert_eq!(keys(graph, &page), keys(fresh, &fresh_page));
            prop_assert_eq!(more, fresh_more);
        }
    }
    // Adjacency order follows insertion, which differs between the graphs.
    let sorted = |mut keys: Vec<String>| {
        keys.sort();
        keys
    };
    for &index in &in_view {
        let other = fresh.find(view.key(index)).expect("checked above");
        for spec in [provenance(), impact()] {
            let answer = view.traverse(index, &spec);
            let fresh_answer = fresh.traverse(other, &spec);
            prop_assert_eq!(
                sorted(keys(graph, &answer.nodes)),
                sorted(keys(fresh, &fresh_answer.nodes))
            );
        }
        if view.key(index).kind == lineage_core::EntityKind::ModelVersion {
            let trace = view.trace_model(index, &provenance());
            let fresh_trace = fresh.trace_model(other, &provenance());
            prop_assert_eq!(trace.is_some(), fresh_trace.is_some());
            if let (Some(trace), Some(fresh_trace)) = (trace, fresh_trace) {
                prop_assert_eq!(
                    trace.source_run.map(|run| view.key(run).to_string()),
                    fresh_trace
                        .source_run
                        .map(|run| fresh.node(run).key.to_string())
                );
                prop_assert_eq!(
                    sorted(keys(graph, &trace.inputs)),
                    sorted(keys(fresh, &fresh_trace.inputs))
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// As of log sequence N, the live graph answers what a graph built
    /// from the log's first N records answers.
    #[test]
    fn a_view_as_of_a_sequence_is_the_projection_of_the_log_up_to_it(
        (events, last) in history_of(prop_oneof![19 => payload(), 1 => redaction()], "e", 1, 60)
            .prop_flat_map(|events| {
                let len = events.len() as u64;
                (Just(events), 0..=len)
            })
    ) {
        let live = project(&events);
        let log = erased_log(&events);
        let fresh = project(&log[..last as usize]);
        assert_view_is_projection(live.as_of(Cut::Logged(last)), &fresh)?;
        prop_assert_eq!(live.as_of(Cut::Logged(last)).answered_seq(), last);
    }

    /// By event time T, the live graph answers what a graph built from the
    /// log's records of the events that occurred by T answers.
    #[test]
    fn a_view_by_an_event_time_is_the_projection_of_what_happened_by_then(
        (events, by_secs) in (
            history_of(prop_oneof![19 => payload(), 1 => redaction()], "e", 1, 60),
            -1..=TIMES,
        )
    ) {
        let live = project(&events);
        let by = lineage_core::EventTime::from_unix_nanos(by_secs * 1_000_000_000);
        let mut fresh = LineageGraph::new();
        for (seq, event) in (1u64..).zip(erased_log(&events).iter()) {
            if event.occurred_at <= by {
                fresh.apply(seq, event);
            }
        }
        assert_view_is_projection(live.as_of(Cut::Occurred(by)), &fresh)?;
    }
}

#[test]
fn the_present_view_is_the_graph() {
    let mut events = base_history();
    events.extend(touch_every_entity());
    let graph = project(&events);
    let now = graph.as_of(Cut::Now);
    for (index, node) in graph.nodes() {
        assert!(now.contains(index));
        assert_eq!(&*now.node(index), node);
    }
    assert_eq!(now.answered_seq(), graph.applied_seq());
}
