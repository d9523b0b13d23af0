//! Builders for wire events, and a small history shaped like the credit
//! lender's story in DOMAIN.md that the end-to-end tests ask questions of.

use std::collections::BTreeMap;

use lineage_proto::v1;
use lineage_proto::v1::event::Payload;

/// An event in workspace `ws` at `2026-03-01T00:00:00Z + minute` minutes.
pub fn event(id: &str, ws: &str, minute: i64, payload: Payload) -> v1::Event {
    v1::Event {
        event_id: id.into(),
        workspace: ws.into(),
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: 1_772_323_200 + minute * 60,
            nanos: 0,
        }),
        producer: "e2e-test".into(),
        actor: "alice@lender.example".into(),
        payload: Some(payload),
    }
}

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn dataset_ref(dataset: &str, version: &str) -> v1::DatasetVersionRef {
    v1::DatasetVersionRef {
        dataset: dataset.into(),
        version: version.into(),
    }
}

pub fn dataset(dataset: &str, version: &str, parents: &[(&str, &str)], run: &str) -> Payload {
    Payload::DatasetVersionRegistered(v1::DatasetVersionRegistered {
        dataset: dataset.into(),
        version: version.into(),
        uri: format!("s3://lake/{dataset}/{version}"),
        digest: format!("sha256:{dataset}-{version}"),
        derived_from: parents.iter().map(|(d, v)| dataset_ref(d, v)).collect(),
        produced_by_run_id: run.into(),
    })
}

pub fn run_started(run_id: &str, parent: &str, params: &[(&str, &str)]) -> Payload {
    Payload::RunStarted(v1::RunStarted {
        run_id: run_id.into(),
        experiment: "credit-risk-2026".into(),
        name: run_id.into(),
        parent_run_id: parent.into(),
        code_version: "9f2c1e7".into(),
        environment: Some(v1::EnvironmentRef {
            name: "xgboost".into(),
            version: "2.0.3".into(),
        }),
        compute_target: "cpu-pool-a".into(),
        params: map(params),
        tags: map(&[("team", "credit-risk")]),
    })
}

pub fn run_finished(run_id: &str) -> Payload {
    Payload::RunFinished(v1::RunFinished {
        run_id: run_id.into(),
        status: v1::RunStatus::Completed as i32,
        error: String::new(),
    })
}

pub fn inputs(run_id: &str, datasets: &[(&str, &str)]) -> Payload {
    Payload::RunInputsDeclared(v1::RunInputsDeclared {
        run_id: run_id.into(),
        datasets: datasets.iter().map(|(d, v)| dataset_ref(d, v)).collect(),
        artifacts: Vec::new(),
        models: Vec::new(),
    })
}

pub fn metric(run_id: &str, key: &str, value: f64) -> Payload {
    Payload::MetricsLogged(v1::MetricsLogged {
        run_id: run_id.into(),
        metrics: vec![v1::Metric {
            key: key.into(),
            value,
            step: 9,
            timestamp: None,
        }],
    })
}

pub fn artifact(run_id: &str, name: &str) -> Payload {
    Payload::ArtifactLogged(v1::ArtifactLogged {
        run_id: run_id.into(),
        name: name.into(),
        uri: format!("s3://artifacts/{run_id}/{name}"),
        digest: format!("sha256:{run_id}-{name}"),
        kind: "model".into(),
        size_bytes: 1_048_576,
    })
}

pub fn registered(model: &str, version: &str, run_id: &str, artifact: &str) -> Payload {
    Payload::ModelRegistered(v1::ModelRegistered {
        model: model.into(),
        version: version.into(),
        source_run_id: run_id.into(),
        artifact_name: artifact.into(),
        approval_notes: "beats v6 on AUC, fairness gap within policy".into(),
        approved_by: "risk-committee".into(),
    })
}

pub fn stage(model: &str, version: &str, stage: v1::ModelStage) -> Payload {
    Payload::ModelStageChanged(v1::ModelStageChanged {
        model: model.into(),
        version: version.into(),
        stage: stage as i32,
        reason: "validation passed".into(),
        approved_by: "model-risk-officer".into(),
    })
}

pub fn deployed(model: &str, version: &str, endpoint: &str) -> Payload {
    Payload::ModelDeployed(v1::ModelDeployed {
        model: model.into(),
        version: version.into(),
        endpoint: endpoint.into(),
        deployment: format!("{endpoint}-{model}-{version}"),
    })
}

pub fn flagged(kind: v1::EntityKind, name: &str, version: &str) -> Payload {
    Payload::EntityFlagged(v1::EntityFlagged {
        entity: Some(v1::EntityRef {
            workspace: String::new(),
            kind: kind as i32,
            name: name.into(),
            version: version.into(),
        }),
        reason: "a bad join duplicated rows".into(),
        severity: v1::Severity::High as i32,
    })
}

/// The credit lender's story: raw applications → cleaned → features; a
/// sweep whose best trial registers credit-risk@7, promoted and deployed;
/// an older trial on applications@2 registers credit-risk@6; then
/// applications@3 is flagged corrupt. 27 events in workspace `lender`.
pub fn credit_story() -> Vec<v1::Event> {
    let ws = "lender";
    let mut minute = 0;
    let mut n = 0;
    let mut next = |payload: Payload| {
        minute += 1;
        n += 1;
        event(&format!("lender-{n:03}"), ws, minute, payload)
    };
    vec![
        next(run_started("prep-3", "", &[])),
        next(dataset("applications-raw", "3", &[], "")),
        next(inputs("prep-3", &[("applications-raw", "3")])),
        next(dataset(
            "applications",
            "3",
            &[("applications-raw", "3")],
            "prep-3",
        )),
        next(run_finished("prep-3")),
        next(dataset("applications", "2", &[], "")),
        next(dataset("features", "3", &[("applications", "3")], "")),
        next(run_started("sweep-1", "", &[])),
        next(run_started("trial-1", "sweep-1", &[("lr", "0.01")])),
        next(inputs(
            "trial-1",
            &[("features", "3"), ("bureau-scores", "2")],
        )),
        next(metric("trial-1", "auc", 0.81)),
        next(artifact("trial-1", "model.pkl")),
        next(run_finished("trial-1")),
        next(run_started("trial-2", "sweep-1", &[("lr", "0.1")])),
        next(inputs("trial-2", &[("applications", "3")])),
        next(run_finished("trial-2")),
        next(run_started("old-1", "", &[("lr", "0.03")])),
        next(inputs("old-1", &[("applications", "2")])),
        next(artifact("old-1", "model.pkl")),
        next(run_finished("old-1")),
        next(registered("credit-risk", "6", "old-1", "model.pkl")),
        next(registered("credit-risk", "7", "trial-1", "model.pkl")),
        next(stage("credit-risk", "7", v1::ModelStage::Staging)),
        next(stage("credit-risk", "7", v1::ModelStage::Production)),
        next(deployed("credit-risk", "7", "credit-scoring-eu")),
        next(run_finished("sweep-1")),
        next(flagged(v1::EntityKind::DatasetVersion, "applications", "3")),
    ]
}
