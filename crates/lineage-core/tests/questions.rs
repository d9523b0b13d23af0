//! The questions of DOMAIN.md, asked of small histories.
//!
//! Each test states a history (given), a question (when) and the answer
//! (then); `common::check` asks it under several arrival orders, so every
//! answer here is also an order-independence check.

mod common;

use common::*;
use lineage_core::event::{ModelStage, RunStatus};
use lineage_core::graph::Facts;
use lineage_core::{EdgeKind, EdgeKinds, EntityKind, Event, NodeKinds, TraversalSpec, Walk};

// ---------------------------------------------------------------------------
// Q1: which runs used dataset applications@3, and any version of it?
// ---------------------------------------------------------------------------

/// Five runs over three versions of `applications`, declared out of run-id
/// order, plus a run over another dataset.
fn applications_history() -> Vec<Event> {
    vec![
        dataset(WS, "d1", "applications@1", 1),
        dataset(WS, "d2", "applications@2", 2),
        dataset(WS, "d3", "applications@3", 3),
        dataset(WS, "d4", "bureau@1", 3),
        inputs(
            WS,
            "i5",
            "r5",
            &["dataset:applications@1", "dataset:bureau@1"],
            10,
        ),
        inputs(WS, "i3", "r3", &["dataset:applications@2"], 11),
        inputs(WS, "i1", "r1", &["dataset:applications@3"], 12),
        inputs(WS, "i4", "r4", &["dataset:applications@3"], 13),
        // Declaring the same input twice counts the run once.
        inputs(WS, "i2", "r2", &["dataset:applications@3"], 14),
        inputs(WS, "i2b", "r2", &["dataset:applications@3"], 15),
        inputs(WS, "i6", "r6", &["dataset:bureau@1"], 16),
    ]
}

#[test]
fn q1_runs_using_a_dataset_version() {
    check(
        &applications_history(),
        When::runs_using(WS, "applications", "3"),
        &["run:r1", "run:r2", "run:r4"],
        false,
    );
    check(
        &applications_history(),
        When::runs_using(WS, "applications", "1"),
        &["run:r5"],
        false,
    );
}

#[test]
fn q1_runs_using_any_version_of_a_dataset() {
    check(
        &applications_history(),
        When::runs_using_any(WS, "applications"),
        &["run:r1", "run:r2", "run:r3", "run:r4", "run:r5"],
        false,
    );
}

#[test]
fn q1_pages_are_ordered_by_run_id_and_resume_after_the_last() {
    let history = applications_history();
    let page = |after| When::RunsUsing {
        ws: WS,
        dataset: "applications",
        version: None,
        after,
        page_size: 2,
    };
    check(&history, page(None), &["run:r1", "run:r2"], true);
    check(&history, page(Some("r2")), &["run:r3", "run:r4"], true);
    check(&history, page(Some("r4")), &["run:r5"], false);
    check(&history, page(Some("r5")), &[], false);
    // `after` need not be a run of the answer: it is a position in the order.
    check(&history, page(Some("r0")), &["run:r1", "run:r2"], true);
    check(&history, page(Some("r35")), &["run:r4", "run:r5"], false);
}

#[test]
fn q1_a_version_page_stops_exactly_at_its_size() {
    check(
        &applications_history(),
        When::RunsUsing {
            ws: WS,
            dataset: "applications",
            version: Some("3"),
            after: None,
            page_size: 3,
        },
        &["run:r1", "run:r2", "run:r4"],
        false,
    );
}

#[test]
fn q1_unknown_datasets_and_versions_answer_empty() {
    let history = applications_history();
    check(&history, When::runs_using_any(WS, "payments"), &[], false);
    check(
        &history,
        When::runs_using(WS, "applications", "9"),
        &[],
        false,
    );
    // Registered but never read.
    let mut unused = history.clone();
    unused.push(dataset(WS, "d7", "applications@7", 20));
    check(
        &unused,
        When::runs_using(WS, "applications", "7"),
        &[],
        false,
    );
    check(&[], When::runs_using_any(WS, "applications"), &[], false);
}

#[test]
fn q1_dataset_versions_lists_every_version_ever_referenced() {
    let mut history = applications_history();
    // Referenced as a parent only, never registered.
    history.push(dataset(WS, "d9", "scored@1", 30).derived_from("applications@0"));
    check(
        &history,
        When::DatasetVersions {
            ws: WS,
            dataset: "applications",
        },
        &[
            "dataset:applications@0",
            "dataset:applications@1",
            "dataset:applications@2",
            "dataset:applications@3",
        ],
        false,
    );
}

// ---------------------------------------------------------------------------
// Q2: where did credit-risk@7 come from?
// ---------------------------------------------------------------------------

