"""The stored results the class report reads: written whole, read back equal, and a damaged file is named."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from autograder.records.stored_results import read_results, result_path, write_result
from autograder.results import PartResult, SubmissionResult


def a_result(student: str = "ann") -> SubmissionResult:
    parts = [PartResult("sdpa", 4.0, 8.0, ["no mask: the scores are not divided by sqrt(d_k)"], {"no_scaling": 2},
                        ["causal: output differs (largest difference 0.3)"]),
             PartResult("why", 0.0, 2.0, ["'a' is not the right answer"], answer="a"),
             PartResult("prose", None, 2.0, ["graded by hand"])]
    return SubmissionResult(student, "a2-attention", "attention.ipynb", parts, notes=["submitted late: 90% of the score is kept"],
                            troubles=["timed out"], late_multiplier=0.9,
                            submitted_at=dt.datetime(2027, 2, 2, 10, tzinfo=dt.timezone.utc), graded_file=Path("/x/y.ipynb"))


def test_a_stored_result_reads_back_as_it_was_graded(tmp_path: Path) -> None:
    result = a_result()
    path = write_result(tmp_path, result)
    assert path == tmp_path / "results/a2-attention/ann/attention.json"
    (back,), notes = read_results(tmp_path, "a2-attention")
    assert notes == []
    result.graded_file = None  # where the file was read is not kept
    assert back == result


def test_a_second_grading_replaces_the_first(tmp_path: Path) -> None:
    write_result(tmp_path, a_result())
    again = a_result()
    again.status, again.parts = "error", again.parts[:1]
    write_result(tmp_path, again)
    (back,), _ = read_results(tmp_path, "a2-attention")
    assert back.status == "error" and back.needs_regrade and len(back.parts) == 1
    assert not list((tmp_path / "results").rglob("*.partial"))


def test_damaged_links_and_oversized_files_are_named_and_the_rest_is_read(tmp_path: Path) -> None:
    for student in ("ann", "bob", "cat", "dan"):
        write_result(tmp_path, a_result(student))
    result_path(tmp_path, a_result("bob")).write_text('{"parts": [')
    cat = result_path(tmp_path, a_result("cat"))
    cat.unlink()
    os.symlink(result_path(tmp_path, a_result("ann")), cat)
    with result_path(tmp_path, a_result("dan")).open("a") as f:
        f.write(" " * (5 << 20))
    results, notes = read_results(tmp_path, "a2-attention")
    assert [r.student for r in results] == ["ann"]
    assert len(notes) == 3 and all("not a stored result" in n for n in notes)
    assert [n.split(":")[0] for n in notes] == [str(result_path(tmp_path, a_result(s))) for s in ("bob", "cat", "dan")]


def test_no_results_folder_means_nothing_graded(tmp_path: Path) -> None:
    assert read_results(tmp_path, "a2-attention") == ([], [])
