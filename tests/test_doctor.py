"""`autograder doctor` reports the machine's protections; grading refuses where files cannot be hidden."""
from __future__ import annotations

from pathlib import Path

import pytest

from autograder import cli
from autograder.commands import doctor
from autograder.course import copy_course

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_lists_every_protection(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--course", str(ROOT / "course.yml"), "doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("files hidden (Landlock)", "resource limits", "process and thread count limited", "bubblewrap"):
        assert name in out


def test_grading_refuses_without_landlock_unless_unsafe(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    copy_course(ROOT, tmp_path)
    course = str(tmp_path / "course.yml")
    monkeypatch.setattr(doctor, "abi_version", lambda: 0)
    code = cli.main(["--course", course, "grade", "a2-attention", "--submissions", str(tmp_path)])
    assert code == 3
    assert "cannot hide the reference implementation" in capsys.readouterr().err
    assert "NO   files hidden" in doctor.report() and "not safe to grade here" in doctor.report()
    # with --unsafe it goes on (and then stops at the empty submissions folder, past the refusal)
    code = cli.main(["--course", course, "grade", "a2-attention", "--submissions", str(tmp_path / "none"), "--unsafe"])
    assert code == 2 and "no submissions folder" in capsys.readouterr().err
