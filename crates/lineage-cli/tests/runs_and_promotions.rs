//! The real `lineage` binary against a real nats-server and lineaged, for
//! DOMAIN.md's questions 5, 6 and 8 from a shell: runs searched and
//! ranked, compared side by side and charted (`runs compare --plot`), a
//! metric's history, promotion criteria set and checked (with their exit
//! codes, and model versions showing how they stand), and `watch` seeing
//! a run that starts using a dataset after it started watching.

use std::io::{BufRead as _, Read as _};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lineage_e2e::events::{
    artifact, dataset, event, inputs, registered, run_finished, run_started, stage,
};
use lineage_e2e::{Lineaged, NatsServer};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;

const WS: &str = "lab";

struct Shell {
    grpc_addr: String,
    nats_url: String,
    files: tempfile::TempDir,
}

impl Shell {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lineage"));
        command
            .args(args)
            .env("LINEAGE_GRPC_ADDR", &self.grpc_addr)
            .env("LINEAGE_NATS_URL", &self.nats_url)
            .env("LINEAGE_WORKSPACE", WS)
            .env_remove("LINEAGE_MIN_SEQ");
        command
    }

    /// Runs `lineage -w lab <args>` off the async runtime's threads.
    async fn lineage(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().expect("run lineage"))
            .await
            .expect("lineage finished")
    }

    /// `lineage emit --wait` of `events`, written to a file first.
    async fn emit(&self, name: &str, events: &[v1::Event]) {
        let path = self.files.path().join(name);
        let lines: Vec<String> = events
            .iter()
            .map(|event| serde_json::to_string(event).expect("events serialize"))
            .collect();
        std::fs::write(&path, lines.join("\n")).expect("write the events");
        let emitted = self
            .lineage(&["emit", &path.to_string_lossy(), "--wait"])
            .await;
        assert!(emitted.status.success(), "{emitted:?}");
    }

    fn path(&self, name: &str) -> String {
        self.files.path().join(name).to_string_lossy().into_owned()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A metric's points at steps 1, 2, 3...
fn series(run_id: &str, key: &str, values: &[f64]) -> Payload {
    Payload::MetricsLogged(v1::MetricsLogged {
        run_id: run_id.into(),
        metrics: values
            .iter()
            .zip(1..)
            .map(|(&value, step)| v1::Metric {
                key: key.into(),
                value,
                step,
                timestamp: None,
            })
            .collect(),
    })
}

/// Three runs of `credit-risk-2026` on applications@3: r1 and r2 with
/// lr=0.01, r3 with lr=0.1. r2 ends with the best AUC of the first two,
/// r3 with the best of all three; credit-risk@1 (from r2, precision 0.93)
/// and credit-risk@2 (from r1, precision 0.8) are both in production, and
/// scorer@1 (from r3) is a model without criteria.
fn history() -> Vec<v1::Event> {
    let mut minute = 0;
    let mut n = 0;
    let mut next = |payload: Payload| {
        minute += 1;
        n += 1;
        event(&format!("lab-{n:03}"), WS, minute, payload)
    };
    let mut events = vec![next(dataset("applications", "3", &[], ""))];
    for (run, lr, auc, logloss, precision) in [
        (
            "r1",
            "0.01",
            &[0.70, 0.75, 0.80][..],
            &[0.6, 0.5, 0.45][..],
            0.80,
        ),
        ("r2", "0.01", &[0.72, 0.85, 0.83], &[0.55, 0.40, 0.42], 0.93),
    ] {
        events.push(next(run_started(run, "", &[("lr", lr)])));
        events.push(next(inputs(run, &[("applications", "3")])));
        events.push(next(series(run, "auc", auc)));
        events.push(next(series(run, "logloss", logloss)));
        events.push(next(series(run, "precision", &[precision])));
        events.push(next(artifact(run, "model.pkl")));
        events.push(next(run_finished(run)));
    }
    events.push(next(run_started("r3", "", &[("lr", "0.1")])));
    events.push(next(inputs("r3", &[("applications", "3")])));
    events.push(next(series("r3", "auc", &[0.9])));
    events.push(next(artifact("r3", "model.pkl")));
    events.push(next(run_finished("r3")));
    for (model, version, run) in [
        ("credit-risk", "1", "r2"),
        ("credit-risk", "2", "r1"),
        ("scorer", "1", "r3"),
    ] {
        events.push(next(registered(model, version, run, "model.pkl")));
    }
    for version in ["1", "2"] {
        events.push(next(stage(
            "credit-risk",
            version,
            v1::ModelStage::Production,
        )));
    }
    events
}

/// Checks that `text` is well-formed XML as far as an SVG writer can get
/// it wrong: every tag closed in order, attributes quoted, no stray `<`
/// or `&` in text, one root element.
fn assert_well_formed_xml(text: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(tag) = rest.strip_prefix('<') {
            let end = tag.find('>').expect("a tag ends");
            let inside = &tag[..end];
            assert_eq!(
                inside.matches('"').count() % 2,
                0,
                "unbalanced quotes in <{inside}>"
            );
            if let Some(name) = inside.strip_prefix('/') {
                assert_eq!(
                    open.pop(),
                    Some(name.trim()),
                    "</{name}> closes nothing open"
                );
            } else {
                let name = inside
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .expect("a name");
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "bad element name in <{inside}>"
                );
                if open.is_empty() {
                    roots += 1;
                }
                if !inside.ends_with('/') {
                    open.push(name);
                }
            }
            rest = &tag[end + 1..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let content = &rest[..end];
            assert!(!open.is_empty(), "text outside the root: {content:?}");
            for (at, _) in content.match_indices('&') {
                let entity = &content[at..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|known| entity.starts_with(known)),
                    "a bare & in {content:?}"
                );
            }
            rest = &rest[end..];
        }
    }
    assert!(open.is_empty(), "left open: {open:?}");
    assert_eq!(roots, 1, "one root element");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_compare_chart_and_gate_promotions_then_watch() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    lineaged
        .wait_status("ready", |s| s.ready && s.ingest_connected)
        .await;
    let shell = Shell {
        grpc_addr: lineaged.addr.to_string(),
        nats_url: nats.url(),
        files: tempfile::tempdir().expect("files"),
    };
    let events = history();
    shell.emit("history.jsonl", &events).await;
    let mut applied = events.len() as u64;
    let status = lineaged.wait_applied(applied).await;
    assert_eq!(status.dead_lettered, 0);

    search(&shell).await;
    compare_and_chart(&shell).await;
    metric_history(&shell).await;

    // Criteria set from the shell: the event id and where the stream holds it.
    let set = shell
        .lineage(&[
            "promotion",
            "set-criteria",
            "credit-risk",
            "metrics.precision >= 0.9 and no flagged upstream",
            "--actor",
            "risk-committee",
            "--wait",
        ])
        .await;
    assert!(set.status.success(), "{set:?}");
    applied += 1;
    let text = stdout(&set);
    assert!(
        text.starts_with("criteria of model credit-risk: event criteria-"),
        "{text}"
    );
    assert!(text.contains(&format!("(stream seq {applied})")), "{text}");
    let status = lineaged.wait_applied(applied).await;
    assert_eq!(status.dead_lettered, 0);
    promotions(&shell).await;

    watch(&shell, &lineaged, applied).await;
    lineaged.stop().await;
}

