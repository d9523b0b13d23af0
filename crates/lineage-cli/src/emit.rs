//! `lineage emit`: publishes JSON lines of `lineage.v1.Event` to NATS
//! JetStream the way a well-behaved producer does.
//!
//! Each line is decoded and validated with the service's own rules first, so
//! a bad line is reported here (`line N: <reason>`) and never published.
//! Valid events go out as binary protobuf on `<prefix>.<workspace>` with
//! `Nats-Msg-Id` set to the event id (JetStream's de-duplication key, and the
//! service's idempotency key), and every publish ack is awaited: an event
//! counts as published only once the stream has stored it. At most
//! [`PUBLISH_WINDOW`] acks are outstanding at a time.
//!
//! With `--wait`, it then polls `GetStatus` until the service has handled
//! as many messages as JetStream took as new: every message ends up stored
//! (`applied_seq`), acknowledged as a duplicate (`duplicates`; JetStream's
//! de-duplication window is short, the service's is forever) or
//! dead-lettered (`dead_lettered`), so the sum of the three grows by one per
//! message. The counters are service-wide, so with other producers active
//! this waits for "at least N handled messages", not for these exact ones.
//!
//! `lineage redact` builds one `RedactionRequested` event
//! ([`redaction_event`]), and `lineage promotion set-criteria` one
//! `PromotionCriteriaSet` ([`criteria_event`]); each is published through
//! the same path, as a line held in memory.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use lineage_core::Workspace;
use lineage_proto::v1;
use lineage_proto::validate::{self, Encoding, RejectReason, Rejection};
use prost::Message as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use crate::client::{self, Unreachable, UsageError, error_chain};

/// Most publish acks awaited at once; the oldest is awaited when full.
pub const PUBLISH_WINDOW: usize = 256;
/// The longest input line read, in bytes; longer lines are reported and
/// skipped (the service's default event limit is 1 MiB).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// After this many failed publishes the rest of the input is not read: the
/// stream or the connection is clearly not taking events.
pub const MAX_PUBLISH_FAILURES: u64 = 10;
/// How often `--wait` asks for the service's status.
const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long `emit` waits to connect to NATS.
const NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the events come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// `-`: standard input.
    Stdin,
    /// A file of JSON lines.
    File(PathBuf),
    /// JSON lines built by the CLI itself (`lineage redact`), and what to
    /// call them in messages.
    Memory { lines: Vec<u8>, what: String },
}

impl Input {
    /// `-` means standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(arg))
        }
    }

    fn describe(&self) -> String {
        match self {
            Input::Stdin => "standard input".to_owned(),
            Input::File(path) => path.display().to_string(),
            Input::Memory { what, .. } => what.clone(),
        }
    }
}

/// Everything `emit` needs, from the flags.
#[derive(Debug)]
pub struct EmitOptions {
    /// The events to publish.
    pub input: Input,
    /// NATS server URL(s), comma-separated.
    pub nats_url: String,
    /// Who to be to NATS, and its TLS.
    pub nats_identity: NatsIdentity,
    /// Events go to `<subject_prefix>.<workspace>`.
    pub subject_prefix: String,
    /// When set, events of other workspaces are rejected as lines.
    pub workspace: Option<Workspace>,
    /// When set, wait for the service to apply what was published.
    pub wait: Option<WaitOptions>,
}

