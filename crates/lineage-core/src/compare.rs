//! Runs side by side: the question "how do these runs differ" (DOMAIN.md,
//! question 5), asked before picking the run to promote.
//!
//! Every field a run states (experiment, status, code version,
//! environment, compute, parent, inputs, each parameter and tag) becomes a
//! row with one value per run and whether they differ; every metric a
//! row with each run's latest and best point, and which run is best. What
//! "best" means depends on the metric: higher is better unless the caller
//! says otherwise or the key names a loss or an error
//! ([`lower_is_better_by_name`]).

use std::collections::BTreeSet;

use petgraph::graph::NodeIndex;

use crate::as_of::AsOf;
use crate::event::RunStatus;
use crate::graph::{EdgeKind, Facts, Lww, MetricPointFacts, Node, RunFacts, RunStartFacts};
use crate::id::EntityKind;

/// The most parameter, tag and metric rows one comparison holds; the rows
/// kept are the first by key.
pub const MAX_COMPARED_KEYS: usize = 1_000;

/// One field across the compared runs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ComparedField {
    /// `experiment`, `status`, ..., `params.<key>`, `tags.<key>`.
    pub field: String,
    /// One per run, in the order compared; empty where a run has none.
    pub values: Vec<String>,
    pub differs: bool,
}

/// One run's side of a compared metric.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct MetricSide {
    /// At the highest step (latest timestamp within it).
    pub latest: MetricPointFacts,
    /// The best point of the whole series by the metric's direction.
    pub best: MetricPointFacts,
    pub points: usize,
}

/// One metric across the compared runs.
#[derive(Clone, PartialEq, Debug)]
pub struct MetricComparison {
    pub key: String,
    pub lower_is_better: bool,
    /// One per run, in the order compared; `None` where a run has no point.
    pub runs: Vec<Option<MetricSide>>,
    /// The run with the best latest value (the first of equals).
    pub best_run: Option<usize>,
    /// Whether the runs' latest values (or presence) differ.
    pub differs: bool,
}

/// The comparison of runs, in the order they were given.
#[derive(Clone, PartialEq, Debug)]
pub struct RunComparison {
    pub runs: Vec<NodeIndex>,
    pub fields: Vec<ComparedField>,
    pub metrics: Vec<MetricComparison>,
    /// More parameter, tag or metric keys than [`MAX_COMPARED_KEYS`].
    pub truncated: bool,
}

/// Whether lower values of a metric are better, judged by its name: losses,
/// errors and their usual abbreviations, gaps (a fairness gap) and
/// latencies. Every other metric is better higher.
pub fn lower_is_better_by_name(key: &str) -> bool {
    const LOWER: [&str; 7] = ["loss", "error", "rmse", "mae", "mse", "gap", "latency"];
    let key = key.to_ascii_lowercase();
    LOWER.iter().any(|word| key.contains(word))
}

