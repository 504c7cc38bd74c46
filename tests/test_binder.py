"""Students' JupyterLab without nbgrader's instructor tools, and Binder: `autograder student-env` checked on a real
Lab server, `autograder publish` scanned for anything hidden, repo2docker's Dockerfile for both repositories, and
the published repository's environment built in a fresh venv and running a released notebook."""
from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from autograder.commands import publish as publish_command
from autograder.commands.student_env import LAB_PLUGINS, SERVER_EXTENSIONS
from autograder.course import copy_course, load_course
from autograder.student_files import SUPPORT

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "binder-test-token"
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
SOURCE_ONLY = ("checks.py", "standins.py", "mistakes.py", "mutants.py")


def autograder(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def jupyter_env(home: Path, config_path: Path | None = None, bin_dir: Path = BIN) -> dict[str, str]:
    """An environment whose only Jupyter config is the given folder and the environment's own (no user config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    for name in ("CONFIG_DIR", "DATA_DIR", "RUNTIME_DIR"):
        (home / name.lower()).mkdir(parents=True, exist_ok=True)
        env[f"JUPYTER_{name}"] = str(home / name.lower())
    if config_path is not None:
        env["JUPYTER_CONFIG_PATH"] = str(config_path)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


@contextlib.contextmanager
def lab_server(env: dict[str, str], root: Path, bin_dir: Path = BIN) -> Iterator[str]:
    """A real `jupyter lab` on loopback with a token; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (root.parent / f"lab-{port}.log").open("w")
    proc = subprocess.Popen([str(bin_dir / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--allow-root"],
                            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            assert proc.poll() is None, (root.parent / f"lab-{port}.log").read_text()
            with contextlib.suppress(OSError):
                if get(f"{url}/api/status?token={TOKEN}")[0] == 200:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"jupyter lab did not answer in 120 s:\n{(root.parent / f'lab-{port}.log').read_text()}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def served_tools(url: str) -> dict[str, object]:
    """What the server offers: the status of each nbgrader endpoint and the plugins the page tells Lab to skip."""
    status = {path: get(f"{url}{path}?token={TOKEN}")[0]
              for path in ("/formgrader", "/formgraders", "/assignments", "/assignments/validate")}
    code, page = get(f"{url}/lab?token={TOKEN}")
    assert code == 200
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert data, "no page config in /lab"
    return {**status, "disabled": set(json.loads(html.unescape(data.group(1)))["disabledExtensions"])}


def assert_student_tools(tools: dict[str, object]) -> None:
    assert tools["/formgrader"] == 404 and tools["/formgraders"] == 404 and tools["/assignments"] == 404
    assert tools["/assignments/validate"] == 405  # there, and answers POST only
    assert set(LAB_PLUGINS) <= tools["disabled"] and VALIDATE_PLUGIN not in tools["disabled"]


# --- autograder student-env ---------------------------------------------------------------------------------

def test_student_env_merges_into_existing_config(tmp_path: Path) -> None:
    config = tmp_path / "etc-jupyter"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": ["@jupyterlab/apputils-extension:announcements"], "theme": "dark"}))
    (config / "jupyter_server_config.d").mkdir()
    formgrader = config / "jupyter_server_config.d" / f"{SERVER_EXTENSIONS[0]}.json"
    formgrader.write_text(json.dumps({"ServerApp": {"jpserver_extensions": {SERVER_EXTENSIONS[0]: True},
                                                    "iopub_data_rate_limit": 1e9}}))
    for _ in range(2):  # a second run changes nothing
        run = autograder(tmp_path, "student-env", "--config-dir", str(config))
        assert run.returncode == 0, run.stderr
    page = json.loads((config / "labconfig" / "page_config.json").read_text())
    expected = {"@jupyterlab/apputils-extension:announcements": True, **dict.fromkeys(LAB_PLUGINS, True)}
    assert page == {"disabledExtensions": expected, "theme": "dark",
                    "lockedExtensions": dict.fromkeys(LAB_PLUGINS, True)}
    assert json.loads(formgrader.read_text()) == {"ServerApp": {"jpserver_extensions": {SERVER_EXTENSIONS[0]: False},
                                                                "iopub_data_rate_limit": 1e9}}
    for name in SERVER_EXTENSIONS[1:]:
        data = json.loads((config / "jupyter_server_config.d" / f"{name}.json").read_text())
        assert data == {"ServerApp": {"jpserver_extensions": {name: False}}}


def test_student_env_asks_where_rather_than_hiding_the_instructor_s_own_tools(tmp_path: Path) -> None:
    run = autograder(tmp_path, "student-env")
    assert run.returncode == 2 and "--sys-prefix" in run.stderr and "--config-dir" in run.stderr


@pytest.mark.parametrize("content, message", [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object"),
                                              ('{"disabledExtensions": 3}', "disabledExtensions must be")])
def test_student_env_names_a_garbled_config_file(tmp_path: Path, content: str, message: str) -> None:
    page = tmp_path / "labconfig" / "page_config.json"
    page.parent.mkdir()
    page.write_text(content)
    run = autograder(tmp_path, "student-env", "--config-dir", str(tmp_path))
    assert run.returncode == 2 and str(page) in run.stderr and message in run.stderr
    assert page.read_text() == content


@pytest.mark.slow
def test_student_env_hides_instructor_tools_from_a_real_lab(tmp_path: Path) -> None:
    """The same Lab with and without the student config: formgrader and the lists vanish, Validate stays."""
    config = tmp_path / "student-config"
    assert autograder(tmp_path, "student-env", "--config-dir", str(config)).returncode == 0
    (tmp_path / "notebooks").mkdir()
    with lab_server(jupyter_env(tmp_path / "plain"), tmp_path / "notebooks") as url:
        instructor = served_tools(url)
    assert instructor["/formgrader"] != 404 and not set(LAB_PLUGINS) & instructor["disabled"]
    with lab_server(jupyter_env(tmp_path / "student", config), tmp_path / "notebooks") as url:
        assert_student_tools(served_tools(url))


# --- autograder publish -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = tmp_path_factory.mktemp("course")
    copy_course(ROOT, course)
    dest = tmp_path_factory.mktemp("published") / "student-repo"
    run = autograder(course, "publish", str(dest), "--github", "ada-lovelace/transformers-2027")
    assert run.returncode == 0, run.stderr
    return dest


def test_publish_refuses_a_folder_with_files_and_a_bad_repository(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("keep me")
    run = autograder(ROOT, "publish", str(tmp_path))
    assert run.returncode == 2 and str(tmp_path) in run.stderr and "empty" in run.stderr
    run = autograder(ROOT, "publish", str(tmp_path / "new"), "--github", "not a repo")
    assert run.returncode == 2 and "OWNER/REPO" in run.stderr and not (tmp_path / "new").exists()
    assert autograder(ROOT, "publish").returncode == 2


@pytest.mark.parametrize("pin", ["torch>=2.3\n", "torch==2.13.0\ntorch==2.12.0\n"])
def test_a_torch_pin_that_is_not_one_exact_version_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             pin: str) -> None:
    monkeypatch.setattr(publish_command, "TORCH_PIN", tmp_path / "torch.txt")
    (tmp_path / "torch.txt").write_text(pin)
    with pytest.raises(publish_command.PublishError, match=re.escape(str(tmp_path / "torch.txt"))):
        publish_command.torch_version()


@pytest.mark.slow
def test_published_repository_holds_releases_readme_and_binder(published: Path) -> None:
    course = load_course(ROOT / "course.yml")
    first = published / course.active[0].id / course.active[0].notebooks[0].name
    assert first.is_file()
    readme = (published / "README.md").read_text()
    link = ("https://mybinder.org/v2/gh/ada-lovelace/transformers-2027/HEAD?urlpath=lab/tree/"
            f"{first.relative_to(published).as_posix()}")
    assert f"[![Binder](https://mybinder.org/badge_logo.svg)]({link})" in readme
    assert all(a.title in readme for a in course.active) and "OWNER/REPO" not in readme
    expected = publish_command.binder_files(course, course_repo=False)
    assert {p.name: p.read_text() for p in (published / "binder").iterdir()} == expected
    assert os.access(published / "binder" / "postBuild", os.X_OK)
    requirements = expected["requirements.txt"].splitlines()
    assert f"torch=={publish_command.torch_version()}+cpu" in requirements
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert not [line for line in expected["postBuild"].splitlines() if line.startswith("autograder")]  # no kit there


@pytest.mark.slow
def test_nothing_hidden_is_published(published: Path) -> None:
    """Only README, binder/ and release folders (notebooks, coursekit, fixtures, data) go out; no byte of a source
    folder's notebooks, checks, stand-ins or mistakes, nor of the reference implementation."""
    course = load_course(ROOT / "course.yml")
    hidden = {p.read_bytes() for folder in ("assignments", "reference_impl") for p in (ROOT / folder).rglob("*")
              if p.is_file() and not {"__pycache__", *SUPPORT} & set(p.relative_to(ROOT).parts)}
    released = {a.id for a in course.active}
    for path in (p for p in published.rglob("*") if p.is_file()):
        rel = path.relative_to(published)
        assert rel.parts[0] in released | {"binder", "README.md"}, rel
        if rel.parts[0] in released:
            assert path.suffix == ".ipynb" and len(rel.parts) == 2 or rel.parts[1] in SUPPORT, rel
        assert path.name not in SOURCE_ONLY and path.read_bytes() not in hidden, rel
        if path.suffix in (".ipynb", ".py", ".md", ".txt"):
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "reference_impl" not in text, rel


# --- repo2docker ----------------------------------------------------------------------------------------------

def test_committed_binder_is_what_the_generator_writes() -> None:
    expected = publish_command.binder_files(load_course(ROOT / "course.yml"), course_repo=True)
    assert {p.name: p.read_text() for p in (ROOT / "binder").iterdir()} == expected, \
        "binder/ is stale: run `autograder publish --course-binder`"
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)
    assert "autograder release" in expected["postBuild"] and "autograder student-env" in expected["postBuild"]
    assert "-e ." in expected["requirements.txt"].splitlines()


def dockerfile(repo: Path) -> str:
    run = subprocess.run([str(BIN / "jupyter-repo2docker"), "--no-build", "--debug", str(repo)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout + run.stderr


def assert_binder_build(text: str) -> None:
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in text
    assert "RUN ./binder/postBuild" in text
    assert f"Building conda environment for python={publish_command.PYTHON}" in text  # runtime.txt was read


def test_repo2docker_builds_the_course_repository_with_its_binder() -> None:
    text = dockerfile(ROOT)
    assert_binder_build(text)
    # `-e .` needs the whole repository before pip runs, so repo2docker copies it first
    assert text.index("COPY --chown=0:0 src/ ${REPO_DIR}/") < text.index('-r "binder/requirements.txt"')


@pytest.mark.slow
def test_repo2docker_builds_the_published_repository_with_its_binder(published: Path) -> None:
    assert_binder_build(dockerfile(published))


@pytest.mark.slow
@pytest.mark.binder
def test_published_environment_runs_a_release_with_instructor_tools_hidden(published: Path, tmp_path: Path) -> None:
    """As repo2docker would, as far as this machine allows: a fresh venv, pip install -r binder/requirements.txt
    (download.pytorch.org is out of reach here: the pinned CPU wheel comes from the local wheels, hence
    --retries 0), binder/postBuild with that venv first on PATH; then a released notebook runs in that venv and a
    Lab started from it hides the instructor tools."""
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--retries", "0", "-q", "-r",
                              str(published / "binder" / "requirements.txt")], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    env = jupyter_env(tmp_path / "jupyter-home", bin_dir=venv / "bin")
    post_build = subprocess.run([str(published / "binder" / "postBuild")], cwd=published, env=env,
                                capture_output=True, text=True)
    assert post_build.returncode == 0, post_build.stderr

    folder = tmp_path / "a1"
    shutil.copytree(published / load_course(ROOT / "course.yml").active[0].id, folder)
    notebook = next(folder.glob("*.ipynb"))
    runner = ("import sys, nbformat, nbclient\n"
              "nb = nbformat.read(sys.argv[1], as_version=4)\n"
              "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3', allow_errors=True,\n"
              "                        resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
              "nbformat.write(nb, sys.argv[1])\n")
    run = subprocess.run([str(venv / "bin" / "python"), "-c", runner, str(notebook), str(folder)],
                         env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    code = [c for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "Run All reaches every cell"
    assert [c.source for c in code if [o for o in c.outputs if o.output_type == "error"]] == []

    with lab_server(env, published, bin_dir=venv / "bin") as url:
        assert_student_tools(served_tools(url))