/// Who `emit` is to a broker that authorizes publishers (one of a `.creds`
/// file, an nkey seed, a user and a password file), and the connection's
/// TLS: the settings of lineaged's own (`--nats-*`, `LINEAGE_NATS_*`).
#[derive(Debug, Default, Clone)]
pub struct NatsIdentity {
    pub creds: Option<PathBuf>,
    pub nkey: Option<PathBuf>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl NatsIdentity {
    /// `options` authenticating and protected as these settings say; an
    /// unreadable or malformed file is a usage error naming it.
    async fn apply(
        &self,
        mut options: async_nats::ConnectOptions,
    ) -> Result<async_nats::ConnectOptions, UsageError> {
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read_to_string(path)
                .map_err(|error| UsageError(format!("{flag} {}: {error}", path.display())))
        };
        if let Some(path) = &self.creds {
            options = options
                .credentials(&read("--nats-creds", path)?)
                .map_err(|error| {
                    UsageError(format!(
                        "--nats-creds {}: not a NATS credentials file: {error}",
                        path.display()
                    ))
                })?;
        }
        if let Some(path) = &self.nkey {
            options = options.nkey(read("--nats-nkey", path)?.trim().to_owned());
        }
        if let Some(user) = &self.user {
            let path = self
                .password_file
                .as_deref()
                .ok_or_else(|| UsageError("--nats-user needs --nats-password-file".to_owned()))?;
            let text = read("--nats-password-file", path)?;
            let password = text.lines().next().unwrap_or_default().to_owned();
            options = options.user_and_password(user.clone(), password);
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        Ok(options)
    }
}

/// `--wait` and where to ask.
#[derive(Debug)]
pub struct WaitOptions {
    /// The service's gRPC address.
    pub grpc_addr: String,
    /// The caller's token, if the service asks for one.
    pub token: Option<String>,
    /// The TLS to speak, if the service serves it.
    pub tls: Option<tonic::transport::ClientTlsConfig>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What happened, for the summary and the exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EmitReport {
    /// Lines holding an event (not blank, not comments).
    pub events: u64,
    /// Events the stream acknowledged, new or duplicate.
    pub published: u64,
    /// Acknowledged events JetStream had already stored under that id.
    pub duplicates: u64,
    /// Lines that did not decode or validate; not published.
    pub invalid: u64,
    /// Publishes that were not acknowledged.
    pub failed: u64,
    /// Lines never read because too many publishes failed.
    pub abandoned: bool,
    /// With `--wait`: how much `applied_seq` grew while waiting.
    pub applied: Option<u64>,
    /// With `--wait`: the `applied_seq` the wait ended at, which a later
    /// query's `--min-seq` can name to read what was published here.
    pub applied_seq: Option<u64>,
    /// The stream sequence of the last acknowledged publish: for a single
    /// event, where the stream holds it (for a duplicate, where it holds
    /// the first).
    pub last_stream_seq: Option<u64>,
}

impl EmitReport {
    /// Events JetStream stored as new.
    pub fn new_events(&self) -> u64 {
        self.published - self.duplicates
    }

    /// Whether everything read was published.
    pub fn succeeded(&self) -> bool {
        self.invalid == 0 && self.failed == 0 && !self.abandoned
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "read {} events: {} published ({} new, {} duplicate), {} invalid, {} failed",
            self.events,
            self.published,
            self.new_events(),
            self.duplicates,
            self.invalid,
            self.failed
        );
        if self.abandoned {
            text.push_str(&format!(
                "; stopped reading after {MAX_PUBLISH_FAILURES} failed publishes"
            ));
        }
        if let Some(applied) = self.applied {
            text.push_str(&format!("; the service applied {applied} new records"));
        }
        if let Some(seq) = self.applied_seq {
            text.push_str(&format!(
                ", through log seq {seq} (--min-seq {seq} reads them)"
            ));
        }
        text
    }

    /// The same as JSON, for `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "events": self.events,
            "published": self.published,
            "new": self.new_events(),
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "failed": self.failed,
            "abandoned": self.abandoned,
            "applied": self.applied,
            "applied_seq": self.applied_seq,
            "last_stream_seq": self.last_stream_seq,
        })
    }
}

/// One publish whose ack has not been awaited yet.
struct InFlight {
    line: u64,
    event_id: String,
    subject: String,
    ack: PublishAckFuture,
    /// When its ack is due: an ack future's own timeout only starts when it
    /// is awaited, and they are awaited one after another, so a window of
    /// publishes the broker never answers (one it refused for lack of
    /// permission, say) would otherwise take the timeout once per message.
    due: Instant,
}

