"""A real stack for the tests: the `nats-server` and `lineaged` processes,
and the helpers the tests share (bounded waits, publishing and waiting
until it is handled, running scripts).

`running_stack` starts nats-server with JetStream and lineaged, each on a
free loopback port with its data in a given directory, waits (bounded)
until lineaged's HTTP listener accepts connections and it answers
`GetStatus` as ready with its JetStream consumer held, and at the end stops both by their own process ids: terminate, wait,
kill if they have not exited in time. Their output goes to files that a
failure message quotes.

Binaries: `LINEAGED_BIN` (default <repo>/target/debug/lineaged),
`LINEAGE_CLI_BIN` (default <repo>/target/debug/lineage), `NATS_SERVER_BIN`
(default: nats-server on PATH, or /usr/sbin/nats-server).

This is a module of its own, not part of conftest.py, so that test
modules can import its types: conftest.py puts this directory on sys.path
(pytest runs with `--import-mode=importlib`, so test directories of
different projects may hold files of the same name).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from lineage_client import EventPublisher, LineageClient, service_pb2

REPO = Path(__file__).resolve().parents[3]
LINEAGED_BIN = Path(os.environ.get("LINEAGED_BIN", REPO / "target" / "debug" / "lineaged"))
LINEAGE_CLI_BIN = Path(os.environ.get("LINEAGE_CLI_BIN", REPO / "target" / "debug" / "lineage"))
NATS_SERVER_BIN = (
    os.environ.get("NATS_SERVER_BIN") or shutil.which("nats-server") or "/usr/sbin/nats-server"
)
DEMO_HISTORY = REPO / "deploy" / "demo" / "history.jsonl"
EXAMPLES = REPO / "examples"

#: Bounds on every wait.
NATS_START_TIMEOUT_SECONDS = 15.0
LINEAGED_READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
INGEST_TIMEOUT_SECONDS = 30.0
SCRIPT_TIMEOUT_SECONDS = 120.0
POLL_INTERVAL_SECONDS = 0.1

T = TypeVar("T")


@dataclass(frozen=True)
class Stack:
    """Where the running stack listens, and its lineaged's output."""

    nats_url: str
    grpc_addr: str
    http_url: str
    lineaged_log: Path


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({path}: {error})"


