"""`autograder check` run by a TA on a student's folder: the folder is the student's, so its fixtures/ are read as
untrusted data (no link followed, no odd name copied or printed raw) and the TA's files stay out of reach."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
AID = "a2-attention"


def test_a_hostile_release_folder_leaks_nothing_to_the_checked_code(tmp_path: Path) -> None:
    from autograder.commands.release import release
    from autograder.course import copy_course, load_course

    course_dir = tmp_path / "course"
    copy_course(ROOT, course_dir)
    folder = tmp_path / "student"
    shutil.copytree(release(load_course(course_dir / "course.yml"), load_course(course_dir / "course.yml").assignment(AID)), folder)
    secret = tmp_path / "ta-notes.txt"
    secret.write_text("TOPSECRET grades of everyone")
    os.symlink(secret, folder / "fixtures" / "stolen.json")
    (folder / "fixtures" / "\x1b]0;PWNED\x07.json").write_text("{}")
    nb = nbformat.read(str(ROOT / "assignments" / AID / "attention.ipynb"), as_version=4)
    answer = next(c for c in nb.cells if c.source.strip().startswith("### BEGIN SOLUTION\nanswer_weights_of_input_2"))
    answer.source = ("import glob, os\nfound = [open(p).read() for p in glob.glob('fixtures/*') + glob.glob('**/*.txt', recursive=True)"
                     " if 'TOPSECRET' in open(p, errors='ignore').read()] if True else []\n"
                     "answer_weights_of_input_2 = found[0] if found else 'nothing found'\n")
    nbformat.write(nb, str(folder / "attention.ipynb"))
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "check", "attention.ipynb"], capture_output=True,
                         text=True, cwd=folder)
    assert "weights-of-input-2: answer with one of 'a', 'b', 'c', 'd', not 'nothing found'" in run.stdout, run.stdout + run.stderr
    assert "TOPSECRET" not in run.stdout + run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    assert "✓ scaled-dot-product-attention" in run.stdout