/// `credit-risk@7` from run r7 (a trial of sweep `sweep`), which read
/// train@1 and holdout@2; train@1 comes from raw@1 through three derivations,
/// and raw@1 was written by run `ingest`.
fn credit_risk_history() -> Vec<Event> {
    vec![
        run_started(WS, "s-ingest", "ingest", 1),
        dataset(WS, "d-raw", "raw@1", 2).produced_by("ingest"),
        dataset(WS, "d-clean", "clean@1", 3).derived_from("raw@1"),
        dataset(WS, "d-features", "features@1", 4).derived_from("clean@1"),
        dataset(WS, "d-train", "train@1", 5).derived_from("features@1"),
        dataset(WS, "d-holdout", "holdout@2", 5),
        experiment_created(WS, "x", "credit-risk-2026", 6),
        run_started(WS, "s-sweep", "sweep", 7).experiment("credit-risk-2026"),
        run_started(WS, "s-r7", "r7", 8)
            .experiment("credit-risk-2026")
            .parent("sweep")
            .env("sklearn@1.4")
            .compute("gpu-a")
            .param("lr", "0.01"),
        inputs(
            WS,
            "i-r7",
            "r7",
            &["dataset:train@1", "dataset:holdout@2"],
            9,
        ),
        metrics(WS, "m-r7", "r7", &[("auc", 0.91, 10)], 10),
        artifact(WS, "a-r7", "r7", "model.pkl", 11),
        run_finished(WS, "f-r7", "r7", RunStatus::Completed, 12),
        registered(WS, "reg-7", "credit-risk@7", "r7", 13).packaging("model.pkl"),
        // A sibling trial in the same experiment, unrelated to credit-risk@7.
        run_started(WS, "s-r8", "r8", 8)
            .experiment("credit-risk-2026")
            .env("sklearn@1.5"),
        inputs(WS, "i-r8", "r8", &["dataset:holdout@2"], 9),
    ]
}

const CREDIT_RISK_7_PROVENANCE: &[&str] = &[
    "artifact:r7/model.pkl",
    "compute:gpu-a",
    "dataset:clean@1",
    "dataset:features@1",
    "dataset:holdout@2",
    "dataset:raw@1",
    "dataset:train@1",
    "env:sklearn@1.4",
    "model:credit-risk@7",
    "run:ingest",
    "run:r7",
    "run:sweep",
];

#[test]
fn q2_provenance_reaches_upstream_derivations_at_any_depth() {
    check(
        &credit_risk_history(),
        When::provenance_of("model:credit-risk@7"),
        CREDIT_RISK_7_PROVENANCE,
        false,
    );
}

#[test]
fn q2_trace_model_names_source_run_inputs_environment_and_compute() {
    for (order, graph) in arrival_orders(&credit_risk_history()) {
        let model = graph
            .find(&key(WS, "model:credit-risk@7"))
            .expect("the model is in the graph");
        let trace = graph
            .trace_model(model, &provenance())
            .expect("a registered model has a trace");
        assert_eq!(trace.model, model, "{order}");
        assert_eq!(
            display(&graph, &trace.source_run.into_iter().collect::<Vec<_>>()),
            ["run:r7"],
            "{order}"
        );
        let mut inputs = display(&graph, &trace.inputs);
        inputs.sort();
        assert_eq!(inputs, ["dataset:holdout@2", "dataset:train@1"], "{order}");
        assert_eq!(
            display(&graph, &trace.environment.into_iter().collect::<Vec<_>>()),
            ["env:sklearn@1.4"],
            "{order}"
        );
        assert_eq!(
            display(&graph, &trace.compute.into_iter().collect::<Vec<_>>()),
            ["compute:gpu-a"],
            "{order}"
        );
        let mut upstream = display(&graph, &trace.upstream.nodes);
        assert_eq!(upstream[0], "model:credit-risk@7", "the root comes first");
        upstream.sort();
        assert_eq!(upstream, CREDIT_RISK_7_PROVENANCE, "{order}");
        assert!(!trace.upstream.truncated, "{order}");
        // Every returned edge joins two returned nodes, at the positions
        // the answer names.
        assert_eq!(trace.upstream.edge_ends.len(), trace.upstream.edges.len());
        for (&edge, &(at_from, at_to)) in trace.upstream.edges.iter().zip(&trace.upstream.edge_ends)
        {
            let (from, to, _) = graph.edge(edge);
            assert_eq!(trace.upstream.nodes[at_from as usize], from, "{order}");
            assert_eq!(trace.upstream.nodes[at_to as usize], to, "{order}");
        }

        // The source run's own facts are what Q2 goes on to read.
        let Facts::Run(run) = &node(&graph, WS, "run:r7").facts else {
            panic!("a run node has run facts");
        };
        assert_eq!(run.status(), Some(RunStatus::Completed), "{order}");
        assert_eq!(run.params["lr"].value, "0.01", "{order}");
        let started = &run.started.as_ref().expect("r7 started").value;
        assert_eq!(started.code_version, "abc123", "{order}");
        assert_eq!(started.parent_run_id.as_deref(), Some("sweep"), "{order}");
        let auc: Vec<_> = run.latest_metrics().collect();
        assert_eq!(auc, [("auc", 10, at(10), 0.91)], "{order}");
    }
}

#[test]
fn q2_a_placeholder_model_version_has_no_trace() {
    let mut history = credit_risk_history();
    // credit-risk@8 is promoted, deployed and read, but never registered.
    history.push(stage(WS, "st-8", "credit-risk@8", ModelStage::Staging, 20));
    history.push(deployed(WS, "dep-8", "credit-risk@8", "shadow", 21));
    history.push(inputs(WS, "i-eval", "eval", &["model:credit-risk@8"], 22));
    for (order, graph) in arrival_orders(&history) {
        let model = graph
            .find(&key(WS, "model:credit-risk@8"))
            .expect("a referenced model version has a node");
        assert!(graph.node(model).is_placeholder(), "{order}");
        assert_eq!(graph.trace_model(model, &provenance()), None, "{order}");
    }
}

