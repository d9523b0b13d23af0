//! Promotion checks and run comparisons (DOMAIN.md, questions 5 and 6),
//! asked of small histories under several arrival orders.

mod common;

use common::*;
use lineage_core::compare::{compare_runs, lower_is_better_by_name};
use lineage_core::event::{ModelStage, PromotionCriteriaSet, RunStatus};
use lineage_core::filter::{Filter, LineageBounds};
use lineage_core::promotion::{check_promotion, production_status};
use lineage_core::{Cut, Event, LineageGraph, Payload};

const CRITERIA: &str = "metrics.precision >= 0.9 and metrics.fairness_gap <= 0.02 \
     and status = 'COMPLETED' and approved and stages approved and no flagged upstream";

fn criteria_set(id: &str, model: &str, criteria: &str, at_secs: i64) -> Event {
    event(
        WS,
        id,
        at_secs,
        Payload::PromotionCriteriaSet(PromotionCriteriaSet {
            model: model.to_owned(),
            criteria: criteria.to_owned(),
        }),
    )
}

/// fraud@12 from run r12, trained on claims@3 (derived from claims-raw@3),
/// promoted to production; criteria set for `fraud` before.
fn fraud_history() -> Vec<Event> {
    vec![
        criteria_set("c1", "fraud", CRITERIA, 5),
        dataset(WS, "d1", "claims-raw@3", 10),
        dataset(WS, "d2", "claims@3", 11),
        run_started(WS, "s12", "r12", 20),
        inputs(WS, "i12", "r12", &["dataset:claims@3"], 21),
        metrics(
            WS,
            "m12a",
            "r12",
            &[("precision", 0.85, 1), ("fairness_gap", 0.03, 1)],
            22,
        ),
        metrics(
            WS,
            "m12b",
            "r12",
            &[("precision", 0.93, 2), ("fairness_gap", 0.01, 2)],
            23,
        ),
        run_finished(WS, "f12", "r12", RunStatus::Completed, 24),
        registered(WS, "g12", "fraud@12", "r12", 30),
        stage(WS, "p12", "fraud@12", ModelStage::Production, 40),
    ]
}

fn parsed(criteria: &str) -> Filter {
    Filter::parse_criteria(criteria).expect("test criteria parse")
}

fn verdicts(graph: &LineageGraph, model_version: &str, criteria: &str) -> Vec<(String, bool)> {
    let view = graph.present();
    let index = view.find(&key(WS, model_version)).expect("model version");
    check_promotion(&view, index, &parsed(criteria), LineageBounds::default())
        .results
        .into_iter()
        .map(|result| (result.criterion, result.passed))
        .collect()
}

#[test]
fn a_version_meeting_every_criterion_passes_with_its_evidence() {
    for (order, graph) in arrival_orders(&fraud_history()) {
        let view = graph.present();
        let index = view.find(&key(WS, "model:fraud@12")).expect("fraud@12");
        let check = check_promotion(&view, index, &parsed(CRITERIA), LineageBounds::default());
        assert!(check.passed, "{order}: {check:#?}");
        assert_eq!(check.source_run_id.as_deref(), Some("r12"), "{order}");
        assert_eq!(check.results.len(), 6, "{order}");
        let precision = &check.results[0];
        assert_eq!(precision.criterion, "metrics.precision >= 0.9", "{order}");
        // The latest value (step 2), not the first, and the event that logged it.
        let evidence = &precision.evidence[0];
        assert_eq!(
            (
                evidence.field.as_str(),
                evidence.value.as_str(),
                evidence.event_id.as_str()
            ),
            ("metrics.precision", "0.93", "m12b"),
            "{order}"
        );
        let status = &check.results[2].evidence[0];
        assert_eq!(
            (status.value.as_str(), status.event_id.as_str()),
            ("COMPLETED", "f12")
        );
        let approved = &check.results[3].evidence[0];
        assert_eq!(
            (approved.value.as_str(), approved.event_id.as_str()),
            ("risk-committee", "g12")
        );
        let status = production_status(&view, index).expect("in production with criteria");
        assert!(status.met, "{order}: {status:?}");
        assert_eq!(status.criteria_event_id, "c1");
        assert!(status.unmet.is_empty());
    }
}

