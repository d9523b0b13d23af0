//! Domain answers into wire messages: entities with their kind-specific
//! facts, edges, subgraphs and model traces.
//!
//! These read the graph directly (under the caller's read lock) so that an
//! answer is built in one pass without copying the domain state twice.
//!
//! An entity is built in one of two [`View`]s. `Full` is every fact
//! (GetEntity, and lists when asked); `Basic` is what a list needs to name,
//! mark and sort an entity, and is what makes answers of hundreds of
//! entities cheap: a basic run is three short strings and a few scalars,
//! against dozens of strings (parameters, metrics, inputs, tags) in full.
//! The proto's `EntityView` documents the fields of each view; keep the two
//! in step.

use lineage_core::AsOf;
use lineage_core::chain::SignedCheckpoint;
use lineage_core::compare::RunComparison;
use lineage_core::diff::{Change, LineageDiff};
use lineage_core::event::{ModelStage, RunStatus, Severity};
use lineage_core::graph::{DeploymentFacts, EdgeKind, Facts, Lww, MetricPointFacts, Node};
use lineage_core::promotion::{PromotionCheck, production_status};
use lineage_core::{EdgeIndex, NodeIndex};
use lineage_core::{EntityKey, EntityKind, EventTime, ModelTrace, Subgraph};

use crate::v1;

/// The most items in one list of an entity (a run's inputs, a model's stage
/// history...): bounds the size of one answer.
pub const MAX_ENTITY_LIST: usize = 1_000;

/// How much of an entity an answer carries: the wire's `EntityView`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum View {
    /// Identity, placeholder, first sequence, flags and the few details a
    /// list shows (see `EntityView.ENTITY_VIEW_BASIC`).
    Basic,
    /// Every fact, as GetEntity answers it.
    Full,
}

/// How a subgraph's edges name their ends: the wire's `compact_edges`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EdgeForm {
    /// Full references to both ends, and their positions in the nodes.
    Full,
    /// Only the positions: an edge of a few bytes instead of ~100.
    Compact,
}

impl EdgeForm {
    pub fn from_wire(compact_edges: bool) -> Self {
        if compact_edges {
            EdgeForm::Compact
        } else {
            EdgeForm::Full
        }
    }
}

/// Reads an `EntityView` from a request: `Ok(None)` when unspecified (the
/// RPC's default applies), an error when the value is not a view this build
/// knows.
pub fn view_from_wire(raw: i32) -> Result<Option<View>, prost::UnknownEnumValue> {
    Ok(match v1::EntityView::try_from(raw)? {
        v1::EntityView::Unspecified => None,
        v1::EntityView::Basic => Some(View::Basic),
        v1::EntityView::Full => Some(View::Full),
    })
}

/// A diff of two model versions.
pub fn lineage_diff(graph: &AsOf<'_>, diff: &LineageDiff) -> v1::LineageDiff {
    let reference = |node: NodeIndex| entity_ref(graph.key(node));
    let references = |nodes: &[NodeIndex]| nodes.iter().map(|&node| reference(node)).collect();
    let entity_change = |change: Option<(Option<NodeIndex>, Option<NodeIndex>)>| {
        change.map(|(a, b)| v1::EntityChange {
            a: a.map(reference),
            b: b.map(reference),
        })
    };
    let value_change = |change: &Change<String>| v1::ValueChange {
        key: change.key.clone(),
        a: change.a.clone(),
        b: change.b.clone(),
    };
    v1::LineageDiff {
        a: Some(reference(diff.a)),
        b: Some(reference(diff.b)),
        source_run_a: diff.source_run_a.map(reference),
        source_run_b: diff.source_run_b.map(reference),
        datasets_added: references(&diff.datasets_added),
        datasets_removed: references(&diff.datasets_removed),
        datasets_unchanged: diff.datasets_unchanged as u32,
        params: diff.params.iter().map(value_change).collect(),
        metrics: diff
            .metrics
            .iter()
            .map(|change| v1::MetricChange {
                key: change.key.clone(),
                a: change.a,
                b: change.b,
            })
            .collect(),
        code_version: diff.code_version.as_ref().map(value_change),
        environment: entity_change(diff.environment),
        compute: entity_change(diff.compute),
        truncated: diff.truncated,
        applied_seq: graph.answered_seq(),
    }
}

