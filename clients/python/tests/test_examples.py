"""examples/train.py and examples/questions.py, run as a user runs them,
against the real stack: each must exit 0 and print the expected answers."""

from __future__ import annotations

import re
from pathlib import Path

from lineage_client import LineageClient, events_pb2, format_ref
from lineage_stack import Stack, run_example


def stack_flags(stack: Stack, workspace: str) -> list[str]:
    return [
        "--nats-url",
        stack.nats_url,
        "--grpc-addr",
        stack.grpc_addr,
        "--workspace",
        workspace,
    ]


def test_train_reports_a_model_traced_back_to_its_dataset(
    stack: Stack, client: LineageClient, workspace: str, tmp_path: Path
) -> None:
    trained = run_example(
        "train.py",
        *stack_flags(stack, workspace),
        "--model-version",
        "1",
        "--out-dir",
        str(tmp_path),
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    output = trained.stdout
    dataset = re.search(r"^dataset:toy-points@(\w+)", output, re.MULTILINE)
    assert dataset, output
    dataset_ref = f"dataset:toy-points@{dataset.group(1)}"
    assert len(re.findall(r"^  epoch \d/5  loss ", output, re.MULTILINE)) == 5
    # The trace it prints, read back from lineaged: model <- run <- dataset.
    assert "where model:toy-classifier@1 came from" in output
    assert re.search(
        r"<- registered from run:toy-classifier-1-\w+ \(toy-classifier, COMPLETED\)", output
    )
    assert f"<- input {dataset_ref} ({(tmp_path / 'toy-points-').as_uri()}" in output

    # And lineaged holds what it says.
    trace = client.trace_model("toy-classifier@1", view="full")
    assert [format_ref(entity.ref) for entity in trace.inputs] == [dataset_ref]
    run = trace.source_run.run
    assert run.status == events_pb2.COMPLETED
    assert {m.key for m in run.latest_metrics} == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(m.step == 4 for m in run.latest_metrics)
    assert run.params["epochs"] == "5"
    assert list(run.artifacts) == ["model.json"]
    history = client.metric_history(trace.source_run.ref.name, "loss")
    losses = [point.value for point in history.points]
    assert len(losses) == 5 and losses[-1] < losses[0]


def test_questions_answer_the_domain_questions_on_the_demo_history(
    stack: Stack, demo_history: str
) -> None:
    asked = run_example("questions.py", *stack_flags(stack, demo_history))
    assert asked.returncode == 0, asked.stdout + asked.stderr
    output = asked.stdout
    expected = [
        # 1. where credit-risk@7 came from, down to the flagged dataset
        "source run: run:cr-sweep-0706-t08  COMPLETED",
        "  input: dataset:applications-features@3",
        "  dataset:applications@3  FLAGGED HIGH",
        # 2. what applications@3 touched, and production then and now
        "in production now: none of the model versions downstream",
        "model:credit-risk@7 on credit-scoring-eu",
        "NOT meeting its promotion criteria (unmet: no flagged upstream)",
        "endpoint:credit-scoring-eu now serves model:credit-risk@8",
        # 3. which runs used it, and any version
        "applications@3: 1 run(s)",
        "  run:feat-applications-3  COMPLETED",
        "any version of applications: 8 run(s)",
        # 4. the sweep ranked by AUC, the source run first
        "   1. run:cr-sweep-0706-t08  auc 0.7908  <- the model's source run",
        # 5. the promotion check and who approved each stage
        "FAIL  model:credit-risk@7  (6 of 7 criteria met",
        "  FAIL  no flagged upstream: 1 flag upstream: dataset:applications@3",
        "PRODUCTION by marc.dubois@credit-lender.example",
    ]
    missing = [line for line in expected if line not in output]
    assert not missing, f"missing {missing} in:\n{output}"


def test_questions_about_what_train_registered(
    stack: Stack, workspace: str, tmp_path: Path
) -> None:
    trained = run_example(
        "train.py",
        *stack_flags(stack, workspace),
        "--model-version",
        "2",
        "--out-dir",
        str(tmp_path),
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    dataset = re.search(r"^dataset:(toy-points@\w+)", trained.stdout, re.MULTILINE)
    assert dataset, trained.stdout

    asked = run_example(
        "questions.py",
        *stack_flags(stack, workspace),
        "--model",
        "toy-classifier@2",
        "--dataset",
        dataset.group(1),
    )
    assert asked.returncode == 0, asked.stdout + asked.stderr
    output = asked.stdout
    assert re.search(r"source run: run:toy-classifier-2-\w+  COMPLETED", output), output
    assert f"  input: dataset:{dataset.group(1)}" in output
    assert f"{dataset.group(1)}: 1 run(s)" in output
    # No stored criteria: it checks its fallback, which the run meets.
    assert "PASS  model:toy-classifier@2  (3 of 3 criteria met" in output


def test_questions_exit_1_naming_what_is_missing(stack: Stack, workspace: str) -> None:
    asked = run_example("questions.py", *stack_flags(stack, workspace), "--model", "nothing@1")
    assert asked.returncode == 1
    assert "NOT_FOUND" in asked.stderr
