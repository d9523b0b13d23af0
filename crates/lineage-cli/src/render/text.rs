//! Text output for people: one entity with its facts, lineage as an
//! indented tree, a table of runs, a model trace, the service status, a
//! diff, and a watch's one line per entity newly downstream. [`Table`]
//! aligns the columns of every table of the text output.
//!
//! Everything is written in one pass over a bounded answer; the tree visits
//! each node once (repeat visits say `… (see above)`), so its length is at
//! most one line per returned edge.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write};

use lineage_proto::v1;

use super::{
    edge_label, enum_name, flag_label, in_production, model_stage, node_id, promotion,
    promotion_summary, rfc3339, worst_flag,
};
use crate::entity::display_ref;

/// The width of the label column in key/value lines.
const LABEL_WIDTH: usize = 18;

/// Which way a traversal's edges are followed when drawing the tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// Provenance: from an effect back to its causes (edge `to` -> `from`).
    Upstream,
    /// Impact: from a cause on to its effects (edge `from` -> `to`).
    Downstream,
}

/// Runs a writer against a fresh `String`; writing to a `String` cannot fail.
fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::new();
    write(&mut out).expect("writing to a String cannot fail");
    out
}

/// `label:` padded to the label column, then the value.
fn field(out: &mut String, indent: &str, label: &str, value: impl fmt::Display) -> fmt::Result {
    let label = format!("{label}:");
    writeln!(out, "{indent}{label:<LABEL_WIDTH$}{value}")
}

/// Like [`field`], but skips empty values.
fn field_if(out: &mut String, indent: &str, label: &str, value: &str) -> fmt::Result {
    if value.is_empty() {
        Ok(())
    } else {
        field(out, indent, label, value)
    }
}

/// A label on its own line followed by one indented line per item; nothing
/// when there are no items.
fn list<I, T>(out: &mut String, indent: &str, label: &str, items: I) -> fmt::Result
where
    I: IntoIterator<Item = T>,
    T: fmt::Display,
{
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        return Ok(());
    }
    writeln!(out, "{indent}{label}:")?;
    for item in items {
        writeln!(out, "{indent}  {item}")?;
    }
    Ok(())
}

/// Rows of cells written as columns two spaces apart, each as wide as its
/// widest cell; the last cell of a row is not padded. A row may be marked
/// to be written in bold (ANSI) when the output is a terminal.
#[derive(Debug)]
pub struct Table {
    rows: Vec<(Vec<String>, bool)>,
}

impl Table {
    pub fn new(header: Vec<String>) -> Self {
        Self {
            rows: vec![(header, false)],
        }
    }

    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push((cells, false));
    }

    /// A row in bold when [`Table::write`] is told to use ANSI bold.
    pub fn push_marked(&mut self, cells: Vec<String>, marked: bool) {
        self.rows.push((cells, marked));
    }

    /// Writes the rows; `bold` turns marked rows bold with ANSI escapes
    /// (only for a terminal: the escapes would garble a file or a pipe).
    pub fn write(&self, out: &mut String, bold: bool) -> fmt::Result {
        let mut widths: Vec<usize> = Vec::new();
        for (cells, _) in &self.rows {
            if widths.len() < cells.len() {
                widths.resize(cells.len(), 0);
            }
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for (cells, marked) in &self.rows {
            let mut line = String::new();
            for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                if index + 1 == cells.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            let line = line.trim_end();
            if bold && *marked {
                writeln!(out, "\x1b[1m{line}\x1b[0m")?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
        Ok(())
    }
}

/// `-` for an empty cell, so that columns never look shifted.
pub fn dash(value: String) -> String {
    if value.is_empty() {
        "-".to_owned()
    } else {
        value
    }
}

/// `1 node`, `2 nodes`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn run_ref(run_id: &str) -> String {
    format!("run:{run_id}")
}

fn dataset_ref(dataset: &v1::DatasetVersionRef) -> String {
    format!("dataset:{}@{}", dataset.dataset, dataset.version)
}

fn model_ref(model: &v1::ModelVersionRef) -> String {
    format!("model:{}@{}", model.model, model.version)
}

fn artifact_ref(artifact: &v1::ArtifactRef) -> String {
    format!("artifact:{}/{}", artifact.run_id, artifact.name)
}

fn environment_ref(environment: &v1::EnvironmentRef) -> String {
    format!("env:{}@{}", environment.name, environment.version)
}

pub fn run_status(raw: i32) -> String {
    enum_name(raw, v1::RunStatus::as_str_name)
}

/// The short mark of a production model version's standing against its
/// model's promotion criteria, when it has criteria.
fn promotion_marker(entity: &v1::Entity) -> Option<&'static str> {
    promotion(entity).map(|status| {
        if status.met {
            "✔ criteria met"
        } else {
            "✘ CRITERIA UNMET"
        }
    })
}

/// The compact status shown after a node in trees and lists: placeholder,
/// run status, model stage (`★ PRODUCTION`) and its standing against the
/// model's promotion criteria, and `⚑ FLAGGED(SEVERITY)`.
pub fn markers(entity: &v1::Entity) -> String {
    let mut parts: Vec<String> = Vec::new();
    if entity.placeholder {
        parts.push("placeholder".to_owned());
    }
    match &entity.details {
        Some(v1::entity::Details::Run(run)) if run.status != 0 => {
            parts.push(run_status(run.status));
        }
        _ => {}
    }
    if in_production(entity) {
        parts.push("★ PRODUCTION".to_owned());
    } else if let Some(stage) = model_stage(entity) {
        parts.push(stage.as_str_name().to_owned());
    }
    if let Some(marker) = promotion_marker(entity) {
        parts.push(marker.to_owned());
    }
    if let Some(severity) = worst_flag(entity) {
        parts.push(format!("⚑ {}", flag_label(severity)));
    }
    parts.join("  ")
}

/// `id  markers`, or just `id` when there is nothing to mark.
fn with_markers(id: &str, entity: Option<&v1::Entity>) -> String {
    match entity.map(markers) {
        Some(markers) if !markers.is_empty() => format!("{id}  {markers}"),
        _ => id.to_owned(),
    }
}

