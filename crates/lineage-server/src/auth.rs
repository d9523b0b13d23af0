//! Who may ask what: principals authenticated by bearer token or by client
//! certificate, each with roles and a scope of workspaces, read from an
//! access file; and the TLS the gRPC listener serves with.
//!
//! The file (`--access-file`, TOML) lists principals; a token is stored only
//! as its blake3 hash, so the file can be read by more people than may
//! query. Tokens are 256-bit random strings (`lineage token`), which is
//! why a fast hash suffices: there is nothing to guess from a hash of one.
//! A client certificate is named by the SHA-256 fingerprint of its DER
//! bytes (what `openssl x509 -noout -fingerprint -sha256` prints); it only
//! counts when the service requires client certificates from a CA
//! (`--tls-client-ca`), so the TLS handshake has proven the client holds
//! its key.
//!
//! ```toml
//! [[principal]]
//! name = "credit-analysts"
//! token_hash = "blake3:3b9c..."      # printed by `lineage token`
//! roles = ["reader"]                # reader, auditor, admin
//! workspaces = ["credit"]           # or ["*"] for every workspace
//!
//! [[principal]]
//! name = "audit-robot"
//! client_cert_sha256 = "9F:86:D0:..."  # instead of, or beside, a token
//! roles = ["auditor"]
//! workspaces = ["*"]
//! ```
//!
//! [`Authenticate`] runs before every `LineageService` call (the health and
//! reflection services stay open, for probes and tools): it finds the
//! caller's principal and hands it to the handler in the request's
//! extensions. A bearer token, when sent, decides; otherwise the client
//! certificate does; a missing, malformed or unknown one is
//! UNAUTHENTICATED. The
//! handler then asks [`Principal::may`] for the role its RPC needs and the
//! workspaces it touches: PERMISSION_DENIED names what is missing. With no
//! access file, every caller is [`Principal::anyone`] (the local demo and
//! tests), and the service refuses to listen beyond loopback that way.
//!
//! Every edge of the lineage graph stays inside one workspace (an event's
//! references must name its own workspace; others are dead-lettered), so a
//! caller allowed the root's workspace is allowed everything a traversal
//! from it reaches.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use lineage_core::Workspace;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tonic::{Request, Status};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::Config;
use crate::grpc::ApiError;

/// The prefix of a stored token hash: the algorithm, so another can follow.
const HASH_PREFIX: &str = "blake3:";
/// The most principals an access file may list.
const MAX_PRINCIPALS: usize = 10_000;
/// The longest token accepted, in bytes (ours are 68).
const MAX_TOKEN_BYTES: usize = 512;

/// What a role lets a principal do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Ask lineage questions: entities, provenance, impact, runs using a
    /// dataset, model traces, diffs.
    Reader,
    /// Check the history: replay the log, verify it, export PROV documents.
    Auditor,
    /// Operate the service: its status.
    Admin,
    /// Publish OpenLineage events over HTTP (`POST /api/v1/lineage`) into
    /// its workspaces. Producers over NATS are authorized by the broker's
    /// subject permissions instead.
    Producer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Producer => "producer",
        }
    }
}

/// The workspaces a principal may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Every,
    Only(BTreeSet<Workspace>),
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    roles: BTreeSet<Role>,
    scope: Scope,
}

impl Principal {
    /// The caller of a service without an access file: every role, every
    /// workspace.
    pub fn anyone() -> Self {
        Self {
            name: "anyone".into(),
            roles: [Role::Reader, Role::Auditor, Role::Admin, Role::Producer].into(),
            scope: Scope::Every,
        }
    }

