//! Identifiers: workspaces, entity kinds and entity keys, and the rules that
//! make a string acceptable as one.
//!
//! The rules are deliberately narrow (ASCII, no whitespace or control
//! characters, bounded length) so that identifiers cannot hide lookalikes, are
//! safe in NATS subjects and on command lines, and parse back unambiguously
//! from the CLI's `kind:name[@version]` form.

use std::fmt;
use std::sync::Arc;

/// The longest entity name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// The longest version, in bytes.
pub const MAX_VERSION_LEN: usize = 128;
/// The longest workspace, in bytes (the issue's `{0,63}` plus the first char).
pub const MAX_WORKSPACE_LEN: usize = 64;
/// The longest event id, in bytes.
pub const MAX_EVENT_ID_LEN: usize = 128;
/// The longest tag or parameter key, in bytes.
pub const MAX_KEY_LEN: usize = 250;

/// Why a string is not an acceptable identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The identifier is required and was empty.
    #[error("must not be empty")]
    Empty,
    /// The identifier is longer than allowed.
    #[error("is {len} bytes long, the limit is {max}")]
    TooLong { len: usize, max: usize },
    /// The identifier contains a character outside its alphabet.
    #[error("has {found:?} at byte {at}; allowed: {allowed}")]
    BadCharacter {
        found: char,
        at: usize,
        allowed: &'static str,
    },
    /// The identifier's first character is not allowed to start one.
    #[error("must start with {allowed}")]
    BadStart { allowed: &'static str },
    /// A version was given where the kind has none, or missing where it needs one.
    #[error("{0}")]
    Version(&'static str),
    /// An artifact name that is not `run_id/name`.
    #[error("artifact names are `run_id/name`")]
    ArtifactName,
}

struct Alphabet {
    describe: &'static str,
    start: fn(char) -> bool,
    rest: fn(char) -> bool,
    start_describe: &'static str,
}

fn check(s: &str, max: usize, alphabet: &Alphabet) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max {
        return Err(IdError::TooLong { len: s.len(), max });
    }
    for (at, found) in s.char_indices() {
        let allowed = if at == 0 {
            (alphabet.start)(found)
        } else {
            (alphabet.rest)(found)
        };
        if !allowed {
            if at == 0 && (alphabet.rest)(found) {
                return Err(IdError::BadStart {
                    allowed: alphabet.start_describe,
                });
            }
            return Err(IdError::BadCharacter {
                found,
                at,
                allowed: alphabet.describe,
            });
        }
    }
    Ok(())
}

const WORKSPACE: Alphabet = Alphabet {
    describe: "a-z 0-9 . _ -",
    start: |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
    rest: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'),
    start_describe: "a-z or 0-9",
};

const NAME: Alphabet = Alphabet {
    describe: "A-Z a-z 0-9 . _ - : / + =",
    start: |c| c.is_ascii_alphanumeric() || c == '_',
    rest: |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '+' | '='),
    start_describe: "A-Z, a-z, 0-9 or _",
};

// Run ids may not contain '/', because artifacts are named `run_id/name`.
const RUN_ID: Alphabet = Alphabet {
    describe: "A-Z a-z 0-9 . _ - : + =",
    start: |c| c.is_ascii_alphanumeric() || c == '_',
    rest: |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+' | '='),
    start_describe: "A-Z, a-z, 0-9 or _",
};

const VERSION: Alphabet = Alphabet {
    describe: "A-Z a-z 0-9 . _ - : +",
    start: |c| c.is_ascii_alphanumeric(),
    rest: |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+'),
    start_describe: "A-Z, a-z or 0-9",
};

const KEY: Alphabet = Alphabet {
    describe: "A-Z a-z 0-9 . _ - : / and space",
    start: |c| c.is_ascii_alphanumeric() || c == '_',
    rest: |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | ' '),
    start_describe: "A-Z, a-z, 0-9 or _",
};

const EVENT_ID: Alphabet = Alphabet {
    describe: "printable ASCII without spaces",
    start: |c| c.is_ascii_graphic(),
    rest: |c| c.is_ascii_graphic(),
    start_describe: "a printable ASCII character",
};

/// Checks an entity name (dataset, model, experiment, environment, compute,
/// endpoint, artifact name within its run).
pub fn check_name(s: &str) -> Result<(), IdError> {
    check(s, MAX_NAME_LEN, &NAME)
}

/// Checks a run id.
pub fn check_run_id(s: &str) -> Result<(), IdError> {
    check(s, MAX_NAME_LEN, &RUN_ID)
}

