//! Promotion checks: does a model version meet its criteria (DOMAIN.md,
//! question 6), criterion by criterion, and on what evidence.
//!
//! Criteria are a filter ([`crate::filter`]): its run terms are evaluated
//! on the model version's source run, and three terms speak of the model
//! version itself: `no flagged upstream` (nothing in its provenance, itself
//! included, carries a flag), `approved` (its registration names an
//! approver) and `stages approved` (every stage change names one). An
//! approver's name erased by a redaction still counts: the approval
//! happened, only the person's name was removed.
//!
//! A model's stored criteria (`PromotionCriteriaSet`) are checked against
//! each of its versions in production whenever that version is answered
//! ([`production_status`]), not when the stage change is applied: the
//! verdict then follows the lineage as it is (a flag raised later, metrics
//! logged late) and the same in every view, whatever order events came in.

use petgraph::graph::NodeIndex;

use crate::as_of::AsOf;
use crate::event::ModelStage;
use crate::filter::{Condition, Filter, LineageBounds, evaluate_run};
use crate::graph::{EdgeKind, Facts, ModelFacts, Node, RunFacts};
use crate::id::{EntityKey, EntityKind};
use crate::query::{EdgeKinds, NodeKinds, TraversalSpec, Walk};

/// The walk bounds of a production version's status, which every answer
/// holding that version computes: tighter than a check asked for, so an
/// impact answer of many production versions stays cheap. A walk cut by
/// them leaves `no flagged upstream` undecided (unmet).
pub const STATUS_BOUNDS: LineageBounds = LineageBounds {
    max_depth: 64,
    max_visits: 20_000,
};

/// What a verdict rests on: one fact of an entity and the event that
/// stated it (`event_id` empty for an edge, which only has its sequence).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Evidence {
    pub entity: EntityKey,
    /// `metrics.precision`, `params.lr`, `status`, `flag`, `approved_by`...
    pub field: String,
    pub value: String,
    pub event_id: String,
    pub seq: u64,
}

/// One criterion's verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CriterionResult {
    /// The term as written.
    pub criterion: String,
    pub passed: bool,
    /// Why, in a sentence.
    pub explanation: String,
    pub evidence: Vec<Evidence>,
}

/// A model version against criteria.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PromotionCheck {
    pub model_version: NodeIndex,
    /// Absent while the registration or its source run has not arrived.
    pub source_run: Option<NodeIndex>,
    pub source_run_id: Option<String>,
    pub passed: bool,
    pub results: Vec<CriterionResult>,
    /// A bound cut a lineage walk: a verdict that depends on it may be
    /// wrong (and a `no flagged upstream` cut short does not pass).
    pub truncated: bool,
}

/// A production model version against its model's stored criteria.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProductionStatus {
    pub criteria: String,
    /// The `PromotionCriteriaSet` that set them.
    pub criteria_event_id: String,
    pub met: bool,
    /// The criteria not met, or not decidable, as written.
    pub unmet: Vec<String>,
}

/// Checks `model_version` (a model version node of the view) against
/// `criteria`. Lineage walks stay within `bounds`.
pub fn check_promotion(
    view: &AsOf<'_>,
    model_version: NodeIndex,
    criteria: &Filter,
    bounds: LineageBounds,
) -> PromotionCheck {
    let node = view.node(model_version);
    let key = &node.key;
    let model = match &node.facts {
        Facts::ModelVersion(model) => Some(&**model),
        _ => None,
    };
    let source_run_id = model
        .and_then(|model| model.registered.as_ref())
        .map(|registered| registered.value.source_run_id.clone());
    let source_run = source_run_id
        .as_deref()
        .and_then(|run_id| view.find(&EntityKey::run(&key.workspace, run_id)))
        .filter(|&run| !view.node(run).is_placeholder());
    let mut truncated = false;
    let results = criteria
        .terms
        .iter()
        .map(|term| {
            let (passed, explanation, evidence) = match &term.condition {
                Condition::NoFlaggedUpstream => {
                    let (verdict, cut) = no_flagged_upstream(view, model_version, bounds);
                    truncated |= cut;
                    verdict
                }
                Condition::Approved => approved(&node, model),
                Condition::StagesApproved => stages_approved(&node, model),
                condition => match (source_run, &source_run_id) {
                    (Some(run), _) => {
                        let evaluation = evaluate_run(view, run, condition, bounds)
                            .expect("every term but the promotion-only ones is a run term");
                        truncated |= evaluation.lineage_truncated;
                        let (explanation, evidence) =
                            run_evidence(view, run, condition, evaluation.satisfied);
                        let explanation = if evaluation.lineage_truncated {
                            format!("{explanation} (the walk of the lineage was cut by a bound)")
                        } else {
                            explanation
                        };
                        (evaluation.satisfied, explanation, evidence)
                    }
                    (None, Some(run_id)) => (
                        false,
                        format!("source run {run_id} has not arrived yet"),
                        Vec::new(),
                    ),
                    (None, None) => (
                        false,
                        format!("the registration of {key} has not arrived yet"),
                        Vec::new(),
                    ),
                },
            };
            CriterionResult {
                criterion: term.text.clone(),
                passed,
                explanation,
                evidence,
            }
        })
        .collect::<Vec<_>>();
    PromotionCheck {
        model_version,
        source_run,
        source_run_id,
        passed: results.iter().all(|result| result.passed),
        results,
        truncated,
    }
}

