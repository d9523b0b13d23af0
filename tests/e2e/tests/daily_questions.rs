//! DOMAIN.md's daily questions asked of a real lineaged over gRPC, after the
//! demo history (deploy/demo/history.jsonl) arrived over real JetStream:
//! searching and ranking runs and comparing them (question 5), checking a
//! model version against its promotion criteria and who approved it
//! (question 6), and the promotion status a production model version
//! carries into impact answers (the "in production without meeting its
//! criteria" of question 8's incidents), and a live watch of the flagged
//! dataset (question 8).
//!
//! Every expected answer is computed here from the history file itself
//! ([`Demo`]: the events folded by event time, as the service folds them),
//! so the tests keep their meaning when the story is regenerated.

use std::collections::{BTreeMap, BTreeSet};

use async_nats::jetstream;
use lineage_e2e::{Lineaged, NatsServer, demo_lines, entity, label, publish_demo_history};
use lineage_proto::v1;
use lineage_proto::v1::EntityKind as K;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use serde_json::Value;
use tonic::transport::Channel;

const LENDER: &str = "credit-lender";
const AGRI: &str = "agri-yield";
const FRAUD: &str = "insurer-fraud";

/// The most pages a walk through an answer reads: a page token that never
/// ends the walk fails the test instead of hanging it.
const MAX_PAGES: usize = 100;

/// Later than any event time of the demo (RFC 3339 times compare as text).
const END_OF_TIME: &str = "9999";

/// One point of a run's metric, as the history logged it.
#[derive(Debug, Clone)]
struct Point {
    step: i64,
    /// RFC 3339, as in the history (the event's time when a point has none).
    timestamp: String,
    value: f64,
    event_id: String,
}

/// A run as the history states it, by event time.
#[derive(Debug, Default)]
struct Run {
    experiment: String,
    /// `STARTED`, `COMPLETED`, `FAILED` or `CANCELED`.
    status: String,
    started_at: String,
    code_version: String,
    /// `name@version`.
    environment: String,
    params: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    /// `dataset@version` of every dataset version it declared as an input.
    inputs: BTreeSet<String>,
    metrics: BTreeMap<String, Vec<Point>>,
}

impl Run {
    /// The point at the highest step (the latest timestamp within it).
    fn latest(&self, key: &str) -> Option<&Point> {
        self.metrics
            .get(key)?
            .iter()
            .max_by(|a, b| (a.step, &a.timestamp).cmp(&(b.step, &b.timestamp)))
    }

    /// The points of a metric by step, then timestamp.
    fn series(&self, key: &str) -> Vec<Point> {
        let mut points = self.metrics.get(key).cloned().unwrap_or_default();
        points.sort_by(|a, b| (a.step, &a.timestamp).cmp(&(b.step, &b.timestamp)));
        points
    }
}

/// A model version as the history states it.
#[derive(Debug, Default)]
struct ModelVersion {
    source_run: String,
    approved_by: String,
    registration_event: String,
    /// (stage, approver, event time), in event-time order.
    stages: Vec<(String, String, String)>,
}

/// Promotion criteria as one `promotion_criteria_set` set them.
#[derive(Debug, Clone)]
struct Criteria {
    occurred_at: String,
    criteria: String,
    event_id: String,
}

/// The demo history folded by event time: what the service's answers are
/// checked against.
#[derive(Debug, Default)]
struct Demo {
    events: usize,
    /// By (workspace, run id).
    runs: BTreeMap<(String, String), Run>,
    /// By (workspace, model, version).
    versions: BTreeMap<(String, String, String), ModelVersion>,
    /// Every criteria of each (workspace, model), in event-time order.
    criteria: BTreeMap<(String, String), Vec<Criteria>>,
    /// What each node (workspace, label as `lineage_e2e::label` writes it)
    /// was made from: the edges an upstream walk follows.
    causes: BTreeMap<(String, String), BTreeSet<(String, String)>>,
    /// The flag events of each node: (event id, event time).
    flags: BTreeMap<(String, String), Vec<(String, String)>>,
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn dataset_label(reference: &Value) -> String {
    format!(
        "dataset:{}@{}",
        text(reference, "dataset"),
        text(reference, "version")
    )
}

/// The label of an entity reference of an event (a flag's, a tag's).
fn entity_label(reference: &Value) -> String {
    let (name, version) = (text(reference, "name"), text(reference, "version"));
    let kind = match text(reference, "kind") {
        "RUN" => return format!("run:{name}"),
        "COMPUTE" => return format!("compute:{name}"),
        "DATASET_VERSION" => "dataset",
        "MODEL_VERSION" => "model",
        "ENVIRONMENT" => "env",
        other => panic!("the demo flags or tags no {other} entity"),
    };
    format!("{kind}:{name}@{version}")
}

impl Demo {
    fn load() -> Self {
        let mut events: Vec<Value> = demo_lines()
            .iter()
            .map(|line| serde_json::from_str(line).expect("each demo line is JSON"))
            .collect();
        // Folded by event time, as the projection folds registers (the
        // demo's one late backfill arrives out of order).
        events.sort_by(|a, b| text(a, "occurred_at").cmp(text(b, "occurred_at")));
        let mut demo = Demo {
            events: events.len(),
            ..Demo::default()
        };
        for event in &events {
            demo.apply(event);
        }
        demo
    }

    fn cause(&mut self, ws: &str, node: String, cause: String) {
        self.causes
            .entry((ws.to_owned(), node))
            .or_default()
            .insert((ws.to_owned(), cause));
    }

