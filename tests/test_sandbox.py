"""What student code can no longer reach at grade time: the reference, the course's files, other students'
work, the grader's memory and environment, the network, and the grader itself (Landlock, where the kernel
has it; these tests are skipped elsewhere)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.course import load_course
from autograder.grading.pipeline import grade_notebook
from autograder.sandbox.landlock import abi_version
from autograder.workers.client import ForkServer, Worker

pytestmark = pytest.mark.skipif(abi_version() < 6, reason="needs Landlock ABI 6 (Linux 6.12) for scoped signals")
ROOT = Path(__file__).resolve().parents[1]


def attempt(expression: str) -> str:
    """A cell that records what happened when the student tried `expression`."""
    return f"try:\n    _ = {expression}\n    outcome = 'succeeded'\nexcept Exception as e:\n    outcome = type(e).__name__"


@pytest.fixture(scope="module", params=[False, True], ids=["landlock", "bubblewrap+landlock"])
def server(request: pytest.FixtureRequest):
    """Every sandbox test runs with the fork server on the host and inside bubblewrap (where installed)."""
    from autograder.sandbox.bubblewrap import available

    if request.param and not available():
        pytest.skip("bubblewrap is not installed")
    with ForkServer(bubblewrap=request.param) as s:
        assert s.bubblewrap == request.param
        yield s


@pytest.mark.parametrize("expression", [
    f"open({str(ROOT / 'reference_impl' / 'attention.py')!r}).read()",
    "__import__('reference_impl.attention')",
    f"open({str(ROOT / 'assignments' / 'a2-attention' / 'attention.ipynb')!r}).read()",
    f"open({str(ROOT / 'course.yml')!r}).read()",
    f"os.listdir({str(ROOT)!r})",
    f"open('/proc/{os.getpid()}/mem', 'rb').read(1)",
    f"open('/proc/{os.getpid()}/environ', 'rb').read()",
    f"os.kill({os.getpid()}, signal.SIGKILL)",
    "socket.create_connection(('127.0.0.1', 9), timeout=1)",
])
def test_out_of_reach(server: ForkServer, tmp_path: Path, expression: str) -> None:
    cells = ["import os, signal, socket", attempt(expression)]
    with Worker(cells, 10, str(tmp_path), server=server) as w:
        outcome, _ = w.get("outcome")
    # FileNotFoundError: inside bubblewrap the course and the reference do not exist at all
    assert outcome in ("PermissionError", "FileNotFoundError", "ModuleNotFoundError", "ImportError", "ProcessLookupError"), outcome
    assert outcome != "succeeded"


def test_other_students_scratch_folders_are_out_of_reach(server: ForkServer, tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir(), bob.mkdir()
    (alice / "answer.txt").write_text("alice's work")
    cells = ["import os", attempt(f"open({str(alice / 'answer.txt')!r}).read()"), "open('mine.txt', 'w').write('bob')",
             "mine = open('mine.txt').read()"]
    with Worker(cells, 10, str(bob), server=server) as w:
        assert w.get("outcome") == ("PermissionError", None)
        assert w.get("mine") == ("bob", None), "a worker reads and writes its own scratch folder"


def test_copying_the_reference_earns_nothing(tmp_path: Path) -> None:
    """A submission that imports the reference instead of writing attention loses that part, nothing else."""
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment("a2-attention")
    import nbformat

    nb = nbformat.read(str(ROOT / assignment.notebooks[0]), as_version=4)
    for cell in nb.cells:
        if cell.source.startswith("def scaled_dot_product_attention"):
            cell.source = ("import sys\nsys.path.insert(0, %r)\n"
                           "from reference_impl.attention import scaled_dot_product_attention") % str(ROOT)
    path = tmp_path / "attention.ipynb"
    nbformat.write(nb, str(path))
    result = grade_notebook(course, assignment, assignment.notebooks[0], path, "copycat")
    parts = {p.grade_id: p.score for p in result.parts}
    assert parts["scaled-dot-product-attention"] == 0
    assert parts["multi-head-attention"] == 8 and parts["causal-mask"] == 3
    assert any("PermissionError" in n for n in result.notes), result.notes


def test_no_network_at_all_where_namespaces_are_allowed(server: ForkServer, tmp_path: Path) -> None:
    from autograder.commands.doctor import _can_unshare_network

    if not _can_unshare_network():
        pytest.skip("this machine does not allow a network namespace per worker")
    cells = ["import socket",
             attempt("socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))"),
             "udp = outcome",
             "interfaces = ','.join(name for _, name in socket.if_nameindex())"]
    with Worker(cells, 10, str(tmp_path), server=server) as w:
        assert w.get("udp")[0] == "OSError"  # network is unreachable: no route, no interface
        assert w.get("interfaces") == ("lo", None), "a fresh namespace has only its own loopback"


def test_the_kits_packages_stay_hidden_when_installed_among_other_packages(tmp_path: Path) -> None:
    """Installed from a wheel, reference_impl sits in site-packages next to torch: the worker may read every
    other package there, and list the folder, but not read the kit's files."""
    if abi_version() == 0:
        pytest.skip("no Landlock in this kernel")
    for name, text in {"top.py": "top", "other_pkg/mod.py": "other", "site/other/mod.py": "deep",
                       "site/reference_impl/secret.py": "the reference"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        from autograder.sandbox.landlock import readable_except, restrict

        readable, listable = readable_except([str(tmp_path)], [str(tmp_path / "site" / "reference_impl")])
        restrict(readable, [], listable)
        outcome = {}
        for name in ("top.py", "other_pkg/mod.py", "site/other/mod.py", "site/reference_impl/secret.py"):
            try:
                outcome[name] = (tmp_path / name).read_text()
            except OSError as err:
                outcome[name] = type(err).__name__
        outcome["listing"] = " ".join(sorted(os.listdir(tmp_path / "site")))
        queue.put(outcome)

    process = ctx.Process(target=child)
    process.start()
    outcome = queue.get(timeout=30)
    process.join()
    assert outcome == {"top.py": "top", "other_pkg/mod.py": "other", "site/other/mod.py": "deep",
                       "site/reference_impl/secret.py": "PermissionError", "listing": "other reference_impl"}


def test_the_worker_hides_the_kits_own_packages() -> None:
    from autograder.sandbox.landlock import kit_folders, python_folders

    kit = kit_folders()
    assert {Path(k).name for k in kit} == {"autograder", "reference_impl"}
    readable, _ = python_folders()
    assert not any(r == k or r.startswith(k + os.sep) or k.startswith(r + os.sep) for r in readable for k in kit)


SYSCALL_PROBE = '''import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {"ptrace": lambda: libc.ptrace(16, os.getppid(), 0, 0), "unshare": lambda: libc.unshare(0x40000000),
         "mount": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), "bpf": lambda: libc.syscall(321, 0, 0, 0),
         "x32 ptrace": lambda: libc.syscall(0x40000000 + 521, 16, os.getppid(), 0, 0),
         "clone newuser": lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0) or os._exit(0),
         "clone newnet": lambda: libc.syscall(56, 0x40000000 | 17, 0, 0, 0, 0) or os._exit(0)}
refused = " ".join(sorted(name for name, call in calls.items() if call() != 0 and ctypes.get_errno() == errno.EPERM))
clone3 = libc.syscall(435, 0, 0) == -1 and ctypes.get_errno() == errno.ENOSYS
pid = os.fork()
if pid == 0:
    os._exit(7)
status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
import threading
seen = []
thread = threading.Thread(target=seen.append, args=(1,))
thread.start(); thread.join()
threads_ok = seen == [1]'''


def test_dangerous_system_calls_are_refused_and_ordinary_ones_work(server: ForkServer, tmp_path: Path) -> None:
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("the probe uses x86-64 system call numbers")
    with Worker([SYSCALL_PROBE], 10, str(tmp_path), server=server) as w:
        w.ensure()
        assert w.seccomp and not w.cell_errors, w.cell_errors
        assert w.get("refused") == ("bpf clone newnet clone newuser mount ptrace unshare x32 ptrace", None)
        assert w.get("clone3") == (True, None), "clone3, whose flags seccomp cannot read, says it does not exist"
        assert w.get("status") == (7, None), "fork and wait still work"
        assert w.get("threads_ok") == (True, None), "threads still start (the C library falls back to clone)"
