//! Turning answers into output: [`text`] for people (entities, trees, the
//! `runs-using` table, traces, status, diffs, a watch's lines), [`runs`]
//! for the `runs` tables (search, comparison, metric history),
//! [`promotion`] for a promotion check, [`svg`] for the charts of `runs
//! compare --plot`, [`dot`] for Graphviz, and JSON (the proto3 JSON
//! mapping, via pbjson's `Serialize`) for tools.
//!
//! Renderers are pure functions from response messages to a `String`, so
//! they are tested on hand-built messages without a server; `main` writes
//! the string to stdout.

/// Formats an optional protobuf timestamp field as RFC 3339. A macro
/// because the timestamp type lives in a crate this binary does not name.
macro_rules! time {
    ($field:expr) => {
        $field
            .as_ref()
            .map(|t| $crate::render::rfc3339(t.seconds, t.nanos))
    };
}

pub mod dot;
pub mod promotion;
pub mod runs;
pub mod svg;
pub mod text;

use lineage_proto::v1;

use crate::entity::display_ref;

/// Pretty-prints a response already turned into its proto3 JSON mapping
/// (`serde_json::to_value` on the message, via pbjson's `Serialize`).
pub fn json(value: &serde_json::Value) -> anyhow::Result<String> {
    let mut out = serde_json::to_string_pretty(value)?;
    out.push('\n');
    Ok(out)
}

/// A node's identity in rendered output: `kind:name[@version]`.
fn node_id(entity: &v1::Entity) -> String {
    entity
        .r#ref
        .as_ref()
        .map_or_else(|| "?:?".to_owned(), display_ref)
}

/// The model stage of a model version entity, if it has one.
fn model_stage(entity: &v1::Entity) -> Option<v1::ModelStage> {
    match &entity.details {
        Some(v1::entity::Details::ModelVersion(model)) => {
            match v1::ModelStage::try_from(model.stage) {
                Ok(v1::ModelStage::Unspecified) | Err(_) => None,
                Ok(stage) => Some(stage),
            }
        }
        _ => None,
    }
}

/// Whether an entity is a model version currently in production.
fn in_production(entity: &v1::Entity) -> bool {
    model_stage(entity) == Some(v1::ModelStage::Production)
}

/// A model version's standing against its model's promotion criteria: set
/// only while it is in production and its model has criteria.
fn promotion(entity: &v1::Entity) -> Option<&v1::PromotionStatus> {
    match &entity.details {
        Some(v1::entity::Details::ModelVersion(model)) => model.promotion.as_ref(),
        _ => None,
    }
}

/// How a promotion status reads in full: `✘ in production WITHOUT meeting
/// its criteria: <unmet, ...>`, or `✔ meets its promotion criteria`.
fn promotion_summary(status: &v1::PromotionStatus) -> String {
    if status.met {
        return "✔ meets its promotion criteria".to_owned();
    }
    let mut text = "✘ in production WITHOUT meeting its criteria".to_owned();
    if !status.unmet.is_empty() {
        text.push_str(": ");
        text.push_str(&status.unmet.join(", "));
    }
    text
}

/// The most severe flag on an entity, if any is set.
fn worst_flag(entity: &v1::Entity) -> Option<v1::Severity> {
    entity
        .flags
        .iter()
        .map(|flag| v1::Severity::try_from(flag.severity).unwrap_or(v1::Severity::Unspecified))
        .max_by_key(|severity| *severity as i32)
}

/// `FLAGGED(HIGH)` style text for a severity; unspecified severities read
/// as plain `FLAGGED`.
fn flag_label(severity: v1::Severity) -> String {
    match severity {
        v1::Severity::Unspecified => "FLAGGED".to_owned(),
        other => format!("FLAGGED({})", other.as_str_name()),
    }
}

/// The lowercase command-line name of an edge kind (`ran_in`).
fn edge_label(raw: i32) -> String {
    v1::EdgeKind::try_from(raw).map_or_else(
        |_| format!("edge_{raw}"),
        |kind| kind.as_str_name().to_ascii_lowercase(),
    )
}

