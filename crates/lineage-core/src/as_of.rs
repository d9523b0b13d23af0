//! The graph as it stood at an earlier moment, read from the live graph
//! without replaying anything: what the service knew once it had logged a
//! given sequence ([`Cut::Logged`]), or what had happened by a given event
//! time, as known now ([`Cut::Occurred`]).
//!
//! A view answers exactly what a fresh projection of the log's records that
//! pass the cut would answer (the records as the log holds them now, so an
//! erased value stays erased in every view). It can, because the graph
//! keeps, for everything it holds, the log sequence and event time of the
//! events that stated it:
//! - a node exists from the first event that referenced it
//!   (`Node::first_seq`, `Node::first_occurred_at`);
//! - a register's winner in the view is the greatest stamp among the
//!   values offered by events that pass the cut: the current winner if it
//!   passes (it has the greatest stamp of all), else one of the values the
//!   graph keeps as [`Displaced`];
//! - an edge that a register's value implies (a run's environment, a model
//!   version's source run...) holds in the view when the view's winner of
//!   that register implies it, so an edge retired and brought back answers
//!   right at every point; the edges of offers that never won are kept,
//!   retired, for views whose winner they are;
//! - an edge no register owns (a run's inputs, a run's artifacts) holds
//!   once the first event that stated it passes the cut;
//! - metric points, flags, stage changes and redactions carry their
//!   event's sequence and time.
//!
//! The present ([`Cut::Now`]) borrows everything as it is: queries of the
//! present pay one comparison per edge for views existing.

use std::borrow::Cow;
use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};

use crate::event::{EventTime, Stamp};
use crate::graph::{
    CriteriaFacts, DatasetFacts, DeploymentFacts, Displaced, Edge, EdgeEnds, EdgeKind, Facts,
    LineageGraph, Lww, MetricPointFacts, MetricSeries, Name, Node, Registers, RegistrationFacts,
    RunFacts, RunStartFacts, StampRef,
};
use crate::id::{EntityKey, EntityKind, Workspace};

/// Which records of the log a view is made of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cut {
    /// Every record applied.
    Now,
    /// The records up to and including this log sequence: what the service
    /// knew then.
    Logged(u64),
    /// The records of events that occurred at or before this time: what had
    /// happened by then, as known now.
    Occurred(EventTime),
}

impl Cut {
    /// Whether a record at `seq` about an event of `occurred_at` is in the
    /// view.
    pub fn admits(self, seq: u64, occurred_at: EventTime) -> bool {
        match self {
            Cut::Now => true,
            Cut::Logged(last) => seq <= last,
            Cut::Occurred(by) => occurred_at <= by,
        }
    }

    fn admits_value<T>(self, value: &Lww<T>) -> bool {
        self.admits(value.seq, value.stamp.occurred_at)
    }
}

/// The graph seen through a [`Cut`]; every query reads the graph through one.
#[derive(Clone, Copy, Debug)]
pub struct AsOf<'g> {
    graph: &'g LineageGraph,
    cut: Cut,
}

impl LineageGraph {
    /// The graph as of `cut`.
    pub fn as_of(&self, cut: Cut) -> AsOf<'_> {
        AsOf { graph: self, cut }
    }

    /// The graph as it is.
    pub fn present(&self) -> AsOf<'_> {
        self.as_of(Cut::Now)
    }
}

