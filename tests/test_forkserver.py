"""The warm fork server: the same grades as fresh workers, children that time out are killed with
everything they started, and nothing is left running after a batch."""
from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
import torch

from autograder.workers.client import ForkServer, Worker, WorkerFailure

SDPA = "import math\ndef attend(q, k, v):\n    w = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-1)\n    return w @ v"


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def server():
    with ForkServer() as s:
        yield s


def test_fork_and_fresh_workers_answer_alike(server: ForkServer, tmp_path: Path) -> None:
    q = torch.randn(2, 3, 4)
    answers = []
    for srv in (server, None):
        with Worker(["import torch", SDPA], 10, str(tmp_path), server=srv) as w:
            answers.append(w.call("attend", "function", {"q": q}, {"args": ["q", "q", "q"]}).outputs[0])
    torch.testing.assert_close(answers[0], answers[1], atol=0, rtol=0)


@pytest.mark.parametrize("forked", [True, False])
def test_the_notebooks_folder_comes_first_on_the_import_path(server: ForkServer, tmp_path: Path, forked: bool) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 42\n")
    with Worker(["import sys", "from helper_module import VALUE", "first = sys.path[0]"], 10, str(tmp_path),
                server=server if forked else None) as w:
        w.ensure()
        assert w.cell_errors == []
        assert w.get("VALUE") == (42, None) and w.get("first") == (str(tmp_path), None)


def test_a_worker_is_a_fork_of_the_warm_server(server: ForkServer, tmp_path: Path) -> None:
    """A fork, not a fresh interpreter: its parent is the fork server, and the modules the server imported while
    warming up sit at the same addresses in every child (a fresh interpreter would load them anew)."""
    cells = ["import sys", "torch_at = id(sys.modules['torch'])", "shell_at = id(sys.modules['IPython'])"]
    server_tree = psutil.Process(server.proc.pid)  # bwrap, where used, with the fork server inside
    seen = []
    for _ in range(2):
        with Worker(cells, 10, str(tmp_path), server=server) as w:
            w.ensure()
            parent = psutil.Process(w.pid).parent()
            assert parent.pid in {server_tree.pid} | {p.pid for p in server_tree.children(recursive=True)}
            assert "autograder.workers.forkserver" in " ".join(parent.cmdline())
            seen.append((w.get("torch_at")[0], w.get("shell_at")[0]))
    assert seen[0] == seen[1]
    with Worker(cells, 10, str(tmp_path), server=None) as fresh:
        fresh.ensure()
        assert psutil.Process(fresh.pid).ppid() == os.getpid(), "without a server the worker is the grader's own child"
        assert (fresh.get("torch_at")[0], fresh.get("shell_at")[0]) != seen[0]


def test_timed_out_children_and_their_children_are_killed(server: ForkServer, tmp_path: Path) -> None:
    cells = ["import subprocess, time",
             "helper = subprocess.Popen(['sleep', '300'])",
             "def slow(x):\n    time.sleep(300)\n    return x"]
    w = Worker(cells, 1.0, str(tmp_path), server=server)
    w.ensure()
    pid = w.pid
    helper = [p for p in psutil.Process(pid).children()]
    assert helper, "the notebook started a helper process"
    with pytest.raises(WorkerFailure, match="timed out"):
        w.call("slow", "function", {"x": torch.ones(1)}, {"args": ["x"]})
    time.sleep(0.2)
    for p in [pid] + [h.pid for h in helper]:
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
    assert w.pid is None