/// An enum's name, or its number when this build does not know it.
fn enum_name<E: TryFrom<i32>>(raw: i32, name: impl Fn(&E) -> &'static str) -> String {
    E::try_from(raw).map_or_else(|_| raw.to_string(), |value| name(&value).to_owned())
}

/// RFC 3339 in UTC (`2026-07-06T08:00:00Z`, with a fraction only when the
/// time has one), from protobuf timestamp parts; one too far from 1970
/// for nanoseconds in 64 bits (beyond ±292 years) as its raw parts.
pub fn rfc3339(seconds: i64, nanos: i32) -> String {
    let unix_nanos = seconds
        .checked_mul(1_000_000_000)
        .and_then(|whole| whole.checked_add(i64::from(nanos)));
    match unix_nanos {
        Some(unix_nanos) => lineage_core::EventTime::from_unix_nanos(unix_nanos).to_string(),
        None => format!("{seconds}s {nanos}ns since 1970"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_783_324_800, 0), "2026-07-06T08:00:00Z");
        assert_eq!(rfc3339(951_782_400, 500_000_000), "2000-02-29T00:00:00.5Z");
        assert_eq!(rfc3339(-1, 0), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(7_258_118_400, 0), "2200-01-01T00:00:00Z");
    }
}

/// Hand-built answers for the renderers' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use lineage_proto::v1;

    pub const WORKSPACE: &str = "credit-lender";

    pub fn reference(kind: v1::EntityKind, name: &str, version: &str) -> v1::EntityRef {
        v1::EntityRef {
            workspace: WORKSPACE.to_owned(),
            kind: kind as i32,
            name: name.to_owned(),
            version: version.to_owned(),
        }
    }

    pub fn applications() -> v1::EntityRef {
        reference(v1::EntityKind::DatasetVersion, "applications", "3")
    }
    pub fn applications_clean() -> v1::EntityRef {
        reference(v1::EntityKind::DatasetVersion, "applications-clean", "1")
    }
    pub fn run() -> v1::EntityRef {
        reference(v1::EntityKind::Run, "cr-sweep-0706-t08", "")
    }
    pub fn artifact() -> v1::EntityRef {
        reference(v1::EntityKind::Artifact, "cr-sweep-0706-t08/model.pkl", "")
    }
    pub fn model() -> v1::EntityRef {
        reference(v1::EntityKind::ModelVersion, "credit-risk", "7")
    }
    pub fn endpoint() -> v1::EntityRef {
        reference(v1::EntityKind::Endpoint, "scoring-eu", "")
    }

    pub fn node(reference: v1::EntityRef, details: Option<v1::entity::Details>) -> v1::Entity {
        v1::Entity {
            r#ref: Some(reference),
            first_seq: 1,
            details,
            ..v1::Entity::default()
        }
    }

    pub fn edge(from: v1::EntityRef, to: v1::EntityRef, kind: v1::EdgeKind) -> v1::Edge {
        v1::Edge {
            from: Some(from),
            to: Some(to),
            kind: kind as i32,
            first_seq: 1,
            ..v1::Edge::default()
        }
    }

    pub fn flagged_applications() -> v1::Entity {
        let mut dataset = node(
            applications(),
            Some(v1::entity::Details::DatasetVersion(
                v1::DatasetVersionDetails {
                    uri: "s3://lake/applications/3".to_owned(),
                    digest: "sha256:ab12".to_owned(),
                    ..Default::default()
                },
            )),
        );
        dataset.flags.push(v1::Flag {
            reason: "label leakage".to_owned(),
            severity: v1::Severity::High as i32,
            flagged_by: "audit".to_owned(),
            ..Default::default()
        });
        dataset
    }

    pub fn completed_run() -> v1::Entity {
        node(
            run(),
            Some(v1::entity::Details::Run(v1::RunDetails {
                experiment: "credit-risk-2026".to_owned(),
                status: v1::RunStatus::Completed as i32,
                owner: "alice".to_owned(),
                code_version: "9f3c2e1".to_owned(),
                environment: Some(v1::EnvironmentRef {
                    name: "sklearn".to_owned(),
                    version: "1.4.2".to_owned(),
                }),
                compute_target: "gpu-a100".to_owned(),
                params: [("lr".to_owned(), "0.01".to_owned())].into(),
                latest_metrics: vec![v1::MetricValue {
                    key: "auc".to_owned(),
                    value: 0.81,
                    step: 10,
                    timestamp: None,
                }],
                input_datasets: vec![
                    v1::DatasetVersionRef {
                        dataset: "applications".to_owned(),
                        version: "3".to_owned(),
                    },
                    v1::DatasetVersionRef {
                        dataset: "applications-clean".to_owned(),
                        version: "1".to_owned(),
                    },
                ],
                artifacts: vec!["model.pkl".to_owned()],
                ..Default::default()
            })),
        )
    }

    /// Criteria `credit-risk@7` does not meet: its precision is too low.
    pub fn unmet_criteria() -> v1::PromotionStatus {
        v1::PromotionStatus {
            criteria: "metrics.precision >= 0.9 and approved".to_owned(),
            criteria_event_id: "criteria-1".to_owned(),
            met: false,
            unmet: vec!["metrics.precision >= 0.9".to_owned()],
        }
    }

    /// `production_model()` with a standing against its model's criteria.
    pub fn production_model_with(status: v1::PromotionStatus) -> v1::Entity {
        let mut model = production_model();
        if let Some(v1::entity::Details::ModelVersion(details)) = &mut model.details {
            details.promotion = Some(status);
        }
        model
    }

    pub fn production_model() -> v1::Entity {
        node(
            model(),
            Some(v1::entity::Details::ModelVersion(v1::ModelVersionDetails {
                source_run_id: "cr-sweep-0706-t08".to_owned(),
                artifact_name: "model.pkl".to_owned(),
                approval_notes: "beats v6 on AUC".to_owned(),
                approved_by: "bob".to_owned(),
                stage: v1::ModelStage::Production as i32,
                stage_history: vec![v1::StageChange {
                    stage: v1::ModelStage::Production as i32,
                    reason: "quarterly release".to_owned(),
                    approved_by: "carol".to_owned(),
                    ..Default::default()
                }],
                deployments: vec![v1::Deployment {
                    endpoint: "scoring-eu".to_owned(),
                    deployment: "deploy-42".to_owned(),
                    deployed_at: None,
                }],
                ..Default::default()
            })),
        )
    }

    /// Everything downstream of `dataset:applications@3`, with a diamond
    /// (the run reads both the dataset and a version derived from it) and
    /// a model reached twice (registered from the run, packaging its
    /// artifact).
    pub fn impact() -> v1::Subgraph {
        v1::Subgraph {
            nodes: vec![
                flagged_applications(),
                completed_run(),
                node(applications_clean(), None),
                node(artifact(), None),
                production_model(),
                node(
                    endpoint(),
                    Some(v1::entity::Details::Endpoint(v1::EndpointDetails {
                        model: Some(v1::ModelVersionRef {
                            model: "credit-risk".to_owned(),
                            version: "7".to_owned(),
                        }),
                        deployment: "deploy-42".to_owned(),
                        deployed_at: None,
                    })),
                ),
            ],
            edges: vec![
                edge(applications(), run(), v1::EdgeKind::Input),
                edge(applications(), applications_clean(), v1::EdgeKind::Derived),
                edge(applications_clean(), run(), v1::EdgeKind::Input),
                edge(run(), artifact(), v1::EdgeKind::Produced),
                edge(run(), model(), v1::EdgeKind::Registered),
                edge(artifact(), model(), v1::EdgeKind::Packaged),
                edge(model(), endpoint(), v1::EdgeKind::Deployed),
            ],
            truncated: false,
            applied_seq: 42,
        }
    }

    /// Everything upstream of `model:credit-risk@7`: the impact graph
    /// without the endpoint, with the model first.
    pub fn provenance() -> v1::Subgraph {
        let mut graph = impact();
        graph
            .nodes
            .retain(|node| node.r#ref.as_ref() != Some(&endpoint()));
        graph
            .edges
            .retain(|edge| edge.kind != v1::EdgeKind::Deployed as i32);
        graph.truncated = true;
        graph
    }
}
