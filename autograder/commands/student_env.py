"""`autograder student-env --sys-prefix|--config-dir DIR`: the Jupyter config that hides nbgrader's instructor tools (Formgrader,
Create Assignment, Course List, Assignment List) from a student's JupyterLab and keeps Validate. It writes the same
files as `jupyter labextension disable`/`lock` and `jupyter server extension disable --sys-prefix`, into any config
folder, so a test or a browser suite can point JUPYTER_CONFIG_PATH at a scratch folder."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "write the Jupyter config that hides nbgrader's instructor tools from students (Validate stays)"
COURSE_OPTIONAL = True

# Plugin ids of the @jupyter/nbgrader lab extension (nbgrader 0.9.6). The menu plugin goes too: its "Nbgrader" menu
# holds nothing but the instructor tools. "@jupyter/nbgrader:validate-assignment" stays.
LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
               "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:menu")
# nbgrader's server extensions behind those plugins; nbgrader.server_extensions.validate_assignment stays.
SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.assignment_list",
                     "nbgrader.server_extensions.course_list")


class ConfigFileError(Exception):
    """An existing Jupyter config file that cannot be merged into."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)  # never by default: it would hide the instructor's own
    where.add_argument("--sys-prefix", dest="config_dir", action="store_const", const=default_config_dir(),
                       help=f"this environment's own config ({default_config_dir()}): for a student environment")
    where.add_argument("--config-dir", type=Path, help="any Jupyter config folder, for JUPYTER_CONFIG_PATH")


def default_config_dir() -> Path:
    """Where `--sys-prefix` puts Jupyter config: it applies to every Jupyter started from this environment."""
    return Path(sys.prefix) / "etc" / "jupyter"


def shell_commands() -> list[str]:
    """The `jupyter` commands that do the same in the environment they run in (for a postBuild without the kit)."""
    plugins = " ".join(LAB_PLUGINS)
    return [f"jupyter labextension disable --level=sys_prefix {plugins}",
            f"jupyter labextension lock --level=sys_prefix {plugins}",
            *(f"jupyter server extension disable --sys-prefix {name}" for name in SERVER_EXTENSIONS)]


def write_student_env(config_dir: Path) -> list[Path]:
    """Merge the disabled (and locked, so the Plugin Manager cannot turn them back on) plugins into
    labconfig/page_config.json and one jupyter_server_config.d file per server extension. Returns the files."""
    page_config = config_dir / "labconfig" / "page_config.json"
    data = _read_json(page_config)
    for key in ("disabledExtensions", "lockedExtensions"):
        data[key] = _as_mapping(data.get(key, {}), page_config, key)
        data[key].update(dict.fromkeys(LAB_PLUGINS, True))
    written = [_write_json(page_config, data)]
    for name in SERVER_EXTENSIONS:
        path = config_dir / "jupyter_server_config.d" / f"{name}.json"
        data = _read_json(path)
        server_app = data.setdefault("ServerApp", {})
        extensions = server_app.setdefault("jpserver_extensions", {}) if isinstance(server_app, dict) else None
        if not isinstance(extensions, dict):
            raise ConfigFileError(f"{path}: ServerApp and its jpserver_extensions must be JSON objects")
        extensions[name] = False
        written.append(_write_json(path, data))
    return written


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigFileError(f"{path}: not valid JSON ({err}); fix or remove it and run again") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a JSON object at the top, found {type(data).__name__}")
    return data


def _as_mapping(value: Any, path: Path, key: str) -> dict[str, bool]:
    """JupyterLab reads {plugin: true} and, from before jupyterlab_server 2.10, a plain list of plugin ids."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value, True)
    if isinstance(value, dict):
        return value
    raise ConfigFileError(f"{path}: {key} must be a JSON object of plugin ids (or a list of them)")


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def run(course: object, args: argparse.Namespace) -> int:
    try:
        files = write_student_env(args.config_dir)
    except (ConfigFileError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in files:
        print(f"wrote {path}")
    print(f"instructor tools hidden for Jupyter started with {args.config_dir} on its config path")
    return 0