#[test]
fn q2_a_trace_whose_source_run_never_reported_still_names_it() {
    let history = vec![registered(WS, "reg-7", "credit-risk@7", "r7", 1)];
    for (order, graph) in arrival_orders(&history) {
        let model = graph
            .find(&key(WS, "model:credit-risk@7"))
            .expect("registered");
        let trace = graph
            .trace_model(model, &provenance())
            .expect("registered models have a trace");
        let source = trace.source_run.expect("the source run is a placeholder");
        assert_eq!(graph.node(source).key.to_string(), "run:r7", "{order}");
        assert!(graph.node(source).is_placeholder(), "{order}");
        assert!(trace.inputs.is_empty(), "{order}");
        assert_eq!(trace.environment, None, "{order}");
        assert_eq!(trace.compute, None, "{order}");
    }
}

// ---------------------------------------------------------------------------
// Q3: applications@3 is corrupt: what is downstream, and what is live?
// ---------------------------------------------------------------------------

/// applications@3 feeds r1 directly and r2 through features@2; r1 writes
/// scored@1 and the artifact packaged as credit-risk@7 (in production,
/// serving `scoring`); r2's artifact is credit-risk@8 (staging, `shadow`).
/// r0 read applications@2 and is not downstream.
fn impact_history() -> Vec<Event> {
    vec![
        dataset(WS, "d2", "applications@2", 1),
        dataset(WS, "d3", "applications@3", 2),
        dataset(WS, "d-features", "features@2", 3).derived_from("applications@3"),
        run_started(WS, "s-r0", "r0", 4),
        inputs(WS, "i-r0", "r0", &["dataset:applications@2"], 4),
        artifact(WS, "a-r0", "r0", "model.pkl", 5),
        registered(WS, "reg-6", "credit-risk@6", "r0", 6).packaging("model.pkl"),
        run_started(WS, "s-r1", "r1", 7),
        inputs(WS, "i-r1", "r1", &["dataset:applications@3"], 7),
        artifact(WS, "a-r1", "r1", "model.pkl", 8),
        dataset(WS, "d-scored", "scored@1", 8).produced_by("r1"),
        registered(WS, "reg-7", "credit-risk@7", "r1", 9).packaging("model.pkl"),
        run_started(WS, "s-r2", "r2", 10),
        inputs(WS, "i-r2", "r2", &["dataset:features@2"], 10),
        artifact(WS, "a-r2", "r2", "model.pkl", 11),
        registered(WS, "reg-8", "credit-risk@8", "r2", 12).packaging("model.pkl"),
        stage(WS, "st-6p", "credit-risk@6", ModelStage::Production, 13),
        stage(WS, "st-7s", "credit-risk@7", ModelStage::Staging, 14),
        stage(WS, "st-6a", "credit-risk@6", ModelStage::Archived, 20),
        stage(WS, "st-7p", "credit-risk@7", ModelStage::Production, 20),
        stage(WS, "st-8s", "credit-risk@8", ModelStage::Staging, 25),
        deployed(WS, "dep-7", "credit-risk@7", "scoring", 30),
        deployed(WS, "dep-8", "credit-risk@8", "shadow", 31),
        flagged(WS, "flag-3", "dataset:applications@3", 40),
    ]
}

const APPLICATIONS_3_IMPACT: &[&str] = &[
    "artifact:r1/model.pkl",
    "artifact:r2/model.pkl",
    "dataset:applications@3",
    "dataset:features@2",
    "dataset:scored@1",
    "endpoint:scoring",
    "endpoint:shadow",
    "model:credit-risk@7",
    "model:credit-risk@8",
    "run:r1",
    "run:r2",
];

#[test]
fn q3_impact_of_a_flagged_dataset_version() {
    check(
        &impact_history(),
        When::impact_of("dataset:applications@3"),
        APPLICATIONS_3_IMPACT,
        false,
    );
    // The version next to it shares nothing downstream with it.
    check(
        &impact_history(),
        When::impact_of("dataset:applications@2"),
        &[
            "artifact:r0/model.pkl",
            "dataset:applications@2",
            "model:credit-risk@6",
            "run:r0",
        ],
        false,
    );
}

#[test]
fn q3_the_flag_is_recorded_on_the_version() {
    for (order, graph) in arrival_orders(&impact_history()) {
        let flagged = node(&graph, WS, "dataset:applications@3");
        assert_eq!(flagged.flags.len(), 1, "{order}");
        let flag = flagged.flags.values().next().expect("one flag");
        assert_eq!(flag.reason, "found corrupt", "{order}");
        assert_eq!(flag.flagged_by, "alice", "{order}");
        assert!(node(&graph, WS, "dataset:applications@2").flags.is_empty());
    }
}

/// The model versions in an answer whose current stage is production.
fn in_production(graph: &lineage_core::LineageGraph, answer: &[String]) -> Vec<String> {
    answer
        .iter()
        .filter(|text| {
            let Facts::ModelVersion(model) = &node(graph, WS, text).facts else {
                return false;
            };
            model.stage() == Some(ModelStage::Production)
        })
        .cloned()
        .collect()
}

#[test]
fn q3_which_impacted_model_versions_are_in_production() {
    for (order, graph) in arrival_orders(&impact_history()) {
        let (impacted, _) = ask(&graph, &When::impact_of("dataset:applications@3"));
        assert_eq!(
            in_production(&graph, &impacted),
            ["model:credit-risk@7"],
            "{order}"
        );
        let stage_of = |text| match &node(&graph, WS, text).facts {
            Facts::ModelVersion(model) => model.stage(),
            _ => None,
        };
        assert_eq!(stage_of("model:credit-risk@8"), Some(ModelStage::Staging));
        // Promoted to production, then archived later by event time.
        assert_eq!(stage_of("model:credit-risk@6"), Some(ModelStage::Archived));
    }
}

