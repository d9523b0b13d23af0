//! lineaged against a secured broker: a real nats-server with TLS and the
//! accounts and subject permissions `deploy/nats/auth.conf` ships (test
//! nkeys in place of its placeholders, plus a password user with the
//! shipped lineaged permissions), or in operator mode with JWTs.
//!
//! - lineaged connects and ingests with each way it can authenticate: an
//!   nkey seed file over mutual TLS (CA and client certificate), a user and
//!   password file over TLS, and a `.creds` file against an operator-mode
//!   broker. Each run includes a redaction, whose erasure from the stream
//!   needs the shipped permission to delete messages.
//! - With a key the broker does not know, or without the CA that signed
//!   the broker's certificate, lineaged does not ingest, keeps answering
//!   queries, and GetStatus says why ("authorization violation"; for the
//!   failed TLS handshake only "IO error", all async-nats reports); started
//!   again with the right settings, it ingests what was published
//!   meanwhile.
//! - A workspace's producer may publish to its workspace's subject only: a
//!   publish to another workspace's is refused by the broker (a permissions
//!   violation, no ack, nothing stored), and so are reading the stream and
//!   subscribing to events; the operators' user cannot publish events
//!   either. An event whose workspace does not match the subject it was
//!   published on is still dead-lettered by lineaged (`workspace_mismatch`;
//!   every reject reason is covered in `dead_letters.rs`).
//!
//! ```text
//! cargo test -p lineage-e2e --test nats_security
//! ```

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use lineage_e2e::events::{event, run_finished, run_started};
use lineage_e2e::{Lineaged, NatsServer, entity, free_port, read_dead_letters};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use nkeys::KeyPair;
use prost::Message as _;
use support::secure::{
    self, CREDIT, DEPLOY_NATS, FRAUD, LINEAGED_INBOX, OPS_INBOX, OperatorMode, TestKeys, TestPki,
};

/// How long a publish the broker refuses is waited for before it counts as
/// unacknowledged (JetStream's own ack timeout is 5 s).
const REFUSED_PUBLISH_WAIT: Duration = Duration::from_secs(8);

/// How the test broker authenticates clients.
enum Auth {
    /// The shipped accounts (nkeys) plus a password user for lineaged.
    Shipped {
        keys: Box<TestKeys>,
        password: String,
    },
    /// Operator mode: JWTs from `.creds` files.
    Operator(Box<OperatorMode>),
}

/// A secured nats-server, and what its clients need.
struct SecureBroker {
    server: NatsServer,
    pki: TestPki,
    auth: Auth,
    dir: tempfile::TempDir,
}

impl SecureBroker {
    /// The shipped accounts and permissions, over TLS; `mutual_tls` makes
    /// every client present a certificate from the test CA.
    fn shipped(mutual_tls: bool) -> Self {
        let keys = TestKeys::generate();
        let password = format!("pw-{}", KeyPair::new_user().public_key());
        let password_user = format!(
            "      {{ user: \"lineaged-password\", password: \"{password}\", permissions: $LINEAGED_PERMISSIONS }}"
        );
        let auth_conf = secure::render_auth_conf(&keys, &[password_user]);
        Self::start(
            "include auth.conf\n",
            Some(auth_conf),
            mutual_tls,
            Auth::Shipped {
                keys: Box::new(keys),
                password,
            },
        )
    }

    /// Operator mode (JWTs, a memory resolver), over TLS.
    fn operator_mode() -> Self {
        let operator = OperatorMode::generate();
        Self::start(
            &operator.server_config(),
            None,
            false,
            Auth::Operator(Box::new(operator)),
        )
    }

    fn start(auth_lines: &str, auth_conf: Option<String>, mutual_tls: bool, auth: Auth) -> Self {
        let dir = tempfile::tempdir().expect("broker dir");
        let pki = TestPki::write(&dir.path().join("tls"));
        if let Some(auth_conf) = auth_conf {
            std::fs::write(dir.path().join("auth.conf"), auth_conf).expect("write auth.conf");
        }
        let store = tempfile::tempdir().expect("store");
        let tls = |name: &str| format!("{:?}", pki.dir.join(name).display().to_string());
        let config = format!(
            "server_name: lineage-secure-test\n\
             listen: 127.0.0.1:{port}\n\
             max_payload: 1MB\n\
             jetstream {{\n  store_dir: {store:?}\n}}\n\
             tls {{\n  cert_file: {cert}\n  key_file: {key}\n  ca_file: {ca}\n  verify: {mutual_tls}\n  timeout: 2\n}}\n\
             {auth_lines}",
            port = free_port(),
            store = store.path().display().to_string(),
            cert = tls("server.pem"),
            key = tls("server-key.pem"),
            ca = tls("ca.pem"),
        );
        let path = dir.path().join("server.conf");
        std::fs::write(&path, config).expect("write server.conf");
        let server = tokio::task::block_in_place(|| NatsServer::start_with_config(&path, store));
        Self {
            server,
            pki,
            auth,
            dir,
        }
    }