    /// Whether this principal has `role` in every one of `workspaces`;
    /// PERMISSION_DENIED saying which is missing otherwise.
    pub fn may<'w>(
        &self,
        role: Role,
        workspaces: impl IntoIterator<Item = &'w Workspace>,
    ) -> Result<(), ApiError> {
        if !self.roles.contains(&role) {
            return Err(ApiError::PermissionDenied(format!(
                "{} does not have the {} role this call needs",
                self.name,
                role.name()
            )));
        }
        for workspace in workspaces {
            if !self.sees(workspace) {
                return Err(ApiError::PermissionDenied(format!(
                    "{} may not read workspace {workspace}",
                    self.name
                )));
            }
        }
        Ok(())
    }

    pub fn sees(&self, workspace: &Workspace) -> bool {
        match &self.scope {
            Scope::Every => true,
            Scope::Only(workspaces) => workspaces.contains(workspace),
        }
    }

    /// The workspaces it may see, unless that is every workspace.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// The principal [`Authenticate`] found for a request.
pub fn caller<T>(request: &Request<T>) -> Result<Arc<Principal>, ApiError> {
    request
        .extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("a call reached its handler unauthenticated".into()))
}

/// How callers are recognised.
#[derive(Clone, Debug)]
pub enum Access {
    /// No access file: everyone is [`Principal::anyone`].
    Open(Arc<Principal>),
    /// By their bearer token or client certificate.
    Known(Arc<Principals>),
}

/// The principals of an access file, by credential.
#[derive(Clone, Debug, Default)]
pub struct Principals {
    /// By the blake3 hash of their bearer token.
    by_token_hash: HashMap<[u8; 32], Arc<Principal>>,
    /// By the SHA-256 fingerprint of their client certificate.
    by_certificate: HashMap<[u8; 32], Arc<Principal>>,
    /// Whether the TLS handshake proves a client certificate (set when the
    /// service requires them): only then does one name a principal.
    certificates_verified: bool,
}

