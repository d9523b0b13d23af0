//! The real `lineaged` binary with `--log-format json`: every line it
//! writes to stderr, from the start through ingest to a SIGTERM, is one
//! JSON object a log collector can read, with the time, the level and the
//! message at the top level beside the event's own fields.

// The end-to-end harness's nats-server helper, shared by path because the
// e2e crate depends on this one; this test uses only part of it.
#[allow(dead_code)]
#[path = "../../../tests/e2e/src/nats.rs"]
mod nats;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_is_a_json_object_with_time_level_and_message() {
    let nats = nats::NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let stderr_path = data.path().join("stderr.log");
    let grpc_port = nats::free_port();
    let mut lineaged = Command::new(env!("CARGO_BIN_EXE_lineaged"))
        .args(["--log-format", "json"])
        .env("LINEAGE_NATS_URL", nats.url())
        .env("LINEAGE_DATA_DIR", data.path().join("log"))
        .env("LINEAGE_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
        .env("LINEAGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start lineaged");

    // Up, replayed and consuming: the lines of a start have been written.
    let deadline = Instant::now() + WAIT;
    loop {
        let connected = async {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
            let status = LineageServiceClient::new(channel)
                .get_status(v1::GetStatusRequest::default())
                .await
                .ok()?
                .into_inner();
            status.ingest_connected.then_some(())
        }
        .await;
        if connected.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lineaged did not start consuming"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let terminated = Command::new("kill")
        .args(["-TERM", &lineaged.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(terminated.success());
    let deadline = Instant::now() + WAIT;
    let exit = loop {
        if let Some(exit) = lineaged.try_wait().expect("wait for lineaged") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "lineaged did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");

    let written = std::fs::read_to_string(&stderr_path).expect("stderr");
    let mut messages = Vec::new();
    for line in written.lines() {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON object ({error}): {line}"));
        for field in ["timestamp", "level", "message", "target"] {
            assert!(
                object.get(field).is_some_and(serde_json::Value::is_string),
                "no {field} in {line}"
            );
        }
        messages.push(object["message"].as_str().unwrap_or_default().to_owned());
    }
    for expected in [
        "log replayed",
        "consuming",
        "shutting down",
        "ingest stopped",
    ] {
        assert!(
            messages.iter().any(|message| message == expected),
            "no line says {expected:?}: {messages:?}"
        );
    }
    // An event's fields stand beside its message: the replay says how many
    // records it replayed.
    let replayed = written
        .lines()
        .find(|line| line.contains("\"log replayed\""))
        .expect("the replay's line");
    let replayed: serde_json::Value = serde_json::from_str(replayed).expect("JSON");
    assert_eq!(replayed["records"], 0, "{replayed}");
}