    fn keys(&self) -> &TestKeys {
        match &self.auth {
            Auth::Shipped { keys, .. } => keys,
            Auth::Operator(_) => panic!("an operator-mode broker has no shipped keys"),
        }
    }

    /// A file in the broker's directory, for a seed or a password.
    fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a secret file");
        path
    }

    /// A JetStream context for the user with `key`; connection events
    /// (permissions violations among them) go to `events`.
    async fn jetstream_as(
        &self,
        key: &KeyPair,
        inbox_prefix: &str,
        events: Arc<Mutex<Vec<String>>>,
    ) -> jetstream::Context {
        let client = secure::client_options(&self.pki, Some(key), inbox_prefix)
            .event_callback(move |event| {
                let events = events.clone();
                async move {
                    events
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push(event.to_string());
                }
            })
            .connect(self.server.url())
            .await
            .expect("connect to the secure broker");
        jetstream::new(client)
    }

    async fn ops(&self) -> jetstream::Context {
        self.jetstream_as(&self.keys().ops, OPS_INBOX, Arc::default())
            .await
    }

    async fn producer(&self, workspace: &str) -> jetstream::Context {
        let key = match workspace {
            CREDIT => &self.keys().credit_producer,
            FRAUD => &self.keys().fraud_producer,
            other => panic!("the shipped configuration has no producer for {other}"),
        };
        self.jetstream_as(key, "_INBOX", Arc::default()).await
    }
}

/// An event in `workspace` (the test events are about runs).
fn run_event(workspace: &str, n: usize, payload: Payload) -> v1::Event {
    event(&format!("{workspace}-{n:03}"), workspace, n as i64, payload)
}

/// `count` runs started and finished in `workspace`, the first started by
/// alice (whom a redaction can erase).
fn history(workspace: &str, from: usize, count: usize) -> Vec<v1::Event> {
    (from..from + count)
        .flat_map(|n| {
            [
                run_event(workspace, 2 * n, run_started(&format!("run-{n}"), "", &[])),
                run_event(workspace, 2 * n + 1, run_finished(&format!("run-{n}"))),
            ]
        })
        .collect()
}

/// The redaction of run-0's actor in `workspace`.
fn redaction(workspace: &str) -> v1::Event {
    event(
        &format!("{workspace}-redaction"),
        workspace,
        10_000,
        Payload::RedactionRequested(v1::RedactionRequested {
            entity: Some(entity(workspace, v1::EntityKind::Run, "run-0", "")),
            fields: vec!["actor".into()],
            reason: "erasure request".into(),
        }),
    )
}

/// Publishes `events` through `js` (the events' own workspace subject) and
/// waits for each ack; the events stream must exist.
async fn publish_all(js: &jetstream::Context, events: &[v1::Event]) {
    for event in events {
        lineage_e2e::publish(js, event).await;
    }
}

/// Waits until lineaged has created the events stream (the producers'
/// publishes would find no stream before).
async fn wait_for_streams(ops: &jetstream::Context) {
    lineage_e2e::wait_for("lineaged to create its streams", || async {
        ops.get_stream("LINEAGE_DLQ").await.ok()?;
        ops.get_stream("LINEAGE_EVENTS").await.ok()
    })
    .await;
}

