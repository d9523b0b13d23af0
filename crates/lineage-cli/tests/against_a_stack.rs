//! The real `lineage` binary against a real nats-server and lineaged:
//! publishing the demo history and asking DOMAIN.md's questions 1-3 from a
//! shell, in every output format, with the documented exit codes; then
//! verifying and replaying the log it made.

use std::process::Output;

use lineage_e2e::{Lineaged, NatsServer};

const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/demo/history.jsonl"
);

struct Shell {
    grpc_addr: String,
    nats_url: String,
}

impl Shell {
    /// Runs `lineage` off the async runtime's threads.
    async fn lineage(&self, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lineage"));
        command
            .args(args)
            .env("LINEAGE_GRPC_ADDR", &self.grpc_addr)
            .env("LINEAGE_NATS_URL", &self.nats_url)
            .env_remove("LINEAGE_WORKSPACE");
        tokio::task::spawn_blocking(move || command.output().expect("run lineage"))
            .await
            .expect("lineage finished")
    }
}

/// A uint64 of the proto3 JSON mapping, which writes it as a string.
fn uint64(value: &serde_json::Value) -> Option<u64> {
    value.as_str()?.parse().ok()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A real lineaged (configured by `tweak`) holding its consumer, and a
/// shell for the CLI against it.
async fn stack(
    nats: &NatsServer,
    data_dir: &std::path::Path,
    tweak: impl FnOnce(&mut lineage_e2e::Config),
) -> (Lineaged, Shell) {
    let lineaged = Lineaged::start(&nats.url(), data_dir, tweak).await;
    lineaged
        .wait_status("ready", |s| s.ready && s.ingest_connected)
        .await;
    let shell = Shell {
        grpc_addr: lineaged.addr.to_string(),
        nats_url: nats.url(),
    };
    (lineaged, shell)
}

/// `lineage emit --wait` of the demo history: its output, and how many
/// events the history holds.
async fn emit_demo(shell: &Shell) -> (Output, usize) {
    let emitted = shell.lineage(&["emit", DEMO, "--wait"]).await;
    assert!(emitted.status.success(), "{emitted:?}");
    let events = std::fs::read_to_string(DEMO)
        .expect("demo history")
        .lines()
        .count();
    (emitted, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_then_ask_the_three_questions() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let (lineaged, shell) = stack(&nats, data.path(), |_| {}).await;

    let (emitted, lines) = emit_demo(&shell).await;
    let status = lineaged.wait_applied(lines as u64).await;
    assert_eq!(status.dead_lettered, 0);
    // `lineage status` at a glance, once the sampled lag is back at 0:
    // caught up with the stream, healthy, nothing dead-lettered.
    let at_a_glance = lineage_e2e::wait_for("`lineage status` to show no lag", || async {
        let shown = stdout(&shell.lineage(&["status"]).await);
        shown
            .contains(&format!(
                "consumer lag:     0 messages (stream at {lines}, acknowledged through {lines})\n"
            ))
            .then_some(shown)
    })
    .await;
    for line in [
        format!("applied seq:      {lines}\n"),
        format!("head seq:         {lines}\n"),
        "dead lettered:    0\n".to_owned(),
        "ingest connected: true\n".to_owned(),
        "ingest healthy:   true\n".to_owned(),
        "ingest error:     none\n".to_owned(),
    ] {
        assert!(at_a_glance.contains(&line), "{line:?} in\n{at_a_glance}");
    }
    // It says which log sequence reads what it published.
    assert!(
        stdout(&emitted).contains(&format!(
            "through log seq {lines} (--min-seq {lines} reads them)"
        )),
        "{}",
        stdout(&emitted)
    );

    // Question 1, as a table.
    let runs = shell
        .lineage(&["-w", "insurer-fraud", "runs-using", "claims@3", "--all"])
        .await;
    assert!(runs.status.success(), "{runs:?}");
    assert!(
        stdout(&runs).contains("fraud-sweep-0513-t02"),
        "{}",
        stdout(&runs)
    );
    // The table still shows the versions each run read (it asks for the
    // full view by default).
    assert!(stdout(&runs).contains("claims@3"), "{}", stdout(&runs));

    // JSON prints the whole response, full by default; --view basic asks
    // for names, markers and dates only.
    let full_json = shell
        .lineage(&[
            "-w",
            "insurer-fraud",
            "--format",
            "json",
            "runs-using",
            "claims@3",
        ])
        .await;
    assert!(full_json.status.success(), "{full_json:?}");
    let full_json: serde_json::Value =
        serde_json::from_slice(&full_json.stdout).expect("JSON output");
    let first_run = &full_json["runs"][0]["run"];
    assert!(first_run["input_datasets"].is_array(), "{full_json}");
    assert!(first_run["status"].is_string(), "{full_json}");
    let basic_json = shell
        .lineage(&[
            "-w",
            "insurer-fraud",
            "--format",
            "json",
            "runs-using",
            "claims@3",
            "--view",
            "basic",
        ])
        .await;
    assert!(basic_json.status.success(), "{basic_json:?}");
    let basic_json: serde_json::Value =
        serde_json::from_slice(&basic_json.stdout).expect("JSON output");
    let first_run = &basic_json["runs"][0]["run"];
    assert!(first_run["input_datasets"].is_null(), "{basic_json}");
    assert!(first_run["params"].is_null(), "{basic_json}");
    assert_eq!(first_run["status"], full_json["runs"][0]["run"]["status"]);
    let bad_view = shell
        .lineage(&[
            "-w",
            "insurer-fraud",
            "runs-using",
            "claims@3",
            "--view",
            "everything",
        ])
        .await;
    assert_eq!(bad_view.status.code(), Some(64), "{bad_view:?}");

    // Question 2, as JSON a script can read.
    let trace = shell
        .lineage(&[
            "-w",
            "credit-lender",
            "--format",
            "json",
            "trace",
            "credit-risk@7",
        ])
        .await;
    assert!(trace.status.success(), "{trace:?}");
    let trace: serde_json::Value = serde_json::from_slice(&trace.stdout).expect("JSON output");
    assert_eq!(
        trace["source_run"]["ref"]["name"].as_str(),
        Some("cr-sweep-0706-t08")
    );

    // Question 3, as a tree that ends with what is in production, and as DOT.
    let impact = shell
        .lineage(&["-w", "credit-lender", "impact", "dataset:applications@3"])
        .await;
    assert!(impact.status.success(), "{impact:?}");
    let text = stdout(&impact);
    assert!(text.contains("In production:"), "{text}");
    assert!(text.contains("model:credit-risk@7"), "{text}");
    let dot = shell
        .lineage(&[
            "-w",
            "credit-lender",
            "--format",
            "dot",
            "provenance",
            "model:credit-risk@7",
        ])
        .await;
    assert!(dot.status.success(), "{dot:?}");
    assert!(stdout(&dot).starts_with("digraph"), "{}", stdout(&dot));

    // The documented exit codes.
    let missing = shell
        .lineage(&["-w", "credit-lender", "get", "dataset:applications@99"])
        .await;
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let no_workspace = shell.lineage(&["get", "dataset:applications@3"]).await;
    assert!(!no_workspace.status.success());

    // Emitting again is harmless: everything is a duplicate.
    let again = shell.lineage(&["emit", DEMO, "--wait"]).await;
    assert!(again.status.success(), "{again:?}");
    let after = lineaged.wait_applied(lines as u64).await;
    assert_eq!(after.applied_seq, lines as u64);

    // The log verifies: every record, up to the head the service reports.
    let verified = shell.lineage(&["--format", "json", "verify"]).await;
    assert!(verified.status.success(), "{verified:?}");
    let verified: serde_json::Value =
        serde_json::from_slice(&verified.stdout).expect("JSON output");
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(uint64(&verified["records_checked"]), Some(lines as u64));
    assert_eq!(verified["verified_hash"].as_str(), Some(&*after.head_hash));
    let range = shell
        .lineage(&["--format", "json", "verify", "--from", "2", "--to", "5"])
        .await;
    assert!(range.status.success(), "{range:?}");
    let range: serde_json::Value = serde_json::from_slice(&range.stdout).expect("JSON output");
    assert_eq!(
        (
            uint64(&range["records_checked"]),
            uint64(&range["verified_seq"])
        ),
        (Some(4), Some(5)),
        "{range}"
    );
    // Asked to reach past the head, it says where the log ends, exit 1.
    let past = shell.lineage(&["verify", "--to", "100000"]).await;
    assert_eq!(past.status.code(), Some(1), "{past:?}");
    assert!(
        stdout(&past).contains(&format!(
            "the log ends at record {lines}, before record 100000"
        )),
        "{}",
        stdout(&past)
    );
    let backwards = shell.lineage(&["verify", "--from", "5", "--to", "2"]).await;
    assert!(!backwards.status.success(), "{backwards:?}");
    assert!(
        String::from_utf8_lossy(&backwards.stderr).contains("to_seq"),
        "{backwards:?}"
    );

    // What differs between two model versions, as text and JSON.
    let diff = shell
        .lineage(&[
            "-w",
            "credit-lender",
            "diff",
            "credit-risk@5",
            "model:credit-risk@7",
        ])
        .await;
    assert!(diff.status.success(), "{diff:?}");
    let text = stdout(&diff);
    assert!(
        text.starts_with("model:credit-risk@5 → model:credit-risk@7\n"),
        "{text}"
    );
    assert!(text.contains("datasets added:"), "{text}");
    let diff = shell
        .lineage(&[
            "-w",
            "credit-lender",
            "--format",
            "json",
            "diff",
            "credit-risk@5",
            "credit-risk@7",
        ])
        .await;
    let diff: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("JSON output");
    assert_eq!(diff["b"]["version"], "7", "{diff}");
    assert_eq!(uint64(&diff["applied_seq"]), Some(lines as u64), "{diff}");

    replay_and_check_the_history(&shell, lines as u64, &after.head_hash).await;
    lineaged.stop().await;
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// `lineage replay` of the demo history (`records` stored, the chain
/// ending at `head_hash`): the whole log checked client-side, a resumed
/// replay, filters, and the usage errors.
async fn replay_and_check_the_history(shell: &Shell, records: u64, head_hash: &str) {
    let replayed = shell.lineage(&["replay", "--verify"]).await;
    assert!(replayed.status.success(), "{replayed:?}");
    let lines = json_lines(&replayed);
    let seqs: Vec<Option<u64>> = lines.iter().map(|line| uint64(&line["seq"])).collect();
    assert_eq!(seqs, (1..=records).map(Some).collect::<Vec<_>>());
    assert_eq!(lines[0]["event"]["event_id"], "lender-0001");
    assert_eq!(
        String::from_utf8_lossy(&replayed.stderr).trim(),
        format!("verified {records} records from the first record: head {records} {head_hash}")
    );

    // Resumed after record 9: checked from the hash stored for it.
    let resumed = shell.lineage(&["replay", "--verify", "--from", "10"]).await;
    assert!(resumed.status.success(), "{resumed:?}");
    assert_eq!(json_lines(&resumed).len() as u64, records - 9);
    assert!(
        String::from_utf8_lossy(&resumed.stderr)
            .contains("from the hash stored for record 9, which this check takes on trust"),
        "{resumed:?}"
    );

    // One workspace's registrations: as many as the history holds.
    let expected = std::fs::read_to_string(DEMO)
        .expect("demo history")
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .filter(|event| {
            event["workspace"] == "credit-lender" && event.get("model_registered").is_some()
        })
        .count();
    assert!(expected > 0);
    let registrations = shell
        .lineage(&[
            "-w",
            "credit-lender",
            "replay",
            "--kind",
            "model_registered",
        ])
        .await;
    assert!(registrations.status.success(), "{registrations:?}");
    let registrations = json_lines(&registrations);
    assert_eq!(registrations.len(), expected);
    assert!(registrations.iter().all(|line| {
        line["event"]["workspace"] == "credit-lender"
            && line["event"].get("model_registered").is_some()
    }));

    // Nothing was stored in the future.
    let future = shell
        .lineage(&["replay", "--since", "2199-01-01T00:00:00Z"])
        .await;
    assert!(future.status.success(), "{future:?}");
    assert!(future.stdout.is_empty(), "{future:?}");

    // --verify needs every record; bad flags are usage errors (64).
    for args in [
        &["-w", "credit-lender", "replay", "--verify"][..],
        &["replay", "--verify", "--kind", "run_started"],
        &["replay", "--kind", "run_begun"],
        &["replay", "--since", "yesterday"],
    ] {
        let refused = shell.lineage(args).await;
        assert_eq!(refused.status.code(), Some(64), "{args:?}: {refused:?}");
    }
}

/// With a signing key: a replay saved to a file and cut short still holds
/// as a chain, and is caught against a checkpoint kept from earlier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_replay_cut_short_is_caught_against_a_kept_checkpoint() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let files = tempfile::tempdir().expect("files");
    let key_file = files.path().join("signing.key");
    let path = |name: &str| files.path().join(name).to_string_lossy().into_owned();

    // The key, made by the CLI as an operator would.
    let keygen = std::process::Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(["keygen", "--out", &key_file.to_string_lossy()])
        .output()
        .expect("run lineage keygen");
    assert!(keygen.status.success(), "{keygen:?}");
    let public_key = stdout(&keygen).trim().to_owned();
    assert_eq!(public_key.len(), 64, "{public_key}");

    let (lineaged, shell) = stack(&nats, data.path(), |config| {
        config.signing_key = Some(key_file.clone());
        config.checkpoint_every_secs = 1;
    })
    .await;
    let (_, records) = emit_demo(&shell).await;

    // A checkpoint of the head, kept as the status prints it.
    let mut kept = serde_json::Value::Null;
    for _ in 0..100 {
        let status = shell.lineage(&["--format", "json", "status"]).await;
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
        if uint64(&status["last_checkpoint"]["seq"]) == Some(records as u64) {
            kept = status["last_checkpoint"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        kept.is_object(),
        "no checkpoint of record {records} was signed"
    );
    std::fs::write(path("kept.json"), kept.to_string()).expect("keep the checkpoint");

    let saved = shell.lineage(&["replay"]).await;
    assert!(saved.status.success(), "{saved:?}");
    let lines: Vec<&str> = std::str::from_utf8(&saved.stdout)
        .expect("UTF-8")
        .lines()
        .collect();
    assert_eq!(lines.len(), records);
    std::fs::write(path("whole.jsonl"), lines.join("\n")).expect("save");
    // Cut before the checkpointed record: what is left is a sound chain.
    std::fs::write(path("cut.jsonl"), lines[..records - 10].join("\n")).expect("save");

    let check = |input: String, expect: bool| {
        let mut args = vec![
            "replay".to_owned(),
            "--verify".to_owned(),
            "--public-key".to_owned(),
            public_key.clone(),
            "--input".to_owned(),
            input,
        ];
        if expect {
            args.extend(["--expect-checkpoint".to_owned(), path("kept.json")]);
        }
        let shell = &shell;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            shell.lineage(&args).await
        }
    };
    let whole = check(path("whole.jsonl"), true).await;
    assert!(whole.status.success(), "{whole:?}");
    let cut_alone = check(path("cut.jsonl"), false).await;
    assert!(
        cut_alone.status.success(),
        "a chain cut short holds without outside evidence: {cut_alone:?}"
    );
    let cut = check(path("cut.jsonl"), true).await;
    assert_eq!(cut.status.code(), Some(1), "{cut:?}");
    assert!(
        String::from_utf8_lossy(&cut.stderr).contains(&format!(
            "the service signed a checkpoint of record {records}, but the replay ended at record {}",
            records - 10
        )),
        "{cut:?}"
    );
    // Without --verify and --public-key, a kept checkpoint is a usage error.
    let lonely = shell
        .lineage(&["replay", "--expect-checkpoint", &path("kept.json")])
        .await;
    assert_eq!(lonely.status.code(), Some(64), "{lonely:?}");
    lineaged.stop().await;
}

/// `lineage redact` from a shell: a run's owner and owner tag erased from
/// the demo history, the run listing the redaction, and the whole log
/// still verifying, by the service and by `lineage replay --verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_from_the_shell_erases_and_the_log_still_verifies() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let (lineaged, shell) = stack(&nats, data.path(), |_| {}).await;
    let (_, lines) = emit_demo(&shell).await;
    let run = ["-w", "credit-lender"];
    let before = shell
        .lineage(&[
            run[0],
            run[1],
            "--format",
            "json",
            "get",
            "run:cr-logreg-0112",
        ])
        .await;
    assert!(
        stdout(&before).contains("tomas.keller@credit-lender.example"),
        "{before:?}"
    );

    // A field that is not a personal one is refused before anything is sent.
    let wrong = shell
        .lineage(&[
            run[0],
            run[1],
            "redact",
            "run:cr-logreg-0112",
            "--field",
            "owner",
            "--reason",
            "DSR-7",
        ])
        .await;
    assert!(!wrong.status.success(), "{wrong:?}");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("tags.<key>"),
        "{wrong:?}"
    );

    let redacted = shell
        .lineage(&[
            run[0],
            run[1],
            "redact",
            "run:cr-logreg-0112",
            "--field",
            "actor",
            "--reason",
            "DSR-7: erasure request",
            "--actor",
            "dpo@credit-lender.example",
            "--wait",
        ])
        .await;
    assert!(redacted.status.success(), "{redacted:?}");
    let records = lines as u64 + 1;
    lineaged.wait_applied(records).await;
    lineaged
        .wait_status("the redaction carried out", |s| s.redactions_pending == 0)
        .await;

    let after = shell
        .lineage(&[run[0], run[1], "get", "run:cr-logreg-0112"])
        .await;
    let text = stdout(&after);
    assert!(after.status.success(), "{after:?}");
    assert!(!text.contains("tomas.keller"), "{text}");
    assert!(
        text.contains("redactions:") && text.contains("DSR-7"),
        "{text}"
    );

    let verified = shell.lineage(&["verify"]).await;
    assert!(verified.status.success(), "{verified:?}");
    let replayed = shell.lineage(&["replay", "--verify"]).await;
    assert!(replayed.status.success(), "{replayed:?}");
    let lines = json_lines(&replayed);
    assert_eq!(lines.len() as u64, records);
    // The run's own records (its start, metrics and end) lost its owner;
    // Tomas's other runs keep theirs.
    let about_the_run: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["redaction"].is_object())
        .collect();
    assert!(!about_the_run.is_empty());
    for line in &about_the_run {
        assert!(!line.to_string().contains("tomas.keller"), "{line}");
        assert_eq!(uint64(&line["redaction"]["redaction_seq"]), Some(records));
    }
    assert!(stdout(&replayed).contains("tomas.keller@credit-lender.example"));
    lineaged.stop().await;
}

