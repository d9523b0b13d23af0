//! A deterministic, realistic workload: the same seed and size always give
//! the same events, in the same publish order.
//!
//! Shaped like an ML platform (DOMAIN.md): several workspaces and
//! experiments; dataset derivation chains up to 30 deep; runs with 2-5
//! inputs drawn from a heavy-tailed popularity (a few datasets feed most
//! runs); sweeps of 10-200 trials; 20 metrics x 10 steps and a dozen params
//! and tags per run; registrations from the best runs, stage changes and
//! deployments; and, as real producers send them, a share of duplicates and
//! locally reordered events.

use std::collections::{BTreeMap, VecDeque};

use lineage_proto::v1;
use lineage_proto::v1::event::Payload;

/// SplitMix64: tiny, fast, and good enough to shape a workload.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Heavy-tailed in `0..n`: low indexes are drawn far more often.
    pub fn popular(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * u * u) * n as f64) as usize % n
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Knobs of the workload; everything else follows from the event count.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    /// Events to produce, duplicates included.
    pub events: u64,
    pub seed: u64,
    /// Share of events sent twice.
    pub duplicate_share: f64,
    /// Events are shuffled within windows of this size.
    pub reorder_window: usize,
    /// Prefixes every generated id, so two workloads can share a stream.
    pub id_prefix: String,
}

impl WorkloadSpec {
    pub fn new(events: u64) -> Self {
        Self {
            events,
            seed: 42,
            duplicate_share: 0.02,
            reorder_window: 32,
            id_prefix: String::new(),
        }
    }
}

const WORKSPACES: [&str; 4] = [
    "credit-lender",
    "agri-yield",
    "insurer-fraud",
    "retail-demand",
];
const METRICS: usize = 20;
const STEPS: i64 = 10;
/// Minutes of event time between runs of one workspace.
const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// What the generator knows about one workspace's datasets.
#[derive(Debug, Clone)]
struct Catalog {
    /// Per dataset: how many versions exist so far.
    versions: Vec<u32>,
}

/// Facts about the workload the benchmark needs to ask good questions.
#[derive(Debug, Clone, Default)]
pub struct WorkloadFacts {
    /// The most used dataset version (workspace, dataset, version).
    pub hot_dataset: Option<(String, String, String)>,
    /// A dataset version used by one run.
    pub cold_dataset: Option<(String, String, String)>,
    /// A registered model version (workspace, model, version).
    pub model: Option<(String, String, String)>,
    /// A run id and its workspace.
    pub run: Option<(String, String)>,
    /// Unique events (what lineaged will store).
    pub unique_events: u64,
}

/// Generates events in publish order.
#[derive(Debug)]
pub struct Workload {
    spec: WorkloadSpec,
    rng: Rng,
    /// Produced so far, duplicates included.
    produced: u64,
    /// Ready to hand out (already reordered), each marked when it repeats
    /// an earlier one.
    ready: VecDeque<(v1::Event, bool)>,
    /// Being assembled before a local shuffle.
    window: Vec<v1::Event>,
    catalogs: Vec<Catalog>,
    /// Per workspace: the next run number, event-time minute.
    runs: Vec<u64>,
    minutes: Vec<i64>,
    next_event_id: u64,
    models: Vec<BTreeMap<String, u32>>,
    /// Uses per (workspace, dataset, version).
    uses: BTreeMap<(usize, usize, u32), u64>,
    facts: WorkloadFacts,
}

impl Workload {
    pub fn new(spec: WorkloadSpec) -> Self {
        let datasets = ((spec.events as f64).sqrt() as usize / 8).clamp(8, 2_000);
        let rng = Rng::new(spec.seed);
        Self {
            rng,
            produced: 0,
            ready: VecDeque::new(),
            window: Vec::new(),
            catalogs: vec![
                Catalog {
                    versions: vec![0; datasets],
                };
                WORKSPACES.len()
            ],
            runs: vec![0; WORKSPACES.len()],
            minutes: vec![0; WORKSPACES.len()],
            next_event_id: 0,
            models: vec![BTreeMap::new(); WORKSPACES.len()],
            uses: BTreeMap::new(),
            facts: WorkloadFacts::default(),
            spec,
        }
    }

