"""The package, the examples and these tests type-check under mypy --strict
(the settings are in clients/python/pyproject.toml), so the annotations
are ones a caller can rely on, not decoration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parents[1]


def test_mypy_strict_finds_nothing(tmp_path: Path) -> None:
    checked = [
        PACKAGE / "src" / "lineage_client",
        REPO / "examples" / "train.py",
        REPO / "examples" / "questions.py",
        PACKAGE / "tests",
    ]
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(PACKAGE / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            *map(str, checked),
        ],
        # The tests import lineage_stack from their own directory.
        env={**os.environ, "MYPYPATH": str(PACKAGE / "tests")},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
