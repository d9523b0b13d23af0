"""`LineageClient`: the questions `lineage.v1.LineageService` answers, as
typed Python methods over the generated gRPC stub.

The wrapper is thin on purpose: each method builds the request from
keyword arguments (entities as `kind:name[@version]` text or `EntityRef`s,
moments as sequences or datetimes, kinds and views by name) and returns the
service's own response message, so everything proto/lineage/v1/service.proto
documents about an answer holds for what the method returns. What it adds:

- one channel, plaintext or TLS, and the bearer token on every call as
  `authorization: Bearer <token>` (crates/lineage-server/src/auth.rs);
- a deadline on every unary call (30 s by default, the service's own
  request timeout), none on streams unless asked;
- a `LineageError` subclass per status code instead of `grpc.RpcError`
  (errors.py);
- iterators over paged answers and streams, and waits for readiness and
  for published events to be handled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeAlias, TypeVar, cast

import grpc
from google.protobuf.message import Message

from .errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    UnavailableError,
    error_from_rpc,
)
from .events import timestamp_from_datetime
from .refs import entity_kind, parse_dataset_spec, parse_model_spec, parse_ref
from .v1 import events_pb2, service_pb2, service_pb2_grpc

#: An entity as `kind:name[@version]` (in the client's workspace unless
#: told otherwise) or an `EntityRef` (an empty workspace is filled in).
RefLike: TypeAlias = "str | events_pb2.EntityRef"
#: A log sequence, or a recorded time (what the service knew then).
AsOfLike: TypeAlias = "int | datetime"
#: `"basic"`, `"full"`, or the `EntityView` value.
ViewLike: TypeAlias = "str | service_pb2.EntityView"
#: An edge kind by name (`"input"`, `"ran_in"`, any case) or value.
EdgeKindLike: TypeAlias = "str | service_pb2.EdgeKind"
#: An entity kind by short name (`"model"`, `"dataset"`) or value.
EntityKindLike: TypeAlias = "str | events_pb2.EntityKind"
#: A payload kind by name (`"model_registered"`, any case) or value.
PayloadKindLike: TypeAlias = "str | service_pb2.PayloadKind"
#: PEM bytes, or the path of a PEM file.
PemLike: TypeAlias = "bytes | str | os.PathLike[str]"

DEFAULT_TARGET = "127.0.0.1:50051"
#: The service's default request timeout; a `min_seq` wait fits within it.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: grpc's default limit is 4 MiB; a full-view subgraph of thousands of
#: entities, or a PROV export, can be larger.
MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024
#: How often the waits below ask for the service's status.
STATUS_POLL_INTERVAL_SECONDS = 0.1

_Response = TypeVar("_Response", bound=Message)


class LineageClient:
    """A connection to `lineaged`'s gRPC service.

    `target` is `host:port`, optionally `http://` (plaintext) or `https://`
    (TLS with the system's roots unless `root_certificates` is given); TLS
    is used whenever certificates are given. `token` is sent with every
    call. `workspace` is the default workspace of every question (each
    method's `workspace=` overrides it). `timeout` is the default deadline,
    in seconds, of unary calls.

    Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        token: str | None = None,
        root_certificates: PemLike | None = None,
        *,
        workspace: str | None = None,
        client_certificate: PemLike | None = None,
        client_key: PemLike | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        channel_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.workspace = workspace
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        options = [
            ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
            *channel_options,
        ]
        self._channel = _open_channel(
            target,
            root_certificates=_read_pem(root_certificates),
            client_certificate=_read_pem(client_certificate),
            client_key=_read_pem(client_key),
            options=options,
        )
        # The generated stub is untyped: `_unary` and `_stream` type its answers.
        self._stub: Any = service_pb2_grpc.LineageServiceStub(self._channel)

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> LineageClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- references -------------------------------------------------------

    def ref(self, entity: RefLike, workspace: str | None = None) -> events_pb2.EntityRef:
        """The `EntityRef` for `kind:name[@version]` (checked here) or a
        reference, in `workspace` or the client's."""
        if isinstance(entity, events_pb2.EntityRef):
            if entity.workspace:
                return entity
            filled = events_pb2.EntityRef()
            filled.CopyFrom(entity)
            filled.workspace = self._workspace(workspace)
            return filled
        return parse_ref(entity, self._workspace(workspace))

    # -- the graph --------------------------------------------------------

    def get_entity(
        self,
        entity: RefLike,
        *,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.Entity:
        """One entity with every fact (the FULL view)."""
        request = service_pb2.GetEntityRequest(
            entity=self.ref(entity, workspace),
            min_seq=min_seq,
            as_of=_as_of(as_of, occurred_by),
        )
        return self._unary("GetEntity", request, service_pb2.Entity, timeout)

    def provenance(
        self,
        entity: RefLike,
        *,
        max_depth: int = 0,
        edge_kinds: Iterable[EdgeKindLike] = (),
        node_kinds: Iterable[EntityKindLike] = (),
        limit: int = 0,
        view: ViewLike | None = None,
        compact_edges: bool = False,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.Subgraph:
        """Everything upstream of `entity`: what it came from, to any depth."""
        request = self._traversal(
            entity,
            max_depth=max_depth,
            edge_kinds=edge_kinds,
            node_kinds=node_kinds,
            limit=limit,
            view=view,
            compact_edges=compact_edges,
            min_seq=min_seq,
            as_of=as_of,
            occurred_by=occurred_by,
            workspace=workspace,
        )
        return self._unary("Provenance", request, service_pb2.Subgraph, timeout)

    def impact(
        self,
        entity: RefLike,
        *,
        max_depth: int = 0,
        edge_kinds: Iterable[EdgeKindLike] = (),
        node_kinds: Iterable[EntityKindLike] = (),
        limit: int = 0,
        view: ViewLike | None = None,
        compact_edges: bool = False,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.Subgraph:
        """Everything downstream of `entity`: what it touched, to any depth."""
        request = self._traversal(
            entity,
            max_depth=max_depth,
            edge_kinds=edge_kinds,
            node_kinds=node_kinds,
            limit=limit,
            view=view,
            compact_edges=compact_edges,
            min_seq=min_seq,
            as_of=as_of,
            occurred_by=occurred_by,
            workspace=workspace,
        )
        return self._unary("Impact", request, service_pb2.Subgraph, timeout)

    def runs_using_dataset(
        self,
        dataset: str,
        version: str | None = None,
        *,
        page_size: int = 0,
        page_token: str = "",
        view: ViewLike | None = None,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.RunsUsingDatasetResponse:
        """One page of the runs that declared `dataset` as an input:
        `"applications@3"` for that version, `"applications"` for any."""
        name, spec_version = parse_dataset_spec(dataset)
        request = service_pb2.RunsUsingDatasetRequest(
            workspace=self._workspace(workspace),
            dataset=name,
            version=version if version is not None else (spec_version or ""),
            page_size=page_size,
            page_token=page_token,
            view=_view(view),
            min_seq=min_seq,
            as_of=_as_of(as_of, occurred_by),
        )
        return self._unary(
            "RunsUsingDataset", request, service_pb2.RunsUsingDatasetResponse, timeout
        )

    def iter_runs_using_dataset(
        self,
        dataset: str,
        version: str | None = None,
        *,
        page_size: int = 0,
        view: ViewLike | None = None,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[service_pb2.Entity]:
        """Every run that used `dataset`, page after page."""
        page_token = ""
        while True:
            page = self.runs_using_dataset(
                dataset,
                version,
                page_size=page_size,
                page_token=page_token,
                view=view,
                min_seq=min_seq,
                as_of=as_of,
                occurred_by=occurred_by,
                workspace=workspace,
                timeout=timeout,
            )
            yield from page.runs
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def trace_model(
        self,
        model: str,
        version: str | None = None,
        *,
        view: ViewLike | None = None,
        compact_edges: bool = False,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.ModelTrace:
        """Where a model version came from: `trace_model("credit-risk@7")`
        (or `("credit-risk", "7")`): its source run, inputs, environment,
        compute and the whole upstream subgraph."""
        name, model_version = _model_version(model, version)
        request = service_pb2.TraceModelRequest(
            workspace=self._workspace(workspace),
            model=name,
            version=model_version,
            view=_view(view),
            compact_edges=compact_edges,
            min_seq=min_seq,
            as_of=_as_of(as_of, occurred_by),
        )
        return self._unary("TraceModel", request, service_pb2.ModelTrace, timeout)

    def diff_lineage(
        self,
        a: str,
        b: str,
        *,
        max_depth: int = 0,
        min_seq: int = 0,
        a_as_of: AsOfLike | None = None,
        a_occurred_by: datetime | None = None,
        b_as_of: AsOfLike | None = None,
        b_occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.LineageDiff:
        """What differs between how two model versions (`"credit-risk@5"`,
        `"credit-risk@7"`) were made."""
        space = self._workspace(workspace)
        request = service_pb2.DiffLineageRequest(
            a=parse_ref(_as_model_ref(a), space),
            b=parse_ref(_as_model_ref(b), space),
            max_depth=max_depth,
            min_seq=min_seq,
            a_as_of=_as_of(a_as_of, a_occurred_by),
            b_as_of=_as_of(b_as_of, b_occurred_by),
        )
        return self._unary("DiffLineage", request, service_pb2.LineageDiff, timeout)

    # -- runs -------------------------------------------------------------

    def search_runs(
        self,
        filter: str = "",
        *,
        experiments: Iterable[str] = (),
        order_by: Iterable[str] = (),
        page_size: int = 0,
        page_token: str = "",
        view: ViewLike | None = None,
        min_seq: int = 0,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.SearchRunsResponse:
        """One page of runs matching a filter (README, "Search and rank
        runs"), e.g. `search_runs("params.lr = '0.03'", order_by=["metrics.auc DESC"])`."""
        request = service_pb2.SearchRunsRequest(
            workspace=self._workspace(workspace),
            experiments=list(experiments),
            filter=filter,
            order_by=list(order_by),
            page_size=page_size,
            page_token=page_token,
            view=_view(view),
            min_seq=min_seq,
        )
        return self._unary("SearchRuns", request, service_pb2.SearchRunsResponse, timeout)

    def iter_search_runs(
        self,
        filter: str = "",
        *,
        experiments: Iterable[str] = (),
        order_by: Iterable[str] = (),
        page_size: int = 0,
        view: ViewLike | None = None,
        min_seq: int = 0,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[service_pb2.Entity]:
        """Every run matching the filter, in order, page after page."""
        experiments, order_by = list(experiments), list(order_by)
        page_token = ""
        while True:
            page = self.search_runs(
                filter,
                experiments=experiments,
                order_by=order_by,
                page_size=page_size,
                page_token=page_token,
                view=view,
                min_seq=min_seq,
                workspace=workspace,
                timeout=timeout,
            )
            yield from page.runs
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def compare_runs(
        self,
        run_ids: Sequence[str],
        *,
        lower_is_better: Iterable[str] = (),
        min_seq: int = 0,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.RunComparison:
        """2 to 16 runs side by side: fields, parameters, inputs, metrics."""
        request = service_pb2.CompareRunsRequest(
            workspace=self._workspace(workspace),
            run_ids=list(run_ids),
            lower_is_better=list(lower_is_better),
            min_seq=min_seq,
        )
        return self._unary("CompareRuns", request, service_pb2.RunComparison, timeout)

    def metric_history(
        self,
        run_id: str,
        key: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        min_seq: int = 0,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.MetricHistory:
        """One page of one metric of one run, by step."""
        request = service_pb2.GetMetricHistoryRequest(
            workspace=self._workspace(workspace),
            run_id=run_id,
            key=key,
            page_size=page_size,
            page_token=page_token,
            min_seq=min_seq,
        )
        return self._unary("GetMetricHistory", request, service_pb2.MetricHistory, timeout)

    def check_promotion(
        self,
        model: str,
        version: str | None = None,
        *,
        criteria: str = "",
        min_seq: int = 0,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.PromotionCheck:
        """Whether a model version (`"credit-risk@7"`) meets its stored
        promotion criteria, or `criteria` given here, term by term with the
        evidence. Without stored criteria and none given:
        `FailedPreconditionError`."""
        name, model_version = _model_version(model, version)
        request = service_pb2.CheckPromotionRequest(
            workspace=self._workspace(workspace),
            model=name,
            version=model_version,
            criteria=criteria,
            min_seq=min_seq,
        )
        return self._unary("CheckPromotion", request, service_pb2.PromotionCheck, timeout)

    # -- streams ----------------------------------------------------------

    def watch_impact(
        self,
        entity: RefLike,
        *,
        max_depth: int = 0,
        from_seq: int = 0,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> Generator[service_pb2.ImpactEvent, None, None]:
        """Every entity that comes to be downstream of `entity`, as it is
        applied; runs until `timeout` (none by default) or the caller
        closes the generator (`.close()`, or leaving a `for` loop and
        dropping it), which cancels the stream."""
        request = service_pb2.WatchImpactRequest(
            root=self.ref(entity, workspace), max_depth=max_depth, from_seq=from_seq
        )
        return self._stream("WatchImpact", request, service_pb2.ImpactEvent, timeout)

    def replay(
        self,
        *,
        from_seq: int = 0,
        to_seq: int = 0,
        from_time: datetime | None = None,
        to_time: datetime | None = None,
        workspaces: Iterable[str] = (),
        kinds: Iterable[PayloadKindLike] = (),
        entity: RefLike | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> Generator[service_pb2.LogRecord, None, None]:
        """The log's records in order, exactly as stored (an auditor's call)."""
        request = service_pb2.ReplayRequest(
            from_seq=from_seq,
            to_seq=to_seq,
            workspaces=list(workspaces),
            kinds=[_payload_kind(kind) for kind in kinds],
        )
        if from_time is not None:
            request.from_time.CopyFrom(timestamp_from_datetime(from_time))
        if to_time is not None:
            request.to_time.CopyFrom(timestamp_from_datetime(to_time))
        if entity is not None:
            request.entity.CopyFrom(self.ref(entity, workspace))
        return self._stream("Replay", request, service_pb2.LogRecord, timeout)

    # -- the log and the service -----------------------------------------

    def export_prov(
        self,
        entity: RefLike,
        *,
        downstream: bool = False,
        max_depth: int = 0,
        limit: int = 0,
        min_seq: int = 0,
        as_of: AsOfLike | None = None,
        occurred_by: datetime | None = None,
        workspace: str | None = None,
        timeout: float | None = None,
    ) -> service_pb2.ExportProvResponse:
        """The subgraph around `entity` (upstream, or downstream) as a W3C
        PROV-JSON document, signed when the service has a key."""
        request = service_pb2.ExportProvRequest(
            root=self.ref(entity, workspace),
            direction=(
                service_pb2.PROV_DIRECTION_DOWNSTREAM
                if downstream
                else service_pb2.PROV_DIRECTION_UPSTREAM
            ),
            max_depth=max_depth,
            limit=limit,
            min_seq=min_seq,
            as_of=_as_of(as_of, occurred_by),
        )
        return self._unary("ExportProv", request, service_pb2.ExportProvResponse, timeout)

    def verify_log(
        self,
        *,
        from_seq: int = 0,
        to_seq: int = 0,
        public_key: str = "",
        timeout: float | None = None,
    ) -> service_pb2.VerifyLogResponse:
        """Recomputes the log's hash chain on the server; damage is an
        answer (`ok` false, where and why), not an error."""
        request = service_pb2.VerifyLogRequest(
            from_seq=from_seq, to_seq=to_seq, public_key=public_key
        )
        return self._unary("VerifyLog", request, service_pb2.VerifyLogResponse, timeout)

    def status(
        self, *, include_state_digest: bool = False, timeout: float | None = None
    ) -> service_pb2.StatusResponse:
        """Ingest progress, the size of the graph, dead letters and duplicates."""
        request = service_pb2.GetStatusRequest(include_state_digest=include_state_digest)
        return self._unary("GetStatus", request, service_pb2.StatusResponse, timeout)

    def wait_until_ready(
        self, timeout: float = 30.0, *, ingest_connected: bool = True
    ) -> service_pb2.StatusResponse:
        """Polls `GetStatus` until the service has replayed its log (and,
        by default, holds its JetStream consumer, which is when the events
        stream exists for producers). Raises `TimeoutError` after `timeout`
        seconds, saying what it saw last."""
        deadline = time.monotonic() + timeout
        last_seen = "no answer yet"
        while True:
            remaining = deadline - time.monotonic()
            try:
                status = self.status(timeout=max(0.1, min(remaining, 5.0)))
                if status.ready and (status.ingest_connected or not ingest_connected):
                    return status
                last_seen = (
                    f"ready={status.ready} ingest_connected={status.ingest_connected}"
                    f" ingest_error={status.ingest_error!r}"
                )
            except (UnavailableError, DeadlineExceededError) as error:
                # Not listening yet, or busy replaying: worth asking again.
                # Anything else (a wrong token, say) will not change.
                last_seen = str(error)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"lineaged was not ready after {timeout:.0f} s: {last_seen}")
            time.sleep(min(STATUS_POLL_INTERVAL_SECONDS, max(0.0, deadline - time.monotonic())))

    def wait_until_handled(
        self,
        baseline: service_pb2.StatusResponse,
        messages: int,
        timeout: float = 30.0,
    ) -> service_pb2.StatusResponse:
        """Polls `GetStatus` until the service has handled `messages` more
        messages than at `baseline`, as `lineage emit --wait` does, and
        returns the status then: its `applied_seq`, as `min_seq`, reads
        them.

        Every message the service consumes ends stored (`applied_seq`),
        recognised as a duplicate (`duplicates`) or dead-lettered
        (`dead_lettered`), so their sum grows by one per message. The
        counters are service-wide: with other producers active this waits
        for at least that many messages, not for these exact ones. Raises
        `TimeoutError` after `timeout` seconds.
        """
        target = handled_messages(baseline) + messages
        deadline = time.monotonic() + timeout
        last: service_pb2.StatusResponse | None = None
        while True:
            remaining = deadline - time.monotonic()
            try:
                last = self.status(timeout=max(0.1, min(remaining, 5.0)))
                if handled_messages(last) >= target:
                    return last
            except (UnavailableError, DeadlineExceededError):
                pass
            if time.monotonic() >= deadline:
                got = handled_messages(last) - handled_messages(baseline) if last else 0
                raise TimeoutError(
                    f"lineaged handled {got} of {messages} messages in {timeout:.0f} s"
                    + (
                        f" (ingest error: {last.ingest_error})"
                        if last and last.ingest_error
                        else ""
                    )
                )
            time.sleep(min(STATUS_POLL_INTERVAL_SECONDS, max(0.0, deadline - time.monotonic())))

    # -- plumbing ---------------------------------------------------------

    def _workspace(self, workspace: str | None) -> str:
        chosen = workspace or self.workspace
        if not chosen:
            raise InvalidArgumentError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "no workspace: pass workspace=..., or LineageClient(workspace=...)",
            )
        return chosen

    def _traversal(
        self,
        entity: RefLike,
        *,
        max_depth: int,
        edge_kinds: Iterable[EdgeKindLike],
        node_kinds: Iterable[EntityKindLike],
        limit: int,
        view: ViewLike | None,
        compact_edges: bool,
        min_seq: int,
        as_of: AsOfLike | None,
        occurred_by: datetime | None,
        workspace: str | None,
    ) -> service_pb2.TraversalRequest:
        return service_pb2.TraversalRequest(
            root=self.ref(entity, workspace),
            max_depth=max_depth,
            edge_kinds=[_edge_kind(kind) for kind in edge_kinds],
            node_kinds=[entity_kind(kind) for kind in node_kinds],
            limit=limit,
            view=_view(view),
            compact_edges=compact_edges,
            min_seq=min_seq,
            as_of=_as_of(as_of, occurred_by),
        )

    def _unary(
        self, rpc: str, request: Message, response_type: type[_Response], timeout: float | None
    ) -> _Response:
        """Calls `rpc`, whose answer is a `response_type`: the generated
        stub is untyped, and this is where its answers get their types."""
        method = getattr(self._stub, rpc)
        try:
            response = method(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as error:
            # The grpc error's own text repeats code and details around a
            # debug string; the LineageError says both, and which call.
            raise error_from_rpc(error, rpc) from None
        return cast(_Response, response)

    def _stream(
        self, rpc: str, request: Message, response_type: type[_Response], timeout: float | None
    ) -> Generator[_Response, None, None]:
        """Calls the server-streaming `rpc`, whose messages are `response_type`s."""
        call = getattr(self._stub, rpc)(request, timeout=timeout, metadata=self._metadata)
        try:
            for response in call:
                yield cast(_Response, response)
        except grpc.RpcError as error:
            raise error_from_rpc(error, rpc) from None
        finally:
            # A caller that stops iterating early frees the server's stream
            # (and its place among the few it serves at once).
            call.cancel()


def handled_messages(status: service_pb2.StatusResponse) -> int:
    """Messages the service has consumed: stored, duplicates and dead letters."""
    return status.applied_seq + status.duplicates + status.dead_lettered


def _open_channel(
    target: str,
    *,
    root_certificates: bytes | None,
    client_certificate: bytes | None,
    client_key: bytes | None,
    options: Sequence[tuple[str, Any]],
) -> grpc.Channel:
    scheme, separator, address = target.partition("://")
    if not separator:
        scheme, address = "", target
    if scheme not in ("", "http", "https"):
        raise ValueError(f"target {target!r}: use host:port, http://host:port or https://host:port")
    wants_tls = scheme == "https" or any(
        value is not None for value in (root_certificates, client_certificate, client_key)
    )
    if scheme == "http" and wants_tls:
        raise ValueError(f"target {target!r} is plaintext (http://) but certificates were given")
    if not wants_tls:
        return grpc.insecure_channel(address, options=list(options))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root_certificates,
        private_key=client_key,
        certificate_chain=client_certificate,
    )
    return grpc.secure_channel(address, credentials, options=list(options))


def _read_pem(value: PemLike | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as pem_file:
        return pem_file.read()


def _as_of(as_of: AsOfLike | None, occurred_by: datetime | None) -> service_pb2.AsOf | None:
    if as_of is None and occurred_by is None:
        return None
    if as_of is not None and occurred_by is not None:
        raise InvalidArgumentError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "one moment per view: as_of (a sequence or recorded time) or occurred_by, not both",
        )
    if occurred_by is not None:
        return service_pb2.AsOf(occurred_by=timestamp_from_datetime(occurred_by))
    if isinstance(as_of, datetime):
        return service_pb2.AsOf(recorded_at=timestamp_from_datetime(as_of))
    return service_pb2.AsOf(seq=as_of)


def _view(view: ViewLike | None) -> service_pb2.EntityView:
    if view is None:
        return service_pb2.ENTITY_VIEW_UNSPECIFIED
    if isinstance(view, str):
        return cast(
            service_pb2.EntityView,
            _enum_value(service_pb2.EntityView, view, prefix="ENTITY_VIEW_"),
        )
    return view


def _edge_kind(kind: EdgeKindLike) -> service_pb2.EdgeKind:
    if isinstance(kind, str):
        return cast(service_pb2.EdgeKind, _enum_value(service_pb2.EdgeKind, kind.replace("-", "_")))
    return kind


def _payload_kind(kind: PayloadKindLike) -> service_pb2.PayloadKind:
    if isinstance(kind, str):
        return cast(service_pb2.PayloadKind, _enum_value(service_pb2.PayloadKind, kind))
    return kind


def _enum_value(enum: Any, given: str, prefix: str = "") -> int:
    """The value of `enum` named `prefix` + `given` (any case), or an
    INVALID_ARGUMENT naming the choices (rather than protobuf's bare
    ValueError)."""
    name = prefix + given.strip().upper()
    # An EnumTypeWrapper, which has keys() but cannot be iterated.
    names = [key for key in enum.keys() if not key.endswith("UNSPECIFIED")]  # noqa: SIM118
    if name in names:
        return int(enum.Value(name))
    choices = ", ".join(key.removeprefix(prefix).lower() for key in names)
    raise InvalidArgumentError(
        grpc.StatusCode.INVALID_ARGUMENT, f"{given!r} is not one of {choices}"
    )


def _model_version(model: str, version: str | None) -> tuple[str, str]:
    if version is not None:
        return model, version
    return parse_model_spec(model)


def _as_model_ref(spec: str) -> str:
    name, version = parse_model_spec(spec)
    return f"model:{name}@{version}"