/// How long a publish ack may take (async-nats's own default).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Publishes every valid line of the input; see the module docs.
pub async fn emit(options: EmitOptions) -> anyhow::Result<EmitReport> {
    let mut reader: Box<dyn AsyncBufRead + Unpin + Send> = match &options.input {
        Input::Stdin => Box::new(BufReader::new(tokio::io::stdin())),
        Input::File(path) => Box::new(BufReader::new(
            tokio::fs::File::open(path)
                .await
                .with_context(|| format!("opening {}", path.display()))?,
        )),
        Input::Memory { lines, .. } => Box::new(std::io::Cursor::new(lines.clone())),
    };

    // Ask for the baseline before publishing, so the growth counted later
    // includes everything this command sent.
    let mut waiter = match &options.wait {
        Some(wait) => {
            let mut grpc =
                client::connect(&wait.grpc_addr, wait.token.as_deref(), wait.tls.clone()).await?;
            let baseline = grpc
                .get_status(v1::GetStatusRequest::default())
                .await?
                .into_inner();
            Some((grpc, baseline))
        }
        None => None,
    };

    // async-nats takes one string as one address: a list is split here.
    let servers = options
        .nats_url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse::<async_nats::ServerAddr>().map_err(|error| {
                UsageError(format!("--nats-url {url:?} is not a NATS URL: {error}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nats = options
        .nats_identity
        .apply(
            async_nats::ConnectOptions::new()
                .name("lineage-cli")
                .connection_timeout(NATS_CONNECT_TIMEOUT),
        )
        .await?
        .connect(servers.as_slice())
        .await
        .map_err(|error| {
            Unreachable(format!(
                "cannot connect to NATS at {}: {}",
                options.nats_url,
                error_chain(&error)
            ))
        })?;
    let jetstream = async_nats::jetstream::new(nats);

    let mut report = EmitReport::default();
    let mut window: VecDeque<InFlight> = VecDeque::with_capacity(PUBLISH_WINDOW);
    let mut buffer = Vec::new();
    let mut line_number = 0u64;
    loop {
        if report.failed >= MAX_PUBLISH_FAILURES {
            report.abandoned = true;
            break;
        }
        let line = next_line(&mut reader, &mut buffer, MAX_LINE_BYTES)
            .await
            .with_context(|| format!("reading {}", options.input.describe()))?;
        line_number += 1;
        let bytes = match line {
            Line::Eof => break,
            Line::TooLong => {
                report.events += 1;
                report.invalid += 1;
                eprintln!(
                    "line {line_number}: {}",
                    Rejection::new(
                        RejectReason::Oversize,
                        format!("the line is longer than {MAX_LINE_BYTES} bytes")
                    )
                );
                continue;
            }
            Line::Complete => buffer.trim_ascii(),
        };
        if bytes.is_empty() || bytes.starts_with(b"#") {
            continue;
        }
        report.events += 1;
        let event = match check_line(bytes, options.workspace.as_ref()) {
            Ok(event) => event,
            Err(rejection) => {
                report.invalid += 1;
                eprintln!("line {line_number}: {rejection}");
                continue;
            }
        };

        if window.len() >= PUBLISH_WINDOW
            && let Some(oldest) = window.pop_front()
        {
            settle(oldest, &options.subject_prefix, &mut report).await;
        }
        let subject = format!("{}.{}", options.subject_prefix, event.workspace);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.event_id.as_str());
        let payload = bytes::Bytes::from(event.encode_to_vec());
        match jetstream
            .publish_with_headers(subject.clone(), headers, payload)
            .await
        {
            Ok(ack) => window.push_back(InFlight {
                line: line_number,
                event_id: event.event_id,
                subject,
                ack,
                due: Instant::now() + ACK_WAIT,
            }),
            Err(error) => {
                report.failed += 1;
                eprintln!(
                    "line {line_number}: publishing event {} to {subject} failed: {}",
                    event.event_id,
                    error_chain(&error)
                );
            }
        }
    }
    while let Some(in_flight) = window.pop_front() {
        settle(in_flight, &options.subject_prefix, &mut report).await;
    }

    if let (Some((grpc, baseline)), Some(wait)) = (waiter.as_mut(), &options.wait) {
        let status = wait_for_applied(grpc, baseline, report.new_events(), wait.timeout).await?;
        report.applied = Some(status.applied_seq - baseline.applied_seq);
        report.applied_seq = Some(status.applied_seq);
    }
    Ok(report)
}

/// What `lineage redact` asks for.
#[derive(Debug, Clone)]
pub struct RedactionRequest {
    pub workspace: Workspace,
    /// The entity whose events are redacted.
    pub entity: v1::EntityRef,
    /// Field paths, as `PersonalField::parse` reads them.
    pub fields: Vec<String>,
    pub reason: String,
    /// Who asks (the event's actor, recorded with the redaction).
    pub actor: String,
    /// The event id; a fresh one when `None`. Passing the id of an earlier
    /// attempt makes a retry a duplicate rather than a second redaction.
    pub event_id: Option<String>,
}

/// The `RedactionRequested` event of a request, stamped `now`, with a
/// fresh event id `redact-...` unless the request names one.
pub fn redaction_event(request: &RedactionRequest, now: SystemTime) -> v1::Event {
    cli_event(
        &request.workspace,
        &request.actor,
        request.event_id.as_deref(),
        "redact",
        now,
        v1::event::Payload::RedactionRequested(v1::RedactionRequested {
            entity: Some(request.entity.clone()),
            fields: request.fields.clone(),
            reason: request.reason.clone(),
        }),
    )
}

/// What `lineage promotion set-criteria` states.
#[derive(Debug, Clone)]
pub struct CriteriaRequest {
    pub workspace: Workspace,
    /// The model (every version of it) the criteria are for.
    pub model: String,
    /// As written: terms joined by `and`.
    pub criteria: String,
    /// Who sets them (the event's actor).
    pub actor: String,
    /// The event id; a fresh one when `None` (as [`RedactionRequest`]).
    pub event_id: Option<String>,
}

/// The `PromotionCriteriaSet` event of a request, stamped `now`, with a
/// fresh event id `criteria-...` unless the request names one.
pub fn criteria_event(request: &CriteriaRequest, now: SystemTime) -> v1::Event {
    cli_event(
        &request.workspace,
        &request.actor,
        request.event_id.as_deref(),
        "criteria",
        now,
        v1::event::Payload::PromotionCriteriaSet(v1::PromotionCriteriaSet {
            model: request.model.clone(),
            criteria: request.criteria.clone(),
        }),
    )
}

/// An event the CLI states itself, stamped `now`. A fresh event id is
/// `<prefix>-<unix nanos>-<process id>`: unique enough for a person at a
/// shell, and printed so that a retry can reuse it.
fn cli_event(
    workspace: &Workspace,
    actor: &str,
    event_id: Option<&str>,
    prefix: &str,
    now: SystemTime,
    payload: v1::event::Payload,
) -> v1::Event {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let event_id = event_id.map_or_else(
        || format!("{prefix}-{}-{}", since_epoch.as_nanos(), std::process::id()),
        str::to_owned,
    );
    v1::Event {
        event_id,
        workspace: workspace.as_str().to_owned(),
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: since_epoch.as_secs() as i64,
            nanos: since_epoch.subsec_nanos() as i32,
        }),
        producer: concat!("lineage-cli/", env!("CARGO_PKG_VERSION")).to_owned(),
        actor: actor.to_owned(),
        payload: Some(payload),
    }
}

/// Decodes and validates one line; the rejection says why not.
fn check_line(bytes: &[u8], workspace: Option<&Workspace>) -> Result<v1::Event, Rejection> {
    let event = validate::decode_event(bytes, Encoding::Json)?;
    validate::validate_event(&event)?;
    if let Some(expected) = workspace
        && event.workspace != expected.as_str()
    {
        return Err(Rejection::new(
            RejectReason::WorkspaceMismatch,
            format!(
                "the event is in workspace {:?}, --workspace is {:?}",
                event.workspace,
                expected.as_str()
            ),
        ));
    }
    Ok(event)
}

/// Awaits one publish ack and counts it.
async fn settle(in_flight: InFlight, subject_prefix: &str, report: &mut EmitReport) {
    let acked = match tokio::time::timeout_at(in_flight.due, in_flight.ack).await {
        Ok(acked) => acked,
        Err(_) => {
            report.failed += 1;
            eprintln!(
                "line {}: event {} was not acknowledged within {} s (refused by the broker's permissions, or the stream is unavailable)",
                in_flight.line,
                in_flight.event_id,
                ACK_WAIT.as_secs()
            );
            return;
        }
    };
    match acked {
        Ok(ack) => {
            report.published += 1;
            report.last_stream_seq = Some(ack.sequence);
            if ack.duplicate {
                report.duplicates += 1;
            }
        }
        Err(error) => {
            report.failed += 1;
            let hint = if error.kind() == PublishErrorKind::StreamNotFound {
                format!(
                    " (no JetStream stream captures {}: is lineaged running with --subject-prefix {subject_prefix}?)",
                    in_flight.subject
                )
            } else {
                String::new()
            };
            eprintln!(
                "line {}: event {} was not acknowledged: {}{hint}",
                in_flight.line,
                in_flight.event_id,
                error_chain(&error)
            );
        }
    }
}

/// Polls the service until it has handled `expected` more messages than at
/// `baseline`, and returns its status then. Transient errors are retried
/// until the deadline.
async fn wait_for_applied(
    grpc: &mut client::Client,
    baseline: &v1::StatusResponse,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<v1::StatusResponse> {
    // Each message the service consumes moves exactly one of these.
    let handled = |status: &v1::StatusResponse| {
        status
            .applied_seq
            .saturating_add(status.duplicates)
            .saturating_add(status.dead_lettered)
    };
    let target = handled(baseline).saturating_add(expected);
    let deadline = Instant::now() + timeout;
    let mut last_error: Option<String> = None;
    let mut last_status: Option<v1::StatusResponse> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let request = grpc.get_status(v1::GetStatusRequest::default());
        match tokio::time::timeout(remaining.max(Duration::from_millis(1)), request).await {
            Ok(Ok(response)) => {
                let status = response.into_inner();
                if handled(&status) >= target {
                    return Ok(status);
                }
                last_status = Some(status);
            }
            Ok(Err(status)) => {
                last_error = Some(client::describe(&anyhow::Error::new(status)));
            }
            Err(_elapsed) => {}
        }
        if Instant::now() >= deadline {
            anyhow::bail!(wait_timeout_message(
                baseline,
                last_status.as_ref(),
                expected,
                timeout,
                last_error.as_deref()
            ));
        }
        let pause = WAIT_POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
    }
}

/// Says how far the service got, and what may be holding it up.
fn wait_timeout_message(
    baseline: &v1::StatusResponse,
    last: Option<&v1::StatusResponse>,
    expected: u64,
    timeout: Duration,
    last_error: Option<&str>,
) -> String {
    let mut message = format!(
        "--wait gave up after {}s: the service had not handled {expected} more messages",
        timeout.as_secs()
    );
    if let Some(last) = last {
        message.push_str(&format!(
            " (applied_seq grew by {}; since the start {} more duplicates and {} more dead-lettered",
            last.applied_seq.saturating_sub(baseline.applied_seq),
            last.duplicates.saturating_sub(baseline.duplicates),
            last.dead_lettered.saturating_sub(baseline.dead_lettered),
        ));
        if !last.ingest_connected {
            message.push_str("; ingest is not connected to JetStream");
        }
        if !last.ingest_error.is_empty() {
            message.push_str(&format!("; last ingest error: {}", last.ingest_error));
        }
        message.push(')');
    }
    if let Some(error) = last_error {
        message.push_str(&format!("; last GetStatus error: {error}"));
    }
    message
}

/// What [`next_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line (without its newline) is in the buffer.
    Complete,
    /// The line was longer than allowed and was skipped.
    TooLong,
    /// The input is exhausted.
    Eof,
}

