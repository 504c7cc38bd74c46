"""The sandbox on machines that give less: an older Landlock (ABI 1 or 4), no bubblewrap, no writable control
group, no permission for namespaces, simulated by the switches of autograder/sandbox/switches.py. For each mode
the attacks that the remaining protections still stop are stopped, the ones they cannot stop are not (so the
test shows what each protection buys), and `autograder doctor` names what is missing."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from autograder.sandbox import cgroups
from autograder.sandbox.switches import ENV
from autograder.workers.client import ForkServer, Worker

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "as the machine allows": "",
    "Landlock ABI 4": "landlock=4",
    "Landlock ABI 4, no namespaces, no users": "landlock=4,namespaces=off,users=off",
    "Landlock ABI 1": "landlock=1",
    "Landlock ABI 1, no namespaces": "landlock=1,namespaces=off",
    "no bubblewrap, cgroups or namespaces": "bubblewrap=off,cgroups=off,namespaces=off",
    "no users of their own": "users=off",
}


def attempt(name: str, expression: str) -> str:
    return (f"try:\n    {expression}\n    {name} = 'succeeded'\n"
            f"except Exception as e:\n    {name} = type(e).__name__")


@pytest.fixture(params=list(MODES), ids=list(MODES))
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, MODES[request.param])
    return MODES[request.param]


def machine() -> dict[str, object]:
    """What this machine gives with the switches now in the environment."""
    from autograder.commands.doctor import _can_own_pids, _can_unshare_network
    from autograder.sandbox import bubblewrap, stranger
    from autograder.sandbox.landlock import abi_version

    return {"abi": abi_version(), "namespaces": _can_unshare_network() and _can_own_pids(), "cgroups": cgroups.available(),
            "bubblewrap": bubblewrap.available(), "users": stranger.available()}


def arrived(sock: socket.socket, tcp: bool) -> bool:
    """Whether anything reached the grader's listener (a connection, or a datagram)."""
    sock.setblocking(False)
    try:
        if tcp:
            sock.accept()[0].close()
        else:
            sock.recv(16)
        return True
    except BlockingIOError:
        return False


def test_each_mode_stops_what_its_protections_can(mode: str, tmp_path: Path) -> None:
    have = machine()
    tcp = socket.create_server(("127.0.0.1", 0))  # services of the grader's machine on loopback
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    cells = ["import os, socket",
             attempt("read_course", f"open({str(ROOT / 'course.yml')!r}).read()"),
             attempt("signal_grader", f"os.kill({os.getpid()}, 0)"),
             attempt("tcp", f"socket.create_connection(('127.0.0.1', {tcp.getsockname()[1]}), timeout=2).close()"),
             attempt("udp", "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', "
                            f"{udp.getsockname()[1]}))")]
    try:
        with ForkServer() as server, Worker(cells, 10, str(tmp_path), server=server) as w:
            w.ensure()
            assert not w.cell_errors, w.cell_errors
            outcome = {name: w.get(name)[0] for name in ("read_course", "signal_grader")}
            stopped = {name: result != "succeeded" for name, result in outcome.items()}
            stopped.update(tcp_to_grader=not arrived(tcp, True), udp_to_grader=not arrived(udp, False))
            assert server.bubblewrap == have["bubblewrap"]
            own_network = have["namespaces"] or have["bubblewrap"]
            expected = {
                "read_course": have["abi"] >= 1 or have["bubblewrap"],
                "signal_grader": have["abi"] >= 6 or have["namespaces"] or have["users"],
                "tcp_to_grader": own_network or have["abi"] >= 4,
                "udp_to_grader": own_network,
            }
            assert stopped == expected, (mode, have, outcome)
            assert w.disk_capped == have["namespaces"], "the private tmpfs needs a mount namespace"
            assert (w.group is not None) == have["cgroups"], "the process cap needs a pids control group"
            assert (w.memory_group is not None) == cgroups.available("memory")
            assert (w.cpu_group is not None) == cgroups.available("cpu")
            if w.cpu_group is not None:  # the worker, and so everything it starts, shares the CPU as one
                assert str(w.pid) in (w.cpu_group / "cgroup.procs").read_text().split()
            assert w.seccomp, "the seccomp filter needs nothing from the machine"
            assert w.own_pids == w.own_system == have["namespaces"], "processes, /proc, /dev and /sys of its own"
            assert w.own_user == have["users"], "a user of its own needs a grader running as root"
    finally:
        tcp.close()
        udp.close()
    if mode:  # what the switches took away is really gone here
        assert "landlock=" not in mode or have["abi"] <= int(mode.split("landlock=")[1].split(",")[0])
        assert "namespaces=off" not in mode or not have["namespaces"]
        assert "cgroups=off" not in mode or not have["cgroups"]
        assert "users=off" not in mode or not have["users"]


def test_doctor_names_what_each_mode_lacks(mode: str) -> None:
    from autograder.commands.doctor import report

    have, text = machine(), report()
    rows = {line[5:41].strip(): line[:4].strip() for line in text.splitlines() if line[:4].strip() in ("yes", "NO")}
    assert rows["grader shielded from signals"] == ("yes" if have["abi"] >= 6 else "NO")
    assert rows["TCP refused (Landlock)"] == ("yes" if have["abi"] >= 4 else "NO")
    assert rows["files hidden (Landlock)"] == ("yes" if have["abi"] >= 1 else "NO")
    assert rows["own network, hostname, IPC"] == ("yes" if have["namespaces"] else "NO")
    assert rows["files capped in total"] == ("yes" if have["namespaces"] else "NO")
    assert rows["process and thread count limited"] == ("yes" if have["cgroups"] else "NO")
    assert rows["memory counted per worker"] == ("yes" if cgroups.available("memory") else "NO")
    assert rows["CPU shared per worker"] == ("yes" if cgroups.available("cpu") else "NO")
    assert rows["bubblewrap"] == ("yes" if have["bubblewrap"] else "NO")
    assert rows["a user of its own per worker"] == ("yes" if have["users"] else "NO")
    assert rows["own processes, /proc, /dev, /sys"] == ("yes" if have["namespaces"] else "NO")
    assert ("switched off by AUTOGRADER_SANDBOX" in text) == bool(mode)


def test_a_malformed_switch_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder.sandbox.switches import current

    monkeypatch.setenv(ENV, "landlock=high")
    with pytest.raises(ValueError, match="AUTOGRADER_SANDBOX: cannot read 'landlock=high'"):
        current()


def test_grading_refuses_where_students_cannot_be_kept_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder.commands.doctor import safe_to_grade

    monkeypatch.setenv(ENV, "users=off,namespaces=off")
    safe, why = safe_to_grade()
    assert not safe and "cannot keep students apart" in why
    monkeypatch.setenv(ENV, "users=off")
    assert safe_to_grade() == (True, ""), "processes of their own keep students apart too"
