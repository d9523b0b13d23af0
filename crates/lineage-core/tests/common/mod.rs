//! Shared test vocabulary: event builders, key parsing, and the one
//! given/when/then helper every question test goes through.
//!
//! Histories are written as plain `Vec<Event>` built from short helpers, so a
//! test reads like the story it tells. Answers are compared as lists of
//! `kind:name[@version]` strings, so a failure prints something a person can
//! read and an API change touches only [`ask`].

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use lineage_core::event::{
    ArtifactLogged, ArtifactRef, DatasetVersionRef, DatasetVersionRegistered, EntityFlagged,
    EnvironmentRef, ExperimentCreated, MetricPoint, MetricsLogged, ModelDeployed, ModelRegistered,
    ModelStage, ModelStageChanged, ModelVersionRef, ParamsLogged, RunFinished, RunInputsDeclared,
    RunStarted, RunStatus, Severity, TagsSet,
};
use lineage_core::{
    EdgeKinds, EntityKey, EntityKind, Event, EventId, EventTime, LineageGraph, Node, NodeKinds,
    Payload, TraversalSpec, Walk, Workspace,
};

/// The workspace most tests live in.
pub const WS: &str = "credit-lender";

pub fn workspace(ws: &str) -> Workspace {
    Workspace::parse(ws).expect("test workspaces are valid")
}

/// Parses the CLI form `kind:name[@version]` into a key of `ws`.
pub fn key(ws: &str, text: &str) -> EntityKey {
    let (kind, rest) = text
        .split_once(':')
        .expect("test keys are written kind:name[@version]");
    let kind = EntityKind::from_short_name(kind).expect("test keys use a known kind");
    let (name, version) = rest.split_once('@').unwrap_or((rest, ""));
    EntityKey::parse(workspace(ws), kind, name, version).expect("test keys are valid")
}

/// Seconds since the epoch, the only clock tests need.
pub fn at(seconds: i64) -> EventTime {
    EventTime::from_unix(seconds, 0).expect("test times are in range")
}

pub fn event(ws: &str, id: &str, at_secs: i64, payload: Payload) -> Event {
    Event {
        id: EventId::new_unchecked(id),
        workspace: workspace(ws),
        occurred_at: at(at_secs),
        producer: "tests".to_owned(),
        actor: "alice".to_owned(),
        payload,
    }
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Splits `name@version`.
fn versioned(text: &str) -> (String, String) {
    let (name, version) = text
        .split_once('@')
        .expect("versioned test references are written name@version");
    (name.to_owned(), version.to_owned())
}

pub fn experiment_created(ws: &str, id: &str, experiment: &str, at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::ExperimentCreated(ExperimentCreated {
            experiment: experiment.to_owned(),
            description: format!("about {experiment}"),
            tags: BTreeMap::new(),
        }),
    )
}

/// A bare `RunStarted`; refine it with [`EventExt`] (`.env(..)`, `.compute(..)`...).
pub fn run_started(ws: &str, id: &str, run_id: &str, at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::RunStarted(RunStarted {
            run_id: run_id.to_owned(),
            experiment: None,
            name: run_id.to_owned(),
            parent_run_id: None,
            code_version: "abc123".to_owned(),
            environment: None,
            compute_target: None,
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
        }),
    )
}

pub fn run_finished(ws: &str, id: &str, run_id: &str, status: RunStatus, at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::RunFinished(RunFinished {
            run_id: run_id.to_owned(),
            status,
            error: String::new(),
        }),
    )
}

pub fn params(ws: &str, id: &str, run_id: &str, pairs: &[(&str, &str)], at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::ParamsLogged(ParamsLogged {
            run_id: run_id.to_owned(),
            params: string_map(pairs),
        }),
    )
}

/// Metric points as (key, value, step), all timestamped at the event time.
pub fn metrics(
    ws: &str,
    id: &str,
    run_id: &str,
    points: &[(&str, f64, i64)],
    at_secs: i64,
) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::MetricsLogged(MetricsLogged {
            run_id: run_id.to_owned(),
            metrics: points
                .iter()
                .map(|(key, value, step)| MetricPoint {
                    key: (*key).to_owned(),
                    value: *value,
                    step: *step,
                    timestamp: at(at_secs),
                })
                .collect(),
        }),
    )
}

