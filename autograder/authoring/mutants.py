"""Mutation testing of an assignment's hidden cases, for its author: each solution region of the source notebook
is changed at one site at a time (an off-by-one, another dim, a dropped statement, swapped operands...), every
mutant is graded by the real grader, and the mutants that still earn full marks show where the cases are weak.

    mutate_cell (the operators) -> mutants_of (every solution cell, each mutant with its part)
    -> mutation_reports (graded against the unmutated source) -> render

assignments/<id>/mutants.py may hold EQUIVALENT = {mutant id: why}: mutants that no case can tell from the
solution, reported apart from the survivors.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import random
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..content import ContentError, checks_of, folder_of, load_module
from ..course import Assignment, Course
from ..notebook import nbgrader_meta, read_notebook
from ..results import SubmissionResult

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
UNMAPPED = "unmapped"
STUDENT = "mutants"  # one student for the source and every mutant: the same hidden cases for all

FLIPPED = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
           ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
UNWRAPPED = {"sqrt", "rsqrt", "exp", "log", "abs", "relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
             "float", "int", "tril", "triu", "sorted", "set"}  # f(x) -> x, x.f() -> x
MODULES = {"math", "torch", "F", "np", "nn", "functional"}  # math.sqrt(x) is a function of x, not a method of math
DIM_KEYWORDS = {"dim", "axis"}
DROPPABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Break, ast.Continue, ast.Assert,
             ast.Delete, ast.Raise)


@dataclass(frozen=True)
class Mutant:
    """One change at one site of one solution cell."""

    cell: str  # grade_id of the solution cell
    line: int  # 1-based, within the cell
    operator: str
    change: str  # what changed, e.g. "dim=-1 -> dim=-2"
    before: str  # the cell's line before the change
    after: str  # and after it
    source: str  # the whole mutated cell
    ordinal: int = 1  # 2, 3...: the same change at another place on the same line

    @property
    def id(self) -> str:
        suffix = f" #{self.ordinal}" if self.ordinal > 1 else ""
        return f"{self.cell}:{self.line}:{self.operator}:{self.change}{suffix}"


def _int_of(node: ast.AST) -> int | None:
    """The value of an integer literal (-1 included), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_of(node.operand)
        return None if inner is None or isinstance(node.operand, ast.UnaryOp) else -inner
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _int_node(n: int) -> ast.expr:
    return ast.Constant(n) if n >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-n))


def _shifted(node: ast.expr) -> Iterator[ast.expr]:
    """node + 1 and node - 1."""
    for op in (ast.Add(), ast.Sub()):
        yield ast.BinOp(copy.deepcopy(node), op, ast.Constant(1))


def _with(node: ast.AST, **fields: Any) -> ast.AST:
    """A copy of node with some fields replaced."""
    new = copy.deepcopy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _is_module(node: ast.expr) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in MODULES