#[test]
fn a_flag_upstream_fails_the_check_and_marks_the_production_version() {
    let mut history = fraud_history();
    history.push(flagged(WS, "flag1", "dataset:claims@3", 50));
    for (order, graph) in arrival_orders(&history) {
        let view = graph.present();
        let index = view.find(&key(WS, "model:fraud@12")).expect("fraud@12");
        let check = check_promotion(&view, index, &parsed(CRITERIA), LineageBounds::default());
        assert!(!check.passed, "{order}");
        let flags = &check.results[5];
        assert_eq!(
            (flags.criterion.as_str(), flags.passed),
            ("no flagged upstream", false)
        );
        assert_eq!(flags.evidence.len(), 1, "{order}: {flags:?}");
        assert_eq!(flags.evidence[0].event_id, "flag1");
        assert_eq!(flags.evidence[0].entity, key(WS, "dataset:claims@3"));
        assert!(
            flags.explanation.contains("dataset:claims@3"),
            "{}",
            flags.explanation
        );
        // Every other criterion still holds.
        assert!(check.results[..5].iter().all(|r| r.passed), "{order}");

        let status = production_status(&view, index).expect("in production with criteria");
        assert!(!status.met);
        assert_eq!(status.unmet, ["no flagged upstream"]);
        // As the service knew it before the flag, the version met them.
        let before = graph.as_of(Cut::Occurred(at(49)));
        assert!(
            production_status(&before, index).expect("status").met,
            "{order}"
        );
    }
}

#[test]
fn failing_terms_say_what_the_run_has() {
    let graph = project(&fraud_history());
    let answer = verdicts(
        &graph,
        "model:fraud@12",
        "metrics.precision >= 0.95 and metrics.recall >= 0.5 and uses dataset 'claims@3'",
    );
    assert_eq!(
        answer,
        [
            ("metrics.precision >= 0.95".to_owned(), false),
            ("metrics.recall >= 0.5".to_owned(), false),
            ("uses dataset 'claims@3'".to_owned(), true),
        ]
    );
    let view = graph.present();
    let index = view.find(&key(WS, "model:fraud@12")).expect("fraud@12");
    let check = check_promotion(
        &view,
        index,
        &parsed("metrics.recall >= 0.5"),
        LineageBounds::default(),
    );
    assert_eq!(check.results[0].explanation, "run r12 has no metric recall");
}

#[test]
fn the_latest_criteria_stand_and_earlier_views_see_earlier_ones() {
    let mut history = fraud_history();
    history.push(criteria_set("c2", "fraud", "metrics.precision >= 0.95", 60));
    for (order, graph) in arrival_orders(&history) {
        let index = graph.find(&key(WS, "model:fraud@12")).expect("fraud@12");
        let now = production_status(&graph.present(), index).expect("status");
        assert_eq!(
            (
                now.criteria.as_str(),
                now.criteria_event_id.as_str(),
                now.met
            ),
            ("metrics.precision >= 0.95", "c2", false),
            "{order}"
        );
        let then = production_status(&graph.as_of(Cut::Occurred(at(59))), index).expect("status");
        assert_eq!(
            (then.criteria_event_id.as_str(), then.met),
            ("c1", true),
            "{order}"
        );
    }
    // The criteria are part of the state: equal for every arrival order.
    let digests: Vec<[u8; 32]> = arrival_orders(&history)
        .iter()
        .map(|(_, graph)| graph.state_digest())
        .collect();
    assert!(digests.windows(2).all(|pair| pair[0] == pair[1]));
    assert_ne!(digests[0], project(&fraud_history()).state_digest());
}

