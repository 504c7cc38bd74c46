"""The scratch course of the browser tests, and the `autograder` command run in it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "a1-embeddings"  # the quickest assignment to Run All
NOTEBOOK = f"{ASSIGNMENT}/embeddings.ipynb"  # relative to the folder a student opens


def autograder(course_dir: Path, *args: str) -> str:
    """Run `autograder ARGS` in `course_dir`, failing the test with its output when it fails."""
    result = subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=course_dir,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"autograder {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout
