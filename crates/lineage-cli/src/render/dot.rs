//! Graphviz output for `provenance` and `impact`: `digraph lineage { ... }`
//! with one node per entity, a shape per kind, flagged nodes in red,
//! production model versions in bold (in orange, and saying so, when they
//! do not meet their model's promotion criteria), and edges labelled with
//! their kind.
//!
//! Pipe it to `dot -Tsvg`. Edges point from cause to effect, as the service
//! returns them, whichever way the traversal went.

use std::fmt::Write;

use lineage_core::EntityKind;
use lineage_proto::v1;

use super::{edge_label, in_production, node_id, promotion, worst_flag};
use crate::entity::{display_ref, kind_from_wire};

/// The Graphviz shape of each kind.
fn shape(kind: Option<EntityKind>) -> &'static str {
    match kind {
        Some(EntityKind::Experiment) => "folder",
        Some(EntityKind::Run) => "box",
        Some(EntityKind::DatasetVersion) => "cylinder",
        Some(EntityKind::Artifact) => "note",
        Some(EntityKind::ModelVersion) => "component",
        Some(EntityKind::Environment) => "tab",
        Some(EntityKind::Compute) => "box3d",
        Some(EntityKind::Endpoint) => "house",
        None => "ellipse",
    }
}

/// A DOT double-quoted string: identifiers may contain characters DOT
/// treats specially, so every id and label is quoted and escaped.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The whole graph. `root` is drawn with a double border.
pub fn subgraph(root: &v1::EntityRef, graph: &v1::Subgraph) -> String {
    let root_id = display_ref(root);
    let mut out = String::from("digraph lineage {\n");
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for node in &graph.nodes {
        let id = node_id(node);
        let kind = node.r#ref.as_ref().and_then(|r| kind_from_wire(r.kind));
        let unmet = promotion(node).is_some_and(|status| !status.met);
        let label = if unmet {
            format!("{id}\ncriteria unmet")
        } else {
            id.clone()
        };
        let mut attributes = vec![
            format!("label={}", quote(&label)),
            format!("shape={}", shape(kind)),
        ];
        let mut styles = Vec::new();
        if in_production(node) {
            styles.push("bold");
        }
        if node.placeholder {
            styles.push("dashed");
        }
        if !styles.is_empty() {
            attributes.push(format!("style={}", quote(&styles.join(","))));
        }
        if worst_flag(node).is_some() {
            attributes.push("color=red".to_owned());
            attributes.push("fontcolor=red".to_owned());
        } else if unmet {
            attributes.push("color=darkorange".to_owned());
            attributes.push("fontcolor=darkorange".to_owned());
        }
        if id == root_id {
            attributes.push("peripheries=2".to_owned());
        }
        let _ = writeln!(out, "  {} [{}];", quote(&id), attributes.join(", "));
    }
    for edge in &graph.edges {
        let (Some(from), Some(to)) = (&edge.from, &edge.to) else {
            continue;
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quote(&display_ref(from)),
            quote(&display_ref(to)),
            quote(&edge_label(edge.kind))
        );
    }
    if graph.truncated {
        out.push_str("  label=\"truncated: a depth or size bound cut the answer\";\n");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn one_node_per_entity_and_labelled_edges() {
        let rendered = subgraph(&fixtures::applications(), &fixtures::impact());
        assert!(rendered.starts_with("digraph lineage {\n"));
        assert!(rendered.ends_with("}\n"));
        for line in [
            "  \"dataset:applications@3\" [label=\"dataset:applications@3\", shape=cylinder, color=red, fontcolor=red, peripheries=2];\n",
            "  \"run:cr-sweep-0706-t08\" [label=\"run:cr-sweep-0706-t08\", shape=box];\n",
            "  \"artifact:cr-sweep-0706-t08/model.pkl\" [label=\"artifact:cr-sweep-0706-t08/model.pkl\", shape=note];\n",
            "  \"model:credit-risk@7\" [label=\"model:credit-risk@7\", shape=component, style=\"bold\"];\n",
            "  \"endpoint:scoring-eu\" [label=\"endpoint:scoring-eu\", shape=house];\n",
            "  \"dataset:applications@3\" -> \"run:cr-sweep-0706-t08\" [label=\"input\"];\n",
            "  \"run:cr-sweep-0706-t08\" -> \"model:credit-risk@7\" [label=\"registered\"];\n",
            "  \"model:credit-risk@7\" -> \"endpoint:scoring-eu\" [label=\"deployed\"];\n",
        ] {
            assert!(rendered.contains(line), "missing {line:?} in\n{rendered}");
        }
        assert_eq!(rendered.matches(" -> ").count(), 7);
        assert_eq!(rendered.matches("shape=").count(), 6);
        assert!(!rendered.contains("truncated"));
    }

    #[test]
    fn truncation_and_placeholders_show() {
        let mut graph = fixtures::provenance();
        graph.nodes[2].placeholder = true;
        let rendered = subgraph(&fixtures::model(), &graph);
        assert!(rendered.contains("style=\"dashed\""));
        assert!(rendered.contains("label=\"truncated: a depth or size bound cut the answer\";"));
    }

    #[test]
    fn a_production_version_short_of_its_criteria_says_so() {
        let mut graph = fixtures::impact();
        let model = graph
            .nodes
            .iter_mut()
            .find(|node| node.r#ref.as_ref() == Some(&fixtures::model()))
            .expect("the model is in the fixture");
        *model = fixtures::production_model_with(fixtures::unmet_criteria());
        let rendered = subgraph(&fixtures::applications(), &graph);
        assert!(
            rendered.contains("  \"model:credit-risk@7\" [label=\"model:credit-risk@7\\ncriteria unmet\", shape=component, style=\"bold\", color=darkorange, fontcolor=darkorange];\n"),
            "{rendered}"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