def child_environment() -> dict[str, str]:
    """This environment without LINEAGE_* settings (an access file, TLS,
    another data directory...) that would change how the stack runs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINEAGE_")}
    env["LINEAGE_LOG"] = os.environ.get("LINEAGE_LOG", "info")
    return env


class Process:
    """A child process with its output in a file, stopped by its own pid."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        # Open for the process's whole life: stop() closes it.
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115
        try:
            self.popen = subprocess.Popen(
                argv,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_environment(),
            )
        except OSError:
            self._log.close()
            raise

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def stop(self) -> None:
        """SIGTERM (lineaged then flushes and exits), SIGKILL if it has not
        exited within the bound."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._log.close()

    def wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"{self.name} exited:\n{tail(self.log_path)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} is not listening on {port} after {timeout} s:\n{tail(self.log_path)}"
        )


def start_nats_server(root: Path, port: int) -> Process:
    """nats-server with JetStream, its store in `root`/nats, listening on `port`."""
    nats = Process(
        "nats-server",
        [NATS_SERVER_BIN, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(root / "nats")],
        root / "nats.log",
    )
    try:
        nats.wait_for_port(port, NATS_START_TIMEOUT_SECONDS)
    except RuntimeError:
        nats.stop()
        raise
    return nats


@contextmanager
def running_stack(root: Path) -> Iterator[Stack]:
    """nats-server and lineaged, with their data and output under `root`."""
    if not LINEAGED_BIN.is_file():
        raise RuntimeError(
            f"no lineaged binary at {LINEAGED_BIN}: run `cargo build -p lineage-server --bins`"
            " or set LINEAGED_BIN"
        )
    processes: list[Process] = []
    try:
        nats_port = free_port()
        processes.append(start_nats_server(root, nats_port))

        grpc_port, http_port = free_port(), free_port()
        stack = Stack(
            nats_url=f"nats://127.0.0.1:{nats_port}",
            grpc_addr=f"127.0.0.1:{grpc_port}",
            http_url=f"http://127.0.0.1:{http_port}",
            lineaged_log=root / "lineaged.log",
        )
        lineaged = Process(
            "lineaged",
            [
                str(LINEAGED_BIN),
                "--nats-url",
                stack.nats_url,
                "--data-dir",
                str(root / "lineaged"),
                "--grpc-addr",
                stack.grpc_addr,
                "--http-addr",
                f"127.0.0.1:{http_port}",
            ],
            stack.lineaged_log,
        )
        processes.append(lineaged)
        lineaged.wait_for_port(http_port, LINEAGED_READY_TIMEOUT_SECONDS)
        # grpc backs off reconnecting up to two minutes by default; lineaged
        # is seconds from listening, so ask again soon.
        quick_reconnect = [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        with LineageClient(stack.grpc_addr, channel_options=quick_reconnect) as client:
            try:
                client.wait_until_ready(LINEAGED_READY_TIMEOUT_SECONDS)
            except TimeoutError as error:
                raise RuntimeError(
                    f"{error}\nlineaged output:\n{tail(stack.lineaged_log)}"
                ) from None
        yield stack
    finally:
        # lineaged first, so that it does not watch its broker vanish.
        for process in reversed(processes):
            process.stop()


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Polls `condition` until it returns something truthy (returned),
    treating the exceptions in `ignore` as "not yet"; fails after `timeout`
    seconds naming `what` and the last exception seen."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except ignore as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what}: not within {timeout} s" + (f" (last: {last_error})" if last_error else "")
            )
        time.sleep(POLL_INTERVAL_SECONDS)


#: A test's events: an async function of a publisher.
Scenario = Callable[[EventPublisher], Awaitable[T]]


@dataclass
class Published:
    """What a scenario returned, and the status once lineaged had handled it."""

    result: object
    status: service_pb2.StatusResponse

    @property
    def seq(self) -> int:
        """The `min_seq` that reads what was published."""
        return self.status.applied_seq


#: The `publish` fixture: runs a scenario, waits until it is handled.
PublishFixture = Callable[[Scenario[object]], Published]


def publish_and_wait(
    stack: Stack, client: LineageClient, workspace: str, scenario: Scenario[object]
) -> Published:
    """Runs `scenario(publisher)` for `workspace`, then waits until lineaged
    has handled every event JetStream stored as new (the counters are
    service-wide; the tests of a session run one at a time)."""
    baseline = client.status()

    async def publish_all() -> tuple[object, int]:
        publisher = await EventPublisher.connect(
            stack.nats_url, workspace, producer="pytest", actor="tester@example.org"
        )
        async with publisher:
            result = await scenario(publisher)
        return result, publisher.counts.new

    result, new_events = asyncio.run(publish_all())
    status = client.wait_until_handled(baseline, new_events, timeout=INGEST_TIMEOUT_SECONDS)
    return Published(result, status)


def load_demo_history(stack: Stack) -> None:
    """deploy/demo/history.jsonl through the `lineage` CLI, as
    scripts/demo.sh loads it."""
    if not LINEAGE_CLI_BIN.is_file():
        raise RuntimeError(
            f"no lineage CLI at {LINEAGE_CLI_BIN}: cargo build -p lineage-cli --bins"
        )
    env = child_environment()
    env["LINEAGE_NATS_URL"] = stack.nats_url
    completed = subprocess.run(
        [
            str(LINEAGE_CLI_BIN),
            "--grpc-addr",
            stack.grpc_addr,
            "emit",
            str(DEMO_HISTORY),
            "--wait",
            "--wait-timeout",
            str(int(INGEST_TIMEOUT_SECONDS)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=INGEST_TIMEOUT_SECONDS + 30,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"lineage emit failed:\n{completed.stdout}{completed.stderr}")


def run_example(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """examples/<script> with this interpreter (which has lineage_client)."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        env=child_environment(),
    )
