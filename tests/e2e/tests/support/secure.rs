//! What a secured broker needs in a test: a certificate authority with the
//! broker's and a client's certificates (rcgen), users' nkeys, the shipped
//! `deploy/nats/auth.conf` with test keys in place of its placeholders,
//! NATS JWTs for a broker in operator mode (`.creds` files), and client
//! connect options that trust the test CA.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;

/// The broker configuration `deploy/` ships.
pub const DEPLOY_NATS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nats");

/// lineaged's inbox prefix (its default) and the operators' one, as the
/// shipped permissions expect them.
pub const LINEAGED_INBOX: &str = "_INBOX_lineaged";
pub const OPS_INBOX: &str = "_INBOX_ops";

/// The workspaces the shipped configuration has producers for.
pub const CREDIT: &str = "credit";
pub const FRAUD: &str = "fraud";

/// A test certificate authority and what it signed, as PEM files in a
/// directory: `ca.pem`, `server.pem` + `server-key.pem` (for 127.0.0.1 and
/// localhost, good for server and client authentication, as a cluster
/// node's certificate must be for its routes) and `client.pem` +
/// `client-key.pem` (a client's, for mutual TLS).
#[derive(Debug)]
pub struct TestPki {
    pub dir: PathBuf,
}

impl TestPki {
    pub fn write(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("tls dir");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "lineage test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, common_name: &str| {
            let key = rcgen::KeyPair::generate().expect("leaf key");
            let mut params = rcgen::CertificateParams::new(names).expect("leaf params");
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, common_name);
            params.use_authority_key_identifier_extension = true;
            let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "lineage test broker",
        );
        let (client, client_key) = leaf(vec!["lineaged".into()], "lineaged");
        let pki = Self {
            dir: dir.to_path_buf(),
        };
        for (name, pem) in [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server),
            ("server-key.pem", server_key),
            ("client.pem", client),
            ("client-key.pem", client_key),
        ] {
            std::fs::write(dir.join(name), pem).expect("write a PEM file");
        }
        pki
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client-key.pem")
    }
}

/// The users of the shipped `auth.conf`, each with a fresh nkey.
#[derive(Debug)]
pub struct TestKeys {
    pub lineaged: KeyPair,
    pub ops: KeyPair,
    pub credit_producer: KeyPair,
    pub fraud_producer: KeyPair,
}

impl TestKeys {
    pub fn generate() -> Self {
        Self {
            lineaged: KeyPair::new_user(),
            ops: KeyPair::new_user(),
            credit_producer: KeyPair::new_user(),
            fraud_producer: KeyPair::new_user(),
        }
    }
}

/// Writes a user's seed to a file, as an operator would for lineaged's
/// `--nats-nkey`.
pub fn write_seed(dir: &Path, name: &str, key: &KeyPair) -> PathBuf {
    let path = dir.join(format!("{name}.nk"));
    std::fs::write(&path, format!("{}\n", key.seed().expect("a seed"))).expect("write seed");
    path
}

/// The shipped `deploy/nats/auth.conf` with `keys` in place of its
/// placeholders and `extra_users` (whole user entries) added to the
/// account's users. Panics if the file no longer has what a test relies
/// on, so that the file and the tests cannot drift apart.
pub fn render_auth_conf(keys: &TestKeys, extra_users: &[String]) -> String {
    let path = format!("{DEPLOY_NATS}/auth.conf");
    let mut text = std::fs::read_to_string(&path).expect("deploy/nats/auth.conf");
    for (placeholder, key) in [
        ("REPLACE_WITH_LINEAGED_PUBLIC_NKEY", &keys.lineaged),
        ("REPLACE_WITH_OPS_PUBLIC_NKEY", &keys.ops),
        (
            "REPLACE_WITH_CREDIT_PRODUCER_PUBLIC_NKEY",
            &keys.credit_producer,
        ),
        (
            "REPLACE_WITH_FRAUD_PRODUCER_PUBLIC_NKEY",
            &keys.fraud_producer,
        ),
    ] {
        assert_eq!(
            text.matches(placeholder).count(),
            1,
            "{path} holds {placeholder} once"
        );
        text = text.replace(placeholder, &key.public_key());
    }
    assert!(
        !text.contains("\"REPLACE_WITH_"),
        "{path} has a placeholder the tests do not fill"
    );
    if !extra_users.is_empty() {
        let users = "    users: [\n";
        assert_eq!(
            text.matches(users).count(),
            1,
            "{path} lists the account's users once"
        );
        text = text.replace(users, &format!("{users}{}\n", extra_users.join("\n")));
    }
    text
}

