//! `SearchRuns` in the domain: each term kind against a small credit
//! lender's history, ordering and pages, the run index kept current
//! through out-of-order events and redactions, and after a snapshot.
//!
//! Every answer over the story is checked under several arrival orders
//! (as written, reversed, every event twice, restored from a snapshot),
//! and a larger generated history checks the indexed search against a
//! scan that evaluates every term on every run.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use lineage_core::event::{
    EventTime, MetricPoint, MetricsLogged, RedactionRequested, RunStarted, RunStatus,
};
use lineage_core::filter::{Condition, Filter, LineageBounds, run_satisfies};
use lineage_core::redaction::PersonalField;
use lineage_core::search::{SearchError, SearchPage, SearchQuery, search_runs, search_runs_within};
use lineage_core::{EntityKind, Event, LineageGraph, Payload};

/// 2026-01-01T00:00:00Z: event times are this plus a few seconds.
const T0: i64 = 1_767_225_600;

fn started(id: &str, run_id: &str, at_secs: i64) -> Event {
    run_started(WS, id, run_id, T0 + at_secs)
}

fn start_mut(event: &mut Event) -> &mut RunStarted {
    match &mut event.payload {
        Payload::RunStarted(started) => started,
        other => panic!("needs a RunStarted, not {other:?}"),
    }
}

/// Refinements of a `RunStarted` that the shared builders do not have.
trait StartExt {
    fn code(self, version: &str) -> Self;
    fn named(self, name: &str) -> Self;
    fn tag(self, key: &str, value: &str) -> Self;
}

impl StartExt for Event {
    fn code(mut self, version: &str) -> Self {
        start_mut(&mut self).code_version = version.into();
        self
    }

    fn named(mut self, name: &str) -> Self {
        start_mut(&mut self).name = name.into();
        self
    }

    fn tag(mut self, key: &str, value: &str) -> Self {
        start_mut(&mut self).tags.insert(key.into(), value.into());
        self
    }
}

fn finished(id: &str, run_id: &str, status: RunStatus, at_secs: i64) -> Event {
    run_finished(WS, id, run_id, status, T0 + at_secs)
}

fn metric(id: &str, run_id: &str, key: &str, value: f64, step: i64, at_secs: i64) -> Event {
    metrics(WS, id, run_id, &[(key, value, step)], T0 + at_secs)
}

fn redact_tag(id: &str, run_id: &str, key: &str, at_secs: i64) -> Event {
    event(
        WS,
        id,
        T0 + at_secs,
        Payload::RedactionRequested(RedactionRequested {
            entity: common::key(WS, &format!("run:{run_id}")),
            fields: BTreeSet::from([PersonalField::Tag(key.into())]),
            reason: "the owner left".into(),
        }),
    )
}

/// The credit lender's runs: a data preparation run, a sweep of three
/// trials (one registers credit-risk@7), a fraud run (which registered
/// credit-risk@6, read by trial t3), a run only referenced so far, and a
/// run of another workspace.
fn story() -> Vec<Event> {
    vec![
        experiment_created(WS, "x1", "credit-risk", T0),
        experiment_created(WS, "x2", "fraud", T0),
        dataset(WS, "d1", "applications@2", T0 + 1),
        dataset(WS, "d2", "applications@3", T0 + 2),
        started("s-prep", "prep", 10)
            .env("pandas@2.1")
            .compute("cpu-pool")
            .code("c0ffee"),
        inputs(WS, "i-prep", "prep", &["dataset:applications@3"], T0 + 11),
        dataset(WS, "d3", "features@1", T0 + 15)
            .derived_from("applications@3")
            .produced_by("prep"),
        finished("f-prep", "prep", RunStatus::Completed, 20),
        started("s-sweep", "sweep", 90).experiment("credit-risk"),
        finished("f-sweep", "sweep", RunStatus::Completed, 300),
        started("s-t1", "t1", 100)
            .experiment("credit-risk")
            .parent("sweep")
            .param("lr", "0.01")
            .param("depth", "6")
            .tag("team", "risk")
            .tag("owner", "alice")
            .env("xgboost@2.0")
            .compute("gpu-a100")
            .code("v1"),
        inputs(WS, "i-t1", "t1", &["dataset:features@1"], T0 + 101),
        metric("m-t1a", "t1", "auc", 0.71, 0, 110),
        metric("m-t1b", "t1", "auc", 0.83, 1, 120),
        metric("m-t1c", "t1", "loss", 0.4, 1, 120),
        finished("f-t1", "t1", RunStatus::Completed, 200),
        started("s-t2", "t2", 110)
            .experiment("credit-risk")
            .parent("sweep")
            .param("lr", "0.1")
            .param("depth", "8")
            .tag("team", "risk")
            .env("xgboost@1.7")
            .compute("gpu-a100")
            .code("v2"),
        inputs(WS, "i-t2", "t2", &["dataset:applications@2"], T0 + 111),
        metric("m-t2", "t2", "auc", 0.79, 3, 130),
        finished("f-t2", "t2", RunStatus::Failed, 150),
        started("s-t3", "t3", 120)
            .experiment("credit-risk")
            .parent("sweep")
            .param("lr", "0.01")
            .param("depth", "deep")
            .tag("team", "Risk-EU")
            .env("xgboost@2.0")
            .compute("gpu-a100")
            .code("v2"),
        inputs(
            WS,
            "i-t3",
            "t3",
            &["dataset:features@1", "model:credit-risk@6"],
            T0 + 121,
        ),
        metric("m-t3", "t3", "auc", 0.83, 2, 140),
        started("s-f1", "f1", 50)
            .experiment("fraud")
            .named("fraud baseline")
            .param("lr", "0.001")
            .tag("team", "fraud")
            .env("sklearn@1.4")
            .compute("cpu-pool")
            .code("v1"),
        metrics(
            WS,
            "m-f1",
            "f1",
            &[("auc", 0.95, 0), ("precision", 0.92, 0)],
            T0 + 60,
        ),
        finished("f-f1", "f1", RunStatus::Canceled, 70),
        registered(WS, "r6", "credit-risk@6", "f1", T0 + 80),
        registered(WS, "r7", "credit-risk@7", "t1", T0 + 250),
        // Referenced, never started nor finished: a placeholder.
        metric("m-ghost", "ghost", "auc", 0.99, 0, 160),
        inputs(WS, "i-ghost", "ghost", &["dataset:features@1"], T0 + 161),
        // Another workspace's run with the same parameter.
        run_started("other-ws", "s-o1", "o1", T0 + 10).param("lr", "0.01"),
    ]
}