/// A signed checkpoint of the log, as the service sends it.
pub fn signed_checkpoint(signed: &SignedCheckpoint) -> v1::SignedCheckpoint {
    let checkpoint = &signed.checkpoint;
    v1::SignedCheckpoint {
        seq: checkpoint.seq,
        head_hash: hex::encode(checkpoint.head_hash),
        signed_at: Some(timestamp(EventTime::from_unix_nanos(checkpoint.signed_at))),
        signed_at_unix_nanos: checkpoint.signed_at,
        public_key: hex::encode(signed.public_key),
        signature: hex::encode(signed.signature),
    }
}

pub fn timestamp(time: EventTime) -> pbjson_types::Timestamp {
    let (seconds, nanos) = time.to_unix();
    pbjson_types::Timestamp { seconds, nanos }
}

pub fn entity_kind(kind: EntityKind) -> v1::EntityKind {
    match kind {
        EntityKind::Experiment => v1::EntityKind::Experiment,
        EntityKind::Run => v1::EntityKind::Run,
        EntityKind::DatasetVersion => v1::EntityKind::DatasetVersion,
        EntityKind::Artifact => v1::EntityKind::Artifact,
        EntityKind::ModelVersion => v1::EntityKind::ModelVersion,
        EntityKind::Environment => v1::EntityKind::Environment,
        EntityKind::Compute => v1::EntityKind::Compute,
        EntityKind::Endpoint => v1::EntityKind::Endpoint,
    }
}

pub fn edge_kind(kind: EdgeKind) -> v1::EdgeKind {
    match kind {
        EdgeKind::Input => v1::EdgeKind::Input,
        EdgeKind::Produced => v1::EdgeKind::Produced,
        EdgeKind::Derived => v1::EdgeKind::Derived,
        EdgeKind::Registered => v1::EdgeKind::Registered,
        EdgeKind::Packaged => v1::EdgeKind::Packaged,
        EdgeKind::Deployed => v1::EdgeKind::Deployed,
        EdgeKind::RanIn => v1::EdgeKind::RanIn,
        EdgeKind::RanOn => v1::EdgeKind::RanOn,
        EdgeKind::ParentOf => v1::EdgeKind::ParentOf,
        EdgeKind::MemberOf => v1::EdgeKind::MemberOf,
    }
}

/// Reads an `EdgeKind` enum value from a request.
pub fn edge_kind_from_wire(raw: i32) -> Option<EdgeKind> {
    Some(match v1::EdgeKind::try_from(raw).ok()? {
        v1::EdgeKind::Unspecified => return None,
        v1::EdgeKind::Input => EdgeKind::Input,
        v1::EdgeKind::Produced => EdgeKind::Produced,
        v1::EdgeKind::Derived => EdgeKind::Derived,
        v1::EdgeKind::Registered => EdgeKind::Registered,
        v1::EdgeKind::Packaged => EdgeKind::Packaged,
        v1::EdgeKind::Deployed => EdgeKind::Deployed,
        v1::EdgeKind::RanIn => EdgeKind::RanIn,
        v1::EdgeKind::RanOn => EdgeKind::RanOn,
        v1::EdgeKind::ParentOf => EdgeKind::ParentOf,
        v1::EdgeKind::MemberOf => EdgeKind::MemberOf,
    })
}

pub(crate) fn run_status(status: RunStatus) -> v1::RunStatus {
    match status {
        RunStatus::Started => v1::RunStatus::Started,
        RunStatus::Completed => v1::RunStatus::Completed,
        RunStatus::Failed => v1::RunStatus::Failed,
        RunStatus::Canceled => v1::RunStatus::Canceled,
    }
}