/// `watch`: one entity newly downstream of the root, as a line: the log
/// sequence to resume after, the entity with its markers, the path from
/// the root, and whether the root was flagged when it happened.
pub fn impact_event(event: &v1::ImpactEvent) -> String {
    let id = match (&event.entity, event.path.last()) {
        (Some(entity), _) => node_id(entity),
        (None, Some(last)) => display_ref(last),
        (None, None) => "?:?".to_owned(),
    };
    let mut line = format!(
        "seq {}  {}  via {}",
        event.seq,
        with_markers(&id, event.entity.as_ref()),
        impact_path(event)
    );
    if event.root_flagged {
        line.push_str("  ⚑ root flagged");
    }
    line.push('\n');
    line
}

/// `dataset:applications@3 -INPUT-> run:r9 -REGISTERED-> model:credit-risk@8`:
/// `edges[i]` joins `path[i]` and `path[i + 1]`.
fn impact_path(event: &v1::ImpactEvent) -> String {
    let mut path = String::new();
    for (index, step) in event.path.iter().enumerate() {
        if index > 0 {
            let edge = event.edges.get(index - 1).map_or_else(
                || "?".to_owned(),
                |&raw| enum_name(raw, v1::EdgeKind::as_str_name),
            );
            let _ = write!(path, " -{edge}-> ");
        }
        path.push_str(&display_ref(step));
    }
    path
}

/// The header line of `get`: the entity, then `[STAGE]` or `[STATUS]`,
/// `placeholder`, and the worst flag.
fn header(entity: &v1::Entity) -> String {
    let mut line = node_id(entity);
    let bracket = match &entity.details {
        Some(v1::entity::Details::Run(run)) if run.status != 0 => Some(run_status(run.status)),
        _ => model_stage(entity).map(|stage| stage.as_str_name().to_owned()),
    };
    if let Some(bracket) = bracket {
        let _ = write!(line, "  [{bracket}]");
    }
    if let Some(marker) = promotion_marker(entity) {
        let _ = write!(line, "  {marker}");
    }
    if entity.placeholder {
        line.push_str("  placeholder (referenced, not registered yet)");
    }
    if let Some(severity) = worst_flag(entity) {
        let _ = write!(line, "  ⚑ {}", flag_label(severity));
    }
    line
}

/// `get`: the header, the flags with their reasons, then the facts of the
/// entity's kind.
pub fn entity(entity: &v1::Entity) -> String {
    render(|out| write_entity(out, entity, ""))
}

fn write_entity(out: &mut String, entity: &v1::Entity, indent: &str) -> fmt::Result {
    writeln!(out, "{indent}{}", header(entity))?;
    let inner = format!("{indent}  ");
    write_flags(out, &inner, entity)?;
    match &entity.details {
        Some(v1::entity::Details::Experiment(experiment)) => {
            field_if(out, &inner, "description", &experiment.description)?;
            if let Some(created) = time!(experiment.created_at) {
                field(out, &inner, "created", created)?;
            }
            field(out, &inner, "runs", experiment.runs)?;
        }
        Some(v1::entity::Details::Run(run)) => {
            let run_id = entity.r#ref.as_ref().map_or("", |r| r.name.as_str());
            write_run(out, &inner, run_id, run, RunFacts::All)?;
        }
        Some(v1::entity::Details::DatasetVersion(dataset)) => {
            field_if(out, &inner, "uri", &dataset.uri)?;
            field_if(out, &inner, "digest", &dataset.digest)?;
            if !dataset.produced_by_run_id.is_empty() {
                field(
                    out,
                    &inner,
                    "produced by",
                    run_ref(&dataset.produced_by_run_id),
                )?;
            }
            list(
                out,
                &inner,
                "derived from",
                dataset.derived_from.iter().map(dataset_ref),
            )?;
            if let Some(registered) = time!(dataset.registered_at) {
                field(out, &inner, "registered", registered)?;
            }
        }
        Some(v1::entity::Details::Artifact(artifact)) => {
            if !artifact.run_id.is_empty() {
                field(out, &inner, "run", run_ref(&artifact.run_id))?;
            }
            field_if(out, &inner, "kind", &artifact.kind)?;
            field_if(out, &inner, "uri", &artifact.uri)?;
            field_if(out, &inner, "digest", &artifact.digest)?;
            if artifact.size_bytes > 0 {
                field(
                    out,
                    &inner,
                    "size",
                    format!("{} bytes", artifact.size_bytes),
                )?;
            }
            if let Some(logged) = time!(artifact.logged_at) {
                field(out, &inner, "logged", logged)?;
            }
        }
        Some(v1::entity::Details::ModelVersion(model)) => write_model(out, &inner, model)?,
        Some(v1::entity::Details::Endpoint(endpoint)) => {
            match &endpoint.model {
                Some(model) => field(out, &inner, "serving", model_ref(model))?,
                None => field(out, &inner, "serving", "nothing")?,
            }
            field_if(out, &inner, "deployment", &endpoint.deployment)?;
            if let Some(deployed) = time!(endpoint.deployed_at) {
                field(out, &inner, "deployed", deployed)?;
            }
        }
        None => {}
    }
    // A tag value a redaction erased is empty: say so rather than show
    // `key = ` as if it had been set empty.
    let erased_tags: HashSet<&str> = entity
        .redactions
        .iter()
        .flat_map(|r| &r.fields)
        .filter_map(|field| field.strip_prefix("tags."))
        .collect();
    list(
        out,
        &inner,
        "tags",
        entity.tags.iter().map(|(key, value)| {
            if value.is_empty() && erased_tags.contains(key.as_str()) {
                format!("{key} = (redacted)")
            } else {
                format!("{key} = {value}")
            }
        }),
    )?;
    list(
        out,
        &inner,
        "redactions",
        entity.redactions.iter().map(redaction_line),
    )?;
    if entity.first_seq > 0 {
        field(
            out,
            &inner,
            "first seen",
            format!("log seq {}", entity.first_seq),
        )?;
    }
    Ok(())
}