impl Access {
    pub fn open() -> Self {
        Access::Open(Arc::new(Principal::anyone()))
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Access::Open(_))
    }

    /// Lets client certificates name principals: the listener now requires
    /// them, signed by the client CA.
    pub fn with_verified_certificates(self) -> Self {
        match self {
            Access::Known(principals) => {
                let mut principals = Arc::unwrap_or_clone(principals);
                principals.certificates_verified = true;
                Access::Known(Arc::new(principals))
            }
            open => open,
        }
    }

    /// Whether a principal is named by its client certificate.
    pub fn names_certificates(&self) -> bool {
        matches!(self, Access::Known(principals) if !principals.by_certificate.is_empty())
    }

    /// Reads an access file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("reading the access file {}: {error}", path.display()))?;
        Self::parse(&text).map_err(|error| format!("the access file {}: {error}", path.display()))
    }

    /// Parses an access file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            principal: Vec<Entry>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            name: String,
            token_hash: Option<String>,
            client_cert_sha256: Option<String>,
            roles: Vec<Role>,
            workspaces: Vec<String>,
        }
        let file: File = toml::from_str(text).map_err(|error| error.to_string())?;
        if file.principal.is_empty() {
            return Err("lists no [[principal]]: no one could call the service".into());
        }
        if file.principal.len() > MAX_PRINCIPALS {
            return Err(format!(
                "lists {} principals, the limit is {MAX_PRINCIPALS}",
                file.principal.len()
            ));
        }
        let mut principals = Principals::default();
        let mut names = BTreeSet::new();
        for (i, entry) in file.principal.into_iter().enumerate() {
            let at = format!("principal {} ({:?})", i + 1, entry.name);
            if entry.name.is_empty() {
                return Err(format!("principal {}: the name is empty", i + 1));
            }
            if !names.insert(entry.name.clone()) {
                return Err(format!("{at}: the name is used twice"));
            }
            let token_hash = entry
                .token_hash
                .as_deref()
                .map(parse_token_hash)
                .transpose()
                .map_err(|e| format!("{at}: {e}"))?;
            let certificate = entry
                .client_cert_sha256
                .as_deref()
                .map(parse_fingerprint)
                .transpose()
                .map_err(|e| format!("{at}: {e}"))?;
            if token_hash.is_none() && certificate.is_none() {
                return Err(format!(
                    "{at}: names neither a token_hash nor a client_cert_sha256"
                ));
            }
            if entry.roles.is_empty() {
                return Err(format!("{at}: lists no roles"));
            }
            let scope = match entry.workspaces.as_slice() {
                [] => return Err(format!("{at}: lists no workspaces (\"*\" means all)")),
                [every] if every == "*" => Scope::Every,
                listed => Scope::Only(
                    listed
                        .iter()
                        .map(|ws| Workspace::parse(ws).map_err(|e| format!("{at}: {ws:?}: {e}")))
                        .collect::<Result<_, _>>()?,
                ),
            };
            let principal = Principal {
                name: entry.name,
                roles: entry.roles.into_iter().collect(),
                scope,
            };
            let principal = Arc::new(principal);
            if let Some(hash) = token_hash
                && principals
                    .by_token_hash
                    .insert(hash, principal.clone())
                    .is_some()
            {
                return Err(format!("{at}: the token hash is used twice"));
            }
            if let Some(fingerprint) = certificate
                && principals
                    .by_certificate
                    .insert(fingerprint, principal)
                    .is_some()
            {
                return Err(format!("{at}: the certificate is used twice"));
            }
        }
        Ok(Access::Known(Arc::new(principals)))
    }

    /// The principal of a call that sent `authorization` (the header's
    /// bytes) over a connection whose client presented `certificate` (its
    /// DER bytes).
    pub(crate) fn principal_for(
        &self,
        authorization: Option<&[u8]>,
        certificate: Option<&[u8]>,
    ) -> Result<Arc<Principal>, ApiError> {
        let principals = match self {
            Access::Open(anyone) => return Ok(anyone.clone()),
            Access::Known(principals) => principals,
        };
        let header = match (authorization, certificate) {
            (Some(header), _) => header,
            (None, Some(certificate)) if principals.certificates_verified => {
                let fingerprint: [u8; 32] = Sha256::digest(certificate).into();
                return principals
                    .by_certificate
                    .get(&fingerprint)
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::Unauthenticated(format!(
                            "the client certificate (sha256 {}) is not in the access file",
                            hex::encode_upper(fingerprint)
                        ))
                    });
            }
            (None, _) => {
                return Err(ApiError::Unauthenticated(
                    "no credentials: send the header `authorization: Bearer <token>`".into(),
                ));
            }
        };
        let token = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "))
            .ok_or_else(|| {
                ApiError::Unauthenticated("the authorization header is not `Bearer <token>`".into())
            })?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthenticated("the token is too long".into()));
        }
        principals
            .by_token_hash
            .get(blake3::hash(token).as_bytes())
            .cloned()
            .ok_or_else(|| {
                ApiError::Unauthenticated("the token is not one this service knows".into())
            })
    }
}

/// The hash an access file stores for `token`.
pub fn token_hash(token: &str) -> String {
    format!("{HASH_PREFIX}{}", blake3::hash(token.as_bytes()).to_hex())
}

fn parse_token_hash(raw: &str) -> Result<[u8; 32], String> {
    let hex_digits = raw
        .strip_prefix(HASH_PREFIX)
        .ok_or_else(|| format!("token_hash must start with {HASH_PREFIX:?}"))?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut hash)
        .map_err(|_| "token_hash must be blake3: and 64 hex digits".to_owned())?;
    Ok(hash)
}

/// The TLS the gRPC listener serves with, from `--tls-cert`, `--tls-key`
/// and `--tls-client-ca` (PEM files), if any.
pub fn server_tls(config: &Config) -> Result<Option<ServerTlsConfig>, String> {
    let read = |flag: &str, path: &Path| {
        std::fs::read(path).map_err(|error| format!("{flag} {}: {error}", path.display()))
    };
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (None, None) if config.tls_client_ca.is_some() => {
            return Err("--tls-client-ca needs --tls-cert and --tls-key".into());
        }
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (read("--tls-cert", cert)?, read("--tls-key", key)?),
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &config.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read("--tls-client-ca", ca)?));
    }
    Ok(Some(tls))
}