/// Ingests two workspaces' runs and a redaction through the shipped
/// producers (or `producer` for both), and checks that lineaged applied
/// them all and carried the redaction out, which deletes the redacted
/// run's first message from the stream.
async fn ingests_and_redacts(
    lineaged: &Lineaged,
    ops: &jetstream::Context,
    credit: &jetstream::Context,
    fraud: Option<&jetstream::Context>,
) {
    wait_for_streams(ops).await;
    let credit_events = history(CREDIT, 0, 10);
    publish_all(credit, &credit_events).await;
    let mut total = credit_events.len() as u64;
    if let Some(fraud) = fraud {
        let fraud_events = history(FRAUD, 0, 10);
        publish_all(fraud, &fraud_events).await;
        total += fraud_events.len() as u64;
    }
    publish_all(credit, &[redaction(CREDIT)]).await;
    total += 1;
    let status = lineaged.wait_applied(total).await;
    assert_eq!(status.applied_seq, total);
    assert!(status.ingest_connected, "{status:?}");
    assert!(status.ingest_error.is_empty(), "{status:?}");
    lineaged
        .wait_status("the redaction carried out", |status| {
            status.redactions_pending == 0
        })
        .await;
    // The stream's copy of run-0's start (its first message) is gone.
    let stream = ops.get_stream("LINEAGE_EVENTS").await.expect("stream");
    assert!(
        stream.get_raw_message(1).await.is_err(),
        "the redacted message was deleted from the stream"
    );
    let run = lineaged
        .client()
        .await
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(CREDIT, v1::EntityKind::Run, "run-1", "")),
            ..Default::default()
        })
        .await
        .expect("an ingested run")
        .into_inner();
    assert_eq!(lineage_e2e::label(&run), "run:run-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineaged_ingests_with_an_nkey_over_mutual_tls() {
    let broker = SecureBroker::shipped(true);
    let seed = secure::write_seed(broker.dir.path(), "lineaged", &broker.keys().lineaged);
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&broker.server.url(), data.path(), |config| {
        config.nats_connect.nkey = Some(seed);
        secure::lineaged_tls(config, &broker.pki);
    })
    .await;
    let ops = broker.ops().await;
    let (credit, fraud) = (broker.producer(CREDIT).await, broker.producer(FRAUD).await);
    ingests_and_redacts(&lineaged, &ops, &credit, Some(&fraud)).await;
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineaged_ingests_with_a_user_and_a_password_file_over_tls() {
    let broker = SecureBroker::shipped(false);
    let Auth::Shipped { password, .. } = &broker.auth else {
        unreachable!("a shipped-accounts broker")
    };
    let password_file = broker.write_file("password", &format!("{password}\n"));
    let data = tempfile::tempdir().expect("data dir");
    let ca = broker.pki.ca();
    let lineaged = Lineaged::start(&broker.server.url(), data.path(), |config| {
        config.nats_connect.user = Some("lineaged-password".into());
        config.nats_connect.password_file = Some(password_file);
        // Server authentication only: the CA, no client certificate.
        config.nats_connect.tls_ca = Some(ca);
    })
    .await;
    let ops = broker.ops().await;
    let (credit, fraud) = (broker.producer(CREDIT).await, broker.producer(FRAUD).await);
    ingests_and_redacts(&lineaged, &ops, &credit, Some(&fraud)).await;
    lineaged.stop().await;
}

