"""The committed lineage_client.v1 is exactly what clients/python/generate.sh
makes from proto/lineage/v1 today: a proto changed without regenerating (or
a generated file edited by hand) fails here, naming the files that differ."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
GENERATE = PACKAGE / "generate.sh"
COMMITTED = PACKAGE / "src" / "lineage_client" / "v1"


def generated_files(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir() if path.suffix in (".py", ".pyi")}


def test_the_committed_generated_code_matches_the_protos(tmp_path: Path) -> None:
    fresh = tmp_path / "v1"
    completed = subprocess.run(
        ["bash", str(GENERATE), str(fresh)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr

    names = generated_files(fresh)
    assert {"events_pb2.py", "events_pb2.pyi", "service_pb2.py", "service_pb2_grpc.py"} <= names
    assert generated_files(COMMITTED) == names, (
        "files added or missing: run clients/python/generate.sh"
    )
    _, differing, errors = filecmp.cmpfiles(fresh, COMMITTED, sorted(names), shallow=False)
    assert not errors
    assert not differing, (
        f"{differing} differ from what generate.sh makes of proto/lineage/v1: run"
        " clients/python/generate.sh (with scripts/python/.venv/bin/python) and commit the result"
    )


def test_the_generated_modules_import_their_siblings_relatively() -> None:
    # So that lineage_client works wherever it is installed, and claims no
    # top-level `lineage` package.
    for path in COMMITTED.glob("*.py*"):
        text = path.read_text()
        assert "from lineage.v1" not in text and "import lineage." not in text, path.name
