//! Text for the `runs` commands: a search as a table with a column per
//! metric, parameter or tag its filter or order names ([`search_columns`]),
//! runs side by side with what differs marked, and one metric's points.

use std::fmt::{self, Write};

use lineage_proto::v1;

use super::text::{Table, count, dash, run_status};

/// The columns a search table adds for the `metrics.<key>`, `params.<key>`
/// and `tags.<key>` its filter and sort keys name, and for sorting by
/// `name` or `ended_at`, in the order they first appear. Quoted values
/// (`params.lr = 'metrics.x'`) are not names.
pub fn search_columns(filter: &str, order_by: &[String]) -> Vec<String> {
    let mut columns = Vec::new();
    let mut add = |name: String| {
        if !columns.contains(&name) {
            columns.push(name);
        }
    };
    field_names(filter).into_iter().for_each(&mut add);
    for key in order_by {
        match key.split_whitespace().next() {
            Some(field @ ("name" | "ended_at")) => add(field.to_owned()),
            _ => field_names(key).into_iter().for_each(&mut add),
        }
    }
    columns
}

/// What a field name is made of after its prefix (the service's key rules
/// without the space, which would run into the next word).
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/')
}

/// The `metrics.`, `params.` and `tags.` names in a filter or sort key,
/// outside quotes.
fn field_names(text: &str) -> Vec<String> {
    const PREFIXES: [&str; 3] = ["metrics.", "params.", "tags."];
    let mut names = Vec::new();
    let mut quote: Option<char> = None;
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match quote {
            Some(_) if c == '\\' => {
                chars.next();
            }
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if previous.is_none_or(|p| !is_key_char(p)) => {
                if let Some(prefix) = PREFIXES.iter().find(|p| text[at..].starts_with(**p)) {
                    let rest = &text[at + prefix.len()..];
                    let key_len = rest.find(|c: char| !is_key_char(c)).unwrap_or(rest.len());
                    let key = rest[..key_len].trim_end_matches('.');
                    if !key.is_empty() {
                        names.push(format!("{prefix}{key}"));
                    }
                    // Skip the name: its dots and letters start nothing.
                    let end = at + prefix.len() + key_len;
                    while chars.next_if(|&(index, _)| index < end).is_some() {}
                    previous = text[..end].chars().next_back();
                    continue;
                }
            }
            None => {}
        }
        previous = Some(c);
    }
    names
}

/// A search's page: one row per run (id, experiment, status, start, then
/// `columns`), how many there are, and the token of the next page.
pub fn search(answer: &v1::SearchRunsResponse, columns: &[String]) -> String {
    render(|out| {
        if answer.runs.is_empty() {
            writeln!(
                out,
                "no runs ({} examined), as of log seq {}",
                count(answer.candidates as usize, "candidate"),
                answer.applied_seq
            )?;
        } else {
            let mut header: Vec<String> = ["RUN", "EXPERIMENT", "STATUS", "STARTED"]
                .map(str::to_owned)
                .to_vec();
            header.extend(columns.iter().cloned());
            let mut table = Table::new(header);
            for run in &answer.runs {
                let id = run.r#ref.as_ref().map_or("?", |r| r.name.as_str());
                let details = match &run.details {
                    Some(v1::entity::Details::Run(details)) => Some(details),
                    _ => None,
                };
                let mut row = vec![id.to_owned()];
                row.push(dash(
                    details.map_or_else(String::new, |d| d.experiment.clone()),
                ));
                row.push(dash(details.map_or_else(String::new, |d| {
                    if d.status == 0 {
                        String::new()
                    } else {
                        run_status(d.status)
                    }
                })));
                row.push(dash(
                    details
                        .and_then(|d| time!(d.started_at))
                        .unwrap_or_default(),
                ));
                row.extend(
                    columns
                        .iter()
                        .map(|column| dash(column_value(run, details, column))),
                );
                table.push(row);
            }
            table.write(out, false)?;
            writeln!(
                out,
                "{} ({} examined), as of log seq {}",
                count(answer.runs.len(), "run"),
                count(answer.candidates as usize, "candidate"),
                answer.applied_seq
            )?;
        }
        if !answer.next_page_token.is_empty() {
            writeln!(
                out,
                "more runs: --page-token {} (or --all)",
                answer.next_page_token
            )?;
        }
        Ok(())
    })
}

