"""The layers hold: the import-linter contracts in pyproject.toml, and every core module at run time."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import whylabel
from conftest import REPO

FACES = ("whylabel.cli", "whylabel.tui")


def core_modules() -> list[str]:
    """Every module of the package but the faces (and `__main__`, the command line's entry point)."""
    names = [m.name for m in pkgutil.walk_packages(whylabel.__path__, "whylabel.")]
    return sorted(n for n in names if not n.startswith(FACES) and n != "whylabel.__main__")


def test_the_core_is_found_whole():
    core = core_modules()
    assert {"whylabel.store", "whylabel.io.table", "whylabel.records", "whylabel.batch", "whylabel.model"} <= set(core)
    assert not [n for n in core if n.startswith(FACES)]


def test_no_core_module_loads_textual():
    """Imported one after another in a fresh interpreter: Textual never appears (harlequin's test).
    One process for all: if none of them pulls Textual in together, none does alone."""
    code = ("import importlib, sys\n"
            f"for name in {core_modules()!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'textual' in sys.modules:\n"
            "        sys.exit('textual loaded by importing ' + name)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    return found


def test_the_import_contracts_hold():
    r = subprocess.run([lint_imports(), "--config", str(REPO / "pyproject.toml")], capture_output=True,
                       text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in r.stdout


def test_a_broken_contract_is_caught(tmp_path):
    """The contracts bite: a copy of the package whose export module speaks SQL and imports click."""
    pkg = tmp_path / "src"
    shutil.copytree(Path(whylabel.__file__).parent, pkg / "whylabel",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "data"))
    with open(pkg / "whylabel" / "export.py", "a", encoding="utf-8") as f:
        f.write("\nimport click, sqlite3  # a core module speaking SQL and click\n")
    config = tmp_path / "pyproject.toml"
    config.write_text((REPO / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    r = subprocess.run([lint_imports(), "--config", str(config)], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(pkg), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Contracts: 1 kept, 2 broken." in r.stdout
    assert "whylabel.export -> click" in r.stdout and "whylabel.export -> sqlite3" in r.stdout
