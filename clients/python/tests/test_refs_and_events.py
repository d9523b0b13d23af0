"""Reading `kind:name[@version]` references and building events, without a
service: the same forms and rules as the CLI (crates/lineage-cli/src/entity.rs)
and the service (crates/lineage-core/src/id.rs)."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import grpc
import pytest

from lineage_client import (
    EventBuilder,
    InvalidArgumentError,
    InvalidRefError,
    events_pb2,
    format_ref,
    parse_dataset_spec,
    parse_model_spec,
    parse_ref,
)


@pytest.mark.parametrize(
    ("text", "kind", "name", "version"),
    [
        ("dataset:applications@3", events_pb2.DATASET_VERSION, "applications", "3"),
        ("model:credit-risk@7", events_pb2.MODEL_VERSION, "credit-risk", "7"),
        ("run:cr-sweep-0706-t08", events_pb2.RUN, "cr-sweep-0706-t08", ""),
        ("artifact:RUN/model.pkl", events_pb2.ARTIFACT, "RUN/model.pkl", ""),
        ("env:sklearn@1.4.2", events_pb2.ENVIRONMENT, "sklearn", "1.4.2"),
        ("compute:cpu-pool-a", events_pb2.COMPUTE, "cpu-pool-a", ""),
        ("endpoint:credit-scoring-eu", events_pb2.ENDPOINT, "credit-scoring-eu", ""),
        ("experiment:credit-risk-2026", events_pb2.EXPERIMENT, "credit-risk-2026", ""),
        # Names may hold ':'; the version is after the last '@'.
        (
            "ds:warehouse:loans@2026-11-01",
            events_pb2.DATASET_VERSION,
            "warehouse:loans",
            "2026-11-01",
        ),
        ("model_version:fraud@12", events_pb2.MODEL_VERSION, "fraud", "12"),
        ("environment:py@3.11", events_pb2.ENVIRONMENT, "py", "3.11"),
    ],
)
def test_references_parse_as_the_cli_reads_them(
    text: str, kind: int, name: str, version: str
) -> None:
    ref = parse_ref(text, "credit-lender")
    assert (ref.workspace, ref.kind, ref.name, ref.version) == (
        "credit-lender",
        kind,
        name,
        version,
    )


def test_a_reference_formats_back_to_its_short_form() -> None:
    for text in [
        "dataset:applications@3",
        "run:r-1",
        "artifact:r-1/model.pkl",
        "env:sklearn@1.4.2",
    ]:
        assert format_ref(parse_ref(text, "w")) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("applications@3", "has no kind"),
        ("table:applications@3", "unknown entity kind 'table'"),
        ("dataset:applications", "needs a version"),
        ("run:r-123@2", "has no version"),
        ("dataset:applications@", "version must not be empty"),
        ("dataset:app lications@3", "'app lications'"),
        ("dataset:a@b@3", "'a@b'"),
        ("artifact:r-1", "run_id/name"),
        ("run:a/b", "run id 'a/b'"),
        ("dataset:applications@-3", "version '-3'"),
    ],
)
def test_a_bad_reference_is_an_invalid_argument_naming_the_part(text: str, says: str) -> None:
    with pytest.raises(InvalidRefError) as raised:
        parse_ref(text, "credit-lender")
    error = raised.value
    assert isinstance(error, InvalidArgumentError) and isinstance(error, ValueError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert says in error.details


def test_workspaces_follow_the_service_rule() -> None:
    with pytest.raises(InvalidRefError, match="workspace 'Credit'"):
        parse_ref("run:r-1", "Credit")
    with pytest.raises(InvalidRefError):
        parse_ref("run:r-1", "x" * 65)
    assert parse_ref("run:r-1", "a" * 64).workspace == "a" * 64


def test_dataset_and_model_specs() -> None:
    assert parse_dataset_spec("applications@3") == ("applications", "3")
    assert parse_dataset_spec("dataset:applications") == ("applications", None)
    assert parse_model_spec("model:credit-risk@7") == ("credit-risk", "7")
    with pytest.raises(InvalidRefError, match="needs @version"):
        parse_model_spec("credit-risk")
    with pytest.raises(InvalidRefError, match="expected a model"):
        parse_model_spec("dataset:applications@3")


def test_the_builder_fills_the_envelope() -> None:
    builder = EventBuilder("credit-lender", producer="trainer/1.0", actor="ana@example.org")
    event = builder.run_started(
        "r-1", "credit-risk-2026", params={"lr": 0.03, "depth": 4}, environment="xgboost@2.0.3"
    )
    assert event.workspace == "credit-lender"
    assert event.producer == "trainer/1.0" and event.actor == "ana@example.org"
    assert len(event.event_id) == 36  # a uuid4
    assert event.HasField("occurred_at")
    assert dict(event.run_started.params) == {"lr": "0.03", "depth": "4"}
    assert (event.run_started.environment.name, event.run_started.environment.version) == (
        "xgboost",
        "2.0.3",
    )

    moment = datetime(2026, 7, 6, 10, 15, tzinfo=timezone.utc)
    given = builder.run_finished(
        "r-1", "failed", "out of memory", event_id="lender-0042", occurred_at=moment, actor="bot"
    )
    assert given.event_id == "lender-0042" and given.actor == "bot"
    assert given.occurred_at.ToDatetime(tzinfo=timezone.utc) == moment
    assert given.run_finished.status == events_pb2.FAILED


def test_event_times_from_one_builder_strictly_increase() -> None:
    # The service folds a run's status by event time, ties by event id: a
    # start and a finish stamped alike could resolve to STARTED.
    builder = EventBuilder("w")
    stamps = [builder.params_logged("r", {"k": 1}).occurred_at for _ in range(1000)]
    nanos = [stamp.seconds * 1_000_000_000 + stamp.nanos for stamp in stamps]
    assert all(later > earlier for earlier, later in itertools.pairwise(nanos))


def test_payload_builders_name_what_they_reference() -> None:
    builder = EventBuilder("w")
    inputs = builder.run_inputs_declared(
        "r-2",
        datasets=["applications@3", ("bureau-scores", "2")],
        artifacts=["r-1/model.pkl"],
        models=["credit-risk@7"],
    ).run_inputs_declared
    assert [(d.dataset, d.version) for d in inputs.datasets] == [
        ("applications", "3"),
        ("bureau-scores", "2"),
    ]
    assert (inputs.artifacts[0].run_id, inputs.artifacts[0].name) == ("r-1", "model.pkl")
    assert (inputs.models[0].model, inputs.models[0].version) == ("credit-risk", "7")

    flagged = builder.entity_flagged("dataset:applications@3", "bad join", "high").entity_flagged
    assert flagged.entity.workspace == "w" and flagged.severity == events_pb2.HIGH
    stage = builder.model_stage_changed("m", "1", "production").model_stage_changed
    assert stage.stage == events_pb2.PRODUCTION
    with pytest.raises(ValueError, match="source run"):
        builder.model_registered("m", "1", "")
    with pytest.raises(ValueError, match="needs a version"):
        builder.run_inputs_declared("r", datasets=["applications"])


def test_an_error_text_is_bounded_and_without_nul() -> None:
    finished = EventBuilder("w").run_finished("r", "FAILED", "é" * 40_000 + "\0").run_finished
    assert "\0" not in finished.error
    assert len(finished.error.encode()) <= 64 * 1024