/// Connect options of a test client: trusts the test CA, presents the
/// client certificate (brokers with `verify: true` require one), and
/// authenticates with `key` if given. `inbox_prefix` must be one the
/// user may subscribe to.
pub fn client_options(
    pki: &TestPki,
    key: Option<&KeyPair>,
    inbox_prefix: &str,
) -> async_nats::ConnectOptions {
    let mut options = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(pki.ca())
        .add_client_certificate(pki.client_cert(), pki.client_key())
        .custom_inbox_prefix(inbox_prefix)
        .connection_timeout(std::time::Duration::from_secs(5));
    if let Some(key) = key {
        options = options.nkey(key.seed().expect("a seed"));
    }
    options
}

/// Points lineaged's NATS settings at the test CA and client certificate.
pub fn lineaged_tls(config: &mut lineage_e2e::Config, pki: &TestPki) {
    config.nats_connect.tls_ca = Some(pki.ca());
    config.nats_connect.tls_cert = Some(pki.client_cert());
    config.nats_connect.tls_key = Some(pki.client_key());
}

/// A NATS JWT: the header for nkey signatures, `claims`, signed by `issuer`.
fn jwt(issuer: &KeyPair, claims: serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims"));
    let signed = format!("{header}.{claims}");
    let signature = issuer.sign(signed.as_bytes()).expect("sign a JWT");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A broker in operator (JWT) mode, as `nsc` sets one up: an operator that
/// signed a system account and an account with JetStream, whose users are
/// issued `.creds` files.
#[derive(Debug)]
pub struct OperatorMode {
    operator: KeyPair,
    system: KeyPair,
    account: KeyPair,
    /// How many JWTs were issued, to keep their ids unique.
    issued: std::cell::Cell<u64>,
}

impl OperatorMode {
    pub fn generate() -> Self {
        Self {
            operator: KeyPair::new_operator(),
            system: KeyPair::new_account(),
            account: KeyPair::new_account(),
            issued: std::cell::Cell::new(0),
        }
    }

    fn claims(
        &self,
        issuer: &KeyPair,
        subject: &str,
        name: &str,
        nats: serde_json::Value,
    ) -> String {
        self.issued.set(self.issued.get() + 1);
        jwt(
            issuer,
            serde_json::json!({
                "jti": format!("LINEAGETEST{}{}", now_secs(), self.issued.get()),
                "iat": now_secs(),
                "iss": issuer.public_key(),
                "name": name,
                "sub": subject,
                "nats": nats,
            }),
        )
    }

    /// The configuration lines that put a broker in operator mode with a
    /// memory resolver holding both accounts.
    pub fn server_config(&self) -> String {
        let operator = self.claims(
            &self.operator,
            &self.operator.public_key(),
            "lineage-test-operator",
            serde_json::json!({
                "type": "operator",
                "version": 2,
                "system_account": self.system.public_key(),
            }),
        );
        let unlimited = serde_json::json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
        });
        let system = self.claims(
            &self.operator,
            &self.system.public_key(),
            "SYS",
            serde_json::json!({ "type": "account", "version": 2, "limits": unlimited }),
        );
        let mut limits = unlimited;
        for jetstream_limit in ["mem_storage", "disk_storage", "streams", "consumer"] {
            limits[jetstream_limit] = serde_json::json!(-1);
        }
        let account = self.claims(
            &self.operator,
            &self.account.public_key(),
            "LINEAGE",
            serde_json::json!({ "type": "account", "version": 2, "limits": limits }),
        );
        format!(
            "operator: \"{operator}\"\n\
             system_account: {system_key}\n\
             resolver: MEMORY\n\
             resolver_preload: {{\n  {system_key}: \"{system}\"\n  {account_key}: \"{account}\"\n}}\n",
            system_key = self.system.public_key(),
            account_key = self.account.public_key(),
        )
    }

    /// A `.creds` file's text for a new user of the account allowed to
    /// publish and subscribe to exactly what is listed.
    pub fn user_creds(&self, name: &str, publish: &[&str], subscribe: &[&str]) -> String {
        let user = KeyPair::new_user();
        let jwt = self.claims(
            &self.account,
            &user.public_key(),
            name,
            serde_json::json!({
                "type": "user",
                "version": 2,
                "pub": { "allow": publish },
                "sub": { "allow": subscribe },
                "subs": -1, "data": -1, "payload": -1,
            }),
        );
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            seed = user.seed().expect("a seed"),
        )
    }
}
