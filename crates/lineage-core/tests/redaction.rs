//! Erasure that keeps lineage: a `RedactionRequested` empties the personal
//! fields an entity holds, keeps its stamps, edges and everything else, and
//! leaves a record of itself on the entity; a snapshot taken afterwards
//! holds none of the erased values.

mod common;

use std::collections::BTreeSet;

use common::*;
use lineage_core::event::{ModelStage, RedactionRequested, RunStatus};
use lineage_core::graph::Facts;
use lineage_core::redaction::PersonalField;
use lineage_core::{Event, LineageGraph, Payload};

const EMAIL: &str = "alice@example.com";

fn fields(names: &[&str]) -> BTreeSet<PersonalField> {
    names
        .iter()
        .map(|name| PersonalField::parse(name).expect("a personal field"))
        .collect()
}

fn redaction(id: &str, entity: &str, names: &[&str], at_secs: i64) -> Event {
    let mut event = event(
        WS,
        id,
        at_secs,
        Payload::RedactionRequested(RedactionRequested {
            entity: key(WS, entity),
            fields: fields(names),
            reason: "DSR-42: erasure request".to_owned(),
        }),
    );
    event.actor = "privacy-officer".to_owned();
    event
}

fn by(mut event: Event, actor: &str) -> Event {
    event.actor = actor.to_owned();
    event
}

/// A demo-like history in which Alice's address is the actor, a tag value,
/// an approver, a reason and an error, on a run, its model and a dataset.
fn history() -> Vec<Event> {
    let mut finished = run_finished(WS, "f-r1", "r1", RunStatus::Failed, 3);
    if let Payload::RunFinished(f) = &mut finished.payload {
        f.error = format!("OOM on {EMAIL}'s laptop");
    }
    let mut approved = registered(WS, "reg-7", "credit-risk@7", "r1", 4).packaging("model.pkl");
    if let Payload::ModelRegistered(r) = &mut approved.payload {
        r.approved_by = EMAIL.to_owned();
        r.approval_notes = format!("ok'd by {EMAIL}");
    }
    let mut promoted = stage(WS, "st-7", "credit-risk@7", ModelStage::Production, 5);
    if let Payload::ModelStageChanged(c) = &mut promoted.payload {
        c.approved_by = EMAIL.to_owned();
        c.reason = format!("{EMAIL} says go");
    }
    let mut experiment = experiment_created(WS, "x1", "credit-risk-2026", 0);
    if let Payload::ExperimentCreated(x) = &mut experiment.payload {
        x.description = format!("{EMAIL}'s experiment");
    }
    vec![
        experiment,
        by(
            run_started(WS, "s-r1", "r1", 1)
                .experiment("credit-risk-2026")
                .env("sklearn@1.4")
                .param("lr", "0.01"),
            EMAIL,
        ),
        tags(
            WS,
            "t-r1",
            "run:r1",
            &[("owner", EMAIL), ("team", "risk")],
            2,
        ),
        inputs(WS, "i-r1", "r1", &["dataset:applications@3"], 2),
        dataset(WS, "d3", "applications@3", 1),
        finished,
        artifact(WS, "a-r1", "r1", "model.pkl", 3),
        approved,
        promoted,
        deployed(WS, "dep-7", "credit-risk@7", "scoring", 6),
        by(flagged(WS, "flag-r1", "run:r1", 6), EMAIL),
    ]
}

fn run_of(graph: &LineageGraph) -> &lineage_core::graph::RunFacts {
    match &node(graph, WS, "run:r1").facts {
        Facts::Run(run) => run,
        other => panic!("not a run: {other:?}"),
    }
}