/// Question 5, first half: runs of the experiment with lr=0.01, ranked by
/// AUC.
async fn search(shell: &Shell) {
    let filter = "metrics.auc > 0.78 and params.lr = '0.01'";
    let found = shell
        .lineage(&[
            "runs",
            "search",
            "--experiment",
            "credit-risk-2026",
            "--filter",
            filter,
            "--order-by",
            "metrics.auc DESC",
        ])
        .await;
    assert!(found.status.success(), "{found:?}");
    let text = stdout(&found);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].ends_with("metrics.auc  params.lr"),
        "{text}"
    );
    let runs: Vec<&str> = lines[1..3]
        .iter()
        .map(|line| line.split_whitespace().next().expect("a run id"))
        .collect();
    assert_eq!(runs, ["r2", "r1"], "{text}");
    assert!(
        lines[1].contains(" 0.83 ") && lines[1].ends_with(" 0.01"),
        "{text}"
    );
    assert!(lines[3].starts_with("2 runs ("), "{text}");
    assert!(!text.contains("r3"), "{text}");

    // As JSON, a page at a time: the token leads to the rest.
    let first = shell
        .lineage(&[
            "--format",
            "json",
            "runs",
            "search",
            "--filter",
            filter,
            "--order-by",
            "metrics.auc DESC",
            "--page-size",
            "1",
        ])
        .await;
    assert!(first.status.success(), "{first:?}");
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_eq!(first["runs"][0]["ref"]["name"], "r2", "{first}");
    let token = first["next_page_token"].as_str().expect("a next page");
    let rest = shell
        .lineage(&[
            "--format",
            "json",
            "runs",
            "search",
            "--filter",
            filter,
            "--order-by",
            "metrics.auc DESC",
            "--page-size",
            "1",
            "--page-token",
            token,
            "--all",
        ])
        .await;
    let rest: serde_json::Value = serde_json::from_slice(&rest.stdout).expect("JSON");
    let names: Vec<&str> = rest["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|run| run["ref"]["name"].as_str())
        .collect();
    assert_eq!(names, ["r1"], "{rest}");

    // A filter the service cannot parse is its INVALID_ARGUMENT (3).
    let bad = shell
        .lineage(&["runs", "search", "--filter", "metrics.auc >>> 1"])
        .await;
    assert_eq!(bad.status.code(), Some(3), "{bad:?}");
    // Time travel is not for searches (64, before anything is sent).
    let past = shell.lineage(&["runs", "search", "--as-of", "3"]).await;
    assert_eq!(past.status.code(), Some(64), "{past:?}");
}

