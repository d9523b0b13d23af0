//! How `lineaged` reaches NATS: the server list, who it authenticates as
//! (a `.creds` file, an nkey seed, or a user and password) and TLS (a CA to
//! trust, a client certificate for mutual TLS).
//!
//! Every file is read and checked when the service starts, so a typo in a
//! path or a file of the wrong kind stops it with an error naming the
//! setting and the file, instead of a connection that fails, unexplained, in
//! the background. What fails only at the broker (a key it does not know,
//! a certificate it does not trust) is reported by [`connect_options`]'s
//! event callback in `GetStatus`'s ingest error, while the client keeps
//! retrying and the service keeps answering queries.
//!
//! `deploy/nats/` holds the broker side: the accounts and subject
//! permissions these identities get, and the cluster's node configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use async_nats::{ConnectOptions, Event, ServerAddr};

use crate::state::Shared;

/// Prefixes the ingest error that a NATS connection event wrote, so the
/// next successful connection clears it (and only it).
const CONNECTION_ERROR_PREFIX: &str = "NATS connection: ";

/// How `lineaged` authenticates to NATS and protects the connection. At
/// most one of `--nats-creds`, `--nats-nkey` and `--nats-user` is given;
/// none means an anonymous connection (a broker without authorization, as
/// in the local demo).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsConnect {
    /// A NATS credentials file (`.creds`: a user JWT and its nkey seed, as
    /// `nsc generate creds` writes it), for a broker in operator (JWT) mode.
    #[arg(
        id = "nats_creds",
        long = "nats-creds",
        env = "LINEAGE_NATS_CREDS",
        conflicts_with_all = ["nats_nkey", "nats_user"]
    )]
    pub creds: Option<PathBuf>,

    /// A file holding the nkey seed (`SU...`) of a user whose public key
    /// (`U...`) the broker's configuration lists.
    #[arg(
        id = "nats_nkey",
        long = "nats-nkey",
        env = "LINEAGE_NATS_NKEY",
        conflicts_with = "nats_user"
    )]
    pub nkey: Option<PathBuf>,

    /// A NATS user name, with its password in --nats-password-file.
    #[arg(
        id = "nats_user",
        long = "nats-user",
        env = "LINEAGE_NATS_USER",
        requires = "nats_password_file"
    )]
    pub user: Option<String>,

    /// A file holding the password of --nats-user (one line; a trailing
    /// newline is not part of it). A file rather than a flag, so that the
    /// password shows in no process listing.
    #[arg(
        id = "nats_password_file",
        long = "nats-password-file",
        env = "LINEAGE_NATS_PASSWORD_FILE",
        requires = "nats_user"
    )]
    pub password_file: Option<PathBuf>,

    /// PEM file of the CA(s) that signed the broker's certificate, trusted
    /// instead of the system's roots. Implies --nats-require-tls.
    #[arg(id = "nats_tls_ca", long = "nats-tls-ca", env = "LINEAGE_NATS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,

    /// PEM client certificate (chain) for mutual TLS, with --nats-tls-key.
    /// Implies --nats-require-tls.
    #[arg(
        id = "nats_tls_cert",
        long = "nats-tls-cert",
        env = "LINEAGE_NATS_TLS_CERT",
        requires = "nats_tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --nats-tls-cert.
    #[arg(
        id = "nats_tls_key",
        long = "nats-tls-key",
        env = "LINEAGE_NATS_TLS_KEY",
        requires = "nats_tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Refuse to talk to NATS without TLS, even if the broker offers
    /// plain connections.
    #[arg(
        id = "nats_require_tls",
        long = "nats-require-tls",
        env = "LINEAGE_NATS_REQUIRE_TLS"
    )]
    pub require_tls: bool,

    /// First token of the subjects replies to `lineaged` arrive on (pull
    /// consumer deliveries, JetStream API answers, publish acks). Its own
    /// prefix rather than the shared `_INBOX`, so that the broker can let
    /// only `lineaged` subscribe to it: producers, who may subscribe to
    /// `_INBOX.>` for their publish acks, never see the events delivered
    /// to `lineaged`.
    #[arg(
        id = "nats_inbox_prefix",
        long = "nats-inbox-prefix",
        env = "LINEAGE_NATS_INBOX_PREFIX",
        default_value = "_INBOX_lineaged"
    )]
    pub inbox_prefix: String,
}