#[test]
fn q3_a_redeploy_retires_the_old_deployed_edge() {
    let mut history = impact_history();
    history.push(deployed(
        WS,
        "dep-8-scoring",
        "credit-risk@8",
        "scoring",
        50,
    ));
    check(
        &history,
        When::impact_of("model:credit-risk@7"),
        &["model:credit-risk@7"],
        false,
    );
    check(
        &history,
        When::impact_of("model:credit-risk@8"),
        &["endpoint:scoring", "endpoint:shadow", "model:credit-risk@8"],
        false,
    );
    // Still downstream of applications@3, but now through credit-risk@8.
    check(
        &history,
        When::impact_of("dataset:applications@3"),
        APPLICATIONS_3_IMPACT,
        false,
    );

    // Arriving in log order, the old edge is kept but retired at the
    // redeploy's sequence, so "as of" answers can still see it.
    let graph = project(&history);
    let old_model = graph
        .find(&key(WS, "model:credit-risk@7"))
        .expect("registered");
    let scoring = graph.find(&key(WS, "endpoint:scoring")).expect("deployed");
    let old_edges: Vec<_> = graph
        .all_edges()
        .filter(|(from, to, edge)| {
            *from == old_model && *to == scoring && edge.kind() == EdgeKind::Deployed
        })
        .map(|(_, _, edge)| edge.clone())
        .collect();
    assert_eq!(old_edges.len(), 1);
    assert_eq!(old_edges[0].first_seq(), 22);
    assert_eq!(old_edges[0].retired_seq(), Some(history.len() as u64));
    let Facts::Endpoint(Some(serving)) = &node(&graph, WS, "endpoint:scoring").facts else {
        panic!("scoring serves a deployment");
    };
    assert_eq!(
        (serving.value.model.as_str(), serving.value.version.as_str()),
        ("credit-risk", "8")
    );
}

#[test]
fn q3_a_late_arriving_older_deploy_does_not_take_the_endpoint_back() {
    let mut history = impact_history();
    // The redeploy happened at t=50 but arrives first; the t=30 deploy of
    // credit-risk@7 (already in the history) arrives after it.
    history.insert(
        0,
        deployed(WS, "dep-8-scoring", "credit-risk@8", "scoring", 50),
    );
    let graph = project(&history);
    let (answer, _) = ask(&graph, &When::impact_of("model:credit-risk@7"));
    assert_eq!(answer, ["model:credit-risk@7"]);
}

// ---------------------------------------------------------------------------
// Traversal bounds
// ---------------------------------------------------------------------------

/// raw@1 -> clean@1 -> features@1 -> train@1 -> run r1.
fn chain_history() -> Vec<Event> {
    vec![
        dataset(WS, "d-raw", "raw@1", 1),
        dataset(WS, "d-clean", "clean@1", 2).derived_from("raw@1"),
        dataset(WS, "d-features", "features@1", 3).derived_from("clean@1"),
        dataset(WS, "d-train", "train@1", 4).derived_from("features@1"),
        inputs(WS, "i-r1", "r1", &["dataset:train@1"], 5),
    ]
}

fn impact_of_raw(spec: TraversalSpec) -> When<'static> {
    When::Traverse {
        ws: WS,
        root: "dataset:raw@1",
        spec,
    }
}

#[test]
fn max_depth_cuts_the_walk_and_marks_it_truncated() {
    let chain = chain_history();
    let depth = |max_depth| {
        impact_of_raw(TraversalSpec {
            max_depth,
            ..impact()
        })
    };
    check(&chain, depth(0), &["dataset:raw@1"], true);
    check(
        &chain,
        depth(2),
        &["dataset:clean@1", "dataset:features@1", "dataset:raw@1"],
        true,
    );
    let everything = [
        "dataset:clean@1",
        "dataset:features@1",
        "dataset:raw@1",
        "dataset:train@1",
        "run:r1",
    ];
    // Exactly deep enough: nothing lies beyond, so nothing was cut.
    check(&chain, depth(4), &everything, false);
    check(&chain, depth(5), &everything, false);
}

#[test]
fn max_depth_bounds_provenance_of_a_model() {
    check(
        &credit_risk_history(),
        When::Traverse {
            ws: WS,
            root: "model:credit-risk@7",
            spec: TraversalSpec {
                max_depth: 2,
                ..provenance()
            },
        },
        &[
            "artifact:r7/model.pkl",
            "compute:gpu-a",
            "dataset:holdout@2",
            "dataset:train@1",
            "env:sklearn@1.4",
            "model:credit-risk@7",
            "run:r7",
            "run:sweep",
        ],
        true,
    );
}

#[test]
fn max_nodes_cuts_the_answer_and_marks_it_truncated() {
    let chain = chain_history();
    let nodes = |max_nodes| {
        impact_of_raw(TraversalSpec {
            max_nodes,
            ..impact()
        })
    };
    check(
        &chain,
        nodes(3),
        &["dataset:clean@1", "dataset:features@1", "dataset:raw@1"],
        true,
    );
    check(
        &chain,
        nodes(5),
        &[
            "dataset:clean@1",
            "dataset:features@1",
            "dataset:raw@1",
            "dataset:train@1",
            "run:r1",
        ],
        false,
    );
}

#[test]
fn max_nodes_counts_the_root() {
    check(
        &chain_history(),
        impact_of_raw(TraversalSpec {
            max_nodes: 1,
            ..impact()
        }),
        &["dataset:raw@1"],
        true,
    );
}