impl<'g> AsOf<'g> {
    pub fn graph(&self) -> &'g LineageGraph {
        self.graph
    }

    pub fn cut(&self) -> Cut {
        self.cut
    }

    /// The log sequence the view's answers stand at: the cut's, for a view
    /// of what was logged by then, else the last applied.
    pub fn answered_seq(&self) -> u64 {
        match self.cut {
            Cut::Logged(last) => last.min(self.graph.applied_seq()),
            Cut::Now | Cut::Occurred(_) => self.graph.applied_seq(),
        }
    }

    /// The promotion criteria a model has in the view: the greatest stamp
    /// among those the view's records set.
    pub fn promotion_criteria(
        &self,
        workspace: &Workspace,
        model: &str,
    ) -> Option<(&'g Stamp, &'g CriteriaFacts)> {
        self.graph
            .promotion_criteria(workspace, model)?
            .iter()
            .rev()
            .find(|(stamp, facts)| self.cut.admits(facts.seq, stamp.occurred_at))
    }

    /// Whether the entity exists in the view.
    pub fn contains(&self, index: NodeIndex) -> bool {
        let node = self.graph.node(index);
        self.cut.admits(node.first_seq, node.first_occurred_at)
    }

    /// The node for a key, if the entity exists in the view.
    pub fn find(&self, key: &EntityKey) -> Option<NodeIndex> {
        self.graph.find(key).filter(|&index| self.contains(index))
    }

    /// A node's identity, the same in every view.
    pub fn key(&self, index: NodeIndex) -> &'g EntityKey {
        &self.graph.node(index).key
    }

    /// A node as the view sees it: borrowed in the present, otherwise a copy
    /// holding only what the view's records stated.
    pub fn node(&self, index: NodeIndex) -> Cow<'g, Node> {
        let node = self.graph.node(index);
        match self.cut {
            Cut::Now => Cow::Borrowed(node),
            _ => Cow::Owned(self.resolve(index, node)),
        }
    }

    /// An edge's ends and data as the view sees them: an edge that holds in
    /// a past view holds there, retired later or not.
    pub fn edge(&self, index: EdgeIndex) -> (NodeIndex, NodeIndex, Cow<'g, Edge>) {
        let (from, to, edge) = self.graph.edge(index);
        match self.cut {
            Cut::Now => (from, to, Cow::Borrowed(edge)),
            _ => {
                let mut held = edge.clone();
                held.reactivate();
                (from, to, Cow::Owned(held))
            }
        }
    }

    /// Whether an edge holds in the view.
    pub fn holds(&self, index: EdgeIndex) -> bool {
        let (from, to, edge) = self.graph.edge(index);
        self.edge_holds(from, to, edge)
    }

    fn edge_holds(&self, from: NodeIndex, to: NodeIndex, edge: &Edge) -> bool {
        match self.cut {
            Cut::Now => return edge.is_active(),
            Cut::Logged(last) if edge.first_seq() > last => return false,
            Cut::Logged(_) | Cut::Occurred(_) => {}
        }
        match owner(edge.kind(), from, to, self.graph) {
            Some(owner) => self.implied_edges(owner).contains(&(from, to, edge.kind())),
            // An artifact's producing run is known wherever the artifact is.
            None if edge.kind() == EdgeKind::Produced => self.contains(to),
            None => self.cut.admits(edge.first_seq(), edge.first_occurred_at),
        }
    }

    /// Edges that hold at a node in one direction, as (edge, the other
    /// end, data).
    pub fn edges_of(
        &self,
        node: NodeIndex,
        direction: Direction,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex, &'g Edge)> + use<'g> {
        let view = *self;
        self.graph
            .all_edges_of(node, direction)
            .filter(move |&(_, other, edge)| {
                let (from, to) = match direction {
                    Direction::Outgoing => (node, other),
                    Direction::Incoming => (other, node),
                };
                view.edge_holds(from, to, edge)
            })
    }

    /// Edges of one kind that hold arriving at a node, as (edge, source).
    pub fn incoming(
        &self,
        node: NodeIndex,
        kind: EdgeKind,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + use<'g> {
        self.edges_of(node, Direction::Incoming)
            .filter(move |(_, _, edge)| edge.kind() == kind)
            .map(|(index, other, _)| (index, other))
    }

    /// Edges of one kind that hold leaving a node, as (edge, target).
    pub fn outgoing(
        &self,
        node: NodeIndex,
        kind: EdgeKind,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + use<'g> {
        self.edges_of(node, Direction::Outgoing)
            .filter(move |(_, _, edge)| edge.kind() == kind)
            .map(|(index, other, _)| (index, other))
    }

    /// The greatest stamp among the values the view admits: the current
    /// winner's, when the view admits it (no value has a greater stamp).
    fn winner<'a, T: 'a>(
        &self,
        current: Option<&'a Lww<T>>,
        displaced: impl Iterator<Item = &'a Lww<T>>,
    ) -> Option<&'a Lww<T>> {
        match current {
            Some(current) if self.cut.admits_value(current) => Some(current),
            _ => displaced
                .filter(|value| self.cut.admits_value(value))
                .max_by(|a, b| a.stamp.cmp(&b.stamp)),
        }
    }

    /// The edges the view's winning value of `owner`'s edge-owning
    /// register implies.
    fn implied_edges(&self, owner: NodeIndex) -> Vec<EdgeEnds> {
        let node = self.graph.node(owner);
        let ws = &node.key.workspace;
        let displaced = self.graph.displaced(owner);
        let find = |key: EntityKey| self.graph.find(&key);
        let mut edges = Vec::new();
        match &node.facts {
            Facts::Run(run) => {
                let started = self.winner(
                    run.started.as_ref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::RunStart(value) => Some(&**value),
                        _ => None,
                    }),
                );
                if let Some(started) = started {
                    let facts: &RunStartFacts = &started.value;
                    if let Some(experiment) = &facts.experiment
                        && let Some(experiment) = find(EntityKey::experiment(ws, experiment))
                    {
                        edges.push((owner, experiment, EdgeKind::MemberOf));
                    }
                    if let Some(parent) = &facts.parent_run_id
                        && let Some(parent) = find(EntityKey::run(ws, parent))
                    {
                        edges.push((parent, owner, EdgeKind::ParentOf));
                    }
                    if let Some(environment) = &facts.environment
                        && let Some(environment) = find(EntityKey::environment(
                            ws,
                            &environment.name,
                            &environment.version,
                        ))
                    {
                        edges.push((environment, owner, EdgeKind::RanIn));
                    }
                    if let Some(compute) = &facts.compute_target
                        && let Some(compute) = find(EntityKey::compute(ws, compute))
                    {
                        edges.push((compute, owner, EdgeKind::RanOn));
                    }
                }
            }
            Facts::DatasetVersion(registered) => {
                let registered = self.winner(
                    registered.as_deref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Dataset(value) => Some(&**value),
                        _ => None,
                    }),
                );
                if let Some(registered) = registered {
                    let facts: &DatasetFacts = &registered.value;
                    for parent in &facts.derived_from {
                        if let Some(parent) = find(EntityKey::dataset_version(
                            ws,
                            &parent.dataset,
                            &parent.version,
                        )) {
                            edges.push((parent, owner, EdgeKind::Derived));
                        }
                    }
                    if let Some(run) = &facts.produced_by_run_id
                        && let Some(run) = find(EntityKey::run(ws, run))
                    {
                        edges.push((run, owner, EdgeKind::Produced));
                    }
                }
            }
            Facts::ModelVersion(model) => {
                let registered = self.winner(
                    model.registered.as_ref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Registration(value) => Some(&**value),
                        _ => None,
                    }),
                );
                if let Some(registered) = registered {
                    let facts: &RegistrationFacts = &registered.value;
                    if let Some(run) = find(EntityKey::run(ws, &facts.source_run_id)) {
                        edges.push((run, owner, EdgeKind::Registered));
                    }
                    if let Some(artifact) = &facts.artifact_name
                        && let Some(artifact) =
                            find(EntityKey::artifact(ws, &facts.source_run_id, artifact))
                    {
                        edges.push((artifact, owner, EdgeKind::Packaged));
                    }
                }
            }
            Facts::Endpoint(deployed) => {
                let deployed = self.winner(
                    deployed.as_deref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Deployment(value) => Some(&**value),
                        _ => None,
                    }),
                );
                if let Some(deployed) = deployed {
                    let facts: &DeploymentFacts = &deployed.value;
                    if let Some(model) =
                        find(EntityKey::model_version(ws, &facts.model, &facts.version))
                    {
                        edges.push((model, owner, EdgeKind::Deployed));
                    }
                }
            }
            Facts::Experiment(_) | Facts::Artifact(_) | Facts::Environment | Facts::Compute => {}
        }
        edges
    }

    /// A copy of `node` holding what the view's records stated.
    fn resolve(&self, index: NodeIndex, node: &Node) -> Node {
        let displaced = self.graph.displaced(index);
        let cut = self.cut;
        let tags = self.registers(
            &node.tags,
            displaced.iter().filter_map(|d| match d {
                Displaced::Tag(key, value) => Some((key, value)),
                _ => None,
            }),
        );
        let flags = node
            .flags
            .iter()
            .filter(|(_, flag)| cut.admits(flag.seq, flag.flagged_at))
            .map(|(id, flag)| (id.clone(), flag.clone()))
            .collect();
        let redactions: Vec<_> = node
            .redactions()
            .iter()
            .filter(|r| cut.admits(r.seq, r.requested_at))
            .cloned()
            .collect();
        let facts = match &node.facts {
            Facts::Experiment(created) => Facts::Experiment(
                self.winner(
                    created.as_deref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Experiment(value) => Some(&**value),
                        _ => None,
                    }),
                )
                .cloned()
                .map(Box::new),
            ),
            Facts::Run(run) => Facts::Run(Box::new(self.run(run, displaced))),
            Facts::DatasetVersion(registered) => Facts::DatasetVersion(
                self.winner(
                    registered.as_deref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Dataset(value) => Some(&**value),
                        _ => None,
                    }),
                )
                .cloned()
                .map(Box::new),
            ),
            Facts::Artifact(logged) => Facts::Artifact(
                self.winner(
                    logged.as_deref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Artifact(value) => Some(&**value),
                        _ => None,
                    }),
                )
                .cloned()
                .map(Box::new),
            ),
            Facts::ModelVersion(model) => {
                let mut model = model.clone();
                model.registered = self
                    .winner(
                        model.registered.as_ref(),
                        displaced.iter().filter_map(|d| match d {
                            Displaced::Registration(value) => Some(&**value),
                            _ => None,
                        }),
                    )
                    .cloned();
                model
                    .stage_changes
                    .retain(|stamp, change| cut.admits(change.seq, stamp.occurred_at));
                Facts::ModelVersion(model)
            }
            Facts::Endpoint(deployed) => Facts::Endpoint(
                self.winner(
                    deployed.as_deref(),
                    displaced.iter().filter_map(|d| match d {
                        Displaced::Deployment(value) => Some(&**value),
                        _ => None,
                    }),
                )
                .cloned()
                .map(Box::new),
            ),
            Facts::Environment => Facts::Environment,
            Facts::Compute => Facts::Compute,
        };
        Node {
            key: node.key.clone(),
            first_seq: node.first_seq,
            first_occurred_at: node.first_occurred_at,
            facts,
            tags,
            flags,
            redactions: (!redactions.is_empty()).then(|| Box::new(redactions)),
        }
    }

    /// String registers as the view's records left them.
    fn registers<'a>(
        &self,
        current: &'a Registers,
        displaced: impl Iterator<Item = (&'a Name, &'a Lww<Name>)>,
    ) -> Registers {
        let mut offers: BTreeMap<&Name, Vec<&Lww<Name>>> = BTreeMap::new();
        for (key, value) in current.iter() {
            offers.entry(key).or_default().push(value);
        }
        for (key, value) in displaced {
            offers.entry(key).or_default().push(value);
        }
        let entries = offers
            .into_iter()
            .filter_map(|(key, values)| {
                let winner = values
                    .into_iter()
                    .filter(|value| self.cut.admits_value(value))
                    .max_by(|a, b| a.stamp.cmp(&b.stamp))?;
                Some((key.clone(), winner.clone()))
            })
            .collect();
        Registers::from_sorted(entries)
    }

    /// A run's facts as the view's records left them.
    fn run(&self, run: &RunFacts, displaced: &[Displaced]) -> RunFacts {
        let started = self.winner(
            run.started.as_ref(),
            displaced.iter().filter_map(|d| match d {
                Displaced::RunStart(value) => Some(&**value),
                _ => None,
            }),
        );
        let finished = self.winner(
            run.finished.as_ref(),
            displaced.iter().filter_map(|d| match d {
                Displaced::RunFinish(value) => Some(&**value),
                _ => None,
            }),
        );
        let params = self.registers(
            &run.params,
            displaced.iter().filter_map(|d| match d {
                Displaced::Param(key, value) => Some((key, value)),
                _ => None,
            }),
        );
        let metrics = run
            .metrics
            .iter()
            .filter_map(|series| {
                let replaced = displaced.iter().filter_map(|d| match d {
                    Displaced::Metric(key, point) if key == series.name() => Some(*point),
                    _ => None,
                });
                self.series(series, replaced)
            })
            .collect();
        RunFacts {
            started: started.cloned(),
            finished: finished.cloned(),
            params,
            metrics,
        }
    }

    /// A metric series as the view's records left it; `None` if none of
    /// its points were logged in the view.
    fn series(
        &self,
        series: &MetricSeries,
        displaced: impl Iterator<Item = MetricPointFacts>,
    ) -> Option<MetricSeries> {
        let stamps = &self.graph.point_stamps;
        let stamp_of = |point: &MetricPointFacts| -> StampRef<'g> { stamps.get(point.stamp) };
        let admitted = |point: &MetricPointFacts| {
            self.cut
                .admits(stamps.seq(point.stamp), stamp_of(point).occurred_at)
        };
        let mut displaced = displaced.peekable();
        if displaced.peek().is_none() && series.points().all(|point| admitted(&point)) {
            // Nothing re-logged and nothing later: the series as it is.
            return Some(series.clone());
        }
        let mut kept: BTreeMap<(i64, EventTime), MetricPointFacts> = BTreeMap::new();
        for point in series.points().chain(displaced) {
            let (seq, stamp) = (stamps.seq(point.stamp), stamp_of(&point));
            if !self.cut.admits(seq, stamp.occurred_at) {
                continue;
            }
            let at = (point.step, point.timestamp);
            match kept.get(&at) {
                Some(held) if stamp_of(held) >= stamp => {}
                _ => {
                    kept.insert(at, point);
                }
            }
        }
        MetricSeries::from_sorted(series.name().clone(), kept.into_values())
    }
}

/// The node whose register implies an edge of this kind between these ends;
/// `None` for edges no register owns (inputs, and an artifact's producing
/// run, which its name states).
fn owner(
    kind: EdgeKind,
    from: NodeIndex,
    to: NodeIndex,
    graph: &LineageGraph,
) -> Option<NodeIndex> {
    match kind {
        EdgeKind::Input => None,
        EdgeKind::MemberOf => Some(from),
        EdgeKind::Produced if graph.node(to).key.kind == EntityKind::Artifact => None,
        EdgeKind::Produced
        | EdgeKind::Derived
        | EdgeKind::Registered
        | EdgeKind::Packaged
        | EdgeKind::Deployed
        | EdgeKind::RanIn
        | EdgeKind::RanOn
        | EdgeKind::ParentOf => Some(to),
    }
}