pub fn tags(ws: &str, id: &str, entity: &str, pairs: &[(&str, &str)], at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::TagsSet(TagsSet {
            entity: key(ws, entity),
            tags: string_map(pairs),
        }),
    )
}

/// A `DatasetVersionRegistered` for `name@version`; add parents with
/// `.derived_from(..)` and the producing run with `.produced_by(..)`.
pub fn dataset(ws: &str, id: &str, name_at_version: &str, at_secs: i64) -> Event {
    let (dataset, version) = versioned(name_at_version);
    event(
        ws,
        id,
        at_secs,
        Payload::DatasetVersionRegistered(DatasetVersionRegistered {
            uri: format!("s3://data/{dataset}/{version}"),
            digest: format!("blake3:{dataset}-{version}"),
            dataset,
            version,
            derived_from: Vec::new(),
            produced_by_run_id: None,
        }),
    )
}

/// A `RunInputsDeclared`; inputs are keys like `dataset:applications@3`,
/// `artifact:r0/features.parquet` or `model:credit-risk@6`.
pub fn inputs(ws: &str, id: &str, run_id: &str, used: &[&str], at_secs: i64) -> Event {
    let mut declared = RunInputsDeclared {
        run_id: run_id.to_owned(),
        datasets: Vec::new(),
        artifacts: Vec::new(),
        models: Vec::new(),
    };
    for text in used {
        let input = key(ws, text);
        match input.kind {
            EntityKind::DatasetVersion => declared.datasets.push(DatasetVersionRef {
                dataset: input.name,
                version: input.version,
            }),
            EntityKind::ModelVersion => declared.models.push(ModelVersionRef {
                model: input.name,
                version: input.version,
            }),
            EntityKind::Artifact => {
                let (run_id, name) = input.artifact_parts().expect("an artifact key");
                declared.artifacts.push(ArtifactRef {
                    run_id: run_id.to_owned(),
                    name: name.to_owned(),
                });
            }
            other => panic!("{other:?} cannot be a run input"),
        }
    }
    event(ws, id, at_secs, Payload::RunInputsDeclared(declared))
}

pub fn artifact(ws: &str, id: &str, run_id: &str, name: &str, at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::ArtifactLogged(ArtifactLogged {
            run_id: run_id.to_owned(),
            name: name.to_owned(),
            uri: format!("s3://artifacts/{run_id}/{name}"),
            digest: format!("blake3:{run_id}-{name}"),
            kind: "model".to_owned(),
            size_bytes: 1024,
        }),
    )
}

/// A `ModelRegistered` for `model@version` from `source_run_id`; name the
/// packaged artifact with `.packaging(..)`.
pub fn registered(
    ws: &str,
    id: &str,
    model_at_version: &str,
    source_run_id: &str,
    at_secs: i64,
) -> Event {
    let (model, version) = versioned(model_at_version);
    event(
        ws,
        id,
        at_secs,
        Payload::ModelRegistered(ModelRegistered {
            model,
            version,
            source_run_id: source_run_id.to_owned(),
            artifact_name: None,
            approval_notes: "beats the baseline on AUC".to_owned(),
            approved_by: "risk-committee".to_owned(),
        }),
    )
}

pub fn stage(ws: &str, id: &str, model_at_version: &str, stage: ModelStage, at_secs: i64) -> Event {
    let (model, version) = versioned(model_at_version);
    event(
        ws,
        id,
        at_secs,
        Payload::ModelStageChanged(ModelStageChanged {
            model,
            version,
            stage,
            reason: "promotion review".to_owned(),
            approved_by: "risk-committee".to_owned(),
        }),
    )
}

pub fn deployed(ws: &str, id: &str, model_at_version: &str, endpoint: &str, at_secs: i64) -> Event {
    let (model, version) = versioned(model_at_version);
    event(
        ws,
        id,
        at_secs,
        Payload::ModelDeployed(ModelDeployed {
            deployment: format!("{endpoint}-{model}-{version}"),
            model,
            version,
            endpoint: endpoint.to_owned(),
        }),
    )
}

