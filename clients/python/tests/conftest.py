"""Fixtures for testing lineage_client against a real stack (see
lineage_stack.py for how it is run and stopped).

- `stack`: one nats-server and one lineaged for the whole session;
- `workspace`: a fresh workspace per test, so tests sharing the stack see
  only their own lineage;
- `client`: a `LineageClient` of that workspace;
- `publish`: runs an async scenario against an `EventPublisher` of that
  workspace and waits until lineaged has handled what it published;
- `demo_history`: deploy/demo/history.jsonl loaded once per session.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test modules import lineage_stack; under --import-mode=importlib pytest
# does not put test directories on sys.path itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lineage_client import LineageClient
from lineage_stack import (
    Published,
    PublishFixture,
    Scenario,
    Stack,
    load_demo_history,
    publish_and_wait,
    running_stack,
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        with running_stack(tmp_path_factory.mktemp("stack")) as running:
            yield running
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture
def workspace() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def client(stack: Stack, workspace: str) -> Iterator[LineageClient]:
    with LineageClient(stack.grpc_addr, workspace=workspace, timeout=15.0) as lineage_client:
        yield lineage_client


@pytest.fixture
def publish(stack: Stack, client: LineageClient, workspace: str) -> PublishFixture:
    def run_scenario(scenario: Scenario[object]) -> Published:
        return publish_and_wait(stack, client, workspace, scenario)

    return run_scenario


@pytest.fixture(scope="session")
def demo_history(stack: Stack) -> str:
    """Loads the demo history; returns the credit lender's workspace."""
    load_demo_history(stack)
    return "credit-lender"