fn workspace_query(
    filter: &str,
    order_by: &[&str],
    page_size: usize,
    token: &str,
) -> Result<SearchQuery, SearchError> {
    let order_by: Vec<String> = order_by.iter().map(|key| (*key).to_owned()).collect();
    SearchQuery::new(workspace(WS), &[], filter, &order_by, page_size, token)
}

fn query(filter: &str, order_by: &[&str]) -> SearchQuery {
    workspace_query(filter, order_by, 1000, "")
        .unwrap_or_else(|e| panic!("{filter:?} {order_by:?}: {e}"))
}

fn ids(graph: &LineageGraph, page: &SearchPage) -> Vec<String> {
    page.runs
        .iter()
        .map(|&run| graph.node(run).key.name.clone())
        .collect()
}

/// The run ids a filter finds, in run id order, on one page.
fn find(graph: &LineageGraph, filter: &str) -> Vec<String> {
    let page = search_runs(graph, &query(filter, &[]));
    assert!(page.next_page_token.is_empty(), "{filter}: one page");
    ids(graph, &page)
}

fn find_ordered(graph: &LineageGraph, filter: &str, order_by: &[&str]) -> Vec<String> {
    ids(graph, &search_runs(graph, &query(filter, order_by)))
}

/// Asks `filter` of the story under every arrival order.
fn check(filter: &str, expected: &[&str]) {
    for (order, graph) in arrival_orders(&story()) {
        assert_eq!(find(&graph, filter), expected, "{filter} ({order})");
    }
}

#[test]
fn metric_terms_compare_the_latest_value() {
    // t1 logged 0.71 then 0.83: the latest step counts.
    check("metrics.auc = 0.83", &["t1", "t3"]);
    check("metrics.auc > 0.8", &["f1", "t1", "t3"]);
    check("metrics.auc >= 0.95", &["f1"]);
    check("metrics.auc < 0.8", &["t2"]);
    check("metrics.auc <= 0.79", &["t2"]);
    check("metrics.auc < 0.71", &[]);
    // A run without the metric matches no comparison, != included.
    check("metrics.auc != 0.83", &["f1", "t2"]);
    check("metrics.precision != 0", &["f1"]);
    check("metrics.unknown > 0", &[]);
    // Close to the rounding of the index: exact comparisons still hold.
    check("metrics.auc > 0.8299999999", &["f1", "t1", "t3"]);
    check(
        "metrics.auc < 0.8300000001 and metrics.auc > 0.8299999999",
        &["t1", "t3"],
    );
    check("metrics.auc > 0.83", &["f1"]);
}

#[test]
fn param_and_tag_terms() {
    check("params.lr = '0.01'", &["t1", "t3"]);
    check("params.lr != '0.01'", &["f1", "t2"]);
    check("params.lr like '0.0%'", &["f1", "t1", "t3"]);
    check("params.lr < '0.05'", &["f1", "t1", "t3"]);
    // Numeric comparison skips values that are not numbers.
    check("params.depth >= 8", &["t2"]);
    check("params.depth = 'deep'", &["t3"]);
    check("tags.team = 'risk'", &["t1", "t2"]);
    check("tags.team like 'risk%'", &["t1", "t2"]);
    check("tags.team ilike 'risk%'", &["t1", "t2", "t3"]);
    check("tags.team ilike '%e_'", &["t3"]);
    check("tags.owner != 'bob'", &["t1"]);
}