pub(crate) fn model_stage(stage: ModelStage) -> v1::ModelStage {
    match stage {
        ModelStage::Staging => v1::ModelStage::Staging,
        ModelStage::Production => v1::ModelStage::Production,
        ModelStage::Archived => v1::ModelStage::Archived,
    }
}

fn severity(severity: Severity) -> v1::Severity {
    match severity {
        Severity::Low => v1::Severity::Low,
        Severity::Medium => v1::Severity::Medium,
        Severity::High => v1::Severity::High,
        Severity::Critical => v1::Severity::Critical,
    }
}

pub fn entity_ref(key: &EntityKey) -> v1::EntityRef {
    v1::EntityRef {
        workspace: key.workspace.as_str().to_owned(),
        kind: entity_kind(key.kind) as i32,
        name: key.name.clone(),
        version: key.version.clone(),
    }
}

/// Collects at most [`MAX_ENTITY_LIST`] items, noting whether more existed.
pub(crate) fn bounded<T>(items: impl Iterator<Item = T>, truncated: &mut bool) -> Vec<T> {
    let mut items = items.peekable();
    let collected: Vec<T> = items.by_ref().take(MAX_ENTITY_LIST).collect();
    if items.peek().is_some() {
        *truncated = true;
    }
    collected
}

/// One entity in the given view.
pub fn entity_in_view(graph: &AsOf<'_>, index: NodeIndex, view: View) -> v1::Entity {
    match view {
        View::Full => entity(graph, index),
        View::Basic => basic_entity(graph, index),
    }
}

/// One entity with all its kind-specific facts (the full view).
pub fn entity(graph: &AsOf<'_>, index: NodeIndex) -> v1::Entity {
    let node = graph.node(index);
    let node: &Node = &node;
    let details = match &node.facts {
        Facts::Experiment(created) => {
            Some(v1::entity::Details::Experiment(v1::ExperimentDetails {
                description: created
                    .as_ref()
                    .map(|c| c.value.description.clone())
                    .unwrap_or_default(),
                created_at: created.as_ref().map(|c| timestamp(c.stamp.occurred_at)),
                runs: graph.incoming(index, EdgeKind::MemberOf).count() as u64,
            }))
        }
        Facts::Run(_) => Some(v1::entity::Details::Run(run_details(graph, index, node))),
        Facts::DatasetVersion(registered) => {
            Some(v1::entity::Details::DatasetVersion(match registered {
                None => v1::DatasetVersionDetails::default(),
                Some(r) => v1::DatasetVersionDetails {
                    uri: r.value.uri.clone(),
                    digest: r.value.digest.clone(),
                    produced_by_run_id: r.value.produced_by_run_id.clone().unwrap_or_default(),
                    derived_from: r
                        .value
                        .derived_from
                        .iter()
                        .map(|d| v1::DatasetVersionRef {
                            dataset: d.dataset.clone(),
                            version: d.version.clone(),
                        })
                        .collect(),
                    registered_at: Some(timestamp(r.stamp.occurred_at)),
                },
            }))
        }
        Facts::Artifact(logged) => {
            let (run_id, name) = node.key.artifact_parts().unwrap_or_default();
            let mut details = v1::ArtifactDetails {
                run_id: run_id.to_owned(),
                name: name.to_owned(),
                ..Default::default()
            };
            if let Some(logged) = logged {
                details.uri = logged.value.uri.clone();
                details.digest = logged.value.digest.clone();
                details.kind = logged.value.kind.clone();
                details.size_bytes = logged.value.size_bytes;
                details.logged_at = Some(timestamp(logged.stamp.occurred_at));
            }
            Some(v1::entity::Details::Artifact(details))
        }
        Facts::ModelVersion(model) => {
            let mut details = v1::ModelVersionDetails {
                stage: model
                    .stage()
                    .map_or(v1::ModelStage::Unspecified, model_stage) as i32,
                stage_history: model
                    .stage_changes
                    .iter()
                    .rev()
                    .take(MAX_ENTITY_LIST)
                    .rev()
                    .map(|(stamp, change)| v1::StageChange {
                        stage: model_stage(change.stage) as i32,
                        reason: change.reason.clone(),
                        approved_by: change.approved_by.clone(),
                        changed_at: Some(timestamp(stamp.occurred_at)),
                        event_id: stamp.event_id.as_str().to_owned(),
                    })
                    .collect(),
                deployments: deployments(graph, index),
                promotion: promotion_status(graph, index),
                ..Default::default()
            };
            if let Some(registered) = &model.registered {
                details.source_run_id = registered.value.source_run_id.clone();
                details.artifact_name = registered.value.artifact_name.clone().unwrap_or_default();
                details.approval_notes = registered.value.approval_notes.clone();
                details.approved_by = registered.value.approved_by.clone();
                details.registered_at = Some(timestamp(registered.stamp.occurred_at));
            }
            Some(v1::entity::Details::ModelVersion(details))
        }
        Facts::Endpoint(current) => endpoint_details(current.as_deref()),
        Facts::Environment | Facts::Compute => None,
    };
    v1::Entity {
        r#ref: Some(entity_ref(&node.key)),
        placeholder: node.is_placeholder(),
        first_seq: node.first_seq,
        tags: node
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.value.to_string()))
            .collect(),
        flags: flags(node),
        details,
        applied_seq: 0,
        redactions: redactions(node),
    }
}

