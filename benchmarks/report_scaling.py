"""Seconds for `autograder report` over N graded submissions of one assignment, stage by stage: the class summary
(gradebook and stored results read), similarity, and the whole report (figures, page, CSV and JSON, similarity
included). The baseline in the same run is what the report saves: grading the same batch again (--jobs 2).

The submissions are those of similarity_scaling.py (the source notebook with random STYLES and MISTAKES edits and
random renames), every tenth one late, graded for real in a scratch course first.

    python benchmarks/report_scaling.py [--submissions 600] [--assignment a2-attention]
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from autograder.commands.report import report
from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.reports.class_summary import summarize
from autograder.similarity import similarity
from similarity_scaling import variants

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=600)
    parser.add_argument("--assignment", default="a2-attention")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    course = load_course(copy_course(ROOT, Path(tempfile.mkdtemp(prefix="report-"))))
    assignment = course.assignment(args.assignment)
    notebook = assignment.notebooks[0]
    for i, text in enumerate(variants(course, assignment, args.submissions, args.seed)):
        folder = course.root / "submitted" / f"student{i:04d}" / assignment.id
        folder.mkdir(parents=True)
        (folder / notebook.name).write_text(text)
        if i % 10 == 0:
            late = dt.timedelta(hours=20 * (i % 7 + 1))  # within the grace period up to past the last late day
            (folder / "timestamp.txt").write_text((assignment.due + late).isoformat())
    start = time.perf_counter()
    grade_batch(course, assignment, course.root / "submitted", jobs=2)
    grading = time.perf_counter() - start
    print(f"{args.submissions} submissions of {assignment.id} graded with --jobs 2 in {grading:.1f} s "
          f"({grading / args.submissions * 1000:.0f} ms each)")

    seconds = {}
    start = time.perf_counter()
    summary = summarize(course, assignment)
    seconds["class summary"] = time.perf_counter() - start
    mark = time.perf_counter()
    similar = similarity(course, assignment)
    seconds["similarity"] = time.perf_counter() - mark
    mark = time.perf_counter()
    path = report(course, assignment, top=10)
    seconds["whole report"] = time.perf_counter() - mark
    for stage, s in seconds.items():
        print(f"{stage:<14} {s:7.2f} s")
    print(f"the report took {seconds['whole report'] / grading:.1%} of grading the batch again; {path}")
    print(f"{summary.submissions} results, {sum(len(p.mistakes) for p in summary.parts)} kinds of mistake ranked, "
          f"{len(similar.pairs)} similar pairs listed")


if __name__ == "__main__":
    main()
