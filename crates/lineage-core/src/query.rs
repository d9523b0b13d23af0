//! The questions the graph answers: provenance and impact traversals, the
//! runs that used a dataset, and a model version's trace.
//!
//! Every answer is bounded: traversals by depth, by the nodes they return and
//! by the nodes they visit; pages by their size. Hitting a bound marks the
//! answer truncated; it is never an error.

use std::collections::VecDeque;

use hashbrown::HashMap;

use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};

use crate::as_of::{AsOf, Cut};
use crate::graph::{EdgeKind, Facts, LineageGraph};
use crate::id::{EntityKey, EntityKind, Workspace};

/// A set of edge kinds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EdgeKinds(u16);

impl EdgeKinds {
    /// What traversals follow by default: everything but experiment
    /// membership, which would connect every run of an experiment.
    pub fn lineage() -> Self {
        EdgeKinds::of(
            EdgeKind::ALL
                .into_iter()
                .filter(|kind| *kind != EdgeKind::MemberOf),
        )
    }

    pub fn of(kinds: impl IntoIterator<Item = EdgeKind>) -> Self {
        EdgeKinds(kinds.into_iter().fold(0, |bits, kind| bits | kind.bit()))
    }

    pub fn contains(self, kind: EdgeKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// A set of entity kinds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NodeKinds(u16);

impl NodeKinds {
    pub fn all() -> Self {
        NodeKinds::of(EntityKind::ALL)
    }

    pub fn of(kinds: impl IntoIterator<Item = EntityKind>) -> Self {
        NodeKinds(kinds.into_iter().fold(0, |bits, kind| bits | kind.bit()))
    }

    pub fn contains(self, kind: EntityKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// Which way a traversal walks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Walk {
    /// Against the edges: what the root came from.
    Provenance,
    /// Along the edges: what the root touched.
    Impact,
}

/// The shape and bounds of one traversal.
#[derive(Clone, Copy, Debug)]
pub struct TraversalSpec {
    pub walk: Walk,
    /// Hops from the root; nodes further away are not visited.
    pub max_depth: u32,
    pub edge_kinds: EdgeKinds,
    /// Kinds of node to return; the walk passes through the others.
    pub node_kinds: NodeKinds,
    /// The most nodes to return, root included.
    pub max_nodes: usize,
    /// The most edges to return.
    pub max_edges: usize,
    /// The most nodes to visit, returned or not: bounds the work of a
    /// traversal whose node filter returns little of what it walks.
    pub max_visits: usize,
}

/// A traversal's answer.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Subgraph {
    /// The root first, then breadth-first order.
    pub nodes: Vec<NodeIndex>,
    /// Edges whose both ends are in `nodes`.
    pub edges: Vec<EdgeIndex>,
    /// For each of `edges`, the positions of its (from, to) ends in
    /// `nodes`, so an answer can name them without a lookup.
    pub edge_ends: Vec<(u32, u32)>,
    /// Whether a bound cut the answer.
    pub truncated: bool,
    /// The nodes the walk reached, returned or not, root included: the
    /// work the answer took, so a caller can tell whether `max_visits` was
    /// what stopped it.
    pub visits: usize,
}

impl LineageGraph {
    /// [`AsOf::traverse`] of the present.
    pub fn traverse(&self, root: NodeIndex, spec: &TraversalSpec) -> Subgraph {
        self.present().traverse(root, spec)
    }

    /// [`AsOf::runs_using_dataset`] of the present.
    pub fn runs_using_dataset(
        &self,
        workspace: &Workspace,
        dataset: &str,
        version: Option<&str>,
        after: Option<&str>,
        page_size: usize,
    ) -> (Vec<NodeIndex>, bool) {
        self.present()
            .runs_using_dataset(workspace, dataset, version, after, page_size)
    }

    /// [`AsOf::trace_model`] of the present.
    pub fn trace_model(&self, model: NodeIndex, upstream: &TraversalSpec) -> Option<ModelTrace> {
        self.present().trace_model(model, upstream)
    }
}

impl AsOf<'_> {
    /// Walks from `root` (which the view must contain) breadth-first within
    /// the spec's bounds, along the edges that hold in the view.
    pub fn traverse(&self, root: NodeIndex, spec: &TraversalSpec) -> Subgraph {
        let direction = match spec.walk {
            Walk::Provenance => Direction::Incoming,
            Walk::Impact => Direction::Outgoing,
        };
        // hashbrown's default hasher (foldhash), not std's SipHash: the keys
        // are the graph's own indexes, and hashing them is most of a visit.
        let mut depth_of: HashMap<NodeIndex, u32> = HashMap::new();
        let mut queue = VecDeque::new();
        let mut answer = Subgraph::default();
        let mut walked_edges = Vec::new();
        // Each returned node's position in `answer.nodes`.
        let mut returned: HashMap<NodeIndex, u32> = HashMap::new();

        depth_of.insert(root, 0);
        queue.push_back(root);
        answer.nodes.push(root);
        returned.insert(root, 0);

        'walk: while let Some(node) = queue.pop_front() {
            let depth = depth_of[&node];
            for (edge, next, data) in self.edges_of(node, direction) {
                if !spec.edge_kinds.contains(data.kind()) {
                    continue;
                }
                if depth_of.contains_key(&next) {
                    // Already reached: the edge still belongs in the answer.
                    walked_edges.push(edge);
                    continue;
                }
                if depth >= spec.max_depth {
                    // There is more beyond the depth bound.
                    answer.truncated = true;
                    continue;
                }
                walked_edges.push(edge);
                if depth_of.len() >= spec.max_visits {
                    answer.truncated = true;
                    break 'walk;
                }
                depth_of.insert(next, depth + 1);
                if spec.node_kinds.contains(self.key(next).kind) {
                    if answer.nodes.len() >= spec.max_nodes {
                        answer.truncated = true;
                        break 'walk;
                    }
                    returned.insert(next, answer.nodes.len() as u32);
                    answer.nodes.push(next);
                }
                queue.push_back(next);
            }
        }

        answer.visits = depth_of.len();
        for edge in walked_edges {
            let (from, to, _) = self.graph().edge(edge);
            if let (Some(&from), Some(&to)) = (returned.get(&from), returned.get(&to)) {
                if answer.edges.len() >= spec.max_edges {
                    answer.truncated = true;
                    break;
                }
                answer.edges.push(edge);
                answer.edge_ends.push((from, to));
            }
        }
        answer
    }