/// GetEntity's answer: [`entity`] with the sequence it reflects.
pub fn entity_answer(graph: &AsOf<'_>, index: NodeIndex) -> v1::Entity {
    v1::Entity {
        applied_seq: graph.answered_seq(),
        ..entity(graph, index)
    }
}

/// One entity in the basic view: what a list needs to name, mark and sort
/// it. Every string here is short and bounded in number, so a list of
/// basic entities costs a few allocations per entity.
fn basic_entity(graph: &AsOf<'_>, index: NodeIndex) -> v1::Entity {
    let node = graph.node(index);
    let node: &Node = &node;
    let details = match &node.facts {
        Facts::Experiment(created) => {
            Some(v1::entity::Details::Experiment(v1::ExperimentDetails {
                created_at: created.as_ref().map(|c| timestamp(c.stamp.occurred_at)),
                ..Default::default()
            }))
        }
        Facts::Run(run) => {
            let started = run.started.as_ref();
            Some(v1::entity::Details::Run(v1::RunDetails {
                status: run.status().map_or(v1::RunStatus::Unspecified, run_status) as i32,
                experiment: started
                    .and_then(|s| s.value.experiment.clone())
                    .unwrap_or_default(),
                started_at: started.map(|s| timestamp(s.stamp.occurred_at)),
                ended_at: run
                    .finished
                    .as_ref()
                    .map(|f| timestamp(f.stamp.occurred_at)),
                ..Default::default()
            }))
        }
        Facts::DatasetVersion(registered) => Some(v1::entity::Details::DatasetVersion(
            v1::DatasetVersionDetails {
                registered_at: registered.as_ref().map(|r| timestamp(r.stamp.occurred_at)),
                ..Default::default()
            },
        )),
        Facts::Artifact(logged) => Some(v1::entity::Details::Artifact(match logged {
            None => v1::ArtifactDetails::default(),
            Some(logged) => v1::ArtifactDetails {
                kind: logged.value.kind.clone(),
                logged_at: Some(timestamp(logged.stamp.occurred_at)),
                ..Default::default()
            },
        })),
        Facts::ModelVersion(model) => {
            Some(v1::entity::Details::ModelVersion(v1::ModelVersionDetails {
                stage: model
                    .stage()
                    .map_or(v1::ModelStage::Unspecified, model_stage) as i32,
                deployments: deployments(graph, index),
                promotion: promotion_status(graph, index),
                ..Default::default()
            }))
        }
        Facts::Endpoint(current) => endpoint_details(current.as_deref()),
        Facts::Environment | Facts::Compute => None,
    };
    v1::Entity {
        r#ref: Some(entity_ref(&node.key)),
        placeholder: node.is_placeholder(),
        first_seq: node.first_seq,
        tags: Default::default(),
        flags: flags(node),
        details,
        applied_seq: 0,
        redactions: redactions(node),
    }
}