pub fn flagged(ws: &str, id: &str, entity: &str, at_secs: i64) -> Event {
    event(
        ws,
        id,
        at_secs,
        Payload::EntityFlagged(EntityFlagged {
            entity: key(ws, entity),
            reason: "found corrupt".to_owned(),
            severity: Severity::High,
        }),
    )
}

/// Refinements of the builders above. Each panics when used on an event of
/// the wrong kind, which is a mistake in the test, not in the code under test.
pub trait EventExt {
    fn env(self, name_at_version: &str) -> Self;
    fn compute(self, target: &str) -> Self;
    fn parent(self, parent_run_id: &str) -> Self;
    fn experiment(self, experiment: &str) -> Self;
    fn param(self, key: &str, value: &str) -> Self;
    fn derived_from(self, name_at_version: &str) -> Self;
    fn produced_by(self, run_id: &str) -> Self;
    fn packaging(self, artifact_name: &str) -> Self;
}

impl EventExt for Event {
    fn env(mut self, name_at_version: &str) -> Self {
        let (name, version) = versioned(name_at_version);
        run_start_mut(&mut self).environment = Some(EnvironmentRef { name, version });
        self
    }

    fn compute(mut self, target: &str) -> Self {
        run_start_mut(&mut self).compute_target = Some(target.to_owned());
        self
    }

    fn parent(mut self, parent_run_id: &str) -> Self {
        run_start_mut(&mut self).parent_run_id = Some(parent_run_id.to_owned());
        self
    }

    fn experiment(mut self, experiment: &str) -> Self {
        run_start_mut(&mut self).experiment = Some(experiment.to_owned());
        self
    }

    fn param(mut self, key: &str, value: &str) -> Self {
        run_start_mut(&mut self)
            .params
            .insert(key.to_owned(), value.to_owned());
        self
    }

    fn derived_from(mut self, name_at_version: &str) -> Self {
        let (dataset, version) = versioned(name_at_version);
        dataset_mut(&mut self)
            .derived_from
            .push(DatasetVersionRef { dataset, version });
        self
    }

    fn produced_by(mut self, run_id: &str) -> Self {
        dataset_mut(&mut self).produced_by_run_id = Some(run_id.to_owned());
        self
    }

    fn packaging(mut self, artifact_name: &str) -> Self {
        match &mut self.payload {
            Payload::ModelRegistered(registered) => {
                registered.artifact_name = Some(artifact_name.to_owned());
            }
            other => panic!(".packaging() needs a ModelRegistered, not {other:?}"),
        }
        self
    }
}

fn run_start_mut(event: &mut Event) -> &mut RunStarted {
    match &mut event.payload {
        Payload::RunStarted(started) => started,
        other => panic!("needs a RunStarted, not {other:?}"),
    }
}

fn dataset_mut(event: &mut Event) -> &mut DatasetVersionRegistered {
    match &mut event.payload {
        Payload::DatasetVersionRegistered(registered) => registered,
        other => panic!("needs a DatasetVersionRegistered, not {other:?}"),
    }
}

/// Folds events into a fresh graph in the order given, numbering them from 1.
pub fn project<'a>(events: impl IntoIterator<Item = &'a Event>) -> LineageGraph {
    let mut graph = LineageGraph::new();
    for (seq, event) in (1u64..).zip(events) {
        graph.apply(seq, event);
    }
    graph
}

/// The arrival orders every question is asked under: as written, reversed,
/// and every event delivered twice (once in reverse, then again in order).
pub fn arrival_orders(given: &[Event]) -> Vec<(&'static str, LineageGraph)> {
    // Every question is also asked of a graph restored from a snapshot.
    let restored = LineageGraph::decode_snapshot(&project(given).encode_snapshot())
        .expect("a snapshot of a projection decodes");
    vec![
        ("as written", project(given)),
        ("reversed", project(given.iter().rev())),
        (
            "duplicated",
            project(given.iter().rev().chain(given.iter())),
        ),
        ("restored from a snapshot", restored),
    ]
}

/// The node for a key that must exist.
pub fn node<'g>(graph: &'g LineageGraph, ws: &str, text: &str) -> &'g Node {
    let index = graph
        .find(&key(ws, text))
        .unwrap_or_else(|| panic!("{text} is in the graph"));
    graph.node(index)
}

