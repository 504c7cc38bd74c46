"""Attacks on the class report and the similarity pages through what students control: where their code sits in
the notebook, their cells' nbgrader metadata, their folder names, the text of their errors; and what student code
may do through /proc (which a worker with its own /proc may write on a GPU machine) and through clone's namespace
flags. One generated class plus attackers is graded for real (here, through a fork server), then `report` writes
its pages."""
from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.notebook import nbgrader_meta
from autograder.similarity.regions import released_template
from generated_class import generate_class

ROOT = Path(__file__).resolve().parents[2]
AID = "a2-attention"
NB = "attention.ipynb"

EVADER, DECOY = "zz-evader", "zz-decoy"
FORMULA = '=HYPERLINK("http:evil","click")'  # a folder name a student chose; printable, so a plain name
MARKUP = "<img src=x onerror=alert(1)>"
FAKE_LIMIT, PROBE, HIDDEN_ROW = "zz-fake-limit", "zz-proc", "zz-hidden-row"

PROBE_CODE = r'''
def scaled_dot_product_attention(q, k, v, mask=None):
    import ctypes, errno, json, os
    out = {}
    def try_open(path, flags=os.O_WRONLY):
        try:
            os.close(os.open(path, flags))  # opened for writing, nothing written
            return "OPENED"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
    for path in ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/pid_max",
                 "/proc/sys/vm/drop_caches", "/proc/sys/kernel/modprobe", "/proc/sys/fs/file-max",
                 "/proc/sys/kernel/ns_last_pid", "/proc/sys/user/max_user_namespaces",
                 "/proc/sys/net/ipv4/ip_forward", "/proc/1/oom_score_adj", "/proc/1/mem", "/proc/self/attr/current",
                 "/proc/self/uid_map", "/proc/sys/kernel/hostname"]:
        out[path] = try_open(path)
    try:  # a pid namespace's own sysctl: anyone may open it, writing needs CAP_SYS_ADMIN there
        last = open("/proc/sys/kernel/ns_last_pid").read()
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(last)
        out["ns_last_pid write"] = "WROTE"
    except OSError as e:
        out["ns_last_pid write"] = errno.errorcode.get(e.errno, str(e.errno))
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
        out["oom -1000"] = "WROTE"
    except OSError as e:
        out["oom -1000"] = errno.errorcode.get(e.errno, str(e.errno))
    out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    out["uid"] = os.getuid()
    # a child in a new user and network namespace (clone is not seccomp's unshare): is it root there, and does it
    # hold CAP_NET_ADMIN/CAP_NET_RAW there (a raw packet socket)? First as the worker is, then made dumpable again
    # (its /proc entries become its own: the Landlock grant is all that is left)
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD, PR_SET_DUMPABLE = 0x10000000, 0x40000000, 17, 4
    for label in ("clone newuser", "clone newuser dumpable"):
        if label.endswith("dumpable"):
            libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        pid = libc.syscall(56, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            code = 0
            try:
                import socket
                socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
                code |= 4
            except OSError:
                pass
            try:
                open("/proc/self/setgroups", "w").write("deny")
                open("/proc/self/uid_map", "w").write(f"0 {out['uid']} 1")
                code |= 1 if os.getuid() == 0 else 2
            except OSError as e:
                code |= 8
            os._exit(code)
        if pid < 0:
            out[label] = "refused " + errno.errorcode.get(ctypes.get_errno(), "?")
        else:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            out[label] = ", ".join(w for bit, w in ((1, "ROOT IN NEW USERNS"), (2, "mapped, not root"),
                                                    (4, "RAW SOCKET (CAP_NET_RAW)"), (8, "uid_map refused"))
                                   if code >= 0 and code & bit) or f"exit {code}"
    raise RuntimeError("PROBE" + json.dumps(out))
'''


def solution_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and nbgrader_meta(c).get("solution")]


SOURCE_CELLS = {nbgrader_meta(c)["grade_id"]: c.source
                for c in nbformat.read(str(ROOT / "assignments" / AID / NB), as_version=4).cells
                if c.cell_type == "code" and nbgrader_meta(c).get("solution")}


def stubbed(cell) -> str:
    """The cell's released template, its stubs made harmless so that running the cell raises nothing."""
    return released_template(SOURCE_CELLS[nbgrader_meta(cell)["grade_id"]]).replace("raise NotImplementedError()", "pass")


