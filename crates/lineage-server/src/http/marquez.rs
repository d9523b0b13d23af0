//! `GET /api/v1/lineage?nodeId=...&depth=...` in Marquez's shape, so that
//! Marquez's web UI and the tools written against its API can read the
//! lineage this service holds.
//!
//! Marquez draws lineage as a graph of two kinds of node: datasets and jobs.
//! Ours is finer (dataset versions, runs, artifacts, models...), so this
//! module folds it onto Marquez's:
//!
//! | Marquez | here |
//! |---|---|
//! | `job:<namespace>:<name>` | an experiment; its `openlineage.namespace` and `openlineage.name` tags name it, else its workspace and its name |
//! | `dataset:<namespace>:<name>` | every version of one dataset name; the tags of any version name it, else its workspace and its name |
//! | `run:<runId>` | a run, which stands for its experiment's job |
//! | edge job → dataset | a run of the experiment produced a version of the dataset |
//! | edge dataset → job | a run of the experiment read a version of the dataset |
//!
//! As Marquez does, the answer is the lineage *connected* to the node: the
//! walk follows edges both ways, so siblings (another output of a job that
//! wrote the node, say) are in it. `depth` (Marquez's default 20) counts
//! the hops from the node, each job–dataset edge one hop; it is clamped
//! to the service's `max_depth`, the nodes to `max_limit` and the graph
//! entities visited to `max_visits`. A cut answer says `"truncated": true`;
//! `"appliedSeq"` is the log sequence the graph had applied, as in gRPC
//! answers (both are our additions to Marquez's `{"graph": [...]}`).
//!
//! Each node's `data` has the fields of Marquez's `DatasetData` and
//! `JobData` that this model can fill: names, facets (from the
//! `openlineage.facet.*` tags OpenLineage events leave), a dataset's schema
//! `fields`, a job's `inputs`, `outputs` and `latestRun` (our STARTED is
//! Marquez's RUNNING, CANCELED its ABORTED), and times from the events'
//! times. Our additions say where a node lives here: `workspace`, a
//! dataset's `nativeName`, `versions` (the newest 100) and `versionCount`,
//! a job's `experiment`.
//!
//! Which workspace: a node id names a namespace, which is not always a
//! workspace (OpenLineage datasets keep their own namespaces, like
//! `postgres://db:5432`). An optional `workspace=` parameter says where to
//! look; without it, every workspace the caller may read is searched, and
//! a node found in several is a 400 asking for `workspace=`. Namespaces may
//! contain `:`, so `dataset:<namespace>:<name>` is split at its last colon
//! first, then at the others.
//!
//! Not covered (Marquez has them; this read does not): dataset-to-dataset
//! edges (our `Derived` edges, which Marquez's graph has no place for),
//! column-level lineage, dataset and job versions as Marquez numbers them
//! (the `version` here is our newest version name), parent and child jobs,
//! and the `tags` Marquez attaches to datasets (always `[]`). Runs that
//! belong to no experiment have no job, so they draw no edge. Streams
//! (`type: STREAM`) and non-batch jobs are not distinguished.
//!
//! The walk runs on the blocking pool under the graph's read lock, never
//! on the runtime and never across an await, like the gRPC queries.

use std::collections::{BTreeSet, HashMap, VecDeque};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use lineage_core::graph::Facts;
use lineage_core::{
    EdgeKind, EntityKey, EntityKind, EventTime, LineageGraph, Node, NodeIndex, Workspace,
};
use lineage_proto::openlineage::{
    FACET_TAG_PREFIX, NAME_TAG, NAMESPACE_TAG, native_dataset_name, native_name,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::instrument;

use super::{HttpError, HttpState};
use crate::auth::Role;
use crate::grpc::ApiError;

/// Marquez's default depth when the request names none.
const DEFAULT_DEPTH: u32 = 20;

/// The most version names a dataset's `versions` lists (the newest): a
/// daily partition kept for years would otherwise make each dataset node
/// tens of kilobytes. `versionCount` says how many there are.
const MAX_VERSIONS_LISTED: usize = 100;

/// The query string, every field as text so that a malformed value is our
/// 400 naming it rather than the extractor's plain-text refusal.
#[derive(Debug, Deserialize)]
pub(super) struct LineageParams {
    #[serde(rename = "nodeId")]
    node_id: Option<String>,
    depth: Option<String>,
    workspace: Option<String>,
}

/// `GET /api/v1/lineage`: the lineage connected to `nodeId`, as Marquez
/// answers it.
#[instrument(skip_all, fields(node_id))]
pub(super) async fn lineage(
    State(state): State<HttpState>,
    headers: HeaderMap,
    params: Result<Query<LineageParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let principal = state.caller(&headers)?;
    let Query(params) =
        params.map_err(|rejection| ApiError::invalid("query", rejection.body_text()))?;
    let request = LineageRequest::parse(&params, state.config.max_depth)?;
    tracing::Span::current().record("node_id", request.node_id.as_str());
    // The role always; a named workspace must be readable too. Without
    // one, only the workspaces the caller may read are searched.
    principal.may(Role::Reader, request.workspace.as_ref())?;
    if !state.shared.is_ready() {
        return Err(
            ApiError::NotReady("lineaged is replaying its log; retry shortly".into()).into(),
        );
    }
    let limits = Limits {
        max_nodes: (state.config.max_limit as usize).max(1),
        max_visits: state.config.max_visits as usize,
    };
    let shared = state.shared.clone();
    // The answer is also written out on the blocking pool: thousands of
    // nodes take milliseconds to encode, which the runtime should not.
    let body = tokio::task::spawn_blocking(move || {
        let answer = marquez_lineage(
            &shared.graph(),
            &request,
            |workspace| principal.sees(workspace),
            limits,
        )?;
        serde_json::to_vec(&answer)
            .map_err(|error| ApiError::Internal(format!("the answer did not encode: {error}")))
    })
    .await
    .map_err(|error| ApiError::Internal(format!("the lineage task failed: {error}")))??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// What the request asks, checked.
#[derive(Debug, Clone)]
struct LineageRequest {
    /// As given, for messages.
    node_id: String,
    node: RequestedNode,
    /// Already clamped to the service's maximum.
    depth: u32,
    workspace: Option<Workspace>,
}

/// A Marquez node id, with the text after its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RequestedNode {
    /// `dataset:<namespace>:<name>`: what follows `dataset:`.
    Dataset(String),
    /// `job:<namespace>:<name>`: what follows `job:`.
    Job(String),
    /// `run:<runId>`.
    Run(String),
}

impl LineageRequest {
    fn parse(params: &LineageParams, max_depth: u32) -> Result<Self, ApiError> {
        let node_id = params.node_id.as_deref().unwrap_or_default();
        let node = parse_node_id(node_id)?;
        let depth = match params.depth.as_deref() {
            None | Some("") => DEFAULT_DEPTH,
            Some(text) => text.parse::<u32>().map_err(|_| {
                ApiError::invalid("depth", format!("{text:?} is not a non-negative integer"))
            })?,
        }
        .min(max_depth);
        let workspace = match params.workspace.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                Workspace::parse(text)
                    .map_err(|error| ApiError::invalid("workspace", error.to_string()))?,
            ),
        };
        Ok(Self {
            node_id: node_id.to_owned(),
            node,
            depth,
            workspace,
        })
    }
}