#[test]
fn max_visits_bounds_the_work_of_a_filtered_walk() {
    // Only runs are returned, so max_nodes would never bite; max_visits does.
    let chain = chain_history();
    let visits = |max_visits| {
        impact_of_raw(TraversalSpec {
            max_visits,
            node_kinds: NodeKinds::of([EntityKind::Run]),
            ..impact()
        })
    };
    check(&chain, visits(3), &["dataset:raw@1"], true);
    check(&chain, visits(5), &["dataset:raw@1", "run:r1"], false);
}

#[test]
fn max_edges_cuts_the_edges_and_marks_the_answer_truncated() {
    let graph = project(&chain_history());
    let root = graph.find(&key(WS, "dataset:raw@1")).expect("registered");
    let all = graph.traverse(root, &impact());
    assert_eq!(
        (all.nodes.len(), all.edges.len(), all.truncated),
        (5, 4, false)
    );
    let cut = graph.traverse(
        root,
        &TraversalSpec {
            max_edges: 2,
            ..impact()
        },
    );
    assert_eq!(
        (cut.nodes.len(), cut.edges.len(), cut.truncated),
        (5, 2, true)
    );
}

#[test]
fn max_depth_does_not_report_a_cut_when_nothing_lies_beyond() {
    // credit-risk@1 packages r1/model.pkl; at depth 1 both r1 and the
    // artifact are found, and the artifact's only incoming edge comes from r1.
    let history = vec![
        run_started(WS, "s-r1", "r1", 1),
        artifact(WS, "a-r1", "r1", "model.pkl", 2),
        registered(WS, "reg-1", "credit-risk@1", "r1", 3).packaging("model.pkl"),
    ];
    check(
        &history,
        When::Traverse {
            ws: WS,
            root: "model:credit-risk@1",
            spec: TraversalSpec {
                max_depth: 1,
                ..provenance()
            },
        },
        &["artifact:r1/model.pkl", "model:credit-risk@1", "run:r1"],
        false,
    );
}

#[test]
fn node_kinds_filter_the_answer_but_not_the_walk() {
    // Runs and models downstream of applications@3, reached through
    // datasets and artifacts that are walked but not returned. The root is
    // always returned.
    check(
        &impact_history(),
        When::Traverse {
            ws: WS,
            root: "dataset:applications@3",
            spec: TraversalSpec {
                node_kinds: NodeKinds::of([EntityKind::Run, EntityKind::ModelVersion]),
                ..impact()
            },
        },
        &[
            "dataset:applications@3",
            "model:credit-risk@7",
            "model:credit-risk@8",
            "run:r1",
            "run:r2",
        ],
        false,
    );
}

#[test]
fn filtered_answers_return_only_edges_between_returned_nodes() {
    let history = impact_history();
    let graph = project(&history);
    let root = graph
        .find(&key(WS, "dataset:applications@3"))
        .expect("registered");
    let answer = graph.traverse(
        root,
        &TraversalSpec {
            node_kinds: NodeKinds::of([EntityKind::DatasetVersion, EntityKind::Run]),
            ..impact()
        },
    );
    let mut edges: Vec<String> = answer
        .edges
        .iter()
        .map(|&edge| {
            let (from, to, data) = graph.edge(edge);
            format!(
                "{} -{:?}-> {}",
                graph.node(from).key,
                data.kind(),
                graph.node(to).key
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            "dataset:applications@3 -Derived-> dataset:features@2",
            "dataset:applications@3 -Input-> run:r1",
            "dataset:features@2 -Input-> run:r2",
            "run:r1 -Produced-> dataset:scored@1",
        ]
    );
}

#[test]
fn member_of_is_skipped_by_lineage_and_followed_when_asked() {
    let history = credit_risk_history();
    let experiment = "experiment:credit-risk-2026";
    // Membership would connect every run of the experiment, so lineage
    // traversals leave it out...
    check(
        &history,
        When::provenance_of(experiment),
        &[experiment],
        false,
    );
    check(&history, When::impact_of("run:r8"), &["run:r8"], false);
    // ...and follow it when asked for.
    let with_membership = |walk, root| When::Traverse {
        ws: WS,
        root,
        spec: TraversalSpec {
            edge_kinds: EdgeKinds::of([EdgeKind::MemberOf]),
            ..spec(walk)
        },
    };
    check(
        &history,
        with_membership(Walk::Provenance, experiment),
        &[experiment, "run:r7", "run:r8", "run:sweep"],
        false,
    );
    check(
        &history,
        with_membership(Walk::Impact, "run:r8"),
        &[experiment, "run:r8"],
        false,
    );
    assert!(!EdgeKinds::lineage().contains(EdgeKind::MemberOf));
    for kind in EdgeKind::ALL {
        if kind != EdgeKind::MemberOf {
            assert!(EdgeKinds::lineage().contains(kind), "{kind:?}");
        }
    }
}

#[test]
fn an_unknown_root_answers_empty() {
    check(
        &chain_history(),
        When::impact_of("dataset:raw@9"),
        &[],
        false,
    );
}

// ---------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------

#[test]
fn an_input_creates_a_placeholder_that_registration_completes() {
    let used = inputs(WS, "i-r1", "r1", &["dataset:applications@3"], 5);
    let mut graph = project([&used]);
    let placeholder = graph
        .find(&key(WS, "dataset:applications@3"))
        .expect("referencing a version creates its node");
    assert!(graph.node(placeholder).is_placeholder());
    assert!(node(&graph, WS, "run:r1").is_placeholder());
    let (runs, _) = graph.runs_using_dataset(&workspace(WS), "applications", Some("3"), None, 10);
    assert_eq!(display(&graph, &runs), ["run:r1"]);
    let nodes_before = graph.node_count();

    graph.apply(2, &dataset(WS, "d3", "applications@3", 1));
    graph.apply(3, &run_started(WS, "s-r1", "r1", 4));
    assert_eq!(
        graph.find(&key(WS, "dataset:applications@3")),
        Some(placeholder),
        "registration completes the placeholder rather than adding a node"
    );
    assert_eq!(graph.node_count(), nodes_before);
    assert!(!graph.node(placeholder).is_placeholder());
    assert!(!node(&graph, WS, "run:r1").is_placeholder());
    assert_eq!(graph.node(placeholder).first_seq, 1);
    let Facts::DatasetVersion(Some(registered)) = &graph.node(placeholder).facts else {
        panic!("registered");
    };
    assert_eq!(registered.value.uri, "s3://data/applications/3");
}

#[test]
fn placeholders_of_each_kind_and_the_kinds_that_never_are() {
    let history = vec![
        run_started(WS, "s-r1", "r1", 1)
            .experiment("x")
            .parent("sweep")
            .env("sklearn@1.4")
            .compute("gpu-a"),
        inputs(WS, "i-r1", "r1", &["artifact:r0/features.parquet"], 2),
        deployed(WS, "dep", "credit-risk@7", "scoring", 3),
    ];
    for (order, graph) in arrival_orders(&history) {
        for placeholder in [
            "experiment:x",
            "run:sweep",
            "run:r0",
            "artifact:r0/features.parquet",
            "model:credit-risk@7",
        ] {
            assert!(
                node(&graph, WS, placeholder).is_placeholder(),
                "{placeholder} ({order})"
            );
        }
        for complete in [
            "run:r1",
            "env:sklearn@1.4",
            "compute:gpu-a",
            "endpoint:scoring",
        ] {
            assert!(
                !node(&graph, WS, complete).is_placeholder(),
                "{complete} ({order})"
            );
        }
    }
}

#[test]
fn an_artifact_is_linked_to_its_run_from_its_first_reference() {
    // Only a later run's input names r0/features.parquet, yet it is already
    // downstream of r0.
    check(
        &[inputs(
            WS,
            "i-r1",
            "r1",
            &["artifact:r0/features.parquet"],
            2,
        )],
        When::impact_of("run:r0"),
        &["artifact:r0/features.parquet", "run:r0", "run:r1"],
        false,
    );
}

// ---------------------------------------------------------------------------
// Scalar facts are decided by event time, then event id; never by arrival
// ---------------------------------------------------------------------------

fn run_facts<'g>(
    graph: &'g lineage_core::LineageGraph,
    run: &str,
) -> &'g lineage_core::graph::RunFacts {
    match &node(graph, WS, run).facts {
        Facts::Run(facts) => facts,
        other => panic!("{run} has run facts, not {other:?}"),
    }
}