#[test]
fn attribute_terms() {
    check("status = 'COMPLETED'", &["prep", "sweep", "t1"]);
    check("status = 'started'", &["t3"]);
    check("status != 'COMPLETED'", &["f1", "t2", "t3"]);
    check("status = 'CANCELED'", &["f1"]);
    check("experiment = 'credit-risk'", &["sweep", "t1", "t2", "t3"]);
    check("experiment != 'credit-risk'", &["f1"]);
    check("name = 'fraud baseline'", &["f1"]);
    check("name != 'fraud baseline' and experiment = 'fraud'", &[]);
    check("code_version = 'v2'", &["t2", "t3"]);
    check("compute = 'gpu-a100'", &["t1", "t2", "t3"]);
    check("compute != 'gpu-a100'", &["f1", "prep"]);
    check("environment = 'xgboost@2.0'", &["t1", "t3"]);
    check("environment = 'xgboost'", &["t1", "t2", "t3"]);
    check("environment != 'xgboost'", &["f1", "prep"]);
    check("parent = 'sweep'", &["t1", "t2", "t3"]);
    check("parent != 'sweep'", &[]);
}

#[test]
fn time_terms() {
    check(
        "started_at < '2026-01-01T00:01:40Z'",
        &["f1", "prep", "sweep"],
    );
    check("started_at >= '2026-01-01T00:01:40Z'", &["t1", "t2", "t3"]);
    check("started_at = '2026-01-01T01:01:50+01:00'", &["t2"]);
    check(
        "started_at > '2026-01-01'",
        &["f1", "prep", "sweep", "t1", "t2", "t3"],
    );
    // t3 has not ended.
    check("ended_at <= '2026-01-01T00:02:30Z'", &["f1", "prep", "t2"]);
    check("ended_at > '2026-01-01T00:02:30Z'", &["sweep", "t1"]);
    check(
        "ended_at != '2026-01-01T00:02:30Z'",
        &["f1", "prep", "sweep", "t1"],
    );
}

#[test]
fn lineage_terms() {
    check("uses dataset 'applications@3'", &["prep"]);
    check("uses dataset 'applications'", &["prep", "t2"]);
    check("uses dataset 'features@1'", &["t1", "t3"]);
    check("uses dataset 'features@9'", &[]);
    check("uses model 'credit-risk@6'", &["t3"]);
    check("uses model 'credit-risk'", &["t3"]);
    check("uses model 'credit-risk@7'", &[]);
    // The source run, its parent sweep, and the run that produced the
    // features it read.
    check(
        "upstream of model 'credit-risk@7'",
        &["prep", "sweep", "t1"],
    );
    check("upstream of model 'credit-risk@6'", &["f1"]);
    check("upstream of model 'credit-risk@99'", &[]);
    check("produced dataset 'features@1'", &["prep"]);
    check("produced dataset 'features'", &["prep"]);
    check("produced dataset 'applications'", &[]);
    check(
        "upstream of model 'credit-risk@7' and uses dataset 'applications'",
        &["prep"],
    );
}

#[test]
fn terms_combine_and_the_empty_filter_finds_every_run() {
    check(
        "metrics.auc > 0.8 and params.lr = '0.01' and uses dataset 'features@1'",
        &["t1", "t3"],
    );
    check(
        "experiment = 'credit-risk' and status = 'COMPLETED' and metrics.loss < 1",
        &["t1"],
    );
    // Placeholders and other workspaces are never found.
    check("", &["f1", "prep", "sweep", "t1", "t2", "t3"]);
}

#[test]
fn placeholders_never_match_even_where_their_facts_would() {
    let graph = project(&story());
    let ghost = graph
        .find(&common::key(WS, "run:ghost"))
        .expect("the ghost is referenced");
    assert!(graph.node(ghost).is_placeholder());
    assert_eq!(find(&graph, "metrics.auc > 0.98"), Vec::<String>::new());
    assert_eq!(find(&graph, "uses dataset 'features@1'"), ["t1", "t3"]);
    // Once it starts, it is found.
    let mut history = story();
    history.push(started("s-ghost", "ghost", 170));
    let graph = project(&history);
    assert_eq!(find(&graph, "metrics.auc > 0.98"), ["ghost"]);
}

#[test]
fn experiments_narrow_the_search_and_workspaces_never_mix() {
    let graph = project(&story());
    let experiments = vec!["fraud".to_owned(), "nope".to_owned(), "fraud".to_owned()];
    let query = SearchQuery::new(
        workspace(WS),
        &experiments,
        "params.lr != '0.1'",
        &[],
        10,
        "",
    )
    .expect("a valid search");
    assert_eq!(ids(&graph, &search_runs(&graph, &query)), ["f1"]);

    let other = SearchQuery::new(
        workspace("other-ws"),
        &[],
        "params.lr = '0.01'",
        &[],
        10,
        "",
    )
    .expect("a valid search");
    assert_eq!(ids(&graph, &search_runs(&graph, &other)), ["o1"]);
    let nowhere = SearchQuery::new(workspace("empty-ws"), &[], "", &[], 10, "").expect("valid");
    assert_eq!(search_runs(&graph, &nowhere).runs, []);
}

