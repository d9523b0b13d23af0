"""The exceptions the client raises, one class per gRPC status worth reacting to.

`lineaged` answers with a deliberately small set of codes (README, "Asking
questions"): NOT_FOUND for unknown entities, INVALID_ARGUMENT naming the
field for malformed requests, DEADLINE_EXCEEDED when a `min_seq` wait runs
out, RESOURCE_EXHAUSTED when it sheds load, UNAUTHENTICATED and
PERMISSION_DENIED from the access file, UNAVAILABLE when it cannot be
reached. Each has its own subclass of `LineageError`, so a caller can catch
what it can act on (`except NotFoundError`) and let the rest through; every
one carries the code and the service's message. A reference the client
itself cannot parse is an `InvalidRefError`, an INVALID_ARGUMENT found
before anything is sent, and also a `ValueError`.

Publishing to NATS is not gRPC: its failures are `PublishError`.
"""

from __future__ import annotations

import grpc


class LineageError(Exception):
    """A call to `lineage.v1.LineageService` failed.

    `code` is the gRPC status code, `details` the service's message (which
    names the field or entity at fault) and `rpc` the method called, when
    known.
    """

    code: grpc.StatusCode
    details: str
    rpc: str | None

    def __init__(self, code: grpc.StatusCode, details: str, *, rpc: str | None = None) -> None:
        self.code = code
        self.details = details
        self.rpc = rpc
        where = f"{rpc}: " if rpc else ""
        super().__init__(f"{where}{code.name}: {details}")


class NotFoundError(LineageError):
    """The entity does not exist (or did not at the moment asked about)."""


class InvalidArgumentError(LineageError):
    """The request is malformed; the message names the field and why."""


class FailedPreconditionError(LineageError):
    """The question cannot be answered as asked, e.g. a promotion check of a
    model without stored criteria."""


class DeadlineExceededError(LineageError):
    """The deadline passed, e.g. the graph had not applied `min_seq` yet."""


class ResourceExhaustedError(LineageError):
    """The service is shedding load; retry with backoff."""


class UnauthenticatedError(LineageError):
    """No token, or one the service's access file does not know."""


class PermissionDeniedError(LineageError):
    """The token's principal lacks the role or the workspace."""


class UnavailableError(LineageError):
    """The service could not be reached (not running, wrong address, TLS)."""


class InvalidRefError(InvalidArgumentError, ValueError):
    """A `kind:name[@version]` reference (or a workspace, name or version)
    that breaks the service's identifier rules, found before sending."""

    def __init__(self, details: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, details)


class PublishError(Exception):
    """An event was not stored by JetStream: no stream takes the subject
    (is `lineaged` running? it creates the stream), no ack in time, or the
    event is not one this publisher may send."""


_ERROR_BY_CODE: dict[grpc.StatusCode, type[LineageError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def error_from_rpc(error: grpc.RpcError, rpc: str) -> LineageError:
    """The `LineageError` subclass for a failed call's status.

    grpc raises `grpc.RpcError` objects that are also `grpc.Call`s; the
    code and details are read from there (an error without them, which
    grpc does not produce for finished calls, counts as UNKNOWN).
    """
    code_of = getattr(error, "code", None)
    details_of = getattr(error, "details", None)
    code = code_of() if callable(code_of) else None
    details = details_of() if callable(details_of) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    error_class = _ERROR_BY_CODE.get(code, LineageError)
    return error_class(code, details or str(error), rpc=rpc)
