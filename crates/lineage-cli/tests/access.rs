//! The real `lineage` binary against a lineaged with an access file made
//! from `lineage token`'s output: the token a principal was given opens
//! its workspace and nothing else; no token, another workspace, a role it
//! lacks each fail with the service's reason; `token` never overwrites a
//! file and refuses what the access file could not hold.

use std::process::Output;

use lineage_e2e::{Lineaged, nats_with_events_stream};

const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/demo/history.jsonl"
);

/// Runs `lineage` with `args` against `grpc_addr`, off the runtime.
async fn lineage(grpc_addr: &str, nats_url: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lineage"));
    command
        .args(args)
        .env("LINEAGE_GRPC_ADDR", grpc_addr)
        .env("LINEAGE_NATS_URL", nats_url)
        .env_remove("LINEAGE_WORKSPACE")
        .env_remove("LINEAGE_TOKEN")
        .env_remove("LINEAGE_TOKEN_FILE");
    tokio::task::spawn_blocking(move || command.output().expect("run lineage"))
        .await
        .expect("lineage finished")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_made_by_the_cli_open_their_workspace_and_nothing_else() {
    // The stream exists before lineaged (whose readiness only an admin
    // may ask) comes up, so that the first publishes land.
    let (nats, _js) = nats_with_events_stream().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |name: &str| dir.path().join(name).display().to_string();
    let nats_url = nats.url();

    // Tokens for an analyst of the fraud team and for operators.
    let mut access = String::new();
    for (name, roles, scope) in [
        ("fraud-analysts", &["reader"][..], "insurer-fraud"),
        ("operators", &["admin", "reader"][..], "*"),
    ] {
        let mut args = vec!["token", "--name", name, "--workspace-scope", scope];
        for role in roles {
            args.extend(["--role", role]);
        }
        let out = at(&format!("{name}.token"));
        args.extend(["--out", &out]);
        let made = lineage("127.0.0.1:1", &nats_url, &args).await;
        assert!(made.status.success(), "{}", text(&made));
        access.push_str(&String::from_utf8_lossy(&made.stdout));
        access.push('\n');
        let token = std::fs::read_to_string(&out).expect("token file");
        assert!(
            token.starts_with("lin_") && token.trim().len() == 68,
            "{token}"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token is its owner's only");
        assert!(
            !access.contains(token.trim()),
            "the entry holds the hash only"
        );
    }
    std::fs::write(at("access.toml"), &access).expect("write the access file");

    let lineaged = Lineaged::start(&nats_url, &dir.path().join("log"), |config| {
        config.access_file = Some(dir.path().join("access.toml"));
    })
    .await;
    let grpc = lineaged.addr.to_string();
    let operators = format!("--token-file={}", at("operators.token"));
    let analysts = format!("--token-file={}", at("fraud-analysts.token"));

    // `emit --wait` asks the status: an operator's call.
    let emitted = lineage(&grpc, &nats_url, &[&operators, "emit", DEMO, "--wait"]).await;
    assert!(emitted.status.success(), "{}", text(&emitted));

    let trace = ["-w", "insurer-fraud", "trace", "fraud@12"];
    let answered = lineage(
        &grpc,
        &nats_url,
        &[&[analysts.as_str()][..], &trace].concat(),
    )
    .await;
    assert!(answered.status.success(), "{}", text(&answered));
    assert!(text(&answered).contains("fraud@12"), "{}", text(&answered));

    let anonymous = lineage(&grpc, &nats_url, &trace).await;
    assert_eq!(anonymous.status.code(), Some(1), "{}", text(&anonymous));
    assert!(
        text(&anonymous).contains("UNAUTHENTICATED"),
        "{}",
        text(&anonymous)
    );

    let elsewhere = lineage(
        &grpc,
        &nats_url,
        &[
            &analysts,
            "-w",
            "credit-lender",
            "get",
            "model:credit-risk@7",
        ],
    )
    .await;
    assert_eq!(elsewhere.status.code(), Some(1), "{}", text(&elsewhere));
    assert!(
        text(&elsewhere).contains("PERMISSION_DENIED")
            && text(&elsewhere).contains("may not read workspace credit-lender"),
        "{}",
        text(&elsewhere)
    );
    let status = lineage(&grpc, &nats_url, &[&analysts, "status"]).await;
    assert!(text(&status).contains("admin role"), "{}", text(&status));
    let status = lineage(&grpc, &nats_url, &[&operators, "status"]).await;
    assert!(status.status.success(), "{}", text(&status));

    // The token itself in the environment works as the file does.
    let token = std::fs::read_to_string(at("fraud-analysts.token")).expect("token");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lineage"));
    command
        .args(trace)
        .env("LINEAGE_GRPC_ADDR", &grpc)
        .env("LINEAGE_TOKEN", token.trim())
        .env_remove("LINEAGE_TOKEN_FILE");
    let from_env = tokio::task::spawn_blocking(move || command.output().expect("run"))
        .await
        .expect("finished");
    assert!(from_env.status.success(), "{}", text(&from_env));

    // `token` never overwrites, and refuses what the file could not hold.
    for (args, expected) in [
        (
            vec![
                "--name",
                "again",
                "--role",
                "reader",
                "--workspace-scope",
                "x",
            ],
            "fraud-analysts.token",
        ),
        (
            vec![
                "--name",
                "bad name",
                "--role",
                "reader",
                "--workspace-scope",
                "x",
            ],
            "--name",
        ),
        (
            vec![
                "--name",
                "n",
                "--role",
                "reader",
                "--workspace-scope",
                "Not A Ws",
            ],
            "--workspace-scope",
        ),
        (
            vec!["--name", "n", "--role", "root", "--workspace-scope", "x"],
            "root",
        ),
    ] {
        let out = if expected == "fraud-analysts.token" {
            at("fraud-analysts.token")
        } else {
            at("never.token")
        };
        let mut all = vec!["token"];
        all.extend(args);
        all.extend(["--out", &out]);
        let refused = lineage(&grpc, &nats_url, &all).await;
        assert!(!refused.status.success(), "{all:?}: {}", text(&refused));
        assert!(
            text(&refused).contains(expected),
            "{all:?}: {}",
            text(&refused)
        );
    }
    assert_eq!(
        std::fs::read_to_string(at("fraud-analysts.token")).expect("kept"),
        token,
        "the existing token file is untouched"
    );
    assert!(!dir.path().join("never.token").exists());
    lineaged.stop().await;
}

/// A CA and a leaf it signed, as PEM: (CA, leaf certificate, leaf key,
/// the leaf's SHA-256 fingerprint in hex).
fn certificates(leaf_names: &[&str]) -> (String, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use sha2::Digest as _;
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = leaf_names.iter().map(|name| name.to_string()).collect();
    let leaf = CertificateParams::new(names)
        .expect("params")
        .signed_by(&key, &ca)
        .expect("leaf");
    let fingerprint = hex::encode(sha2::Sha256::digest(leaf.der()));
    (ca.pem(), leaf.pem(), key.serialize_pem(), fingerprint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_speaks_mutual_tls_as_a_principal_named_by_its_certificate() {
    let (nats, _js) = nats_with_events_stream().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |name: &str| dir.path().join(name);
    let write = |name: &str, text: &str| std::fs::write(at(name), text).expect("write");
    // One CA signs the server's certificate and the operator's.
    let (ca, server_cert, server_key, _) = certificates(&["localhost", "127.0.0.1"]);
    write("ca.pem", &ca);
    write("server.pem", &server_cert);
    write("server.key", &server_key);
    let (client_ca, client_cert, client_key, fingerprint) = certificates(&["operator"]);
    write("client-ca.pem", &client_ca);
    write("operator.pem", &client_cert);
    write("operator.key", &client_key);
    write(
        "access.toml",
        &format!(
            "[[principal]]\nname = \"operator\"\nclient_cert_sha256 = \"{fingerprint}\"\nroles = [\"admin\", \"reader\"]\nworkspaces = [\"*\"]\n"
        ),
    );
    let lineaged = Lineaged::start(&nats.url(), &at("log"), |config| {
        config.access_file = Some(at("access.toml"));
        config.tls_cert = Some(at("server.pem"));
        config.tls_key = Some(at("server.key"));
        config.tls_client_ca = Some(at("client-ca.pem"));
    })
    .await;
    // The certificate names "localhost": ask for it by that name.
    let grpc = format!("https://localhost:{}", lineaged.addr.port());
    let path = |name: &str| at(name).display().to_string();
    let tls = [
        "--tls-ca".to_owned(),
        path("ca.pem"),
        "--tls-cert".to_owned(),
        path("operator.pem"),
        "--tls-key".to_owned(),
        path("operator.key"),
    ];
    let with_tls = |args: &[&str]| {
        let mut all: Vec<String> = tls.to_vec();
        all.extend(args.iter().map(|arg| arg.to_string()));
        all
    };
    let ask = |args: Vec<String>| {
        let grpc = grpc.clone();
        let nats_url = nats.url();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lineage(&grpc, &nats_url, &args).await
        }
    };
    let status = ask(with_tls(&["status"])).await;
    assert!(status.status.success(), "{}", text(&status));
    // Past the handshake and the principal, to the graph: NOT_FOUND (2).
    let missing = ask(with_tls(&["-w", "lender", "get", "model:none@1"])).await;
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("NOT_FOUND"), "{}", text(&missing));
    // Without its certificate the handshake fails: unreachable (4), with
    // the transport's reason (which of its errors surfaces first races).
    let without = ask(vec!["--tls-ca".into(), path("ca.pem"), "status".into()]).await;
    assert_eq!(without.status.code(), Some(4), "{}", text(&without));
    assert!(
        text(&without).contains("transport error"),
        "{}",
        text(&without)
    );
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_publishes_as_a_producer_the_broker_allows_one_workspace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |name: &str| dir.path().join(name);
    // A broker that authorizes: lineaged may do anything, the fraud team's
    // producer may publish its own workspace's events only.
    let port = lineage_e2e::free_port();
    let store = tempfile::tempdir().expect("store");
    std::fs::write(
        at("nats.conf"),
        format!(
            r#"
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{store}" }}
authorization {{
  users = [
    {{ user: lineaged, password: "lineaged-secret" }}
    {{ user: fraud-producer, password: "fraud-secret",
       permissions: {{ publish: ["lineage.events.insurer-fraud"], subscribe: ["_INBOX.>"] }} }}
  ]
}}
"#,
            store = store.path().display()
        ),
    )
    .expect("write the broker's configuration");
    let nats = lineage_e2e::NatsServer::start_with_config(&at("nats.conf"), store);
    std::fs::write(at("lineaged.password"), "lineaged-secret\n").expect("password file");
    let lineaged = Lineaged::start(&nats.url(), &at("log"), |config| {
        config.nats_connect.user = Some("lineaged".into());
        config.nats_connect.password_file = Some(at("lineaged.password"));
    })
    .await;
    lineaged
        .wait_status("consuming", |status| status.ingest_connected)
        .await;
    std::fs::write(at("fraud.password"), "fraud-secret\n").expect("password file");
    let history = std::fs::read_to_string(DEMO).expect("demo history");
    let lines_of = |workspace: &str| {
        history
            .lines()
            .filter(|line| line.contains(&format!("\"workspace\":\"{workspace}\"")))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(at("fraud.jsonl"), lines_of("insurer-fraud")).expect("fraud events");
    std::fs::write(at("credit.jsonl"), lines_of("credit-lender")).expect("credit events");
    let grpc = lineaged.addr.to_string();
    let url = nats.url();
    let producer = |file: &str| {
        vec![
            "--nats-user".to_owned(),
            "fraud-producer".to_owned(),
            "--nats-password-file".to_owned(),
            at("fraud.password").display().to_string(),
            "emit".to_owned(),
            at(file).display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let (grpc, url) = (grpc.clone(), url.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lineage(&grpc, &url, &args).await
        }
    };

    // Anonymous: the broker does not let it in.
    let anonymous = run(vec!["emit".into(), at("fraud.jsonl").display().to_string()]).await;
    assert_eq!(anonymous.status.code(), Some(4), "{}", text(&anonymous));
    assert!(
        text(&anonymous).contains("cannot connect to NATS"),
        "{}",
        text(&anonymous)
    );

    // As the fraud team's producer: its own events land...
    let mut published = producer("fraud.jsonl");
    published.push("--wait".into());
    let published = run(published).await;
    assert!(published.status.success(), "{}", text(&published));
    assert!(
        text(&published).contains("20 published"),
        "{}",
        text(&published)
    );
    // ...and another workspace's are refused by the broker, not stored.
    let refused = run(producer("credit.jsonl")).await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("0 published") && text(&refused).contains("20 failed"),
        "{}",
        text(&refused)
    );
    let status = lineaged.wait_applied(20).await;
    assert_eq!(
        status.applied_seq, 20,
        "only the fraud team's events: {status:?}"
    );
    lineaged.stop().await;
}