#[test]
fn ordering_puts_runs_without_the_key_last_and_breaks_ties_by_run_id() {
    for (order, graph) in arrival_orders(&story()) {
        let ordered = |order_by: &[&str]| find_ordered(&graph, "", order_by);
        assert_eq!(
            ordered(&["metrics.auc DESC"]),
            ["f1", "t1", "t3", "t2", "prep", "sweep"],
            "{order}"
        );
        assert_eq!(
            ordered(&["metrics.auc asc"]),
            ["t2", "t1", "t3", "f1", "prep", "sweep"],
            "{order}"
        );
        // Numbers before strings; then the second key; missing last.
        assert_eq!(
            ordered(&["params.depth", "metrics.auc desc"]),
            ["t1", "t2", "t3", "f1", "prep", "sweep"],
            "{order}"
        );
        assert_eq!(
            ordered(&["params.depth desc"]),
            ["t3", "t2", "t1", "f1", "prep", "sweep"],
            "{order}"
        );
        assert_eq!(
            ordered(&["tags.team", "run_id desc"]),
            ["t3", "f1", "t2", "t1", "sweep", "prep"],
            "{order}"
        );
        assert_eq!(
            ordered(&["started_at desc"]),
            ["t3", "t2", "t1", "sweep", "f1", "prep"],
            "{order}"
        );
        assert_eq!(
            ordered(&["ended_at"]),
            ["prep", "f1", "t2", "t1", "sweep", "t3"],
            "{order}"
        );
        assert_eq!(
            ordered(&["name"]),
            ["f1", "prep", "sweep", "t1", "t2", "t3"],
            "{order}"
        );
        assert_eq!(
            ordered(&["run_id DESC"]),
            ["t3", "t2", "t1", "sweep", "prep", "f1"],
            "{order}"
        );
    }
}

/// Forty runs in two experiments, whose auc takes four values, so that
/// pages end inside runs of equal keys; five (7, 15, 23, 31, 39) still
/// running.
fn many_runs() -> Vec<Event> {
    let mut history = Vec::new();
    for n in 0..40 {
        let run_id = format!("run-{n:02}");
        let experiment = if n % 2 == 0 { "even" } else { "odd" };
        history.push(
            started(&format!("s-{run_id}"), &run_id, n)
                .experiment(experiment)
                .param("lr", if n % 5 == 0 { "0.1" } else { "0.01" }),
        );
        if n % 10 != 9 {
            history.push(metric(
                &format!("m-{run_id}"),
                &run_id,
                "auc",
                (n % 4) as f64 / 10.0,
                0,
                n + 100,
            ));
        }
        if n % 8 != 7 {
            history.push(finished(
                &format!("f-{run_id}"),
                &run_id,
                RunStatus::Completed,
                n + 200,
            ));
        }
    }
    history
}

/// Every page of a search, following its tokens.
fn all_pages(
    graph: &LineageGraph,
    filter: &str,
    order_by: &[&str],
    size: usize,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let query = workspace_query(filter, order_by, size, &token).expect("a valid search");
        let page = search_runs(graph, &query);
        assert!(page.runs.len() <= size);
        pages.push(ids(graph, &page));
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() <= 40, "pages end");
        token = page.next_page_token;
    }
}

#[test]
fn pages_resume_strictly_after_the_last_row_through_equal_keys() {
    for (order, graph) in arrival_orders(&many_runs()) {
        for order_by in [
            &["metrics.auc desc"][..],
            &["metrics.auc", "params.lr desc"][..],
            &[][..],
            &["run_id desc"][..],
        ] {
            let whole = find_ordered(&graph, "", order_by);
            assert_eq!(whole.len(), 40);
            for size in [1, 3, 7, 40, 100] {
                let pages = all_pages(&graph, "", order_by, size);
                assert!(
                    pages[..pages.len() - 1]
                        .iter()
                        .all(|page| page.len() == size)
                );
                let joined: Vec<String> = pages.concat();
                assert_eq!(joined, whole, "{order}, {order_by:?}, pages of {size}");
            }
        }
        // By run id over a dataset-free filter, and over the dataset index.
        let pages = all_pages(&graph, "experiment = 'even'", &[], 6);
        assert_eq!(pages.len(), 4, "{order}");
        assert_eq!(
            pages[0],
            ["run-00", "run-02", "run-04", "run-06", "run-08", "run-10"]
        );
    }
}

#[test]
fn pages_by_run_id_over_a_dataset_stop_at_the_page() {
    let mut history = many_runs();
    for n in 0..40 {
        let run_id = format!("run-{n:02}");
        history.push(inputs(
            WS,
            &format!("i-{run_id}"),
            &run_id,
            &["dataset:applications@3"],
            T0 + 200,
        ));
    }
    let graph = project(&history);
    let query = workspace_query("uses dataset 'applications@3'", &[], 5, "").expect("valid");
    let first = search_runs(&graph, &query);
    assert_eq!(
        ids(&graph, &first),
        ["run-00", "run-01", "run-02", "run-03", "run-04"]
    );
    // In run id order already: the scan stops one row past the page.
    assert_eq!(first.candidates, 6);
    let next = workspace_query(
        "uses dataset 'applications@3'",
        &[],
        5,
        &first.next_page_token,
    )
    .expect("valid");
    let second = search_runs(&graph, &next);
    assert_eq!(
        ids(&graph, &second),
        ["run-05", "run-06", "run-07", "run-08", "run-09"]
    );
    assert_eq!(second.candidates, 6);
    assert_eq!(
        all_pages(&graph, "uses dataset 'applications@3'", &[], 5)
            .concat()
            .len(),
        40
    );
}