def moved_out(nb):
    """The student's solution code moved into cells of their own right after each solution cell, which keeps the
    released template: every code cell runs, so the grade is the same."""
    nb = copy.deepcopy(nb)
    for i in reversed(solution_cells(nb)):
        cell = nb.cells[i]
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell(cell.source))
        cell.source = stubbed(cell)
    return nb


def decoyed(nb):
    """Before each solution cell, a copy of it (same nbgrader metadata, a new cell id) holding the template only."""
    nb = copy.deepcopy(nb)
    for i in reversed(solution_cells(nb)):
        decoy = nbformat.v4.new_code_cell(stubbed(nb.cells[i]))
        decoy.metadata = copy.deepcopy(nb.cells[i].metadata)
        nb.cells.insert(i, decoy)
    return nb


def with_sdpa(nb, code: str):
    """Every solution cell at its released template; the attention cell holds `code`."""
    nb = copy.deepcopy(nb)
    for i in solution_cells(nb):
        cell = nb.cells[i]
        cell.source = code if nbgrader_meta(cell)["grade_id"] == "sdpa-solution" else stubbed(cell)
    return nb


def add_dupe_ids(path: Path, n: int = 64000) -> None:
    """n pairs of raw cells sharing a valid 64-character id: the intake's note lists every repeated id (4 MB),
    in a 14 MB notebook, under the 20 MB a submission may have. Written as JSON (nbformat would repair them)."""
    nb = json.loads(path.read_text())
    nb["cells"] += [{"id": f"{i:064d}", "cell_type": "raw", "metadata": {}, "source": ""} for i in range(n) for _ in "ab"]
    path.write_text(json.dumps(nb, separators=(",", ":")))


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory):
    """(course root, honest students, results by student, the report's folder) of a graded class with attackers."""
    from autograder.commands.report import report

    root = tmp_path_factory.mktemp("attacked-course")
    copy_course(ROOT, root)
    course = load_course(root / "course.yml")
    assignment = course.assignment(AID)
    submitted = root / "submitted"
    made = generate_class(submitted, assignment, n_honest=5, mistake_counts={})
    honest = made.honest

    def put(student: str, nb) -> None:
        (submitted / student / AID).mkdir(parents=True)
        nbformat.write(nb, str(submitted / student / AID / NB))

    def honest_nb(i: int):
        return nbformat.read(str(submitted / honest[i] / AID / NB), as_version=4)

    put(EVADER, moved_out(honest_nb(0)))
    put(DECOY, decoyed(honest_nb(1)))
    shutil.copytree(submitted / honest[2], submitted / FORMULA)  # plain copies: found, so their names are shown
    shutil.copytree(submitted / honest[3], submitted / MARKUP)
    template = nbformat.read(str(ROOT / "assignments" / AID / NB), as_version=4)
    put(FAKE_LIMIT, with_sdpa(template, "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                                        "    raise ValueError('Cannot allocate memory <script>alert(1)</script>')"))
    put(PROBE, with_sdpa(template, PROBE_CODE))
    put(HIDDEN_ROW, with_sdpa(template, "def scaled_dot_product_attention(q, k, v, mask=None):\n    return q"))
    add_dupe_ids(submitted / HIDDEN_ROW / AID / NB)
    results = {r.student: r for r in grade_batch(course, assignment, submitted, jobs=2, progress=False)}
    path = report(course, assignment, top=20)
    return root, honest, results, path.parent


def pairs_of(folder: Path) -> set[frozenset[str]]:
    data = json.loads((folder / "similarity.json").read_text())
    return {frozenset((p["a"], p["b"])) for p in data["pairs"]}


def total(result) -> float:
    return sum(p.score or 0 for p in result.parts)


def test_the_plain_copies_are_found(attacked) -> None:
    """The control: a copy left in the solution cells is found."""
    root, honest, results, folder = attacked
    assert {frozenset((honest[2], FORMULA)), frozenset((honest[3], MARKUP))} <= pairs_of(folder)


def test_a_copy_moved_out_of_the_solution_cells_is_still_found(attacked) -> None:
    """A student who pastes the copied code into a cell of their own after each (untouched) solution cell earns
    the same grade (every code cell runs), but similarity reads only the solution cells: the copy is not listed."""
    root, honest, results, folder = attacked
    assert results[EVADER].status == "graded" and total(results[EVADER]) == total(results[honest[0]]) > 0
    assert frozenset((honest[0], EVADER)) in pairs_of(folder), "the copy hidden in an unmarked cell is not seen"


def test_a_decoy_copy_of_a_solution_cell_does_not_hide_a_copy(attacked) -> None:
    """A duplicate of each solution cell (same grade_id, template only) placed before it: similarity reads the
    first cell with a grade_id and skips the one that runs last and is graded."""
    root, honest, results, folder = attacked
    assert results[DECOY].status == "graded" and total(results[DECOY]) == total(results[honest[1]]) > 0
    assert frozenset((honest[1], DECOY)) in pairs_of(folder), "the decoy cell hid the copy"


def test_no_csv_cell_a_student_controls_is_a_formula(attacked) -> None:
    """A folder name such as =HYPERLINK(...) is a plain name; written as is, a spreadsheet runs it."""
    root, honest, results, folder = attacked
    bad = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as f:
            bad += [(path.name, cell) for row in csv.reader(f) for cell in row if cell[:1] in ("=", "+", "-", "@")
                    and not cell.lstrip("-+").replace(".", "", 1).isdigit()]
    assert not bad, bad


def test_no_markup_from_students_reaches_the_pages(attacked) -> None:
    root, honest, results, folder = attacked
    for name in ("report.html", "similarity.html"):
        page = (folder / name).read_text()
        assert "<img src=x" not in page and "<script>alert" not in page, name
    assert "&lt;img src=x onerror=alert(1)&gt;" in (folder / "similarity.html").read_text()


def test_an_error_text_is_not_a_limit_hit(attacked) -> None:
    """No student hit a limit; one raised ValueError('Cannot allocate memory'). The report counts a limit hit."""
    root, honest, results, folder = attacked
    assert results[FAKE_LIMIT].troubles == [], results[FAKE_LIMIT].troubles
    data = json.loads((folder / "report.json").read_text())
    assert "limit hit" not in data["troubles"], data["troubles"]


def test_student_code_cannot_write_anything_harmful_through_proc(attacked) -> None:
    """The probe opens /proc files for writing (writing nothing), tries to lower its OOM score and to become root
    of a user namespace it clones; what it found comes back as its error. The sysctls, other processes and the OOM
    score hold (DAC: the worker's uid is a stranger's and its /proc entries are root's while it is not dumpable).
    But student code may call prctl(PR_SET_DUMPABLE, 1): its /proc entries become its own, and with Landlock now
    granting write on all of /proc, a child it clones into a new user namespace writes its own setgroups and
    uid_map and is uid 0 there. At 87bf876 the same probe gets 'uid_map refused' (Landlock)."""
    root, honest, results, folder = attacked
    messages = [m for p in results[PROBE].parts for m in p.messages if "PROBE" in m]
    assert messages, [p.messages for p in results[PROBE].parts]
    found = json.loads(messages[0].split("PROBE", 1)[1].split(" ... (")[0])
    print(found)
    opened = {k: v for k, v in found.items() if v == "OPENED" and k not in ("/proc/self/attr/current", "/proc/sys/kernel/ns_last_pid")}
    assert not opened, found
    assert found["oom -1000"] != "WROTE" and found["ns_last_pid write"] != "WROTE", found
    assert "ROOT IN NEW USERNS" not in found["clone newuser"] + found["clone newuser dumpable"], found
    assert found["uid"] != 0 and len(found["pids"]) <= 3, found


def test_a_student_cannot_drop_their_own_row_from_the_report(attacked) -> None:
    """A notebook with many repeated cell ids is graded (the ids are repaired), but the intake's note names every
    repeated id: the stored result passes 4 MB and the report skips it as 'not a stored result ... grade the
    assignment again', which a regrade cannot fix. The student is then counted as 'no submission'."""
    root, honest, results, folder = attacked
    assert results[HIDDEN_ROW].status in ("graded", "modified"), (results[HIDDEN_ROW].status, results[HIDDEN_ROW].notes[:1])
    data = json.loads((folder / "report.json").read_text())
    assert data["submissions"] == len(results), [n[:300] for n in data["notes"]]
    assert "no submission" not in data["statuses"], data["statuses"]


def test_student_code_gets_no_capabilities_in_a_cloned_namespace(attacked) -> None:
    """seccomp refuses unshare and setns, but clone(CLONE_NEWUSER | CLONE_NEWNET) is allowed: the child holds every
    capability in a network namespace of its own (nf_tables and the rest of the kernel's namespaced code to attack).
    Not new in this change; the probe shows it."""
    root, honest, results, folder = attacked
    messages = [m for p in results[PROBE].parts for m in p.messages if "PROBE" in m]
    found = json.loads(messages[0].split("PROBE", 1)[1].split(" ... (")[0])
    assert "RAW SOCKET" not in found["clone newuser"] + found["clone newuser dumpable"], found
