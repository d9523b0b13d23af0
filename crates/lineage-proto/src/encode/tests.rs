//! The bytes written from the graph against prost's encoding of
//! [`convert`]'s messages, over the demo history (every kind of entity,
//! edge, flag, stage and deployment it has) and a few redactions.

use lineage_core::graph::LineageGraph;
use lineage_core::query::{EdgeKinds, NodeKinds, TraversalSpec, Walk};
use lineage_core::{EntityKind, EventTime};

use super::*;
use crate::validate::{Encoding, decode_event, validate_event};

const DEMO_HISTORY: &str = include_str!("../../../../deploy/demo/history.jsonl");

/// Redactions after the demo: a run (twice), a model version and a dataset
/// version, so that entities of each view carry redaction records.
const REDACTIONS: &str = r#"{"event_id":"redact-1","workspace":"credit-lender","occurred_at":"2026-12-01T09:00:00Z","producer":"lineage-cli/0.1","actor":"dpo@credit-lender.example","redaction_requested":{"entity":{"kind":"RUN","name":"cr-logreg-0112"},"fields":["actor","tags.owner"],"reason":"DSR-7"}}
{"event_id":"redact-2","workspace":"credit-lender","occurred_at":"2026-12-01T09:01:00Z","producer":"lineage-cli/0.1","actor":"dpo@credit-lender.example","redaction_requested":{"entity":{"kind":"RUN","name":"cr-logreg-0112"},"fields":["error"],"reason":"DSR-8"}}
{"event_id":"redact-3","workspace":"credit-lender","occurred_at":"2026-12-01T09:02:00Z","producer":"lineage-cli/0.1","actor":"dpo@credit-lender.example","redaction_requested":{"entity":{"kind":"MODEL_VERSION","name":"credit-risk","version":"1"},"fields":["approved_by","approval_notes","reason"],"reason":"DSR-9"}}
{"event_id":"redact-4","workspace":"credit-lender","occurred_at":"2026-12-01T09:03:00Z","producer":"lineage-cli/0.1","actor":"dpo@credit-lender.example","redaction_requested":{"entity":{"kind":"DATASET_VERSION","name":"applications","version":"1"},"fields":["actor"],"reason":"DSR-10"}}"#;

fn demo_graph() -> LineageGraph {
    let mut graph = LineageGraph::new();
    for (seq, line) in DEMO_HISTORY.lines().chain(REDACTIONS.lines()).enumerate() {
        let event = decode_event(line.as_bytes(), Encoding::Json).expect("a demo event decodes");
        let event = validate_event(&event).expect("a demo event is valid");
        graph.apply(seq as u64 + 1, &event);
    }
    graph
}

fn spec(walk: Walk, max_depth: u32, max_nodes: usize) -> TraversalSpec {
    TraversalSpec {
        walk,
        max_depth,
        edge_kinds: EdgeKinds::lineage(),
        node_kinds: NodeKinds::all(),
        max_nodes,
        max_edges: max_nodes * 4,
        max_visits: 10_000,
    }
}

/// The written bytes are prost's bytes of the reference message, and so
/// decode to it.
fn assert_same<M: Message + Default + PartialEq + fmt::Debug>(written: &Encoded<M>, reference: &M) {
    assert_eq!(
        &written.to_message().expect("written bytes decode"),
        reference
    );
    assert_eq!(written.as_bytes(), reference.encode_to_vec().as_slice());
}