#[test]
fn page_tokens_belong_to_their_question() {
    let graph = project(&many_runs());
    let first = search_runs(
        &graph,
        &workspace_query("metrics.auc > 0", &["metrics.auc desc"], 2, "").expect("valid"),
    );
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let page_token_error = |filter: &str, order_by: &[&str], token: &str| match workspace_query(
        filter, order_by, 2, token,
    ) {
        Err(error @ SearchError::PageToken(_)) => {
            assert_eq!(error.field(), "page_token");
            error.reason()
        }
        other => panic!("{token:?} for {filter:?}: expected a page_token error, got {other:?}"),
    };
    // The same question takes it, whatever the page size.
    workspace_query("metrics.auc > 0", &["metrics.auc desc"], 5, &token).expect("same question");
    // Another question does not.
    assert!(
        page_token_error("metrics.auc > 0.1", &["metrics.auc desc"], &token)
            .contains("another question")
    );
    assert!(
        page_token_error("metrics.auc > 0", &["metrics.auc"], &token).contains("another question")
    );
    let other_ws = SearchQuery::new(
        workspace("other-ws"),
        &[],
        "metrics.auc > 0",
        &["metrics.auc desc".to_owned()],
        2,
        &token,
    );
    assert!(matches!(other_ws, Err(SearchError::PageToken(_))));
    // Forgeries and damage are refused, never a panic.
    let mut flipped = token.clone().into_bytes();
    // Inside the fingerprint, after the version byte.
    flipped[4] = if flipped[4] == b'0' { b'1' } else { b'0' };
    let damaged = [
        "zz".to_owned(),
        "abc".to_owned(),
        "00".to_owned(),
        token[..token.len() - 2].to_owned(),
        format!("{token}00"),
        String::from_utf8(flipped).expect("ascii"),
        "01".repeat(200_000),
    ];
    for forged in damaged {
        let reason = page_token_error("metrics.auc > 0", &["metrics.auc desc"], &forged);
        assert!(!reason.is_empty());
    }
}

#[test]
fn requests_are_checked_before_any_search() {
    let field = |result: Result<SearchQuery, SearchError>| match result {
        Ok(query) => panic!("expected an error, got {query:?}"),
        Err(error) => error.field(),
    };
    assert_eq!(
        field(workspace_query("metrics.auc >", &[], 10, "")),
        "filter"
    );
    match workspace_query("status = 'COMPLETED' and approved", &[], 10, "") {
        Err(SearchError::Filter(error)) => {
            assert_eq!(error.position, 26);
            assert!(
                error
                    .message
                    .contains("is a promotion criterion, not a search term")
            );
        }
        other => panic!("expected a filter error, got {other:?}"),
    }
    assert_eq!(
        field(workspace_query("", &["metrics.auc", "sideways"], 10, "")),
        "order_by[1]"
    );
    let nine = vec!["run_id"; 9];
    assert_eq!(field(workspace_query("", &nine, 10, "")), "order_by");
    let many: Vec<String> = (0..33).map(|n| format!("e{n}")).collect();
    assert_eq!(
        field(SearchQuery::new(workspace(WS), &many, "", &[], 10, "")),
        "experiments"
    );
    assert_eq!(
        field(SearchQuery::new(
            workspace(WS),
            &["ok".into(), "not ok".into()],
            "",
            &[],
            10,
            ""
        )),
        "experiments[1]"
    );
}

#[test]
fn the_most_selective_term_drives_the_search() {
    let graph = project(&many_runs());
    let candidates = |filter: &str| {
        let page = search_runs(&graph, &query(filter, &[]));
        (page.runs.len(), page.candidates)
    };
    // 8 runs have lr 0.1, 32 lr 0.01; 36 have an auc.
    assert_eq!(candidates("metrics.auc >= 0 and params.lr = '0.1'"), (8, 8));
    // 8 runs have an auc of 0.3, 6 of them lr 0.01. A metric's candidates
    // are the finished runs in the buckets its range touches (4 here) and
    // the runs still running (5), whose metrics move at every step.
    assert_eq!(
        candidates("params.lr = '0.01' and metrics.auc = 0.3"),
        (6, 9)
    );
    assert_eq!(candidates("metrics.auc > 0.25"), (8, 9));
    assert_eq!(candidates("metrics.nothing > 0"), (0, 5));
    assert_eq!(candidates("started_at < '2026-01-01T00:00:05Z'"), (5, 5));
    // Unindexed terms scan the workspace's runs.
    assert_eq!(candidates("params.lr like '0.1'"), (8, 40));
    // An experiment of the request is a candidate set too.
    let query = SearchQuery::new(workspace(WS), &["odd".into()], "", &[], 100, "").expect("valid");
    assert_eq!(search_runs(&graph, &query).candidates, 20);
    // A budget declines what would examine more.
    assert!(search_runs_within(&graph, &query, 19).is_none());
    assert_eq!(
        search_runs_within(&graph, &query, 20).expect("within budget"),
        search_runs(&graph, &query)
    );
}

