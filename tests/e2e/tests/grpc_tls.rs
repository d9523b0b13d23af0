//! gRPC over TLS, and mutual TLS naming principals, against a real
//! lineaged: certificates made for the test (a CA, the server's, clients'
//! of that CA and of another), every way in tried.
//!
//! With `--tls-client-ca` the handshake itself turns away a client with no
//! certificate or one of another CA, and a plaintext client gets nothing.
//! Past the handshake, a bearer token decides when one is sent; otherwise
//! the certificate's fingerprint names the principal, and a certificate the
//! access file does not name is UNAUTHENTICATED.

use lineage_e2e::events::credit_story;
use lineage_e2e::{Lineaged, entity, nats_with_events_stream, publish, wait_for};
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sha2::Digest as _;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const READER: &str = "lin_5555555555555555555555555555555555555555555555555555555555555555";

/// A certificate authority for the test.
struct Authority(CertifiedIssuer<'static, KeyPair>);

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        Self(CertifiedIssuer::self_signed(params, key).expect("CA certificate"))
    }

    fn pem(&self) -> String {
        self.0.pem()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses): its PEM,
    /// its key's PEM and its DER bytes.
    fn issue(&self, common_name: &str, names: &[&str]) -> (String, String, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("leaf key");
        let certificate = params.signed_by(&key, &self.0).expect("leaf certificate");
        (
            certificate.pem(),
            key.serialize_pem(),
            certificate.der().to_vec(),
        )
    }
}

fn sha256_hex(der: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(der))
}

/// A TLS channel trusting `ca`, presenting `identity` if given.
async fn tls_channel(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("url")
        .tls_config(tls)?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
}

fn get_model() -> tonic::Request<v1::GetEntityRequest> {
    tonic::Request::new(v1::GetEntityRequest {
        entity: Some(entity(
            "lender",
            v1::EntityKind::ModelVersion,
            "credit-risk",
            "7",
        )),
        ..Default::default()
    })
}