    /// What the workload produced, once it is exhausted.
    pub fn facts(&self) -> WorkloadFacts {
        let mut facts = self.facts.clone();
        if let Some((&(ws, ds, v), _)) = self.uses.iter().max_by_key(|(_, uses)| **uses) {
            facts.hot_dataset = Some((WORKSPACES[ws].into(), dataset_name(ds), v.to_string()));
        }
        if let Some((&(ws, ds, v), _)) = self.uses.iter().find(|(_, uses)| **uses == 1) {
            facts.cold_dataset = Some((WORKSPACES[ws].into(), dataset_name(ds), v.to_string()));
        }
        facts
    }

    fn event(&mut self, ws: usize, payload: Payload) -> v1::Event {
        self.next_event_id += 1;
        self.minutes[ws] += 1;
        v1::Event {
            event_id: format!("{}ev-{:010}", self.spec.id_prefix, self.next_event_id),
            workspace: WORKSPACES[ws].into(),
            occurred_at: Some(pbjson_types::Timestamp {
                seconds: START + self.minutes[ws] * 7,
                nanos: 0,
            }),
            producer: "bench-workload/1".into(),
            actor: format!(
                "user-{}@{}.example",
                self.next_event_id % 17,
                WORKSPACES[ws]
            ),
            payload: Some(payload),
        }
    }

    /// Registers a new version of a dataset, derived from an earlier version
    /// of its predecessor in the chain (chains are up to 30 deep).
    fn dataset_version(&mut self, ws: usize, dataset: usize) -> (usize, u32) {
        let catalog = &mut self.catalogs[ws];
        catalog.versions[dataset] += 1;
        let version = catalog.versions[dataset];
        let mut derived_from = Vec::new();
        if !dataset.is_multiple_of(30) {
            let parent = dataset - 1;
            let parent_versions = catalog.versions[parent];
            if parent_versions > 0 {
                derived_from.push(v1::DatasetVersionRef {
                    dataset: dataset_name(parent),
                    version: (1 + self.rng.below(parent_versions as usize) as u32).to_string(),
                });
            }
        }
        let payload = Payload::DatasetVersionRegistered(v1::DatasetVersionRegistered {
            dataset: dataset_name(dataset),
            version: version.to_string(),
            uri: format!(
                "s3://lake/{}/{}/v{version}",
                WORKSPACES[ws],
                dataset_name(dataset)
            ),
            digest: format!("sha256:{:016x}", self.rng.next_u64()),
            derived_from,
            produced_by_run_id: String::new(),
        });
        let event = self.event(ws, payload);
        self.emit(event);
        (dataset, version)
    }

    fn emit(&mut self, event: v1::Event) {
        self.window.push(event);
    }