#[test]
fn the_index_follows_out_of_order_facts() {
    let history = vec![
        started("s1", "r1", 10).param("lr", "0.1").tag("team", "a"),
        // Metrics: the highest step is the latest, whatever arrives last.
        metric("m2", "r1", "auc", 0.9, 2, 30),
        metric("m1", "r1", "auc", 0.5, 1, 40),
        // Parameters and tags: the greatest event time wins.
        params(WS, "p-new", "r1", &[("lr", "0.3")], T0 + 50),
        params(WS, "p-old", "r1", &[("lr", "0.2")], T0 + 20),
        tags(WS, "t-new", "run:r1", &[("team", "c")], T0 + 60),
        tags(WS, "t-old", "run:r1", &[("team", "b")], T0 + 15),
        // A finish outranks the start, even one arriving after it.
        finished("f1", "r1", RunStatus::Failed, 70),
    ];
    for (order, graph) in arrival_orders(&history) {
        let expect = |filter: &str, expected: &[&str]| {
            assert_eq!(find(&graph, filter), expected, "{filter} ({order})");
        };
        expect("metrics.auc = 0.9", &["r1"]);
        expect("metrics.auc = 0.5", &[]);
        expect("params.lr = '0.3'", &["r1"]);
        expect("params.lr = '0.1'", &[]);
        expect("params.lr = '0.2'", &[]);
        expect("tags.team = 'c'", &["r1"]);
        expect("tags.team = 'a'", &[]);
        expect("status = 'FAILED'", &["r1"]);
        expect("status = 'STARTED'", &[]);
        expect("ended_at = '2026-01-01T00:01:10Z'", &["r1"]);
    }
    // Step by step, each change moves the run between entries.
    let mut graph = LineageGraph::new();
    let mut seq = 0;
    let mut apply = |graph: &mut LineageGraph, event: Event| {
        seq += 1;
        graph.apply(seq, &event);
    };
    apply(&mut graph, started("s1", "r1", 10).param("lr", "0.1"));
    assert_eq!(
        find(&graph, "status = 'STARTED' and params.lr = '0.1'"),
        ["r1"]
    );
    apply(&mut graph, metric("m1", "r1", "auc", 0.5, 1, 20));
    assert_eq!(find(&graph, "metrics.auc < 0.6"), ["r1"]);
    apply(&mut graph, metric("m2", "r1", "auc", 0.9, 2, 30));
    assert_eq!(find(&graph, "metrics.auc < 0.6"), Vec::<String>::new());
    assert_eq!(find(&graph, "metrics.auc > 0.6"), ["r1"]);
    apply(
        &mut graph,
        params(WS, "p1", "r1", &[("lr", "0.2")], T0 + 40),
    );
    assert_eq!(find(&graph, "params.lr = '0.1'"), Vec::<String>::new());
    assert_eq!(find(&graph, "params.lr = '0.2'"), ["r1"]);
    apply(&mut graph, finished("f1", "r1", RunStatus::Completed, 50));
    assert_eq!(find(&graph, "status = 'STARTED'"), Vec::<String>::new());
    assert_eq!(find(&graph, "status = 'COMPLETED'"), ["r1"]);
    // Finished, its metrics are in the buckets, and move there.
    assert_eq!(find(&graph, "metrics.auc > 0.6"), ["r1"]);
    apply(&mut graph, metric("m3", "r1", "auc", 0.1, 3, 60));
    assert_eq!(find(&graph, "metrics.auc > 0.6"), Vec::<String>::new());
    assert_eq!(find(&graph, "metrics.auc < 0.2"), ["r1"]);
}

#[test]
fn a_run_finished_before_its_start_arrives_is_found_and_completed_by_it() {
    let mut graph = LineageGraph::new();
    graph.apply(1, &metric("m1", "r1", "auc", 0.7, 0, 5));
    assert_eq!(find(&graph, ""), Vec::<String>::new(), "a placeholder");
    graph.apply(2, &finished("f1", "r1", RunStatus::Completed, 30));
    assert_eq!(
        find(&graph, "metrics.auc = 0.7 and status = 'COMPLETED'"),
        ["r1"]
    );
    assert_eq!(find(&graph, "experiment = 'x'"), Vec::<String>::new());
    graph.apply(3, &started("s1", "r1", 10).experiment("x"));
    assert_eq!(
        find(&graph, "experiment = 'x' and status = 'COMPLETED'"),
        ["r1"]
    );
}