/// Question 5, second half: how the runs differ, and their curves.
async fn compare_and_chart(shell: &Shell) {
    let plot = shell.path("runs.svg");
    let compared = shell
        .lineage(&["runs", "compare", "r1", "run:r2", "r3", "--plot", &plot])
        .await;
    assert!(compared.status.success(), "{compared:?}");
    let text = stdout(&compared);
    let line = |prefix: &str| {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
            .to_owned()
    };
    assert_eq!(
        line("   FIELD").split_whitespace().collect::<Vec<_>>(),
        ["FIELD", "r1", "r2", "r3"],
        "{text}"
    );
    // Not a terminal: marked with `*`, no escapes.
    assert!(!text.contains('\x1b'), "{text}");
    assert!(line("*  params.lr").contains("0.01"), "{text}");
    assert!(line("   experiment").contains("credit-risk-2026"), "{text}");
    // r3 has the best AUC; logloss is better lower, and r2's is lowest.
    assert!(line("*  auc ↑").ends_with("0.9 (step 1) ★"), "{text}");
    let logloss = line("*  logloss ↓");
    assert!(logloss.contains("0.42 (step 3) ★"), "{text}");
    assert!(
        logloss.trim_end().ends_with('-'),
        "r3 has no logloss: {text}"
    );
    assert!(
        stderr(&compared).contains("plot: 3 charts of 3 runs written to"),
        "{compared:?}"
    );

    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert_well_formed_xml(&svg);
    // auc for the three runs, logloss and precision for r1 and r2.
    assert_eq!(svg.matches("<polyline").count(), 7, "{svg}");
    for run in ["r1", "r2", "r3"] {
        assert!(
            svg.contains(&format!(">{run}</text>")),
            "{run} in the legend"
        );
    }
    for title in ["auc (higher is better)", "logloss (lower is better)"] {
        assert!(svg.contains(&format!(">{title}</text>")), "{title}");
    }

    // One metric only; the file is replaced.
    let auc = shell
        .lineage(&[
            "runs",
            "compare",
            "r1",
            "r2",
            "r3",
            "--plot",
            &plot,
            "--plot-metric",
            "auc",
        ])
        .await;
    assert!(auc.status.success(), "{auc:?}");
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
    let unknown = shell
        .lineage(&[
            "runs",
            "compare",
            "r1",
            "r2",
            "--plot",
            &shell.path("none.svg"),
            "--plot-metric",
            "f1",
        ])
        .await;
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert!(
        stderr(&unknown).contains("--plot-metric f1: none of the compared runs logged it"),
        "{unknown:?}"
    );
    assert!(!std::path::Path::new(&shell.path("none.svg")).exists());

    let json = shell
        .lineage(&["--format", "json", "runs", "compare", "r1", "r2"])
        .await;
    assert!(json.status.success(), "{json:?}");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(json["runs"][1]["ref"]["name"], "r2", "{json}");
    // One run is not a comparison; a run id with '/' is not a run id.
    for args in [
        &["runs", "compare", "r1"][..],
        &["runs", "compare", "r1", "r/2"],
    ] {
        let refused = shell.lineage(args).await;
        assert_eq!(refused.status.code(), Some(64), "{args:?}: {refused:?}");
    }
}

