"""The built wheel works on its own: installed (not editable) into a fresh environment, run from a
folder that is not the checkout, it finds its codebook, default model and demo sample.

The wheel is built from this checkout without build isolation (no download; without Cython in the
environment it has no compiled kernels, which is what this test needs: the package data). The
fresh environment gets the wheel only (`--ignore-installed`: the running environment's own,
editable whylabel is visible there too); its dependencies come from the running environment
through a .pth line, so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def _run(args: list, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WHYLABEL_DB", "WHYLABEL_CODEBOOK", "PYTHONPATH")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh virtual environment with the wheel of this checkout installed."""
    started = time.perf_counter()
    base = tmp_path_factory.mktemp("wheel")
    # Built from a copy: a build writes build/ and *.egg-info beside the sources it reads.
    checkout = base / "checkout"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    shutil.copytree(REPO / "src", checkout / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so", "*.cpp"))
    dist = base / "dist"
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
              "-w", dist, checkout], cwd=base)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = dist.glob("whylabel-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("whylabel/data/codebook.toml", "whylabel/data/models/default/model.skops",
                    "whylabel/data/models/default/card.json", "whylabel/data/models/default/prior.npz",
                    "whylabel/data/sample_feedback/breakpoints.csv",
                    "whylabel/data/sample_feedback/product_reviews.jsonl", "whylabel/tui/app.tcss",
                    "whylabel/templates/report.html.j2"):
        assert shipped in names, shipped
    env_dir = base / "env"
    r = _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=base)
    assert r.returncode == 0, r.stderr
    py = env_dir / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=base).stdout.strip())
    # The dependencies of the running environment, after the new environment's own packages.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    r = _run([py, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--find-links", dist,
              "whylabel"], cwd=base)
    assert r.returncode == 0, r.stderr[-3000:]
    seconds = time.perf_counter() - started
    assert seconds < 120, f"building and installing the wheel took {seconds:.0f} s"
    return env_dir / "bin"


def test_the_installed_wheel_runs_the_demo_and_predicts_with_the_default_model(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([installed / "python", "-c", "import whylabel; print(whylabel.__file__)"], cwd=elsewhere)
    assert str(installed.parent) in where.stdout, "the test must run the installed wheel, not the checkout"

    r = _run([installed / "whylabel", "demo", "--no-ui"], cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "whylabel-demo.db: 1360 items, 1090 labeled, 270 to label" in r.stdout
    r = _run([installed / "whylabel", "report", "--db", "whylabel-demo.db", "-o", "why.html"], cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "<h2 id=\"act-first\">Where to act first</h2>" in (elsewhere / "why.html").read_text(encoding="utf-8")

    (elsewhere / "week.csv").write_text(
        "id,comment\n"
        "1,Verzendkosten van 6.95 vind ik echt te veel\n"
        "2,\"They promised delivery on Monday, still nothing, I don't trust them\"\n"
        "3,De maat klopt niet en het materiaal voelt goedkoop\n", encoding="utf-8")
    r = _run([installed / "whylabel", "predict", "week.csv", "-o", "out.csv", "--json", "--workers", "1"],
             cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["model_id"].startswith("default-"), summary["model_id"]
    assert summary["rows_read"] == 3 and summary["rejected"] == 0
    assert (elsewhere / "out.csv").read_text(encoding="utf-8").count("\n") == 4

    r = _run([installed / "whylabel", "train", "--db", "whylabel-demo.db", "--name", "mine", "--folds", "2",
              "--json"], cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    trained = json.loads(r.stdout)
    assert trained["n_items"] == 1090 and (elsewhere / "models" / "mine" / "model.skops").exists()