fn model_of(graph: &LineageGraph) -> &lineage_core::graph::ModelFacts {
    match &node(graph, WS, "model:credit-risk@7").facts {
        Facts::ModelVersion(model) => model,
        other => panic!("not a model version: {other:?}"),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn a_redaction_erases_the_fields_and_keeps_stamps_edges_and_the_rest() {
    let mut events = history();
    let before = project(&events);
    events.push(redaction(
        "red-r1",
        "run:r1",
        &["actor", "tags.owner", "error", "reason"],
        10,
    ));
    let graph = project(&events);
    let run = run_of(&graph);
    let started = run.started.as_ref().expect("started");
    assert_eq!(started.value.owner, "");
    assert_eq!(
        started.stamp,
        run_of(&before).started.as_ref().expect("started").stamp
    );
    assert_eq!(started.value.code_version, "abc123");
    let finished = run.finished.as_ref().expect("finished");
    assert_eq!(finished.value.error, "");
    assert_eq!(finished.value.status, RunStatus::Failed);
    let r1 = node(&graph, WS, "run:r1");
    assert_eq!(r1.tags["owner"].value, "");
    assert_eq!(
        r1.tags["owner"].stamp,
        node(&before, WS, "run:r1").tags["owner"].stamp
    );
    assert_eq!(r1.tags["team"].value, "risk");
    let flag = r1.flags.values().next().expect("the flag");
    assert_eq!((flag.flagged_by.as_str(), flag.reason.as_str()), ("", ""));

    // Lineage stays: the same nodes and edges, the model untouched (it is
    // another entity, whose own redaction it would take).
    assert_eq!(graph.node_count(), before.node_count());
    assert_eq!(graph.active_edge_count(), before.active_edge_count());
    assert_eq!(
        model_of(&graph)
            .registered
            .as_ref()
            .expect("registered")
            .value
            .approved_by,
        EMAIL
    );

    let [recorded] = r1.redactions() else {
        panic!("one redaction: {:?}", r1.redactions());
    };
    assert_eq!(recorded.fields, ["actor", "error", "reason", "tags.owner"]);
    assert_eq!(recorded.reason, "DSR-42: erasure request");
    assert_eq!(recorded.requested_by, "privacy-officer");
    assert_eq!(recorded.requested_at, at(10));
    assert_eq!(recorded.seq, events.len() as u64);
    assert_eq!(recorded.event_id.as_str(), "red-r1");
    assert_ne!(graph.state_digest(), before.state_digest());
}

#[test]
fn a_model_version_loses_its_approvers_notes_and_reasons() {
    let mut events = history();
    events.push(redaction(
        "red-7",
        "model:credit-risk@7",
        &["approved_by", "approval_notes", "reason"],
        10,
    ));
    let graph = project(&events);
    let model = model_of(&graph);
    let registered = &model.registered.as_ref().expect("registered").value;
    assert_eq!(
        (
            registered.approved_by.as_str(),
            registered.approval_notes.as_str()
        ),
        ("", "")
    );
    assert_eq!(registered.source_run_id, "r1");
    let change = model.stage_changes.values().next().expect("a stage change");
    assert_eq!(
        (change.approved_by.as_str(), change.reason.as_str()),
        ("", "")
    );
    assert_eq!(model.stage(), Some(ModelStage::Production));
}

#[test]
fn an_experiment_loses_its_description() {
    let mut events = history();
    events.push(redaction(
        "red-x",
        "experiment:credit-risk-2026",
        &["description"],
        10,
    ));
    let graph = project(&events);
    match &node(&graph, WS, "experiment:credit-risk-2026").facts {
        Facts::Experiment(Some(created)) => assert_eq!(created.value.description, ""),
        other => panic!("not a created experiment: {other:?}"),
    }
}

#[test]
fn a_snapshot_after_every_redaction_holds_no_erased_value() {
    let mut events = history();
    let snapshot = project(&events).encode_snapshot();
    assert!(contains(&snapshot, EMAIL), "the value is there before");
    events.extend([
        redaction(
            "red-r1",
            "run:r1",
            &["actor", "tags.owner", "error", "reason"],
            10,
        ),
        redaction(
            "red-7",
            "model:credit-risk@7",
            &["approved_by", "approval_notes", "reason"],
            10,
        ),
        redaction("red-x", "experiment:credit-risk-2026", &["description"], 10),
    ]);
    let graph = project(&events);
    let snapshot = graph.encode_snapshot();
    assert!(
        !contains(&snapshot, EMAIL),
        "an erased value is in the snapshot"
    );
    assert!(contains(&snapshot, "DSR-42"), "the redactions are");
    let restored = LineageGraph::decode_snapshot(&snapshot).expect("decodes");
    assert_eq!(restored.state_digest(), graph.state_digest());
    assert_eq!(
        node(&restored, WS, "run:r1").redactions(),
        node(&graph, WS, "run:r1").redactions()
    );
    assert_eq!(restored.encode_snapshot(), snapshot);
}

#[test]
fn a_tag_value_another_entity_still_holds_stays_interned_there() {
    let mut events = history();
    events.push(tags(WS, "t-r2", "run:r2", &[("owner", EMAIL)], 2));
    events.push(redaction("red-r1", "run:r1", &["tags.owner"], 10));
    let graph = project(&events);
    assert_eq!(node(&graph, WS, "run:r1").tags["owner"].value, "");
    assert_eq!(node(&graph, WS, "run:r2").tags["owner"].value, EMAIL);
    let restored = LineageGraph::decode_snapshot(&graph.encode_snapshot()).expect("decodes");
    assert_eq!(node(&restored, WS, "run:r2").tags["owner"].value, EMAIL);
}

#[test]
fn facts_after_the_redaction_keep_their_values() {
    let mut events = history();
    events.push(redaction("red-r1", "run:r1", &["tags.owner", "actor"], 10));
    events.push(by(
        tags(WS, "t-r1-late", "run:r1", &[("owner", "bob")], 11),
        "bob",
    ));
    events.push(by(flagged(WS, "flag-r1-late", "run:r1", 11), "bob"));
    let graph = project(&events);
    let r1 = node(&graph, WS, "run:r1");
    assert_eq!(r1.tags["owner"].value, "bob");
    let flagged_by: Vec<&str> = r1.flags.values().map(|f| f.flagged_by.as_str()).collect();
    assert_eq!(flagged_by, ["", "bob"]);
}

#[test]
fn a_later_redaction_of_the_actor_erases_who_asked_for_an_earlier_one() {
    let mut events = history();
    events.push(redaction("red-1", "run:r1", &["error"], 10));
    events.push(redaction("red-2", "run:r1", &["actor"], 11));
    let graph = project(&events);
    let requested_by: Vec<&str> = node(&graph, WS, "run:r1")
        .redactions()
        .iter()
        .map(|r| r.requested_by.as_str())
        .collect();
    assert_eq!(requested_by, ["", "privacy-officer"]);
}

#[test]
fn a_redaction_of_an_unknown_entity_leaves_a_placeholder_with_its_record() {
    let graph = project(&[redaction("red-r9", "run:r9", &["actor"], 10)]);
    let r9 = node(&graph, WS, "run:r9");
    assert!(r9.is_placeholder());
    assert_eq!(r9.redactions().len(), 1);
    assert_eq!(r9.first_seq, 1);
}

#[test]
fn the_same_redaction_twice_is_recorded_once() {
    let red = redaction("red-r1", "run:r1", &["actor"], 10);
    let mut events = history();
    events.push(red.clone());
    let once = project(&events);
    events.push(red);
    let twice = project(&events);
    assert_eq!(node(&twice, WS, "run:r1").redactions().len(), 1);
    assert_eq!(once.state_digest(), twice.state_digest());
}

#[test]
fn erasing_the_log_and_replaying_gives_the_same_graph() {
    let events = history();
    for (entity, names) in [
        ("run:r1", &["actor", "tags.owner", "error", "reason"][..]),
        (
            "model:credit-risk@7",
            &["approved_by", "approval_notes", "reason", "actor"][..],
        ),
        ("experiment:credit-risk-2026", &["description", "actor"][..]),
        ("dataset:applications@3", &["actor", "tags.owner"][..]),
        ("endpoint:scoring", &["actor"][..]),
    ] {
        let red = redaction("red", entity, names, 10);
        let Payload::RedactionRequested(requested) = &red.payload else {
            unreachable!()
        };
        let erased: Vec<Event> = events
            .iter()
            .map(|event| {
                if event.subject().as_ref() == Some(&requested.entity) {
                    event.erased(&requested.fields)
                } else {
                    event.clone()
                }
            })
            .chain([red.clone()])
            .collect();
        let running = project(events.iter().chain([&red]));
        let restarted = project(&erased);
        assert_eq!(running.state_digest(), restarted.state_digest(), "{entity}");
        for (_, node) in running.nodes() {
            let other = restarted.node(restarted.find(&node.key).expect("same nodes"));
            assert_eq!(node, other, "{entity}");
        }
        assert_eq!(
            running.encode_snapshot(),
            restarted.encode_snapshot(),
            "{entity}"
        );
    }
}