    /// One training run with everything it logs; `parent` for sweep trials.
    fn run(&mut self, ws: usize, experiment: &str, parent: Option<&str>) -> (String, f64) {
        self.runs[ws] += 1;
        let run_id = format!("{}run-{}-{:08}", self.spec.id_prefix, ws, self.runs[ws]);
        let params: BTreeMap<String, String> = (0..12)
            .map(|i| (format!("param_{i:02}"), format!("{}", self.rng.below(1000))))
            .collect();
        let tags: BTreeMap<String, String> = [
            (
                "region",
                ["emea", "apac", "amer"][self.rng.below(3)].to_string(),
            ),
            ("team", format!("team-{}", self.rng.below(5))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let environment = v1::EnvironmentRef {
            name: ["sklearn", "xgboost", "pytorch"][self.rng.below(3)].into(),
            version: format!("2.{}", self.rng.below(4)),
        };
        let code_version = format!("{:012x}", self.rng.next_u64() & 0xffff_ffff_ffff);
        let compute_target = format!("pool-{}", self.rng.below(6));
        let started = self.event(
            ws,
            Payload::RunStarted(v1::RunStarted {
                run_id: run_id.clone(),
                experiment: experiment.into(),
                name: run_id.clone(),
                parent_run_id: parent.unwrap_or_default().into(),
                code_version,
                environment: Some(environment),
                compute_target,
                params,
                tags,
            }),
        );
        self.emit(started);

        let inputs = 2 + self.rng.below(4);
        let datasets = self.catalogs[ws].versions.len();
        let mut refs = Vec::with_capacity(inputs);
        for _ in 0..inputs {
            let dataset = self.rng.popular(datasets);
            let versions = self.catalogs[ws].versions[dataset];
            let version = if versions == 0 {
                self.dataset_version(ws, dataset).1
            } else {
                // Mostly the latest version, sometimes an older one.
                if self.rng.chance(0.8) {
                    versions
                } else {
                    1 + self.rng.below(versions as usize) as u32
                }
            };
            *self.uses.entry((ws, dataset, version)).or_default() += 1;
            refs.push(v1::DatasetVersionRef {
                dataset: dataset_name(dataset),
                version: version.to_string(),
            });
        }
        refs.sort_by(|a, b| (&a.dataset, &a.version).cmp(&(&b.dataset, &b.version)));
        refs.dedup();
        let declared = self.event(
            ws,
            Payload::RunInputsDeclared(v1::RunInputsDeclared {
                run_id: run_id.clone(),
                datasets: refs,
                artifacts: Vec::new(),
                models: Vec::new(),
            }),
        );
        self.emit(declared);

        let quality = self.rng.unit();
        for step in 0..STEPS {
            let metrics = (0..METRICS)
                .map(|m| v1::Metric {
                    key: format!("metric_{m:02}"),
                    value: quality * (1.0 - 0.5f64.powi(step as i32 + 1)) + m as f64 * 0.001,
                    step,
                    timestamp: None,
                })
                .collect();
            let logged = self.event(
                ws,
                Payload::MetricsLogged(v1::MetricsLogged {
                    run_id: run_id.clone(),
                    metrics,
                }),
            );
            self.emit(logged);
        }
        for (name, kind) in [("model.bin", "model"), ("confusion.png", "plot")] {
            let size = self.rng.below(50_000_000) as u64;
            let digest = format!("sha256:{:016x}", self.rng.next_u64());
            let logged = self.event(
                ws,
                Payload::ArtifactLogged(v1::ArtifactLogged {
                    run_id: run_id.clone(),
                    name: name.into(),
                    uri: format!("s3://artifacts/{run_id}/{name}"),
                    digest,
                    kind: kind.into(),
                    size_bytes: size,
                }),
            );
            self.emit(logged);
        }
        let status = if self.rng.chance(0.92) {
            v1::RunStatus::Completed
        } else {
            v1::RunStatus::Failed
        };
        let finished = self.event(
            ws,
            Payload::RunFinished(v1::RunFinished {
                run_id: run_id.clone(),
                status: status as i32,
                error: if status == v1::RunStatus::Failed {
                    "worker lost".into()
                } else {
                    String::new()
                },
            }),
        );
        self.emit(finished);
        if self.facts.run.is_none() {
            self.facts.run = Some((WORKSPACES[ws].into(), run_id.clone()));
        }
        (run_id, quality)
    }

    /// One experiment's worth of work: maybe new dataset versions, a sweep
    /// or a single run, and a registration of the best run.
    fn episode(&mut self) {
        let ws = self.rng.below(WORKSPACES.len());
        let experiment = format!("exp-{}", self.rng.popular(50));
        // Data pipelines publish new versions now and then.
        for _ in 0..self.rng.below(3) {
            let datasets = self.catalogs[ws].versions.len();
            let dataset = self.rng.below(datasets);
            self.dataset_version(ws, dataset);
        }
        let mut best: Option<(String, f64)> = None;
        if self.rng.chance(0.3) {
            let parent = self.run_parent(ws, &experiment);
            let trials = 10 + self.rng.popular(191);
            for _ in 0..trials {
                let (run, quality) = self.run(ws, &experiment, Some(&parent));
                if best.as_ref().is_none_or(|(_, q)| quality > *q) {
                    best = Some((run, quality));
                }
                if self.produced + self.window.len() as u64 >= self.spec.events {
                    break;
                }
            }
        } else {
            best = Some(self.run(ws, &experiment, None));
        }
        if let Some((run, _)) = best
            && self.rng.chance(0.5)
        {
            self.register(ws, &experiment, &run);
        }
    }

    fn run_parent(&mut self, ws: usize, experiment: &str) -> String {
        self.runs[ws] += 1;
        let run_id = format!("{}sweep-{}-{:08}", self.spec.id_prefix, ws, self.runs[ws]);
        let started = self.event(
            ws,
            Payload::RunStarted(v1::RunStarted {
                run_id: run_id.clone(),
                experiment: experiment.into(),
                name: run_id.clone(),
                ..Default::default()
            }),
        );
        self.emit(started);
        run_id
    }

    fn register(&mut self, ws: usize, experiment: &str, run: &str) {
        let version = {
            let versions = self.models[ws].entry(experiment.to_owned()).or_default();
            *versions += 1;
            *versions
        };
        let model = format!("{}{experiment}-model", self.spec.id_prefix);
        let registered = self.event(
            ws,
            Payload::ModelRegistered(v1::ModelRegistered {
                model: model.clone(),
                version: version.to_string(),
                source_run_id: run.into(),
                artifact_name: "model.bin".into(),
                approval_notes: "best run of the sweep".into(),
                approved_by: "reviewer@example".into(),
            }),
        );
        self.emit(registered);
        for stage in [v1::ModelStage::Staging, v1::ModelStage::Production] {
            let changed = self.event(
                ws,
                Payload::ModelStageChanged(v1::ModelStageChanged {
                    model: model.clone(),
                    version: version.to_string(),
                    stage: stage as i32,
                    reason: "criteria met".into(),
                    approved_by: "owner@example".into(),
                }),
            );
            self.emit(changed);
        }
        let deployed = self.event(
            ws,
            Payload::ModelDeployed(v1::ModelDeployed {
                model: model.clone(),
                version: version.to_string(),
                endpoint: format!("{experiment}-endpoint"),
                deployment: format!("rollout-{version}"),
            }),
        );
        self.emit(deployed);
        if self.facts.model.is_none() {
            self.facts.model = Some((WORKSPACES[ws].into(), model, version.to_string()));
        }
    }

    /// Shuffles the window locally and adds duplicates, then queues it.
    fn flush_window(&mut self) {
        let mut window = std::mem::take(&mut self.window);
        for chunk in window.chunks_mut(self.spec.reorder_window.max(1)) {
            for i in (1..chunk.len()).rev() {
                // Move only a fifth of the events: most arrive in order.
                if self.rng.chance(0.2) {
                    let j = self.rng.below(i + 1);
                    chunk.swap(i, j);
                }
            }
        }
        for event in window {
            let duplicate = self
                .rng
                .chance(self.spec.duplicate_share)
                .then(|| event.clone());
            self.ready.push_back((event, false));
            if let Some(duplicate) = duplicate {
                self.ready.push_back((duplicate, true));
            }
        }
    }
}

impl Iterator for Workload {
    type Item = v1::Event;

    fn next(&mut self) -> Option<v1::Event> {
        if self.produced >= self.spec.events {
            return None;
        }
        while self.ready.is_empty() {
            while self.window.len() < 4_096 {
                self.episode();
            }
            self.flush_window();
        }
        let (event, duplicate) = self.ready.pop_front()?;
        self.produced += 1;
        if !duplicate {
            self.facts.unique_events += 1;
        }
        Some(event)
    }
}

fn dataset_name(index: usize) -> String {
    format!("dataset-{index:05}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage_proto::validate::validate_event;

    #[test]
    fn deterministic_valid_and_sized() {
        let first: Vec<v1::Event> = Workload::new(WorkloadSpec::new(5_000)).collect();
        let second: Vec<v1::Event> = Workload::new(WorkloadSpec::new(5_000)).collect();
        assert_eq!(first.len(), 5_000);
        assert_eq!(first, second);
        for event in &first {
            validate_event(event).expect("every workload event is valid");
        }
        let unique: std::collections::BTreeSet<&str> =
            first.iter().map(|e| e.event_id.as_str()).collect();
        assert!(unique.len() < first.len(), "some duplicates");
        assert!(unique.len() as f64 > first.len() as f64 * 0.95);
    }

    #[test]
    fn popular_datasets_feed_most_runs() {
        let mut workload = Workload::new(WorkloadSpec::new(20_000));
        workload.by_ref().for_each(drop);
        let facts = workload.facts();
        assert!(facts.hot_dataset.is_some());
        assert!(facts.model.is_some());
        let mut uses: Vec<u64> = workload.uses.values().copied().collect();
        uses.sort_unstable_by(|a, b| b.cmp(a));
        let top: u64 = uses.iter().take(uses.len() / 10 + 1).sum();
        let all: u64 = uses.iter().sum();
        assert!(
            top * 2 > all,
            "the top tenth of dataset versions feed most runs"
        );
    }
}
