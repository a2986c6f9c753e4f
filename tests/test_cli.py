"""CLI hygiene: help everywhere, light imports (the core's own hygiene: tests/test_contracts.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from whylabel.cli import COMMANDS, LazyGroup, main

# numpy is fine: sqlite-utils loads it anyway. The optional and page-drawing libraries come in
# only where they are used (extras.require, report_html.py).
HEAVY = ("spacy", "sklearn", "textual", "skops", "pyarrow", "dask", "distributed", "matplotlib", "jinja2", "openpyxl")


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\nMODULES ' + ' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout
    modules = out.rsplit("\nMODULES ", 1)[1].split()
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["import", "--help"], ["predict", "--help"],
                                  ["report", "--help"]])
def test_help_does_not_import_heavy_libraries(args):
    code = (f"from whylabel.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code")
    loaded = loaded_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_every_command_has_help_with_an_example(cli):
    names = LazyGroup().list_commands(None)
    assert {"import", "breakpoints", "export", "report", "demo"} <= set(names)
    for name in names:
        r = cli(name, "--help")
        assert r.exit_code == 0, name
        assert "Example" in r.stdout, f"`whylabel {name} --help` shows no example"


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in LazyGroup().list_commands(None):
        assert f"whylabel {name}" in readme, f"README does not mention `whylabel {name}`"


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "whylabel", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "0.1.0" in r.stdout