/// The status of a model version in production whose model has stored
/// criteria; `None` for any other (not in production, no criteria).
pub fn production_status(view: &AsOf<'_>, model_version: NodeIndex) -> Option<ProductionStatus> {
    let node = view.node(model_version);
    let Facts::ModelVersion(model) = &node.facts else {
        return None;
    };
    if model.stage() != Some(ModelStage::Production) {
        return None;
    }
    let (stamp, stored) = view.promotion_criteria(&node.key.workspace, &node.key.name)?;
    let status = |met, unmet| ProductionStatus {
        criteria: stored.criteria.clone(),
        criteria_event_id: stamp.event_id.as_str().to_owned(),
        met,
        unmet,
    };
    Some(match Filter::parse_criteria(&stored.criteria) {
        Ok(criteria) => {
            let check = check_promotion(view, model_version, &criteria, STATUS_BOUNDS);
            let unmet = check
                .results
                .into_iter()
                .filter(|result| !result.passed)
                .map(|result| result.criterion)
                .collect();
            status(check.passed, unmet)
        }
        // Validation parsed them before they were logged; only a parser
        // that changed since could refuse them, and then nothing is met.
        Err(error) => status(
            false,
            vec![format!("criteria that no longer parse: {error}")],
        ),
    })
}

type Verdict = (bool, String, Vec<Evidence>);

/// Every flag in the model version's provenance, itself included.
fn no_flagged_upstream(
    view: &AsOf<'_>,
    model_version: NodeIndex,
    bounds: LineageBounds,
) -> (Verdict, bool) {
    let spec = TraversalSpec {
        walk: Walk::Provenance,
        max_depth: bounds.max_depth,
        edge_kinds: EdgeKinds::lineage(),
        node_kinds: NodeKinds::all(),
        max_nodes: usize::MAX,
        max_edges: usize::MAX,
        max_visits: bounds.max_visits,
    };
    let walked = view.traverse(model_version, &spec);
    let mut evidence = Vec::new();
    for &index in &walked.nodes {
        let node = view.node(index);
        for (event_id, flag) in &node.flags {
            evidence.push(Evidence {
                entity: node.key.clone(),
                field: "flag".into(),
                value: format!("{}: {}", flag.severity.as_str(), flag.reason),
                event_id: event_id.as_str().to_owned(),
                seq: flag.seq,
            });
        }
    }
    let checked = walked.nodes.len();
    let verdict = match (evidence.as_slice(), walked.truncated) {
        ([], false) => (
            true,
            format!("nothing upstream is flagged ({checked} entities checked)"),
            evidence,
        ),
        ([], true) => (
            false,
            format!(
                "undecided: no flag among the {checked} entities checked, but a bound cut the walk"
            ),
            evidence,
        ),
        (flags, _) => {
            let mut flagged: Vec<String> = flags.iter().map(|e| e.entity.to_string()).collect();
            flagged.dedup();
            let explanation = format!(
                "{} flag{} upstream: {}",
                flags.len(),
                if flags.len() == 1 { "" } else { "s" },
                flagged.join(", ")
            );
            (false, explanation, evidence)
        }
    };
    (verdict, walked.truncated)
}

/// Whether a redaction erased the node's approvers' names.
fn approver_erased(node: &Node) -> bool {
    node.redactions()
        .iter()
        .any(|redaction| redaction.fields.iter().any(|field| field == "approved_by"))
}