/// Every flag on a node, in event id order.
pub(crate) fn flags(node: &Node) -> Vec<v1::Flag> {
    node.flags
        .iter()
        .map(|(event_id, flag)| v1::Flag {
            reason: flag.reason.clone(),
            severity: severity(flag.severity) as i32,
            flagged_at: Some(timestamp(flag.flagged_at)),
            flagged_by: flag.flagged_by.clone(),
            event_id: event_id.as_str().to_owned(),
        })
        .collect()
}

/// The redactions applied to a node, oldest first: the newest
/// [`MAX_ENTITY_LIST`] of them, in both views (there are rarely any).
pub(crate) fn redactions(node: &Node) -> Vec<v1::Redaction> {
    let all = node.redactions();
    all[all.len().saturating_sub(MAX_ENTITY_LIST)..]
        .iter()
        .map(|redaction| v1::Redaction {
            fields: redaction.fields.clone(),
            reason: redaction.reason.clone(),
            requested_by: redaction.requested_by.clone(),
            requested_at: Some(timestamp(redaction.requested_at)),
            seq: redaction.seq,
            event_id: redaction.event_id.as_str().to_owned(),
        })
        .collect()
}

/// The endpoints currently serving a model version.
pub(crate) fn deployments(graph: &AsOf<'_>, model: NodeIndex) -> Vec<v1::Deployment> {
    graph
        .outgoing(model, EdgeKind::Deployed)
        .take(MAX_ENTITY_LIST)
        .map(|(_, endpoint)| {
            let endpoint = graph.node(endpoint);
            let endpoint: &Node = &endpoint;
            let current = match &endpoint.facts {
                Facts::Endpoint(Some(current)) => Some(current),
                _ => None,
            };
            v1::Deployment {
                endpoint: endpoint.key.name.clone(),
                deployment: current
                    .map(|c| c.value.deployment.clone())
                    .unwrap_or_default(),
                deployed_at: current.map(|c| timestamp(c.stamp.occurred_at)),
            }
        })
        .collect()
}

/// What an endpoint currently serves; the same in both views (it is small).
pub(crate) fn endpoint_details(
    current: Option<&Lww<DeploymentFacts>>,
) -> Option<v1::entity::Details> {
    current.map(|current| {
        v1::entity::Details::Endpoint(v1::EndpointDetails {
            model: Some(v1::ModelVersionRef {
                model: current.value.model.clone(),
                version: current.value.version.clone(),
            }),
            deployment: current.value.deployment.clone(),
            deployed_at: Some(timestamp(current.stamp.occurred_at)),
        })
    })
}

