//! The canonical digest of a projection: equal for equal lineage, whatever
//! the arrival order and however often events arrived.
//!
//! It covers every node's identity and facts (with the stamps that decided
//! them), the redactions recorded on each node, and every active edge, in
//! sorted order, and each model's current promotion criteria. It leaves out what depends on arrival by nature: log
//! sequence numbers (a redaction's included) and retired edges.

use crate::event::{EventTime, Stamp};
use crate::graph::{Facts, LineageGraph, Lww, Name, Node, StampRef, StampTable};
use crate::id::EntityKey;

/// Writes values with a length or tag before each, so that no two different
/// states can write the same bytes.
struct Canonical(blake3::Hasher);

impl Canonical {
    fn tag(&mut self, tag: u8) {
        self.0.update(&[tag]);
    }

    fn u64(&mut self, value: u64) {
        self.0.update(&value.to_be_bytes());
    }

    fn i64(&mut self, value: i64) {
        self.0.update(&value.to_be_bytes());
    }

    fn f64(&mut self, value: f64) {
        self.0.update(&value.to_bits().to_be_bytes());
    }

    fn str(&mut self, value: &str) {
        self.u64(value.len() as u64);
        self.0.update(value.as_bytes());
    }

    fn opt_str(&mut self, value: Option<&str>) {
        match value {
            None => self.tag(0),
            Some(value) => {
                self.tag(1);
                self.str(value);
            }
        }
    }

    fn time(&mut self, value: EventTime) {
        self.i64(value.unix_nanos());
    }

    fn stamp(&mut self, stamp: &Stamp) {
        self.stamp_ref(stamp.into());
    }

    fn stamp_ref(&mut self, stamp: StampRef<'_>) {
        self.time(stamp.occurred_at);
        self.str(stamp.event_id);
    }

    fn key(&mut self, key: &EntityKey) {
        self.str(key.workspace.as_str());
        self.tag(key.kind as u8);
        self.str(&key.name);
        self.str(&key.version);
    }

    fn register<T>(&mut self, slot: Option<&Lww<T>>, value: impl FnOnce(&mut Self, &T)) {
        match slot {
            None => self.tag(0),
            Some(lww) => {
                self.tag(1);
                self.stamp(&lww.stamp);
                value(self, &lww.value);
            }
        }
    }

