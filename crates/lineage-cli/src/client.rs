//! Connecting to `lineaged` over gRPC, and the one mapping from failures to
//! messages and exit codes.
//!
//! Exit codes are part of the CLI's interface (scripts branch on them):
//! 0 success, 1 any other failure, 2 NOT_FOUND, 3 INVALID_ARGUMENT,
//! 4 the service or NATS is unreachable (UNAVAILABLE or a failed connect),
//! 64 a mistake on the command line (caught before anything is sent).

use std::time::Duration;

use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::entity::ParseError;

/// How long to wait for the TCP and HTTP/2 connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take end to end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response decoded; matches what the server may encode.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The generated client over a tonic channel, sending the caller's token.
pub type Client = LineageServiceClient<InterceptedService<Channel, BearerToken>>;

/// Adds `authorization: Bearer <token>` to every call, when there is a
/// token (a service without an access file needs none).
#[derive(Clone, Debug)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    pub fn new(token: Option<&str>) -> Result<Self, UsageError> {
        token
            .map(|token| {
                format!("Bearer {}", token.trim()).parse().map_err(|_| {
                    UsageError(
                        "the token must be printable ASCII (LINEAGE_TOKEN, --token-file)".into(),
                    )
                })
            })
            .transpose()
            .map(Self)
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A mistake on the command line, reported before anything is sent.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The service or NATS could not be reached at all.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// The exit code for any failure without a more specific one.
pub const EXIT_FAILURE: u8 = 1;
/// The exit code when the service answered NOT_FOUND.
pub const EXIT_NOT_FOUND: u8 = 2;
/// The exit code when the service answered INVALID_ARGUMENT.
pub const EXIT_INVALID_ARGUMENT: u8 = 3;
/// The exit code when the service or NATS could not be reached.
pub const EXIT_UNAVAILABLE: u8 = 4;
/// The exit code for command-line mistakes (sysexits' EX_USAGE), kept apart
/// from 2 so that "not found" stays unambiguous.
pub const EXIT_USAGE: u8 = 64;

/// `http://host:port` for `host:port`; URLs with a scheme are kept.
pub fn endpoint_url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

/// Connects to the service at `addr` (`host:port`, `http://host:port` or
/// `https://host:port`), calling with `token` when given, over TLS when
/// `tls` is given (which makes a bare `host:port` an https one).
pub async fn connect(
    addr: &str,
    token: Option<&str>,
    tls: Option<ClientTlsConfig>,
) -> anyhow::Result<Client> {
    let bearer = BearerToken::new(token)?;
    let url = match &tls {
        Some(_) if !addr.contains("://") => format!("https://{addr}"),
        _ => endpoint_url(addr),
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|error| UsageError(format!("--grpc-addr {addr:?} is not a URL: {error}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|error| UsageError(format!("TLS settings: {}", error_chain(&error))))?;
    }
    let channel = endpoint.connect().await.map_err(|error| {
        Unreachable(format!(
            "cannot connect to lineaged at {url}: {}",
            error_chain(&error)
        ))
    })?;
    Ok(LineageServiceClient::with_interceptor(channel, bearer)
        .max_decoding_message_size(MAX_RESPONSE_BYTES))
}

/// The TLS a client speaks: the CA that signed lineaged's certificate and,
/// for a service that requires client certificates, the client's own
/// certificate and key (all PEM files). `None` when no file is given.
pub fn client_tls(
    ca: Option<&std::path::Path>,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Option<ClientTlsConfig>, UsageError> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|error| UsageError(format!("{flag} {}: {error}", path.display())))
    };
    if ca.is_none() && identity.is_none() {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new();
    if let Some(ca) = ca {
        tls = tls.ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?));
    }
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(
            read("--tls-cert", cert)?,
            read("--tls-key", key)?,
        ));
    }
    Ok(Some(tls))
}

/// An error and its sources, `: `-separated (transport errors say little
/// at the top level).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // Bounded: source chains are short, but nothing guarantees it.
    for _ in 0..16 {
        let Some(cause) = source else { break };
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The canonical name of a gRPC status code, as the service's docs use it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Whether a status means the service could not be reached rather than
/// that it answered. tonic reports a channel that lost its connection as
/// UNKNOWN "Service was not ready".
fn is_unreachable(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
        || (status.code() == tonic::Code::Unknown
            && status.message().starts_with("Service was not ready"))
        // The connection failed under the call: a TLS 1.3 server refusing
        // the client's certificate does it after the client's side of the
        // handshake, which tonic reports as UNKNOWN or CANCELLED.
        || std::error::Error::source(status)
            .is_some_and(|source| source.is::<tonic::transport::Error>())
}

/// The exit code for an error, by what kind of failure it is.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(status) = error.downcast_ref::<tonic::Status>() {
        return match status.code() {
            tonic::Code::NotFound => EXIT_NOT_FOUND,
            tonic::Code::InvalidArgument => EXIT_INVALID_ARGUMENT,
            _ if is_unreachable(status) => EXIT_UNAVAILABLE,
            _ => EXIT_FAILURE,
        };
    }
    if error.downcast_ref::<Unreachable>().is_some()
        || error.downcast_ref::<tonic::transport::Error>().is_some()
    {
        return EXIT_UNAVAILABLE;
    }
    if error.downcast_ref::<UsageError>().is_some() || error.downcast_ref::<ParseError>().is_some()
    {
        return EXIT_USAGE;
    }
    EXIT_FAILURE
}

/// The message printed after `error: `: for a status `<CODE>: <message>`,
/// otherwise the error with its context.
pub fn describe(error: &anyhow::Error) -> String {
    match error.downcast_ref::<tonic::Status>() {
        Some(status) => match std::error::Error::source(status) {
            // A transport failure says what happened only in its sources.
            Some(source) => format!(
                "{}: {}: {}",
                code_name(status.code()),
                status.message(),
                error_chain(source)
            ),
            None => format!("{}: {}", code_name(status.code()), status.message()),
        },
        None => format!("{error:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_urls() {
        assert_eq!(endpoint_url("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(endpoint_url("http://lineage:50051"), "http://lineage:50051");
    }

    #[test]
    fn exit_codes_follow_the_failure() {
        let code = |error: anyhow::Error| exit_code(&error);
        assert_eq!(code(tonic::Status::not_found("x").into()), EXIT_NOT_FOUND);
        assert_eq!(
            code(tonic::Status::invalid_argument("x").into()),
            EXIT_INVALID_ARGUMENT
        );
        assert_eq!(
            code(tonic::Status::unavailable("x").into()),
            EXIT_UNAVAILABLE
        );
        assert_eq!(
            code(tonic::Status::unknown("Service was not ready: x").into()),
            EXIT_UNAVAILABLE
        );
        assert_eq!(code(tonic::Status::internal("x").into()), EXIT_FAILURE);
        assert_eq!(code(Unreachable("x".into()).into()), EXIT_UNAVAILABLE);
        assert_eq!(code(ParseError::MissingWorkspace.into()), EXIT_USAGE);
        assert_eq!(code(UsageError("x".into()).into()), EXIT_USAGE);
        assert_eq!(code(anyhow::anyhow!("x")), EXIT_FAILURE);
        assert_eq!(
            describe(&tonic::Status::not_found("no model:m@1").into()),
            "NOT_FOUND: no model:m@1"
        );
    }
}