/// `actor, tags.owner: DSR-42 (by dpo) at <time>, log seq 12`.
fn redaction_line(redaction: &v1::Redaction) -> String {
    let mut line = redaction.fields.join(", ");
    if !redaction.reason.is_empty() {
        let _ = write!(line, ": {}", redaction.reason);
    }
    if !redaction.requested_by.is_empty() {
        let _ = write!(line, " (by {})", redaction.requested_by);
    }
    if let Some(at) = time!(redaction.requested_at) {
        let _ = write!(line, " at {at}");
    }
    if redaction.seq > 0 {
        let _ = write!(line, ", log seq {}", redaction.seq);
    }
    line
}

fn write_flags(out: &mut String, indent: &str, entity: &v1::Entity) -> fmt::Result {
    for flag in &entity.flags {
        let severity = v1::Severity::try_from(flag.severity).unwrap_or(v1::Severity::Unspecified);
        let mut line = format!("{indent}⚑ {}", flag_label(severity));
        if !flag.reason.is_empty() {
            let _ = write!(line, ": {}", flag.reason);
        }
        if !flag.flagged_by.is_empty() {
            let _ = write!(line, " (by {})", flag.flagged_by);
        }
        if let Some(at) = time!(flag.flagged_at) {
            let _ = write!(line, " at {at}");
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// How much of a run to show: everything for `get`, the facts that explain
/// a model for `trace` (its inputs are listed separately there).
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunFacts {
    All,
    ForTrace,
}

fn write_run(
    out: &mut String,
    indent: &str,
    run_id: &str,
    run: &v1::RunDetails,
    facts: RunFacts,
) -> fmt::Result {
    if run.status != 0 {
        let mut status = run_status(run.status);
        if !run.error.is_empty() {
            let _ = write!(status, " ({})", run.error);
        }
        field(out, indent, "status", status)?;
    }
    if !run.experiment.is_empty() {
        field(
            out,
            indent,
            "experiment",
            format!("experiment:{}", run.experiment),
        )?;
    }
    field_if(out, indent, "name", &run.name)?;
    if !run.parent_run_id.is_empty() {
        field(out, indent, "parent run", run_ref(&run.parent_run_id))?;
    }
    field_if(out, indent, "owner", &run.owner)?;
    if let Some(started) = time!(run.started_at) {
        field(out, indent, "started", started)?;
    }
    if let Some(ended) = time!(run.ended_at) {
        field(out, indent, "ended", ended)?;
    }
    field_if(out, indent, "code version", &run.code_version)?;
    if facts == RunFacts::All {
        if let Some(environment) = &run.environment {
            field(out, indent, "environment", environment_ref(environment))?;
        }
        if !run.compute_target.is_empty() {
            field(
                out,
                indent,
                "compute",
                format!("compute:{}", run.compute_target),
            )?;
        }
    }
    list(
        out,
        indent,
        "params",
        run.params
            .iter()
            .map(|(key, value)| format!("{key} = {value}")),
    )?;
    list(
        out,
        indent,
        "latest metrics",
        run.latest_metrics.iter().map(|metric| {
            let mut line = format!("{} = {}  (step {}", metric.key, metric.value, metric.step);
            if let Some(at) = time!(metric.timestamp) {
                let _ = write!(line, ", {at}");
            }
            line.push(')');
            line
        }),
    )?;
    if facts == RunFacts::All {
        let inputs = run
            .input_datasets
            .iter()
            .map(dataset_ref)
            .chain(run.input_artifacts.iter().map(artifact_ref))
            .chain(run.input_models.iter().map(model_ref));
        list(out, indent, "inputs", inputs)?;
        list(
            out,
            indent,
            "artifacts",
            run.artifacts
                .iter()
                .map(|name| format!("artifact:{run_id}/{name}")),
        )?;
        list(
            out,
            indent,
            "outputs",
            run.output_datasets.iter().map(dataset_ref),
        )?;
    }
    if run.lists_truncated {
        writeln!(out, "{indent}(some lists were cut at the server's bound)")?;
    }
    Ok(())
}

fn write_model(out: &mut String, indent: &str, model: &v1::ModelVersionDetails) -> fmt::Result {
    // First: a version serving without meeting its criteria is what a
    // reader must not miss.
    if let Some(status) = &model.promotion {
        field(out, indent, "promotion", promotion_summary(status))?;
        let mut criteria = status.criteria.clone();
        if !status.criteria_event_id.is_empty() {
            let _ = write!(criteria, "  (set by event {})", status.criteria_event_id);
        }
        field_if(out, indent, "criteria", &criteria)?;
    }
    if !model.source_run_id.is_empty() {
        field(out, indent, "source run", run_ref(&model.source_run_id))?;
    }
    if !model.artifact_name.is_empty() {
        field(
            out,
            indent,
            "artifact",
            format!("artifact:{}/{}", model.source_run_id, model.artifact_name),
        )?;
    }
    if let Some(registered) = time!(model.registered_at) {
        field(out, indent, "registered", registered)?;
    }
    if !model.approval_notes.is_empty() || !model.approved_by.is_empty() {
        let mut approval = model.approval_notes.clone();
        if !model.approved_by.is_empty() {
            if !approval.is_empty() {
                approval.push(' ');
            }
            let _ = write!(approval, "(approved by {})", model.approved_by);
        }
        field(out, indent, "approval", approval)?;
    }
    list(
        out,
        indent,
        "stage history",
        model.stage_history.iter().map(|change| {
            let mut line = time!(change.changed_at).unwrap_or_else(|| "-".to_owned());
            let _ = write!(
                line,
                "  {:<10}",
                enum_name(change.stage, v1::ModelStage::as_str_name)
            );
            if !change.reason.is_empty() {
                let _ = write!(line, "  {:?}", change.reason);
            }
            if !change.approved_by.is_empty() {
                let _ = write!(line, "  by {}", change.approved_by);
            }
            line
        }),
    )?;
    list(
        out,
        indent,
        "deployments",
        model.deployments.iter().map(|deployment| {
            let mut line = format!("endpoint:{}", deployment.endpoint);
            if !deployment.deployment.is_empty() {
                let _ = write!(line, "  {}", deployment.deployment);
            }
            if let Some(at) = time!(deployment.deployed_at) {
                let _ = write!(line, "  {at}");
            }
            line
        }),
    )
}

/// `provenance` and `impact`: the tree from `root`, a summary line, and for
/// impact the model versions in production with their endpoints.
pub fn subgraph(root: &v1::EntityRef, graph: &v1::Subgraph, direction: Direction) -> String {
    render(|out| {
        write_subgraph(out, "", root, graph, direction)?;
        if direction == Direction::Downstream {
            writeln!(out)?;
            write_production(out, graph)?;
        }
        Ok(())
    })
}

fn write_subgraph(
    out: &mut String,
    indent: &str,
    root: &v1::EntityRef,
    graph: &v1::Subgraph,
    direction: Direction,
) -> fmt::Result {
    let shown = write_tree(out, indent, root, graph, direction)?;
    // With --node-kinds the traversal passes through nodes it does not
    // return, so some returned nodes may hang off no returned edge.
    let detached: Vec<&v1::Entity> = graph
        .nodes
        .iter()
        .filter(|node| !shown.contains(&node_id(node)))
        .collect();
    if !detached.is_empty() {
        writeln!(
            out,
            "{indent}also returned (their connecting nodes were filtered out):"
        )?;
        for node in detached {
            writeln!(
                out,
                "{indent}  {}",
                with_markers(&node_id(node), Some(node))
            )?;
        }
    }
    let mut summary = format!(
        "{indent}{}, {}",
        count(graph.nodes.len(), "node"),
        count(graph.edges.len(), "edge")
    );
    if graph.truncated {
        summary.push_str(" (truncated)");
    }
    if graph.applied_seq > 0 {
        let _ = write!(summary, ", as of log seq {}", graph.applied_seq);
    }
    writeln!(out, "{summary}")?;
    if graph.truncated {
        writeln!(
            out,
            "{indent}a depth or size bound cut the answer: raise --depth or --limit to see more"
        )?;
    }
    Ok(())
}

/// Draws the tree and returns the ids it showed.
fn write_tree(
    out: &mut String,
    indent: &str,
    root: &v1::EntityRef,
    graph: &v1::Subgraph,
    direction: Direction,
) -> Result<HashSet<String>, fmt::Error> {
    let nodes: HashMap<String, &v1::Entity> = graph
        .nodes
        .iter()
        .map(|node| (node_id(node), node))
        .collect();
    let mut children: HashMap<String, Vec<(i32, String)>> = HashMap::new();
    for edge in &graph.edges {
        let (Some(from), Some(to)) = (&edge.from, &edge.to) else {
            continue;
        };
        let (parent, child) = match direction {
            Direction::Downstream => (from, to),
            Direction::Upstream => (to, from),
        };
        children
            .entry(display_ref(parent))
            .or_default()
            .push((edge.kind, display_ref(child)));
    }
    for list in children.values_mut() {
        list.sort();
        list.dedup();
    }

    let root_id = display_ref(root);
    writeln!(
        out,
        "{indent}{}",
        with_markers(&root_id, nodes.get(&root_id).copied())
    )?;
    let mut shown = HashSet::from([root_id.clone()]);
    // An explicit stack rather than recursion: trees can be as deep as the
    // server's depth bound.
    let mut stack: Vec<Pending<'_>> = Vec::new();
    push_children(&mut stack, &children, &root_id, indent);
    while let Some(item) = stack.pop() {
        let connector = if item.last { "└─ " } else { "├─ " };
        let label = edge_label(item.kind);
        if shown.contains(item.id) {
            writeln!(
                out,
                "{}{connector}[{label}] {} … (see above)",
                item.prefix, item.id
            )?;
            continue;
        }
        shown.insert(item.id.to_owned());
        writeln!(
            out,
            "{}{connector}[{label}] {}",
            item.prefix,
            with_markers(item.id, nodes.get(item.id).copied())
        )?;
        let child_prefix = format!("{}{}", item.prefix, if item.last { "   " } else { "│  " });
        push_children(&mut stack, &children, item.id, &child_prefix);
    }
    Ok(shown)
}

/// A tree line still to be written: the node, the edge that led to it, and
/// the drawing to its left.
struct Pending<'a> {
    id: &'a str,
    kind: i32,
    prefix: String,
    last: bool,
}

/// Queues a node's children so that they pop in order.
fn push_children<'a>(
    stack: &mut Vec<Pending<'a>>,
    children: &'a HashMap<String, Vec<(i32, String)>>,
    id: &str,
    prefix: &str,
) {
    if let Some(list) = children.get(id) {
        for (index, (kind, child)) in list.iter().enumerate().rev() {
            stack.push(Pending {
                id: child,
                kind: *kind,
                prefix: prefix.to_owned(),
                last: index + 1 == list.len(),
            });
        }
    }
}

/// The model versions in production among the returned nodes, each with the
/// endpoints serving it (from its deployments and from endpoint nodes).
fn write_production(out: &mut String, graph: &v1::Subgraph) -> fmt::Result {
    let mut serving: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for node in &graph.nodes {
        if let Some(v1::entity::Details::Endpoint(endpoint)) = &node.details
            && let (Some(model), Some(reference)) = (&endpoint.model, &node.r#ref)
        {
            serving
                .entry((model.model.clone(), model.version.clone()))
                .or_default()
                .insert(format!("endpoint:{}", reference.name));
        }
    }
    let mut lines = Vec::new();
    for node in graph.nodes.iter().filter(|node| in_production(node)) {
        let mut endpoints = BTreeSet::new();
        if let Some(v1::entity::Details::ModelVersion(model)) = &node.details {
            endpoints.extend(
                model
                    .deployments
                    .iter()
                    .map(|deployment| format!("endpoint:{}", deployment.endpoint)),
            );
        }
        if let Some(reference) = &node.r#ref
            && let Some(more) = serving.get(&(reference.name.clone(), reference.version.clone()))
        {
            endpoints.extend(more.iter().cloned());
        }
        let served = if endpoints.is_empty() {
            "not deployed".to_owned()
        } else {
            format!(
                "served by {}",
                endpoints.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        let flagged = worst_flag(node)
            .map(|severity| format!("  ⚑ {}", flag_label(severity)))
            .unwrap_or_default();
        let standing = promotion(node)
            .map(|status| format!("  {}", promotion_summary(status)))
            .unwrap_or_default();
        lines.push(format!("  {}  {served}{flagged}{standing}", node_id(node)));
    }
    if lines.is_empty() {
        return writeln!(out, "In production: none of the returned model versions");
    }
    writeln!(out, "In production:")?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `runs-using`: one row per run with the versions of `dataset` it read.
pub fn runs_table(dataset: &str, runs: &[v1::Entity], next_page_token: &str) -> String {
    render(|out| {
        if runs.is_empty() {
            writeln!(out, "no runs")?;
        } else {
            let mut table = Table::new(
                ["RUN", "STATUS", "EXPERIMENT", "STARTED", "DATASET VERSIONS"]
                    .map(str::to_owned)
                    .to_vec(),
            );
            for run in runs {
                let id = run.r#ref.as_ref().map_or("?", |r| r.name.as_str());
                let (status, experiment, started, versions) = match &run.details {
                    Some(v1::entity::Details::Run(details)) => (
                        if details.status == 0 {
                            String::new()
                        } else {
                            run_status(details.status)
                        },
                        details.experiment.clone(),
                        time!(details.started_at).unwrap_or_default(),
                        details
                            .input_datasets
                            .iter()
                            .filter(|input| input.dataset == dataset)
                            .map(|input| format!("{}@{}", input.dataset, input.version))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    _ => Default::default(),
                };
                table.push(vec![
                    id.to_owned(),
                    dash(status),
                    dash(experiment),
                    dash(started),
                    dash(versions),
                ]);
            }
            table.write(out, false)?;
            writeln!(out, "{}", count(runs.len(), "run"))?;
        }
        if !next_page_token.is_empty() {
            writeln!(out, "more runs: --page-token {next_page_token} (or --all)")?;
        }
        Ok(())
    })
}

/// `trace`: the model, its source run, the run's inputs, environment and
/// compute, then the whole upstream tree.
pub fn trace(root: &v1::EntityRef, trace: &v1::ModelTrace) -> String {
    render(|out| {
        match &trace.model {
            Some(model) => write_entity(out, model, "")?,
            None => writeln!(out, "{}", display_ref(root))?,
        }
        writeln!(out)?;
        match &trace.source_run {
            Some(run) => {
                writeln!(
                    out,
                    "source run: {}",
                    with_markers(&node_id(run), Some(run))
                )?;
                write_flags(out, "  ", run)?;
                if let Some(v1::entity::Details::Run(details)) = &run.details {
                    let run_id = run.r#ref.as_ref().map_or("", |r| r.name.as_str());
                    write_run(out, "  ", run_id, details, RunFacts::ForTrace)?;
                }
            }
            None => writeln!(out, "source run: unknown")?,
        }
        if trace.inputs.is_empty() {
            writeln!(out, "inputs: none declared")?;
        } else {
            writeln!(out, "inputs:")?;
            for input in &trace.inputs {
                writeln!(out, "  {}", with_markers(&node_id(input), Some(input)))?;
            }
        }
        let optional = |entity: &Option<v1::Entity>| match entity {
            Some(entity) => with_markers(&node_id(entity), Some(entity)),
            None => "unknown".to_owned(),
        };
        field(out, "", "environment", optional(&trace.environment))?;
        field(out, "", "compute", optional(&trace.compute))?;
        if let Some(upstream) = &trace.upstream {
            writeln!(out)?;
            writeln!(out, "upstream:")?;
            write_subgraph(out, "  ", root, upstream, Direction::Upstream)?;
        }
        Ok(())
    })
}

/// `status`: one `key: value` line per field, the figures an operator
/// checks first (how far behind, is ingest healthy) near the top.
pub fn status(status: &v1::StatusResponse) -> String {
    render(|out| {
        field(out, "", "ready", status.ready)?;
        field(out, "", "applied seq", status.applied_seq)?;
        field(out, "", "head seq", status.head_seq)?;
        field(out, "", "head hash", &status.head_hash)?;
        field(
            out,
            "",
            "consumer lag",
            format_args!(
                "{} messages (stream at {}, acknowledged through {})",
                status.consumer_lag, status.stream_last_seq, status.consumer_acked_seq
            ),
        )?;
        field(out, "", "nodes", status.nodes)?;
        field(out, "", "edges", status.edges)?;
        field(out, "", "duplicates", status.duplicates)?;
        field(out, "", "dead lettered", status.dead_lettered)?;
        field(out, "", "redactions due", status.redactions_pending)?;
        field(out, "", "ingest connected", status.ingest_connected)?;
        field(out, "", "ingest healthy", status.ingest_error.is_empty())?;
        field(
            out,
            "",
            "ingest error",
            if status.ingest_error.is_empty() {
                "none"
            } else {
                &status.ingest_error
            },
        )?;
        field_if(out, "", "state digest", &status.state_digest)?;
        if let Some(checkpoint) = &status.last_checkpoint {
            let signed_at = checkpoint
                .signed_at
                .as_ref()
                .map(|t| format!(" at {}", rfc3339(t.seconds, t.nanos)))
                .unwrap_or_default();
            field(
                out,
                "",
                "last checkpoint",
                format_args!(
                    "record {}, signed by {}{signed_at}",
                    checkpoint.seq, checkpoint.public_key
                ),
            )?;
        }
        Ok(())
    })
}

/// A diff of two model versions: `a → b` for each thing that differs.
pub fn diff(answer: &v1::LineageDiff) -> String {
    let side =
        |entity: Option<&v1::EntityRef>| entity.map_or_else(|| "(none)".to_owned(), display_ref);
    let value = |value: Option<&String>| value.map_or("(none)", String::as_str).to_owned();
    let number = |value: Option<f64>| value.map_or_else(|| "(none)".to_owned(), |v| v.to_string());
    render(|out| {
        writeln!(
            out,
            "{} → {}",
            side(answer.a.as_ref()),
            side(answer.b.as_ref())
        )?;
        field(
            out,
            "",
            "source run",
            format_args!(
                "{} → {}",
                side(answer.source_run_a.as_ref()),
                side(answer.source_run_b.as_ref())
            ),
        )?;
        if let Some(code) = &answer.code_version {
            field(
                out,
                "",
                "code version",
                format_args!("{} → {}", value(code.a.as_ref()), value(code.b.as_ref())),
            )?;
        }
        for (label, change) in [
            ("environment", &answer.environment),
            ("compute", &answer.compute),
        ] {
            if let Some(change) = change {
                field(
                    out,
                    "",
                    label,
                    format_args!("{} → {}", side(change.a.as_ref()), side(change.b.as_ref())),
                )?;
            }
        }
        list(
            out,
            "",
            "datasets added",
            answer.datasets_added.iter().map(display_ref),
        )?;
        list(
            out,
            "",
            "datasets removed",
            answer.datasets_removed.iter().map(display_ref),
        )?;
        field(out, "", "datasets same", answer.datasets_unchanged)?;
        list(
            out,
            "",
            "params",
            answer.params.iter().map(|change| {
                format!(
                    "{}: {} → {}",
                    change.key,
                    value(change.a.as_ref()),
                    value(change.b.as_ref())
                )
            }),
        )?;
        list(
            out,
            "",
            "metrics (latest)",
            answer.metrics.iter().map(|change| {
                format!(
                    "{}: {} → {}",
                    change.key,
                    number(change.a),
                    number(change.b)
                )
            }),
        )?;
        if answer.truncated {
            writeln!(
                out,
                "(truncated: a bound cut an upstream walk; the dataset lists may be short)"
            )?;
        }
        Ok(())
    })
}

/// A log verification: what was checked, and the first problem if any.
pub fn verification(answer: &v1::VerifyLogResponse) -> String {
    render(|out| {
        field(out, "", "ok", answer.ok)?;
        field(out, "", "records checked", answer.records_checked)?;
        field(out, "", "verified to", answer.verified_seq)?;
        field(out, "", "hash there", &answer.verified_hash)?;
        if answer.checkpoint_key.is_empty() {
            field(out, "", "checkpoints", "not checked (no key)")?;
        } else if answer.checkpoints_checked == 0 {
            field(
                out,
                "",
                "checkpoints held",
                "none (no checkpoint in the range)",
            )?;
            field(out, "", "checked with key", &answer.checkpoint_key)?;
        } else {
            field(
                out,
                "",
                "checkpoints held",
                format_args!(
                    "{} (the last of record {})",
                    answer.checkpoints_checked, answer.last_checkpoint_seq
                ),
            )?;
            field(out, "", "checked with key", &answer.checkpoint_key)?;
        }
        if !answer.ok {
            field(out, "", "first bad record", answer.first_bad_seq)?;
            field(out, "", "problem", &answer.problem)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{self, applications, model};

    #[test]
    fn a_diff_shows_each_change_as_a_to_b() {
        let model = |version: &str| v1::EntityRef {
            workspace: "w".into(),
            kind: v1::EntityKind::ModelVersion as i32,
            name: "credit-risk".into(),
            version: version.into(),
        };
        let dataset = |version: &str| v1::EntityRef {
            workspace: "w".into(),
            kind: v1::EntityKind::DatasetVersion as i32,
            name: "train".into(),
            version: version.into(),
        };
        let answer = v1::LineageDiff {
            a: Some(model("7")),
            b: Some(model("8")),
            datasets_added: vec![dataset("2")],
            datasets_removed: vec![dataset("1")],
            datasets_unchanged: 4,
            params: vec![v1::ValueChange {
                key: "lr".into(),
                a: Some("0.01".into()),
                b: Some("0.005".into()),
            }],
            metrics: vec![v1::MetricChange {
                key: "logloss".into(),
                a: None,
                b: Some(0.2),
            }],
            ..Default::default()
        };
        assert_eq!(
            diff(&answer),
            "\
model:credit-risk@7 → model:credit-risk@8
source run:       (none) → (none)
datasets added:
  dataset:train@2
datasets removed:
  dataset:train@1
datasets same:    4
params:
  lr: 0.01 → 0.005
metrics (latest):
  logloss: (none) → 0.2
"
        );
    }

    #[test]
    fn impact_is_a_tree_with_production_at_the_end() {
        let rendered = subgraph(&applications(), &fixtures::impact(), Direction::Downstream);
        assert_eq!(
            rendered,
            "\
dataset:applications@3  ⚑ FLAGGED(HIGH)
├─ [input] run:cr-sweep-0706-t08  COMPLETED
│  ├─ [produced] artifact:cr-sweep-0706-t08/model.pkl
│  │  └─ [packaged] model:credit-risk@7  ★ PRODUCTION
│  │     └─ [deployed] endpoint:scoring-eu
│  └─ [registered] model:credit-risk@7 … (see above)
└─ [derived] dataset:applications-clean@1
   └─ [input] run:cr-sweep-0706-t08 … (see above)
6 nodes, 7 edges, as of log seq 42

In production:
  model:credit-risk@7  served by endpoint:scoring-eu
"
        );
    }

    #[test]
    fn provenance_follows_edges_backwards_and_says_when_truncated() {
        let rendered = subgraph(&model(), &fixtures::provenance(), Direction::Upstream);
        assert_eq!(
            rendered,
            "\
model:credit-risk@7  ★ PRODUCTION
├─ [registered] run:cr-sweep-0706-t08  COMPLETED
│  ├─ [input] dataset:applications-clean@1
│  │  └─ [derived] dataset:applications@3  ⚑ FLAGGED(HIGH)
│  └─ [input] dataset:applications@3 … (see above)
└─ [packaged] artifact:cr-sweep-0706-t08/model.pkl
   └─ [produced] run:cr-sweep-0706-t08 … (see above)
5 nodes, 6 edges (truncated), as of log seq 42
a depth or size bound cut the answer: raise --depth or --limit to see more
"
        );
        assert!(!rendered.contains("In production"));
    }

    #[test]
    fn nodes_off_the_returned_edges_are_still_listed() {
        // As with --node-kinds model: the traversal passed through the run
        // and the artifact but returned neither, nor any edge.
        let mut graph = fixtures::impact();
        graph.nodes.retain(|node| {
            node.r#ref.as_ref().map(|r| r.kind) == Some(v1::EntityKind::ModelVersion as i32)
        });
        graph.edges.clear();
        let rendered = subgraph(&applications(), &graph, Direction::Downstream);
        assert_eq!(
            rendered,
            "\
dataset:applications@3
also returned (their connecting nodes were filtered out):
  model:credit-risk@7  ★ PRODUCTION
1 node, 0 edges, as of log seq 42

In production:
  model:credit-risk@7  served by endpoint:scoring-eu
"
        );
    }

    #[test]
    fn impact_without_production_models_says_so() {
        let mut graph = fixtures::impact();
        graph.nodes.truncate(2);
        graph.edges.truncate(1);
        let rendered = subgraph(&applications(), &graph, Direction::Downstream);
        assert!(rendered.ends_with("In production: none of the returned model versions\n"));
    }

    #[test]
    fn a_model_version_with_its_stages_and_deployments() {
        let rendered = entity(&fixtures::production_model());
        assert_eq!(
            rendered,
            "\
model:credit-risk@7  [PRODUCTION]
  source run:       run:cr-sweep-0706-t08
  artifact:         artifact:cr-sweep-0706-t08/model.pkl
  approval:         beats v6 on AUC (approved by bob)
  stage history:
    -  PRODUCTION  \"quarterly release\"  by carol
  deployments:
    endpoint:scoring-eu  deploy-42
  first seen:       log seq 1
"
        );
    }

    #[test]
    fn a_production_version_short_of_its_criteria_says_so_everywhere() {
        let unmet = fixtures::production_model_with(fixtures::unmet_criteria());
        let rendered = entity(&unmet);
        assert!(
            rendered.starts_with(
                "\
model:credit-risk@7  [PRODUCTION]  ✘ CRITERIA UNMET
  promotion:        ✘ in production WITHOUT meeting its criteria: metrics.precision >= 0.9
  criteria:         metrics.precision >= 0.9 and approved  (set by event criteria-1)
  source run:       run:cr-sweep-0706-t08
"
            ),
            "{rendered}"
        );
        assert_eq!(markers(&unmet), "★ PRODUCTION  ✘ CRITERIA UNMET");

        let mut graph = fixtures::impact();
        graph.nodes[4] = unmet;
        let tree = subgraph(&applications(), &graph, Direction::Downstream);
        assert!(
            tree.contains(
                "│  │  └─ [packaged] model:credit-risk@7  ★ PRODUCTION  ✘ CRITERIA UNMET\n"
            ),
            "{tree}"
        );
        assert!(
            tree.ends_with(
                "In production:\n  model:credit-risk@7  served by endpoint:scoring-eu  ✘ in production WITHOUT meeting its criteria: metrics.precision >= 0.9\n"
            ),
            "{tree}"
        );

        let met = fixtures::production_model_with(v1::PromotionStatus {
            met: true,
            unmet: Vec::new(),
            ..fixtures::unmet_criteria()
        });
        assert!(
            entity(&met).contains("  promotion:        ✔ meets its promotion criteria\n"),
            "{}",
            entity(&met)
        );
        assert_eq!(markers(&met), "★ PRODUCTION  ✔ criteria met");
    }

    #[test]
    fn a_watch_line_has_the_sequence_the_entity_and_its_path() {
        let event = v1::ImpactEvent {
            entity: Some(fixtures::production_model()),
            path: vec![applications(), fixtures::run(), model()],
            edges: vec![v1::EdgeKind::Input as i32, v1::EdgeKind::Registered as i32],
            seq: 812,
            root_flagged: true,
        };
        assert_eq!(
            impact_event(&event),
            "seq 812  model:credit-risk@7  ★ PRODUCTION  via dataset:applications@3 -INPUT-> run:cr-sweep-0706-t08 -REGISTERED-> model:credit-risk@7  ⚑ root flagged\n"
        );
        let bare = v1::ImpactEvent {
            entity: None,
            path: vec![applications(), fixtures::run()],
            edges: vec![v1::EdgeKind::Input as i32],
            seq: 9,
            root_flagged: false,
        };
        assert_eq!(
            impact_event(&bare),
            "seq 9  run:cr-sweep-0706-t08  via dataset:applications@3 -INPUT-> run:cr-sweep-0706-t08\n"
        );
    }

    #[test]
    fn a_run_with_everything_it_touched() {
        let rendered = entity(&fixtures::completed_run());
        assert_eq!(
            rendered,
            "\
run:cr-sweep-0706-t08  [COMPLETED]
  status:           COMPLETED
  experiment:       experiment:credit-risk-2026
  owner:            alice
  code version:     9f3c2e1
  environment:      env:sklearn@1.4.2
  compute:          compute:gpu-a100
  params:
    lr = 0.01
  latest metrics:
    auc = 0.81  (step 10)
  inputs:
    dataset:applications@3
    dataset:applications-clean@1
  artifacts:
    artifact:cr-sweep-0706-t08/model.pkl
  first seen:       log seq 1
"
        );
    }

    #[test]
    fn a_flagged_dataset_and_a_placeholder() {
        let rendered = entity(&fixtures::flagged_applications());
        assert!(rendered.starts_with(
            "dataset:applications@3  ⚑ FLAGGED(HIGH)\n  ⚑ FLAGGED(HIGH): label leakage (by audit)\n"
        ));
        assert!(rendered.contains("  uri:              s3://lake/applications/3\n"));

        let mut placeholder = fixtures::node(fixtures::applications_clean(), None);
        placeholder.placeholder = true;
        assert_eq!(
            entity(&placeholder),
            "dataset:applications-clean@1  placeholder (referenced, not registered yet)\n  first seen:       log seq 1\n"
        );
    }

    #[test]
    fn a_redacted_run_lists_its_redactions_and_marks_erased_tags() {
        let mut run = fixtures::completed_run();
        run.tags = [
            ("owner".to_owned(), String::new()),
            ("note".to_owned(), String::new()),
            ("team".to_owned(), "risk".to_owned()),
        ]
        .into();
        run.redactions = vec![
            v1::Redaction {
                fields: vec!["actor".to_owned(), "tags.owner".to_owned()],
                reason: "DSR-42".to_owned(),
                requested_by: "dpo".to_owned(),
                requested_at: Some(pbjson_types::Timestamp {
                    seconds: 1_780_000_000,
                    nanos: 0,
                }),
                seq: 12,
                event_id: "redact-1".to_owned(),
            },
            v1::Redaction {
                fields: vec!["error".to_owned()],
                reason: "DSR-43".to_owned(),
                seq: 13,
                ..Default::default()
            },
        ];
        let rendered = entity(&run);
        assert!(
            rendered.contains(
                "  tags:\n    note = \n    owner = (redacted)\n    team = risk\n  redactions:\n    actor, tags.owner: DSR-42 (by dpo) at 2026-05-28T20:26:40Z, log seq 12\n    error: DSR-43, log seq 13\n  first seen:"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn runs_table_shows_the_versions_read() {
        let mut started = fixtures::completed_run();
        if let Some(v1::entity::Details::Run(run)) = &mut started.details {
            run.started_at = Some(lineage_proto::convert::timestamp(
                lineage_core::EventTime::from_unix_nanos(1_783_324_800 * 1_000_000_000),
            ));
        }
        let placeholder = fixtures::node(fixtures::reference(v1::EntityKind::Run, "r-2", ""), None);
        let rendered = runs_table("applications", &[started, placeholder], "tok-2");
        assert_eq!(
            rendered,
            "\
RUN                STATUS     EXPERIMENT        STARTED               DATASET VERSIONS
cr-sweep-0706-t08  COMPLETED  credit-risk-2026  2026-07-06T08:00:00Z  applications@3
r-2                -          -                 -                     -
2 runs
more runs: --page-token tok-2 (or --all)
"
        );
        assert_eq!(runs_table("applications", &[], ""), "no runs\n");
    }

    #[test]
    fn trace_shows_the_run_its_inputs_and_the_tree() {
        let answer = v1::ModelTrace {
            model: Some(fixtures::production_model()),
            source_run: Some(fixtures::completed_run()),
            inputs: vec![
                fixtures::flagged_applications(),
                fixtures::node(fixtures::applications_clean(), None),
            ],
            environment: Some(fixtures::node(
                fixtures::reference(v1::EntityKind::Environment, "sklearn", "1.4.2"),
                None,
            )),
            compute: None,
            upstream: Some(fixtures::provenance()),
            ..Default::default()
        };
        let rendered = trace(&model(), &answer);
        assert!(rendered.starts_with("model:credit-risk@7  [PRODUCTION]\n"));
        assert!(rendered.contains(
            "\nsource run: run:cr-sweep-0706-t08  COMPLETED\n  status:           COMPLETED\n"
        ));
        assert!(rendered.contains("  code version:     9f3c2e1\n"));
        assert!(rendered.contains("  latest metrics:\n    auc = 0.81  (step 10)\n"));
        assert!(!rendered.contains("  outputs:"));
        assert!(rendered.contains(
            "inputs:\n  dataset:applications@3  ⚑ FLAGGED(HIGH)\n  dataset:applications-clean@1\n"
        ));
        assert!(rendered.contains("environment:      env:sklearn@1.4.2\n"));
        assert!(rendered.contains("compute:          unknown\n"));
        assert!(rendered.contains(
            "upstream:\n  model:credit-risk@7  ★ PRODUCTION\n  ├─ [registered] run:cr-sweep-0706-t08  COMPLETED\n"
        ));
        assert!(rendered.contains("  5 nodes, 6 edges (truncated), as of log seq 42\n"));
    }

    #[test]
    fn status_lines() {
        let rendered = status(&v1::StatusResponse {
            applied_seq: 42,
            head_seq: 43,
            head_hash: "ab12".to_owned(),
            stream_last_seq: 50,
            consumer_acked_seq: 45,
            consumer_lag: 5,
            nodes: 6,
            edges: 7,
            ready: true,
            ingest_connected: true,
            ..Default::default()
        });
        assert_eq!(
            rendered,
            "\
ready:            true
applied seq:      42
head seq:         43
head hash:        ab12
consumer lag:     5 messages (stream at 50, acknowledged through 45)
nodes:            6
edges:            7
duplicates:       0
dead lettered:    0
redactions due:   0
ingest connected: true
ingest healthy:   true
ingest error:     none
"
        );
    }

    #[test]
    fn status_of_a_troubled_ingest_says_why_and_when_it_last_signed() {
        let rendered = status(&v1::StatusResponse {
            ingest_error: "storage: No space left on device".to_owned(),
            last_checkpoint: Some(v1::SignedCheckpoint {
                seq: 40,
                public_key: "cd34".to_owned(),
                signed_at: Some(pbjson_types::Timestamp {
                    seconds: 1_783_324_800,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(rendered.contains("ingest healthy:   false\n"), "{rendered}");
        assert!(
            rendered.contains("ingest error:     storage: No space left on device\n"),
            "{rendered}"
        );
        assert!(
            rendered
                .contains("last checkpoint:  record 40, signed by cd34 at 2026-07-06T08:00:00Z\n"),
            "{rendered}"
        );
    }
}