    fn string_registers<'a>(
        &mut self,
        map: impl ExactSizeIterator<Item = (&'a Name, &'a Lww<Name>)>,
    ) {
        self.u64(map.len() as u64);
        for (key, value) in map {
            self.str(key);
            self.stamp(&value.stamp);
            self.str(&value.value);
        }
    }

    fn node(&mut self, node: &Node, point_stamps: &StampTable) {
        self.key(&node.key);
        self.string_registers(node.tags.iter());
        self.u64(node.flags.len() as u64);
        for (event_id, flag) in &node.flags {
            self.str(event_id.as_str());
            self.str(&flag.reason);
            self.tag(flag.severity as u8);
            self.time(flag.flagged_at);
            self.str(&flag.flagged_by);
        }
        self.u64(node.redactions().len() as u64);
        for redaction in node.redactions() {
            self.u64(redaction.fields.len() as u64);
            for field in &redaction.fields {
                self.str(field);
            }
            self.str(&redaction.reason);
            self.str(&redaction.requested_by);
            self.time(redaction.requested_at);
            self.str(redaction.event_id.as_str());
        }
        match &node.facts {
            Facts::Experiment(created) => {
                self.tag(1);
                self.register(created.as_deref(), |c, facts| c.str(&facts.description));
            }
            Facts::Run(run) => {
                self.tag(2);
                self.register(run.started.as_ref(), |c, facts| {
                    c.opt_str(facts.experiment.as_deref());
                    c.str(&facts.name);
                    c.opt_str(facts.parent_run_id.as_deref());
                    c.str(&facts.code_version);
                    match &facts.environment {
                        None => c.tag(0),
                        Some(environment) => {
                            c.tag(1);
                            c.str(&environment.name);
                            c.str(&environment.version);
                        }
                    }
                    c.opt_str(facts.compute_target.as_deref());
                    c.str(&facts.owner);
                });
                self.register(run.finished.as_ref(), |c, facts| {
                    c.tag(facts.status as u8);
                    c.str(&facts.error);
                });
                self.string_registers(run.params.iter());
                self.u64(run.metrics.len() as u64);
                for (key, series) in run.metrics() {
                    self.str(key);
                    self.u64(series.len() as u64);
                    for point in series.points() {
                        self.i64(point.step);
                        self.time(point.timestamp);
                        self.stamp_ref(point_stamps.get(point.stamp));
                        self.f64(point.value);
                    }
                }
            }
            Facts::DatasetVersion(registered) => {
                self.tag(3);
                self.register(registered.as_deref(), |c, facts| {
                    c.str(&facts.uri);
                    c.str(&facts.digest);
                    c.u64(facts.derived_from.len() as u64);
                    for parent in &facts.derived_from {
                        c.str(&parent.dataset);
                        c.str(&parent.version);
                    }
                    c.opt_str(facts.produced_by_run_id.as_deref());
                });
            }
            Facts::Artifact(logged) => {
                self.tag(4);
                self.register(logged.as_deref(), |c, facts| {
                    c.str(&facts.uri);
                    c.str(&facts.digest);
                    c.str(&facts.kind);
                    c.u64(facts.size_bytes);
                });
            }
            Facts::ModelVersion(model) => {
                self.tag(5);
                self.register(model.registered.as_ref(), |c, facts| {
                    c.str(&facts.source_run_id);
                    c.opt_str(facts.artifact_name.as_deref());
                    c.str(&facts.approval_notes);
                    c.str(&facts.approved_by);
                });
                self.u64(model.stage_changes.len() as u64);
                for (stamp, change) in &model.stage_changes {
                    self.stamp(stamp);
                    self.tag(change.stage as u8);
                    self.str(&change.reason);
                    self.str(&change.approved_by);
                }
            }
            Facts::Environment => self.tag(6),
            Facts::Compute => self.tag(7),
            Facts::Endpoint(deployment) => {
                self.tag(8);
                self.register(deployment.as_deref(), |c, facts| {
                    c.str(&facts.model);
                    c.str(&facts.version);
                    c.str(&facts.deployment);
                });
            }
        }
    }
}

impl LineageGraph {
    /// The canonical digest of everything the projection knows (see the
    /// module docs for what it covers). A full pass: O(n log n).
    pub fn state_digest(&self) -> [u8; 32] {
        let mut canonical = Canonical(blake3::Hasher::new());
        canonical.0.update(b"lineage-state-v2");

        let mut nodes: Vec<&Node> = self.nodes().map(|(_, node)| node).collect();
        nodes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        canonical.u64(nodes.len() as u64);
        for node in nodes {
            canonical.node(node, &self.point_stamps);
        }

        let mut edges: Vec<(&EntityKey, &EntityKey, u8)> = self
            .all_edges()
            .filter(|(_, _, edge)| edge.is_active())
            .map(|(from, to, edge)| (&self.node(from).key, &self.node(to).key, edge.kind() as u8))
            .collect();
        edges.sort_unstable();
        canonical.u64(edges.len() as u64);
        for (from, to, kind) in edges {
            canonical.key(from);
            canonical.key(to);
            canonical.tag(kind);
        }

        // The criteria each model has now; written only when some model has
        // any, so digests of graphs without criteria stay as they were.
        let mut criteria: Vec<_> = self
            .all_promotion_criteria()
            .filter_map(|((workspace, model), set)| {
                let (stamp, current) = set.iter().next_back()?;
                Some((workspace.as_str(), model.as_str(), stamp, &current.criteria))
            })
            .collect();
        if !criteria.is_empty() {
            criteria.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            canonical.tag(0xC0);
            canonical.u64(criteria.len() as u64);
            for (workspace, model, stamp, text) in criteria {
                canonical.str(workspace);
                canonical.str(model);
                canonical.stamp(stamp);
                canonical.str(text);
            }
        }
        *canonical.0.finalize().as_bytes()
    }
}
