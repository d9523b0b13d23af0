//! `lineage`: publish lineage events and ask lineage questions from a shell.
//!
//! This file holds the flags (clap) and the dispatch from a subcommand to a
//! request and a renderer. The pieces live in:
//! - [`entity`]: `kind:name[@version]` and the other things people type;
//! - [`client`]: the gRPC connection, exit codes and error messages;
//! - [`emit`]: publishing JSON lines of events to JetStream (and the one
//!   event `redact` or `promotion set-criteria` builds);
//! - [`render`]: text, JSON, Graphviz and SVG output;
//! - [`runs`]: `runs search`, `runs compare` (and its charts), `runs metric`;
//! - [`promotion`]: `promotion check` and `promotion set-criteria`;
//! - [`watch`]: following what comes to depend on an entity, live;
//! - [`replay`]: the log as JSON lines, and the chain checked client-side;
//! - [`access`]: tokens for the principals of lineaged's access file.

mod access;
mod client;
mod emit;
mod entity;
mod promotion;
mod render;
mod replay;
mod runs;
mod watch;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lineage_core::{EntityKind, Workspace};
use lineage_proto::v1;

use crate::client::{Client, EXIT_FAILURE, UsageError};
use crate::render::text::Direction;

/// The most pages `--all` follows (`runs-using`, `runs search`, `runs
/// metric`), and `runs compare --plot` per run and metric.
const MAX_PAGES: usize = 100;

const AFTER_HELP: &str = "\
Entities are written kind:name[@version], with kinds experiment, run, dataset,
artifact, model, env, compute and endpoint; dataset, model and env need a
version. Examples: dataset:applications@3, model:credit-risk@7, run:r-123,
artifact:r-123/model.pkl, env:sklearn@1.4.2, compute:gpu-a100.

Exit codes: 0 success; 1 failure (and a check that does not hold: verify,
promotion check); 2 not found; 3 invalid argument (from the service); 4
service or NATS unreachable; 64 command-line mistake.";

#[derive(Debug, Parser)]
#[command(
    name = "lineage",
    version,
    about = "Publish lineage events and ask lineage questions.",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// The lineaged gRPC address: host:port or http://host:port.
    #[arg(
        long,
        env = "LINEAGE_GRPC_ADDR",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    grpc_addr: String,

    /// The caller's token, when lineaged has an access file (`lineage token
    /// new` makes one). Prefer --token-file: a variable is inherited by
    /// every child process.
    #[arg(long, env = "LINEAGE_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,

    /// A file holding the caller's token (its first line).
    #[arg(
        long,
        env = "LINEAGE_TOKEN_FILE",
        global = true,
        conflicts_with = "token"
    )]
    token_file: Option<std::path::PathBuf>,

    /// The CA (PEM) that signed lineaged's certificate: speak TLS to it.
    #[arg(long, env = "LINEAGE_TLS_CA", global = true)]
    tls_ca: Option<std::path::PathBuf>,

    /// This client's certificate (PEM), for a lineaged that requires one
    /// (mutual TLS).
    #[arg(long, env = "LINEAGE_TLS_CERT", global = true, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "LINEAGE_TLS_KEY", global = true, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,

    /// NATS server(s) that `emit`, `redact` and `promotion set-criteria`
    /// publish to.
    #[arg(
        long,
        env = "LINEAGE_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    nats_url: String,

    /// The workspace to query (required by every query). For `emit`, only
    /// events of this workspace are accepted.
    #[arg(short = 'w', long, env = "LINEAGE_WORKSPACE", global = true)]
    workspace: Option<String>,

    /// Output format; `dot` is for provenance and impact only.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    format: Format,

    /// Read your writes: queries answer only once the service has applied
    /// the log up to this sequence (waiting up to 30 s; exit 1 with
    /// DEADLINE_EXCEEDED if it has not). 0 answers at once.
    #[arg(long, env = "LINEAGE_MIN_SEQ", default_value_t = 0, global = true)]
    min_seq: u64,

    /// Time travel: answer as the lineage stood when the service had logged
    /// this sequence (e.g. 1200) or had stored everything up to this time
    /// (RFC 3339, e.g. 2026-03-01T00:00:00Z): what it knew then. For get,
    /// provenance, impact, runs-using, trace, export and diff (`runs`,
    /// `promotion check` and `watch` answer as of now).
    #[arg(
        long,
        global = true,
        value_name = "SEQ|TIME",
        conflicts_with = "occurred_by"
    )]
    as_of: Option<String>,

    /// Time travel: answer with only the events that occurred by this time
    /// (RFC 3339): what had happened by then, as known now.
    #[arg(long, global = true, value_name = "TIME")]
    occurred_by: Option<String>,

    /// `emit`, `redact` and `promotion set-criteria` authenticate to NATS
    /// with this credentials file (`.creds`)...
    #[arg(long, env = "LINEAGE_NATS_CREDS", global = true, conflicts_with_all = ["nats_nkey", "nats_user"])]
    nats_creds: Option<std::path::PathBuf>,

    /// ...or this nkey seed file...
    #[arg(
        long,
        env = "LINEAGE_NATS_NKEY",
        global = true,
        conflicts_with = "nats_user"
    )]
    nats_nkey: Option<std::path::PathBuf>,

    /// ...or this user, with --nats-password-file.
    #[arg(
        long,
        env = "LINEAGE_NATS_USER",
        global = true,
        requires = "nats_password_file"
    )]
    nats_user: Option<String>,

    /// The file holding --nats-user's password (its first line).
    #[arg(long, env = "LINEAGE_NATS_PASSWORD_FILE", global = true)]
    nats_password_file: Option<std::path::PathBuf>,

    /// TLS to NATS, trusting this CA (PEM).
    #[arg(long, env = "LINEAGE_NATS_TLS_CA", global = true)]
    nats_tls_ca: Option<std::path::PathBuf>,

    /// A client certificate (PEM) for a broker that verifies clients.
    #[arg(
        long,
        env = "LINEAGE_NATS_TLS_CERT",
        global = true,
        requires = "nats_tls_key"
    )]
    nats_tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --nats-tls-cert.
    #[arg(
        long,
        env = "LINEAGE_NATS_TLS_KEY",
        global = true,
        requires = "nats_tls_cert"
    )]
    nats_tls_key: Option<std::path::PathBuf>,

    /// `emit` (and every command that publishes) publishes to
    /// `<prefix>.<workspace>`.
    #[arg(
        long,
        env = "LINEAGE_SUBJECT_PREFIX",
        default_value = "lineage.events",
        global = true
    )]
    subject_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Readable text.
    Text,
    /// The proto3 JSON mapping of the response.
    Json,
    /// Graphviz (provenance and impact only).
    Dot,
}

/// How much of each entity a list or graph answer carries (the service's
/// `EntityView`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum View {
    /// Names, markers (status, stage, flags) and a few dates: enough for
    /// trees and tables, and much cheaper on large answers.
    Basic,
    /// Every fact of every entity (parameters, metrics, inputs, tags...).
    Full,
}