    fn apply(&mut self, event: &Value) {
        let ws = text(event, "workspace").to_owned();
        let id = text(event, "event_id").to_owned();
        let at = text(event, "occurred_at").to_owned();
        let string_map = |value: &Value| -> BTreeMap<String, String> {
            value
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        if let Some(p) = event.get("run_started") {
            let run_id = text(p, "run_id").to_owned();
            let env = &p["environment"];
            let environment = format!("{}@{}", text(env, "name"), text(env, "version"));
            let node = format!("run:{run_id}");
            self.cause(&ws, node.clone(), format!("env:{environment}"));
            self.cause(
                &ws,
                node.clone(),
                format!("compute:{}", text(p, "compute_target")),
            );
            if !text(p, "parent_run_id").is_empty() {
                self.cause(&ws, node, format!("run:{}", text(p, "parent_run_id")));
            }
            let run = self.runs.entry((ws, run_id)).or_default();
            run.experiment = text(p, "experiment").to_owned();
            run.status = "STARTED".into();
            run.started_at = at;
            run.code_version = text(p, "code_version").to_owned();
            run.environment = environment;
            run.params.extend(string_map(&p["params"]));
            run.tags.extend(string_map(&p["tags"]));
        } else if let Some(p) = event.get("run_inputs_declared") {
            let run_id = text(p, "run_id").to_owned();
            let node = format!("run:{run_id}");
            let empty = Vec::new();
            let list = |field: &str| p[field].as_array().unwrap_or(&empty).clone();
            for dataset in list("datasets") {
                self.cause(&ws, node.clone(), dataset_label(&dataset));
                let run = self.runs.entry((ws.clone(), run_id.clone())).or_default();
                run.inputs.insert(format!(
                    "{}@{}",
                    text(&dataset, "dataset"),
                    text(&dataset, "version")
                ));
            }
            for model in list("models") {
                let cause = format!(
                    "model:{}@{}",
                    text(&model, "model"),
                    text(&model, "version")
                );
                self.cause(&ws, node.clone(), cause);
            }
            for artifact in list("artifacts") {
                let cause = format!(
                    "artifact:{}/{}",
                    text(&artifact, "run_id"),
                    text(&artifact, "name")
                );
                self.cause(&ws, node.clone(), cause);
            }
        } else if let Some(p) = event.get("params_logged") {
            let run = self.run_mut(&ws, text(p, "run_id"));
            run.params.extend(string_map(&p["params"]));
        } else if let Some(p) = event.get("metrics_logged") {
            let run = self.run_mut(&ws, text(p, "run_id"));
            for metric in p["metrics"].as_array().expect("metrics") {
                let timestamp = metric["timestamp"].as_str().unwrap_or(&at).to_owned();
                run.metrics
                    .entry(text(metric, "key").to_owned())
                    .or_default()
                    .push(Point {
                        step: metric["step"].as_i64().unwrap_or(0),
                        timestamp,
                        value: metric["value"].as_f64().expect("a metric value"),
                        event_id: id.clone(),
                    });
            }
        } else if let Some(p) = event.get("artifact_logged") {
            let run_id = text(p, "run_id");
            let node = format!("artifact:{run_id}/{}", text(p, "name"));
            self.cause(&ws, node, format!("run:{run_id}"));
        } else if let Some(p) = event.get("run_finished") {
            self.run_mut(&ws, text(p, "run_id")).status = text(p, "status").to_owned();
        } else if let Some(p) = event.get("tags_set") {
            if text(&p["entity"], "kind") == "RUN" {
                let run = self.run_mut(&ws, text(&p["entity"], "name"));
                run.tags.extend(string_map(&p["tags"]));
            }
        } else if let Some(p) = event.get("dataset_version_registered") {
            let node = dataset_label(p);
            for parent in p["derived_from"].as_array().into_iter().flatten() {
                self.cause(&ws, node.clone(), dataset_label(parent));
            }
            if !text(p, "produced_by_run_id").is_empty() {
                self.cause(&ws, node, format!("run:{}", text(p, "produced_by_run_id")));
            }
        } else if let Some(p) = event.get("model_registered") {
            let (model, version) = (text(p, "model"), text(p, "version"));
            let source_run = text(p, "source_run_id").to_owned();
            let node = format!("model:{model}@{version}");
            self.cause(&ws, node.clone(), format!("run:{source_run}"));
            let artifact = text(p, "artifact_name");
            if !artifact.is_empty() {
                self.cause(&ws, node, format!("artifact:{source_run}/{artifact}"));
            }
            let registered = self
                .versions
                .entry((ws, model.to_owned(), version.to_owned()))
                .or_default();
            registered.source_run = source_run;
            registered.approved_by = text(p, "approved_by").to_owned();
            registered.registration_event = id;
        } else if let Some(p) = event.get("model_stage_changed") {
            let key = (ws, text(p, "model").into(), text(p, "version").into());
            self.versions.entry(key).or_default().stages.push((
                text(p, "stage").to_owned(),
                text(p, "approved_by").to_owned(),
                at,
            ));
        } else if let Some(p) = event.get("entity_flagged") {
            let node = entity_label(&p["entity"]);
            self.flags.entry((ws, node)).or_default().push((id, at));
        } else if let Some(p) = event.get("promotion_criteria_set") {
            self.criteria
                .entry((ws, text(p, "model").to_owned()))
                .or_default()
                .push(Criteria {
                    occurred_at: at,
                    criteria: text(p, "criteria").to_owned(),
                    event_id: id,
                });
        }
    }

    fn run_mut(&mut self, ws: &str, run_id: &str) -> &mut Run {
        self.runs
            .entry((ws.to_owned(), run_id.to_owned()))
            .or_default()
    }

    fn run(&self, ws: &str, run_id: &str) -> &Run {
        self.runs
            .get(&(ws.to_owned(), run_id.to_owned()))
            .unwrap_or_else(|| panic!("the demo has run {run_id} in {ws}"))
    }

    fn version(&self, ws: &str, model: &str, version: &str) -> &ModelVersion {
        self.versions
            .get(&(ws.to_owned(), model.to_owned(), version.to_owned()))
            .unwrap_or_else(|| panic!("the demo registers {model}@{version} in {ws}"))
    }

    /// The ids of a workspace's runs that satisfy `filter`, by run id.
    fn runs_where(&self, ws: &str, filter: impl Fn(&Run) -> bool) -> Vec<String> {
        self.runs
            .iter()
            .filter(|((w, _), run)| w == ws && filter(run))
            .map(|((_, id), _)| id.clone())
            .collect()
    }

    /// `runs` ranked by their latest value of `metric` (best first as
    /// `descending` says), runs without it last; ties by run id.
    fn ranked(&self, ws: &str, runs: &[String], metric: &str, descending: bool) -> Vec<String> {
        let mut ranked = runs.to_vec();
        let value = |id: &String| self.run(ws, id).latest(metric).map(|point| point.value);
        ranked.sort_by(|a, b| match (value(a), value(b)) {
            (Some(x), Some(y)) => {
                let order = x.partial_cmp(&y).expect("finite metrics");
                let order = if descending { order.reverse() } else { order };
                order.then_with(|| a.cmp(b))
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(b),
        });
        ranked
    }

    /// Every node upstream of `node` (not itself), following what each
    /// node was made from.
    fn upstream(&self, ws: &str, node: &str) -> BTreeSet<String> {
        let start = (ws.to_owned(), node.to_owned());
        let mut seen = BTreeSet::from([start.clone()]);
        let mut todo = vec![start.clone()];
        while let Some(next) = todo.pop() {
            for cause in self.causes.get(&next).into_iter().flatten() {
                if seen.insert(cause.clone()) {
                    todo.push(cause.clone());
                }
            }
        }
        seen.remove(&start);
        seen.into_iter().map(|(_, label)| label).collect()
    }

    /// The criteria of a model in force at `moment` (RFC 3339), if any.
    fn criteria_at(&self, ws: &str, model: &str, moment: &str) -> Option<&Criteria> {
        self.criteria
            .get(&(ws.to_owned(), model.to_owned()))?
            .iter()
            .rfind(|criteria| criteria.occurred_at.as_str() <= moment)
    }

    /// The criteria of a model now.
    fn criteria_now(&self, ws: &str, model: &str) -> &Criteria {
        self.criteria
            .get(&(ws.to_owned(), model.to_owned()))
            .and_then(|all| all.last())
            .unwrap_or_else(|| panic!("the demo sets criteria for {model} in {ws}"))
    }

    /// The versions of a model whose latest stage change by `moment` is to
    /// PRODUCTION.
    fn in_production_at(&self, ws: &str, model: &str, moment: &str) -> Vec<String> {
        self.versions
            .iter()
            .filter(|((w, m, _), version)| {
                w == ws
                    && m == model
                    && version
                        .stages
                        .iter()
                        .rfind(|(_, _, at)| at.as_str() <= moment)
                        .is_some_and(|(stage, _, _)| stage == "PRODUCTION")
            })
            .map(|((_, _, v), _)| v.clone())
            .collect()
    }

    /// The single version of a model in production now.
    fn production_version(&self, ws: &str, model: &str) -> String {
        let versions = self.in_production_at(ws, model, END_OF_TIME);
        let [version] = versions.as_slice() else {
            panic!("one version of {model} in production at the end of the demo: {versions:?}");
        };
        version.clone()
    }

    /// The flag events on `node`.
    fn flag_events(&self, ws: &str, node: &str) -> Vec<String> {
        self.flags
            .get(&(ws.to_owned(), node.to_owned()))
            .into_iter()
            .flatten()
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// A fresh nats-server and lineaged holding the whole demo history.
async fn demo_stack(demo: &Demo) -> (NatsServer, tempfile::TempDir, Lineaged) {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    assert_eq!(publish_demo_history(&js).await, demo.events as u64);
    let status = lineaged.wait_applied(demo.events as u64).await;
    assert_eq!(
        status.dead_lettered, 0,
        "every demo event is valid: {status:?}"
    );
    (nats, data, lineaged)
}

fn run_ids(runs: &[v1::Entity]) -> Vec<String> {
    runs.iter()
        .map(|run| run.r#ref.as_ref().expect("a ref").name.clone())
        .collect()
}

fn run_details(entity: &v1::Entity) -> &v1::RunDetails {
    match &entity.details {
        Some(v1::entity::Details::Run(run)) => run,
        other => panic!("run details expected for {}: {other:?}", label(entity)),
    }
}

fn model_details(entity: &v1::Entity) -> &v1::ModelVersionDetails {
    match &entity.details {
        Some(v1::entity::Details::ModelVersion(model)) => model,
        other => panic!("model details expected for {}: {other:?}", label(entity)),
    }
}

fn search(ws: &str, filter: &str, order_by: &[&str]) -> v1::SearchRunsRequest {
    v1::SearchRunsRequest {
        workspace: ws.into(),
        filter: filter.into(),
        order_by: order_by.iter().map(|key| (*key).to_owned()).collect(),
        ..Default::default()
    }
}

/// Every run a search answers, walking its pages; and how many pages.
async fn search_all(
    client: &mut LineageServiceClient<Channel>,
    request: v1::SearchRunsRequest,
) -> (Vec<String>, usize) {
    let mut runs = Vec::new();
    let mut token = String::new();
    for page in 1..=MAX_PAGES {
        let answer = client
            .search_runs(v1::SearchRunsRequest {
                page_token: token,
                ..request.clone()
            })
            .await
            .unwrap_or_else(|status| panic!("SearchRuns {:?}: {status}", request.filter))
            .into_inner();
        if request.page_size > 0 {
            assert!(
                answer.runs.len() <= request.page_size as usize,
                "a page holds at most page_size runs"
            );
        }
        assert!(
            answer.candidates >= answer.runs.len() as u64,
            "a page's runs are among its candidates: {answer:?}"
        );
        runs.extend(run_ids(&answer.runs));
        if answer.next_page_token.is_empty() {
            return (runs, page);
        }
        token = answer.next_page_token;
    }
    panic!(
        "SearchRuns {:?} had more than {MAX_PAGES} pages",
        request.filter
    );
}

fn as_of(moment: &str) -> Option<v1::AsOf> {
    let time: pbjson_types::Timestamp =
        serde_json::from_value(Value::String(moment.to_owned())).expect("an RFC 3339 time");
    Some(v1::AsOf {
        point: Some(v1::as_of::Point::OccurredBy(time)),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_runs_filters_ranks_and_pages_the_demo() {
    let demo = Demo::load();
    let (_nats, _data, lineaged) = demo_stack(&demo).await;
    let mut client = lineaged.client().await;

    // Question 5: which trials of the sweep used lr = 0.01, ranked by AUC.
    let at_lr = demo.runs_where(LENDER, |run| {
        run.experiment == "credit-risk-2026"
            && run.params.get("lr").map(String::as_str) == Some("0.01")
            && run.tags.get("kind").map(String::as_str) == Some("trial")
    });
    assert!(at_lr.len() >= 2, "the sweep tried lr = 0.01 more than once");
    let expected = demo.ranked(LENDER, &at_lr, "auc", true);
    let answer = client
        .search_runs(v1::SearchRunsRequest {
            experiments: vec!["credit-risk-2026".into()],
            view: v1::EntityView::Full as i32,
            ..search(
                LENDER,
                "params.lr = '0.01' and tags.kind = 'trial'",
                &["metrics.auc DESC"],
            )
        })
        .await
        .expect("search the sweep")
        .into_inner();
    assert_eq!(run_ids(&answer.runs), expected);
    assert!(answer.next_page_token.is_empty());
    assert!(answer.applied_seq >= demo.events as u64);
    for run in &answer.runs {
        let details = run_details(run);
        let id = &run.r#ref.as_ref().expect("a ref").name;
        assert_eq!(details.params.get("lr").map(String::as_str), Some("0.01"));
        let auc = details.latest_metrics.iter().find(|m| m.key == "auc");
        assert_eq!(
            auc.map(|m| m.value),
            demo.run(LENDER, id).latest("auc").map(|p| p.value),
            "{id} is ranked by the AUC it shows"
        );
    }

    // Which runs used applications@3, and any version of it: the runs
    // RunsUsingDataset finds, by run id.
    for (filter, version) in [
        ("uses dataset 'applications@3'", "3"),
        ("uses dataset 'applications'", ""),
    ] {
        let expected = demo.runs_where(LENDER, |run| {
            run.inputs.iter().any(|input| {
                input.split_once('@').is_some_and(|(dataset, v)| {
                    dataset == "applications" && (version.is_empty() || v == version)
                })
            })
        });
        assert!(!expected.is_empty(), "{filter}: the demo has such runs");
        let (found, _) = search_all(&mut client, search(LENDER, filter, &[])).await;
        assert_eq!(found, expected, "{filter}");
        let using = client
            .runs_using_dataset(v1::RunsUsingDatasetRequest {
                workspace: LENDER.into(),
                dataset: "applications".into(),
                version: version.into(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .expect("runs using applications")
            .into_inner();
        let mut using = run_ids(&using.runs);
        using.sort();
        assert_eq!(found, using, "{filter} agrees with RunsUsingDataset");
    }

    // The runs credit-risk@7 came from, to any depth: the demo's own walk,
    // and the runs Provenance finds.
    let upstream: Vec<String> = demo
        .upstream(LENDER, "model:credit-risk@7")
        .into_iter()
        .filter_map(|node| node.strip_prefix("run:").map(str::to_owned))
        .collect();
    let source = &demo.version(LENDER, "credit-risk", "7").source_run;
    assert!(upstream.contains(source), "{upstream:?}");
    assert!(upstream.len() > 1, "and the runs that made its data");
    let (found, _) = search_all(
        &mut client,
        search(LENDER, "upstream of model 'credit-risk@7'", &[]),
    )
    .await;
    assert_eq!(found, upstream);
    let provenance = client
        .provenance(v1::TraversalRequest {
            root: Some(entity(LENDER, K::ModelVersion, "credit-risk", "7")),
            ..Default::default()
        })
        .await
        .expect("provenance of credit-risk@7")
        .into_inner();
    assert!(!provenance.truncated);
    let mut walked: Vec<String> = provenance
        .nodes
        .iter()
        .filter(|node| node.r#ref.as_ref().is_some_and(|r| r.kind == K::Run as i32))
        .map(|node| node.r#ref.as_ref().expect("a ref").name.clone())
        .collect();
    walked.sort();
    assert_eq!(found, walked, "the runs Provenance walks to");

    // The agriculture teams: a region's runs in the environment that
    // drifted, and a region's wheat runs ranked by RMSE (lower is better).
    let drifted = demo.runs_where(AGRI, |run| {
        run.tags.get("region").map(String::as_str) == Some("apac")
            && run.environment == "pytorch@2.4.0"
    });
    assert!(!drifted.is_empty());
    let (found, _) = search_all(
        &mut client,
        search(
            AGRI,
            "tags.region = 'apac' and environment = 'pytorch@2.4.0'",
            &[],
        ),
    )
    .await;
    assert_eq!(found, drifted);
    let emea_wheat = demo.runs_where(AGRI, |run| {
        run.experiment == "crop-yield-wheat"
            && run.tags.get("region").map(String::as_str) == Some("emea")
    });
    assert!(emea_wheat.len() >= 2);
    let (found, _) = search_all(
        &mut client,
        v1::SearchRunsRequest {
            experiments: vec!["crop-yield-wheat".into()],
            ..search(AGRI, "tags.region = 'emea'", &["metrics.rmse ASC"])
        },
    )
    .await;
    assert_eq!(found, demo.ranked(AGRI, &emea_wheat, "rmse", false));

    // Status and start time: what completed since October (the remediation).
    let since = "2026-10-01T00:00:00Z";
    let recent = demo.runs_where(LENDER, |run| {
        run.status == "COMPLETED" && run.started_at.as_str() > since
    });
    assert!(!recent.is_empty());
    let (found, _) = search_all(
        &mut client,
        search(
            LENDER,
            "status = 'COMPLETED' and started_at > '2026-10-01'",
            &[],
        ),
    )
    .await;
    assert_eq!(found, recent);

    // Pages of two walk the whole ranked answer, no run twice, none left out.
    let trials = demo.runs_where(LENDER, |run| {
        run.tags.get("kind").map(String::as_str) == Some("trial")
    });
    let expected = demo.ranked(LENDER, &trials, "auc", true);
    let (walked, pages) = search_all(
        &mut client,
        v1::SearchRunsRequest {
            page_size: 2,
            ..search(LENDER, "tags.kind = 'trial'", &["metrics.auc DESC"])
        },
    )
    .await;
    assert_eq!(walked, expected);
    assert!(
        pages >= expected.len().div_ceil(2) && pages <= expected.len().div_ceil(2) + 1,
        "{pages} pages of 2 for {} runs",
        expected.len()
    );

    // A filter that does not parse says where: the (1-based) column of
    // `>>`, which is no comparison.
    let filter = "params.lr = '0.01' and metrics.auc >> 0.8";
    let column = filter.find(">>").expect("the mistake") + 1;
    let broken = client
        .search_runs(search(LENDER, filter, &[]))
        .await
        .expect_err("a filter that does not parse");
    assert_eq!(broken.code(), tonic::Code::InvalidArgument, "{broken:?}");
    assert!(
        broken.message().contains(&format!("column {column}")),
        "the message says where: {}",
        broken.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_runs_and_metric_history_agree_with_the_demo() {
    let demo = Demo::load();
    let (_nats, _data, lineaged) = demo_stack(&demo).await;
    let mut client = lineaged.client().await;

    // Two completed trials at lr = 0.01, and the one selected for
    // credit-risk@7 (another lr, the same code).
    let mut ids: Vec<String> = demo
        .runs_where(LENDER, |run| {
            run.params.get("lr").map(String::as_str) == Some("0.01")
                && run.tags.get("kind").map(String::as_str) == Some("trial")
                && run.status == "COMPLETED"
        })
        .into_iter()
        .take(2)
        .collect();
    assert_eq!(ids.len(), 2, "the sweep completed two trials at lr = 0.01");
    let selected = demo.version(LENDER, "credit-risk", "7").source_run.clone();
    ids.push(selected.clone());
    let runs: Vec<&Run> = ids.iter().map(|id| demo.run(LENDER, id)).collect();

    let comparison = client
        .compare_runs(v1::CompareRunsRequest {
            workspace: LENDER.into(),
            run_ids: ids.clone(),
            ..Default::default()
        })
        .await
        .expect("compare trials")
        .into_inner();
    assert_eq!(run_ids(&comparison.runs), ids);
    assert!(!comparison.truncated);
    let field = |name: &str| {
        comparison
            .fields
            .iter()
            .find(|field| field.field == name)
            .unwrap_or_else(|| panic!("a {name} row: {:?}", comparison.fields))
    };
    let all_equal = |values: &[String]| values.windows(2).all(|pair| pair[0] == pair[1]);

    let lr = field("params.lr");
    let expected: Vec<String> = runs.iter().map(|run| run.params["lr"].clone()).collect();
    assert_eq!(lr.values, expected);
    assert!(!all_equal(&expected), "the demo's trials differ in lr");
    assert!(lr.differs);
    let code = field("code_version");
    let expected: Vec<String> = runs.iter().map(|run| run.code_version.clone()).collect();
    assert_eq!(code.values, expected);
    assert!(all_equal(&expected), "a sweep's trials share their code");
    assert!(!code.differs);
    // Every parameter any of them has is a row, marked as its values say.
    let keys: BTreeSet<&String> = runs.iter().flat_map(|run| run.params.keys()).collect();
    for key in keys {
        let values: Vec<String> = runs
            .iter()
            .map(|run| run.params.get(key).cloned().unwrap_or_default())
            .collect();
        let row = field(&format!("params.{key}"));
        assert_eq!(row.values, values, "params.{key}");
        assert_eq!(row.differs, !all_equal(&values), "params.{key}");
    }

    // Every metric: each run's latest and best point, and the best run.
    let keys: BTreeSet<&String> = runs.iter().flat_map(|run| run.metrics.keys()).collect();
    assert_eq!(comparison.metrics.len(), keys.len());
    for key in keys {
        let metric = comparison
            .metrics
            .iter()
            .find(|metric| &metric.key == key)
            .unwrap_or_else(|| panic!("a {key} row"));
        let lower = ["loss", "error", "rmse", "mae", "mse", "gap", "latency"]
            .iter()
            .any(|word| key.contains(word));
        assert_eq!(metric.lower_is_better, lower, "{key}");
        let better = |a: f64, b: f64| if lower { a < b } else { a > b };
        let mut best_run: Option<(usize, f64)> = None;
        for (at, run) in runs.iter().enumerate() {
            let side = &metric.runs[at];
            let series = run.series(key);
            let latest = run.latest(key).expect("every trial logs every metric");
            assert!(side.present, "{key} of {}", ids[at]);
            let shown = side.latest.as_ref().expect("a latest point");
            assert_eq!((shown.step, shown.value), (latest.step, latest.value));
            assert_eq!(side.points, series.len() as u64, "{key} of {}", ids[at]);
            let best = series
                .iter()
                .map(|point| point.value)
                .reduce(|a, b| if better(b, a) { b } else { a })
                .expect("points");
            assert_eq!(side.best.as_ref().map(|p| p.value), Some(best));
            if best_run.is_none_or(|(_, value)| better(latest.value, value)) {
                best_run = Some((at, latest.value));
            }
        }
        let (best_at, _) = best_run.expect("runs");
        assert_eq!(metric.best_run as usize, best_at, "the best {key}");
        let latest: Vec<String> = runs
            .iter()
            .map(|run| {
                run.latest(key)
                    .map(|p| p.value.to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(metric.differs, !all_equal(&latest), "{key}");
    }

    // One metric's every point, in step order, in one page and in pages.
    let series = demo.run(LENDER, &selected).series("auc");
    assert!(series.len() > 3);
    let expected: Vec<(i64, f64)> = series.iter().map(|p| (p.step, p.value)).collect();
    let history = |page_size: u32, page_token: String| v1::GetMetricHistoryRequest {
        workspace: LENDER.into(),
        run_id: selected.clone(),
        key: "auc".into(),
        page_size,
        page_token,
        ..Default::default()
    };
    let whole = client
        .get_metric_history(history(0, String::new()))
        .await
        .expect("the AUC history")
        .into_inner();
    assert_eq!(
        (whole.run_id.as_str(), whole.key.as_str()),
        (selected.as_str(), "auc")
    );
    let points: Vec<(i64, f64)> = whole.points.iter().map(|p| (p.step, p.value)).collect();
    assert_eq!(points, expected);
    assert!(whole.next_page_token.is_empty());
    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= MAX_PAGES, "the pages end");
        let page = client
            .get_metric_history(history(3, token))
            .await
            .expect("a page of the AUC history")
            .into_inner();
        assert!(page.points.len() <= 3);
        paged.extend(page.points.iter().map(|p| (p.step, p.value)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, expected);
    assert!(pages >= expected.len().div_ceil(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_promotion_answers_criterion_by_criterion_with_evidence() {
    let demo = Demo::load();
    let (_nats, _data, lineaged) = demo_stack(&demo).await;
    let mut client = lineaged.client().await;
    let check = |model: &str, version: &str, criteria: &str| v1::CheckPromotionRequest {
        workspace: LENDER.into(),
        model: model.into(),
        version: version.into(),
        criteria: criteria.into(),
        ..Default::default()
    };

    // The version in production now (after the remediation) meets the
    // stored criteria, each term with the facts it rests on.
    let stored = demo.criteria_now(LENDER, "credit-risk");
    let current = demo.production_version(LENDER, "credit-risk");
    let registered = demo.version(LENDER, "credit-risk", &current);
    let source = demo.run(LENDER, &registered.source_run);
    let passed = client
        .check_promotion(check("credit-risk", &current, ""))
        .await
        .expect("check the production version")
        .into_inner();
    assert!(passed.passed, "{passed:?}");
    assert_eq!(passed.criteria, stored.criteria);
    assert_eq!(passed.criteria_event_id, stored.event_id);
    assert_eq!(passed.source_run_id, registered.source_run);
    let terms: Vec<&str> = stored.criteria.split(" and ").collect();
    let checked: Vec<&str> = passed
        .results
        .iter()
        .map(|r| r.criterion.as_str())
        .collect();
    assert_eq!(checked, terms);
    for result in &passed.results {
        assert!(result.passed, "{result:?}");
        assert!(!result.explanation.is_empty(), "{result:?}");
        let Some(metric) = result
            .criterion
            .strip_prefix("metrics.")
            .and_then(|term| term.split(' ').next())
        else {
            continue;
        };
        // A metric term rests on the source run's latest point and the
        // event that logged it.
        let latest = source.latest(metric).expect("the source run logs it");
        let evidence = result
            .evidence
            .iter()
            .find(|e| e.field == format!("metrics.{metric}"))
            .unwrap_or_else(|| panic!("evidence for {}: {result:?}", result.criterion));
        let on = evidence
            .entity
            .as_ref()
            .expect("the entity of the evidence");
        assert_eq!(
            (on.kind, on.name.as_str()),
            (K::Run as i32, registered.source_run.as_str())
        );
        assert_eq!(evidence.event_id, latest.event_id, "{result:?}");
        assert!(evidence.seq > 0);
        assert!(
            evidence.value.contains(&latest.value.to_string()),
            "the value shown is the latest, {}: {evidence:?}",
            latest.value
        );
    }
    let approved = passed
        .results
        .iter()
        .find(|r| r.criterion == "approved")
        .expect("the stored criteria ask for an approver");
    assert!(
        approved
            .evidence
            .iter()
            .any(|e| e.event_id == registered.registration_event
                && e.value.contains(&registered.approved_by)),
        "the registration names its approver: {approved:?}"
    );

    // credit-risk@7 trained on applications@3, flagged since October: it
    // misses `no flagged upstream`, and the flag's event is the evidence.
    let flag_events = demo.flag_events(LENDER, "dataset:applications@3");
    assert_eq!(flag_events.len(), 1);
    assert!(
        demo.upstream(LENDER, "model:credit-risk@7")
            .contains("dataset:applications@3")
    );
    let failed = client
        .check_promotion(check("credit-risk", "7", ""))
        .await
        .expect("check credit-risk@7")
        .into_inner();
    assert!(!failed.passed);
    let missed: Vec<&str> = failed
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.criterion.as_str())
        .collect();
    assert_eq!(missed, ["no flagged upstream"]);
    let flagged = failed
        .results
        .iter()
        .find(|r| r.criterion == "no flagged upstream")
        .expect("the flagged term");
    assert!(
        flagged
            .evidence
            .iter()
            .any(|e| e.event_id == flag_events[0]),
        "the flag is the evidence: {flagged:?}"
    );
    assert!(!flagged.explanation.is_empty());

    // Criteria given with the request replace the stored ones.
    let adhoc = client
        .check_promotion(check("credit-risk", &current, "metrics.auc >= 0.99"))
        .await
        .expect("an ad-hoc check")
        .into_inner();
    assert!(!adhoc.passed);
    assert_eq!(adhoc.criteria, "metrics.auc >= 0.99");
    assert!(adhoc.criteria_event_id.is_empty());
    let [result] = adhoc.results.as_slice() else {
        panic!("one term, one result: {adhoc:?}");
    };
    assert!(!result.passed);
    assert!(
        result.explanation.contains("auc"),
        "it says why: {}",
        result.explanation
    );

    // Question 6: does fraud@12 meet its criteria, and who approved each
    // stage change.
    let fraud_criteria = demo.criteria_now(FRAUD, "fraud");
    let fraud = client
        .check_promotion(v1::CheckPromotionRequest {
            workspace: FRAUD.into(),
            ..check("fraud", "12", "")
        })
        .await
        .expect("check fraud@12")
        .into_inner();
    assert!(fraud.passed, "{fraud:?}");
    assert_eq!(fraud.criteria, fraud_criteria.criteria);
    assert!(fraud.criteria.contains("metrics.precision >= 0.9"));
    // Its criteria leave out `no flagged upstream`; asked with it, the LOW
    // flag on the labels it was trained on fails it.
    let labels_flag = demo.flag_events(FRAUD, "dataset:scam-labels@1");
    assert!(
        demo.upstream(FRAUD, "model:fraud@12")
            .contains("dataset:scam-labels@1")
    );
    let stricter = client
        .check_promotion(v1::CheckPromotionRequest {
            workspace: FRAUD.into(),
            ..check("fraud", "12", "no flagged upstream")
        })
        .await
        .expect("check fraud@12 for flags")
        .into_inner();
    assert!(!stricter.passed);
    assert!(
        stricter.results[0]
            .evidence
            .iter()
            .any(|e| labels_flag.contains(&e.event_id)),
        "{stricter:?}"
    );
    let fraud12 = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(FRAUD, K::ModelVersion, "fraud", "12")),
            ..Default::default()
        })
        .await
        .expect("fraud@12")
        .into_inner();
    let approvers: Vec<&str> = model_details(&fraud12)
        .stage_history
        .iter()
        .map(|change| change.approved_by.as_str())
        .collect();
    let expected: Vec<&str> = demo
        .version(FRAUD, "fraud", "12")
        .stages
        .iter()
        .map(|(_, approver, _)| approver.as_str())
        .collect();
    assert_eq!(approvers, expected);

    // A model without criteria, asked without criteria, cannot be checked.
    let (ws, model, version) = demo
        .versions
        .keys()
        .find(|(ws, model, _)| !demo.criteria.contains_key(&(ws.clone(), model.clone())))
        .expect("the demo has a model without criteria");
    let unchecked = client
        .check_promotion(v1::CheckPromotionRequest {
            workspace: ws.clone(),
            ..check(model, version, "")
        })
        .await
        .expect_err("no criteria to check");
    assert_eq!(
        unchecked.code(),
        tonic::Code::FailedPrecondition,
        "{unchecked:?}"
    );

    // Criteria that do not parse are the caller's mistake.
    let malformed = client
        .check_promotion(check("credit-risk", &current, "metrics.auc >="))
        .await
        .expect_err("criteria that do not parse");
    assert_eq!(
        malformed.code(),
        tonic::Code::InvalidArgument,
        "{malformed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_versions_say_whether_they_meet_their_criteria() {
    let demo = Demo::load();
    let (_nats, _data, lineaged) = demo_stack(&demo).await;
    let mut client = lineaged.client().await;

    // The moment applications@3 was flagged: credit-risk@7 is in
    // production, downstream of it, and so no longer meets its criteria.
    let flagged_at = demo
        .flags
        .get(&(LENDER.to_owned(), "dataset:applications@3".to_owned()))
        .and_then(|flags| flags.first())
        .map(|(_, at)| at.clone())
        .expect("applications@3 is flagged");
    assert_eq!(
        demo.in_production_at(LENDER, "credit-risk", &flagged_at),
        ["7"]
    );
    let in_force = demo
        .criteria_at(LENDER, "credit-risk", &flagged_at)
        .expect("credit-risk has criteria then");
    let then = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(LENDER, K::ModelVersion, "credit-risk", "7")),
            as_of: as_of(&flagged_at),
            ..Default::default()
        })
        .await
        .expect("credit-risk@7 when the flag arrived")
        .into_inner();
    let details = model_details(&then);
    assert_eq!(details.stage, v1::ModelStage::Production as i32);
    let promotion = details.promotion.as_ref().expect("a promotion status");
    assert!(!promotion.met);
    assert_eq!(promotion.unmet, ["no flagged upstream"]);
    assert_eq!(promotion.criteria, in_force.criteria);
    assert_eq!(promotion.criteria_event_id, in_force.event_id);

    // The impact of the flagged dataset version carries the same marker.
    let impact = client
        .impact(v1::TraversalRequest {
            root: Some(entity(LENDER, K::DatasetVersion, "applications", "3")),
            as_of: as_of(&flagged_at),
            ..Default::default()
        })
        .await
        .expect("impact of applications@3")
        .into_inner();
    let model = impact
        .nodes
        .iter()
        .find(|node| label(node) == "model:credit-risk@7")
        .expect("credit-risk@7 is downstream");
    let marker = model_details(model)
        .promotion
        .as_ref()
        .expect("the basic view carries the promotion status");
    assert_eq!(marker, promotion);

    // Now: the retrained version in production meets them, and the
    // archived one is no longer marked.
    let current = demo.production_version(LENDER, "credit-risk");
    assert_ne!(current, "7");
    let now = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(LENDER, K::ModelVersion, "credit-risk", &current)),
            ..Default::default()
        })
        .await
        .expect("the production version")
        .into_inner();
    let promotion = model_details(&now)
        .promotion
        .as_ref()
        .expect("a production version with criteria has a status");
    assert!(promotion.met, "{promotion:?}");
    assert!(promotion.unmet.is_empty());
    assert_eq!(
        promotion.criteria,
        demo.criteria_now(LENDER, "credit-risk").criteria
    );
    let archived = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(LENDER, K::ModelVersion, "credit-risk", "7")),
            ..Default::default()
        })
        .await
        .expect("credit-risk@7 now")
        .into_inner();
    let details = model_details(&archived);
    assert_eq!(details.stage, v1::ModelStage::Archived as i32);
    assert!(details.promotion.is_none(), "{details:?}");
}

/// Question 8 on the demo: a watch of the flagged applications@3 first
/// hands over everything downstream of it (what Impact answers), then,
/// live, a run that reads it anyway and the model registered from that
/// run, each with the path that ties it to the flagged dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_the_flagged_dataset_reports_what_comes_to_depend_on_it() {
    use lineage_e2e::events::{event, inputs, registered, run_started};

    let demo = Demo::load();
    let (nats, _data, lineaged) = demo_stack(&demo).await;
    let mut client = lineaged.client().await;
    let root = entity(LENDER, K::DatasetVersion, "applications", "3");
    let wait = std::time::Duration::from_secs(10);

    let impact = client
        .impact(v1::TraversalRequest {
            root: Some(root.clone()),
            ..Default::default()
        })
        .await
        .expect("impact of applications@3")
        .into_inner();
    assert!(!impact.truncated);
    let mut downstream: BTreeSet<String> = impact.nodes.iter().skip(1).map(label).collect();

    let mut watch = client
        .watch_impact(v1::WatchImpactRequest {
            root: Some(root.clone()),
            from_seq: 0,
            ..Default::default()
        })
        .await
        .expect("a watch opens")
        .into_inner();
    let mut next = async || {
        tokio::time::timeout(wait, watch.message())
            .await
            .expect("the watch delivers within 10 s")
            .expect("an event, not an error")
            .expect("an event, not the end")
    };
    // Everything downstream now, each once, each with a path from the root.
    let mut last_seq = 0;
    while !downstream.is_empty() {
        let arrived = next().await;
        let name = label(arrived.entity.as_ref().expect("an entity"));
        assert!(
            downstream.remove(&name),
            "{name} reported once, and is downstream"
        );
        assert!(arrived.seq >= last_seq, "in sequence order");
        last_seq = arrived.seq;
        assert_eq!(
            arrived.path.first(),
            Some(&root),
            "{name}: path from the root"
        );
        assert_eq!(arrived.path.len(), arrived.edges.len() + 1);
    }

    // Then, live: a new run reads the flagged dataset, and a model version
    // is registered from it.
    let js = jetstream::new(nats.client().await);
    let story = [
        event(
            "watch-1",
            LENDER,
            0,
            run_started("cr-rerun-1201", "", &[("lr", "0.03")]),
        ),
        event(
            "watch-2",
            LENDER,
            1,
            inputs("cr-rerun-1201", &[("applications", "3")]),
        ),
        event(
            "watch-3",
            LENDER,
            2,
            registered("credit-risk", "99", "cr-rerun-1201", ""),
        ),
    ];
    for published in &story {
        assert!(
            !lineage_e2e::publish(&js, published).await,
            "not a duplicate"
        );
    }
    let run = next().await;
    assert_eq!(
        label(run.entity.as_ref().expect("an entity")),
        "run:cr-rerun-1201"
    );
    assert!(
        run.root_flagged,
        "the root was flagged when the run came to read it"
    );
    assert_eq!(
        run.path,
        [root.clone(), entity(LENDER, K::Run, "cr-rerun-1201", "")]
    );
    assert_eq!(run.edges, [v1::EdgeKind::Input as i32]);
    let model = next().await;
    assert_eq!(
        label(model.entity.as_ref().expect("an entity")),
        "model:credit-risk@99"
    );
    assert_eq!(
        model.edges,
        [v1::EdgeKind::Input as i32, v1::EdgeKind::Registered as i32]
    );
    assert!(model.seq > run.seq && run.seq > last_seq);
}