/// Checks a version of a dataset, model or environment.
pub fn check_version(s: &str) -> Result<(), IdError> {
    check(s, MAX_VERSION_LEN, &VERSION)
}

/// Checks a tag or parameter key.
pub fn check_key(s: &str) -> Result<(), IdError> {
    check(s, MAX_KEY_LEN, &KEY)?;
    if s.ends_with(' ') {
        return Err(IdError::BadCharacter {
            found: ' ',
            at: s.len() - 1,
            allowed: "no trailing space",
        });
    }
    Ok(())
}

/// Checks a producer-assigned event id.
pub fn check_event_id(s: &str) -> Result<(), IdError> {
    check(s, MAX_EVENT_ID_LEN, &EVENT_ID)
}

/// The tenant boundary. Every entity and event belongs to exactly one.
///
/// Shared rather than copied: every key in the graph names its workspace,
/// and the graph interns them so that all keys of a workspace share one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Workspace(Arc<str>);

impl Workspace {
    /// Accepts `[a-z0-9][a-z0-9._-]{0,63}`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check(s, MAX_WORKSPACE_LEN, &WORKSPACE)?;
        Ok(Self(Arc::from(s)))
    }

    /// Wraps an already shared name (the graph's interned copy).
    pub(crate) fn from_shared(name: Arc<str>) -> Self {
        Self(name)
    }

    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of entity in the lineage graph.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum EntityKind {
    Experiment,
    Run,
    DatasetVersion,
    Artifact,
    ModelVersion,
    Environment,
    Compute,
    Endpoint,
}

impl EntityKind {
    pub const ALL: [EntityKind; 8] = [
        EntityKind::Experiment,
        EntityKind::Run,
        EntityKind::DatasetVersion,
        EntityKind::Artifact,
        EntityKind::ModelVersion,
        EntityKind::Environment,
        EntityKind::Compute,
        EntityKind::Endpoint,
    ];

    /// Whether keys of this kind carry a version.
    pub fn is_versioned(self) -> bool {
        matches!(
            self,
            EntityKind::DatasetVersion | EntityKind::ModelVersion | EntityKind::Environment
        )
    }

    /// The short name used in `kind:name[@version]` and in text output.
    pub fn short_name(self) -> &'static str {
        match self {
            EntityKind::Experiment => "experiment",
            EntityKind::Run => "run",
            EntityKind::DatasetVersion => "dataset",
            EntityKind::Artifact => "artifact",
            EntityKind::ModelVersion => "model",
            EntityKind::Environment => "env",
            EntityKind::Compute => "compute",
            EntityKind::Endpoint => "endpoint",
        }
    }

    /// Parses a short name or one of its spelled-out aliases.
    pub fn from_short_name(s: &str) -> Option<Self> {
        Some(match s {
            "experiment" | "exp" => EntityKind::Experiment,
            "run" => EntityKind::Run,
            "dataset" | "dataset_version" | "ds" => EntityKind::DatasetVersion,
            "artifact" => EntityKind::Artifact,
            "model" | "model_version" => EntityKind::ModelVersion,
            "env" | "environment" => EntityKind::Environment,
            "compute" => EntityKind::Compute,
            "endpoint" => EntityKind::Endpoint,
            _ => return None,
        })
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The identity of one entity: unique within the whole service.
///
/// Runs are named by run id; artifacts by `run_id/name`; versioned kinds
/// carry their version, the others an empty one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct EntityKey {
    pub workspace: Workspace,
    pub kind: EntityKind,
    pub name: String,
    pub version: String,
}

impl EntityKey {
    /// Builds a key after checking that name and version suit the kind.
    pub fn parse(
        workspace: Workspace,
        kind: EntityKind,
        name: &str,
        version: &str,
    ) -> Result<Self, KeyError> {
        match kind {
            EntityKind::Run => check_run_id(name).map_err(KeyError::Name)?,
            EntityKind::Artifact => {
                let (run_id, artifact) = name
                    .split_once('/')
                    .ok_or(KeyError::Name(IdError::ArtifactName))?;
                check_run_id(run_id).map_err(KeyError::Name)?;
                check_name(artifact).map_err(KeyError::Name)?;
            }
            _ => check_name(name).map_err(KeyError::Name)?,
        }
        if kind.is_versioned() {
            check_version(version).map_err(KeyError::Version)?;
        } else if !version.is_empty() {
            return Err(KeyError::Version(IdError::Version(
                "this kind has no version; leave it empty",
            )));
        }
        Ok(Self::new_unchecked(workspace, kind, name, version))
    }