fn with_token<T>(mut request: tonic::Request<T>, token: &str) -> tonic::Request<T> {
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_lets_in_only_the_authority_s_clients_and_names_principals_by_certificate() {
    let ca = Authority::new("lineage test CA");
    let rogue = Authority::new("someone else's CA");
    let (server_cert, server_key, _) = ca.issue("lineaged", &["localhost", "127.0.0.1"]);
    let robot = ca.issue("audit-robot", &["audit-robot"]);
    let stranger = ca.issue("stranger", &["stranger"]);
    let impostor = rogue.issue("audit-robot", &["audit-robot"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let access = write(
        "access.toml",
        &format!(
            "[[principal]]\nname = \"lender-analysts\"\ntoken_hash = \"blake3:{}\"\nroles = [\"reader\"]\nworkspaces = [\"lender\"]\n\n\
             [[principal]]\nname = \"audit-robot\"\nclient_cert_sha256 = \"{}\"\nroles = [\"auditor\", \"admin\"]\nworkspaces = [\"*\"]\n",
            blake3::hash(READER.as_bytes()).to_hex(),
            // As openssl prints it: upper case, colons between bytes.
            sha256_hex(&robot.2)
                .to_uppercase()
                .as_bytes()
                .chunks(2)
                .map(|pair| String::from_utf8_lossy(pair).into_owned())
                .collect::<Vec<_>>()
                .join(":")
        ),
    );
    let (cert_path, key_path, ca_path) = (
        write("server.pem", &server_cert),
        write("server.key", &server_key),
        write("ca.pem", &ca.pem()),
    );

    let (nats, js) = nats_with_events_stream().await;
    let lineaged = Lineaged::start(&nats.url(), &dir.path().join("log"), |config| {
        config.access_file = Some(access.clone());
        config.tls_cert = Some(cert_path.clone());
        config.tls_key = Some(key_path.clone());
        config.tls_client_ca = Some(ca_path.clone());
    })
    .await;
    let story = credit_story();
    for event in &story {
        publish(&js, event).await;
    }

    // The robot, by its certificate alone: an auditor and admin.
    let robot_channel = wait_for("the TLS port", || {
        let ca = ca.pem();
        let (cert, key) = (robot.0.clone(), robot.1.clone());
        async move {
            tls_channel(lineaged.addr, &ca, Some((&cert, &key)))
                .await
                .ok()
        }
    })
    .await;
    let mut as_robot = LineageServiceClient::new(robot_channel.clone());
    wait_for("the story applied", || {
        let mut as_robot = as_robot.clone();
        let want = story.len() as u64;
        async move {
            let status = as_robot
                .get_status(v1::GetStatusRequest::default())
                .await
                .ok()?;
            (status.into_inner().applied_seq == want).then_some(())
        }
    })
    .await;
    let verified = as_robot
        .verify_log(v1::VerifyLogRequest::default())
        .await
        .expect("an auditor verifies")
        .into_inner();
    assert!(verified.ok);
    assert_eq!(verified.records_checked, story.len() as u64);
    let denied = as_robot
        .get_entity(get_model())
        .await
        .expect_err("not a reader");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("audit-robot"),
        "{}",
        denied.message()
    );

    // A token decides over the certificate it came with.
    let answered = as_robot
        .get_entity(with_token(get_model(), READER))
        .await
        .expect("the reader's token")
        .into_inner();
    assert_eq!(answered.r#ref.expect("ref").name, "credit-risk");
    let status = as_robot
        .get_status(with_token(
            tonic::Request::new(v1::GetStatusRequest::default()),
            READER,
        ))
        .await
        .expect_err("the reader is no admin");
    assert_eq!(status.code(), Code::PermissionDenied);

    // A certificate of the authority the access file does not name.
    let stranger_channel = tls_channel(lineaged.addr, &ca.pem(), Some((&stranger.0, &stranger.1)))
        .await
        .expect("the handshake passes");
    let unknown = LineageServiceClient::new(stranger_channel.clone())
        .get_entity(get_model())
        .await
        .expect_err("no principal");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert!(
        unknown
            .message()
            .contains(&sha256_hex(&stranger.2).to_uppercase()),
        "{}",
        unknown.message()
    );
    LineageServiceClient::new(stranger_channel)
        .get_entity(with_token(get_model(), READER))
        .await
        .expect("with a token it is the token's principal");

    // Turned away at the handshake: no certificate, another authority's,
    // no TLS at all.
    let refused = |result: Result<tonic::Response<v1::Entity>, tonic::Status>, who: &str| {
        let status = result.expect_err(who);
        // A transport failure, never an answer of the service.
        assert!(
            matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
            ),
            "{who}: {status:?}"
        );
    };
    for (who, identity) in [
        ("a client without a certificate", None),
        (
            "another authority's client",
            Some((&impostor.0, &impostor.1)),
        ),
    ] {
        // A failed connect is refusal enough; TLS 1.3 clients finish their
        // side of the handshake before the server refuses, so then the
        // first call must fail.
        if let Ok(channel) = tls_channel(
            lineaged.addr,
            &ca.pem(),
            identity.map(|(cert, key)| (cert.as_str(), key.as_str())),
        )
        .await
        {
            refused(
                LineageServiceClient::new(channel)
                    .get_entity(with_token(get_model(), READER))
                    .await,
                who,
            );
        }
    }
    if let Ok(channel) = Endpoint::from_shared(format!("http://{}", lineaged.addr))
        .expect("url")
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
    {
        refused(
            LineageServiceClient::new(channel)
                .get_entity(with_token(get_model(), READER))
                .await,
            "a plaintext client",
        );
    }

    // Health over the same TLS.
    let health = tonic_health::pb::health_client::HealthClient::new(robot_channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lineage.v1.LineageService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_principals_without_a_client_ca_stop_the_start() {
    let nats = lineage_e2e::NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let access = dir.path().join("access.toml");
    std::fs::write(
        &access,
        format!(
            "[[principal]]\nname = \"robot\"\nclient_cert_sha256 = \"{}\"\nroles = [\"auditor\"]\nworkspaces = [\"*\"]\n",
            "ab".repeat(32)
        ),
    )
    .expect("write");
    let mut config = lineage_e2e::Config::for_tests(&nats.url(), dir.path().join("log"));
    config.access_file = Some(access);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let error = tokio::time::timeout(
        lineage_e2e::WAIT,
        lineage_server::run(config, listener, std::future::pending()),
    )
    .await
    .expect("refused at once")
    .expect_err("refused")
    .to_string();
    assert!(error.contains("--tls-client-ca"), "{error}");
}
