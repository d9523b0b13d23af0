//! The real `lineaged` binary: SIGTERM during ingest finishes the batch in
//! flight, flushes and exits cleanly; a restart shows nothing lost or
//! applied twice.

// The end-to-end harness's nats-server helper, shared by path because the
// e2e crate depends on this one; this test uses only part of it.
#[allow(dead_code)]
#[path = "../../../tests/e2e/src/nats.rs"]
mod nats;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use prost::Message as _;

const WAIT: Duration = Duration::from_secs(30);
const EVENTS: usize = 3_000;

fn start_lineaged(nats_url: &str, data_dir: &std::path::Path, grpc_port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lineaged"))
        .env("LINEAGE_NATS_URL", nats_url)
        .env("LINEAGE_DATA_DIR", data_dir)
        .env("LINEAGE_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
        .env("LINEAGE_ACK_WAIT_SECS", "2")
        .env("LINEAGE_BATCH_SIZE", "64")
        .env("LINEAGE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lineaged")
}

async fn status(grpc_port: u16) -> Option<v1::StatusResponse> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .ok()?
        .connect()
        .await
        .ok()?;
    Some(
        LineageServiceClient::new(channel)
            .get_status(v1::GetStatusRequest {
                include_state_digest: false,
            })
            .await
            .ok()?
            .into_inner(),
    )
}

async fn wait_status(
    grpc_port: u16,
    check: impl Fn(&v1::StatusResponse) -> bool,
) -> v1::StatusResponse {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = status(grpc_port).await
            && check(&status)
        {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out waiting for lineaged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn event(n: usize) -> v1::Event {
    v1::Event {
        event_id: format!("e-{n}"),
        workspace: "w".into(),
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: 1_772_323_200 + n as i64,
            nanos: 0,
        }),
        producer: "sigterm-test".into(),
        actor: String::new(),
        payload: Some(v1::event::Payload::RunStarted(v1::RunStarted {
            run_id: format!("r-{n}"),
            experiment: "x".into(),
            ..Default::default()
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_ingest_loses_nothing_and_applies_nothing_twice() {
    let nats = nats::NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let grpc_port = nats::free_port();
    let js = jetstream::new(nats.client().await);
    js.get_or_create_stream(jetstream::stream::Config {
        name: "LINEAGE_EVENTS".into(),
        subjects: vec!["lineage.events.>".into()],
        ..Default::default()
    })
    .await
    .expect("events stream");
    let mut acks = Vec::with_capacity(EVENTS);
    for n in 0..EVENTS {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("e-{n}").as_str());
        acks.push(
            js.publish_with_headers("lineage.events.w", headers, event(n).encode_to_vec().into())
                .await
                .expect("publish"),
        );
    }
    for ack in acks {
        ack.await.expect("publish ack");
    }

    let mut lineaged = start_lineaged(&nats.url(), data.path(), grpc_port);
    // Stop it part-way through the backlog.
    let partial = wait_status(grpc_port, |s| s.applied_seq > 0).await;
    let terminate = Command::new("kill")
        .args(["-TERM", &lineaged.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(terminate.success());
    let deadline = Instant::now() + WAIT;
    let exit = loop {
        if let Some(exit) = lineaged.try_wait().expect("wait for lineaged") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "lineaged did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");

    let mut lineaged = start_lineaged(&nats.url(), data.path(), grpc_port);
    let done = wait_status(grpc_port, |s| s.ready && s.applied_seq >= EVENTS as u64).await;
    // Wait out the redelivery of whatever the first instance had prefetched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = wait_status(grpc_port, |s| s.ready).await;
    assert!(partial.applied_seq <= EVENTS as u64);
    assert_eq!(done.applied_seq, EVENTS as u64);
    assert_eq!(settled.applied_seq, EVENTS as u64, "nothing applied twice");
    assert_eq!(settled.dead_lettered, 0);
    assert_eq!(
        settled.nodes,
        EVENTS as u64 + 1,
        "every run and the experiment"
    );
    let _ = lineaged.kill();
    let _ = lineaged.wait();
}