fn run_details(graph: &AsOf<'_>, index: NodeIndex, node: &Node) -> v1::RunDetails {
    let Facts::Run(run) = &node.facts else {
        return v1::RunDetails::default();
    };
    let mut truncated = false;
    let mut details = v1::RunDetails {
        status: run.status().map_or(v1::RunStatus::Unspecified, run_status) as i32,
        params: run
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.value.to_string()))
            .collect(),
        latest_metrics: run
            .latest_metrics()
            .map(|(key, step, time, value)| v1::MetricValue {
                key: key.to_owned(),
                value,
                step,
                timestamp: Some(timestamp(time)),
            })
            .collect(),
        ..Default::default()
    };
    if let Some(started) = &run.started {
        let facts = &started.value;
        details.experiment = facts.experiment.clone().unwrap_or_default();
        details.name = facts.name.clone();
        details.parent_run_id = facts.parent_run_id.clone().unwrap_or_default();
        details.owner = facts.owner.clone();
        details.started_at = Some(timestamp(started.stamp.occurred_at));
        details.code_version = facts.code_version.clone();
        details.environment = facts.environment.as_ref().map(|e| v1::EnvironmentRef {
            name: e.name.clone(),
            version: e.version.clone(),
        });
        details.compute_target = facts.compute_target.clone().unwrap_or_default();
    }
    if let Some(finished) = &run.finished {
        details.error = finished.value.error.clone();
        details.ended_at = Some(timestamp(finished.stamp.occurred_at));
    }
    let inputs: Vec<&EntityKey> = bounded(
        graph
            .incoming(index, EdgeKind::Input)
            .map(|(_, input)| graph.key(input)),
        &mut truncated,
    );
    for key in inputs {
        match key.kind {
            EntityKind::DatasetVersion => details.input_datasets.push(v1::DatasetVersionRef {
                dataset: key.name.clone(),
                version: key.version.clone(),
            }),
            EntityKind::Artifact => {
                let (run_id, name) = key.artifact_parts().unwrap_or_default();
                details.input_artifacts.push(v1::ArtifactRef {
                    run_id: run_id.to_owned(),
                    name: name.to_owned(),
                });
            }
            EntityKind::ModelVersion => details.input_models.push(v1::ModelVersionRef {
                model: key.name.clone(),
                version: key.version.clone(),
            }),
            _ => {}
        }
    }
    let outputs: Vec<&EntityKey> = bounded(
        graph
            .outgoing(index, EdgeKind::Produced)
            .map(|(_, output)| graph.key(output)),
        &mut truncated,
    );
    for key in outputs {
        match key.kind {
            EntityKind::Artifact => {
                let (_, name) = key.artifact_parts().unwrap_or_default();
                details.artifacts.push(name.to_owned());
            }
            EntityKind::DatasetVersion => details.output_datasets.push(v1::DatasetVersionRef {
                dataset: key.name.clone(),
                version: key.version.clone(),
            }),
            _ => {}
        }
    }
    details
        .input_datasets
        .sort_by(|a, b| (&a.dataset, &a.version).cmp(&(&b.dataset, &b.version)));
    details.artifacts.sort();
    details.lists_truncated = truncated;
    details
}

/// One edge of a subgraph, whose ends are at `ends` in its nodes.
pub fn edge(graph: &AsOf<'_>, index: EdgeIndex, ends: (u32, u32), form: EdgeForm) -> v1::Edge {
    let (from, to, data) = graph.edge(index);
    let full = form == EdgeForm::Full;
    v1::Edge {
        from: full.then(|| entity_ref(graph.key(from))),
        to: full.then(|| entity_ref(graph.key(to))),
        kind: edge_kind(data.kind()) as i32,
        first_seq: data.first_seq(),
        from_node: ends.0,
        to_node: ends.1,
    }
}

/// A traversal's answer with its nodes in the given view and its edges in
/// the given form.
pub fn subgraph(graph: &AsOf<'_>, answer: &Subgraph, view: View, form: EdgeForm) -> v1::Subgraph {
    v1::Subgraph {
        nodes: answer
            .nodes
            .iter()
            .map(|&n| entity_in_view(graph, n, view))
            .collect(),
        edges: answer
            .edges
            .iter()
            .zip(&answer.edge_ends)
            .map(|(&e, &ends)| edge(graph, e, ends, form))
            .collect(),
        truncated: answer.truncated,
        applied_seq: graph.answered_seq(),
    }
}