/// Every point of one metric of one run.
async fn metric_history(shell: &Shell) {
    let history = shell.lineage(&["runs", "metric", "r2", "auc"]).await;
    assert!(history.status.success(), "{history:?}");
    let text = stdout(&history);
    let rows: Vec<(String, String)> = text
        .lines()
        .skip(2)
        .take(3)
        .map(|line| {
            let mut cells = line.split_whitespace();
            (
                cells.next().expect("a step").to_owned(),
                cells.next().expect("a value").to_owned(),
            )
        })
        .collect();
    assert!(
        text.starts_with("run:r2  auc\nSTEP  VALUE  TIMESTAMP\n"),
        "{text}"
    );
    assert_eq!(
        rows,
        [("1", "0.72"), ("2", "0.85"), ("3", "0.83")].map(|(s, v)| (s.to_owned(), v.to_owned())),
        "{text}"
    );
    let paged = shell
        .lineage(&[
            "--format",
            "json",
            "runs",
            "metric",
            "r2",
            "auc",
            "--page-size",
            "2",
            "--all",
        ])
        .await;
    let paged: serde_json::Value = serde_json::from_slice(&paged.stdout).expect("JSON");
    assert_eq!(paged["points"].as_array().map(Vec::len), Some(3), "{paged}");
    let unknown = shell.lineage(&["runs", "metric", "r-404", "auc"]).await;
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
}

/// Question 6: does a model version meet its criteria, and what shows it.
async fn promotions(shell: &Shell) {
    let passes = shell
        .lineage(&["promotion", "check", "credit-risk@1"])
        .await;
    assert_eq!(passes.status.code(), Some(0), "{passes:?}");
    let text = stdout(&passes);
    assert!(
        text.starts_with("PASS  model:credit-risk@1  (source run:r2)\n"),
        "{text}"
    );
    assert!(
        text.contains("✔ PASS  metrics.precision >= 0.9\n"),
        "{text}"
    );
    assert!(text.contains("✔ PASS  no flagged upstream\n"), "{text}");
    assert!(
        text.contains("evidence: run:r2  metrics.precision = 0.93"),
        "{text}"
    );

    let fails = shell
        .lineage(&["promotion", "check", "model:credit-risk@2"])
        .await;
    assert_eq!(fails.status.code(), Some(1), "{fails:?}");
    let text = stdout(&fails);
    assert!(text.starts_with("FAIL  model:credit-risk@2"), "{text}");
    assert!(
        text.contains("✘ FAIL  metrics.precision >= 0.9\n"),
        "{text}"
    );

    // Criteria given on the command line, as JSON.
    let stricter = shell
        .lineage(&[
            "--format",
            "json",
            "promotion",
            "check",
            "credit-risk@1",
            "--criteria",
            "metrics.precision >= 0.95",
        ])
        .await;
    assert_eq!(stricter.status.code(), Some(1), "{stricter:?}");
    let stricter: serde_json::Value = serde_json::from_slice(&stricter.stdout).expect("JSON");
    // proto3 JSON leaves a false bool out.
    assert_eq!(stricter["passed"].as_bool(), None, "{stricter}");
    assert_eq!(
        stricter["results"][0]["criterion"], "metrics.precision >= 0.95",
        "{stricter}"
    );
    assert_eq!(
        stricter["criteria_event_id"],
        serde_json::Value::Null,
        "{stricter}"
    );

    // A model without criteria: a failure saying how to set them.
    let none = shell.lineage(&["promotion", "check", "scorer@1"]).await;
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    assert!(stderr(&none).contains("FAILED_PRECONDITION"), "{none:?}");
    assert!(
        stderr(&none).contains("lineage promotion set-criteria scorer"),
        "{none:?}"
    );
    let no_version = shell.lineage(&["promotion", "check", "credit-risk"]).await;
    assert_eq!(no_version.status.code(), Some(64), "{no_version:?}");
    let versioned = shell
        .lineage(&["promotion", "set-criteria", "credit-risk@1", "approved"])
        .await;
    assert_eq!(versioned.status.code(), Some(64), "{versioned:?}");

    // The entities say how they stand, and so does impact.
    let short = shell.lineage(&["get", "model:credit-risk@2"]).await;
    assert!(short.status.success(), "{short:?}");
    assert!(
        stdout(&short).contains(
            "promotion:        ✘ in production WITHOUT meeting its criteria: metrics.precision >= 0.9"
        ),
        "{}",
        stdout(&short)
    );
    let meets = shell.lineage(&["get", "model:credit-risk@1"]).await;
    assert!(
        stdout(&meets).contains("promotion:        ✔ meets its promotion criteria"),
        "{}",
        stdout(&meets)
    );
    let impact = shell.lineage(&["impact", "dataset:applications@3"]).await;
    let text = stdout(&impact);
    assert!(
        text.contains("model:credit-risk@2  ★ PRODUCTION  ✘ CRITERIA UNMET"),
        "{text}"
    );
    assert!(
        text.contains("✘ in production WITHOUT meeting its criteria: metrics.precision >= 0.9"),
        "{text}"
    );
}