def test_nothing_is_left_running_after_a_batch(tmp_path: Path) -> None:
    before = descendants()
    with ForkServer() as server:
        for _ in range(3):
            with Worker(["import os", "y = os.getpid()"], 5, str(tmp_path), server=server) as w:
                assert isinstance(w.get("y")[0], int)
    time.sleep(0.2)
    left = {p for p in descendants() - before if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
    assert not left


STASHER = '''def attention(q, k, v, mask=None):
    raise NotImplementedError()  # the student's own attention, unfinished
stash = []
def uses_attention(x):
    stash.append(globals()["attention"])  # whatever attention is at call time: the stand-in, while graded
    return x * len(stash)
def own_attention(x):
    for f in stash:
        try:
            return f(x, x, x)[0]
        except NotImplementedError:
            pass
    raise NotImplementedError("nothing stashed")'''


TRUSTED = "def attention(q, k, v, mask=None):\n    return ((q @ k.transpose(-2, -1)).softmax(-1) @ v, None)"


def test_stand_ins_never_reach_the_part_they_stand_in_for(server: ForkServer, tmp_path: Path) -> None:
    """A part graded with stand-ins runs its cases in one fork of the worker; whatever the student's code kept
    there is gone when the next part is graded, whichever order the parts come in."""
    spec = {"args": ["x"], "substitute": {"attention": "attention"}}
    x = torch.randn(1, 3, 4)
    with Worker([STASHER], 10, str(tmp_path), server=server) as w:
        w.ensure()
        first, second = (w.call("uses_attention", "function", {"x": x}, spec, TRUSTED) for _ in range(2))
        assert torch.equal(first.outputs[0], x) and torch.equal(second.outputs[0], 2 * x), "one process for the part"
        stolen = w.call("own_attention", "function", {"x": x}, {"args": ["x"]})
        assert stolen.outputs is None and "nothing stashed" in stolen.error


GRADER = '''import sys, tempfile
from autograder.workers.client import ForkServer, Worker
with tempfile.TemporaryDirectory() as scratch, ForkServer() as server:
    w = Worker(["import time", "def slow():\\n    time.sleep(3600)"], 3600, scratch, server=server)
    w.ensure()
    print(server.proc.pid, w.pid, flush=True)
    w.call("slow", "function", {}, {"args": []})
'''


def test_workers_and_the_fork_server_die_with_a_grader_that_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    grader = subprocess.Popen([sys.executable, "-c", GRADER], stdout=subprocess.PIPE, text=True)
    server_pid, worker_pid = map(int, grader.stdout.readline().split())
    tree = [psutil.Process(server_pid), *psutil.Process(server_pid).children(recursive=True)]
    assert any(p.pid == worker_pid for p in tree)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "left running without a grader"
    with ForkServer():  # the next grader removes the control groups the killed one left
        assert not list(Path("/sys/fs/cgroup").glob(f"*/autograder-worker-{worker_pid}-*"))


TAMPER = """import sys, json
import matplotlib.pyplot as plt, numpy, torch, coursekit
preloaded = all(name in sys.modules for name in ("matplotlib.pyplot", "numpy", "coursekit", "coursekit.selfcheck"))
plt.rcParams["lines.linewidth"] = 99
plt.figure()
numpy.pi = 3
torch.softmax = lambda *args, **kwargs: 0
coursekit.check = None
coursekit.selfcheck.FIXTURES = "/nowhere"
sys.modules["json"] = None"""

LOOK = """import sys
import matplotlib.pyplot as plt, numpy, torch, coursekit
seen = repr((plt.rcParams["lines.linewidth"], len(plt.get_fignums()), numpy.pi, torch.softmax.__name__,
             coursekit.check.__name__, str(coursekit.selfcheck.FIXTURES), sys.modules["json"] is not None))"""


def test_a_student_who_changes_a_preloaded_module_leaves_the_next_student_untouched(server: ForkServer,
                                                                                   tmp_path: Path) -> None:
    """The fork server imports what notebooks import (pyplot, numpy, torch, coursekit) once, before forking: a
    notebook that rewrites those modules' state, registers a figure or breaks an import changes its own fork only."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    with Worker([TAMPER], 10, str(first), server=server) as w:
        w.ensure()
        assert w.cell_errors == [] and w.get("preloaded") == (True, None), "imported in the warm server, not here"
    with Worker([LOOK], 10, str(second), server=server) as w:
        w.ensure()
        assert w.cell_errors == []
        seen = w.get("seen")[0]
    import math

    assert seen == repr((1.5, 0, math.pi, "softmax", "check", str(second / "fixtures"), True))


def test_the_preloaded_coursekit_checks_against_the_fixtures_of_the_workers_own_folder(server: ForkServer,
                                                                                       tmp_path: Path) -> None:
    """A notebook's check() run while grading reads the fixtures sent with the worker's support files, inside its
    sandbox, as it would from a coursekit imported from that folder."""
    from autograder.course import load_course
    from autograder.notebook import code_to_run, read_notebook
    from autograder.student_files import support_files

    course = load_course(Path(__file__).resolve().parents[1] / "course.yml")
    assignment = course.assignment("a2-attention")
    cells = code_to_run(read_notebook(course.root / assignment.notebooks[0]))
    checks = ["check('causal-mask', make_causal_mask)", "check('causal-mask', lambda n: torch.ones(n, n, dtype=torch.bool))"]
    with Worker(cells + checks, 30, str(tmp_path), server=server, files=support_files(assignment, course)) as w:
        w.ensure()
        assert [e["cell"] for e in w.cell_errors] == [len(cells) + 1], w.cell_errors
        assert "CheckFailed" in w.cell_errors[0]["error"]
