//! What changed between two model versions' lineage: the dataset versions
//! upstream of one and not the other, and the differences between their
//! source runs (parameters, latest metric values, code version,
//! environment, compute). The question a reviewer asks before promoting a
//! new version: "what is different about how this one was made".

use petgraph::graph::NodeIndex;

use crate::as_of::AsOf;
use crate::graph::{EdgeKind, Facts, LineageGraph};
use crate::id::{EntityKey, EntityKind};
use crate::query::{NodeKinds, TraversalSpec};

/// A value on each side; at least one differs or is missing.
#[derive(Clone, PartialEq, Debug)]
pub struct Change<T> {
    pub key: String,
    pub a: Option<T>,
    pub b: Option<T>,
}

/// The answer to "what differs between model versions a and b".
#[derive(Clone, PartialEq, Debug)]
pub struct LineageDiff {
    pub a: NodeIndex,
    pub b: NodeIndex,
    pub source_run_a: Option<NodeIndex>,
    pub source_run_b: Option<NodeIndex>,
    /// Dataset versions upstream of b and not of a, in b's traversal order.
    pub datasets_added: Vec<NodeIndex>,
    /// Dataset versions upstream of a and not of b, in a's traversal order.
    pub datasets_removed: Vec<NodeIndex>,
    pub datasets_unchanged: usize,
    /// Parameters of the source runs that differ, by key.
    pub params: Vec<Change<String>>,
    /// Latest metric values of the source runs that differ, by key.
    pub metrics: Vec<Change<f64>>,
    pub code_version: Option<Change<String>>,
    pub environment: Option<(Option<NodeIndex>, Option<NodeIndex>)>,
    pub compute: Option<(Option<NodeIndex>, Option<NodeIndex>)>,
    /// A bound cut either upstream walk, so the dataset lists may be short.
    pub truncated: bool,
}

impl LineageGraph {
    /// Compares two model versions as they are now; see [`diff_model_versions`].
    pub fn diff_model_versions(
        &self,
        a: NodeIndex,
        b: NodeIndex,
        upstream: &TraversalSpec,
    ) -> Option<LineageDiff> {
        diff_model_versions((self.present(), a), (self.present(), b), upstream)
    }
}

/// Compares model version `a` in its view with model version `b` in its
/// view (two versions now, or one version at two moments); `None` if
/// either node is not a model version. `upstream` bounds each upstream
/// walk; its node filter is replaced by dataset versions.
pub fn diff_model_versions(
    (view_a, a): (AsOf<'_>, NodeIndex),
    (view_b, b): (AsOf<'_>, NodeIndex),
    upstream: &TraversalSpec,
) -> Option<LineageDiff> {
    let spec = TraversalSpec {
        node_kinds: NodeKinds::of([EntityKind::DatasetVersion]),
        ..*upstream
    };
    let datasets = |view: &AsOf<'_>, model: NodeIndex| {
        let answer = view.traverse(model, &spec);
        let found: Vec<NodeIndex> = answer
            .nodes
            .into_iter()
            .filter(|&node| view.key(node).kind == EntityKind::DatasetVersion)
            .collect();
        (found, answer.truncated)
    };
    let (run_a, run_b) = (view_a.source_run(a)?, view_b.source_run(b)?);
    let ((upstream_a, cut_a), (upstream_b, cut_b)) = (datasets(&view_a, a), datasets(&view_b, b));
    let datasets_added: Vec<NodeIndex> = upstream_b
        .iter()
        .copied()
        .filter(|node| !upstream_a.contains(node))
        .collect();
    let datasets_removed: Vec<NodeIndex> = upstream_a
        .iter()
        .copied()
        .filter(|node| !upstream_b.contains(node))
        .collect();
    let datasets_unchanged = upstream_b.len() - datasets_added.len();

    let params = changes(view_a.params_of(run_a), view_b.params_of(run_b), |x, y| {
        x == y
    });
    let metrics = changes(
        view_a.metrics_of(run_a),
        view_b.metrics_of(run_b),
        |x, y| x.to_bits() == y.to_bits(),
    );
    let code_version = {
        let (x, y) = (view_a.code_version_of(run_a), view_b.code_version_of(run_b));
        (x != y).then(|| Change {
            key: "code_version".to_owned(),
            a: x,
            b: y,
        })
    };
    let one = |view: &AsOf<'_>, run: Option<NodeIndex>, kind| {
        run.and_then(|run| view.incoming(run, kind).map(|(_, from)| from).next())
    };
    let differs = |kind| {
        let (x, y) = (one(&view_a, run_a, kind), one(&view_b, run_b, kind));
        (x != y).then_some((x, y))
    };
    Some(LineageDiff {
        a,
        b,
        source_run_a: run_a,
        source_run_b: run_b,
        datasets_added,
        datasets_removed,
        datasets_unchanged,
        params,
        metrics,
        code_version,
        environment: differs(EdgeKind::RanIn),
        compute: differs(EdgeKind::RanOn),
        truncated: cut_a || cut_b,
    })
}

impl AsOf<'_> {
    /// The source run of a model version (`Some(None)` while its
    /// registration or run has not arrived); `None` if it is not a model
    /// version.
    fn source_run(&self, model: NodeIndex) -> Option<Option<NodeIndex>> {
        let node = self.node(model);
        let Facts::ModelVersion(facts) = &node.facts else {
            return None;
        };
        Some(facts.registered.as_ref().and_then(|registered| {
            self.find(&EntityKey::run(
                &node.key.workspace,
                &registered.value.source_run_id,
            ))
        }))
    }

    fn params_of(&self, run: Option<NodeIndex>) -> Vec<(String, String)> {
        let node = run.map(|run| self.node(run));
        match node.as_ref().map(|node| &node.facts) {
            Some(Facts::Run(facts)) => facts
                .params()
                .map(|(key, value)| (key.to_owned(), value.value.to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn metrics_of(&self, run: Option<NodeIndex>) -> Vec<(String, f64)> {
        let node = run.map(|run| self.node(run));
        match node.as_ref().map(|node| &node.facts) {
            Some(Facts::Run(facts)) => facts
                .latest_metrics()
                .map(|(key, _, _, value)| (key.to_owned(), value))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn code_version_of(&self, run: Option<NodeIndex>) -> Option<String> {
        let node = run.map(|run| self.node(run));
        match node.as_ref().map(|node| &node.facts) {
            Some(Facts::Run(facts)) => facts
                .started
                .as_ref()
                .map(|started| started.value.code_version.clone())
                .filter(|version| !version.is_empty()),
            _ => None,
        }
    }
}

/// The keys whose values differ or are missing on one side, by key; both
/// inputs are sorted by key.
fn changes<T: Clone>(
    a: Vec<(String, T)>,
    b: Vec<(String, T)>,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<Change<T>> {
    let mut merged: std::collections::BTreeMap<String, (Option<T>, Option<T>)> =
        std::collections::BTreeMap::new();
    for (key, value) in a {
        merged.entry(key).or_default().0 = Some(value);
    }
    for (key, value) in b {
        merged.entry(key).or_default().1 = Some(value);
    }
    merged
        .into_iter()
        .filter(|(_, (x, y))| match (x, y) {
            (Some(x), Some(y)) => !same(x, y),
            _ => true,
        })
        .map(|(key, (a, b))| Change { key, a, b })
        .collect()
}