fn parse_node_id(node_id: &str) -> Result<RequestedNode, ApiError> {
    const FORMS: &str = "must be dataset:<namespace>:<name>, job:<namespace>:<name> or run:<runId>";
    if node_id.is_empty() {
        return Err(ApiError::invalid(
            "nodeId",
            format!("is required; it {FORMS}"),
        ));
    }
    let malformed = || ApiError::invalid("nodeId", format!("{node_id:?} {FORMS}"));
    let (kind, rest) = node_id.split_once(':').ok_or_else(malformed)?;
    let node = match kind {
        "dataset" => RequestedNode::Dataset(rest.to_owned()),
        "job" => RequestedNode::Job(rest.to_owned()),
        "run" if !rest.is_empty() => RequestedNode::Run(rest.to_owned()),
        _ => return Err(malformed()),
    };
    if let RequestedNode::Dataset(rest) | RequestedNode::Job(rest) = &node
        && splits(rest).next().is_none()
    {
        return Err(malformed());
    }
    Ok(node)
}

/// The ways to read `<namespace>:<name>`: split at each colon with text on
/// both sides, the last colon first (names rarely hold one; namespaces like
/// `postgres://db:5432` often do).
fn splits(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.rmatch_indices(':')
        .map(|(at, _)| (&text[..at], &text[at + 1..]))
        .filter(|(namespace, name)| !namespace.is_empty() && !name.is_empty())
}

/// How much one answer may take.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_nodes: usize,
    max_visits: usize,
}

/// A node of Marquez's graph in one workspace of ours.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum MarquezNode {
    /// Every version of the dataset of this name.
    Dataset(String),
    /// The experiment at this index.
    Job(NodeIndex),
}

/// Which way an edge runs, seen from the node that has it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Side {
    /// The neighbour is the edge's origin.
    In,
    /// The neighbour is the edge's destination.
    Out,
}

/// A Marquez namespace and name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct MarquezName {
    namespace: String,
    name: String,
}

impl MarquezName {
    fn json(&self) -> Value {
        json!({"namespace": self.namespace, "name": self.name})
    }
}

/// The answer to `request` from `graph`, searching the workspaces `visible`
/// admits.
fn marquez_lineage(
    graph: &LineageGraph,
    request: &LineageRequest,
    visible: impl Fn(&Workspace) -> bool,
    limits: Limits,
) -> Result<Value, ApiError> {
    let scope: Vec<Workspace> = match &request.workspace {
        Some(workspace) => vec![workspace.clone()],
        None => graph
            .workspaces()
            .iter()
            .filter(|workspace| visible(workspace))
            .cloned()
            .collect(),
    };
    let (workspace, root) = resolve(graph, request, &scope)?;
    let mut walk = Walk {
        graph,
        workspace: &workspace,
        visits: 0,
        limits,
        truncated: false,
        names: HashMap::new(),
    };
    let lineage = walk.connected(root, request.depth);
    let mut nodes: Vec<(String, Value)> = lineage
        .nodes
        .iter()
        .map(|node| {
            let id = walk.node_id(node);
            let value = walk.node_json(node, &id, &lineage);
            (id, value)
        })
        .collect();
    // Marquez sorts its nodes; so do we, by id, for stable answers.
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(json!({
        "graph": nodes.into_iter().map(|(_, value)| value).collect::<Vec<_>>(),
        "truncated": walk.truncated,
        "appliedSeq": graph.applied_seq(),
    }))
}