def _unwrapped(call: ast.Call) -> ast.expr | None:
    """What a call of a numeric wrapper becomes without it: sqrt(x) -> x, x.softmax(dim=-1) -> x."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in UNWRAPPED and call.args:
        return call.args[0]
    if isinstance(func, ast.Attribute) and func.attr in UNWRAPPED:
        return (call.args[0] if call.args else None) if _is_module(func.value) else func.value
    return None


def _changes(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[str, ast.AST]]:
    """(operator, replacement) for each mutation of this node itself."""
    value = _int_of(node)
    if isinstance(node, ast.keyword) and node.arg in DIM_KEYWORDS and (dim := _int_of(node.value)) is not None:
        for new in (dim - 1, dim + 1):
            yield "dim", ast.keyword(arg=node.arg, value=_int_node(new))
    elif value is not None and not (parent is not None and _int_of(parent) is not None):
        for new in (value + 1, value - 1):
            yield "off-by-one", _int_node(new)
    elif isinstance(node, ast.Constant) and type(node.value) is float:
        yield "constant", ast.Constant(node.value * 2 if node.value else 1.0)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "bool", ast.Constant(not node.value)
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "range":
            for i, arg in enumerate(node.args):
                if _int_of(arg) is None:
                    for new in _shifted(arg):
                        yield "off-by-one", _with(node, args=[*node.args[:i], new, *node.args[i + 1:]])
        if (inner := _unwrapped(node)) is not None:
            yield "drop-call", copy.deepcopy(inner)
    elif isinstance(node, ast.Slice):
        for bound in ("lower", "upper"):
            if getattr(node, bound) is not None and _int_of(getattr(node, bound)) is None:
                for new in _shifted(getattr(node, bound)):
                    yield "off-by-one", _with(node, **{bound: new})
    elif isinstance(node, ast.BinOp) and isinstance(node.op, NON_COMMUTATIVE):
        yield "swap-operands", _with(node, left=node.right, right=node.left)
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in FLIPPED:
                yield "compare", _with(node, ops=[*node.ops[:i], FLIPPED[type(op)](), *node.ops[i + 1:]])
    elif isinstance(node, ast.BoolOp):
        yield "and-or", _with(node, op=ast.Or() if isinstance(node.op, ast.And) else ast.And())
    elif isinstance(node, DROPPABLE) and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        yield "drop-statement", ast.Pass()


def _parseable(source: str) -> str:
    """The cell with IPython's magics and shell lines blanked, so that it parses and keeps its line numbers."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def solution_lines(source: str) -> set[int]:
    """The 1-based lines between ### BEGIN SOLUTION and ### END SOLUTION."""
    inside, lines = False, set()
    for n, line in enumerate(source.split("\n"), 1):
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside:
            lines.add(n)
    return lines


def _replaced(tree: ast.Module, index: int, new: ast.AST) -> ast.Module:
    """A copy of the tree with its index-th node (in ast.walk order) replaced by `new`."""
    tree = copy.deepcopy(tree)
    target = list(ast.walk(tree))[index]
    for node in ast.walk(tree):
        for name, value in ast.iter_fields(node):
            if value is target:
                setattr(node, name, new)
            elif isinstance(value, list) and any(v is target for v in value):
                value[[id(v) for v in value].index(id(target))] = new
    return tree


def _spliced(line: str, node: ast.AST, text: str) -> str:
    """The line with the node's text replaced (ast columns count UTF-8 bytes)."""
    raw = line.encode()
    return (raw[:node.col_offset] + text.encode() + raw[node.end_col_offset:]).decode()


def mutate_cell(source: str, cell: str) -> list[Mutant]:
    """Every one-site mutant of the cell's solution regions that compiles; [] for a cell that does not parse."""
    try:
        tree = ast.parse(_parseable(source))
    except SyntaxError:
        return []
    region, lines = solution_lines(source), source.split("\n")
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    seen, mutants = {source}, []
    for index, node in enumerate(ast.walk(tree)):
        if not hasattr(node, "lineno") or node.lineno != node.end_lineno or node.lineno not in region:
            continue
        for operator, new in _changes(node, parents.get(node)):
            expected = ast.dump(_replaced(tree, index, new))
            old_text = ast.get_source_segment(source, node)
            for text in (ast.unparse(new), f"({ast.unparse(new)})"):
                after = _spliced(lines[node.lineno - 1], node, text)
                mutated = "\n".join([*lines[:node.lineno - 1], after, *lines[node.lineno:]])
                try:
                    if ast.dump(ast.parse(_parseable(mutated))) != expected:
                        continue
                    compile(_parseable(mutated), f"<{cell}>", "exec")
                except SyntaxError:
                    continue
                if mutated not in seen:
                    seen.add(mutated)
                    mutants.append(Mutant(cell, node.lineno, operator, f"{old_text} -> {text}",
                                          lines[node.lineno - 1], after, mutated))
                break
    return _numbered(mutants)


def _numbered(mutants: list[Mutant]) -> list[Mutant]:
    """Distinct ids where one change is possible at several places on a line."""
    counts: dict[str, int] = {}
    out = []
    for m in mutants:
        counts[m.id] = counts.get(m.id, 0) + 1
        out.append(dataclasses.replace(m, ordinal=counts[m.id]))
    return out