/// Reads one line into `buffer`, holding at most `max` bytes of it: a
/// longer line is consumed and skipped rather than buffered whole.
async fn next_line<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buffer.clear();
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        read_any = true;
        let (chunk, consumed, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buffer.len() + chunk.len() > max {
                too_long = true;
                buffer.clear();
            } else {
                buffer.extend_from_slice(chunk);
            }
        }
        reader.consume(consumed);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(Line, String)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            let line = next_line(&mut reader, &mut buffer, max)
                .await
                .expect("reading a slice cannot fail");
            if line == Line::Eof {
                break;
            }
            out.push((line, String::from_utf8_lossy(&buffer).into_owned()));
        }
        out
    }

    #[test]
    fn a_redaction_event_is_valid_and_names_what_it_erases() {
        let workspace = Workspace::parse("credit-lender").expect("valid");
        let request = RedactionRequest {
            entity: v1::EntityRef {
                workspace: workspace.as_str().to_owned(),
                kind: v1::EntityKind::Run as i32,
                name: "r-123".to_owned(),
                version: String::new(),
            },
            workspace,
            fields: vec!["actor".to_owned(), "tags.owner".to_owned()],
            reason: "DSR-42".to_owned(),
            actor: "dpo@credit-lender.example".to_owned(),
            event_id: None,
        };
        let now = SystemTime::UNIX_EPOCH + Duration::new(1_780_000_000, 5);
        let event = redaction_event(&request, now);
        assert!(event.event_id.starts_with("redact-1780000000000000005-"));
        // Through the JSON line `emit` reads, to the domain event.
        let line = serde_json::to_vec(&event).expect("serializes");
        let checked = check_line(&line, Some(&request.workspace)).expect("a valid line");
        let domain = validate::validate_event(&checked).expect("valid");
        let lineage_core::Payload::RedactionRequested(requested) = &domain.payload else {
            panic!("a redaction: {:?}", domain.payload);
        };
        assert_eq!(requested.fields.len(), 2);
        assert_eq!(domain.actor, "dpo@credit-lender.example");
        assert_eq!(domain.occurred_at.to_unix(), (1_780_000_000, 5));

        let retry = redaction_event(
            &RedactionRequest {
                event_id: Some("redact-1".to_owned()),
                ..request
            },
            now,
        );
        assert_eq!(retry.event_id, "redact-1");
    }

    #[test]
    fn a_criteria_event_is_valid_and_names_its_model() {
        let workspace = Workspace::parse("credit-lender").expect("valid");
        let request = CriteriaRequest {
            workspace: workspace.clone(),
            model: "credit-risk".to_owned(),
            criteria: "metrics.precision >= 0.9 and no flagged upstream".to_owned(),
            actor: "risk-committee".to_owned(),
            event_id: None,
        };
        let now = SystemTime::UNIX_EPOCH + Duration::new(1_780_000_000, 5);
        let event = criteria_event(&request, now);
        assert!(event.event_id.starts_with("criteria-1780000000000000005-"));
        let line = serde_json::to_vec(&event).expect("serializes");
        let checked = check_line(&line, Some(&workspace)).expect("a valid line");
        let domain = validate::validate_event(&checked).expect("valid");
        let lineage_core::Payload::PromotionCriteriaSet(set) = &domain.payload else {
            panic!("criteria: {:?}", domain.payload);
        };
        assert_eq!(set.model, "credit-risk");
        assert_eq!(set.criteria, request.criteria);
        assert_eq!(domain.actor, "risk-committee");
        let retry = criteria_event(
            &CriteriaRequest {
                event_id: Some("criteria-1".to_owned()),
                ..request
            },
            now,
        );
        assert_eq!(retry.event_id, "criteria-1");
    }

    #[tokio::test]
    async fn lines_are_split_and_bounded() {
        let read = lines(b"one\n\nlong-long-line\nlast", 8).await;
        assert_eq!(
            read,
            vec![
                (Line::Complete, "one".to_owned()),
                (Line::Complete, String::new()),
                (Line::TooLong, String::new()),
                (Line::Complete, "last".to_owned()),
            ]
        );
        assert!(lines(b"", 8).await.is_empty());
        assert_eq!(lines(b"x\n", 8).await.len(), 1);
    }

    #[test]
    fn lines_are_checked_like_the_service_does() {
        let valid = r#"{"event_id":"e1","workspace":"credit-lender","occurred_at":"2026-07-06T08:00:00Z","run_started":{"run_id":"r-1"}}"#;
        let event = check_line(valid.as_bytes(), None).expect("valid");
        assert_eq!(event.event_id, "e1");

        let other = Workspace::parse("insurer").expect("valid workspace");
        assert_eq!(
            check_line(valid.as_bytes(), Some(&other)).map_err(|r| r.reason),
            Err(RejectReason::WorkspaceMismatch)
        );
        assert_eq!(
            check_line(b"{not json", None).map_err(|r| r.reason),
            Err(RejectReason::Undecodable)
        );
        let no_payload =
            r#"{"event_id":"e1","workspace":"credit-lender","occurred_at":"2026-07-06T08:00:00Z"}"#;
        assert_eq!(
            check_line(no_payload.as_bytes(), None).map_err(|r| r.reason),
            Err(RejectReason::EmptyPayload)
        );
        let model_without_run = r#"{"event_id":"e2","workspace":"credit-lender","occurred_at":"2026-07-06T08:00:00Z","model_registered":{"model":"m","version":"1"}}"#;
        assert_eq!(
            check_line(model_without_run.as_bytes(), None).map_err(|r| r.reason),
            Err(RejectReason::ModelWithoutSourceRun)
        );
    }

    #[test]
    fn the_report_counts_new_events() {
        let report = EmitReport {
            events: 5,
            published: 4,
            duplicates: 1,
            invalid: 1,
            ..EmitReport::default()
        };
        assert_eq!(report.new_events(), 3);
        assert!(!report.succeeded());
        assert_eq!(report.to_json()["new"], 3);
        assert_eq!(
            report.summary(),
            "read 5 events: 4 published (3 new, 1 duplicate), 1 invalid, 0 failed"
        );
        // After --wait, the sequence to read them at.
        let waited = EmitReport {
            applied: Some(3),
            applied_seq: Some(42),
            ..report
        };
        assert!(
            waited.summary().ends_with(
                "; the service applied 3 new records, through log seq 42 (--min-seq 42 reads them)"
            ),
            "{}",
            waited.summary()
        );
        assert_eq!(waited.to_json()["applied_seq"], 42);
    }
}