/// Compares `runs` (run nodes of the view) field by field and metric by
/// metric. `lower_is_better` says, per metric key, which way is better.
pub fn compare_runs(
    view: &AsOf<'_>,
    runs: &[NodeIndex],
    lower_is_better: impl Fn(&str) -> bool,
) -> RunComparison {
    let nodes: Vec<_> = runs.iter().map(|&run| view.node(run)).collect();
    let facts: Vec<Option<&RunFacts>> = nodes
        .iter()
        .map(|node| match &node.facts {
            Facts::Run(run) => Some(&**run),
            _ => None,
        })
        .collect();
    let mut truncated = false;

    let mut fields = Vec::new();
    let mut row = |field: String, values: Vec<String>| {
        let differs = values.windows(2).any(|pair| pair[0] != pair[1]);
        fields.push(ComparedField {
            field,
            values,
            differs,
        });
    };
    fn started<'a>(run: &Option<&'a RunFacts>) -> Option<&'a Lww<RunStartFacts>> {
        run.and_then(|run| run.started.as_ref())
    }
    row(
        "experiment".into(),
        facts
            .iter()
            .map(|run| {
                started(run)
                    .and_then(|s| s.value.experiment.clone())
                    .unwrap_or_default()
            })
            .collect(),
    );
    row(
        "status".into(),
        facts
            .iter()
            .map(|run| {
                run.and_then(RunFacts::status)
                    .map_or("", RunStatus::as_str)
                    .to_owned()
            })
            .collect(),
    );
    row(
        "code_version".into(),
        facts
            .iter()
            .map(|run| {
                started(run)
                    .map(|s| s.value.code_version.clone())
                    .unwrap_or_default()
            })
            .collect(),
    );
    row(
        "environment".into(),
        facts
            .iter()
            .map(|run| {
                started(run)
                    .and_then(|s| s.value.environment.as_ref())
                    .map(|env| format!("{}@{}", env.name, env.version))
                    .unwrap_or_default()
            })
            .collect(),
    );
    row(
        "compute_target".into(),
        facts
            .iter()
            .map(|run| {
                started(run)
                    .and_then(|s| s.value.compute_target.clone())
                    .unwrap_or_default()
            })
            .collect(),
    );
    row(
        "parent_run_id".into(),
        facts
            .iter()
            .map(|run| {
                started(run)
                    .and_then(|s| s.value.parent_run_id.clone())
                    .unwrap_or_default()
            })
            .collect(),
    );
    for (field, kind) in [
        ("input_datasets", EntityKind::DatasetVersion),
        ("input_models", EntityKind::ModelVersion),
    ] {
        row(
            field.into(),
            runs.iter()
                .map(|&run| inputs_of_kind(view, run, kind))
                .collect(),
        );
    }

    let param_keys = bounded_keys(
        facts
            .iter()
            .flatten()
            .flat_map(|run| run.params().map(|(key, _)| key)),
        &mut truncated,
    );
    for key in param_keys {
        let values = facts
            .iter()
            .map(|run| {
                run.and_then(|run| run.params.get(key))
                    .map(|value| value.value.to_string())
                    .unwrap_or_default()
            })
            .collect();
        row(format!("params.{key}"), values);
    }
    let tag_keys = bounded_keys(
        nodes
            .iter()
            .flat_map(|node| node.tags.iter().map(|(key, _)| key.as_str())),
        &mut truncated,
    );
    for key in tag_keys {
        let values = nodes
            .iter()
            .map(|node: &std::borrow::Cow<'_, Node>| {
                node.tags
                    .get(key)
                    .map(|value| value.value.to_string())
                    .unwrap_or_default()
            })
            .collect();
        row(format!("tags.{key}"), values);
    }

    let metric_keys = bounded_keys(
        facts
            .iter()
            .flatten()
            .flat_map(|run| run.metrics().map(|(key, _)| key)),
        &mut truncated,
    );
    let metrics = metric_keys
        .into_iter()
        .map(|key| {
            let lower = lower_is_better(key);
            let sides: Vec<Option<MetricSide>> = facts
                .iter()
                .map(|run| {
                    let series = (*run)?.metric(key)?;
                    let best = series
                        .points()
                        .reduce(|best, point| {
                            if better(point.value, best.value, lower) {
                                point
                            } else {
                                best
                            }
                        })
                        .expect("a series has a point");
                    Some(MetricSide {
                        latest: series.latest(),
                        best,
                        points: series.len(),
                    })
                })
                .collect();
            let mut best_run: Option<usize> = None;
            for (position, side) in sides.iter().enumerate() {
                let Some(side) = side else { continue };
                let beats = match best_run.and_then(|best| sides[best].as_ref()) {
                    None => true,
                    Some(best) => better(side.latest.value, best.latest.value, lower),
                };
                if beats {
                    best_run = Some(position);
                }
            }
            let latest: Vec<Option<u64>> = sides
                .iter()
                .map(|side| side.map(|side| side.latest.value.to_bits()))
                .collect();
            MetricComparison {
                key: key.to_owned(),
                lower_is_better: lower,
                differs: latest.windows(2).any(|pair| pair[0] != pair[1]),
                runs: sides,
                best_run,
            }
        })
        .collect();

    RunComparison {
        runs: runs.to_vec(),
        fields,
        metrics,
        truncated,
    }
}

/// Whether `value` is strictly better than `than`; NaN is never better.
fn better(value: f64, than: f64, lower_is_better: bool) -> bool {
    if lower_is_better {
        value < than
    } else {
        value > than
    }
}

/// The distinct keys, sorted, at most [`MAX_COMPARED_KEYS`] of them.
fn bounded_keys<'a>(keys: impl Iterator<Item = &'a str>, truncated: &mut bool) -> Vec<&'a str> {
    let keys: BTreeSet<&str> = keys.collect();
    *truncated |= keys.len() > MAX_COMPARED_KEYS;
    keys.into_iter().take(MAX_COMPARED_KEYS).collect()
}

/// A run's inputs of one kind as `name@version`, sorted and joined.
fn inputs_of_kind(view: &AsOf<'_>, run: NodeIndex, kind: EntityKind) -> String {
    let mut inputs: Vec<String> = view
        .incoming(run, EdgeKind::Input)
        .map(|(_, input)| view.key(input))
        .filter(|key| key.kind == kind)
        .map(|key| format!("{}@{}", key.name, key.version))
        .collect();
    inputs.sort_unstable();
    inputs.truncate(MAX_COMPARED_KEYS);
    inputs.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_errors_and_gaps_are_better_lower() {
        for key in [
            "loss",
            "val_loss",
            "RMSE",
            "error_rate",
            "fairness_gap",
            "p99_latency",
        ] {
            assert!(lower_is_better_by_name(key), "{key}");
        }
        for key in ["auc", "precision", "recall", "f1", "accuracy"] {
            assert!(!lower_is_better_by_name(key), "{key}");
        }
    }

    #[test]
    fn nan_is_never_better() {
        assert!(!better(f64::NAN, 0.5, false));
        assert!(!better(f64::NAN, 0.5, true));
        assert!(better(0.6, 0.5, false));
        assert!(better(0.4, 0.5, true));
    }
}
