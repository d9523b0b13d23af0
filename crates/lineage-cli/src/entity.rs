//! Reading what a person types into wire requests: `kind:name[@version]`
//! entities, `dataset[@version]` and `model@version` specs, run ids,
//! experiment and model names, metric keys, and edge- and node-kind lists.
//!
//! Parsing goes through `lineage_core`'s identifier rules, so anything the
//! CLI accepts is something the service would accept too, and a typo is
//! reported here, naming the part that is wrong, instead of as a remote
//! INVALID_ARGUMENT.

use std::fmt;

use lineage_core::id::{self, IdError, KeyError};
use lineage_core::{EntityKey, EntityKind, Workspace};
use lineage_proto::v1;

/// Why a command-line entity, spec or kind is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No `--workspace` (or `LINEAGE_WORKSPACE`) was given; every query
    /// needs one. Pass the flag.
    MissingWorkspace,
    /// The workspace breaks the `[a-z0-9][a-z0-9._-]{0,63}` rule.
    Workspace(String, IdError),
    /// The entity has no `kind:` prefix.
    MissingKind(String),
    /// The kind is not one of the short names or their aliases.
    UnknownKind(String),
    /// A versioned kind (dataset, model, env) without `@version`.
    MissingVersion { kind: EntityKind, input: String },
    /// An unversioned kind (run, artifact, experiment...) with `@version`.
    UnexpectedVersion { kind: EntityKind, input: String },
    /// The name or version breaks the identifier rules for its kind.
    Key { input: String, error: KeyError },
    /// An edge kind that is not one of the ten the service knows.
    UnknownEdgeKind(String),
    /// A metric key that breaks the key rules.
    MetricKey { input: String, error: IdError },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingWorkspace => write!(
                f,
                "no workspace: pass --workspace/-w or set LINEAGE_WORKSPACE"
            ),
            ParseError::Workspace(input, error) => write!(f, "workspace {input:?} {error}"),
            ParseError::MissingKind(input) => write!(
                f,
                "{input:?} has no kind: write kind:name[@version], e.g. dataset:applications@3 ({})",
                KIND_HELP
            ),
            ParseError::UnknownKind(kind) => {
                write!(f, "unknown entity kind {kind:?}; one of {KIND_HELP}")
            }
            ParseError::MissingVersion { kind, input } => write!(
                f,
                "{input:?}: a {} needs a version, e.g. {}:name@3",
                kind.short_name(),
                kind.short_name()
            ),
            ParseError::UnexpectedVersion { kind, input } => write!(
                f,
                "{input:?}: a {} has no version; drop the @...",
                kind.short_name()
            ),
            ParseError::Key { input, error } => write!(f, "{input:?}: {error}"),
            ParseError::UnknownEdgeKind(kind) => {
                write!(f, "unknown edge kind {kind:?}; one of {EDGE_KIND_HELP}")
            }
            ParseError::MetricKey { input, error } => write!(f, "metric key {input:?} {error}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The kinds as listed in error messages.
const KIND_HELP: &str = "experiment, run, dataset, artifact, model, env, compute, endpoint";
/// The edge kinds as listed in error messages.
const EDGE_KIND_HELP: &str = "input, produced, derived, registered, packaged, deployed, ran_in, ran_on, parent_of, member_of";

/// Checks the `--workspace` value, which every query needs.
pub fn workspace(raw: Option<&str>) -> Result<Workspace, ParseError> {
    let raw = raw.ok_or(ParseError::MissingWorkspace)?;
    Workspace::parse(raw).map_err(|error| ParseError::Workspace(raw.to_owned(), error))
}

/// Parses `kind:name[@version]`: the kind up to the first ':', the version
/// after the last '@' (names and versions may contain ':' but never '@').
pub fn parse_entity(workspace: &Workspace, input: &str) -> Result<EntityKey, ParseError> {
    let (kind_name, rest) = input
        .split_once(':')
        .ok_or_else(|| ParseError::MissingKind(input.to_owned()))?;
    let kind = EntityKind::from_short_name(kind_name)
        .ok_or_else(|| ParseError::UnknownKind(kind_name.to_owned()))?;
    let (name, version) = match rest.rsplit_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (rest, None),
    };
    let version = match (kind.is_versioned(), version) {
        (true, Some(version)) => version,
        (true, None) => {
            return Err(ParseError::MissingVersion {
                kind,
                input: input.to_owned(),
            });
        }
        (false, None) => "",
        (false, Some(_)) => {
            return Err(ParseError::UnexpectedVersion {
                kind,
                input: input.to_owned(),
            });
        }
    };
    EntityKey::parse(workspace.clone(), kind, name, version).map_err(|error| ParseError::Key {
        input: input.to_owned(),
        error,
    })
}