/// The workspace and node `request` names, among `scope`'s workspaces.
fn resolve(
    graph: &LineageGraph,
    request: &LineageRequest,
    scope: &[Workspace],
) -> Result<(Workspace, MarquezNode), ApiError> {
    let found = match &request.node {
        RequestedNode::Dataset(rest) => {
            find_named(graph, scope, rest, |workspace, namespace, name| {
                let mut candidates: Vec<String> =
                    native_dataset_name(namespace, name).into_iter().collect();
                if namespace == workspace.as_str() {
                    candidates.push(name.to_owned());
                }
                candidates
                    .into_iter()
                    .filter(|dataset| graph.dataset_versions(workspace, dataset).is_some())
                    .map(MarquezNode::Dataset)
                    .collect()
            })
        }
        RequestedNode::Job(rest) => find_named(graph, scope, rest, |workspace, _, name| {
            let mut candidates: Vec<String> = native_name("job.name", name).into_iter().collect();
            candidates.push(name.to_owned());
            candidates
                .into_iter()
                .filter_map(|experiment| graph.find(&EntityKey::experiment(workspace, &experiment)))
                .map(MarquezNode::Job)
                .collect()
        }),
        RequestedNode::Run(run_id) => {
            let mut found = Vec::new();
            let mut without_job = None;
            for workspace in scope {
                let Some(run) = graph.find(&EntityKey::run(workspace, run_id)) else {
                    continue;
                };
                match job_of(graph, run) {
                    Some(experiment) => {
                        found.push((workspace.clone(), MarquezNode::Job(experiment)))
                    }
                    None => without_job = Some(workspace),
                }
            }
            if let (true, Some(workspace)) = (found.is_empty(), without_job) {
                return Err(ApiError::NotFound(format!(
                    "run {run_id} (workspace {workspace}) belongs to no experiment, so it has no job"
                )));
            }
            found
        }
    };
    match found.as_slice() {
        [] => Err(ApiError::NotFound(match &request.workspace {
            Some(workspace) => format!("no node {} in workspace {workspace}", request.node_id),
            None => format!(
                "no node {} in any workspace the caller may read",
                request.node_id
            ),
        })),
        [one] => Ok(one.clone()),
        several => {
            let workspaces: BTreeSet<&str> = several.iter().map(|(ws, _)| ws.as_str()).collect();
            Err(ApiError::invalid(
                "workspace",
                format!(
                    "node {} is in several workspaces ({}): name one with workspace=",
                    request.node_id,
                    workspaces.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    }
}

/// The nodes a `<namespace>:<name>` id names: for each way to split it
/// (the last colon first), the nodes `lookup` finds in each workspace of
/// `scope` whose Marquez namespace is that namespace, or whose workspace
/// is (a native entity's Marquez name can differ from the id asked for,
/// by OpenLineage's character rule). Nodes whose whole Marquez name is
/// the one asked for win over those; the first split that finds any
/// decides. At most one node per workspace.
fn find_named(
    graph: &LineageGraph,
    scope: &[Workspace],
    rest: &str,
    lookup: impl Fn(&Workspace, &str, &str) -> Vec<MarquezNode>,
) -> Vec<(Workspace, MarquezNode)> {
    let mut fallback = Vec::new();
    for (namespace, name) in splits(rest) {
        let mut exact = Vec::new();
        let mut loose = Vec::new();
        for workspace in scope {
            let mut exact_here = None;
            let mut loose_here = None;
            for node in lookup(workspace, namespace, name) {
                let marquez = marquez_name(graph, workspace, &node);
                if marquez.namespace == namespace && marquez.name == name {
                    exact_here.get_or_insert(node);
                } else if marquez.namespace == namespace || workspace.as_str() == namespace {
                    loose_here.get_or_insert(node);
                }
            }
            if let Some(node) = exact_here {
                exact.push((workspace.clone(), node));
            } else if let Some(node) = loose_here {
                loose.push((workspace.clone(), node));
            }
        }
        if !exact.is_empty() {
            return exact;
        }
        if fallback.is_empty() {
            fallback = loose;
        }
    }
    fallback
}

/// The Marquez namespace and name of a node: its OpenLineage origin, as
/// the translation tagged it, else its workspace and native name.
fn marquez_name(graph: &LineageGraph, workspace: &Workspace, node: &MarquezNode) -> MarquezName {
    let native = |name: &str| MarquezName {
        namespace: workspace.as_str().to_owned(),
        name: name.to_owned(),
    };
    match node {
        MarquezNode::Job(experiment) => {
            let experiment = graph.node(*experiment);
            origin(experiment).unwrap_or_else(|| native(&experiment.key.name))
        }
        MarquezNode::Dataset(dataset) => graph
            .dataset_versions(workspace, dataset)
            .into_iter()
            .flat_map(|versions| versions.values())
            .find_map(|&version| origin(graph.node(version)))
            .unwrap_or_else(|| native(dataset)),
    }
}

/// The OpenLineage namespace and name tagged on an entity, if both are.
fn origin(node: &Node) -> Option<MarquezName> {
    Some(MarquezName {
        namespace: node.tags.get(NAMESPACE_TAG)?.value.as_str().to_owned(),
        name: node.tags.get(NAME_TAG)?.value.as_str().to_owned(),
    })
}

/// The part of Marquez's graph one request reached.
#[derive(Debug, Default)]
struct Lineage {
    /// In the order they were reached.
    nodes: Vec<MarquezNode>,
    /// Every neighbour of each node whose edges were read (every node but
    /// datasets at the full depth, whose edges come from their jobs, and
    /// nodes left unread when the visits ran out).
    neighbours: HashMap<MarquezNode, BTreeSet<(Side, MarquezNode)>>,
    /// The edges between nodes of the answer, as (origin, destination).
    edges: BTreeSet<(MarquezNode, MarquezNode)>,
}

/// A walk over Marquez's graph within one workspace.
struct Walk<'g> {
    graph: &'g LineageGraph,
    workspace: &'g Workspace,
    /// Graph entities and edges looked at so far.
    visits: usize,
    limits: Limits,
    /// Whether a limit cut the answer.
    truncated: bool,
    /// Marquez names already worked out (a dataset's takes a look at its
    /// versions).
    names: HashMap<MarquezNode, MarquezName>,
}

impl Walk<'_> {
    /// The nodes connected to `root` within `depth` hops either way, and
    /// the edges between them.
    fn connected(&mut self, root: MarquezNode, depth: u32) -> Lineage {
        let mut lineage = Lineage::default();
        let mut reached: HashMap<MarquezNode, u32> = HashMap::from([(root.clone(), 0)]);
        let mut queue = VecDeque::from([(root.clone(), 0)]);
        lineage.nodes.push(root);
        while let Some((node, distance)) = queue.pop_front() {
            // Job–dataset graphs are bipartite: two nodes at the full depth
            // are never neighbours, so a dataset there has no edge its
            // jobs do not report. A job there is still read, for the
            // inputs and outputs its data lists.
            if distance >= depth && matches!(node, MarquezNode::Dataset(_)) {
                continue;
            }
            let Some(neighbours) = self.neighbours(&node) else {
                self.truncated = true;
                break;
            };
            if distance < depth {
                for (_, neighbour) in &neighbours {
                    if reached.contains_key(neighbour) {
                        continue;
                    }
                    if reached.len() >= self.limits.max_nodes {
                        self.truncated = true;
                        continue;
                    }
                    reached.insert(neighbour.clone(), distance + 1);
                    queue.push_back((neighbour.clone(), distance + 1));
                    lineage.nodes.push(neighbour.clone());
                }
            }
            lineage.neighbours.insert(node, neighbours);
        }
        for (node, neighbours) in &lineage.neighbours {
            for (side, neighbour) in neighbours {
                if !reached.contains_key(neighbour) {
                    continue;
                }
                lineage.edges.insert(match side {
                    Side::In => (neighbour.clone(), node.clone()),
                    Side::Out => (node.clone(), neighbour.clone()),
                });
            }
        }
        lineage
    }

    /// Counts one visit; false once the visits are spent.
    fn visit(&mut self) -> bool {
        self.visits += 1;
        self.visits <= self.limits.max_visits
    }

    /// Every neighbour of `node` in Marquez's graph, or `None` if the
    /// visits ran out on the way.
    fn neighbours(&mut self, node: &MarquezNode) -> Option<BTreeSet<(Side, MarquezNode)>> {
        let graph = self.graph;
        let mut neighbours = BTreeSet::new();
        match node {
            MarquezNode::Dataset(dataset) => {
                let versions = graph.dataset_versions(self.workspace, dataset);
                for &version in versions.into_iter().flat_map(|versions| versions.values()) {
                    if !self.visit() {
                        return None;
                    }
                    for (_, run) in graph.incoming(version, EdgeKind::Produced) {
                        if !self.visit() {
                            return None;
                        }
                        if let Some(job) = job_of(graph, run) {
                            neighbours.insert((Side::In, MarquezNode::Job(job)));
                        }
                    }
                    for (_, run) in graph.outgoing(version, EdgeKind::Input) {
                        if !self.visit() {
                            return None;
                        }
                        if let Some(job) = job_of(graph, run) {
                            neighbours.insert((Side::Out, MarquezNode::Job(job)));
                        }
                    }
                }
            }
            MarquezNode::Job(experiment) => {
                for (_, run) in graph.incoming(*experiment, EdgeKind::MemberOf) {
                    if !self.visit() {
                        return None;
                    }
                    for (_, input) in graph.incoming(run, EdgeKind::Input) {
                        if !self.visit() {
                            return None;
                        }
                        if let Some(dataset) = dataset_of(graph, input) {
                            neighbours.insert((Side::In, dataset));
                        }
                    }
                    for (_, output) in graph.outgoing(run, EdgeKind::Produced) {
                        if !self.visit() {
                            return None;
                        }
                        if let Some(dataset) = dataset_of(graph, output) {
                            neighbours.insert((Side::Out, dataset));
                        }
                    }
                }
            }
        }
        Some(neighbours)
    }

    fn name(&mut self, node: &MarquezNode) -> MarquezName {
        if let Some(name) = self.names.get(node) {
            return name.clone();
        }
        let name = marquez_name(self.graph, self.workspace, node);
        self.names.insert(node.clone(), name.clone());
        name
    }

    /// `dataset:<namespace>:<name>` or `job:<namespace>:<name>`.
    fn node_id(&mut self, node: &MarquezNode) -> String {
        let name = self.name(node);
        let kind = match node {
            MarquezNode::Dataset(_) => "dataset",
            MarquezNode::Job(_) => "job",
        };
        format!("{kind}:{}:{}", name.namespace, name.name)
    }

    /// One element of the answer's `graph`.
    fn node_json(&mut self, node: &MarquezNode, id: &str, lineage: &Lineage) -> Value {
        let mut in_edges = Vec::new();
        let mut out_edges = Vec::new();
        for (origin, destination) in &lineage.edges {
            if origin == node || destination == node {
                let edge = json!({
                    "origin": self.node_id(origin),
                    "destination": self.node_id(destination),
                });
                if destination == node {
                    in_edges.push(edge);
                } else {
                    out_edges.push(edge);
                }
            }
        }
        let (kind, data) = match node {
            MarquezNode::Dataset(dataset) => ("DATASET", self.dataset_data(dataset)),
            MarquezNode::Job(experiment) => (
                "JOB",
                self.job_data(*experiment, lineage.neighbours.get(node)),
            ),
        };
        json!({
            "id": id,
            "type": kind,
            "data": data,
            "inEdges": in_edges,
            "outEdges": out_edges,
        })
    }

    /// A dataset's `data`, from all its versions.
    fn dataset_data(&mut self, dataset: &str) -> Value {
        let graph = self.graph;
        let name = self.name(&MarquezNode::Dataset(dataset.to_owned()));
        let mut versions: Vec<(EventTime, &str, &Node)> = graph
            .dataset_versions(self.workspace, dataset)
            .into_iter()
            .flat_map(|versions| versions.iter())
            .map(|(version, &index)| {
                let node = graph.node(index);
                (
                    written_at(node).unwrap_or(node.first_occurred_at),
                    version.as_str(),
                    node,
                )
            })
            .collect();
        // Oldest first, so that each facet ends as its newest version has it.
        versions.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut facets = Map::new();
        for (_, _, node) in &versions {
            facets.extend(facets_of(node));
        }
        let fields = facets
            .get("schema")
            .and_then(|schema| schema.get("fields"))
            .filter(|fields| fields.is_array())
            .cloned()
            .unwrap_or_else(|| json!([]));
        let created_at = versions
            .iter()
            .map(|(_, _, node)| node.first_occurred_at)
            .min();
        let updated_at = versions
            .iter()
            .map(|(_, _, node)| last_event_time(node))
            .max();
        let newest = versions.last();
        let last_modified_at = newest.and_then(|(_, _, node)| written_at(node));
        let listed: Vec<&str> = versions
            .iter()
            .rev()
            .take(MAX_VERSIONS_LISTED)
            .map(|(_, version, _)| *version)
            .collect();
        json!({
            "id": name.json(),
            "type": "DB_TABLE",
            "name": name.name,
            "physicalName": name.name,
            "namespace": name.namespace,
            "sourceName": name.namespace,
            "fields": fields,
            "facets": facets,
            "tags": [],
            "createdAt": created_at.map(|time| time.to_string()),
            "updatedAt": updated_at.map(|time| time.to_string()),
            "lastModifiedAt": last_modified_at.map(|time| time.to_string()),
            "description": documentation(&facets),
            "version": newest.map(|(_, version, _)| *version),
            "versions": listed,
            "versionCount": versions.len(),
            "workspace": self.workspace.as_str(),
            "nativeName": dataset,
        })
    }

    /// A job's `data`, from its experiment and runs; `neighbours` are the
    /// datasets its runs read and wrote, if they were read.
    fn job_data(
        &mut self,
        experiment: NodeIndex,
        neighbours: Option<&BTreeSet<(Side, MarquezNode)>>,
    ) -> Value {
        let graph = self.graph;
        let node = graph.node(experiment);
        let name = self.name(&MarquezNode::Job(experiment));
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for (side, dataset) in neighbours.into_iter().flatten() {
            let dataset = self.name(dataset).json();
            match side {
                Side::In => inputs.push(dataset),
                Side::Out => outputs.push(dataset),
            }
        }
        let mut updated_at = last_event_time(node);
        let mut latest: Option<(EventTime, &str, NodeIndex)> = None;
        for (_, run) in graph.incoming(experiment, EdgeKind::MemberOf) {
            let run_node = graph.node(run);
            updated_at = updated_at.max(last_event_time(run_node));
            let candidate = (
                started_at(run_node).unwrap_or(run_node.first_occurred_at),
                run_node.key.name.as_str(),
                run,
            );
            if latest.is_none_or(|latest| (candidate.0, candidate.1) > (latest.0, latest.1)) {
                latest = Some(candidate);
            }
        }
        let facets = facets_of(node);
        let description = match &node.facts {
            Facts::Experiment(Some(created)) if !created.value.description.is_empty() => {
                Value::String(created.value.description.clone())
            }
            _ => documentation(&facets),
        };
        json!({
            "id": name.json(),
            "type": "BATCH",
            "name": name.name,
            "simpleName": name.name,
            "namespace": name.namespace,
            "inputs": inputs,
            "outputs": outputs,
            "facets": facets,
            "latestRun": latest.map(|(_, _, run)| run_json(graph.node(run))),
            "createdAt": node.first_occurred_at.to_string(),
            "updatedAt": updated_at.to_string(),
            "location": null,
            "description": description,
            "workspace": self.workspace.as_str(),
            "experiment": node.key.name,
        })
    }
}

/// The experiment a run belongs to, if any.
fn job_of(graph: &LineageGraph, run: NodeIndex) -> Option<NodeIndex> {
    graph
        .outgoing(run, EdgeKind::MemberOf)
        .next()
        .map(|(_, experiment)| experiment)
}

/// The dataset of a dataset version (runs also read and write artifacts
/// and models, which Marquez's graph has no place for).
fn dataset_of(graph: &LineageGraph, entity: NodeIndex) -> Option<MarquezNode> {
    let key = &graph.node(entity).key;
    (key.kind == EntityKind::DatasetVersion).then(|| MarquezNode::Dataset(key.name.clone()))
}

/// A run as Marquez's `latestRun`.
fn run_json(run: &Node) -> Value {
    let Facts::Run(facts) = &run.facts else {
        return Value::Null;
    };
    // Marquez's run states; a run only referenced so far has not started.
    let state = match facts.status() {
        None => "NEW",
        Some(lineage_core::event::RunStatus::Started) => "RUNNING",
        Some(lineage_core::event::RunStatus::Completed) => "COMPLETED",
        Some(lineage_core::event::RunStatus::Failed) => "FAILED",
        Some(lineage_core::event::RunStatus::Canceled) => "ABORTED",
    };
    let started_at = facts
        .started
        .as_ref()
        .map(|started| started.stamp.occurred_at);
    let ended_at = facts
        .finished
        .as_ref()
        .map(|finished| finished.stamp.occurred_at);
    let duration_ms = match (started_at, ended_at) {
        (Some(start), Some(end)) if end >= start => {
            Some((end.unix_nanos() - start.unix_nanos()) / 1_000_000)
        }
        _ => None,
    };
    json!({
        "id": run.key.name,
        "state": state,
        "createdAt": run.first_occurred_at.to_string(),
        "updatedAt": last_event_time(run).to_string(),
        "startedAt": started_at.map(|time| time.to_string()),
        "endedAt": ended_at.map(|time| time.to_string()),
        "durationMs": duration_ms,
        "facets": facets_of(run),
    })
}

/// Each `openlineage.facet.<name>` tag as `<name>`: its JSON (the text as
/// a string if a producer set such a tag by hand and it is not JSON).
fn facets_of(node: &Node) -> Map<String, Value> {
    node.tags
        .iter()
        .filter_map(|(key, value)| {
            let facet = key.as_str().strip_prefix(FACET_TAG_PREFIX)?;
            let text = value.value.as_str();
            let json =
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
            Some((facet.to_owned(), json))
        })
        .collect()
}

/// The `documentation` facet's description, or null.
fn documentation(facets: &Map<String, Value>) -> Value {
    facets
        .get("documentation")
        .and_then(|facet| facet.get("description"))
        .filter(|description| description.is_string())
        .cloned()
        .unwrap_or(Value::Null)
}

/// When a dataset version was registered (written), if it was.
fn written_at(node: &Node) -> Option<EventTime> {
    match &node.facts {
        Facts::DatasetVersion(Some(registered)) => Some(registered.stamp.occurred_at),
        _ => None,
    }
}

/// When a run started, if its start is known.
fn started_at(node: &Node) -> Option<EventTime> {
    match &node.facts {
        Facts::Run(run) => run
            .started
            .as_ref()
            .map(|started| started.stamp.occurred_at),
        _ => None,
    }
}

/// The latest event time of what the graph holds about an entity: its
/// first reference, its own facts and its tags.
fn last_event_time(node: &Node) -> EventTime {
    let facts = match &node.facts {
        Facts::Experiment(Some(created)) => Some(created.stamp.occurred_at),
        Facts::DatasetVersion(Some(registered)) => Some(registered.stamp.occurred_at),
        Facts::Run(run) => {
            let started = run.started.as_ref().map(|lww| lww.stamp.occurred_at);
            let finished = run.finished.as_ref().map(|lww| lww.stamp.occurred_at);
            started.max(finished)
        }
        _ => None,
    };
    let tags = node
        .tags
        .iter()
        .map(|(_, value)| value.stamp.occurred_at)
        .max();
    node.first_occurred_at
        .max(facts.unwrap_or(EventTime::MIN))
        .max(tags.unwrap_or(EventTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage_proto::openlineage::{OpenLineageEvent, translate};
    use lineage_proto::v1;
    use lineage_proto::validate::validate_event;

    /// Applies proto3-JSON events and translated OpenLineage events, in
    /// order, as the ingest loop does (validated, then applied).
    #[derive(Default)]
    struct GraphBuilder {
        graph: LineageGraph,
        seq: u64,
    }

    impl GraphBuilder {
        /// A native event: `payload` is the name of its payload field.
        fn native(&mut self, workspace: &str, at: &str, payload: &str, fields: Value) {
            let mut event = json!({
                "event_id": format!("e{}", self.seq + 1),
                "workspace": workspace,
                "occurred_at": at,
                "producer": "tests",
                "actor": "tests",
            });
            event[payload] = fields;
            let event: v1::Event = serde_json::from_value(event).expect("a lineage.v1.Event");
            self.apply(&event);
        }

        fn openlineage(&mut self, workspace: &str, event: Value) {
            let bytes = serde_json::to_vec(&event).expect("serializes");
            let parsed = OpenLineageEvent::parse(&bytes).expect("an OpenLineage event");
            let translation = translate(&parsed, workspace, "").expect("translates");
            for event in &translation.events {
                self.apply(event);
            }
        }

        fn apply(&mut self, event: &v1::Event) {
            let event = validate_event(event).expect("a valid event");
            self.seq += 1;
            self.graph.apply(self.seq, &event);
        }
    }

    fn ol_run(event_type: &str, run_id: &str, at: &str) -> Value {
        json!({
            "eventType": event_type,
            "eventTime": at,
            "producer": "https://example.com/tests",
            "run": {"runId": run_id},
            "job": {"namespace": "food_delivery", "name": "etl orders", "facets": {
                "documentation": {"description": "daily orders"}
            }},
            "inputs": [{"namespace": "postgres://db:5432", "name": "public.orders", "facets": {
                "version": {"datasetVersion": "42"},
                "schema": {"fields": [{"name": "id", "type": "int"}]}
            }}],
            "outputs": [{"namespace": "food_delivery", "name": "orders_daily"}]
        })
    }

    /// Credit: `applications-raw` -> prep (credit-data-prep) ->
    /// `applications` -> train (credit-risk-2026, failed). Food delivery:
    /// an OpenLineage job reading `postgres://db:5432/public.orders`.
    /// Insurer: another `applications`, native, read by nobody.
    fn builder() -> GraphBuilder {
        let mut builder = GraphBuilder::default();
        let credit = "credit-lender";
        let experiment =
            json!({"experiment": "credit-data-prep", "description": "Cleaning pipelines"});
        builder.native(
            credit,
            "2026-01-05T09:00:00Z",
            "experiment_created",
            experiment,
        );
        let raw = json!({"dataset": "applications-raw", "version": "1", "uri": "s3://landing/1"});
        builder.native(
            credit,
            "2026-01-07T01:30:00Z",
            "dataset_version_registered",
            raw,
        );
        let prep = json!({"run_id": "prep-1", "experiment": "credit-data-prep"});
        builder.native(credit, "2026-01-07T02:00:00Z", "run_started", prep);
        let inputs = json!({"run_id": "prep-1", "datasets": [{"dataset": "applications-raw", "version": "1"}]});
        builder.native(
            credit,
            "2026-01-07T02:00:40Z",
            "run_inputs_declared",
            inputs,
        );
        let clean = json!({"dataset": "applications", "version": "1", "uri": "s3://clean/1", "produced_by_run_id": "prep-1"});
        builder.native(
            credit,
            "2026-01-07T02:30:00Z",
            "dataset_version_registered",
            clean,
        );
        let finished = json!({"run_id": "prep-1", "status": "COMPLETED"});
        builder.native(credit, "2026-01-07T02:31:00Z", "run_finished", finished);
        let train = json!({"run_id": "train-1", "experiment": "credit-risk-2026"});
        builder.native(credit, "2026-01-08T10:00:00Z", "run_started", train);
        let inputs =
            json!({"run_id": "train-1", "datasets": [{"dataset": "applications", "version": "1"}]});
        builder.native(
            credit,
            "2026-01-08T10:00:10Z",
            "run_inputs_declared",
            inputs,
        );
        let failed = json!({"run_id": "train-1", "status": "FAILED", "error": "out of memory"});
        builder.native(credit, "2026-01-08T11:00:00Z", "run_finished", failed);
        let other = json!({"dataset": "applications", "version": "7", "uri": "s3://insurer/7"});
        builder.native(
            "insurer",
            "2026-01-09T00:00:00Z",
            "dataset_version_registered",
            other,
        );
        builder.openlineage(
            "food_delivery",
            ol_run("START", "ol-run-1", "2026-03-01T10:00:00Z"),
        );
        builder.openlineage(
            "food_delivery",
            ol_run("COMPLETE", "ol-run-1", "2026-03-01T10:05:00Z"),
        );
        builder
    }

    fn graph() -> LineageGraph {
        builder().graph
    }

    const LIMITS: Limits = Limits {
        max_nodes: 1_000,
        max_visits: 100_000,
    };

    fn request(
        node_id: &str,
        depth: Option<&str>,
        workspace: Option<&str>,
    ) -> Result<LineageRequest, ApiError> {
        let params = LineageParams {
            node_id: Some(node_id.to_owned()),
            depth: depth.map(str::to_owned),
            workspace: workspace.map(str::to_owned),
        };
        LineageRequest::parse(&params, 64)
    }

    fn ask(
        graph: &LineageGraph,
        node_id: &str,
        depth: Option<&str>,
        workspace: Option<&str>,
    ) -> Result<Value, ApiError> {
        marquez_lineage(
            graph,
            &request(node_id, depth, workspace)?,
            |_| true,
            LIMITS,
        )
    }

    /// Each node as `id`, and each edge once as `origin -> destination`.
    fn shape(answer: &Value) -> (Vec<String>, Vec<String>) {
        let nodes = answer["graph"].as_array().expect("a graph array");
        let ids = nodes
            .iter()
            .map(|node| node["id"].as_str().expect("an id").to_owned())
            .collect();
        let mut edges = BTreeSet::new();
        for node in nodes {
            for edge in node["inEdges"]
                .as_array()
                .into_iter()
                .chain(node["outEdges"].as_array())
                .flatten()
            {
                edges.insert(format!(
                    "{} -> {}",
                    edge["origin"].as_str().expect("an origin"),
                    edge["destination"].as_str().expect("a destination")
                ));
            }
        }
        (ids, edges.into_iter().collect())
    }

    fn node<'a>(answer: &'a Value, id: &str) -> &'a Value {
        answer["graph"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|node| node["id"] == id))
            .unwrap_or_else(|| panic!("{id} in {answer:#}"))
    }

    #[test]
    fn a_native_dataset_answers_the_lineage_connected_to_it() {
        let graph = graph();
        let answer = ask(
            &graph,
            "dataset:credit-lender:applications",
            None,
            Some("credit-lender"),
        )
        .expect("found");
        assert_eq!(
            shape(&answer),
            (
                vec![
                    "dataset:credit-lender:applications".to_owned(),
                    "dataset:credit-lender:applications-raw".to_owned(),
                    "job:credit-lender:credit-data-prep".to_owned(),
                    "job:credit-lender:credit-risk-2026".to_owned(),
                ],
                vec![
                    "dataset:credit-lender:applications -> job:credit-lender:credit-risk-2026"
                        .to_owned(),
                    "dataset:credit-lender:applications-raw -> job:credit-lender:credit-data-prep"
                        .to_owned(),
                    "job:credit-lender:credit-data-prep -> dataset:credit-lender:applications"
                        .to_owned(),
                ]
            )
        );
        assert_eq!(answer["truncated"], false);
        assert_eq!(answer["appliedSeq"], graph.applied_seq());

        let dataset = &node(&answer, "dataset:credit-lender:applications")["data"];
        assert_eq!(
            dataset["id"],
            json!({"namespace": "credit-lender", "name": "applications"})
        );
        assert_eq!(dataset["type"], "DB_TABLE");
        assert_eq!(dataset["version"], "1");
        assert_eq!(dataset["createdAt"], "2026-01-07T02:30:00Z");
        assert_eq!(dataset["lastModifiedAt"], "2026-01-07T02:30:00Z");
        assert_eq!(dataset["fields"], json!([]));

        let prep = &node(&answer, "job:credit-lender:credit-data-prep")["data"];
        assert_eq!(
            prep["inputs"],
            json!([{"namespace": "credit-lender", "name": "applications-raw"}])
        );
        assert_eq!(
            prep["outputs"],
            json!([{"namespace": "credit-lender", "name": "applications"}])
        );
        assert_eq!(prep["description"], "Cleaning pipelines");
        assert_eq!(prep["latestRun"]["id"], "prep-1");
        assert_eq!(prep["latestRun"]["state"], "COMPLETED");
        assert_eq!(prep["latestRun"]["durationMs"], 31 * 60 * 1000);

        let train = &node(&answer, "job:credit-lender:credit-risk-2026")["data"];
        assert_eq!(train["latestRun"]["state"], "FAILED");
        assert_eq!(train["latestRun"]["startedAt"], "2026-01-08T10:00:00Z");
        assert_eq!(train["latestRun"]["endedAt"], "2026-01-08T11:00:00Z");
    }

    #[test]
    fn depth_counts_hops_and_jobs_at_the_edge_still_list_their_datasets() {
        let graph = graph();
        let answer = ask(
            &graph,
            "dataset:credit-lender:applications",
            Some("1"),
            Some("credit-lender"),
        )
        .expect("found");
        let (ids, edges) = shape(&answer);
        assert_eq!(
            ids,
            [
                "dataset:credit-lender:applications",
                "job:credit-lender:credit-data-prep",
                "job:credit-lender:credit-risk-2026",
            ]
        );
        assert_eq!(edges.len(), 2, "{edges:?}");
        let prep = &node(&answer, "job:credit-lender:credit-data-prep")["data"];
        assert_eq!(
            prep["inputs"],
            json!([{"namespace": "credit-lender", "name": "applications-raw"}])
        );

        let alone = ask(
            &graph,
            "dataset:credit-lender:applications",
            Some("0"),
            Some("credit-lender"),
        )
        .expect("found");
        assert_eq!(
            shape(&alone),
            (
                vec!["dataset:credit-lender:applications".to_owned()],
                vec![]
            )
        );
    }

    #[test]
    fn openlineage_names_resolve_whatever_colons_their_namespace_holds() {
        let graph = graph();
        let answer = ask(
            &graph,
            "dataset:postgres://db:5432:public.orders",
            None,
            None,
        )
        .expect("found");
        assert_eq!(
            shape(&answer),
            (
                vec![
                    "dataset:food_delivery:orders_daily".to_owned(),
                    "dataset:postgres://db:5432:public.orders".to_owned(),
                    "job:food_delivery:etl orders".to_owned(),
                ],
                vec![
                    "dataset:postgres://db:5432:public.orders -> job:food_delivery:etl orders"
                        .to_owned(),
                    "job:food_delivery:etl orders -> dataset:food_delivery:orders_daily".to_owned(),
                ]
            )
        );
        let orders = &node(&answer, "dataset:postgres://db:5432:public.orders")["data"];
        assert_eq!(orders["namespace"], "postgres://db:5432");
        assert_eq!(orders["name"], "public.orders");
        assert_eq!(orders["version"], "42");
        assert_eq!(orders["fields"], json!([{"name": "id", "type": "int"}]));
        assert_eq!(orders["facets"]["version"], json!({"datasetVersion": "42"}));

        let job = &node(&answer, "job:food_delivery:etl orders")["data"];
        assert_eq!(job["description"], "daily orders");
        assert_eq!(
            job["facets"]["documentation"],
            json!({"description": "daily orders"})
        );
        assert_eq!(job["latestRun"]["id"], "ol-run-1");
        assert_eq!(job["latestRun"]["state"], "COMPLETED");
        assert_eq!(job["experiment"], "etl_orders");

        // The job by its OpenLineage name, and by its run.
        for node_id in ["job:food_delivery:etl orders", "run:ol-run-1"] {
            let same = ask(&graph, node_id, None, None).expect("found");
            assert_eq!(shape(&same), shape(&answer), "{node_id}");
        }
    }

    #[test]
    fn a_run_stands_for_its_experiment() {
        let graph = graph();
        let by_run = ask(&graph, "run:train-1", None, None).expect("found");
        let by_job = ask(&graph, "job:credit-lender:credit-risk-2026", None, None).expect("found");
        assert_eq!(shape(&by_run), shape(&by_job));
        assert_eq!(shape(&by_run).0.len(), 4);
    }

    #[test]
    fn malformed_requests_name_their_parameter() {
        for (node_id, depth, field) in [
            ("", None, "nodeId"),
            ("dataset:applications", None, "nodeId"),
            ("job::x", None, "nodeId"),
            ("run:", None, "nodeId"),
            ("model:credit-risk:7", None, "nodeId"),
            ("dataset:credit-lender:applications", Some("-1"), "depth"),
            ("dataset:credit-lender:applications", Some("deep"), "depth"),
        ] {
            match request(node_id, depth, None) {
                Err(ApiError::InvalidArgument { field: named, .. }) => {
                    assert_eq!(named, field, "{node_id} {depth:?}")
                }
                other => panic!("{node_id} {depth:?}: {other:?}"),
            }
        }
        assert!(matches!(
            request("run:r", None, Some("Not A Workspace")),
            Err(ApiError::InvalidArgument { field, .. }) if field == "workspace"
        ));
        assert_eq!(
            request("run:r", Some("100000"), None).expect("valid").depth,
            64
        );
        assert_eq!(
            request("run:r", None, None).expect("valid").depth,
            DEFAULT_DEPTH
        );
    }

    #[test]
    fn unknown_ambiguous_and_hidden_nodes_are_refused() {
        let graph = graph();
        let missing = ask(&graph, "dataset:credit-lender:nope", None, None);
        assert!(
            matches!(&missing, Err(ApiError::NotFound(message)) if message.contains("dataset:credit-lender:nope")),
            "{missing:?}"
        );
        // `insurer` has a native `applications` too, but its Marquez name
        // is `dataset:insurer:applications`: no ambiguity.
        assert!(ask(&graph, "dataset:credit-lender:applications", None, None).is_ok());
        let insurer = ask(&graph, "dataset:insurer:applications", None, None).expect("found");
        assert_eq!(shape(&insurer).0, ["dataset:insurer:applications"]);

        // The same OpenLineage job in two workspaces needs `workspace=`.
        let mut twice = builder();
        twice.openlineage(
            "food-replica",
            ol_run("START", "ol-run-2", "2026-03-02T10:00:00Z"),
        );
        let twice = twice.graph;
        let ambiguous = ask(&twice, "job:food_delivery:etl orders", None, None);
        assert!(
            matches!(&ambiguous, Err(ApiError::InvalidArgument { field, reason })
                if field == "workspace" && reason.contains("food-replica") && reason.contains("food_delivery")),
            "{ambiguous:?}"
        );
        let chosen = ask(
            &twice,
            "job:food_delivery:etl orders",
            None,
            Some("food-replica"),
        )
        .expect("found");
        assert_eq!(
            node(&chosen, "job:food_delivery:etl orders")["data"]["latestRun"]["id"],
            "ol-run-2"
        );

        // A caller who may read only food_delivery finds nothing elsewhere.
        let food_only = |workspace: &Workspace| workspace.as_str() == "food_delivery";
        let request = request("dataset:credit-lender:applications", None, None).expect("valid");
        assert!(matches!(
            marquez_lineage(&twice, &request, food_only, LIMITS),
            Err(ApiError::NotFound(_))
        ));
        let request = request_for("job:food_delivery:etl orders");
        assert!(marquez_lineage(&twice, &request, food_only, LIMITS).is_ok());
    }

    fn request_for(node_id: &str) -> LineageRequest {
        request(node_id, None, None).expect("valid")
    }

    #[test]
    fn limits_cut_the_answer_and_say_so() {
        let graph = graph();
        let request = request_for("dataset:credit-lender:applications");
        let few_nodes = Limits {
            max_nodes: 2,
            ..LIMITS
        };
        let answer = marquez_lineage(&graph, &request, |_| true, few_nodes).expect("found");
        assert_eq!(answer["truncated"], true);
        let (ids, edges) = shape(&answer);
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(edges.len(), 1, "{edges:?}");

        let few_visits = Limits {
            max_visits: 1,
            ..LIMITS
        };
        let answer = marquez_lineage(&graph, &request, |_| true, few_visits).expect("found");
        assert_eq!(answer["truncated"], true);
        assert_eq!(shape(&answer).0, ["dataset:credit-lender:applications"]);
    }

    #[test]
    fn namespaces_split_at_their_last_colon_first() {
        let found: Vec<_> = splits("postgres://db:5432:public.orders").collect();
        assert_eq!(
            found,
            [
                ("postgres://db:5432", "public.orders"),
                ("postgres://db", "5432:public.orders"),
                ("postgres", "//db:5432:public.orders"),
            ]
        );
        assert_eq!(splits(":x").count(), 0);
        assert_eq!(splits("x:").count(), 0);
    }

    /// Through the router: the JSON of an answer and of Marquez-shaped
    /// errors, and readiness.
    #[tokio::test]
    async fn the_route_answers_json_and_marquez_errors() {
        use std::sync::Arc;
        use tower_service::Service as _;

        let dir = tempfile::tempdir().expect("temp dir");
        let log = lineage_log::Log::open(dir.path(), lineage_log::LogOptions::default())
            .expect("log opens");
        let shared = Arc::new(crate::state::Shared::default());
        *shared.graph_mut() = graph();
        let mut router = super::super::router(HttpState {
            shared: shared.clone(),
            log: log.reader(),
            config: Arc::new(crate::config::Config::for_tests(
                "nats://127.0.0.1:1",
                dir.path().into(),
            )),
            access: crate::auth::Access::open(),
            nats: Arc::default(),
        });
        let mut get = async |path: &str| {
            let request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("a valid request");
            let response = router.call(request).await.expect("infallible");
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .expect("a body");
            (
                status,
                serde_json::from_slice::<Value>(&body).expect("JSON"),
            )
        };

        let (status, body) = get("/api/v1/lineage?nodeId=run:prep-1").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], 503);
        shared.set_ready();

        let (status, body) =
            get("/api/v1/lineage?nodeId=dataset%3Acredit-lender%3Aapplications&depth=1").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["graph"].as_array().map(Vec::len), Some(3));

        let (status, body) = get("/api/v1/lineage?nodeId=job:nowhere:nothing").await;
        assert_eq!((status, &body["code"]), (404, &json!(404)), "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("job:nowhere:nothing")),
            "{body}"
        );

        let (status, body) = get("/api/v1/lineage?nodeId=run:prep-1&depth=x").await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("depth:")),
            "{body}"
        );

        let (status, body) = get("/api/v1/lineage").await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("nodeId:")),
            "{body}"
        );
    }
}