/// A run's value of a column [`search_columns`] made (a metric's is its
/// latest value); empty when the run has none (or the view left it out).
fn column_value(run: &v1::Entity, details: Option<&v1::RunDetails>, column: &str) -> String {
    if column == "name" {
        details.map_or_else(String::new, |d| d.name.clone())
    } else if column == "ended_at" {
        details.and_then(|d| time!(d.ended_at)).unwrap_or_default()
    } else if let Some(key) = column.strip_prefix("metrics.") {
        details
            .and_then(|d| d.latest_metrics.iter().find(|metric| metric.key == key))
            .map_or_else(String::new, |metric| metric.value.to_string())
    } else if let Some(key) = column.strip_prefix("params.") {
        details
            .and_then(|d| d.params.get(key))
            .cloned()
            .unwrap_or_default()
    } else if let Some(key) = column.strip_prefix("tags.") {
        run.tags.get(key).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// `0.83 (step 10)`.
fn point(value: Option<&v1::MetricValue>) -> String {
    value.map_or_else(String::new, |value| {
        format!("{} (step {})", value.value, value.step)
    })
}

/// Runs side by side: a table of fields with one column per run, those
/// that differ marked `*` (and bold with `bold`, for a terminal), then a
/// table of metrics, each run's latest value (the best run's marked ★),
/// its best point, and its number of points.
pub fn comparison(answer: &v1::RunComparison, bold: bool) -> String {
    let run_ids: Vec<String> = answer
        .runs
        .iter()
        .map(|run| {
            run.r#ref
                .as_ref()
                .map_or("?", |r| r.name.as_str())
                .to_owned()
        })
        .collect();
    let mark = |differs: bool| if differs { "*" } else { "" }.to_owned();
    render(|out| {
        let mut header = vec![String::new(), "FIELD".to_owned()];
        header.extend(run_ids.iter().cloned());
        let mut fields = Table::new(header);
        for compared in &answer.fields {
            let mut row = vec![mark(compared.differs), compared.field.clone()];
            row.extend(compared.values.iter().cloned().map(dash));
            fields.push_marked(row, compared.differs);
        }
        fields.write(out, bold)?;

        if !answer.metrics.is_empty() {
            writeln!(out)?;
            let mut header = vec![String::new(), "METRIC".to_owned(), String::new()];
            header.extend(run_ids.iter().cloned());
            let mut metrics = Table::new(header);
            for metric in &answer.metrics {
                let arrow = if metric.lower_is_better { "↓" } else { "↑" };
                let best = metric.best_run as usize;
                let mut latest = vec![
                    mark(metric.differs),
                    format!("{} {arrow}", metric.key),
                    "latest".to_owned(),
                ];
                let mut best_points = vec![String::new(), String::new(), "best".to_owned()];
                let mut points = vec![String::new(), String::new(), "points".to_owned()];
                for (position, side) in metric.runs.iter().enumerate() {
                    if !side.present {
                        latest.push("-".to_owned());
                        best_points.push("-".to_owned());
                        points.push("-".to_owned());
                        continue;
                    }
                    let mut value = point(side.latest.as_ref());
                    if position == best {
                        value.push_str(" ★");
                    }
                    latest.push(dash(value));
                    best_points.push(dash(point(side.best.as_ref())));
                    points.push(side.points.to_string());
                }
                metrics.push_marked(latest, metric.differs);
                metrics.push(best_points);
                metrics.push(points);
            }
            metrics.write(out, bold)?;
        }

        writeln!(out)?;
        if answer.truncated {
            writeln!(
                out,
                "(truncated: the runs have more parameters, tags or metrics than one comparison holds; these are the first by key)"
            )?;
        }
        writeln!(
            out,
            "* differs   ↑ higher is better   ↓ lower is better   ★ best latest value"
        )?;
        writeln!(
            out,
            "fields: {} of {} differ; metrics: {} of {} differ; as of log seq {}",
            answer.fields.iter().filter(|f| f.differs).count(),
            answer.fields.len(),
            answer.metrics.iter().filter(|m| m.differs).count(),
            answer.metrics.len(),
            answer.applied_seq
        )
    })
}

/// One metric of one run: a row per point (step, value, time), and the
/// token of the next page.
pub fn metric_history(answer: &v1::MetricHistory) -> String {
    render(|out| {
        writeln!(out, "run:{}  {}", answer.run_id, answer.key)?;
        if answer.points.is_empty() {
            writeln!(out, "no points")?;
        } else {
            let mut table = Table::new(["STEP", "VALUE", "TIMESTAMP"].map(str::to_owned).to_vec());
            for point in &answer.points {
                table.push(vec![
                    point.step.to_string(),
                    point.value.to_string(),
                    dash(time!(point.timestamp).unwrap_or_default()),
                ]);
            }
            table.write(out, false)?;
        }
        writeln!(
            out,
            "{}, as of log seq {}",
            count(answer.points.len(), "point"),
            answer.applied_seq
        )?;
        if !answer.next_page_token.is_empty() {
            writeln!(
                out,
                "more points: --page-token {} (or --all)",
                answer.next_page_token
            )?;
        }
        Ok(())
    })
}

/// Runs a writer against a fresh `String`; writing to a `String` cannot fail.
fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::new();
    write(&mut out).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{self, reference};

    #[test]
    fn columns_come_from_the_filter_and_the_order_outside_quotes() {
        assert_eq!(
            search_columns(
                "metrics.auc > 0.8 and params.lr = 'metrics.fake' and tags.region = \"eu\" \
                 and uses dataset 'applications@3'",
                &["metrics.auc DESC".to_owned(), "params.max_depth".to_owned()]
            ),
            [
                "metrics.auc",
                "params.lr",
                "tags.region",
                "params.max_depth"
            ]
        );
        assert_eq!(
            search_columns(
                "params.note = 'it\\'s metrics.x' and metrics.val/loss<1",
                &[]
            ),
            ["params.note", "metrics.val/loss"]
        );
        // Only whole names: not inside another word.
        assert_eq!(
            search_columns("xmetrics.auc > 1", &[]),
            Vec::<String>::new()
        );
        assert!(search_columns("", &["started_at DESC".to_owned()]).is_empty());
        assert_eq!(
            search_columns(
                "name = 'x'",
                &["ended_at DESC".to_owned(), "name".to_owned()]
            ),
            ["ended_at", "name"]
        );
    }

    #[test]
    fn a_search_table_has_a_column_per_named_field() {
        let mut other = fixtures::completed_run();
        other.r#ref = Some(reference(v1::EntityKind::Run, "r-2", ""));
        if let Some(v1::entity::Details::Run(run)) = &mut other.details {
            run.latest_metrics.clear();
            run.status = v1::RunStatus::Failed as i32;
        }
        let answer = v1::SearchRunsResponse {
            runs: vec![fixtures::completed_run(), other],
            next_page_token: "tok-2".to_owned(),
            applied_seq: 42,
            candidates: 7,
        };
        let columns = ["metrics.auc".to_owned(), "params.lr".to_owned()];
        assert_eq!(
            search(&answer, &columns),
            "\
RUN                EXPERIMENT        STATUS     STARTED  metrics.auc  params.lr
cr-sweep-0706-t08  credit-risk-2026  COMPLETED  -        0.81         0.01
r-2                credit-risk-2026  FAILED     -        -            0.01
2 runs (7 candidates examined), as of log seq 42
more runs: --page-token tok-2 (or --all)
"
        );
        let none = v1::SearchRunsResponse {
            candidates: 1,
            applied_seq: 3,
            ..Default::default()
        };
        assert_eq!(
            search(&none, &[]),
            "no runs (1 candidate examined), as of log seq 3\n"
        );
    }

    fn comparison_fixture() -> v1::RunComparison {
        let run = |id: &str| fixtures::node(reference(v1::EntityKind::Run, id, ""), None);
        let value = |value: f64, step: i64| v1::MetricValue {
            key: "auc".to_owned(),
            value,
            step,
            timestamp: None,
        };
        v1::RunComparison {
            runs: vec![run("r-1"), run("r-2")],
            fields: vec![
                v1::ComparedField {
                    field: "experiment".to_owned(),
                    values: vec!["credit".to_owned(), "credit".to_owned()],
                    differs: false,
                },
                v1::ComparedField {
                    field: "params.lr".to_owned(),
                    values: vec!["0.01".to_owned(), String::new()],
                    differs: true,
                },
            ],
            metrics: vec![v1::MetricComparison {
                key: "auc".to_owned(),
                lower_is_better: false,
                runs: vec![
                    v1::ComparedMetric {
                        present: true,
                        latest: Some(value(0.8, 3)),
                        best: Some(value(0.85, 2)),
                        points: 3,
                    },
                    v1::ComparedMetric {
                        present: true,
                        latest: Some(value(0.83, 3)),
                        best: Some(value(0.83, 3)),
                        points: 3,
                    },
                ],
                best_run: 1,
                differs: true,
            }],
            applied_seq: 42,
            truncated: false,
        }
    }

    #[test]
    fn a_comparison_marks_what_differs_and_the_best_run() {
        let expected = [
            "   FIELD       r-1     r-2",
            "   experiment  credit  credit",
            "*  params.lr   0.01    -",
            "",
            "   METRIC          r-1            r-2",
            "*  auc ↑   latest  0.8 (step 3)   0.83 (step 3) ★",
            "           best    0.85 (step 2)  0.83 (step 3)",
            "           points  3              3",
            "",
            "* differs   ↑ higher is better   ↓ lower is better   ★ best latest value",
            "fields: 1 of 2 differ; metrics: 1 of 1 differ; as of log seq 42",
            "",
        ];
        assert_eq!(
            comparison(&comparison_fixture(), false),
            expected.join("\n")
        );
        let mut cut = comparison_fixture();
        cut.truncated = true;
        assert!(comparison(&cut, false).contains("\n(truncated: the runs have more"));
    }

    #[test]
    fn a_terminal_sees_differing_rows_in_bold() {
        let rendered = comparison(&comparison_fixture(), true);
        assert!(
            rendered.contains("\x1b[1m*  params.lr   0.01    -\x1b[0m\n"),
            "{rendered}"
        );
        assert!(rendered.contains("\n   experiment  credit  credit\n"));
    }

    #[test]
    fn a_metric_history_is_a_row_per_point() {
        let answer = v1::MetricHistory {
            run_id: "r-1".to_owned(),
            key: "auc".to_owned(),
            points: vec![
                v1::MetricValue {
                    key: "auc".to_owned(),
                    value: 0.7,
                    step: 1,
                    timestamp: Some(pbjson_types::Timestamp {
                        seconds: 1_783_324_800,
                        nanos: 0,
                    }),
                },
                v1::MetricValue {
                    key: "auc".to_owned(),
                    value: 0.75,
                    step: 2,
                    timestamp: None,
                },
            ],
            next_page_token: "p2".to_owned(),
            applied_seq: 9,
        };
        assert_eq!(
            metric_history(&answer),
            "\
run:r-1  auc
STEP  VALUE  TIMESTAMP
1     0.7    2026-07-06T08:00:00Z
2     0.75   -
2 points, as of log seq 9
more points: --page-token p2 (or --all)
"
        );
    }
}