/// A dataset with an optional version: `applications@3`, or `applications`
/// for any version. A `dataset:` prefix is accepted too.
pub fn parse_dataset_spec(input: &str) -> Result<(String, Option<String>), ParseError> {
    let bare = strip_kind_prefix(input, EntityKind::DatasetVersion)?;
    let (name, version) = match bare.rsplit_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (bare, None),
    };
    let key_error = |error| ParseError::Key {
        input: input.to_owned(),
        error,
    };
    id::check_name(name).map_err(|e| key_error(KeyError::Name(e)))?;
    if let Some(version) = version {
        id::check_version(version).map_err(|e| key_error(KeyError::Version(e)))?;
    }
    Ok((name.to_owned(), version.map(str::to_owned)))
}

/// A model version: `credit-risk@7` (or `model:credit-risk@7`).
pub fn parse_model_spec(input: &str) -> Result<(String, String), ParseError> {
    let bare = strip_kind_prefix(input, EntityKind::ModelVersion)?;
    let (name, version) = bare
        .rsplit_once('@')
        .ok_or_else(|| ParseError::MissingVersion {
            kind: EntityKind::ModelVersion,
            input: input.to_owned(),
        })?;
    let key_error = |error| ParseError::Key {
        input: input.to_owned(),
        error,
    };
    id::check_name(name).map_err(|e| key_error(KeyError::Name(e)))?;
    id::check_version(version).map_err(|e| key_error(KeyError::Version(e)))?;
    Ok((name.to_owned(), version.to_owned()))
}

/// The name of an entity of an unversioned kind, or of a model (`run:r-1`
/// or `r-1`, `experiment:credit-risk-2026`, `model:credit-risk`): the
/// `kind:` prefix is optional, and the name follows the kind's rules (a
/// run id's, or a name's).
pub fn parse_unversioned(kind: EntityKind, input: &str) -> Result<String, ParseError> {
    let bare = strip_kind_prefix(input, kind)?;
    if bare.contains('@') && kind.is_versioned() {
        return Err(ParseError::UnexpectedVersion {
            kind,
            input: input.to_owned(),
        });
    }
    let check = if kind == EntityKind::Run {
        id::check_run_id
    } else {
        id::check_name
    };
    check(bare).map_err(|error| ParseError::Key {
        input: input.to_owned(),
        error: KeyError::Name(error),
    })?;
    Ok(bare.to_owned())
}

/// A metric key, as a run logs it (`auc`, `val/loss`).
pub fn parse_metric_key(input: &str) -> Result<String, ParseError> {
    id::check_key(input).map_err(|error| ParseError::MetricKey {
        input: input.to_owned(),
        error,
    })?;
    Ok(input.to_owned())
}

/// Drops a leading `kind:` when it names `expected` (any alias); a prefix
/// naming another kind is an error rather than part of the name.
fn strip_kind_prefix(input: &str, expected: EntityKind) -> Result<&str, ParseError> {
    match input.split_once(':') {
        Some((prefix, rest)) => match EntityKind::from_short_name(prefix) {
            Some(kind) if kind == expected => Ok(rest),
            Some(_) => Err(ParseError::UnknownKind(prefix.to_owned())),
            // Names may contain ':', so an unknown prefix is part of the name.
            None => Ok(input),
        },
        None => Ok(input),
    }
}

