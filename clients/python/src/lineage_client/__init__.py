"""A Python client for `lineaged`, the event-sourced lineage graph service.

Two halves, as the service has:

- publishing: `EventPublisher` (publisher.py) sends `lineage.v1.Event`s to
  NATS JetStream, built by `EventBuilder` (events.py), and runs a block of
  code as a run (`publisher.run(...)`);
- asking: `LineageClient` (client.py) wraps the gRPC
  `lineage.v1.LineageService`; failures are `LineageError`s (errors.py).

`lineage_client.v1` is the code generated from proto/lineage/v1 (messages
with type stubs, and the gRPC stub); `refs.py` reads and checks entity
references written `kind:name[@version]`.
"""

from ._version import __version__
from .client import LineageClient, handled_messages
from .errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidRefError,
    LineageError,
    NotFoundError,
    PermissionDeniedError,
    PublishError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from .events import EventBuilder
from .publisher import EventPublisher, PublishCounts, RunContext
from .refs import format_ref, make_ref, parse_dataset_spec, parse_model_spec, parse_ref
from .v1 import events_pb2, service_pb2

__all__ = [
    "DeadlineExceededError",
    "EventBuilder",
    "EventPublisher",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "InvalidRefError",
    "LineageClient",
    "LineageError",
    "NotFoundError",
    "PermissionDeniedError",
    "PublishCounts",
    "PublishError",
    "ResourceExhaustedError",
    "RunContext",
    "UnauthenticatedError",
    "UnavailableError",
    "__version__",
    "events_pb2",
    "format_ref",
    "handled_messages",
    "make_ref",
    "parse_dataset_spec",
    "parse_model_spec",
    "parse_ref",
    "service_pb2",
]