fn approved(node: &Node, model: Option<&ModelFacts>) -> Verdict {
    let Some(registered) = model.and_then(|model| model.registered.as_ref()) else {
        return (
            false,
            format!("the registration of {} has not arrived yet", node.key),
            Vec::new(),
        );
    };
    let approver = &registered.value.approved_by;
    let evidence = vec![Evidence {
        entity: node.key.clone(),
        field: "approved_by".into(),
        value: approver.clone(),
        event_id: registered.stamp.event_id.as_str().to_owned(),
        seq: registered.seq,
    }];
    if !approver.is_empty() {
        (
            true,
            format!("registered with the approval of {approver}"),
            evidence,
        )
    } else if approver_erased(node) {
        (
            true,
            "registered with an approval (the approver's name was erased by a redaction)".into(),
            evidence,
        )
    } else {
        (false, "the registration names no approver".into(), evidence)
    }
}

fn stages_approved(node: &Node, model: Option<&ModelFacts>) -> Verdict {
    let changes = model.map(|model| &model.stage_changes);
    let Some(changes) = changes.filter(|changes| !changes.is_empty()) else {
        return (true, "no stage change yet".into(), Vec::new());
    };
    let erased = approver_erased(node);
    let mut unapproved = Vec::new();
    let evidence = changes
        .iter()
        .map(|(stamp, change)| {
            if change.approved_by.is_empty() && !erased {
                unapproved.push(format!(
                    "{} ({})",
                    change.stage.as_str(),
                    stamp.event_id.as_str()
                ));
            }
            Evidence {
                entity: node.key.clone(),
                field: format!("stage {}", change.stage.as_str()),
                value: change.approved_by.clone(),
                event_id: stamp.event_id.as_str().to_owned(),
                seq: change.seq,
            }
        })
        .collect();
    if unapproved.is_empty() {
        let count = changes.len();
        let plural = if count == 1 { "" } else { "s" };
        (
            true,
            format!("{count} stage change{plural}, each with an approver"),
            evidence,
        )
    } else {
        (
            false,
            format!(
                "stage changes without an approver: {}",
                unapproved.join(", ")
            ),
            evidence,
        )
    }
}

