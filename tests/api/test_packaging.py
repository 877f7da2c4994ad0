"""The wheel is the product: typed, with the simulation harness, and self-contained.

One wheel is built per session from a copy of the source tree (so no `build/`
left in the checkout can leak stale files into it), then read as a zip.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = (
    "__init__",
    "bugs",
    "checker",
    "cli",
    "harness",
    "local_workload",
    "more_workloads",
    "scenarios",
    "sweep",
    "trace",
    "workloads",
)
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "*.db"
)


def _pip_wheel(source: Path, out: Path, *isolation: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(out)]
    return subprocess.run(
        [*command, str(source)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp / "out"
    # Without isolation when this environment can build wheels (setuptools >= 70.1, or
    # `wheel` installed); otherwise pip fetches the build backend pyproject.toml names.
    built = _pip_wheel(source, out, "--no-build-isolation")
    if built.returncode != 0:
        built = _pip_wheel(source, out)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("cadenza-*.whl")
    return path


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _imports(source: str, by_string: bool = True) -> set[str]:
    """Every module a file imports, also by string (`importlib.import_module("x")`) if asked."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (
            by_string
            and isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"[A-Za-z_][\w.]*", node.value)
        ):
            found.add(node.value)
    return found


def test_the_wheel_is_typed_and_holds_the_simulation_harness(wheel: Path) -> None:
    """PEP 561's marker, `cadenza.testing` as a package, and every harness module."""
    names = _names(wheel)
    assert "cadenza/py.typed" in names
    assert "cadenza/testing/__init__.py" in names
    missing = {m for m in HARNESS if f"cadenza/testing/_simulation/{m}.py" not in names}
    assert not missing
    assert {name.split("/")[0] for name in names if name.endswith(".py")} == {"cadenza"}


def test_no_module_in_the_wheel_imports_the_source_checkout(wheel: Path) -> None:
    """Nothing reaches for `simulations` (or `tests`), which only a checkout has."""
    offenders = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".py"):
                for module in _imports(zf.read(name).decode()):
                    if module.split(".")[0] in {"simulations", "tests"}:
                        offenders.append(f"{name}: {module}")
    assert not offenders


IMPORTED_AS = {"opentelemetry_api": "opentelemetry"}  # distributions named unlike their package


def test_every_hard_dependency_is_imported_by_the_package(wheel: Path) -> None:
    """A `Requires-Dist` without an extra is there because some module imports it."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = (n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = Parser().parsestr(zf.read(meta).decode()).get_all("Requires-Dist") or []
        imported = {
            module.split(".")[0]
            for name in zf.namelist()
            if name.endswith(".py")
            for module in _imports(zf.read(name).decode(), by_string=False)
        }
    hard = {re.split(r"[^A-Za-z0-9_.-]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r}
    assert hard
    modules = {dist.lower().replace("-", "_") for dist in hard}
    modules = {IMPORTED_AS.get(module, module) for module in modules}
    assert not modules - imported


def test_cadenza_simulate_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    """Unpacked away from the checkout, `python -m cadenza.cli simulate` sweeps a seed."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    script = (
        "import sys, cadenza; assert cadenza.__file__.startswith(sys.argv[1]), cadenza.__file__;"
        "from cadenza.cli import main; raise SystemExit(main(sys.argv[2:]))"
    )
    args = ["simulate", "--seeds", "1", "--hours", "0.0003"]
    ran = subprocess.run(
        [sys.executable, "-c", script, str(site), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "0 violations" in " ".join(ran.stdout.split())


def test_cadenza_bench_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    """Unpacked away from the checkout, `cadenza bench journal --tiny` prints its JSON report."""
    names = _names(wheel)
    for module in ("__init__", "_ceilings", "_throughput", "_journal", "_timers", "_groups"):
        assert f"cadenza/bench/{module}.py" in names, module
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "CADENZA_BENCH_DIR": str(tmp_path)}
    script = (
        "import sys, cadenza; assert cadenza.__file__.startswith(sys.argv[1]), cadenza.__file__;"
        "from cadenza.cli import main; raise SystemExit(main(sys.argv[2:]))"
    )
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(site),
            "bench",
            "journal",
            "--tiny",
            "--durability",
            "full",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    assert report["figures"]["full"]["records_per_s"] > 0
    assert report["ceilings"]["full"]["sqlite_executemany_rows_per_s"] > 0


def test_the_wheel_holds_the_dashboards_templates_and_static_files(wheel: Path) -> None:
    """`/ui/` works from an installed wheel: templates, CSS, script, vendored libraries, licences."""
    names = _names(wheel)
    ui = "cadenza/http/ui/"
    for name in (
        "templates/base.html",
        "templates/runs.html",
        "templates/run.html",
        "static/ui.css",
        "static/ui.js",
        "static/vendor/htmx-2.0.11.min.js",
        "static/vendor/htmx-2.0.11.LICENSE",
        "static/vendor/cytoscape-3.35.0.min.js",
        "static/vendor/cytoscape-dagre-4.0.1.min.js",
        "static/vendor/dagre.LICENSE",
    ):
        assert ui + name in names, name