#[test]
fn a_redacted_tag_is_found_by_its_erased_value_only() {
    let history = vec![
        started("s1", "r1", 10)
            .tag("owner", "alice")
            .tag("team", "risk"),
        started("s2", "r2", 11).tag("owner", "alice"),
        redact_tag("red", "r1", "owner", 20),
    ];
    let graph = project(&history);
    assert_eq!(find(&graph, "tags.owner = 'alice'"), ["r2"]);
    assert_eq!(find(&graph, "tags.owner = ''"), ["r1"]);
    assert_eq!(find(&graph, "tags.team = 'risk'"), ["r1"]);
    let restored = LineageGraph::decode_snapshot(&graph.encode_snapshot()).expect("decodes");
    assert_eq!(find(&restored, "tags.owner = 'alice'"), ["r2"]);
    assert_eq!(find(&restored, "tags.owner = ''"), ["r1"]);
}

#[test]
fn lineage_walks_say_when_their_bounds_cut_them() {
    let graph = project(&story());
    let query = query("upstream of model 'credit-risk@7'", &[]);
    let page = search_runs(&graph, &query);
    assert!(!page.lineage_truncated);
    let shallow = query.with_lineage_bounds(LineageBounds {
        max_depth: 1,
        max_visits: 100,
    });
    let page = search_runs(&graph, &shallow);
    assert!(page.lineage_truncated);
    assert_eq!(
        ids(&graph, &page),
        ["t1"],
        "only the source run within one hop"
    );
    // Walks are not tried within a budget.
    assert!(search_runs_within(&graph, &shallow, 1_000).is_none());
}

#[test]
fn run_terms_evaluate_one_run_for_promotion_checks() {
    let graph = project(&story());
    let view = graph.present();
    let t1 = graph.find(&common::key(WS, "run:t1")).expect("t1");
    let criteria = Filter::parse_criteria(
        "metrics.auc >= 0.8 and status = 'COMPLETED' and upstream of model 'credit-risk@7' \
         and approved",
    )
    .expect("criteria");
    let verdicts: Vec<Option<bool>> = criteria
        .terms
        .iter()
        .map(|term| run_satisfies(&view, t1, &term.condition))
        .collect();
    assert_eq!(verdicts, [Some(true), Some(true), Some(true), None]);
    let t2 = graph.find(&common::key(WS, "run:t2")).expect("t2");
    assert_eq!(
        run_satisfies(&view, t2, &criteria.terms[0].condition),
        Some(false)
    );
    // As of before t1's second auc, its latest was 0.71.
    let before = graph.as_of(lineage_core::Cut::Occurred(
        EventTime::from_unix(T0 + 115, 0).expect("in range"),
    ));
    assert_eq!(
        run_satisfies(&before, t1, &criteria.terms[0].condition),
        Some(false)
    );
}

/// A deterministic history of runs over a few values of everything, with
/// overwritten facts and metrics logged out of step order, in a shuffled
/// order.
fn generated_history(runs: usize) -> Vec<Event> {
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let statuses = [RunStatus::Completed, RunStatus::Failed, RunStatus::Canceled];
    let mut history = Vec::new();
    for n in 0..runs {
        let run_id = format!("g{n:03}");
        let at = 1000 + n as i64 * 10;
        if next(10) != 0 {
            history.push(
                started(&format!("s-{run_id}"), &run_id, at)
                    .experiment(["a", "b", "c"][next(3) as usize])
                    .param("lr", ["0.1", "0.01", "0.001", "fast"][next(4) as usize])
                    .param("depth", &next(12).to_string())
                    .tag("region", ["emea", "apac", "amer"][next(3) as usize])
                    .env(["sklearn@1.4", "sklearn@1.5", "xgboost@2.0"][next(3) as usize])
                    .compute(["cpu", "gpu"][next(2) as usize])
                    .code(&format!("c{}", next(5))),
            );
        }
        let steps = next(4);
        for step in 0..steps {
            history.push(event(
                WS,
                &format!("m-{run_id}-{step}"),
                T0 + at + 1 + step as i64,
                Payload::MetricsLogged(MetricsLogged {
                    run_id: run_id.clone(),
                    metrics: ["auc", "loss"]
                        .iter()
                        .map(|key| MetricPoint {
                            key: (*key).into(),
                            value: next(100) as f64 / 100.0,
                            step: step as i64,
                            timestamp: EventTime::from_unix(T0 + at + 1, 0).expect("in range"),
                        })
                        .collect(),
                }),
            ));
        }
        if next(3) == 0 {
            history.push(params(
                WS,
                &format!("p-{run_id}"),
                &run_id,
                &[("lr", ["0.1", "0.5"][next(2) as usize])],
                T0 + at + next(20) as i64 - 10,
            ));
        }
        if next(4) == 0 {
            history.push(tags(
                WS,
                &format!("t-{run_id}"),
                &format!("run:{run_id}"),
                &[("region", "emea")],
                T0 + at + 5,
            ));
        }
        if next(5) != 0 {
            history.push(finished(
                &format!("f-{run_id}"),
                &run_id,
                statuses[next(3) as usize],
                at + 8,
            ));
        }
        if next(6) == 0 {
            history.push(inputs(
                WS,
                &format!("i-{run_id}"),
                &run_id,
                &[["dataset:applications@1", "dataset:applications@2"][next(2) as usize]],
                T0 + at,
            ));
        }
        if next(8) == 0 {
            history.push(redact_tag(
                &format!("r-{run_id}"),
                &run_id,
                "region",
                at + 9,
            ));
        }
    }
    // Shuffle, so that facts arrive out of order.
    for i in (1..history.len()).rev() {
        history.swap(i, next(i as u64 + 1) as usize);
    }
    history
}