    /// Builds a key from parts that were already checked (the projection
    /// only sees validated events).
    pub fn new_unchecked(
        workspace: Workspace,
        kind: EntityKind,
        name: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Self {
            workspace,
            kind,
            name: name.into(),
            version: version.into(),
        }
    }

    pub fn run(workspace: &Workspace, run_id: &str) -> Self {
        Self::new_unchecked(workspace.clone(), EntityKind::Run, run_id, "")
    }

    pub fn dataset_version(workspace: &Workspace, dataset: &str, version: &str) -> Self {
        Self::new_unchecked(
            workspace.clone(),
            EntityKind::DatasetVersion,
            dataset,
            version,
        )
    }

    pub fn artifact(workspace: &Workspace, run_id: &str, name: &str) -> Self {
        Self::new_unchecked(
            workspace.clone(),
            EntityKind::Artifact,
            format!("{run_id}/{name}"),
            "",
        )
    }

    pub fn model_version(workspace: &Workspace, model: &str, version: &str) -> Self {
        Self::new_unchecked(workspace.clone(), EntityKind::ModelVersion, model, version)
    }

    pub fn experiment(workspace: &Workspace, name: &str) -> Self {
        Self::new_unchecked(workspace.clone(), EntityKind::Experiment, name, "")
    }

    pub fn environment(workspace: &Workspace, name: &str, version: &str) -> Self {
        Self::new_unchecked(workspace.clone(), EntityKind::Environment, name, version)
    }

    pub fn compute(workspace: &Workspace, name: &str) -> Self {
        Self::new_unchecked(workspace.clone(), EntityKind::Compute, name, "")
    }

    pub fn endpoint(workspace: &Workspace, name: &str) -> Self {
        Self::new_unchecked(workspace.clone(), EntityKind::Endpoint, name, "")
    }

    /// For an artifact key, the run that logged it and the artifact's name.
    pub fn artifact_parts(&self) -> Option<(&str, &str)> {
        if self.kind == EntityKind::Artifact {
            self.name.split_once('/')
        } else {
            None
        }
    }
}

/// Why parts do not make an entity key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The name is not acceptable for the kind.
    #[error("name {0}")]
    Name(IdError),
    /// The version is missing, present where it must not be, or malformed.
    #[error("version {0}")]
    Version(IdError),
}

impl fmt::Display for EntityKey {
    /// `kind:name[@version]`, the form the CLI accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.short_name(), self.name)?;
        if !self.version.is_empty() {
            write!(f, "@{}", self.version)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_alphabet() {
        assert!(Workspace::parse("credit-lender").is_ok());
        assert!(Workspace::parse("a").is_ok());
        assert!(Workspace::parse(&"a".repeat(64)).is_ok());
        assert!(matches!(
            Workspace::parse(&"a".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(Workspace::parse(""), Err(IdError::Empty)));
        assert!(matches!(
            Workspace::parse("-x"),
            Err(IdError::BadStart { .. })
        ));
        assert!(matches!(
            Workspace::parse("Credit"),
            Err(IdError::BadCharacter { .. })
        ));
        // A Cyrillic 'а' that looks like a Latin one.
        assert!(matches!(
            Workspace::parse("cr\u{0430}dit"),
            Err(IdError::BadCharacter { .. })
        ));
    }

    #[test]
    fn names_reject_whitespace_controls_and_at() {
        assert!(check_name("applications").is_ok());
        assert!(check_name("warehouse.loans/v2").is_ok());
        assert!(check_name("app lications").is_err());
        assert!(check_name("app\u{0}").is_err());
        assert!(check_name("credit@7").is_err());
        assert!(check_run_id("run/1").is_err());
        assert!(check_version("3").is_ok());
        assert!(check_version("2026-11-01").is_ok());
        assert!(check_version("3/4").is_err());
    }

    #[test]
    fn keys_check_versions_per_kind() {
        let ws = Workspace::parse("w").expect("valid workspace");
        assert!(EntityKey::parse(ws.clone(), EntityKind::DatasetVersion, "d", "3").is_ok());
        assert!(EntityKey::parse(ws.clone(), EntityKind::DatasetVersion, "d", "").is_err());
        assert!(EntityKey::parse(ws.clone(), EntityKind::Run, "r", "1").is_err());
        assert!(EntityKey::parse(ws.clone(), EntityKind::Artifact, "r1/model.pkl", "").is_ok());
        assert!(EntityKey::parse(ws, EntityKind::Artifact, "model.pkl", "").is_err());
    }
}
