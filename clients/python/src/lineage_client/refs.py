"""Entity references as people write them, `kind:name[@version]`, and the
identifier rules they must meet.

The forms and rules are the CLI's (crates/lineage-cli/src/entity.rs) and
the service's (crates/lineage-core/src/id.rs): the kind up to the first
`:`, the version after the last `@` (names and versions may contain `:`
but never `@`); dataset, model and environment versions need a version,
other kinds take none; artifacts are named `run_id/name`. Checking here
means a typo is reported before anything is sent, naming the part that is
wrong, and that anything accepted here is something the service accepts.

    dataset:applications@3     model:credit-risk@7     run:cr-sweep-0706-t08
    artifact:RUN/model.pkl     env:sklearn@1.4.2       compute:cpu-pool-a
    endpoint:credit-scoring-eu experiment:credit-risk-2026
"""

from __future__ import annotations

import re
from typing import cast

from .errors import InvalidRefError
from .v1 import events_pb2

#: The short names the CLI reads, and their spelled-out aliases.
KIND_BY_NAME: dict[str, events_pb2.EntityKind] = {
    "experiment": events_pb2.EXPERIMENT,
    "exp": events_pb2.EXPERIMENT,
    "run": events_pb2.RUN,
    "dataset": events_pb2.DATASET_VERSION,
    "dataset_version": events_pb2.DATASET_VERSION,
    "ds": events_pb2.DATASET_VERSION,
    "artifact": events_pb2.ARTIFACT,
    "model": events_pb2.MODEL_VERSION,
    "model_version": events_pb2.MODEL_VERSION,
    "env": events_pb2.ENVIRONMENT,
    "environment": events_pb2.ENVIRONMENT,
    "compute": events_pb2.COMPUTE,
    "endpoint": events_pb2.ENDPOINT,
}

#: The name each kind is written with, in `kind:name[@version]` and output.
SHORT_NAME: dict[int, str] = {
    events_pb2.EXPERIMENT: "experiment",
    events_pb2.RUN: "run",
    events_pb2.DATASET_VERSION: "dataset",
    events_pb2.ARTIFACT: "artifact",
    events_pb2.MODEL_VERSION: "model",
    events_pb2.ENVIRONMENT: "env",
    events_pb2.COMPUTE: "compute",
    events_pb2.ENDPOINT: "endpoint",
}

#: Kinds whose entities carry a version.
VERSIONED_KINDS = frozenset(
    {events_pb2.DATASET_VERSION, events_pb2.MODEL_VERSION, events_pb2.ENVIRONMENT}
)

_KIND_HELP = "experiment, run, dataset, artifact, model, env, compute, endpoint"

# The alphabets of crates/lineage-core/src/id.rs. ASCII only: identifiers
# cannot hide lookalikes, and are safe in NATS subjects and shells.
_WORKSPACE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:/+=-]*")
# Run ids have no '/', because artifacts are named `run_id/name`.
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:+=-]*")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")
MAX_NAME_BYTES = 256
MAX_VERSION_BYTES = 128


def check_workspace(workspace: str) -> str:
    """Returns `workspace` if it is `[a-z0-9][a-z0-9._-]{0,63}`."""
    if not _WORKSPACE.fullmatch(workspace):
        raise InvalidRefError(
            f"workspace {workspace!r} must be 1-64 of a-z 0-9 . _ -, starting with a-z or 0-9"
        )
    return workspace


def check_name(name: str, what: str = "name") -> str:
    """Returns `name` if it is a valid entity name (dataset, model, experiment...)."""
    return _check(name, _NAME, MAX_NAME_BYTES, what, "A-Z a-z 0-9 . _ - : / + =")


def check_run_id(run_id: str, what: str = "run id") -> str:
    """Returns `run_id` if it is a valid run id (a name without '/')."""
    return _check(run_id, _RUN_ID, MAX_NAME_BYTES, what, "A-Z a-z 0-9 . _ - : + =")


def check_version(version: str, what: str = "version") -> str:
    """Returns `version` if it is a valid version of a dataset, model or environment."""
    return _check(version, _VERSION, MAX_VERSION_BYTES, what, "A-Z a-z 0-9 . _ - : +")


def _check(value: str, pattern: re.Pattern[str], max_bytes: int, what: str, allowed: str) -> str:
    if not value:
        raise InvalidRefError(f"{what} must not be empty")
    if len(value.encode()) > max_bytes:
        raise InvalidRefError(f"{what} {value!r} is longer than {max_bytes} bytes")
    if not pattern.fullmatch(value):
        raise InvalidRefError(
            f"{what} {value!r} has a character outside {allowed} (or starts with one it may not)"
        )
    return value