    /// One page of the runs that declared `dataset` (at `version`, or any
    /// version when `None`) as an input in the view, ordered by run id,
    /// starting after the run id `after`. Returns the page and whether
    /// more follow.
    pub fn runs_using_dataset(
        &self,
        workspace: &Workspace,
        dataset: &str,
        version: Option<&str>,
        after: Option<&str>,
        page_size: usize,
    ) -> (Vec<NodeIndex>, bool) {
        let graph = self.graph();
        let version_node = match version {
            None => None,
            Some(version) => {
                match self.find(&EntityKey::dataset_version(workspace, dataset, version)) {
                    Some(node) => Some(node),
                    None => return (Vec::new(), false),
                }
            }
        };
        let runs = match version_node {
            None => graph.runs_by_dataset(workspace, dataset),
            Some(node) => graph.runs_by_dataset_version(node),
        };
        let Some(runs) = runs else {
            return (Vec::new(), false);
        };
        let remaining = match after {
            Some(after) => {
                runs.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => runs.range::<str, _>(..),
        };
        let mut remaining = remaining.map(|(_, &run)| run);
        if self.cut() == Cut::Now {
            let page: Vec<NodeIndex> = remaining.by_ref().take(page_size).collect();
            return (page, remaining.next().is_some());
        }
        // The index holds every run that ever declared the input; a past
        // view keeps those whose declaration it admits.
        let used_in_view = |run: NodeIndex| match version_node {
            Some(version) => self
                .incoming(run, EdgeKind::Input)
                .any(|(_, v)| v == version),
            None => self.incoming(run, EdgeKind::Input).any(|(_, input)| {
                let key = self.key(input);
                key.kind == EntityKind::DatasetVersion
                    && key.name == dataset
                    && key.workspace == *workspace
            }),
        };
        let mut remaining = remaining.filter(|&run| used_in_view(run));
        let page: Vec<NodeIndex> = remaining.by_ref().take(page_size).collect();
        let more = remaining.next().is_some();
        (page, more)
    }

    /// Where a model version came from: its source run and what that run
    /// read and ran on, plus the whole bounded upstream subgraph. `None` when
    /// the model version is only a placeholder (never registered).
    pub fn trace_model(&self, model: NodeIndex, upstream: &TraversalSpec) -> Option<ModelTrace> {
        let node = self.node(model);
        let Facts::ModelVersion(facts) = &node.facts else {
            return None;
        };
        let registration = facts.registered.as_ref()?;
        let source_run = self.find(&EntityKey::run(
            &node.key.workspace,
            &registration.value.source_run_id,
        ));
        drop(node);
        let (inputs, environment, compute) = match source_run {
            Some(run) => (
                self.incoming(run, EdgeKind::Input)
                    .map(|(_, input)| input)
                    .collect(),
                self.incoming(run, EdgeKind::RanIn)
                    .map(|(_, env)| env)
                    .next(),
                self.incoming(run, EdgeKind::RanOn)
                    .map(|(_, compute)| compute)
                    .next(),
            ),
            None => (Vec::new(), None, None),
        };
        Some(ModelTrace {
            model,
            source_run,
            inputs,
            environment,
            compute,
            upstream: self.traverse(model, upstream),
        })
    }
}

/// The answer to "where did this model version come from".
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModelTrace {
    pub model: NodeIndex,
    pub source_run: Option<NodeIndex>,
    /// The source run's direct inputs.
    pub inputs: Vec<NodeIndex>,
    pub environment: Option<NodeIndex>,
    pub compute: Option<NodeIndex>,
    pub upstream: Subgraph,
}