/// Why the NATS settings cannot be used. Each stops the service at start:
/// the operator fixes the setting named and starts it again.
#[derive(Debug, thiserror::Error)]
pub enum NatsConnectError {
    /// `--nats-url` holds an entry that is not a NATS server address.
    #[error("--nats-url entry {entry:?} is not a NATS server address: {reason}")]
    ServerAddress { entry: String, reason: String },
    /// `--nats-url` lists no server at all.
    #[error("--nats-url lists no server")]
    NoServer,
    /// `--nats-user` without `--nats-password-file`.
    #[error("--nats-user needs --nats-password-file")]
    NoPasswordFile,
    /// A file a setting names cannot be read (missing, permissions).
    #[error("{setting} {}: cannot read it: {source}", path.display())]
    Unreadable {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file a setting names holds something else than it should.
    #[error("{setting} {}: {problem}", path.display())]
    Invalid {
        setting: &'static str,
        path: PathBuf,
        problem: String,
    },
}

/// The servers of `--nats-url`: one address or several, comma-separated
/// (the nodes of a cluster). The client connects to one of them and fails
/// over to the others; async-nats reads a single string as one address,
/// so the list is split here.
pub fn server_addrs(nats_url: &str) -> Result<Vec<ServerAddr>, NatsConnectError> {
    let servers = nats_url
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ServerAddr>()
                .map_err(|error| NatsConnectError::ServerAddress {
                    entry: entry.to_owned(),
                    reason: error.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(NatsConnectError::NoServer);
    }
    Ok(servers)
}

/// The connect options of `lineaged`'s NATS client: its identity and TLS
/// from `settings`, retries forever (from the first attempt on, so the
/// service starts without a broker), and connection problems reported in
/// `shared`'s ingest status as they happen.
pub fn connect_options(
    settings: &NatsConnect,
    shared: Arc<Shared>,
) -> Result<ConnectOptions, NatsConnectError> {
    let mut options = ConnectOptions::new()
        .name("lineaged")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .custom_inbox_prefix(&settings.inbox_prefix);

    if let Some(path) = &settings.creds {
        let creds = read_text("--nats-creds", path)?;
        options = options
            .credentials(&creds)
            .map_err(|error| NatsConnectError::Invalid {
                setting: "--nats-creds",
                path: path.clone(),
                problem: format!("not a NATS credentials file (a user JWT and seed): {error}"),
            })?;
    }
    if let Some(path) = &settings.nkey {
        let seed = read_text("--nats-nkey", path)?.trim().to_owned();
        // Checked here: async-nats would only fail to sign the server's
        // nonce, at every connection attempt, in the background.
        nkeys::KeyPair::from_seed(&seed).map_err(|error| NatsConnectError::Invalid {
            setting: "--nats-nkey",
            path: path.clone(),
            problem: format!("not an nkey seed: {error}"),
        })?;
        if !seed.starts_with("SU") {
            return Err(NatsConnectError::Invalid {
                setting: "--nats-nkey",
                path: path.clone(),
                problem: "the seed is not a user's (it must start with SU)".into(),
            });
        }
        options = options.nkey(seed);
    }
    if let Some(user) = &settings.user {
        // clap requires the password file with the user; a configuration
        // built in code might not.
        let Some(path) = &settings.password_file else {
            return Err(NatsConnectError::NoPasswordFile);
        };
        let text = read_text("--nats-password-file", path)?;
        let password = text.strip_suffix('\n').unwrap_or(&text);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if password.is_empty() {
            return Err(NatsConnectError::Invalid {
                setting: "--nats-password-file",
                path: path.clone(),
                problem: "the file is empty".into(),
            });
        }
        options = options.user_and_password(user.clone(), password.to_owned());
    }

    let mut tls = settings.require_tls;
    if let Some(path) = &settings.tls_ca {
        check_certificates("--nats-tls-ca", path)?;
        options = options.add_root_certificates(path.clone());
        tls = true;
    }
    if let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) {
        check_certificates("--nats-tls-cert", cert)?;
        check_private_key("--nats-tls-key", key)?;
        options = options.add_client_certificate(cert.clone(), key.clone());
        tls = true;
    }
    if tls {
        options = options.require_tls(true);
    }
    Ok(report_connection_events(options, shared))
}

/// Writes NATS connection problems (refused connections, authorization
/// violations, TLS failures, permissions violations) into the ingest
/// status, where `GetStatus` shows them: without this, a key the broker
/// does not know would show only as JetStream requests timing out. A
/// successful connection clears what an earlier event wrote; the ingest
/// loop clears its own errors once it consumes again.
fn report_connection_events(options: ConnectOptions, shared: Arc<Shared>) -> ConnectOptions {
    options.event_callback(move |event| {
        let shared = shared.clone();
        async move {
            match event {
                Event::Connected => shared.update_status(|status| {
                    if status.last_error.starts_with(CONNECTION_ERROR_PREFIX) {
                        status.last_error.clear();
                    }
                }),
                Event::Disconnected | Event::ServerError(_) | Event::ClientError(_) => {
                    tracing::warn!(%event, "NATS connection");
                    shared.update_status(|status| {
                        status.last_error = format!("{CONNECTION_ERROR_PREFIX}{event}");
                    });
                }
                Event::LameDuckMode | Event::Draining | Event::Closed | Event::SlowConsumer(_) => {
                    tracing::info!(%event, "NATS connection")
                }
            }
        }
    })
}

fn read_text(setting: &'static str, path: &Path) -> Result<String, NatsConnectError> {
    std::fs::read_to_string(path).map_err(|source| NatsConnectError::Unreadable {
        setting,
        path: path.to_path_buf(),
        source,
    })
}

fn read_bytes(setting: &'static str, path: &Path) -> Result<Vec<u8>, NatsConnectError> {
    std::fs::read(path).map_err(|source| NatsConnectError::Unreadable {
        setting,
        path: path.to_path_buf(),
        source,
    })
}

/// Checks that `path` holds at least one PEM certificate and nothing
/// unparsable.
fn check_certificates(setting: &'static str, path: &Path) -> Result<(), NatsConnectError> {
    let bytes = read_bytes(setting, path)?;
    let invalid = |problem: String| NatsConnectError::Invalid {
        setting,
        path: path.to_path_buf(),
        problem,
    };
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("not PEM certificates: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid("holds no PEM certificate".into()));
    }
    Ok(())
}

/// Checks that `path` holds a PEM private key (PKCS#8, PKCS#1 or SEC1).
fn check_private_key(setting: &'static str, path: &Path) -> Result<(), NatsConnectError> {
    let bytes = read_bytes(setting, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| NatsConnectError::Invalid {
        setting,
        path: path.to_path_buf(),
        problem: format!("holds no PEM private key: {error}"),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_separated_url_is_a_list_of_servers() {
        let servers = server_addrs("nats://127.0.0.1:4222, tls://10.0.0.2:4223,,127.0.0.1:4224")
            .expect("three servers");
        let hosts: Vec<(String, u16)> = servers
            .iter()
            .map(|server| (server.host().to_owned(), server.port()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1".to_owned(), 4222),
                ("10.0.0.2".to_owned(), 4223),
                ("127.0.0.1".to_owned(), 4224)
            ]
        );
        assert!(servers[1].tls_required());
    }

    #[test]
    fn a_bad_entry_or_an_empty_list_is_refused() {
        assert!(matches!(
            server_addrs("nats://127.0.0.1:4222,http://example.com"),
            Err(NatsConnectError::ServerAddress { entry, .. }) if entry == "http://example.com"
        ));
        assert!(matches!(
            server_addrs(" , "),
            Err(NatsConnectError::NoServer)
        ));
    }

    fn settings() -> NatsConnect {
        crate::Config::for_tests("nats://127.0.0.1:4222", PathBuf::from("unused")).nats_connect
    }

    #[test]
    fn the_test_defaults_are_an_anonymous_plain_connection() {
        let settings = settings();
        assert!(settings.creds.is_none());
        assert!(settings.nkey.is_none());
        assert!(settings.user.is_none());
        assert!(settings.password_file.is_none());
        assert!(settings.tls_ca.is_none());
        assert!(settings.tls_cert.is_none());
        assert!(settings.tls_key.is_none());
        assert!(!settings.require_tls);
        assert!(connect_options(&settings, Arc::default()).is_ok());
    }

    #[test]
    fn unreadable_and_wrong_files_name_the_setting_and_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.nk");
        let mut with_nkey = settings();
        with_nkey.nkey = Some(missing.clone());
        let error = connect_options(&with_nkey, Arc::default()).expect_err("missing seed");
        assert!(matches!(
            &error,
            NatsConnectError::Unreadable { setting: "--nats-nkey", path, .. } if *path == missing
        ));

        let not_a_seed = dir.path().join("seed.nk");
        std::fs::write(&not_a_seed, "hunter2\n").expect("write");
        with_nkey.nkey = Some(not_a_seed);
        assert!(matches!(
            connect_options(&with_nkey, Arc::default()),
            Err(NatsConnectError::Invalid {
                setting: "--nats-nkey",
                ..
            })
        ));

        let not_creds = dir.path().join("lineaged.creds");
        std::fs::write(&not_creds, "no JWT here\n").expect("write");
        let mut with_creds = settings();
        with_creds.creds = Some(not_creds);
        assert!(matches!(
            connect_options(&with_creds, Arc::default()),
            Err(NatsConnectError::Invalid {
                setting: "--nats-creds",
                ..
            })
        ));

        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate\n").expect("write");
        let mut with_ca = settings();
        with_ca.tls_ca = Some(not_pem);
        assert!(matches!(
            connect_options(&with_ca, Arc::default()),
            Err(NatsConnectError::Invalid {
                setting: "--nats-tls-ca",
                ..
            })
        ));

        let empty_password = dir.path().join("password");
        std::fs::write(&empty_password, "\n").expect("write");
        let mut with_user = settings();
        with_user.user = Some("lineaged".into());
        with_user.password_file = Some(empty_password);
        assert!(matches!(
            connect_options(&with_user, Arc::default()),
            Err(NatsConnectError::Invalid {
                setting: "--nats-password-file",
                ..
            })
        ));
    }

    #[test]
    fn only_one_way_to_authenticate_is_accepted() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            nats: NatsConnect,
        }
        assert!(
            Flags::try_parse_from(["lineaged", "--nats-creds", "a", "--nats-nkey", "b"]).is_err()
        );
        assert!(Flags::try_parse_from(["lineaged", "--nats-user", "u"]).is_err());
        assert!(Flags::try_parse_from(["lineaged", "--nats-tls-cert", "c"]).is_err());
        let parsed = Flags::try_parse_from([
            "lineaged",
            "--nats-user",
            "u",
            "--nats-password-file",
            "p",
            "--nats-tls-ca",
            "ca.pem",
        ])
        .expect("user, password file and CA");
        assert_eq!(parsed.nats.user.as_deref(), Some("u"));
        assert_eq!(parsed.nats.inbox_prefix, "_INBOX_lineaged");
    }
}