def defined_names(source: str, line: int | None = None) -> list[str]:
    """Names the cell defines at top level (def, class, assignment); only the statement holding `line` if given."""
    names = []
    for stmt in ast.parse(_parseable(source)).body:
        if line is not None and not stmt.lineno <= line <= stmt.end_lineno:
            continue
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


def part_of(source: str, line: int, targets: dict[str, str]) -> str:
    """The graded part whose target the mutated definition is, else the one part the cell defines, else UNMAPPED."""
    for names in (defined_names(source, line), defined_names(source)):
        parts = {targets[n] for n in names if n in targets}
        if len(parts) == 1:
            return parts.pop()
    return UNMAPPED


def mutants_of(nb: Any, targets: dict[str, str]) -> list[tuple[Mutant, str]]:
    """Every mutant of the notebook's solution code cells, with its part (targets: a check's target -> its id)."""
    found = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            found += [(m, part_of(cell.source, m.line, targets)) for m in mutate_cell(cell.source, meta["grade_id"])]
    return found


def sampled(found: list[tuple[Mutant, str]], per_part: int | None) -> list[tuple[Mutant, str]]:
    """At most per_part mutants of each part, drawn the same way on every run."""
    if per_part is None:
        return found
    keep: set[str] = set()
    for part in {p for _, p in found}:
        ids = [m.id for m, p in found if p == part]
        keep.update(random.Random(part).sample(ids, min(per_part, len(ids))))
    return [(m, p) for m, p in found if m.id in keep]


def equivalent_mutants(course: Course, assignment: Assignment) -> dict[str, str]:
    """EQUIVALENT of assignments/<id>/mutants.py: mutant id -> why no case can tell it from the solution."""
    folder = folder_of(course, assignment)
    module = load_module(folder, "mutants")
    listed = getattr(module, "EQUIVALENT", {}) if module is not None else {}
    if not isinstance(listed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in listed.items()):
        raise ContentError(f"{folder / 'mutants.py'}: EQUIVALENT must be a dict of mutant id -> why it is equivalent")
    return listed


@dataclass
class Outcome:
    """What grading one mutant showed."""

    mutant: Mutant
    part: str  # the graded part the mutated definition belongs to, or UNMAPPED
    lowered: list[str]  # the parts that scored below the unmutated source
    equivalent: str | None  # why, where mutants.py lists it

    @property
    def verdict(self) -> str:
        return "killed" if self.lowered else ("equivalent" if self.equivalent is not None else "survived")


@dataclass
class Report:
    """The mutants of one notebook, graded."""

    assignment: str
    notebook: Path
    outcomes: list[Outcome]
    generated: int  # mutants before sampling
    source_notes: list[str]  # where the unmutated source itself loses points
    stale: list[str]  # ids in EQUIVALENT that no mutant has
    seconds: float


def _with_cell(nb: Any, grade_id: str, source: str) -> Any:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            cell.source = source
    return nb