impl View {
    fn to_wire(self) -> i32 {
        match self {
            View::Basic => v1::EntityView::Basic as i32,
            View::Full => v1::EntityView::Full as i32,
        }
    }
}

/// The `--view` flag of the list and graph commands.
#[derive(Debug, Args)]
struct ViewArgs {
    /// How much of each entity to fetch. By default, what the output shows:
    /// `full` for `--format json` (the whole response), for the
    /// `runs-using` table (it lists the dataset versions each run read) and
    /// for a `runs search` table with columns of metrics, parameters or
    /// tags, `basic` otherwise (trees show names and markers; a trace's
    /// model version and source run are always full).
    #[arg(long, value_enum)]
    view: Option<View>,
}

impl ViewArgs {
    /// The view asked for, or `default` for the output format.
    fn or(&self, default: View) -> i32 {
        self.view.unwrap_or(default).to_wire()
    }
}

/// The view a rendering needs when `--view` is not given: JSON prints the
/// whole response, so it asks for everything, as it always did.
fn default_view(format: Format, text_needs: View) -> View {
    match format {
        Format::Json => View::Full,
        Format::Text | Format::Dot => text_needs,
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish JSON lines of lineage.v1.Event to NATS JetStream.
    ///
    /// Blank lines and lines starting with '#' are skipped. Invalid lines are
    /// reported as `line N: <reason>` and not published; the exit code is
    /// then 1.
    Emit(EmitArgs),
    /// Erase personal data from an entity's events, keeping its lineage:
    /// publishes a RedactionRequested event (as `emit` does) for the
    /// entity, in --workspace.
    ///
    /// Fields: actor, approved_by, approval_notes, reason, error,
    /// description, or tags.<key> for one tag's value. Every event whose
    /// subject is the entity (a run's start and finish, a model version's
    /// registration and stage changes, a flag or tags on it...) loses
    /// those values in queries, replays and exports; the entity then lists
    /// the redaction (`lineage get`).
    Redact(RedactArgs),
    /// Show one entity with its facts.
    Get {
        /// kind:name[@version]
        entity: String,
    },
    /// Everything upstream of an entity: what it came from.
    Provenance(TraversalArgs),
    /// Everything downstream of an entity: what it touched, and which model
    /// versions in production depend on it.
    Impact(TraversalArgs),
    /// The runs that read a dataset version, or any version of a dataset.
    RunsUsing(RunsUsingArgs),
    /// Where a model version came from: source run, inputs, environment,
    /// compute and the whole upstream graph.
    Trace {
        /// The model version: name@version (a `model:` prefix is allowed).
        model: String,

        #[command(flatten)]
        view: ViewArgs,
    },
    /// Ingest progress and the size of the graph.
    Status {
        /// Also compute the digest of the whole projection (a full pass).
        #[arg(long)]
        digest: bool,
    },
    /// Recompute the log's hash chain on the server. Exits 1 when any
    /// record does not hold, or the log ends before what was stored.
    Verify {
        /// The first record to check (from the first record when omitted;
        /// from a later one, the chain is anchored on the stored hash of
        /// the record before it).
        #[arg(long)]
        from: Option<u64>,
        /// The last record to check (the head of the log when omitted).
        #[arg(long)]
        to: Option<u64>,
        /// Check the signed checkpoints against this ed25519 public key (64
        /// hex digits) rather than the service's own.
        #[arg(long, env = "LINEAGE_PUBLIC_KEY")]
        public_key: Option<String>,
    },
    /// What differs between how two model versions were made: upstream
    /// dataset versions, and their source runs' parameters, latest
    /// metrics, code version, environment and compute.
    Diff {
        /// The first model version: name@version (a `model:` prefix is allowed).
        a: String,
        /// The second model version.
        b: String,
        /// How many edges deep to look upstream (the server default when
        /// omitted).
        #[arg(long)]
        depth: Option<u32>,
        /// The first version as of this log sequence or recorded time (as
        /// --as-of), so that one version can be compared with itself: diff
        /// credit-risk@7 credit-risk@7 --a-as-of 1200. Defaults to the
        /// global --as-of / --occurred-by.
        #[arg(long, value_name = "SEQ|TIME", conflicts_with = "a_occurred_by")]
        a_as_of: Option<String>,
        /// The first version by this event time (as --occurred-by).
        #[arg(long, value_name = "TIME")]
        a_occurred_by: Option<String>,
        /// The second version as of this log sequence or recorded time.
        #[arg(long, value_name = "SEQ|TIME", conflicts_with = "b_occurred_by")]
        b_as_of: Option<String>,
        /// The second version by this event time.
        #[arg(long, value_name = "TIME")]
        b_occurred_by: Option<String>,
    },
    /// Export the lineage around an entity as a W3C PROV-JSON document (to
    /// standard output, or --out), signed when the service has a key.
    Export(ExportArgs),
    /// Create an ed25519 key for lineaged to sign checkpoints with
    /// (--signing-key): writes the secret to a new file, readable by its
    /// owner only, and prints the public key that verifies them.
    Keygen {
        /// The file to create; an existing file is never overwritten.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Make a token for a principal of lineaged's access file: writes the
    /// token to a new file, readable by its owner only, and prints the
    /// `[[principal]]` entry to add to the access file (which holds only
    /// the token's hash).
    Token(TokenArgs),
    /// Write the log's records as JSON lines (the JSON mapping of
    /// lineage.v1.LogRecord: chain fields, the event, the original bytes in
    /// base64), whatever --format says. With --workspace, only that
    /// workspace's events.
    Replay(ReplayArgs),
    /// Search, compare and chart the runs of --workspace.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Check a model version against promotion criteria, or set a model's.
    #[command(subcommand)]
    Promotion(PromotionCommand),
    /// Follow, live, every entity that comes to depend on an entity.
    ///
    /// One line per entity as the service applies it: the log sequence, the
    /// entity with its markers, and the path from the root
    /// (`dataset:applications@3 -INPUT-> run:r9`); with --format json, one
    /// JSON object (a lineage.v1.ImpactEvent) per line. Runs until Ctrl-C,
    /// --count entities, or the stream fails (a reader slower than the
    /// service's stall timeout loses its stream: DEADLINE_EXCEEDED). When
    /// it stops, it says which --from-seq resumes it, losing nothing.
    Watch(WatchArgs),
}

impl Command {
    /// The commands that always answer as of now, by name: the time-travel
    /// flags would be ignored there, so they are refused.
    fn answers_only_now(&self) -> Option<&'static str> {
        match self {
            Command::Runs(RunsCommand::Search(_)) => Some("runs search"),
            Command::Runs(RunsCommand::Compare(_)) => Some("runs compare"),
            Command::Runs(RunsCommand::Metric(_)) => Some("runs metric"),
            Command::Promotion(PromotionCommand::Check(_)) => Some("promotion check"),
            Command::Watch(_) => Some("watch"),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Runs matching a filter, ranked and paged: a table of run, experiment,
    /// status and start, and a column per metric (its latest value),
    /// parameter or tag the filter or the order names.
    Search(SearchArgs),
    /// Two to sixteen runs side by side: every field and parameter, those
    /// that differ marked `*`, then each metric's latest and best values
    /// per run, the best run marked ★. --plot charts the metrics' whole
    /// histories in an SVG file.
    Compare(CompareArgs),
    /// Every point of one metric of one run: step, value and time.
    Metric(MetricArgs),
}

#[derive(Debug, Args)]
struct SearchArgs {
    /// Only runs of this experiment (repeat for more).
    #[arg(long = "experiment", value_name = "EXPERIMENT")]
    experiments: Vec<String>,

    /// Terms joined by `and` (README, "Search and rank runs"), e.g.
    /// "metrics.auc > 0.8 and params.lr = '0.01' and uses dataset
    /// 'applications@3'". Every run when omitted.
    #[arg(long, default_value = "")]
    filter: String,

    /// A sort key, most significant first (repeat for more):
    /// metrics.<key>, params.<key>, tags.<key>, started_at, ended_at, name
    /// or run_id, then ASC (the default) or DESC, e.g. "metrics.auc DESC".
    /// Runs without the key come last; ties go by run id.
    #[arg(long = "order-by", value_name = "KEY [ASC|DESC]")]
    order_by: Vec<String>,

    /// Runs per page (the server default when omitted).
    #[arg(long)]
    page_size: Option<u32>,

    /// Continue from a previous page's token (with the same filter and
    /// order).
    #[arg(long, default_value = "")]
    page_token: String,

    /// Follow the pages to the end (at most 100 pages).
    #[arg(long)]
    all: bool,

    #[command(flatten)]
    view: ViewArgs,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The runs (2 to 16 run ids; a `run:` prefix is allowed), compared in
    /// this order.
    #[arg(required = true, num_args = 2..=16, value_name = "RUN")]
    runs: Vec<String>,

    /// A metric for which lower is better (repeat for more). Others are
    /// better higher, except keys whose name says loss, error, rmse, mae,
    /// mse, gap or latency.
    #[arg(long = "lower-is-better", value_name = "KEY")]
    lower_is_better: Vec<String>,

    /// Also chart the metrics' whole histories in this SVG file: one chart
    /// per metric, a line per run. An existing file is replaced, as with
    /// `export --out`.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<std::path::PathBuf>,

    /// Chart only this metric (repeat for more); by default every compared
    /// metric, at most 24.
    #[arg(long = "plot-metric", value_name = "KEY", requires = "plot")]
    plot_metrics: Vec<String>,
}

#[derive(Debug, Args)]
struct MetricArgs {
    /// The run id (a `run:` prefix is allowed).
    run: String,

    /// The metric's key.
    key: String,

    /// Points per page (the server default when omitted).
    #[arg(long)]
    page_size: Option<u32>,

    /// Continue from a previous page's token.
    #[arg(long, default_value = "")]
    page_token: String,

    /// Follow the pages to the end (at most 100 pages).
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Subcommand)]
enum PromotionCommand {
    /// Whether a model version meets promotion criteria: its model's
    /// (`promotion set-criteria`), or --criteria. Prints PASS or FAIL, then
    /// each criterion with its explanation and the evidence it rests on.
    ///
    /// Exit codes: 0 when the version meets them; 1 when it does not (so a
    /// release pipeline can gate on it), or when the model has no criteria
    /// and --criteria is not given; 2 for an unknown model version; 3 for
    /// criteria that do not parse.
    Check(CheckArgs),
    /// Set the criteria every production version of a model must meet,
    /// replacing its earlier ones: publishes a PromotionCriteriaSet event
    /// (as `emit` does) in --workspace, and prints its event id and stream
    /// sequence.
    ///
    /// Terms are joined by `and`: the search filter's terms, evaluated on
    /// the version's source run (`metrics.precision >= 0.9`, `status =
    /// 'COMPLETED'`), and `no flagged upstream`, `approved` (the
    /// registration names an approver) and `stages approved` (every stage
    /// change names one). Criteria that do not parse are dead-lettered by
    /// the service.
    SetCriteria(SetCriteriaArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The model version: name@version (a `model:` prefix is allowed).
    model: String,

    /// Check these criteria instead of the model's, e.g.
    /// "metrics.precision >= 0.9 and no flagged upstream".
    #[arg(long)]
    criteria: Option<String>,
}

#[derive(Debug, Args)]
struct SetCriteriaArgs {
    /// The model (every version of it; a `model:` prefix is allowed).
    model: String,

    /// The criteria, e.g. "metrics.precision >= 0.9 and no flagged
    /// upstream and approved".
    criteria: String,

    /// Who sets them, recorded with the event (its actor).
    #[arg(long, env = "LINEAGE_ACTOR", default_value = "")]
    actor: String,

    /// The event id, to retry an earlier attempt without a second event (a
    /// fresh one is made and printed when omitted).
    #[arg(long)]
    event_id: Option<String>,

    /// After publishing, wait until the service has handled it (as `emit
    /// --wait`); then `--min-seq` with the printed sequence checks against
    /// the new criteria.
    #[arg(long)]
    wait: bool,

    /// Seconds `--wait` waits before failing.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    wait_timeout: u64,
}

#[derive(Debug, Args)]
struct WatchArgs {
    /// The root: kind:name[@version], e.g. dataset:applications@3.
    entity: String,

    /// How many edges deep to follow (the server default, also its
    /// maximum, when omitted).
    #[arg(long, visible_alias = "max-depth")]
    depth: Option<u32>,

    /// Report what became downstream after this log sequence: 0 (the
    /// default) reports everything downstream now, then what comes. A
    /// watch that stops says which sequence resumes it.
    #[arg(long, default_value_t = 0)]
    from_seq: u64,

    /// Stop after this many entities.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The principal's name, as the service's logs and errors show it.
    #[arg(long)]
    name: String,
    /// Its roles: reader (queries), auditor (replay, verify, export),
    /// admin (status), producer (OpenLineage events over HTTP).
    #[arg(long = "role", required = true, value_parser = ["reader", "auditor", "admin", "producer"])]
    roles: Vec<String>,
    /// The workspaces it may read; `*` for every workspace.
    #[arg(long = "workspace-scope", required = true)]
    workspaces: Vec<String>,
    /// The file to write the token to; an existing file is never
    /// overwritten.
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The root: kind:name[@version].
    entity: String,

    /// Write W3C PROV-JSON (the one export format; asked for by name so a
    /// script says what it gets).
    #[arg(long, required = true)]
    prov: bool,

    /// Walk downstream (what the root touched) instead of upstream (what
    /// it came from).
    #[arg(long)]
    downstream: bool,

    /// How many edges deep to go (the server default when omitted).
    #[arg(long)]
    depth: Option<u32>,

    /// The most entities to export (the server default when omitted).
    #[arg(long)]
    limit: Option<u32>,

    /// Write the document to this file and, when the service signed it,
    /// `<file>.sig` beside it: the public key and the signature, in hex.
    #[arg(long)]
    out: Option<std::path::PathBuf>,

    /// Check the document's signature against this ed25519 public key (64
    /// hex digits); exit 1 if it is unsigned or does not verify.
    #[arg(long, env = "LINEAGE_PUBLIC_KEY")]
    public_key: Option<String>,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The first record (the first of the log when omitted). To resume an
    /// interrupted replay, the last sequence received plus one.
    #[arg(long)]
    from: Option<u64>,

    /// The last record (the head of the log when the replay starts, when
    /// omitted).
    #[arg(long)]
    to: Option<u64>,

    /// Only records the log stored at or after this time (RFC 3339, e.g.
    /// 2026-03-01T00:00:00Z).
    #[arg(long)]
    since: Option<String>,

    /// Only records the log stored at or before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,

    /// Only events stating these kinds of fact: experiment_created,
    /// run_started, run_finished, params_logged, metrics_logged, tags_set,
    /// dataset_version_registered, run_inputs_declared, artifact_logged,
    /// model_registered, model_stage_changed, model_deployed,
    /// entity_flagged, redaction_requested.
    #[arg(long, value_delimiter = ',', value_parser = parse_payload_kind_arg)]
    kind: Vec<v1::PayloadKind>,

    /// Only events that name this entity (kind:name[@version], in
    /// --workspace), as their subject or in a reference.
    #[arg(long)]
    entity: Option<String>,

    /// Recompute the hash chain here from the records received (digests
    /// from the original bytes, or from what a redaction left, each hash,
    /// each link) and print the
    /// outcome to standard error; exit 1 at the first record that does not
    /// hold. Needs every record of the range: not with --kind, --entity or
    /// --workspace.
    #[arg(long)]
    verify: bool,

    /// With --verify: the service's ed25519 public key (64 hex digits). The
    /// signed checkpoints the records carry must be signed by it and vouch
    /// for the hashes the chain reaches, and the replay must reach the
    /// newest checkpoint the service reports (a log cut short, or rewritten
    /// to its end with its hashes recomputed, fails here).
    /// Without --verify (as when only LINEAGE_PUBLIC_KEY sets it), unused.
    #[arg(long, env = "LINEAGE_PUBLIC_KEY")]
    public_key: Option<String>,

    /// With --verify: check a replay saved earlier (JSON lines, as this
    /// command writes them) instead of asking the service; nothing is
    /// written to standard output.
    #[arg(long, requires = "verify")]
    input: Option<std::path::PathBuf>,

    /// With --verify and --public-key: a signed checkpoint kept from
    /// earlier (the proto3 JSON of a SignedCheckpoint, as `lineage --format
    /// json status` prints `last_checkpoint`), which the replay must reach
    /// and match, in place of the newest one the service reports. This is
    /// how a saved replay is checked for having been cut short.
    #[arg(long, requires_all = ["verify", "public_key"])]
    expect_checkpoint: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct EmitArgs {
    /// A file of JSON lines, or `-` for standard input.
    file: String,

    /// After publishing, wait until the service has handled (stored,
    /// recognised as duplicate, or dead-lettered) as many messages as
    /// JetStream accepted as new. The counters span all workspaces, so with
    /// other producers active this is "at least N messages", not these.
    #[arg(long)]
    wait: bool,

    /// Seconds `--wait` waits before failing.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    wait_timeout: u64,
}

#[derive(Debug, Args)]
struct RedactArgs {
    /// The entity: kind:name[@version], e.g. run:r-123 or model:credit-risk@7.
    entity: String,

    /// A field to erase (repeat for more): actor, approved_by,
    /// approval_notes, reason, error, description, tags.<key>.
    #[arg(long = "field", required = true, value_parser = parse_field_arg)]
    fields: Vec<String>,

    /// Why (a ticket, a legal basis): recorded with the redaction.
    #[arg(long)]
    reason: String,

    /// Who asks, recorded with the redaction (the event's actor).
    #[arg(long, env = "LINEAGE_ACTOR", default_value = "")]
    actor: String,

    /// The event id, to retry an earlier attempt without redacting twice
    /// (a fresh one is made and printed when omitted).
    #[arg(long)]
    event_id: Option<String>,

    /// After publishing, wait until the service has handled it (as `emit
    /// --wait`); then `--min-seq` with the printed sequence reads the
    /// redacted entity.
    #[arg(long)]
    wait: bool,

    /// Seconds `--wait` waits before failing.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    wait_timeout: u64,
}

fn parse_field_arg(raw: &str) -> Result<String, String> {
    lineage_core::redaction::PersonalField::parse(raw).map(|field| field.path())
}

#[derive(Debug, Args)]
struct TraversalArgs {
    /// The root: kind:name[@version].
    entity: String,

    /// How many edges deep to go (the server default when omitted).
    #[arg(long)]
    depth: Option<u32>,

    /// The most nodes to return (the server default when omitted).
    #[arg(long)]
    limit: Option<u32>,

    /// Follow only these edge kinds: input, produced, derived, registered,
    /// packaged, deployed, ran_in, ran_on, parent_of, member_of.
    #[arg(long, value_delimiter = ',', value_parser = parse_edge_kind_arg)]
    edge_kinds: Vec<v1::EdgeKind>,

    /// Return only nodes of these kinds (the traversal still passes through
    /// the others).
    #[arg(long, value_delimiter = ',', value_parser = parse_node_kind_arg)]
    node_kinds: Vec<EntityKind>,

    #[command(flatten)]
    view: ViewArgs,
}

#[derive(Debug, Args)]
struct RunsUsingArgs {
    /// The dataset, with a version for one version only: applications@3.
    dataset: String,

    /// Runs per page (the server default when omitted).
    #[arg(long)]
    page_size: Option<u32>,

    /// Continue from a previous page's token.
    #[arg(long, default_value = "")]
    page_token: String,

    /// Follow the pages to the end (at most 100 pages).
    #[arg(long)]
    all: bool,

    #[command(flatten)]
    view: ViewArgs,
}

fn parse_payload_kind_arg(raw: &str) -> Result<v1::PayloadKind, String> {
    match v1::PayloadKind::from_str_name(&raw.to_ascii_uppercase()) {
        Some(v1::PayloadKind::Unspecified) | None => {
            Err(format!("{raw:?} is not a kind of event payload"))
        }
        Some(kind) => Ok(kind),
    }
}

fn parse_edge_kind_arg(raw: &str) -> Result<v1::EdgeKind, entity::ParseError> {
    entity::parse_edge_kind(raw)
}

fn parse_node_kind_arg(raw: &str) -> Result<EntityKind, entity::ParseError> {
    entity::parse_node_kind(raw)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(client::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", client::describe(&error));
            ExitCode::from(client::exit_code(&error))
        }
    }
}

/// Runs one subcommand; errors carry their exit code (see [`client`]).
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    let dot_allowed = matches!(cli.command, Command::Provenance(_) | Command::Impact(_));
    if global.format == Format::Dot && !dot_allowed {
        return Err(UsageError(
            "--format dot is only for provenance and impact; use text or json".to_owned(),
        )
        .into());
    }
    if let Some(command) = cli.command.answers_only_now()
        && (global.as_of.is_some() || global.occurred_by.is_some())
    {
        return Err(UsageError(format!(
            "{command} answers as of now: --as-of and --occurred-by are not for it"
        ))
        .into());
    }
    match &cli.command {
        Command::Emit(args) => run_emit(global, args).await,
        Command::Redact(args) => run_redact(global, args).await,
        Command::Get { entity: raw } => {
            let workspace = entity::workspace(global.workspace.as_deref())?;
            let key = entity::parse_entity(&workspace, raw)?;
            let mut grpc = global.connect().await?;
            let answer = grpc
                .get_entity(v1::GetEntityRequest {
                    entity: Some(entity::to_wire(&key)),
                    min_seq: global.min_seq,
                    as_of: global.as_of()?,
                })
                .await?
                .into_inner();
            write_stdout(&match global.format {
                Format::Json => render::json(&serde_json::to_value(&answer)?)?,
                _ => render::text::entity(&answer),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Provenance(args) => run_traversal(global, args, Direction::Upstream).await,
        Command::Impact(args) => run_traversal(global, args, Direction::Downstream).await,
        Command::RunsUsing(args) => run_runs_using(global, args).await,
        Command::Trace { model, view } => {
            let workspace = entity::workspace(global.workspace.as_deref())?;
            let (name, version) = entity::parse_model_spec(model)?;
            let root = v1::EntityRef {
                workspace: workspace.as_str().to_owned(),
                kind: v1::EntityKind::ModelVersion as i32,
                name: name.clone(),
                version: version.clone(),
            };
            let mut grpc = global.connect().await?;
            let answer = grpc
                .trace_model(v1::TraceModelRequest {
                    workspace: workspace.as_str().to_owned(),
                    model: name,
                    version,
                    view: view.or(default_view(global.format, View::Basic)),
                    // The text and DOT renderings name an edge's ends.
                    compact_edges: false,
                    min_seq: global.min_seq,
                    as_of: global.as_of()?,
                })
                .await?
                .into_inner();
            write_stdout(&match global.format {
                Format::Json => render::json(&serde_json::to_value(&answer)?)?,
                _ => render::text::trace(&root, &answer),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { digest } => {
            let mut grpc = global.connect().await?;
            let answer = grpc
                .get_status(v1::GetStatusRequest {
                    include_state_digest: *digest,
                })
                .await?
                .into_inner();
            write_stdout(&match global.format {
                Format::Json => render::json(&serde_json::to_value(&answer)?)?,
                _ => render::text::status(&answer),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            from,
            to,
            public_key,
        } => {
            let mut grpc = global.connect().await?;
            let answer = grpc
                .verify_log(v1::VerifyLogRequest {
                    from_seq: from.unwrap_or(0),
                    to_seq: to.unwrap_or(0),
                    public_key: public_key.clone().unwrap_or_default(),
                })
                .await?
                .into_inner();
            write_stdout(&match global.format {
                Format::Json => render::json(&serde_json::to_value(&answer)?)?,
                _ => render::text::verification(&answer),
            })?;
            Ok(if answer.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Replay(args) => run_replay(global, args).await,
        Command::Export(args) => run_export(global, args).await,
        Command::Diff {
            a,
            b,
            depth,
            a_as_of,
            a_occurred_by,
            b_as_of,
            b_occurred_by,
        } => {
            let side = |flags: (&str, &Option<String>), occurred: (&str, &Option<String>)| {
                if flags.1.is_none() && occurred.1.is_none() {
                    global.as_of()
                } else {
                    as_of(
                        (flags.0, flags.1.as_deref()),
                        (occurred.0, occurred.1.as_deref()),
                    )
                }
            };
            let a_as_of = side(("--a-as-of", a_as_of), ("--a-occurred-by", a_occurred_by))?;
            let b_as_of = side(("--b-as-of", b_as_of), ("--b-occurred-by", b_occurred_by))?;
            let workspace = entity::workspace(global.workspace.as_deref())?;
            let model = |spec: &str| -> anyhow::Result<v1::EntityRef> {
                let (name, version) = entity::parse_model_spec(spec)?;
                Ok(v1::EntityRef {
                    workspace: workspace.as_str().to_owned(),
                    kind: v1::EntityKind::ModelVersion as i32,
                    name,
                    version,
                })
            };
            let mut grpc = global.connect().await?;
            let answer = grpc
                .diff_lineage(v1::DiffLineageRequest {
                    a: Some(model(a)?),
                    b: Some(model(b)?),
                    max_depth: depth.unwrap_or(0),
                    min_seq: global.min_seq,
                    a_as_of,
                    b_as_of,
                })
                .await?
                .into_inner();
            write_stdout(&match global.format {
                Format::Json => render::json(&serde_json::to_value(&answer)?)?,
                _ => render::text::diff(&answer),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(args) => {
            let entry =
                access::generate_token(&args.name, &args.roles, &args.workspaces, &args.out)?;
            write_stdout(&entry)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out } => {
            let public_key = replay::generate_key(out)?;
            write_stdout(&format!("{public_key}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs(RunsCommand::Search(args)) => runs::search(global, args).await,
        Command::Runs(RunsCommand::Compare(args)) => runs::compare(global, args).await,
        Command::Runs(RunsCommand::Metric(args)) => runs::metric(global, args).await,
        Command::Promotion(PromotionCommand::Check(args)) => promotion::check(global, args).await,
        Command::Promotion(PromotionCommand::SetCriteria(args)) => {
            promotion::set_criteria(global, args).await
        }
        Command::Watch(args) => watch::watch(global, args).await,
    }
}

async fn run_replay(global: &GlobalArgs, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let workspace = global
        .workspace
        .as_deref()
        .map(|raw| entity::workspace(Some(raw)))
        .transpose()?;
    if args.verify && (workspace.is_some() || !args.kind.is_empty() || args.entity.is_some()) {
        return Err(UsageError(
            "--verify checks the link between each record and the one before, so it needs \
             every record: drop --workspace, --kind and --entity"
                .to_owned(),
        )
        .into());
    }
    let entity = match &args.entity {
        Some(raw) => {
            let workspace = entity::workspace(global.workspace.as_deref())?;
            Some(entity::to_wire(&entity::parse_entity(&workspace, raw)?))
        }
        None => None,
    };
    let request = v1::ReplayRequest {
        from_seq: args.from.unwrap_or(0),
        to_seq: args.to.unwrap_or(0),
        from_time: args
            .since
            .as_deref()
            .map(|raw| parse_time("--since", raw))
            .transpose()?,
        to_time: args
            .until
            .as_deref()
            .map(|raw| parse_time("--until", raw))
            .transpose()?,
        workspaces: workspace.iter().map(|ws| ws.as_str().to_owned()).collect(),
        kinds: args.kind.iter().map(|&kind| kind as i32).collect(),
        entity,
    };
    let mut verifier = match (&args.public_key, args.verify) {
        (Some(raw), true) => Some(replay::ChainVerifier::with_key(
            lineage_proto::validate::public_key("--public-key", raw)
                .map_err(|error| UsageError(error.to_string()))?,
        )),
        (None, true) => Some(replay::ChainVerifier::default()),
        (_, false) => None,
    };
    if let (Some(verifier), Some(path)) = (&mut verifier, &args.expect_checkpoint) {
        let kept = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("reading {}: {error}", path.display()))?;
        let kept: v1::SignedCheckpoint = serde_json::from_str(&kept).map_err(|error| {
            UsageError(format!(
                "{} is not the JSON of a lineage.v1.SignedCheckpoint: {error}",
                path.display()
            ))
        })?;
        if let Err(broken) = verifier.expect_checkpoint(&kept) {
            eprintln!("replay --verify: {broken}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    }
    let mut records = match &args.input {
        Some(path) => replay::Records::saved(path)?,
        None => {
            let mut grpc = global.connect().await?;
            // The newest checkpoint before the replay starts: the replay,
            // which ends at the head it starts at, must reach it.
            if let Some(verifier) = &mut verifier
                && args.expect_checkpoint.is_none()
                // A replay cut at a record or a time may end before it.
                && args.to.is_none()
                && args.until.is_none()
                && let Some(checkpoint) = grpc
                    .get_status(v1::GetStatusRequest::default())
                    .await?
                    .into_inner()
                    .last_checkpoint
                && let Err(broken) = verifier.expect_checkpoint(&checkpoint)
            {
                eprintln!("replay --verify: {broken}");
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
            replay::Records::Streamed(grpc.replay(request).await?.into_inner())
        }
    };
    // A saved replay is only checked; a live one is written out as well.
    let mut out = args
        .input
        .is_none()
        .then(|| replay::JsonLines::new(std::io::stdout().lock()));
    while let Some(record) = records.next().await? {
        if let Some(verifier) = &mut verifier
            && let Err(broken) = verifier.check(&record)
        {
            if let Some(out) = &mut out {
                out.flush()?;
            }
            eprintln!("replay --verify: {broken}");
            eprintln!("{}", verifier.finish().summary());
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        if let Some(out) = &mut out {
            out.write(&record)?;
            if out.closed() {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    if let Some(out) = &mut out {
        out.flush()?;
    }
    if let Some(verifier) = &verifier {
        if let Err(broken) = verifier.end() {
            eprintln!("replay --verify: {broken}");
            eprintln!("{}", verifier.finish().summary());
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        eprintln!("{}", verifier.finish().summary());
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_export(global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let root = entity::to_wire(&entity::parse_entity(&workspace, &args.entity)?);
    let trusted = args
        .public_key
        .as_deref()
        .map(|raw| lineage_proto::validate::public_key("--public-key", raw))
        .transpose()
        .map_err(|error| UsageError(error.to_string()))?;
    let mut grpc = global.connect().await?;
    let answer = grpc
        .export_prov(v1::ExportProvRequest {
            root: Some(root),
            direction: if args.downstream {
                v1::ProvDirection::Downstream
            } else {
                v1::ProvDirection::Upstream
            } as i32,
            max_depth: args.depth.unwrap_or(0),
            limit: args.limit.unwrap_or(0),
            min_seq: global.min_seq,
            as_of: global.as_of()?,
        })
        .await?
        .into_inner();
    if let Some(trusted) = &trusted {
        if let Err(problem) = replay::check_signature(&answer, trusted) {
            eprintln!("export: {problem}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        eprintln!("export: the signature verifies under {}", answer.public_key);
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, &answer.document)
                .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
            if !answer.signature.is_empty() {
                let mut sig = path.clone().into_os_string();
                sig.push(".sig");
                std::fs::write(
                    &sig,
                    format!("{} {}\n", answer.public_key, answer.signature),
                )
                .map_err(|error| anyhow::anyhow!("writing {sig:?}: {error}"))?;
            }
        }
        None => write_stdout(&format!("{}\n", answer.document))?,
    }
    if answer.truncated {
        eprintln!("export: a depth or size bound cut the subgraph (--depth, --limit)");
    }
    Ok(ExitCode::SUCCESS)
}

/// An RFC 3339 time, as the proto3 JSON mapping writes timestamps.
/// The moment `--as-of` (a log sequence or a recorded time) or
/// `--occurred-by` (an event time) names, if either is given.
fn as_of(
    (as_of_flag, as_of): (&str, Option<&str>),
    (occurred_flag, occurred_by): (&str, Option<&str>),
) -> Result<Option<v1::AsOf>, UsageError> {
    let point = match (as_of, occurred_by) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(UsageError(format!(
                "{as_of_flag} and {occurred_flag} are two kinds of moment; give one"
            )));
        }
        (Some(raw), None) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            v1::as_of::Point::Seq(raw.parse().map_err(|_| {
                UsageError(format!(
                    "{as_of_flag} {raw}: a log sequence is at most {}",
                    u64::MAX
                ))
            })?)
        }
        (Some(raw), None) => v1::as_of::Point::RecordedAt(parse_time(as_of_flag, raw)?),
        (None, Some(raw)) => v1::as_of::Point::OccurredBy(parse_time(occurred_flag, raw)?),
    };
    Ok(Some(v1::AsOf { point: Some(point) }))
}

impl GlobalArgs {
    /// The caller's token, from --token or --token-file.
    fn token(&self) -> anyhow::Result<Option<String>> {
        match (&self.token, &self.token_file) {
            (Some(token), _) => Ok(Some(token.trim().to_owned())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    UsageError(format!("reading --token-file {}: {error}", path.display()))
                })?;
                let token = text.lines().next().unwrap_or_default().trim();
                if token.is_empty() {
                    return Err(
                        UsageError(format!("--token-file {} is empty", path.display())).into(),
                    );
                }
                Ok(Some(token.to_owned()))
            }
            (None, None) => Ok(None),
        }
    }

    /// The TLS to speak to lineaged, if any file says so.
    fn tls(&self) -> Result<Option<tonic::transport::ClientTlsConfig>, UsageError> {
        client::client_tls(
            self.tls_ca.as_deref(),
            self.tls_cert.as_deref().zip(self.tls_key.as_deref()),
        )
    }

    /// Who the commands that publish (`emit`, `redact`, `promotion
    /// set-criteria`) are to NATS.
    fn nats_identity(&self) -> emit::NatsIdentity {
        emit::NatsIdentity {
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            user: self.nats_user.clone(),
            password_file: self.nats_password_file.clone(),
            tls_ca: self.nats_tls_ca.clone(),
            tls_cert: self.nats_tls_cert.clone(),
            tls_key: self.nats_tls_key.clone(),
        }
    }

    /// Connects to lineaged as the caller.
    async fn connect(&self) -> anyhow::Result<Client> {
        client::connect(&self.grpc_addr, self.token()?.as_deref(), self.tls()?).await
    }

    /// The moment the global time-travel flags name.
    fn as_of(&self) -> Result<Option<v1::AsOf>, UsageError> {
        as_of(
            ("--as-of", self.as_of.as_deref()),
            ("--occurred-by", self.occurred_by.as_deref()),
        )
    }
}

fn parse_time(flag: &str, raw: &str) -> Result<pbjson_types::Timestamp, UsageError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        UsageError(format!(
            "{flag} {raw:?} is not an RFC 3339 time such as 2026-03-01T00:00:00Z"
        ))
    })
}

async fn run_emit(global: &GlobalArgs, args: &EmitArgs) -> anyhow::Result<ExitCode> {
    // The workspace is optional here: events name their own.
    let workspace = global
        .workspace
        .as_deref()
        .map(|raw| entity::workspace(Some(raw)))
        .transpose()?;
    let token = global.token()?;
    let tls = global.tls()?;
    let options = emit::EmitOptions {
        input: emit::Input::from_arg(&args.file),
        nats_url: global.nats_url.clone(),
        nats_identity: global.nats_identity(),
        subject_prefix: global.subject_prefix.clone(),
        workspace,
        wait: args.wait.then(|| emit::WaitOptions {
            grpc_addr: global.grpc_addr.clone(),
            token,
            tls,
            timeout: Duration::from_secs(args.wait_timeout),
        }),
    };
    let report = emit::emit(options).await?;
    match global.format {
        Format::Json => write_stdout(&render::json(&report.to_json())?)?,
        _ => write_stdout(&format!("{}\n", report.summary()))?,
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

async fn run_redact(global: &GlobalArgs, args: &RedactArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let key = entity::parse_entity(&workspace, &args.entity)?;
    let request = emit::RedactionRequest {
        workspace: workspace.clone(),
        entity: entity::to_wire(&key),
        fields: args.fields.clone(),
        reason: args.reason.clone(),
        actor: args.actor.clone(),
        event_id: args.event_id.clone(),
    };
    let event = emit::redaction_event(&request, std::time::SystemTime::now());
    let what = format!("the redaction of {}", entity::display_ref(&request.entity));
    let wait = args.wait.then_some(args.wait_timeout);
    let report = publish_one(global, workspace, &event, what, wait).await?;
    match global.format {
        Format::Json => {
            let mut json = report.to_json();
            json["event_id"] = serde_json::Value::String(event.event_id.clone());
            write_stdout(&render::json(&json)?)?
        }
        _ => write_stdout(&format!(
            "redaction {} of {} ({}): {}\n",
            event.event_id,
            entity::display_ref(&request.entity),
            request.fields.join(", "),
            report.summary()
        ))?,
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// Publishes one event the CLI built (`redact`, `promotion set-criteria`)
/// as `emit` publishes a line, in `workspace`; with `wait_secs`, waits as
/// `emit --wait` does for that long.
async fn publish_one(
    global: &GlobalArgs,
    workspace: Workspace,
    event: &v1::Event,
    what: String,
    wait_secs: Option<u64>,
) -> anyhow::Result<emit::EmitReport> {
    let token = global.token()?;
    let tls = global.tls()?;
    let options = emit::EmitOptions {
        input: emit::Input::Memory {
            lines: serde_json::to_vec(event)?,
            what,
        },
        nats_url: global.nats_url.clone(),
        nats_identity: global.nats_identity(),
        subject_prefix: global.subject_prefix.clone(),
        workspace: Some(workspace),
        wait: wait_secs.map(|secs| emit::WaitOptions {
            grpc_addr: global.grpc_addr.clone(),
            token,
            tls,
            timeout: Duration::from_secs(secs),
        }),
    };
    emit::emit(options).await
}

async fn run_traversal(
    global: &GlobalArgs,
    args: &TraversalArgs,
    direction: Direction,
) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let key = entity::parse_entity(&workspace, &args.entity)?;
    let root = entity::to_wire(&key);
    let request = v1::TraversalRequest {
        root: Some(root.clone()),
        max_depth: args.depth.unwrap_or(0),
        edge_kinds: args.edge_kinds.iter().map(|&kind| kind as i32).collect(),
        node_kinds: args
            .node_kinds
            .iter()
            .map(|&kind| lineage_proto::convert::entity_kind(kind) as i32)
            .collect(),
        limit: args.limit.unwrap_or(0),
        view: args.view.or(default_view(global.format, View::Basic)),
        // The text and DOT renderings name an edge's ends.
        compact_edges: false,
        min_seq: global.min_seq,
        as_of: global.as_of()?,
    };
    let mut grpc: Client = global.connect().await?;
    let answer = match direction {
        Direction::Upstream => grpc.provenance(request).await?,
        Direction::Downstream => grpc.impact(request).await?,
    }
    .into_inner();
    write_stdout(&match global.format {
        Format::Json => render::json(&serde_json::to_value(&answer)?)?,
        Format::Dot => render::dot::subgraph(&root, &answer),
        Format::Text => render::text::subgraph(&root, &answer, direction),
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn run_runs_using(global: &GlobalArgs, args: &RunsUsingArgs) -> anyhow::Result<ExitCode> {
    let workspace: Workspace = entity::workspace(global.workspace.as_deref())?;
    let (dataset, version) = entity::parse_dataset_spec(&args.dataset)?;
    let mut grpc = global.connect().await?;
    let mut request = v1::RunsUsingDatasetRequest {
        workspace: workspace.as_str().to_owned(),
        dataset: dataset.clone(),
        version: version.unwrap_or_default(),
        page_size: args.page_size.unwrap_or(0),
        page_token: args.page_token.clone(),
        // The table shows which versions of the dataset each run read,
        // which only the full view carries.
        view: args.view.or(default_view(global.format, View::Full)),
        min_seq: global.min_seq,
        as_of: global.as_of()?,
    };
    let mut combined = v1::RunsUsingDatasetResponse::default();
    for page in 0..MAX_PAGES {
        let answer = grpc.runs_using_dataset(request.clone()).await?.into_inner();
        combined.runs.extend(answer.runs);
        combined.next_page_token = answer.next_page_token;
        combined.applied_seq = answer.applied_seq;
        if !args.all || combined.next_page_token.is_empty() {
            break;
        }
        if page + 1 == MAX_PAGES {
            eprintln!(
                "warning: stopped after {MAX_PAGES} pages; continue with --page-token {}",
                combined.next_page_token
            );
            break;
        }
        request.page_token = combined.next_page_token.clone();
    }
    write_stdout(&match global.format {
        Format::Json => render::json(&serde_json::to_value(&combined)?)?,
        _ => render::text::runs_table(&dataset, &combined.runs, &combined.next_page_token),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the answer through a locked stdout. A closed pipe (`| head`) is
/// not an error: the reader has all it wanted.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lineage").chain(args.iter().copied()))
    }

    #[test]
    fn redact_takes_repeated_fields_and_refuses_unknown_ones() {
        let cli = parse(&[
            "-w",
            "credit-lender",
            "redact",
            "model:credit-risk@7",
            "--field",
            "approved_by",
            "--field",
            "tags.owner",
            "--reason",
            "DSR-42",
            "--wait",
        ])
        .expect("parses");
        let Command::Redact(args) = cli.command else {
            panic!("not redact: {:?}", cli.command);
        };
        assert_eq!(args.entity, "model:credit-risk@7");
        assert_eq!(args.fields, ["approved_by", "tags.owner"]);
        assert_eq!(args.reason, "DSR-42");
        assert!(args.wait);

        let unknown = parse(&["redact", "run:r1", "--field", "email", "--reason", "x"])
            .expect_err("email is not a personal field");
        assert!(
            unknown.to_string().contains("not a personal field"),
            "{unknown}"
        );
        assert!(
            parse(&["redact", "run:r1", "--reason", "x"]).is_err(),
            "a field is required"
        );
        assert!(
            parse(&["redact", "run:r1", "--field", "actor"]).is_err(),
            "a reason is required"
        );
    }

    #[test]
    fn the_flags_hold_together() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn runs_promotion_and_watch_parse() {
        let search = parse(&[
            "runs",
            "search",
            "--experiment",
            "credit-risk-2026",
            "--filter",
            "metrics.auc > 0.8",
            "--order-by",
            "metrics.auc DESC",
            "--order-by",
            "run_id",
            "--all",
        ])
        .expect("parses");
        let Command::Runs(RunsCommand::Search(args)) = search.command else {
            panic!("not runs search: {:?}", search.command);
        };
        assert_eq!(args.order_by, ["metrics.auc DESC", "run_id"]);
        assert!(args.all);
        // `runs-using` is still its own command beside the `runs` group.
        assert!(matches!(
            parse(&["runs-using", "applications@3"])
                .expect("parses")
                .command,
            Command::RunsUsing(_)
        ));

        let compare = parse(&[
            "runs",
            "compare",
            "r-1",
            "run:r-2",
            "--plot",
            "out.svg",
            "--plot-metric",
            "auc",
            "--lower-is-better",
            "ks",
        ])
        .expect("parses");
        let Command::Runs(RunsCommand::Compare(args)) = compare.command else {
            panic!("not runs compare");
        };
        assert_eq!(args.runs, ["r-1", "run:r-2"]);
        assert_eq!(args.plot_metrics, ["auc"]);
        assert!(
            parse(&["runs", "compare", "r-1"]).is_err(),
            "two runs at least"
        );
        let seventeen: Vec<String> = (0..17).map(|i| format!("r-{i}")).collect();
        let mut too_many = vec!["runs", "compare"];
        too_many.extend(seventeen.iter().map(String::as_str));
        assert!(parse(&too_many).is_err(), "sixteen at most");
        assert!(
            parse(&["runs", "compare", "r-1", "r-2", "--plot-metric", "auc"]).is_err(),
            "--plot-metric needs --plot"
        );

        let check = parse(&[
            "promotion",
            "check",
            "credit-risk@7",
            "--criteria",
            "approved",
        ])
        .expect("parses");
        let Command::Promotion(PromotionCommand::Check(args)) = check.command else {
            panic!("not promotion check");
        };
        assert_eq!(args.criteria.as_deref(), Some("approved"));
        let set = parse(&[
            "promotion",
            "set-criteria",
            "credit-risk",
            "metrics.precision >= 0.9",
            "--wait",
        ])
        .expect("parses");
        let Command::Promotion(PromotionCommand::SetCriteria(args)) = set.command else {
            panic!("not promotion set-criteria");
        };
        assert_eq!(args.criteria, "metrics.precision >= 0.9");

        let watch = parse(&[
            "watch",
            "dataset:applications@3",
            "--max-depth",
            "4",
            "--from-seq",
            "120",
            "--count",
            "2",
        ])
        .expect("parses");
        let Command::Watch(args) = watch.command else {
            panic!("not watch");
        };
        assert_eq!(
            (args.depth, args.from_seq, args.count),
            (Some(4), 120, Some(2))
        );
        assert!(parse(&["watch", "run:r1", "--count", "0"]).is_err());
    }

    #[tokio::test]
    async fn queries_that_answer_only_now_refuse_time_travel() {
        for args in [
            &["runs", "search", "--as-of", "12"][..],
            &[
                "promotion",
                "check",
                "m@1",
                "--occurred-by",
                "2026-03-01T00:00:00Z",
            ],
            &["watch", "run:r1", "--as-of", "12"],
        ] {
            let cli = parse(args).expect("parses");
            let refused = run(cli).await.expect_err("refused before connecting");
            assert_eq!(client::exit_code(&refused), client::EXIT_USAGE, "{args:?}");
            assert!(
                refused.to_string().contains("answers as of now"),
                "{refused}"
            );
        }
    }

    #[test]
    fn as_of_reads_a_sequence_a_recorded_time_or_an_event_time() {
        let point = |args: &[&str]| {
            parse(args)
                .expect("parses")
                .global
                .as_of()
                .map(|as_of| as_of.and_then(|as_of| as_of.point))
        };
        assert!(matches!(point(&["get", "run:r1"]), Ok(None)));
        assert!(matches!(
            point(&["get", "run:r1", "--as-of", "1200"]),
            Ok(Some(v1::as_of::Point::Seq(1200)))
        ));
        let Ok(Some(v1::as_of::Point::RecordedAt(at))) =
            point(&["--as-of", "2026-03-01T00:00:00Z", "get", "run:r1"])
        else {
            panic!("a recorded time");
        };
        assert_eq!(at.seconds, 1_772_323_200);
        assert!(matches!(
            point(&["get", "run:r1", "--occurred-by", "2026-03-01T00:00:00Z"]),
            Ok(Some(v1::as_of::Point::OccurredBy(_)))
        ));
        let bad = point(&["get", "run:r1", "--as-of", "yesterday"]).expect_err("not a time");
        assert!(bad.0.contains("RFC 3339"), "{}", bad.0);
        assert!(
            parse(&[
                "get",
                "run:r1",
                "--as-of",
                "1",
                "--occurred-by",
                "2026-03-01T00:00:00Z"
            ])
            .is_err(),
            "one kind of moment"
        );
        let diff = parse(&[
            "diff",
            "credit-risk@7",
            "credit-risk@7",
            "--a-as-of",
            "12",
            "--b-occurred-by",
            "2026-03-01T00:00:00Z",
        ])
        .expect("parses");
        let Command::Diff {
            a_as_of,
            b_occurred_by,
            ..
        } = diff.command
        else {
            panic!("not diff");
        };
        assert_eq!(a_as_of.as_deref(), Some("12"));
        assert!(b_occurred_by.is_some());
    }
}
