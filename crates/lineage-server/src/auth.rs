//! Who may ask what: principals authenticated by bearer token, each with
//! roles and a scope of workspaces, read from an access file.
//!
//! The file (`--access-file`, TOML) lists principals; a token is stored only
//! as its blake3 hash, so the file can be read by more people than may
//! query. Tokens are 256-bit random strings (`lineage token`), which is
//! why a fast hash suffices: there is nothing to guess from a hash of one.
//!
//! ```toml
//! [[principal]]
//! name = "credit-analysts"
//! token_hash = "blake3:3b9c..."      # printed by `lineage token`
//! roles = ["reader"]                # reader, auditor, admin
//! workspaces = ["credit"]           # or ["*"] for every workspace
//! ```
//!
//! [`Authenticate`] runs before every `LineageService` call (the health and
//! reflection services stay open, for probes and tools): it finds the
//! caller's principal and hands it to the handler in the request's
//! extensions; a missing, malformed or unknown token is UNAUTHENTICATED. The
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
use tonic::{Request, Status};

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
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
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
            roles: [Role::Reader, Role::Auditor, Role::Admin].into(),
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
    /// By the blake3 hash of their bearer token.
    Tokens(Arc<HashMap<[u8; 32], Arc<Principal>>>),
}

impl Access {
    pub fn open() -> Self {
        Access::Open(Arc::new(Principal::anyone()))
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Access::Open(_))
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
            token_hash: String,
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
        let mut by_hash = HashMap::with_capacity(file.principal.len());
        let mut names = BTreeSet::new();
        for (i, entry) in file.principal.into_iter().enumerate() {
            let at = format!("principal {} ({:?})", i + 1, entry.name);
            if entry.name.is_empty() {
                return Err(format!("principal {}: the name is empty", i + 1));
            }
            if !names.insert(entry.name.clone()) {
                return Err(format!("{at}: the name is used twice"));
            }
            let hash = parse_token_hash(&entry.token_hash).map_err(|e| format!("{at}: {e}"))?;
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
            if by_hash.insert(hash, Arc::new(principal)).is_some() {
                return Err(format!("{at}: the token hash is used twice"));
            }
        }
        Ok(Access::Tokens(Arc::new(by_hash)))
    }

    fn principal_for(&self, authorization: Option<&[u8]>) -> Result<Arc<Principal>, ApiError> {
        let by_hash = match self {
            Access::Open(anyone) => return Ok(anyone.clone()),
            Access::Tokens(by_hash) => by_hash,
        };
        let header = authorization.ok_or_else(|| {
            ApiError::Unauthenticated(
                "no credentials: send the header `authorization: Bearer <token>`".into(),
            )
        })?;
        let token = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "))
            .ok_or_else(|| {
                ApiError::Unauthenticated("the authorization header is not `Bearer <token>`".into())
            })?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthenticated("the token is too long".into()));
        }
        by_hash
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
        let principal = self.0.principal_for(authorization)?;
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
            .principal_for(Some(&bearer(READER_TOKEN)))
            .expect("known token");
        assert_eq!(reader.name, "credit-analysts");
        for bad in [
            None,
            Some(b"Basic abc".to_vec()),
            Some(bearer("lin_unknown-token-000000000000000000000000000")),
            Some(bearer(&READER_TOKEN[..READER_TOKEN.len() - 1])),
            Some(bearer(&"x".repeat(MAX_TOKEN_BYTES + 1))),
        ] {
            match access.principal_for(bad.as_deref()) {
                Err(ApiError::Unauthenticated(_)) => {}
                other => panic!("expected UNAUTHENTICATED for {bad:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn roles_and_workspaces_are_checked_together() {
        let access = access();
        let reader = access
            .principal_for(Some(&bearer(READER_TOKEN)))
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
            .principal_for(Some(&bearer(ADMIN_TOKEN)))
            .expect("known token");
        admin
            .may(Role::Auditor, [&ws("anything")])
            .expect("every workspace");
        assert!(denied(admin.may(Role::Reader, [&ws("credit")])).contains("reader"));
    }

    #[test]
    fn an_open_service_lets_anyone_do_anything() {
        let anyone = Access::open().principal_for(None).expect("open");
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