fn winning_environment(graph: &lineage_core::LineageGraph, run: &str) -> Option<String> {
    let facts = run_facts(graph, run).started.as_ref()?;
    facts
        .value
        .environment
        .as_ref()
        .map(|env| format!("{}@{}", env.name, env.version))
}

#[test]
fn a_later_run_started_wins_whichever_arrives_first() {
    let earlier = run_started(WS, "e-early", "r1", 10).env("sklearn@1.4");
    let later = run_started(WS, "e-late", "r1", 20).env("sklearn@1.5");
    for (order, history) in [
        ("in order", vec![earlier.clone(), later.clone()]),
        ("reversed", vec![later.clone(), earlier.clone()]),
    ] {
        let graph = project(&history);
        assert_eq!(
            winning_environment(&graph, "run:r1").as_deref(),
            Some("sklearn@1.5"),
            "{order}"
        );
        let (provenance, _) = ask(&graph, &When::provenance_of("run:r1"));
        assert_eq!(provenance, ["env:sklearn@1.5", "run:r1"], "{order}");
        let run = graph.find(&key(WS, "run:r1")).expect("started");
        let ran_in: Vec<_> = graph
            .incoming(run, EdgeKind::RanIn)
            .map(|(_, env)| graph.node(env).key.to_string())
            .collect();
        assert_eq!(ran_in, ["env:sklearn@1.5"], "{order}");
        assert_eq!(graph.active_edge_count(), 1, "{order}");
    }

    // In log order the loser's edge existed first and is now retired.
    let graph = project([&earlier, &later]);
    let old_env = graph.find(&key(WS, "env:sklearn@1.4")).expect("was used");
    let retired: Vec<_> = graph
        .all_edges()
        .filter(|(from, _, edge)| *from == old_env && edge.kind() == EdgeKind::RanIn)
        .map(|(_, _, edge)| (edge.first_seq(), edge.retired_seq()))
        .collect();
    assert_eq!(retired, [(1, Some(2))]);
}

#[test]
fn equal_event_times_are_decided_by_event_id() {
    let a = run_started(WS, "evt-a", "r1", 10).env("sklearn@1.4");
    let b = run_started(WS, "evt-b", "r1", 10).env("sklearn@1.5");
    for history in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
        let graph = project(&history);
        assert_eq!(
            winning_environment(&graph, "run:r1").as_deref(),
            Some("sklearn@1.5")
        );
    }
}

#[test]
fn a_superseded_run_started_leaves_the_same_graph_whichever_arrives_first() {
    let earlier = run_started(WS, "e-early", "r1", 10).env("sklearn@1.4");
    let later = run_started(WS, "e-late", "r1", 20).env("sklearn@1.5");
    let in_order = project([&earlier, &later]);
    let reversed = project([&later, &earlier]);
    assert_eq!(in_order.node_count(), reversed.node_count());
    assert_eq!(in_order.state_digest(), reversed.state_digest());
}