/// One edge kind as written on the command line (`ran_in`, `RAN-IN`...).
pub fn parse_edge_kind(input: &str) -> Result<v1::EdgeKind, ParseError> {
    let normalized = input.trim().to_ascii_uppercase().replace('-', "_");
    match v1::EdgeKind::from_str_name(&normalized) {
        Some(v1::EdgeKind::Unspecified) | None => {
            Err(ParseError::UnknownEdgeKind(input.to_owned()))
        }
        Some(kind) => Ok(kind),
    }
}

/// One node kind as written on the command line (any short name or alias).
pub fn parse_node_kind(input: &str) -> Result<EntityKind, ParseError> {
    let trimmed = input.trim();
    EntityKind::from_short_name(trimmed).ok_or_else(|| ParseError::UnknownKind(trimmed.to_owned()))
}

/// The wire reference for a parsed key.
pub fn to_wire(key: &EntityKey) -> v1::EntityRef {
    lineage_proto::convert::entity_ref(key)
}

/// The short name of a wire entity kind, `?` for values this build does not
/// know (a newer server).
pub fn kind_short_name(raw: i32) -> &'static str {
    kind_from_wire(raw).map_or("?", EntityKind::short_name)
}

/// The domain kind of a wire entity kind.
pub fn kind_from_wire(raw: i32) -> Option<EntityKind> {
    Some(match v1::EntityKind::try_from(raw).ok()? {
        v1::EntityKind::Unspecified => return None,
        v1::EntityKind::Experiment => EntityKind::Experiment,
        v1::EntityKind::Run => EntityKind::Run,
        v1::EntityKind::DatasetVersion => EntityKind::DatasetVersion,
        v1::EntityKind::Artifact => EntityKind::Artifact,
        v1::EntityKind::ModelVersion => EntityKind::ModelVersion,
        v1::EntityKind::Environment => EntityKind::Environment,
        v1::EntityKind::Compute => EntityKind::Compute,
        v1::EntityKind::Endpoint => EntityKind::Endpoint,
    })
}