fn as_refs(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// The subjects of one `allow` list in the shipped permissions block
/// `block` (e.g. `LINEAGED_PERMISSIONS`), `publish` or `subscribe`.
fn shipped_allow_list(block: &str, direction: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{DEPLOY_NATS}/auth.conf")).expect("auth.conf");
    let start = text
        .find(&format!("\n{block}: {{"))
        .unwrap_or_else(|| panic!("auth.conf defines {block}"));
    let block_text = &text[start + 1..];
    let end = block_text.find("\n}\n").expect("the block ends");
    let block_text = &block_text[..end];
    let from = block_text
        .find(&format!("{direction}: {{"))
        .unwrap_or_else(|| panic!("{block} has a {direction} section"));
    let section = &block_text[from..];
    let section = &section[..section.find('}').expect("the section ends")];
    section
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineaged_ingests_with_a_creds_file_from_an_operator_mode_broker() {
    let broker = SecureBroker::operator_mode();
    let Auth::Operator(operator) = &broker.auth else {
        unreachable!("an operator-mode broker")
    };
    // lineaged's JWT carries the permissions the shipped configuration
    // gives it; the producer's and the operators' the same way.
    let publish = shipped_allow_list("LINEAGED_PERMISSIONS", "publish");
    let subscribe = shipped_allow_list("LINEAGED_PERMISSIONS", "subscribe");
    assert!(publish.contains(&"lineage.dlq.>".to_owned()), "{publish:?}");
    assert_eq!(subscribe, [format!("{LINEAGED_INBOX}.>")]);
    let lineaged_creds = broker.write_file(
        "lineaged.creds",
        &operator.user_creds("lineaged", &as_refs(&publish), &as_refs(&subscribe)),
    );
    let ops_creds = operator.user_creds(
        "ops",
        &as_refs(&shipped_allow_list("OPS_PERMISSIONS", "publish")),
        &as_refs(&shipped_allow_list("OPS_PERMISSIONS", "subscribe")),
    );
    let producer_creds =
        operator.user_creds("credit-producer", &["lineage.events.credit"], &["_INBOX.>"]);

    let data = tempfile::tempdir().expect("data dir");
    let ca = broker.pki.ca();
    let lineaged = Lineaged::start(&broker.server.url(), data.path(), |config| {
        config.nats_connect.creds = Some(lineaged_creds);
        config.nats_connect.tls_ca = Some(ca);
    })
    .await;
    let connect = |creds: &str, inbox: &str| {
        secure::client_options(&broker.pki, None, inbox)
            .credentials(creds)
            .expect("a creds text")
            .connect(broker.server.url())
    };
    let ops = jetstream::new(connect(&ops_creds, OPS_INBOX).await.expect("ops connects"));
    let credit = jetstream::new(
        connect(&producer_creds, "_INBOX")
            .await
            .expect("the producer connects"),
    );
    ingests_and_redacts(&lineaged, &ops, &credit, None).await;
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_stop_ingest_but_not_queries_and_status_says_why() {
    let broker = SecureBroker::shipped(false);
    let seed = secure::write_seed(broker.dir.path(), "lineaged", &broker.keys().lineaged);
    let ca = broker.pki.ca();
    let data = tempfile::tempdir().expect("data dir");
    let right = |config: &mut lineage_e2e::Config| {
        config.nats_connect.nkey = Some(seed.clone());
        config.nats_connect.tls_ca = Some(ca.clone());
    };
    let lineaged = Lineaged::start(&broker.server.url(), data.path(), right).await;
    let ops = broker.ops().await;
    wait_for_streams(&ops).await;
    let credit = broker.producer(CREDIT).await;
    let first = history(CREDIT, 0, 5);
    publish_all(&credit, &first).await;
    lineaged.wait_applied(first.len() as u64).await;
    lineaged.stop().await;

    // A key the broker does not know, then no CA for the broker's
    // certificate: each time lineaged serves what it has and says why it
    // does not ingest, while events keep arriving in the stream.
    let unknown_seed = secure::write_seed(broker.dir.path(), "unknown", &KeyPair::new_user());
    let wrong_settings: [(&str, ConfigTweak); 2] = [
        (
            "authorization violation",
            Box::new(|config| {
                config.nats_connect.nkey = Some(unknown_seed.clone());
                config.nats_connect.tls_ca = Some(ca.clone());
            }),
        ),
        (
            // async-nats reports a failed TLS handshake (here: an unknown
            // issuer) as an IO error; its debug log has the detail.
            "IO error",
            Box::new(|config| {
                config.nats_connect.nkey = Some(seed.clone());
                config.nats_connect.require_tls = true;
            }),
        ),
    ];
    let mut published = first.len();
    for (why, settings) in &wrong_settings {
        let lineaged =
            Lineaged::start(&broker.server.url(), data.path(), |config| settings(config)).await;
        let status =
            lineage_e2e::wait_for(&format!("the ingest error to mention {why:?}"), || async {
                let status = support::workload::status(&lineaged).await?;
                (status.ready && status.ingest_error.contains(why)).then_some(status)
            })
            .await;
        assert!(!status.ingest_connected, "{status:?}");
        let more = history(CREDIT, published / 2, 2);
        publish_all(&credit, &more).await;
        published += more.len();
        // Queries are answered from the log while nothing is ingested.
        let run = lineaged
            .client()
            .await
            .get_entity(v1::GetEntityRequest {
                entity: Some(entity(CREDIT, v1::EntityKind::Run, "run-2", "")),
                ..Default::default()
            })
            .await
            .expect("GetEntity answers without the broker")
            .into_inner();
        assert_eq!(lineage_e2e::label(&run), "run:run-2");
        tokio::time::sleep(Duration::from_secs(2)).await;
        // (The ingest loop's own error, a JetStream request timing out,
        // alternates with the connection's in the status.)
        let status = lineaged
            .wait_status("still not ingesting, and saying why", |status| {
                status.ready && status.ingest_error.contains(why)
            })
            .await;
        assert_eq!(status.applied_seq, first.len() as u64, "{status:?}");
        assert!(!status.ingest_connected, "{status:?}");
        lineaged.stop().await;
    }

    // With the right settings again, what was published meanwhile arrives.
    let lineaged = Lineaged::start(&broker.server.url(), data.path(), right).await;
    let status = lineaged.wait_applied(published as u64).await;
    assert_eq!(status.applied_seq, published as u64);
    lineaged.stop().await;
}

/// A change to lineaged's test configuration.
type ConfigTweak<'a> = Box<dyn Fn(&mut lineage_e2e::Config) + 'a>;

/// Whether a connection event reported a permissions violation about
/// `subject`.
fn violation_reported(events: &Mutex<Vec<String>>, subject: &str) -> bool {
    events
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .any(|event| {
            event.to_lowercase().contains("permissions violation") && event.contains(subject)
        })
}

/// Publishes `event` on `subject` and expects no ack (the broker dropped
/// it) and a permissions violation reported to the connection.
async fn assert_publish_refused(
    js: &jetstream::Context,
    events: &Mutex<Vec<String>>,
    subject: &str,
    event: &v1::Event,
) {
    let acked = tokio::time::timeout(REFUSED_PUBLISH_WAIT, async {
        js.publish(subject.to_owned(), event.encode_to_vec().into())
            .await
            .ok()?
            .await
            .ok()
    })
    .await;
    assert!(
        !matches!(acked, Ok(Some(_))),
        "a publish to {subject} was acknowledged: {acked:?}"
    );
    lineage_e2e::wait_for(
        &format!("a permissions violation for {subject}"),
        || async { violation_reported(events, subject).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_may_publish_only_to_its_own_workspace() {
    let broker = SecureBroker::shipped(false);
    let seed = secure::write_seed(broker.dir.path(), "lineaged", &broker.keys().lineaged);
    let ca = broker.pki.ca();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&broker.server.url(), data.path(), |config| {
        config.nats_connect.nkey = Some(seed);
        config.nats_connect.tls_ca = Some(ca);
    })
    .await;
    let ops_events = Arc::new(Mutex::new(Vec::new()));
    let ops = broker
        .jetstream_as(&broker.keys().ops, OPS_INBOX, ops_events.clone())
        .await;
    wait_for_streams(&ops).await;
    let credit_events = Arc::new(Mutex::new(Vec::new()));
    let credit = broker
        .jetstream_as(
            &broker.keys().credit_producer,
            "_INBOX",
            credit_events.clone(),
        )
        .await;

    let own = history(CREDIT, 0, 2);
    publish_all(&credit, &own).await;
    lineaged.wait_applied(own.len() as u64).await;

    // Another workspace's subject: refused by the broker, nothing stored.
    let stored_before = workload_stream_messages(&ops).await;
    let foreign = history(FRAUD, 0, 1).remove(0);
    assert_publish_refused(&credit, &credit_events, "lineage.events.fraud", &foreign).await;
    // Nor may the operators' user publish events.
    assert_publish_refused(&ops, &ops_events, "lineage.events.credit", &own[0]).await;
    assert_eq!(
        workload_stream_messages(&ops).await,
        stored_before,
        "the refused publishes stored nothing"
    );

    // A producer cannot read the stream: no consumer of its own, no
    // subscription to the events.
    let events_stream = credit.get_stream("LINEAGE_EVENTS").await;
    assert!(
        events_stream.is_err(),
        "a producer may not even look at the stream"
    );
    let subscribed = credit
        .client()
        .subscribe("lineage.events.>")
        .await
        .expect("the client sends the subscription");
    lineage_e2e::wait_for("a permissions violation for the subscription", || async {
        violation_reported(&credit_events, "lineage.events.>").then_some(())
    })
    .await;
    drop(subscribed);

    // An event of workspace fraud published on credit's subject (which the
    // credit producer may do) is dead-lettered by lineaged.
    let mut mismatched = history(FRAUD, 5, 1).remove(0);
    mismatched.event_id = "mismatched-workspace".into();
    lineage_e2e::publish_raw(
        &credit,
        "lineage.events.credit",
        async_nats::HeaderMap::new(),
        mismatched.encode_to_vec(),
    )
    .await;
    let dead = read_dead_letters(&ops, 1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason, "workspace_mismatch");
    assert_eq!(dead[0].original_subject, "lineage.events.credit");
    assert_eq!(dead[0].subject, "lineage.dlq.credit");
    assert_eq!(dead[0].payload, mismatched.encode_to_vec());
    let status = lineaged
        .wait_status("the reject counted", |status| status.dead_lettered == 1)
        .await;
    assert_eq!(status.applied_seq, own.len() as u64, "{status:?}");
    lineaged.stop().await;
}

/// Messages in the events stream, as the operators' user reads them.
async fn workload_stream_messages(ops: &jetstream::Context) -> u64 {
    support::workload::stream_messages(ops)
        .await
        .expect("stream info")
}
