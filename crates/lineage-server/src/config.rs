//! Every setting of `lineaged`, each a flag, a `LINEAGE_*` environment
//! variable and a key of the config file, with the bounds that keep the
//! service's resources finite. [`layers`] puts the three sources together
//! (a flag beats its variable, which beats the file, which beats the
//! default).

mod layers;

pub use layers::{
    CONFIG_FILE_ARG, ConfigError, EffectiveSetting, Layered, Origin, parse_layered,
    render_effective,
};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration. Tests build it with [`Config::for_tests`].
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// A TOML file of settings, each key a long flag without `--`
    /// (`grpc-addr = "0.0.0.0:50051"`, `batch-size = 512`,
    /// `allow-unauthenticated = true`). A flag beats its variable, which
    /// beats the file, which beats the default.
    #[arg(
        id = CONFIG_FILE_ARG,
        long = "config",
        env = "LINEAGE_CONFIG",
        value_name = "FILE"
    )]
    pub config_file: Option<PathBuf>,

    /// NATS server(s) to consume from, comma-separated.
    #[arg(
        long,
        env = "LINEAGE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,

    /// Who `lineaged` is to NATS (credentials file, nkey, user and
    /// password) and the connection's TLS.
    #[command(flatten)]
    pub nats_connect: crate::nats_connect::NatsConnect,

    /// Directory of the sled event log.
    #[arg(long, env = "LINEAGE_DATA_DIR", default_value = "./data/lineaged")]
    pub data_dir: PathBuf,

    /// A file holding the secret (64 hex digits) a new log keys its
    /// commitments to personal fields with, instead of a random one.
    /// Replicas consuming one stream given the same secret write identical
    /// logs, head hash included; keep it as secret as the data. A log
    /// created with another secret is refused.
    #[arg(long, env = "LINEAGE_FIELD_SECRET_FILE")]
    pub field_secret_file: Option<PathBuf>,

    /// Memory sled may use to cache pages of the log, in MiB. The graph is
    /// answered from memory; this only speeds reading records back.
    #[arg(long, env = "LINEAGE_LOG_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub log_cache_mb: u64,

    /// Records between snapshots of the graph (written beside the log, so a
    /// restart replays only what came after the newest); 0 turns them off.
    /// Encoding one holds up applying for about 2 s per million events.
    #[arg(long, env = "LINEAGE_SNAPSHOT_EVERY", default_value_t = 2_000_000)]
    pub snapshot_every: u64,

    /// How ingest shares the CPU with queries when both want all of it.
    #[arg(long, env = "LINEAGE_INGEST_PRIORITY", value_enum, default_value_t = IngestPriority::Low)]
    pub ingest_priority: IngestPriority,

    /// Address the gRPC service listens on.
    #[arg(long, env = "LINEAGE_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,

    /// Address of the HTTP listener serving /metrics (Prometheus),
    /// /healthz and /readyz; off when unset.
    #[arg(long, env = "LINEAGE_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,

    /// How log lines are written to stderr: text for people, JSON (one
    /// object per line) for log collectors.
    #[arg(long, env = "LINEAGE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The access file (TOML): each principal's token hash, roles and
    /// workspaces (see README, "Who may do what"). Without one, anyone who
    /// can connect may do anything, so the service then listens on a
    /// loopback address only, unless --allow-unauthenticated.
    #[arg(long, env = "LINEAGE_ACCESS_FILE")]
    pub access_file: Option<PathBuf>,

    /// Serve without an access file on a non-loopback address (a network
    /// that is itself the access control; never the internet).
    #[arg(long, env = "LINEAGE_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,

    /// The gRPC listener's certificate chain (PEM): with --tls-key, gRPC is
    /// served over TLS only.
    #[arg(long, env = "LINEAGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "LINEAGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require every gRPC client to present a certificate signed by this CA
    /// (PEM): mutual TLS. Principals of the access file may then be named
    /// by their certificate's SHA-256 fingerprint.
    #[arg(long, env = "LINEAGE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// JetStream stream holding the events (created if missing).
    #[arg(long, env = "LINEAGE_STREAM", default_value = "LINEAGE_EVENTS")]
    pub stream: String,

    /// Subject prefix producers publish under: `<prefix>.<workspace>`.
    #[arg(long, env = "LINEAGE_SUBJECT_PREFIX", default_value = "lineage.events")]
    pub subject_prefix: String,

    /// JetStream stream holding rejected messages (created if missing).
    #[arg(long, env = "LINEAGE_DLQ_STREAM", default_value = "LINEAGE_DLQ")]
    pub dlq_stream: String,

    /// Subject prefix of the dead-letter stream: `<prefix>.<workspace>`.
    #[arg(
        long,
        env = "LINEAGE_DLQ_SUBJECT_PREFIX",
        default_value = "lineage.dlq"
    )]
    pub dlq_subject_prefix: String,

    /// JetStream stream holding OpenLineage events as they were received
    /// (created if missing): the NATS subjects and `POST /api/v1/lineage`
    /// both publish into it, and `GET /api/v1/events/lineage` reads it.
    #[arg(
        long,
        env = "LINEAGE_OPENLINEAGE_STREAM",
        default_value = "OPENLINEAGE_EVENTS"
    )]
    pub openlineage_stream: String,

    /// Subject prefix of OpenLineage events: `<prefix>.<workspace>`.
    #[arg(
        long,
        env = "LINEAGE_OPENLINEAGE_SUBJECT_PREFIX",
        default_value = "openlineage.events"
    )]
    pub openlineage_subject_prefix: String,

    /// Durable consumer translating OpenLineage events into lineage events.
    /// Replicas share it, so each OpenLineage event is translated once.
    #[arg(
        long,
        env = "LINEAGE_OPENLINEAGE_CONSUMER",
        default_value = "lineaged-openlineage"
    )]
    pub openlineage_consumer: String,

    /// Durable pull consumer name (created if missing).
    #[arg(long, env = "LINEAGE_CONSUMER", default_value = "lineaged")]
    pub consumer: String,

    /// Replicas for the streams this service creates (3 on a cluster).
    #[arg(long, env = "LINEAGE_STREAM_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub stream_replicas: u8,

    /// Most messages fetched and made durable together.
    #[arg(long, env = "LINEAGE_BATCH_SIZE", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub batch_size: u16,

    /// Largest accepted message, in bytes; larger ones are dead-lettered.
    #[arg(long, env = "LINEAGE_MAX_EVENT_BYTES", default_value_t = 1024 * 1024)]
    pub max_event_bytes: usize,

    /// Seconds JetStream waits for an ack before redelivering.
    #[arg(long, env = "LINEAGE_ACK_WAIT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ack_wait_secs: u64,

    /// Traversal depth when a request leaves it 0.
    #[arg(long, env = "LINEAGE_DEFAULT_DEPTH", default_value_t = 64)]
    pub default_depth: u32,

    /// Largest traversal depth a request may ask for (larger is clamped).
    #[arg(long, env = "LINEAGE_MAX_DEPTH", default_value_t = 1024)]
    pub max_depth: u32,

    /// Nodes returned by a traversal when a request leaves `limit` 0.
    #[arg(long, env = "LINEAGE_DEFAULT_LIMIT", default_value_t = 1000)]
    pub default_limit: u32,

    /// Most nodes one traversal may return (larger limits are clamped).
    #[arg(long, env = "LINEAGE_MAX_LIMIT", default_value_t = 20_000)]
    pub max_limit: u32,

    /// Most nodes one traversal may visit, returned or not.
    #[arg(long, env = "LINEAGE_MAX_VISITS", default_value_t = 500_000)]
    pub max_visits: u32,

    /// Page size when a request leaves it 0.
    #[arg(long, env = "LINEAGE_DEFAULT_PAGE_SIZE", default_value_t = 100)]
    pub default_page_size: u32,

    /// Largest page size (larger is an INVALID_ARGUMENT).
    #[arg(long, env = "LINEAGE_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: u32,

    /// Queries computed at once; more wait for a slot.
    #[arg(long, env = "LINEAGE_QUERY_CONCURRENCY", default_value_t = 16)]
    pub query_concurrency: u32,

    /// Seconds a request may take before it is answered DEADLINE_EXCEEDED.
    #[arg(long, env = "LINEAGE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Replays streamed at once; more answer RESOURCE_EXHAUSTED.
    #[arg(long, env = "LINEAGE_REPLAY_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub replay_concurrency: u32,

    /// Impact watches (WatchImpact) streamed at once; more answer
    /// RESOURCE_EXHAUSTED.
    #[arg(long, env = "LINEAGE_WATCH_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub watch_concurrency: u32,

    /// Seconds a replay (or an impact watch) waits for its client to take
    /// the next record (or event) before it ends the stream with
    /// DEADLINE_EXCEEDED (and frees its slot).
    #[arg(long, env = "LINEAGE_REPLAY_STALL_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub replay_stall_secs: u64,

    /// A file holding an ed25519 signing key (the 32-byte secret seed as 64
    /// hex digits, as `lineage keygen` writes it). With it, the service
    /// signs the log's head every --checkpoint-every-secs, and VerifyLog
    /// checks the log against those signed checkpoints.
    #[arg(long, env = "LINEAGE_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,

    /// Seconds between signed checkpoints of the log's head (when it has
    /// moved); one is also signed at shutdown.
    #[arg(long, env = "LINEAGE_CHECKPOINT_EVERY_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub checkpoint_every_secs: u64,
}