/// Time travel from a shell: a run re-started in another environment and a
/// model version re-registered from another run, then `get`, `provenance`
/// and `diff` asked as of the first stage (by log sequence and by a
/// recorded time between the stages) and by event time answer as the
/// lineage stood then; a moment that is neither is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_from_the_shell_answers_as_the_lineage_stood() {
    use lineage_e2e::events::{artifact, dataset, event, inputs, registered, run_started};
    use lineage_proto::v1;

    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let files = tempfile::tempdir().expect("files");
    let (lineaged, shell) = stack(&nats, data.path(), |_| {}).await;
    let ws = "credit";
    let in_lightgbm = |mut payload: v1::event::Payload| {
        if let v1::event::Payload::RunStarted(started) = &mut payload {
            started.environment = Some(v1::EnvironmentRef {
                name: "lightgbm".into(),
                version: "4.1.0".into(),
            });
        }
        payload
    };
    // train-a reads applications@1 in xgboost (run_started's environment)
    // and is credit-risk@1's source run; then it is re-started in lightgbm,
    // and train-b, reading features@2 too (which happened at minute 5),
    // becomes the source run.
    let first = vec![
        event("app-1", ws, 10, dataset("applications", "1", &[], "")),
        event(
            "a-start",
            ws,
            20,
            run_started("train-a", "", &[("lr", "0.1")]),
        ),
        event(
            "a-inputs",
            ws,
            21,
            inputs("train-a", &[("applications", "1")]),
        ),
        event("a-model", ws, 22, artifact("train-a", "model.pkl")),
        event(
            "m1-registered",
            ws,
            23,
            registered("credit-risk", "1", "train-a", "model.pkl"),
        ),
    ];
    let second = vec![
        event(
            "a-restart",
            ws,
            40,
            in_lightgbm(run_started("train-a", "", &[("lr", "0.05")])),
        ),
        event(
            "features-2",
            ws,
            5,
            dataset("features", "2", &[("applications", "1")], ""),
        ),
        event(
            "b-start",
            ws,
            41,
            in_lightgbm(run_started("train-b", "", &[("lr", "0.02")])),
        ),
        event(
            "b-inputs",
            ws,
            42,
            inputs("train-b", &[("applications", "1"), ("features", "2")]),
        ),
        event("b-model", ws, 43, artifact("train-b", "model.pkl")),
        event(
            "m1-re-registered",
            ws,
            44,
            registered("credit-risk", "1", "train-b", "model.pkl"),
        ),
    ];
    let emit = |name: &str, events: &[v1::Event]| {
        let path = files.path().join(name);
        let lines: Vec<String> = events
            .iter()
            .map(|event| serde_json::to_string(event).expect("events serialize"))
            .collect();
        std::fs::write(&path, lines.join("\n")).expect("write the events");
        let shell = &shell;
        async move {
            let emitted = shell
                .lineage(&["emit", &path.to_string_lossy(), "--wait"])
                .await;
            assert!(emitted.status.success(), "{emitted:?}");
        }
    };
    emit("first.jsonl", &first).await;
    let s1 = first.len() as u64;
    lineaged.wait_applied(s1).await;
    // A recorded time between the stages, well clear of both.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let between = serde_json::to_value(lineage_e2e::timestamp(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_nanos(),
        )
        .expect("before 2262"),
    ))
    .expect("a timestamp serializes");
    let between = between.as_str().expect("RFC 3339").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    emit("second.jsonl", &second).await;
    let s2 = s1 + second.len() as u64;
    let status = lineaged.wait_applied(s2).await;
    assert_eq!((status.applied_seq, status.dead_lettered), (s2, 0));
    let s1_arg = s1.to_string();
    let ask = |args: &[&str]| {
        let mut all = vec!["-w", ws];
        all.extend_from_slice(args);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        let shell = &shell;
        async move {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            shell.lineage(&all).await
        }
    };

    // get: train-a in xgboost as of the first stage, by sequence and by the
    // recorded time after it (the same answer, byte for byte); in lightgbm
    // now.
    let then = ask(&["get", "run:train-a", "--as-of", &s1_arg]).await;
    assert!(then.status.success(), "{then:?}");
    let text = stdout(&then);
    assert!(text.contains("env:xgboost@2.0.3"), "{text}");
    assert!(text.contains("lr = 0.1"), "{text}");
    assert!(!text.contains("lightgbm"), "{text}");
    let by_time = ask(&["--as-of", &between, "get", "run:train-a"]).await;
    assert!(by_time.status.success(), "{by_time:?}");
    assert_eq!(stdout(&by_time), text);
    let now = ask(&["get", "run:train-a"]).await;
    assert!(stdout(&now).contains("env:lightgbm@4.1.0"), "{now:?}");
    assert!(stdout(&now).contains("lr = 0.05"), "{now:?}");
    let json = ask(&["--format", "json", "get", "run:train-a", "--as-of", &s1_arg]).await;
    assert!(json.status.success(), "{json:?}");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON output");
    assert_eq!(uint64(&json["applied_seq"]), Some(s1), "{json}");
    assert_eq!(json["run"]["environment"]["name"], "xgboost", "{json}");

    // By event time: train-a was re-started in lightgbm at minute 40;
    // features@2, logged in the second stage, happened at minute 5.
    for (occurred_by, environment) in [
        ("2026-03-01T00:30:00Z", "env:xgboost@2.0.3"),
        ("2026-03-01T00:40:00Z", "env:lightgbm@4.1.0"),
    ] {
        let then = ask(&["get", "run:train-a", "--occurred-by", occurred_by]).await;
        assert!(then.status.success(), "{then:?}");
        assert!(stdout(&then).contains(environment), "{then:?}");
    }
    let features = ask(&["get", "dataset:features@2", "--as-of", &s1_arg]).await;
    assert_eq!(features.status.code(), Some(2), "{features:?}");
    assert!(
        String::from_utf8_lossy(&features.stderr).contains("(it came later)"),
        "{features:?}"
    );
    let features = ask(&[
        "get",
        "dataset:features@2",
        "--occurred-by",
        "2026-03-01T00:30:00Z",
    ])
    .await;
    assert!(features.status.success(), "{features:?}");

    // provenance: the first source run's world as of the first stage.
    let upstream = ask(&["provenance", "model:credit-risk@1", "--as-of", &s1_arg]).await;
    assert!(upstream.status.success(), "{upstream:?}");
    let text = stdout(&upstream);
    assert!(text.contains("run:train-a"), "{text}");
    assert!(text.contains("env:xgboost@2.0.3"), "{text}");
    assert!(
        !text.contains("train-b") && !text.contains("features"),
        "{text}"
    );
    assert!(text.contains(&format!("as of log seq {s1}")), "{text}");
    let upstream = ask(&["provenance", "model:credit-risk@1"]).await;
    let text = stdout(&upstream);
    assert!(text.contains("run:train-b"), "{text}");
    assert!(text.contains("dataset:features@2"), "{text}");
    assert!(text.contains(&format!("as of log seq {s2}")), "{text}");

    // diff: credit-risk@1 as of the first stage against itself now.
    let diff = ask(&[
        "diff",
        "credit-risk@1",
        "model:credit-risk@1",
        "--a-as-of",
        &s1_arg,
    ])
    .await;
    assert!(diff.status.success(), "{diff:?}");
    let text = stdout(&diff);
    assert!(text.contains("run:train-a → run:train-b"), "{text}");
    assert!(
        text.contains("env:xgboost@2.0.3 → env:lightgbm@4.1.0"),
        "{text}"
    );
    assert!(
        text.contains("datasets added:\n  dataset:features@2\n"),
        "{text}"
    );
    assert!(text.contains("lr: 0.1 → 0.02"), "{text}");
    let diff = ask(&[
        "--format",
        "json",
        "diff",
        "credit-risk@1",
        "credit-risk@1",
        "--a-as-of",
        &s1_arg,
    ])
    .await;
    let diff: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("JSON output");
    assert_eq!(diff["source_run_a"]["name"], "train-a", "{diff}");
    assert_eq!(diff["source_run_b"]["name"], "train-b", "{diff}");
    // Without --a-as-of, both sides are now: nothing differs.
    let same = ask(&["diff", "credit-risk@1", "credit-risk@1"]).await;
    assert!(
        stdout(&same).contains("run:train-b → run:train-b"),
        "{same:?}"
    );

    // Neither a sequence nor an RFC 3339 time, or two kinds of moment at
    // once: usage errors (64), before anything is asked.
    for args in [
        &["get", "run:train-a", "--as-of", "yesterday"][..],
        &[
            "diff",
            "credit-risk@1",
            "credit-risk@1",
            "--a-as-of",
            "yesterday",
        ],
        &["get", "run:train-a", "--occurred-by", "yesterday"],
    ] {
        let refused = ask(args).await;
        assert_eq!(refused.status.code(), Some(64), "{args:?}: {refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("RFC 3339"),
            "{args:?}: {refused:?}"
        );
    }
    let both = ask(&[
        "get",
        "run:train-a",
        "--as-of",
        &s1_arg,
        "--occurred-by",
        "2026-03-01T00:30:00Z",
    ])
    .await;
    assert_eq!(both.status.code(), Some(64), "{both:?}");
    lineaged.stop().await;
}