pub fn display(graph: &LineageGraph, nodes: &[petgraph::graph::NodeIndex]) -> Vec<String> {
    nodes
        .iter()
        .map(|&index| graph.node(index).key.to_string())
        .collect()
}

/// A traversal spec generous enough that only the bound a test sets bites.
pub fn spec(walk: Walk) -> TraversalSpec {
    TraversalSpec {
        walk,
        max_depth: 64,
        edge_kinds: EdgeKinds::lineage(),
        node_kinds: NodeKinds::all(),
        max_nodes: 10_000,
        max_edges: 100_000,
        max_visits: 100_000,
    }
}

pub fn provenance() -> TraversalSpec {
    spec(Walk::Provenance)
}

pub fn impact() -> TraversalSpec {
    spec(Walk::Impact)
}

/// A question, in the terms of the domain.
#[derive(Clone, Debug)]
pub enum When<'a> {
    /// One page of `runs_using_dataset`; `version: None` means any version.
    RunsUsing {
        ws: &'a str,
        dataset: &'a str,
        version: Option<&'a str>,
        after: Option<&'a str>,
        page_size: usize,
    },
    /// A traversal from `root` (written `kind:name[@version]`).
    Traverse {
        ws: &'a str,
        root: &'a str,
        spec: TraversalSpec,
    },
    /// The versions of a dataset ever referenced.
    DatasetVersions { ws: &'a str, dataset: &'a str },
}

impl When<'_> {
    /// "Any version of `dataset`", the whole answer on one page.
    pub fn runs_using_any<'a>(ws: &'a str, dataset: &'a str) -> When<'a> {
        When::RunsUsing {
            ws,
            dataset,
            version: None,
            after: None,
            page_size: 1000,
        }
    }

    /// "`dataset@version`", the whole answer on one page.
    pub fn runs_using<'a>(ws: &'a str, dataset: &'a str, version: &'a str) -> When<'a> {
        When::RunsUsing {
            ws,
            dataset,
            version: Some(version),
            after: None,
            page_size: 1000,
        }
    }

    pub fn provenance_of(root: &str) -> When<'_> {
        When::Traverse {
            ws: WS,
            root,
            spec: provenance(),
        }
    }

    pub fn impact_of(root: &str) -> When<'_> {
        When::Traverse {
            ws: WS,
            root,
            spec: impact(),
        }
    }
}

/// Asks the question of one graph. Pages keep their order (ordering is part
/// of the answer); traversal answers are sorted (breadth-first order within
/// a level is not). The flag is "more follow" for pages and "truncated" for
/// traversals.
pub fn ask(graph: &LineageGraph, when: &When<'_>) -> (Vec<String>, bool) {
    match *when {
        When::RunsUsing {
            ws,
            dataset,
            version,
            after,
            page_size,
        } => {
            let (page, more) =
                graph.runs_using_dataset(&workspace(ws), dataset, version, after, page_size);
            (display(graph, &page), more)
        }
        When::Traverse { ws, root, spec } => {
            let Some(root) = graph.find(&key(ws, root)) else {
                return (Vec::new(), false);
            };
            let answer = graph.traverse(root, &spec);
            let mut keys = display(graph, &answer.nodes);
            keys.sort();
            (keys, answer.truncated)
        }
        When::DatasetVersions { ws, dataset } => {
            let keys = graph
                .dataset_versions(&workspace(ws), dataset)
                .map(|versions| {
                    versions
                        .values()
                        .map(|&index| graph.node(index).key.to_string())
                        .collect()
                })
                .unwrap_or_default();
            (keys, false)
        }
    }
}

/// Given a history, when a question is asked, then this is the answer,
/// whatever the arrival order and however often events arrive.
#[track_caller]
pub fn check(given: &[Event], when: When<'_>, then: &[&str], then_flag: bool) {
    for (order, graph) in arrival_orders(given) {
        let (keys, flag) = ask(&graph, &when);
        assert_eq!(keys, then, "answer to {when:?} ({order})");
        assert_eq!(flag, then_flag, "more/truncated flag of {when:?} ({order})");
    }
}
