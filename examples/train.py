#!/usr/bin/env python3
"""A training script that reports its lineage to lineaged as it trains.

It trains a tiny logistic-regression classifier by hand (the standard
library only: two features, stochastic gradient descent, a few epochs) on
a synthetic dataset it writes itself, and publishes, with
`lineage_client.EventPublisher`, what a training platform would:

1. the experiment;
2. the dataset version it trains on (named by its content digest, so the
   same data is the same version), registered with its URI and digest;
3. the run, started with its parameters, code version and environment,
   which declares that dataset version as its input;
4. loss and accuracy, on the training and validation splits, per epoch;
5. the trained weights as an artifact;
6. the run finished COMPLETED (FAILED, with the reason, if training
   raises: that is what `publisher.run()` does);
7. a model version registered from the run.

It then waits until lineaged has applied all of it and asks where the
model version came from, which must lead back to the dataset version.

    python examples/train.py --workspace ml-sandbox
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import hashlib
import json
import math
import platform
import random
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lineage_client import EventPublisher, LineageClient, events_pb2, format_ref

EXPERIMENT = "toy-classifier"
DATASET = "toy-points"
MODEL = "toy-classifier"


@dataclass
class Point:
    x1: float
    x2: float
    label: int


@dataclass
class EpochResult:
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float


def make_points(count: int, seed: int) -> list[Point]:
    """Two overlapping Gaussian clouds, one per class."""
    rng = random.Random(seed)
    points = []
    for index in range(count):
        label = index % 2
        center = 1.0 if label else -1.0
        points.append(Point(rng.gauss(center, 1.0), rng.gauss(center * 0.5, 1.0), label))
    rng.shuffle(points)
    return points


def points_csv(points: list[Point]) -> str:
    lines = ["x1,x2,label"] + [f"{p.x1:.6f},{p.x2:.6f},{p.label}" for p in points]
    return "\n".join(lines) + "\n"


def sigmoid(z: float) -> float:
    # Written both ways so that exp never overflows.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class LogisticRegression:
    """p(label = 1) = sigmoid(w1 x1 + w2 x2 + b), fitted by SGD with L2."""

    def __init__(self) -> None:
        self.w1 = 0.0
        self.w2 = 0.0
        self.b = 0.0

    def probability(self, point: Point) -> float:
        return sigmoid(self.w1 * point.x1 + self.w2 * point.x2 + self.b)

    def train_epoch(self, points: list[Point], lr: float, l2: float, rng: random.Random) -> None:
        order = list(points)
        rng.shuffle(order)
        for point in order:
            error = self.probability(point) - point.label
            self.w1 -= lr * (error * point.x1 + l2 * self.w1)
            self.w2 -= lr * (error * point.x2 + l2 * self.w2)
            self.b -= lr * error

    def evaluate(self, points: list[Point]) -> tuple[float, float]:
        """Mean log loss and accuracy."""
        loss = 0.0
        correct = 0
        for point in points:
            p = min(max(self.probability(point), 1e-12), 1 - 1e-12)
            loss -= math.log(p) if point.label else math.log(1 - p)
            correct += int((p >= 0.5) == bool(point.label))
        return loss / len(points), correct / len(points)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def train_and_report(args: argparse.Namespace) -> tuple[str, int]:
    """Trains while publishing; returns the model version registered and
    how many events JetStream stored as new."""
    out_dir = Path(args.out_dir)
    points = make_points(args.points, args.seed)
    csv_bytes = points_csv(points).encode()
    dataset_digest = sha256_hex(csv_bytes)
    dataset_version = dataset_digest[:12]
    # Named by content, like the version: the same data is the same file.
    dataset_path = out_dir / f"{DATASET}-{dataset_version}.csv"
    dataset_path.parent.mkdir(parents=True, exist_ok=True)
    dataset_path.write_bytes(csv_bytes)
    split = int(len(points) * 0.8)
    train_points, validation_points = points[:split], points[split:]

    script_digest = sha256_hex(Path(__file__).read_bytes())
    model_version = args.model_version or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    run_id = f"{EXPERIMENT}-{model_version}-{random.Random().getrandbits(32):08x}"
    params = {"lr": args.lr, "l2": args.l2, "epochs": args.epochs, "seed": args.seed}

    async with await EventPublisher.connect(
        args.nats_url, args.workspace, producer="examples/train.py", actor=args.actor
    ) as publisher:
        events = publisher.events
        await publisher.publish(
            events.experiment_created(
                EXPERIMENT,
                "Logistic regression on two synthetic features, trained by examples/train.py",
                tags={"example": "true"},
            )
        )
        await publisher.publish(
            events.dataset_version_registered(
                DATASET,
                dataset_version,
                uri=dataset_path.resolve().as_uri(),
                digest=f"sha256:{dataset_digest}",
            )
        )
        print(f"dataset:{DATASET}@{dataset_version}  {len(points)} points in {dataset_path}")

        python_version = re.sub(r"[^A-Za-z0-9._:+-]", "-", platform.python_version())
        async with publisher.run(
            run_id,
            experiment=EXPERIMENT,
            name=f"train {MODEL}@{model_version}",
            code_version=f"sha256:{script_digest[:16]}",
            environment=("python", python_version),
            compute_target="local-cpu",
            params=params,
            tags={"script": "examples/train.py"},
        ) as run:
            print(f"run:{run.run_id} started: {params}")
            await run.declare_inputs(datasets=[(DATASET, dataset_version)])
            model = LogisticRegression()
            rng = random.Random(args.seed)
            for epoch in range(args.epochs):
                model.train_epoch(train_points, args.lr, args.l2, rng)
                loss, accuracy = model.evaluate(train_points)
                val_loss, val_accuracy = model.evaluate(validation_points)
                if not math.isfinite(loss):
                    raise ArithmeticError(f"the loss diverged at epoch {epoch + 1}")
                await run.log_metrics(
                    {
                        "loss": loss,
                        "accuracy": accuracy,
                        "val_loss": val_loss,
                        "val_accuracy": val_accuracy,
                    },
                    step=epoch,
                )
                print(
                    f"  epoch {epoch + 1}/{args.epochs}  loss {loss:.4f}  accuracy {accuracy:.3f}"
                    f"  val_loss {val_loss:.4f}  val_accuracy {val_accuracy:.3f}"
                )
            weights = json.dumps({"w1": model.w1, "w2": model.w2, "b": model.b}, indent=2)
            weights_path = out_dir / run_id / "model.json"
            weights_path.parent.mkdir(parents=True, exist_ok=True)
            weights_path.write_text(weights + "\n")
            await run.log_artifact(
                "model.json",
                uri=weights_path.resolve().as_uri(),
                digest=f"sha256:{sha256_hex(weights_path.read_bytes())}",
                kind="model",
                size_bytes=weights_path.stat().st_size,
            )
        print(f"run:{run_id} COMPLETED; artifact model.json in {weights_path.parent}")

        await publisher.publish(
            events.model_registered(
                MODEL,
                model_version,
                run_id,
                artifact_name="model.json",
                approval_notes=f"val_accuracy {val_accuracy:.3f} after {args.epochs} epochs",
                approved_by=args.actor,
            )
        )
        print(f"model:{MODEL}@{model_version} registered from run:{run_id}")
        return model_version, publisher.counts.new


def print_trace(client: LineageClient, model_version: str, min_seq: int) -> None:
    """Where the model version came from, read back from lineaged."""
    trace = client.trace_model(MODEL, model_version, view="full", min_seq=min_seq)
    run = trace.source_run
    print(
        f"\nwhere model:{MODEL}@{model_version} came from (lineaged, log seq {trace.applied_seq}):"
    )
    print(f"  {format_ref(trace.model.ref)}")
    status = events_pb2.RunStatus.Name(run.run.status)
    print(f"  <- registered from {format_ref(run.ref)} ({run.run.experiment}, {status})")
    for entity in trace.inputs:
        uri = entity.dataset_version.uri
        print(f"  <- input {format_ref(entity.ref)}" + (f" ({uri})" if uri else ""))
    if trace.HasField("environment"):
        print(f"  environment {format_ref(trace.environment.ref)}")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--grpc-addr", default="127.0.0.1:50051")
    parser.add_argument("--workspace", default="ml-sandbox")
    parser.add_argument("--actor", default=f"{getpass.getuser()}@localhost")
    parser.add_argument("--epochs", type=positive_int, default=5)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--l2", type=float, default=0.001)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--model-version", help="the version to register (default: the UTC time, YYYYMMDDTHHMMSS)"
    )
    parser.add_argument(
        "--out-dir",
        default=str(Path(tempfile.gettempdir()) / "lineage-examples"),
        help="where the dataset and the weights are written (default: %(default)s)",
    )
    parser.add_argument("--wait-timeout", type=float, default=30.0)
    args = parser.parse_args()

    with LineageClient(args.grpc_addr, workspace=args.workspace) as client:
        baseline = client.status()
        model_version, published = asyncio.run(train_and_report(args))
        status = client.wait_until_handled(baseline, published, timeout=args.wait_timeout)
        print(f"lineaged handled the {published} events (through log seq {status.applied_seq})")
        print_trace(client, model_version, status.applied_seq)
    return 0


if __name__ == "__main__":
    sys.exit(main())