/// Question 8: what comes to depend on applications@3, as it happens.
async fn watch(shell: &Shell, lineaged: &Lineaged, applied: u64) {
    // From the start: what is downstream now comes first, as JSON lines.
    let now = shell
        .lineage(&[
            "--format",
            "json",
            "watch",
            "dataset:applications@3",
            "--count",
            "2",
        ])
        .await;
    assert!(now.status.success(), "{now:?}");
    let lines: Vec<serde_json::Value> = stdout(&now)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{now:?}");
    for line in &lines {
        assert_eq!(line["path"][0]["name"], "applications", "{line}");
        assert!(line["seq"].is_string(), "{line}");
    }

    // Live: a watch from the head, then a new run reads the dataset.
    let mut child = shell
        .command(&[
            "watch",
            "dataset:applications@3",
            "--from-seq",
            &applied.to_string(),
            "--count",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lineage watch");
    // Its first line says it is watching; the pipe stays open (and read)
    // until it ends.
    let child_stderr = child.stderr.take().expect("stderr");
    let (first_line, first_line_read) = std::sync::mpsc::channel();
    let stderr_rest = std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(child_stderr);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read stderr");
        let _ = first_line.send(line);
        let mut rest = String::new();
        reader.read_to_string(&mut rest).expect("read stderr");
        rest
    });
    let started =
        tokio::task::spawn_blocking(move || first_line_read.recv_timeout(lineage_e2e::WAIT))
            .await
            .expect("waited");
    let Ok(started) = started else {
        let _ = child.kill();
        panic!("the watch did not start");
    };
    assert!(
        started.starts_with("watching what comes to depend on dataset:applications@3"),
        "{started}"
    );
    shell
        .emit(
            "r9.jsonl",
            &[
                event(
                    "lab-r9-start",
                    WS,
                    100,
                    run_started("r9", "", &[("lr", "0.02")]),
                ),
                event(
                    "lab-r9-inputs",
                    WS,
                    101,
                    inputs("r9", &[("applications", "3")]),
                ),
            ],
        )
        .await;
    lineaged.wait_applied(applied + 2).await;
    let deadline = Instant::now() + lineage_e2e::WAIT;
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait for the watch") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the watch saw nothing within {:?}", lineage_e2e::WAIT);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut seen = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut seen)
        .expect("read stdout");
    assert!(exit.success(), "{exit:?}: {seen}");
    assert!(
        seen.starts_with(&format!("seq {}  run:r9", applied + 2)),
        "{seen}"
    );
    assert!(
        seen.trim_end()
            .ends_with("via dataset:applications@3 -INPUT-> run:r9"),
        "{seen}"
    );
    assert_eq!(seen.lines().count(), 1, "{seen}");
    let said = stderr_rest.join().expect("stderr read");
    assert_eq!(
        said,
        format!(
            "watch: stopped after 1 entity; resume with --from-seq {}\n",
            applied + 1
        )
    );

    let no_version = shell.lineage(&["watch", "dataset:applications"]).await;
    assert_eq!(no_version.status.code(), Some(64), "{no_version:?}");
}