/// How `lineaged` writes its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, with its fields as `key=value`.
    Text,
    /// One JSON object per line: time, level, target, message, fields and
    /// the spans it happened in.
    Json,
}

/// How the ingest threads are scheduled against the query threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestPriority {
    /// Nice 10: a tenth of a query thread's weight. Ingest keeps a share
    /// of a saturated machine (lineage stays fresh), and queries may wait
    /// for an ingest thread's time slice (about a millisecond).
    Low,
    /// `SCHED_IDLE`: ingest only uses CPU that queries leave, and a query
    /// thread that wakes takes the core at once. Under a load of queries
    /// that keeps every core busy, ingest nearly stops and falls behind
    /// (durably, in JetStream) until the load eases.
    Idle,
}

impl Config {
    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs)
    }

    /// How the log opens, with the field secret read from its file.
    pub fn log_options(&self) -> Result<lineage_log::LogOptions, String> {
        let field_secret = match &self.field_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    format!("reading the field secret {}: {error}", path.display())
                })?;
                let mut secret = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| {
                    format!("the field secret {} is not 64 hex digits", path.display())
                })?;
                Some(secret)
            }
            None => None,
        };
        Ok(lineage_log::LogOptions {
            cache_bytes: self.log_cache_mb * 1024 * 1024,
            field_secret,
        })
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn checkpoint_every(&self) -> Duration {
        Duration::from_secs(self.checkpoint_every_secs)
    }

    /// Reads the signing key file, if one is configured.
    pub fn load_signing_key(&self) -> Result<Option<ed25519_dalek::SigningKey>, String> {
        let Some(path) = &self.signing_key else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("reading the signing key {}: {error}", path.display()))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
            format!(
                "the signing key {} is not 64 hex digits (a 32-byte ed25519 seed)",
                path.display()
            )
        })?;
        Ok(Some(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Who may call, from the access file; refuses an open service
    /// listening on a non-loopback address unless that was asked for.
    pub fn load_access(&self, listening_on: SocketAddr) -> Result<crate::auth::Access, String> {
        match &self.access_file {
            Some(path) => crate::auth::Access::load(path),
            None => match self.open_service_refusal(listening_on) {
                Some(refusal) => Err(refusal),
                None => Ok(crate::auth::Access::open()),
            },
        }
    }

    /// Why a service without an access file may not listen on
    /// `listening_on`, if it may not.
    fn open_service_refusal(&self, listening_on: SocketAddr) -> Option<String> {
        if listening_on.ip().is_loopback() || self.allow_unauthenticated {
            return None;
        }
        Some(format!(
            "--grpc-addr {listening_on} is not a loopback address and there is no --access-file: \
             anyone who can reach it could read every workspace; give an access file, \
             or --allow-unauthenticated if the network itself is the access control"
        ))
    }

    /// Checks what can be checked without the files the settings name
    /// (`lineaged --check-config`): the NATS server list, and that a
    /// service without an access file listens on loopback only unless
    /// asked to. Clap has checked each value and which settings go
    /// together. The access file, keys and certificates are read only
    /// when the service starts: they may exist only where it runs (a
    /// mounted secret), not where its configuration is checked.
    pub fn check_without_files(&self) -> Result<(), String> {
        crate::nats_connect::server_addrs(&self.nats_url).map_err(|error| error.to_string())?;
        if self.access_file.is_none()
            && let Some(refusal) = self.open_service_refusal(self.grpc_addr)
        {
            return Err(refusal);
        }
        Ok(())
    }

    pub fn replay_stall(&self) -> Duration {
        Duration::from_secs(self.replay_stall_secs)
    }

    /// Defaults for an instance on loopback with its data in `data_dir`.
    pub fn for_tests(nats_url: &str, data_dir: PathBuf) -> Self {
        use clap::{FromArgMatches, Parser};
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        // Parsing no arguments yields the documented defaults, so tests and
        // the binary cannot drift apart. The environment is not consulted
        // here: tests must not pick up an operator's LINEAGE_* variables.
        let matches = <Wrapper as clap::CommandFactory>::command()
            .mut_args(|arg| arg.env(None::<&str>))
            .get_matches_from(["lineaged"]);
        let mut config = Wrapper::from_arg_matches(&matches)
            .expect("defaults always parse")
            .config;
        config.nats_url = nats_url.to_owned();
        config.data_dir = data_dir;
        config.grpc_addr = ([127, 0, 0, 1], 0).into();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_service_listens_on_loopback_only_unless_asked() {
        let mut config = Config::for_tests("nats://127.0.0.1:4222", PathBuf::from("unused"));
        let loopback: SocketAddr = ([127, 0, 0, 1], 50051).into();
        let network: SocketAddr = ([10, 1, 2, 3], 50051).into();
        assert!(config.load_access(loopback).expect("loopback").is_open());
        let refused = config.load_access(network).expect_err("open on a network");
        assert!(refused.contains("--access-file"), "{refused}");
        config.allow_unauthenticated = true;
        assert!(config.load_access(network).expect("asked for").is_open());
        config.access_file = Some(PathBuf::from("/nonexistent/access.toml"));
        let missing = config.load_access(loopback).expect_err("unreadable file");
        assert!(missing.contains("/nonexistent/access.toml"), "{missing}");
    }
}
