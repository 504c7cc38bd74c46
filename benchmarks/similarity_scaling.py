"""Seconds for `autograder similarity` over N distinct submissions of one assignment, stage by stage: regions (read
each graded copy, keep the student's own lines), fingerprints, pairs, page (html, csv and json written), total.

The submissions are written straight into autograded/ of a scratch course (no grading): each is the source notebook
with a random choice of the assignment's STYLES and MISTAKES edits (those that still apply after the ones before),
then a random renaming of some of the names the solutions choose, so that no two are alike by construction. Where
copydetect is importable, it is timed on the same submissions as a named baseline: one .py file per student with
the code of the solution cells, and the released template of those cells as its boilerplate.

    python benchmarks/similarity_scaling.py [--submissions 600] [--seed 0]
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import re
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.content import folder_of, load_module
from autograder.course import Assignment, Course, copy_course, load_course
from autograder.notebook import nbgrader_meta
from autograder.similarity.compare import SimilarityResult, read_class, read_sources, write_similarity
from autograder.similarity.fingerprints import fingerprints
from autograder.similarity.pairs import rank_pairs
from autograder.similarity.regions import REGION, released_template

ROOT = Path(__file__).resolve().parents[1]
# names the a2-attention solutions choose (a student may call them anything)
NAMES = ["scores", "weights", "source", "split", "out", "b", "lq", "d", "t"]
WORDS = ["attn", "probs", "logits", "ctx", "kv", "heads", "x2", "val", "tmp", "res", "batch", "length", "width", "part"]


def variant(source: nbformat.NotebookNode, edits: list[list[tuple[str, str]]], rng: random.Random) -> str:
    """The source with a random subset of the edit groups made (each old text must occur once at that point) and
    a random renaming inside the solution regions, as notebook JSON."""
    nb = nbformat.from_dict(source)
    for group in rng.sample(edits, rng.randint(0, 4)):
        cells = [[c for c in nb.cells if old in c.source] for old, _ in group]
        if all(len(hits) == 1 and hits[0].source.count(old) == 1 for hits, (old, _) in zip(cells, group)):
            for hits, (old, new) in zip(cells, group):
                hits[0].source = hits[0].source.replace(old, new)
    chosen = rng.sample(NAMES, rng.randint(0, len(NAMES)))
    names = {n: f"{rng.choice(WORDS)}_{rng.randrange(1000)}" for n in chosen}
    if names:
        pattern = re.compile(r"\b(" + "|".join(names) + r")\b")
        for cell in nb.cells:
            cell.source = REGION.sub(lambda m: pattern.sub(lambda n: names[n.group()], m.group()), cell.source)
    return nbformat.writes(nb)


def variants(course: Course, assignment: Assignment, n: int, seed: int) -> list[str]:
    """`n` distinct submissions of the assignment's first notebook (see variant), in a fixed order for a seed."""
    rng = random.Random(seed)
    module = load_module(folder_of(course, assignment), "mistakes")
    edits = [group for _, _, group, *_ in module.MISTAKES] + [group for _, group in module.STYLES]
    source = nbformat.read(str(course.root / assignment.notebooks[0]), as_version=4)
    texts: set[str] = set()
    while len(texts) < n:
        texts.add(variant(source, edits, rng))
    return sorted(texts)


def copydetect_seconds(course_root: Path, students: list[str], assignment: str, notebook: str) -> float:
    """copydetect 0.5 over the solution cells' code of the same students, the released template as boilerplate."""
    from copydetect import CopyDetector

    def solution_code(nb: nbformat.NotebookNode, template: bool) -> str:
        cells = [c.source for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("solution")]
        return "\n\n".join(released_template(s) if template else s for s in cells)

    work = Path(tempfile.mkdtemp(prefix="copydetect-"))
    (work / "students").mkdir()
    (work / "boilerplate").mkdir()
    for student in students:
        nb = nbformat.read(str(course_root / "autograded" / student / assignment / notebook), as_version=4)
        (work / "students" / f"{student}.py").write_text(solution_code(nb, False))
    source = nbformat.read(str(course_root / "assignments" / assignment / notebook), as_version=4)
    (work / "boilerplate" / "template.py").write_text(solution_code(source, True))
    start = time.perf_counter()
    detector = CopyDetector(test_dirs=[str(work / "students")], boilerplate_dirs=[str(work / "boilerplate")],
                            extensions=["py"], autoopen=False, silent=True, out_file=str(work / "report.html"))
    detector.run()
    ranked = detector.get_copied_code_list()  # the pairs over display_t, best first, with their code
    detector.generate_html_report()
    print(f"copydetect: {len(ranked)} pairs over its display threshold")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=600)
    parser.add_argument("--assignment", default="a2-attention")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    course = load_course(copy_course(ROOT, Path(tempfile.mkdtemp(prefix="similarity-"))))
    assignment = course.assignment(args.assignment)
    notebook = assignment.notebooks[0]
    students = [f"student{i:04d}" for i in range(args.submissions)]
    for student, text in zip(students, variants(course, assignment, args.submissions, args.seed)):
        path = course.root / "autograded" / student / assignment.id / notebook.name
        path.parent.mkdir(parents=True)
        path.write_text(text)
    print(f"{args.submissions} distinct submissions of {assignment.id} in {course.root / 'autograded'}")

    seconds = {}
    start = time.perf_counter()
    sources = read_sources(course, assignment)
    code, notes = read_class(course, assignment, sources)
    seconds["regions"] = time.perf_counter() - start
    mark = time.perf_counter()
    prints = {s: fingerprints(lines, sources.vocabulary) for s, lines in code.items()}
    seconds["fingerprints"] = time.perf_counter() - mark
    mark = time.perf_counter()
    pairs = rank_pairs(prints, args.top)
    seconds["pairs"] = time.perf_counter() - mark
    mark = time.perf_counter()
    result = SimilarityResult(assignment.id, sorted(code), pairs, notes, {s: code[s] for p in pairs for s in (p.a, p.b)})
    write_similarity(course, result)
    seconds["page"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - start
    for note in notes:
        print(f"skipped: {note}")
    for stage, s in seconds.items():
        print(f"{stage:<13} {s:7.2f} s")
    print(f"best pair: {pairs[0].a} {pairs[0].b} {pairs[0].score:.2f}; {len(pairs)} pairs reported" if pairs else "no pairs")
    if importlib.util.find_spec("copydetect") is None:
        print("copydetect is not installed: no baseline")
        return
    print(f"{'copydetect':<13} {copydetect_seconds(course.root, students, assignment.id, notebook.name):7.2f} s "
          f"(copydetect 0.5, same submissions, solution cells with the template as boilerplate)")


if __name__ == "__main__":
    main()