def entity_kind(kind: str | int) -> events_pb2.EntityKind:
    """An `EntityKind` from a short name or alias (`dataset`, `model`...) or the enum value."""
    if isinstance(kind, str):
        found = KIND_BY_NAME.get(kind.strip().lower())
        if found is None:
            raise InvalidRefError(f"unknown entity kind {kind!r}; one of {_KIND_HELP}")
        return found
    if kind not in SHORT_NAME:
        raise InvalidRefError(f"unknown entity kind {kind!r}; one of {_KIND_HELP}")
    return cast(events_pb2.EntityKind, kind)


def make_ref(workspace: str, kind: str | int, name: str, version: str = "") -> events_pb2.EntityRef:
    """An `EntityRef` from its parts, checked as the service would."""
    checked_kind = entity_kind(kind)
    check_workspace(workspace)
    if checked_kind == events_pb2.RUN:
        check_run_id(name)
    elif checked_kind == events_pb2.ARTIFACT:
        run_id, slash, artifact = name.partition("/")
        if not slash:
            raise InvalidRefError(f"artifact {name!r}: artifacts are named run_id/name")
        check_run_id(run_id, "artifact's run id")
        check_name(artifact, "artifact name")
    else:
        check_name(name)
    if checked_kind in VERSIONED_KINDS:
        check_version(version)
    elif version:
        raise InvalidRefError(f"a {SHORT_NAME[checked_kind]} has no version; drop {version!r}")
    return events_pb2.EntityRef(workspace=workspace, kind=checked_kind, name=name, version=version)


def parse_ref(text: str, workspace: str) -> events_pb2.EntityRef:
    """Parses `kind:name[@version]` into an `EntityRef` of `workspace`.

    >>> parse_ref("model:credit-risk@7", "credit-lender").name
    'credit-risk'
    """
    kind_name, colon, rest = text.partition(":")
    if not colon:
        raise InvalidRefError(
            f"{text!r} has no kind: write kind:name[@version], e.g. dataset:applications@3 "
            f"({_KIND_HELP})"
        )
    kind = entity_kind(kind_name)
    name, at, version = rest.rpartition("@")
    if not at:
        name, version = rest, ""
    if kind in VERSIONED_KINDS and not at:
        short = SHORT_NAME[kind]
        raise InvalidRefError(f"{text!r}: a {short} needs a version, e.g. {short}:name@3")
    if kind not in VERSIONED_KINDS and at:
        raise InvalidRefError(f"{text!r}: a {SHORT_NAME[kind]} has no version; drop the @...")
    try:
        return make_ref(workspace, kind, name, version)
    except InvalidRefError as error:
        raise InvalidRefError(f"{text!r}: {error.details}") from None


def format_ref(ref: events_pb2.EntityRef) -> str:
    """`kind:name[@version]`, the form `parse_ref` reads and the CLI prints."""
    text = f"{SHORT_NAME.get(ref.kind, '?')}:{ref.name}"
    return f"{text}@{ref.version}" if ref.version else text


def split_versioned(text: str, kind: str) -> tuple[str, str | None]:
    """`name@version` or `name` (an optional `kind:` prefix dropped): the
    form of `applications@3`, `credit-risk@7`, `sklearn@1.4.2`."""
    prefix, colon, rest = text.partition(":")
    if colon and KIND_BY_NAME.get(prefix) == KIND_BY_NAME[kind]:
        text = rest
    elif colon and prefix in KIND_BY_NAME:
        raise InvalidRefError(f"{text!r}: expected a {kind}, not a {prefix}")
    name, at, version = text.rpartition("@")
    if not at:
        return check_name(text, f"{kind} name"), None
    return check_name(name, f"{kind} name"), check_version(version, f"{kind} version")


def parse_model_spec(text: str) -> tuple[str, str]:
    """`credit-risk@7` (or `model:credit-risk@7`) into `("credit-risk", "7")`."""
    model, version = split_versioned(text, "model")
    if version is None:
        raise InvalidRefError(f"{text!r}: a model version needs @version, e.g. credit-risk@7")
    return model, version


def parse_dataset_spec(text: str) -> tuple[str, str | None]:
    """`applications@3` into `("applications", "3")`; `applications` (any
    version) into `("applications", None)`."""
    return split_versioned(text, "dataset")