/// `kind:name[@version]` for a wire reference, the same form the CLI reads.
pub fn display_ref(entity: &v1::EntityRef) -> String {
    let mut out = format!("{}:{}", kind_short_name(entity.kind), entity.name);
    if !entity.version.is_empty() {
        out.push('@');
        out.push_str(&entity.version);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Workspace {
        workspace(Some("credit-lender")).expect("valid workspace")
    }

    fn parsed(input: &str) -> (EntityKind, String, String) {
        let key = parse_entity(&ws(), input).expect("parses");
        (key.kind, key.name, key.version)
    }

    #[test]
    fn entities_of_every_kind_parse() {
        let cases = [
            (
                "dataset:applications@3",
                EntityKind::DatasetVersion,
                "applications",
                "3",
            ),
            (
                "model:credit-risk@7",
                EntityKind::ModelVersion,
                "credit-risk",
                "7",
            ),
            ("run:r-123", EntityKind::Run, "r-123", ""),
            (
                "artifact:r-123/model.pkl",
                EntityKind::Artifact,
                "r-123/model.pkl",
                "",
            ),
            (
                "env:sklearn@1.4.2",
                EntityKind::Environment,
                "sklearn",
                "1.4.2",
            ),
            ("compute:gpu-a100", EntityKind::Compute, "gpu-a100", ""),
            (
                "endpoint:scoring-eu",
                EntityKind::Endpoint,
                "scoring-eu",
                "",
            ),
            (
                "experiment:credit-risk-2026",
                EntityKind::Experiment,
                "credit-risk-2026",
                "",
            ),
            // Aliases and names with ':' in them.
            (
                "ds:warehouse:loans@2026-11-01",
                EntityKind::DatasetVersion,
                "warehouse:loans",
                "2026-11-01",
            ),
            (
                "model_version:fraud@12",
                EntityKind::ModelVersion,
                "fraud",
                "12",
            ),
            ("environment:py@3.11", EntityKind::Environment, "py", "3.11"),
            ("exp:yield", EntityKind::Experiment, "yield", ""),
        ];
        for (input, kind, name, version) in cases {
            assert_eq!(
                parsed(input),
                (kind, name.to_owned(), version.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn the_version_is_split_at_the_last_at() {
        // A second '@' lands in the name, which then breaks the name rules.
        let error = parse_entity(&ws(), "dataset:a@b@3").expect_err("'@' is not a name character");
        assert!(matches!(
            error,
            ParseError::Key {
                error: KeyError::Name(IdError::BadCharacter { found: '@', .. }),
                ..
            }
        ));
    }

    #[test]
    fn entity_errors_name_what_is_wrong() {
        let ws = ws();
        assert!(matches!(
            parse_entity(&ws, "applications@3"),
            Err(ParseError::MissingKind(_))
        ));
        assert!(matches!(
            parse_entity(&ws, "table:applications@3"),
            Err(ParseError::UnknownKind(kind)) if kind == "table"
        ));
        assert!(matches!(
            parse_entity(&ws, "dataset:applications"),
            Err(ParseError::MissingVersion {
                kind: EntityKind::DatasetVersion,
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "model:credit-risk"),
            Err(ParseError::MissingVersion {
                kind: EntityKind::ModelVersion,
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "env:sklearn"),
            Err(ParseError::MissingVersion {
                kind: EntityKind::Environment,
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "run:r-123@2"),
            Err(ParseError::UnexpectedVersion {
                kind: EntityKind::Run,
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "compute:gpu@1"),
            Err(ParseError::UnexpectedVersion {
                kind: EntityKind::Compute,
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "dataset:applications@"),
            Err(ParseError::Key {
                error: KeyError::Version(IdError::Empty),
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "run:"),
            Err(ParseError::Key {
                error: KeyError::Name(IdError::Empty),
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "dataset:app lications@3"),
            Err(ParseError::Key {
                error: KeyError::Name(IdError::BadCharacter { .. }),
                ..
            })
        ));
    }

    #[test]
    fn artifact_names_are_run_slash_name() {
        let ws = ws();
        assert!(matches!(
            parse_entity(&ws, "artifact:model.pkl"),
            Err(ParseError::Key {
                error: KeyError::Name(IdError::ArtifactName),
                ..
            })
        ));
        assert!(matches!(
            parse_entity(&ws, "artifact:r-123/"),
            Err(ParseError::Key {
                error: KeyError::Name(IdError::Empty),
                ..
            })
        ));
        // The artifact's own name may contain '/', the run id may not.
        assert_eq!(parsed("artifact:r-1/plots/roc.png").1, "r-1/plots/roc.png");
        assert!(matches!(
            parse_entity(&ws, "artifact:r-1@2"),
            Err(ParseError::UnexpectedVersion { .. })
        ));
    }

    #[test]
    fn workspaces_are_required_and_checked() {
        assert_eq!(workspace(None), Err(ParseError::MissingWorkspace));
        assert!(matches!(
            workspace(Some("Credit")),
            Err(ParseError::Workspace(_, IdError::BadCharacter { .. }))
        ));
        assert!(workspace(Some("credit-lender")).is_ok());
    }

    #[test]
    fn dataset_and_model_specs() {
        assert_eq!(
            parse_dataset_spec("applications@3"),
            Ok(("applications".to_owned(), Some("3".to_owned())))
        );
        assert_eq!(
            parse_dataset_spec("dataset:applications"),
            Ok(("applications".to_owned(), None))
        );
        assert!(matches!(
            parse_dataset_spec("model:credit-risk@7"),
            Err(ParseError::UnknownKind(_))
        ));
        assert!(matches!(
            parse_dataset_spec("applications@"),
            Err(ParseError::Key {
                error: KeyError::Version(IdError::Empty),
                ..
            })
        ));
        assert_eq!(
            parse_model_spec("model:credit-risk@7"),
            Ok(("credit-risk".to_owned(), "7".to_owned()))
        );
        assert_eq!(
            parse_model_spec("fraud@12"),
            Ok(("fraud".to_owned(), "12".to_owned()))
        );
        assert!(matches!(
            parse_model_spec("credit-risk"),
            Err(ParseError::MissingVersion { .. })
        ));
    }

    #[test]
    fn run_ids_names_and_metric_keys() {
        assert_eq!(
            parse_unversioned(EntityKind::Run, "run:r-1"),
            Ok("r-1".to_owned())
        );
        assert_eq!(
            parse_unversioned(EntityKind::Run, "r-1"),
            Ok("r-1".to_owned())
        );
        assert!(matches!(
            parse_unversioned(EntityKind::Run, "r/1"),
            Err(ParseError::Key {
                error: KeyError::Name(IdError::BadCharacter { found: '/', .. }),
                ..
            })
        ));
        assert!(matches!(
            parse_unversioned(EntityKind::Run, "model:credit-risk"),
            Err(ParseError::UnknownKind(_))
        ));
        assert_eq!(
            parse_unversioned(EntityKind::ModelVersion, "model:credit-risk"),
            Ok("credit-risk".to_owned())
        );
        let versioned = parse_unversioned(EntityKind::ModelVersion, "credit-risk@7")
            .expect_err("criteria are the model's, not a version's");
        assert_eq!(
            versioned.to_string(),
            "\"credit-risk@7\": a model has no version; drop the @..."
        );
        assert_eq!(
            parse_unversioned(EntityKind::Experiment, "exp:credit-risk-2026"),
            Ok("credit-risk-2026".to_owned())
        );
        assert_eq!(parse_metric_key("val/loss"), Ok("val/loss".to_owned()));
        assert!(matches!(
            parse_metric_key("auc "),
            Err(ParseError::MetricKey { .. })
        ));
    }

    #[test]
    fn edge_kinds() {
        let cases = [
            ("input", v1::EdgeKind::Input),
            ("produced", v1::EdgeKind::Produced),
            ("derived", v1::EdgeKind::Derived),
            ("registered", v1::EdgeKind::Registered),
            ("packaged", v1::EdgeKind::Packaged),
            ("deployed", v1::EdgeKind::Deployed),
            ("ran_in", v1::EdgeKind::RanIn),
            ("ran_on", v1::EdgeKind::RanOn),
            ("parent_of", v1::EdgeKind::ParentOf),
            ("member_of", v1::EdgeKind::MemberOf),
            ("RAN-ON", v1::EdgeKind::RanOn),
            (" input ", v1::EdgeKind::Input),
        ];
        for (input, kind) in cases {
            assert_eq!(parse_edge_kind(input), Ok(kind), "{input}");
        }
        for bad in [
            "",
            "edge_kind_unspecified",
            "unspecified",
            "inputs",
            "ranin",
        ] {
            assert!(
                matches!(parse_edge_kind(bad), Err(ParseError::UnknownEdgeKind(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn node_kinds() {
        assert_eq!(parse_node_kind("dataset"), Ok(EntityKind::DatasetVersion));
        assert_eq!(parse_node_kind("environment"), Ok(EntityKind::Environment));
        assert!(matches!(
            parse_node_kind("table"),
            Err(ParseError::UnknownKind(_))
        ));
    }

    #[test]
    fn wire_refs_display_like_the_input() {
        for input in [
            "dataset:applications@3",
            "run:r-123",
            "artifact:r-1/model.pkl",
        ] {
            let key = parse_entity(&ws(), input).expect("parses");
            assert_eq!(display_ref(&to_wire(&key)), input);
            assert_eq!(key.to_string(), input);
        }
    }
}