/// The explanation and evidence of a run term on `run`: the fact the term
/// reads and the event that stated it.
fn run_evidence(
    view: &AsOf<'_>,
    run: NodeIndex,
    condition: &Condition,
    satisfied: bool,
) -> (String, Vec<Evidence>) {
    let node = view.node(run);
    let key = &node.key;
    let Facts::Run(facts) = &node.facts else {
        return (format!("{key} is not a run"), Vec::new());
    };
    let facts: &RunFacts = facts;
    let evidence = |field: String, value: String, event_id: &str, seq: u64| Evidence {
        entity: key.clone(),
        field,
        value,
        event_id: event_id.to_owned(),
        seq,
    };
    let run_id = &key.name;
    match condition {
        Condition::Metric {
            key: metric,
            comparison,
            value,
        } => match facts.metric(metric) {
            None => (format!("run {run_id} has no metric {metric}"), Vec::new()),
            Some(series) => {
                let latest = series.latest();
                let (seq, event_id) = view.graph().metric_point_origin(&latest);
                let actual = latest.value;
                let step = latest.step;
                (
                    format!(
                        "metrics.{metric} of run {run_id} is {actual} (step {step}); needs {comparison} {value}"
                    ),
                    vec![evidence(
                        format!("metrics.{metric}"),
                        actual.to_string(),
                        event_id,
                        seq,
                    )],
                )
            }
        },
        Condition::Param { key: param, .. } => match facts.params.get(param) {
            None => (format!("run {run_id} has no parameter {param}"), Vec::new()),
            Some(value) => (
                format!("params.{param} of run {run_id} is '{}'", value.value),
                vec![evidence(
                    format!("params.{param}"),
                    value.value.to_string(),
                    value.stamp.event_id.as_str(),
                    value.seq,
                )],
            ),
        },
        Condition::Tag { key: tag, .. } => match node.tags.get(tag) {
            None => (format!("run {run_id} has no tag {tag}"), Vec::new()),
            Some(value) => (
                format!("tags.{tag} of run {run_id} is '{}'", value.value),
                vec![evidence(
                    format!("tags.{tag}"),
                    value.value.to_string(),
                    value.stamp.event_id.as_str(),
                    value.seq,
                )],
            ),
        },
        Condition::Status { .. } | Condition::EndedAt { .. } => {
            match (&facts.finished, &facts.started) {
                (Some(finished), _) => {
                    let status = finished.value.status.as_str();
                    (
                        format!("run {run_id} is {status}"),
                        vec![evidence(
                            "status".into(),
                            status.into(),
                            finished.stamp.event_id.as_str(),
                            finished.seq,
                        )],
                    )
                }
                (None, Some(started)) => (
                    format!("run {run_id} has started and not finished"),
                    vec![evidence(
                        "status".into(),
                        "STARTED".into(),
                        started.stamp.event_id.as_str(),
                        started.seq,
                    )],
                ),
                (None, None) => (format!("run {run_id} has not started"), Vec::new()),
            }
        }
        Condition::StartedAt { .. }
        | Condition::Attribute { .. }
        | Condition::Environment { .. } => match &facts.started {
            None => (format!("run {run_id} has not started"), Vec::new()),
            Some(started) => {
                let (field, value) = match condition {
                    Condition::Attribute { attribute, .. } => {
                        let value = match attribute {
                            crate::filter::Attribute::Experiment => {
                                started.value.experiment.clone().unwrap_or_default()
                            }
                            crate::filter::Attribute::Name => started.value.name.clone(),
                            crate::filter::Attribute::CodeVersion => {
                                started.value.code_version.clone()
                            }
                            crate::filter::Attribute::Compute => {
                                started.value.compute_target.clone().unwrap_or_default()
                            }
                            crate::filter::Attribute::Parent => {
                                started.value.parent_run_id.clone().unwrap_or_default()
                            }
                        };
                        (attribute.as_str().to_owned(), value)
                    }
                    Condition::Environment { .. } => (
                        "environment".to_owned(),
                        started
                            .value
                            .environment
                            .as_ref()
                            .map(|env| format!("{}@{}", env.name, env.version))
                            .unwrap_or_default(),
                    ),
                    _ => (
                        "started_at".to_owned(),
                        started.stamp.occurred_at.to_string(),
                    ),
                };
                (
                    format!("{field} of run {run_id} is '{value}'"),
                    vec![evidence(
                        field,
                        value,
                        started.stamp.event_id.as_str(),
                        started.seq,
                    )],
                )
            }
        },
        Condition::UsesDataset { .. } | Condition::UsesModel { .. } => {
            let kind = match condition {
                Condition::UsesModel { .. } => EntityKind::ModelVersion,
                _ => EntityKind::DatasetVersion,
            };
            let inputs: Vec<Evidence> = view
                .incoming(run, EdgeKind::Input)
                .filter(|&(_, input)| view.key(input).kind == kind)
                .map(|(edge, input)| Evidence {
                    entity: view.key(input).clone(),
                    field: "input of".into(),
                    value: run_id.clone(),
                    event_id: String::new(),
                    seq: view.edge(edge).2.first_seq(),
                })
                .collect();
            let listed: Vec<String> = inputs.iter().map(|e| e.entity.to_string()).collect();
            (format!("run {run_id} read {}", or_nothing(&listed)), inputs)
        }
        Condition::ProducedDataset { .. } => {
            let outputs: Vec<Evidence> = view
                .outgoing(run, EdgeKind::Produced)
                .filter(|&(_, output)| view.key(output).kind == EntityKind::DatasetVersion)
                .map(|(edge, output)| Evidence {
                    entity: view.key(output).clone(),
                    field: "produced by".into(),
                    value: run_id.clone(),
                    event_id: String::new(),
                    seq: view.edge(edge).2.first_seq(),
                })
                .collect();
            let listed: Vec<String> = outputs.iter().map(|e| e.entity.to_string()).collect();
            (
                format!("run {run_id} produced {}", or_nothing(&listed)),
                outputs,
            )
        }
        Condition::UpstreamOfModel { model, version } => (
            format!(
                "run {run_id} is {}upstream of model {model}@{version}",
                if satisfied { "" } else { "not " }
            ),
            Vec::new(),
        ),
        Condition::NoFlaggedUpstream | Condition::Approved | Condition::StagesApproved => {
            (String::new(), Vec::new())
        }
    }
}

fn or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing of that kind".into()
    } else {
        items.join(", ")
    }
}