#[test]
fn superseded_registrations_and_deploys_leave_the_same_graph_whichever_arrives_first() {
    let pairs = [
        (
            deployed(WS, "dep-a", "credit-risk@7", "scoring", 10),
            deployed(WS, "dep-b", "credit-risk@8", "scoring", 20),
        ),
        (
            dataset(WS, "d-a", "clean@1", 10).derived_from("raw@1"),
            dataset(WS, "d-b", "clean@1", 20).derived_from("raw@2"),
        ),
        (
            registered(WS, "reg-a", "credit-risk@7", "r1", 10).packaging("model.pkl"),
            registered(WS, "reg-b", "credit-risk@7", "r2", 20),
        ),
    ];
    for (earlier, later) in pairs {
        let in_order = project([&earlier, &later]);
        let reversed = project([&later, &earlier]);
        assert_eq!(in_order.node_count(), reversed.node_count(), "{later:?}");
        assert_eq!(
            in_order.active_edge_count(),
            reversed.active_edge_count(),
            "{later:?}"
        );
        assert_eq!(
            in_order.state_digest(),
            reversed.state_digest(),
            "{later:?}"
        );
    }
}

#[test]
fn a_finished_run_stays_finished_when_a_later_start_arrives() {
    // The start's clock ran ahead of the finish's; a terminal status still
    // outranks Started.
    let history = vec![
        run_finished(WS, "f-r1", "r1", RunStatus::Completed, 10),
        run_started(WS, "s-r1", "r1", 20).env("sklearn@1.4"),
    ];
    for (order, graph) in arrival_orders(&history) {
        let facts = run_facts(&graph, "run:r1");
        assert_eq!(facts.status(), Some(RunStatus::Completed), "{order}");
        // The start's own facts still count.
        assert_eq!(
            winning_environment(&graph, "run:r1").as_deref(),
            Some("sklearn@1.4"),
            "{order}"
        );
    }
}

#[test]
fn the_latest_terminal_status_wins() {
    let history = vec![
        run_started(WS, "s-r1", "r1", 1),
        run_finished(WS, "f-late", "r1", RunStatus::Failed, 20),
        run_finished(WS, "f-early", "r1", RunStatus::Completed, 10),
    ];
    for (order, graph) in arrival_orders(&history) {
        assert_eq!(
            run_facts(&graph, "run:r1").status(),
            Some(RunStatus::Failed),
            "{order}"
        );
    }
    let only_started = project([&run_started(WS, "s-r1", "r1", 1)]);
    assert_eq!(
        run_facts(&only_started, "run:r1").status(),
        Some(RunStatus::Started)
    );
    let only_referenced = project([&inputs(WS, "i", "r1", &["dataset:a@1"], 1)]);
    assert_eq!(run_facts(&only_referenced, "run:r1").status(), None);
}

#[test]
fn a_model_stage_is_the_latest_change_by_event_time() {
    let history = vec![
        registered(WS, "reg-7", "credit-risk@7", "r1", 1),
        stage(WS, "st-arch", "credit-risk@7", ModelStage::Archived, 30),
        stage(WS, "st-prod", "credit-risk@7", ModelStage::Production, 20),
        stage(WS, "st-stag", "credit-risk@7", ModelStage::Staging, 10),
    ];
    let stage_after = |events: &[Event]| {
        let graph = project(events);
        match &node(&graph, WS, "model:credit-risk@7").facts {
            Facts::ModelVersion(model) => (model.stage(), model.stage_changes.len()),
            other => panic!("model facts, not {other:?}"),
        }
    };
    assert_eq!(stage_after(&history[..2]), (Some(ModelStage::Archived), 1));
    assert_eq!(stage_after(&history[..3]), (Some(ModelStage::Archived), 2));
    assert_eq!(stage_after(&history), (Some(ModelStage::Archived), 3));
    let mut reversed = history.clone();
    reversed.reverse();
    assert_eq!(stage_after(&reversed), (Some(ModelStage::Archived), 3));
    assert_eq!(
        stage_after(&[history[0].clone(), history[3].clone(), history[2].clone()]),
        (Some(ModelStage::Production), 2)
    );
    assert_eq!(stage_after(&history[..1]), (None, 0));
}

#[test]
fn params_and_tags_are_decided_per_key_by_event_time() {
    let history = vec![
        run_started(WS, "s-r1", "r1", 10)
            .param("lr", "0.1")
            .param("depth", "6"),
        params(WS, "p-late", "r1", &[("lr", "0.01")], 20),
        params(WS, "p-early", "r1", &[("lr", "0.5"), ("seed", "7")], 5),
        tags(WS, "t-late", "run:r1", &[("region", "emea")], 20),
        tags(
            WS,
            "t-early",
            "run:r1",
            &[("region", "apac"), ("crop", "maize")],
            5,
        ),
    ];
    for (order, graph) in arrival_orders(&history) {
        let run = run_facts(&graph, "run:r1");
        let params: Vec<_> = run
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            params,
            [("depth", "6"), ("lr", "0.01"), ("seed", "7")],
            "{order}"
        );
        let tags: Vec<_> = node(&graph, WS, "run:r1")
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(tags, [("crop", "maize"), ("region", "emea")], "{order}");
    }
}

// ---------------------------------------------------------------------------
// Workspace isolation
// ---------------------------------------------------------------------------

const OTHER_WS: &str = "agri-co";

