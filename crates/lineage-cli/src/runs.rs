//! `lineage runs search|compare|metric`: the requests, the pages `--all`
//! follows (at most [`MAX_PAGES`]), and for `runs compare --plot` every
//! compared run's history of each charted metric, drawn by
//! [`render::svg`] into one file.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use lineage_core::EntityKind;
use lineage_proto::v1;

use crate::client::Client;
use crate::render::{self, svg};
use crate::{
    CompareArgs, Format, GlobalArgs, MAX_PAGES, MetricArgs, SearchArgs, View, default_view, entity,
    write_stdout,
};

/// The most metrics `runs compare --plot` charts unless `--plot-metric`
/// names them: a page of charts a person can take in.
const MAX_PLOTTED_METRICS: usize = 24;

/// `runs search`: one page, or with `--all` every page up to the bound.
pub async fn search(global: &GlobalArgs, args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let experiments = args
        .experiments
        .iter()
        .map(|raw| entity::parse_unversioned(EntityKind::Experiment, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = render::runs::search_columns(&args.filter, &args.order_by);
    // The table's extra columns are values only the full view carries.
    let text_needs = if columns.is_empty() {
        View::Basic
    } else {
        View::Full
    };
    let mut request = v1::SearchRunsRequest {
        workspace: workspace.as_str().to_owned(),
        experiments,
        filter: args.filter.clone(),
        order_by: args.order_by.clone(),
        page_size: args.page_size.unwrap_or(0),
        page_token: args.page_token.clone(),
        view: args.view.or(default_view(global.format, text_needs)),
        min_seq: global.min_seq,
    };
    let mut grpc = global.connect().await?;
    let mut combined = v1::SearchRunsResponse::default();
    for page in 0..MAX_PAGES {
        let answer = grpc.search_runs(request.clone()).await?.into_inner();
        combined.runs.extend(answer.runs);
        combined.next_page_token = answer.next_page_token;
        combined.applied_seq = answer.applied_seq;
        combined.candidates += answer.candidates;
        if !args.all || combined.next_page_token.is_empty() {
            break;
        }
        if page + 1 == MAX_PAGES {
            eprintln!(
                "warning: stopped after {MAX_PAGES} pages; continue with --page-token {}",
                combined.next_page_token
            );
            break;
        }
        request.page_token = combined.next_page_token.clone();
    }
    write_stdout(&match global.format {
        Format::Json => render::json(&serde_json::to_value(&combined)?)?,
        _ => render::runs::search(&combined, &columns),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `runs compare`: the comparison, then with `--plot` the charts.
pub async fn compare(global: &GlobalArgs, args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let run_ids = args
        .runs
        .iter()
        .map(|raw| entity::parse_unversioned(EntityKind::Run, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let lower_is_better = args
        .lower_is_better
        .iter()
        .map(|raw| entity::parse_metric_key(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let mut plot_keys: Vec<String> = Vec::new();
    for raw in &args.plot_metrics {
        let key = entity::parse_metric_key(raw)?;
        if !plot_keys.contains(&key) {
            plot_keys.push(key);
        }
    }
    let mut grpc = global.connect().await?;
    let answer = grpc
        .compare_runs(v1::CompareRunsRequest {
            workspace: workspace.as_str().to_owned(),
            run_ids: run_ids.clone(),
            lower_is_better,
            min_seq: global.min_seq,
        })
        .await?
        .into_inner();
    write_stdout(&match global.format {
        Format::Json => render::json(&serde_json::to_value(&answer)?)?,
        _ => render::runs::comparison(&answer, stdout_takes_bold()),
    })?;
    if let Some(path) = &args.plot {
        let metrics = charted_metrics(&answer, &plot_keys)?;
        let mut charts = Vec::with_capacity(metrics.len());
        for metric in metrics {
            charts.push(chart(&mut grpc, workspace.as_str(), &run_ids, &answer, metric).await?);
        }
        std::fs::write(path, svg::document(&charts))
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
        eprintln!(
            "plot: {} of {} written to {}",
            render::text::count(charts.len(), "chart"),
            render::text::count(run_ids.len(), "run"),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `runs metric`: one page of points, or with `--all` every page up to the
/// bound.
pub async fn metric(global: &GlobalArgs, args: &MetricArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let request = v1::GetMetricHistoryRequest {
        workspace: workspace.as_str().to_owned(),
        run_id: entity::parse_unversioned(EntityKind::Run, &args.run)?,
        key: entity::parse_metric_key(&args.key)?,
        page_size: args.page_size.unwrap_or(0),
        page_token: args.page_token.clone(),
        min_seq: global.min_seq,
    };
    let mut grpc = global.connect().await?;
    let history = metric_history(&mut grpc, request, args.all).await?;
    if args.all && !history.next_page_token.is_empty() {
        eprintln!(
            "warning: stopped after {MAX_PAGES} pages; continue with --page-token {}",
            history.next_page_token
        );
    }
    write_stdout(&match global.format {
        Format::Json => render::json(&serde_json::to_value(&history)?)?,
        _ => render::runs::metric_history(&history),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// One page of a metric's points from `request`'s token on, or with `all`
/// every page up to [`MAX_PAGES`]; a `next_page_token` left in the answer
/// says where the bound stopped it.
async fn metric_history(
    grpc: &mut Client,
    mut request: v1::GetMetricHistoryRequest,
    all: bool,
) -> anyhow::Result<v1::MetricHistory> {
    let mut combined = v1::MetricHistory::default();
    for _ in 0..MAX_PAGES {
        let answer = grpc.get_metric_history(request.clone()).await?.into_inner();
        combined.run_id = answer.run_id;
        combined.key = answer.key;
        combined.points.extend(answer.points);
        combined.next_page_token = answer.next_page_token;
        combined.applied_seq = answer.applied_seq;
        if !all || combined.next_page_token.is_empty() {
            break;
        }
        request.page_token = combined.next_page_token.clone();
    }
    Ok(combined)
}

/// The metrics to chart: those `--plot-metric` names (each must be among
/// the compared), or the first [`MAX_PLOTTED_METRICS`] of the comparison.
fn charted_metrics<'a>(
    answer: &'a v1::RunComparison,
    wanted: &[String],
) -> anyhow::Result<Vec<&'a v1::MetricComparison>> {
    if wanted.is_empty() {
        if answer.metrics.len() > MAX_PLOTTED_METRICS {
            eprintln!(
                "plot: charting the first {MAX_PLOTTED_METRICS} of {} metrics; name others with --plot-metric",
                answer.metrics.len()
            );
        }
        return Ok(answer.metrics.iter().take(MAX_PLOTTED_METRICS).collect());
    }
    wanted
        .iter()
        .map(|key| {
            answer
                .metrics
                .iter()
                .find(|metric| &metric.key == key)
                .ok_or_else(|| {
                    let logged: Vec<&str> = answer.metrics.iter().map(|m| m.key.as_str()).collect();
                    anyhow::anyhow!(
                        "--plot-metric {key}: none of the compared runs logged it (they logged: {})",
                        if logged.is_empty() {
                            "no metric".to_owned()
                        } else {
                            logged.join(", ")
                        }
                    )
                })
        })
        .collect()
}

/// One metric's chart: the whole history of each compared run that has
/// it, read at least as new as the comparison (its `applied_seq`).
async fn chart(
    grpc: &mut Client,
    workspace: &str,
    run_ids: &[String],
    answer: &v1::RunComparison,
    metric: &v1::MetricComparison,
) -> anyhow::Result<svg::Chart> {
    let mut series = Vec::new();
    for (position, (run_id, side)) in run_ids.iter().zip(&metric.runs).enumerate() {
        if !side.present {
            continue;
        }
        let request = v1::GetMetricHistoryRequest {
            workspace: workspace.to_owned(),
            run_id: run_id.clone(),
            key: metric.key.clone(),
            page_size: 0,
            page_token: String::new(),
            min_seq: answer.applied_seq,
        };
        let history = metric_history(grpc, request, true).await?;
        if !history.next_page_token.is_empty() {
            eprintln!(
                "plot: {} of run {run_id}: only its first {} points ({MAX_PAGES} pages)",
                metric.key,
                history.points.len()
            );
        }
        series.push(svg::Series {
            run_id: run_id.clone(),
            color: position,
            points: history
                .points
                .iter()
                .map(|point| (point.step, point.value))
                .collect(),
        });
    }
    let direction = if metric.lower_is_better {
        "lower is better"
    } else {
        "higher is better"
    };
    Ok(svg::Chart {
        title: format!("{} ({direction})", metric.key),
        series,
    })
}

/// Whether differing rows may be set in bold: only on a terminal, and not
/// when the user opted out of escapes (`NO_COLOR`).
fn stdout_takes_bold() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
