"""Snapshots of the labeling UI at 80x24 (usable) and 120x40 (comfortable).

Deterministic: a fake suggester in-process, a frozen clock (no pace), fixed item dates, and the
workers finished before the picture is taken. Update after an intended change with
`pytest tests/test_tui_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import pytest
from tui_helpers import FakeSuggester, make_db

from whylabel.store import Store
from whylabel.tui.app import build_app

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "snap.db"
    make_db(path)
    return path


def app_for(db, codebook):
    return build_app(db, codebook, annotator="tester", suggester_factory=FakeSuggester, queue="newest",
                     retrain_every=0, clock=lambda: 0.0, reaction_time=0.0)  # keys answer the screen


async def settled(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, db, codebook, size):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("enter", "4")  # one saved (message line), price added to the suggestion
    assert snap_compare(app_for(db, codebook), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, db, codebook, size):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("question_mark")
    assert snap_compare(app_for(db, codebook), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_empty_queue(snap_compare, db, codebook, size):
    with Store(db) as s:
        for item_id in range(1, 9):
            s.annotate(item_id, ["price"] if item_id % 2 else [], annotator="tester")
    assert snap_compare(app_for(db, codebook), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_report_screen(snap_compare, db, codebook, size):
    with Store(db) as s:
        s.upsert_breakpoints([{"name": "checkout", "reached": 12480, "dropped": 3120},
                              {"name": "returns", "reached": 800, "dropped": 96}])
        for item_id, reasons in {1: ["price"], 3: ["price", "terms"], 4: ["features"], 7: ["terms"], 2: ["trust"]}.items():
            s.annotate(item_id, reasons, annotator="tester")

    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("r")
        await settled(pilot)
    assert snap_compare(app_for(db, codebook), terminal_size=size, run_before=run_before)