/// The same dataset, run and model names in two workspaces.
fn two_workspaces() -> Vec<Event> {
    let mut history = Vec::new();
    for (ws, extra_run) in [(WS, "r-credit"), (OTHER_WS, "r-agri")] {
        history.extend([
            dataset(ws, "d3", "applications@3", 1),
            run_started(ws, "s-r1", "r1", 2)
                .env("sklearn@1.4")
                .compute("gpu-a"),
            inputs(ws, "i-r1", "r1", &["dataset:applications@3"], 3),
            inputs(ws, "i-x", extra_run, &["dataset:applications@3"], 3),
            artifact(ws, "a-r1", "r1", "model.pkl", 4),
            registered(ws, "reg-7", "credit-risk@7", "r1", 5).packaging("model.pkl"),
            deployed(ws, "dep-7", "credit-risk@7", "scoring", 6),
        ]);
    }
    history
}

#[test]
fn the_same_names_in_two_workspaces_never_connect() {
    let history = two_workspaces();
    check(
        &history,
        When::runs_using(WS, "applications", "3"),
        &["run:r-credit", "run:r1"],
        false,
    );
    check(
        &history,
        When::runs_using_any(OTHER_WS, "applications"),
        &["run:r-agri", "run:r1"],
        false,
    );
    for (order, graph) in arrival_orders(&history) {
        for ws in [WS, OTHER_WS] {
            for (root, walk) in [
                ("dataset:applications@3", Walk::Impact),
                ("endpoint:scoring", Walk::Provenance),
                ("env:sklearn@1.4", Walk::Impact),
                ("compute:gpu-a", Walk::Impact),
            ] {
                let root_index = graph.find(&key(ws, root)).expect("in both workspaces");
                let answer = graph.traverse(root_index, &spec(walk));
                assert!(answer.nodes.len() > 1, "{root} in {ws} ({order})");
                for &reached in &answer.nodes {
                    assert_eq!(
                        graph.node(reached).key.workspace.as_str(),
                        ws,
                        "{root} in {ws} reached {} ({order})",
                        graph.node(reached).key
                    );
                }
            }
        }
        // Two copies of each entity, none shared.
        assert_eq!(graph.node_count() % 2, 0, "{order}");
    }
}

// ---------------------------------------------------------------------------
// Diff: what is different about how credit-risk@8 was made?
// ---------------------------------------------------------------------------

#[test]
fn diff_names_what_changed_between_two_model_versions() {
    let mut history = credit_risk_history();
    history.extend([
        // r9 trains on a newer train set, with another lr, a new param, on
        // other compute, in the same environment, and scores better.
        dataset(WS, "d-train-2", "train@2", 20).derived_from("features@1"),
        run_started(WS, "s-r9", "r9", 21)
            .env("sklearn@1.4")
            .compute("gpu-b")
            .param("lr", "0.005")
            .param("depth", "6"),
        inputs(
            WS,
            "i-r9",
            "r9",
            &["dataset:train@2", "dataset:holdout@2"],
            22,
        ),
        metrics(
            WS,
            "m-r9",
            "r9",
            &[("auc", 0.93, 10), ("logloss", 0.2, 10)],
            23,
        ),
        registered(WS, "reg-8", "credit-risk@8", "r9", 24),
    ]);
    for (order, graph) in arrival_orders(&history) {
        let model = |text| graph.find(&key(WS, text)).expect("a model version");
        let diff = graph
            .diff_model_versions(
                model("model:credit-risk@7"),
                model("model:credit-risk@8"),
                &provenance(),
            )
            .expect("both are model versions");
        assert_eq!(
            display(&graph, &diff.datasets_added),
            ["dataset:train@2"],
            "{order}"
        );
        assert_eq!(
            display(&graph, &diff.datasets_removed),
            ["dataset:train@1"],
            "{order}"
        );
        // holdout@2, features@1, clean@1, raw@1 are upstream of both.
        assert_eq!(diff.datasets_unchanged, 4, "{order}");
        let params: Vec<_> = diff
            .params
            .iter()
            .map(|c| (c.key.as_str(), c.a.as_deref(), c.b.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("depth", None, Some("6")),
                ("lr", Some("0.01"), Some("0.005"))
            ],
            "{order}"
        );
        let metrics: Vec<_> = diff
            .metrics
            .iter()
            .map(|c| (c.key.as_str(), c.a, c.b))
            .collect();
        assert_eq!(
            metrics,
            [
                ("auc", Some(0.91), Some(0.93)),
                ("logloss", None, Some(0.2))
            ],
            "{order}"
        );
        // Same code and environment; other compute.
        assert_eq!(diff.code_version, None, "{order}");
        assert_eq!(diff.environment, None, "{order}");
        let (before, after) = diff.compute.expect("compute changed");
        assert_eq!(
            display(&graph, &before.into_iter().chain(after).collect::<Vec<_>>()),
            ["compute:gpu-a", "compute:gpu-b"],
            "{order}"
        );
        assert!(!diff.truncated, "{order}");
        // A version against itself differs in nothing.
        let same = graph
            .diff_model_versions(
                model("model:credit-risk@8"),
                model("model:credit-risk@8"),
                &provenance(),
            )
            .expect("a model version");
        assert!(same.datasets_added.is_empty() && same.datasets_removed.is_empty());
        assert!(same.params.is_empty() && same.metrics.is_empty() && same.compute.is_none());
        // Only model versions can be compared.
        assert_eq!(
            graph.diff_model_versions(model("model:credit-risk@8"), model("run:r9"), &provenance()),
            None
        );
    }
}