/// A model trace: the model version and its source run in full (they are
/// what a trace is asked for), the rest in the given view.
pub fn model_trace(
    graph: &AsOf<'_>,
    trace: &ModelTrace,
    view: View,
    form: EdgeForm,
) -> v1::ModelTrace {
    v1::ModelTrace {
        model: Some(entity(graph, trace.model)),
        source_run: trace.source_run.map(|run| entity(graph, run)),
        inputs: trace
            .inputs
            .iter()
            .map(|&n| entity_in_view(graph, n, view))
            .collect(),
        environment: trace.environment.map(|n| entity_in_view(graph, n, view)),
        compute: trace.compute.map(|n| entity_in_view(graph, n, view)),
        upstream: Some(subgraph(graph, &trace.upstream, view, form)),
        applied_seq: graph.answered_seq(),
    }
}

/// A production model version against its model's stored criteria (field
/// 9 of its details, in both views); `None` for any other version.
pub(crate) fn promotion_status(graph: &AsOf<'_>, model: NodeIndex) -> Option<v1::PromotionStatus> {
    let status = production_status(graph, model)?;
    Some(v1::PromotionStatus {
        criteria: status.criteria,
        criteria_event_id: status.criteria_event_id,
        met: status.met,
        unmet: status.unmet,
    })
}

/// A promotion check's verdicts and evidence.
pub fn promotion_check(
    graph: &AsOf<'_>,
    check: &PromotionCheck,
    criteria: &str,
    criteria_event_id: &str,
) -> v1::PromotionCheck {
    let key = graph.key(check.model_version);
    v1::PromotionCheck {
        model: Some(v1::ModelVersionRef {
            model: key.name.clone(),
            version: key.version.clone(),
        }),
        source_run_id: check.source_run_id.clone().unwrap_or_default(),
        criteria: criteria.to_owned(),
        criteria_event_id: criteria_event_id.to_owned(),
        passed: check.passed,
        results: check
            .results
            .iter()
            .map(|result| v1::CriterionResult {
                criterion: result.criterion.clone(),
                passed: result.passed,
                explanation: result.explanation.clone(),
                evidence: result
                    .evidence
                    .iter()
                    .map(|evidence| v1::Evidence {
                        entity: Some(entity_ref(&evidence.entity)),
                        field: evidence.field.clone(),
                        value: evidence.value.clone(),
                        event_id: evidence.event_id.clone(),
                        seq: evidence.seq,
                    })
                    .collect(),
            })
            .collect(),
        truncated: check.truncated,
        applied_seq: graph.answered_seq(),
    }
}

/// One metric point as the wire has it.
pub fn metric_value(key: &str, point: &MetricPointFacts) -> v1::MetricValue {
    v1::MetricValue {
        key: key.to_owned(),
        value: point.value,
        step: point.step,
        timestamp: Some(timestamp(point.timestamp)),
    }
}

/// A comparison of runs, each run in full.
pub fn run_comparison(graph: &AsOf<'_>, comparison: &RunComparison) -> v1::RunComparison {
    v1::RunComparison {
        runs: comparison
            .runs
            .iter()
            .map(|&run| entity(graph, run))
            .collect(),
        fields: comparison
            .fields
            .iter()
            .map(|field| v1::ComparedField {
                field: field.field.clone(),
                values: field.values.clone(),
                differs: field.differs,
            })
            .collect(),
        metrics: comparison
            .metrics
            .iter()
            .map(|metric| v1::MetricComparison {
                key: metric.key.clone(),
                lower_is_better: metric.lower_is_better,
                runs: metric
                    .runs
                    .iter()
                    .map(|side| match side {
                        None => v1::ComparedMetric::default(),
                        Some(side) => v1::ComparedMetric {
                            present: true,
                            latest: Some(metric_value(&metric.key, &side.latest)),
                            best: Some(metric_value(&metric.key, &side.best)),
                            points: side.points as u64,
                        },
                    })
                    .collect(),
                best_run: metric.best_run.unwrap_or_default() as u32,
                differs: metric.differs,
            })
            .collect(),
        applied_seq: graph.answered_seq(),
        truncated: comparison.truncated,
    }
}