/// Reads a SHA-256 fingerprint: 64 hex digits, colons between pairs
/// allowed (as openssl prints it), either case.
fn parse_fingerprint(raw: &str) -> Result<[u8; 32], String> {
    let digits: String = raw.chars().filter(|&c| c != ':').collect();
    let mut fingerprint = [0u8; 32];
    hex::decode_to_slice(&digits, &mut fingerprint).map_err(|_| {
        "client_cert_sha256 must be a SHA-256 fingerprint: 64 hex digits".to_owned()
    })?;
    Ok(fingerprint)
}

/// The interceptor in front of `LineageService`: finds the caller's
/// principal, or answers UNAUTHENTICATED.
#[derive(Clone, Debug)]
pub struct Authenticate(pub Access);

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|value| value.as_bytes());
        // The leaf certificate the client proved it holds the key of.
        let certificates = request.peer_certs();
        let certificate = certificates
            .as_ref()
            .and_then(|chain| chain.first())
            .map(|der| der.as_ref());
        let principal = self.0.principal_for(authorization, certificate)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(name: &str) -> Workspace {
        Workspace::parse(name).expect("valid workspace")
    }

    const READER_TOKEN: &str = "lin_reader-token-of-the-credit-team-0000000000";
    const ADMIN_TOKEN: &str = "lin_admin-token-for-every-workspace-000000000";

    fn access() -> Access {
        Access::parse(&format!(
            r#"
            [[principal]]
            name = "credit-analysts"
            token_hash = "{}"
            roles = ["reader"]
            workspaces = ["credit", "shared"]

            [[principal]]
            name = "operators"
            token_hash = "{}"
            roles = ["admin", "auditor"]
            workspaces = ["*"]
            "#,
            token_hash(READER_TOKEN),
            token_hash(ADMIN_TOKEN)
        ))
        .expect("a valid access file")
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn tokens_find_their_principal_and_nothing_else_does() {
        let access = access();
        let reader = access
            .principal_for(Some(&bearer(READER_TOKEN)), None)
            .expect("known token");
        assert_eq!(reader.name, "credit-analysts");
        for bad in [
            None,
            Some(b"Basic abc".to_vec()),
            Some(bearer("lin_unknown-token-000000000000000000000000000")),
            Some(bearer(&READER_TOKEN[..READER_TOKEN.len() - 1])),
            Some(bearer(&"x".repeat(MAX_TOKEN_BYTES + 1))),
        ] {
            match access.principal_for(bad.as_deref(), None) {
                Err(ApiError::Unauthenticated(_)) => {}
                other => panic!("expected UNAUTHENTICATED for {bad:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn roles_and_workspaces_are_checked_together() {
        let access = access();
        let reader = access
            .principal_for(Some(&bearer(READER_TOKEN)), None)
            .expect("known token");
        reader
            .may(Role::Reader, [&ws("credit"), &ws("shared")])
            .expect("both in scope");
        let denied = |result: Result<(), ApiError>| match result {
            Err(ApiError::PermissionDenied(reason)) => reason,
            other => panic!("expected PERMISSION_DENIED, got {other:?}"),
        };
        assert!(denied(reader.may(Role::Reader, [&ws("fraud")])).contains("workspace fraud"));
        assert!(denied(reader.may(Role::Auditor, [&ws("credit")])).contains("auditor"));
        assert!(denied(reader.may(Role::Admin, [])).contains("admin"));
        let admin = access
            .principal_for(Some(&bearer(ADMIN_TOKEN)), None)
            .expect("known token");
        admin
            .may(Role::Auditor, [&ws("anything")])
            .expect("every workspace");
        assert!(denied(admin.may(Role::Reader, [&ws("credit")])).contains("reader"));
    }

    #[test]
    fn certificates_name_principals_only_once_the_handshake_proves_them() {
        let robot_certificate = b"the DER bytes of the robot's certificate";
        let fingerprint: [u8; 32] = Sha256::digest(robot_certificate).into();
        // As openssl prints it: upper case, colons between bytes.
        let printed = fingerprint
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        let access = Access::parse(&format!(
            "[[principal]]\nname = \"robot\"\nclient_cert_sha256 = \"{printed}\"\nroles = [\"auditor\"]\nworkspaces = [\"*\"]\n\n\
             [[principal]]\nname = \"reader\"\ntoken_hash = \"{}\"\nroles = [\"reader\"]\nworkspaces = [\"credit\"]\n",
            token_hash(READER_TOKEN)
        ))
        .expect("a valid access file");
        assert!(access.names_certificates());
        // Without --tls-client-ca a certificate proves nothing.
        match access.principal_for(None, Some(robot_certificate)) {
            Err(ApiError::Unauthenticated(_)) => {}
            other => panic!("expected UNAUTHENTICATED, got {other:?}"),
        }
        let access = access.with_verified_certificates();
        let robot = access
            .principal_for(None, Some(robot_certificate))
            .expect("a known certificate");
        assert_eq!(robot.name, "robot");
        match access.principal_for(None, Some(b"another certificate")) {
            Err(ApiError::Unauthenticated(reason)) => assert!(reason.contains("sha256")),
            other => panic!("expected UNAUTHENTICATED, got {other:?}"),
        }
        // A token, when sent, decides.
        let reader = access
            .principal_for(Some(&bearer(READER_TOKEN)), Some(robot_certificate))
            .expect("the token's principal");
        assert_eq!(reader.name, "reader");
        assert!(
            access
                .principal_for(
                    Some(&bearer("lin_wrong-token-0000000000000000000000")),
                    Some(robot_certificate)
                )
                .is_err(),
            "a bad token is not rescued by a good certificate"
        );
        let neither = "[[principal]]\nname = \"x\"\nroles = [\"reader\"]\nworkspaces = [\"*\"]\n";
        assert!(
            Access::parse(neither)
                .expect_err("no credential")
                .contains("neither")
        );
    }

    #[test]
    fn an_open_service_lets_anyone_do_anything() {
        let anyone = Access::open().principal_for(None, None).expect("open");
        for role in [Role::Reader, Role::Auditor, Role::Admin] {
            anyone.may(role, [&ws("any")]).expect("open");
        }
    }

    #[test]
    fn malformed_access_files_are_refused_with_the_reason() {
        let hash = token_hash(READER_TOKEN);
        let refused = |text: String| Access::parse(&text).expect_err("refused");
        assert!(refused(String::new()).contains("no [[principal]]"));
        let entry = |name: &str, hash: &str, roles: &str, workspaces: &str| {
            format!(
                "[[principal]]\nname = \"{name}\"\ntoken_hash = \"{hash}\"\nroles = {roles}\nworkspaces = {workspaces}\n"
            )
        };
        assert!(refused(entry("a", "abc", "[\"reader\"]", "[\"x\"]")).contains("blake3:"));
        assert!(
            refused(entry("a", "blake3:abcd", "[\"reader\"]", "[\"x\"]")).contains("64 hex digits")
        );
        assert!(refused(entry("a", &hash, "[\"root\"]", "[\"x\"]")).contains("root"));
        assert!(refused(entry("a", &hash, "[]", "[\"x\"]")).contains("no roles"));
        assert!(refused(entry("a", &hash, "[\"reader\"]", "[]")).contains("no workspaces"));
        assert!(refused(entry("a", &hash, "[\"reader\"]", "[\"Bad Ws\"]")).contains("Bad Ws"));
        let twice = entry("a", &hash, "[\"reader\"]", "[\"x\"]")
            + &entry("b", &hash, "[\"reader\"]", "[\"x\"]");
        assert!(refused(twice).contains("token hash is used twice"));
        let unknown = entry("a", &hash, "[\"reader\"]", "[\"x\"]") + "tokn = 1\n";
        assert!(refused(unknown).contains("tokn"));
    }
}