#[test]
fn versions_not_in_production_or_without_criteria_have_no_status() {
    let mut history = fraud_history();
    history.push(stage(WS, "a12", "fraud@12", ModelStage::Archived, 70));
    history.push(run_started(WS, "s1", "r1", 80));
    history.push(registered(WS, "g1", "churn@1", "r1", 81));
    history.push(stage(WS, "p1", "churn@1", ModelStage::Production, 82));
    let graph = project(&history);
    let view = graph.present();
    for model_version in ["model:fraud@12", "model:churn@1"] {
        let index = view.find(&key(WS, model_version)).expect("model version");
        assert_eq!(production_status(&view, index), None, "{model_version}");
    }
}

#[test]
fn a_registration_without_its_source_run_fails_run_terms_and_says_why() {
    let history = vec![
        registered(WS, "g1", "fraud@1", "r-missing", 10),
        stage(WS, "p1", "fraud@1", ModelStage::Staging, 11),
    ];
    let graph = project(&history);
    let view = graph.present();
    let index = view.find(&key(WS, "model:fraud@1")).expect("fraud@1");
    let check = check_promotion(
        &view,
        index,
        &parsed("status = 'COMPLETED' and approved and stages approved"),
        LineageBounds::default(),
    );
    assert_eq!(check.source_run, None);
    assert_eq!(
        check.results[0].explanation,
        "source run r-missing has not arrived yet"
    );
    assert!(!check.results[0].passed);
    assert!(check.results[1].passed && check.results[2].passed);
}

#[test]
fn runs_compare_field_by_field_and_metric_by_metric() {
    let history = vec![
        run_started(WS, "s1", "r1", 1),
        run_started(WS, "s2", "r2", 2),
        params(WS, "p1", "r1", &[("lr", "0.01"), ("depth", "6")], 3),
        params(WS, "p2", "r2", &[("lr", "0.03"), ("depth", "6")], 3),
        metrics(WS, "m1", "r1", &[("auc", 0.80, 1), ("loss", 0.40, 1)], 4),
        metrics(WS, "m1b", "r1", &[("auc", 0.84, 2), ("loss", 0.45, 2)], 5),
        metrics(WS, "m2", "r2", &[("auc", 0.82, 1), ("loss", 0.42, 1)], 4),
        inputs(WS, "i1", "r1", &["dataset:applications@3"], 6),
        inputs(WS, "i2", "r2", &["dataset:applications@3"], 6),
        run_finished(WS, "f1", "r1", RunStatus::Completed, 7),
        run_finished(WS, "f2", "r2", RunStatus::Failed, 7),
    ];
    for (order, graph) in arrival_orders(&history) {
        let view = graph.present();
        let runs: Vec<_> = ["run:r1", "run:r2"]
            .iter()
            .map(|run| view.find(&key(WS, run)).expect("run"))
            .collect();
        let comparison = compare_runs(&view, &runs, lower_is_better_by_name);
        let field = |name: &str| {
            comparison
                .fields
                .iter()
                .find(|field| field.field == name)
                .unwrap_or_else(|| panic!("{order}: no row {name}"))
        };
        assert!(field("params.lr").differs);
        assert_eq!(field("params.lr").values, ["0.01", "0.03"]);
        assert!(!field("params.depth").differs);
        assert!(field("status").differs);
        assert_eq!(field("status").values, ["COMPLETED", "FAILED"]);
        assert!(!field("input_datasets").differs);
        assert_eq!(field("input_datasets").values[0], "applications@3");
        assert!(!field("code_version").differs);

        let auc = &comparison.metrics[0];
        assert_eq!((auc.key.as_str(), auc.lower_is_better), ("auc", false));
        // r1's latest AUC (0.84 at step 2) beats r2's 0.82.
        assert_eq!(auc.best_run, Some(0), "{order}");
        let loss = &comparison.metrics[1];
        assert!(loss.lower_is_better);
        // r1's latest loss is 0.45 (its best was 0.40, at step 1); r2's 0.42 is best.
        let r1 = loss.runs[0].expect("r1 has a loss");
        assert_eq!(
            (r1.latest.value, r1.best.value, r1.best.step),
            (0.45, 0.40, 1)
        );
        assert_eq!(loss.best_run, Some(1), "{order}");
        assert!(!comparison.truncated);
    }
}