/// What a scan that checks every term on every run finds.
fn scanned(graph: &LineageGraph, filter: &str) -> Vec<String> {
    let filter = Filter::parse_search(filter).expect("parses");
    let view = graph.present();
    let mut found: Vec<String> = graph
        .nodes()
        .filter(|(_, node)| {
            node.key.kind == EntityKind::Run
                && node.key.workspace.as_str() == WS
                && !node.is_placeholder()
        })
        .filter(|(run, _)| {
            filter
                .terms
                .iter()
                .all(|term| run_satisfies(&view, *run, &term.condition).expect("run terms only"))
        })
        .map(|(_, node)| node.key.name.clone())
        .collect();
    found.sort();
    found
}

const GENERATED_FILTERS: [&str; 16] = [
    "",
    "metrics.auc > 0.5",
    "metrics.auc <= 0.3 and metrics.loss > 0.2",
    "metrics.loss = 0.42",
    "metrics.auc != 0.5",
    "params.lr = '0.1'",
    "params.lr < '0.05' and status = 'COMPLETED'",
    "params.depth >= 6 and experiment = 'b'",
    "tags.region = 'emea'",
    "tags.region = '' and status != 'FAILED'",
    "environment = 'sklearn' and compute = 'gpu'",
    "environment = 'sklearn@1.5' and code_version = 'c3'",
    "status = 'STARTED'",
    "started_at > '2026-01-01T00:30:00Z' and ended_at < '2026-01-01T00:40:00Z'",
    "uses dataset 'applications' and metrics.auc > 0.2",
    "uses dataset 'applications@2'",
];

#[test]
fn the_indexed_search_finds_what_a_scan_finds() {
    let history = generated_history(300);
    let graph = project(&history);
    let restored = LineageGraph::decode_snapshot(&graph.encode_snapshot()).expect("decodes");
    // Redactions erase what was applied before them, so another order
    // is its own graph, checked against its own scan.
    let reversed = project(history.iter().rev());
    for filter in GENERATED_FILTERS {
        let expected = scanned(&graph, filter);
        assert_eq!(find(&graph, filter), expected, "{filter}");
        assert_eq!(find(&restored, filter), expected, "{filter}, restored");
        assert_eq!(
            find(&reversed, filter),
            scanned(&reversed, filter),
            "{filter}, reversed"
        );
    }
    assert!(
        scanned(&graph, "metrics.auc > 0.5").len() > 20,
        "the history is not trivial"
    );
}

#[test]
fn a_restored_graph_answers_exactly_as_the_original() {
    let history = generated_history(200);
    let graph = project(&history);
    let restored = LineageGraph::decode_snapshot(&graph.encode_snapshot()).expect("decodes");
    for filter in GENERATED_FILTERS {
        for order_by in [
            &[][..],
            &["metrics.auc desc", "params.lr"][..],
            &["tags.region", "ended_at desc"][..],
        ] {
            for size in [7, 1000] {
                let query = workspace_query(filter, order_by, size, "").expect("valid");
                assert_eq!(
                    search_runs(&graph, &query),
                    search_runs(&restored, &query),
                    "{filter} {order_by:?} {size}"
                );
            }
        }
    }
    // And it stays so as events keep coming.
    let more: Vec<Event> = generated_history(260)
        .into_iter()
        .filter(|e| !history.contains(e))
        .collect();
    let (mut graph, mut restored) = (graph, restored);
    for (seq, event) in (10_000u64..).zip(&more) {
        graph.apply(seq, event);
        restored.apply(seq, event);
    }
    for filter in GENERATED_FILTERS {
        let query = workspace_query(filter, &["metrics.loss"], 1000, "").expect("valid");
        assert_eq!(
            search_runs(&graph, &query),
            search_runs(&restored, &query),
            "{filter}"
        );
        assert_eq!(find(&graph, filter), scanned(&graph, filter), "{filter}");
    }
}

#[test]
fn criteria_keep_each_term_with_its_text_and_column() {
    let criteria =
        Filter::parse_criteria("no flagged upstream and stages approved").expect("parses");
    assert!(
        criteria
            .terms
            .iter()
            .all(|term| term.condition.is_promotion_only())
    );
    assert!(matches!(
        criteria.terms[0].condition,
        Condition::NoFlaggedUpstream
    ));
    let mut by_text = BTreeMap::new();
    for term in &criteria.terms {
        by_text.insert(term.text.clone(), term.column);
    }
    assert_eq!(
        by_text,
        BTreeMap::from([
            ("no flagged upstream".to_owned(), 1),
            ("stages approved".to_owned(), 25)
        ])
    );
}