def mutation_reports(course: Course, assignment: Assignment, jobs: int = 1, per_part: int | None = None,
                     timeout_s: float | None = None) -> list[Report]:
    """Grade every mutant of each of the assignment's notebooks against the unmutated source, one report each.
    timeout_s replaces the per-check limit, so that a mutant that loops forever costs seconds."""
    import nbformat
    from tqdm import tqdm

    from ..grading.pipeline import grade_notebook
    from ..student_files import support_files
    from ..workers.client import ForkServer

    if timeout_s is not None:
        limits = dataclasses.replace(assignment.limits, check_timeout_s=timeout_s)
        assignment = dataclasses.replace(assignment, limits=limits)
    targets = {check.target: check.id for check in checks_of(course, assignment).values()}
    equivalent = equivalent_mutants(course, assignment)
    reports, all_ids = [], set()
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp, ForkServer(spares=max(1, jobs)) as server, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        support = support_files(assignment, course)
        for n, source in enumerate(assignment.notebooks):
            start, nb = time.monotonic(), read_notebook(course.root / source)
            found = mutants_of(nb, targets)
            chosen = sampled(found, per_part)
            all_ids.update(m.id for m, _ in found)

            def graded(mutant: Mutant | None, k: int = 0) -> SubmissionResult:
                path = course.root / source
                if mutant is not None:
                    path = Path(tmp) / f"{n}-{k}" / source.name
                    path.parent.mkdir()
                    nbformat.write(_with_cell(nb, mutant.cell, mutant.source), str(path))
                return grade_notebook(course, assignment, source, path, STUDENT, support, server)

            unmutated = graded(None)
            base = {p.grade_id: p.score for p in unmutated.parts}
            notes = [f"the source earns {p.score:g}/{p.max_score:g} on {p.grade_id}" for p in unmutated.parts
                     if p.score is not None and p.score < p.max_score]
            futures = {pool.submit(graded, m, k): (m, part) for k, (m, part) in enumerate(chosen)}
            outcomes = []
            progress = tqdm(as_completed(futures), total=len(futures), disable=None, desc=f"mutants of {source.name}")
            for future in progress:
                mutant, part = futures[future]
                lowered = [p.grade_id for p in future.result().parts
                           if p.score is not None and base[p.grade_id] is not None and p.score < base[p.grade_id]]
                outcomes.append(Outcome(mutant, part, lowered, equivalent.get(mutant.id)))
            order = {m.id: i for i, (m, _) in enumerate(chosen)}
            outcomes.sort(key=lambda o: order[o.mutant.id])
            reports.append(Report(assignment.id, source, outcomes, len(found), notes, [], time.monotonic() - start))
    if reports:
        reports[-1].stale = sorted(set(equivalent) - all_ids)
    return reports


def render(report: Report) -> str:
    """The report as text: the mutation score, each part's, then every survivor with its line before and after."""
    def count(verdict: str, rows: list[Outcome] = report.outcomes) -> int:
        return sum(o.verdict == verdict for o in rows)

    killed, equivalent, total = count("killed"), count("equivalent"), len(report.outcomes)
    scored = total - equivalent
    lines = [f"{report.assignment} ({report.notebook}): {total} mutants"
             + (f" (sampled from {report.generated})" if total < report.generated else "")
             + f", {killed} killed, {count('survived')} survived, {equivalent} equivalent; mutation score "
             + f"{killed}/{scored}" + (f" = {killed / scored:.0%}" if scored else "")
             + f"; graded in {report.seconds:.1f} s"]
    lines += [f"  note: {note}" for note in report.source_notes]
    parts = sorted({o.part for o in report.outcomes}, key=lambda p: (p == UNMAPPED, p))
    width = max([len(p) for p in parts] + [4])
    lines.append(f"  {'part':<{width}}  killed/total  survived  equivalent")
    for part in parts:
        rows = [o for o in report.outcomes if o.part == part]
        ratio = f"{count('killed', rows)}/{len(rows)}"
        lines.append(f"  {part:<{width}}  {ratio:>12}  {count('survived', rows):>8}  {count('equivalent', rows):>10}")
    for verdict, title in (("survived", "survivors (full marks with the change)"),
                           ("equivalent", "equivalent (mutants.py)")):
        rows = [o for o in report.outcomes if o.verdict == verdict]
        if rows:
            lines.append(f"  {title}:")
        for o in rows:
            lines.append(f"    [{o.part}] {o.mutant.id}" + (f"  -- {o.equivalent}" if verdict == "equivalent" else ""))
            if verdict == "survived":
                lines += [f"      - {o.mutant.before.strip()}", f"      + {o.mutant.after.strip()}"]
    wrong = [o for o in report.outcomes if o.verdict == "killed" and o.equivalent is not None]
    lines += [f"  listed as equivalent in mutants.py but killed (on {', '.join(o.lowered)}): {o.mutant.id}"
              for o in wrong]
    lines += [f"  mutants.py lists a mutant that no longer exists: {mutant_id}" for mutant_id in report.stale]
    return "\n".join(lines)