#[test]
fn every_entity_and_subgraph_of_the_demo_is_written_as_prost_encodes_it() {
    let graph = demo_graph();
    let mut kinds = std::collections::BTreeSet::new();
    for (node, facts) in graph.nodes() {
        kinds.insert(format!("{:?}", facts.key.kind));
        assert_same(
            &entity(&graph.present(), node),
            &convert::entity_answer(&graph.present(), node),
        );
        for view in [View::Basic, View::Full] {
            let lone = Subgraph {
                nodes: vec![node],
                ..Default::default()
            };
            let form = EdgeForm::Full;
            assert_same(
                &subgraph(&graph.present(), &lone, view, form),
                &convert::subgraph(&graph.present(), &lone, view, form),
            );
            for walk in [Walk::Provenance, Walk::Impact] {
                for (depth, limit) in [(1, 5), (50, 1_000)] {
                    let answer = graph.traverse(node, &spec(walk, depth, limit));
                    for form in [EdgeForm::Full, EdgeForm::Compact] {
                        assert_same(
                            &subgraph(&graph.present(), &answer, view, form),
                            &convert::subgraph(&graph.present(), &answer, view, form),
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        kinds.len(),
        8,
        "the demo has every kind of entity: {kinds:?}"
    );
    let redacted = graph
        .nodes()
        .filter(|(_, node)| !node.redactions().is_empty())
        .count();
    assert_eq!(redacted, 3, "the redactions landed on their entities");
}

#[test]
fn redactions_are_in_both_views() {
    let graph = demo_graph();
    let (run, _) = graph
        .nodes()
        .find(|(_, node)| node.key.name == "cr-logreg-0112")
        .expect("the redacted run");
    for view in [View::Basic, View::Full] {
        let entity = convert::entity_in_view(&graph.present(), run, view);
        let reasons: Vec<&str> = entity
            .redactions
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert_eq!(reasons, ["DSR-7", "DSR-8"], "{view:?}");
        assert_eq!(entity.redactions[0].fields, ["actor", "tags.owner"]);
        assert_eq!(
            entity.redactions[0].requested_by,
            "dpo@credit-lender.example"
        );
        assert_eq!(entity.redactions[0].event_id, "redact-1");
        assert!(entity.redactions[0].seq < entity.redactions[1].seq);
    }
}

#[test]
fn pages_of_runs_and_model_traces_are_written_as_prost_encodes_them() {
    let graph = demo_graph();
    let (mut pages, mut traces) = (0, 0);
    for (node, facts) in graph.nodes() {
        let key = &facts.key;
        match key.kind {
            EntityKind::DatasetVersion => {
                for page_size in [1, 100] {
                    let (runs, more) = graph.runs_using_dataset(
                        &key.workspace,
                        &key.name,
                        Some(&key.version),
                        None,
                        page_size,
                    );
                    let token = if more { "bmV4dA" } else { "" };
                    for view in [View::Basic, View::Full] {
                        let reference = v1::RunsUsingDatasetResponse {
                            runs: runs
                                .iter()
                                .map(|&run| convert::entity_in_view(&graph.present(), run, view))
                                .collect(),
                            next_page_token: token.to_owned(),
                            applied_seq: graph.applied_seq(),
                        };
                        assert_same(&runs_page(&graph.present(), &runs, view, token), &reference);
                        pages += 1;
                    }
                }
            }
            EntityKind::ModelVersion => {
                if let Some(trace) = graph.trace_model(node, &spec(Walk::Provenance, 50, 1_000)) {
                    for view in [View::Basic, View::Full] {
                        for form in [EdgeForm::Full, EdgeForm::Compact] {
                            assert_same(
                                &model_trace(&graph.present(), &trace, view, form),
                                &convert::model_trace(&graph.present(), &trace, view, form),
                            );
                            traces += 1;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    assert!(pages > 0 && traces > 0, "pages {pages}, traces {traces}");
}

#[test]
fn nested_lengths_of_every_width_are_written_as_prost_writes_them() {
    // Lengths of one, two and three varint bytes, around each boundary.
    for len in [0, 1, 127, 128, 129, 16_383, 16_384, 70_000] {
        let name = "n".repeat(len);
        let reference = v1::Edge {
            from: Some(v1::EntityRef {
                workspace: "ws".into(),
                kind: v1::EntityKind::Run as i32,
                name: name.clone(),
                version: String::new(),
            }),
            first_seq: 7,
            ..Default::default()
        };
        let mut w = Writer::with_capacity(0);
        w.message(1, |w| {
            w.string(1, "ws");
            w.enumeration(2, v1::EntityKind::Run as i32);
            w.string(3, &name);
        });
        w.uint64(4, 7);
        assert_eq!(w.buf, reference.encode_to_vec(), "a name of {len} bytes");
    }
}

#[test]
fn timestamps_before_the_epoch_and_negative_values_are_written_as_prost_writes_them() {
    for nanos in [i64::MIN / 2, -1, 0, 1, 1_700_000_000_123_456_789] {
        let mut w = Writer::with_capacity(0);
        w.timestamp(3, EventTime::from_unix_nanos(nanos));
        let reference = v1::Flag {
            flagged_at: Some(convert::timestamp(EventTime::from_unix_nanos(nanos))),
            ..Default::default()
        };
        assert_eq!(w.buf, reference.encode_to_vec(), "{nanos} ns");
    }
}

#[test]
fn an_encoded_message_decodes_back_to_the_same_bytes() {
    let graph = demo_graph();
    let (root, _) = graph.nodes().next().expect("the demo has nodes");
    let answer = graph.traverse(root, &spec(Walk::Impact, 50, 1_000));
    let written = subgraph(&graph.present(), &answer, View::Basic, EdgeForm::Full);
    let received = EncodedSubgraph::decode(written.as_bytes()).expect("raw fields decode");
    assert_eq!(received.as_bytes(), written.as_bytes());
    assert_eq!(received.encoded_len(), written.as_bytes().len());

    // From a buffer in pieces, field by field.
    let (front, back) = written.as_bytes().split_at(written.as_bytes().len() / 2);
    let received = EncodedSubgraph::decode(front.chain(back)).expect("raw fields decode");
    assert_eq!(received.as_bytes(), written.as_bytes());

    // A field cut short is an error, not a panic or a short read.
    assert!(EncodedSubgraph::decode(&written.as_bytes()[..10]).is_err());
    assert!(EncodedSubgraph::decode(front.chain(&back[..1])).is_err());
}

#[test]
fn compact_edges_name_the_same_ends_as_full_edges() {
    let graph = demo_graph();
    let mut edges = 0;
    for (node, _) in graph.nodes() {
        let answer = graph.traverse(node, &spec(Walk::Impact, 50, 1_000));
        let full = subgraph(&graph.present(), &answer, View::Basic, EdgeForm::Full)
            .to_message()
            .expect("decodes");
        let compact = subgraph(&graph.present(), &answer, View::Basic, EdgeForm::Compact)
            .to_message()
            .expect("decodes");
        assert_eq!(full.nodes, compact.nodes);
        for (full_edge, compact_edge) in full.edges.iter().zip(&compact.edges) {
            assert!(compact_edge.from.is_none() && compact_edge.to.is_none());
            let at = |position: u32| compact.nodes[position as usize].r#ref.clone();
            assert_eq!(at(compact_edge.from_node), full_edge.from);
            assert_eq!(at(compact_edge.to_node), full_edge.to);
            edges += 1;
        }
    }
    assert!(edges > 100, "the demo's impact answers have edges: {edges}");
}

/// Past views are written as prost encodes the messages built from them
/// too: every entity and every traversal of the demo as of a few log
/// sequences and event times.
#[test]
fn past_views_of_the_demo_are_written_as_prost_encodes_them() {
    let graph = demo_graph();
    let last = graph.applied_seq();
    let cuts = [
        lineage_core::Cut::Logged(1),
        lineage_core::Cut::Logged(last / 3),
        lineage_core::Cut::Logged(last - 5),
        lineage_core::Cut::Occurred(EventTime::from_unix(1_767_225_600, 0).expect("2026")),
        lineage_core::Cut::Occurred(EventTime::from_unix(1_780_000_000, 0).expect("2026")),
    ];
    let mut seen = 0;
    for (at, cut) in cuts.into_iter().enumerate() {
        let view = graph.as_of(cut);
        for (node, _) in graph.nodes().filter(|&(node, _)| view.contains(node)) {
            seen += 1;
            assert_same(&entity(&view, node), &convert::entity_answer(&view, node));
            for walk in [Walk::Provenance, Walk::Impact] {
                let answer = view.traverse(node, &spec(walk, 50, 1_000));
                for entity_view in [View::Basic, View::Full] {
                    assert_same(
                        &subgraph(&view, &answer, entity_view, EdgeForm::Full),
                        &convert::subgraph(&view, &answer, entity_view, EdgeForm::Full),
                    );
                }
            }
        }
        // The early cuts leave most of the demo out.
        if [0, 1, 3].contains(&at) {
            let held = graph
                .nodes()
                .filter(|&(node, _)| view.contains(node))
                .count();
            assert!(held < graph.node_count() / 2, "{cut:?} holds {held}");
        }
    }
    assert!(seen > graph.node_count(), "the views hold entities: {seen}");
}
