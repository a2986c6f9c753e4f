"""Team queues in the labeling UI, key by key: double coding, adjudication, suspicious labels."""

from __future__ import annotations

import pytest
from test_tui import app_for, item_text, panel_text, run, shown
from tui_helpers import annotations, make_db, plain

from whylabel.store import Store
from whylabel.tui.team import CoderLabels

ANNA = {1: ["price"], 2: ["trust"], 3: ["uncertainty", "terms"], 4: ["features"], 5: [], 6: [], 7: ["terms"],
        8: ["price", "features"]}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "team.db"
    make_db(path)
    with Store(path) as s:
        for item, reasons in ANNA.items():
            s.annotate(item, reasons, annotator="anna")
    return path


def coders_text(app) -> str:
    return plain(app.label_screen.query_one(CoderLabels).render())


def test_double_queue_is_blind_and_shows_the_fixed_sample_to_every_second_coder(db, codebook):
    with Store(db) as s:
        sample = s.double_coding_queue("ben", 0.5)
    assert sorted(sample) == [2, 4, 5, 7]  # the items whose id hash falls in the lower half
    app = app_for(db, codebook, annotator="ben", queue="double", share=0.5)
    seen = {}

    async def scenario(pilot):
        seen["first"] = shown(app)
        assert "[x]" not in panel_text(app)  # blind: nothing pre-selected, anna's label hidden
        assert "anna" not in item_text(app)
        assert "BLIND" in plain(app.label_screen.query_one("#progress").render())
        await pilot.press("4", "enter")
        seen["second"] = shown(app)
        await pilot.press("0")

    run(app, scenario)
    assert seen["first"] == sample[0] and seen["second"] == sample[1]
    assert annotations(db, "ben") == [(sample[0], ("price",), None, "ui"), (sample[1], (), None, "ui")]
    with Store(db) as s:
        assert s.double_coding_queue("ben", 0.5) == sample[2:]
        assert s.double_coding_queue("chris", 0.5) == sample  # the same items for the next second coder


def test_disagreements_side_by_side_and_the_decision_is_an_adjudication(db, codebook):
    with Store(db) as s:
        s.annotate(1, ["price", "terms"], annotator="ben")  # differs from anna
        s.annotate(2, ["trust"], annotator="ben")  # same as anna
        s.annotate(3, ["uncertainty"], annotator="ben")  # differs
    app = app_for(db, codebook, annotator="lead", queue="disagreements")
    seen = {}

    async def scenario(pilot):
        seen["first"] = shown(app)
        seen["coders"] = coders_text(app)
        assert "[x]" not in panel_text(app)  # the lead decides; nothing is pre-selected
        await pilot.press("4", "enter")
        seen["second"] = shown(app)
        seen["coders2"] = coders_text(app)
        await pilot.press("u")  # undo withdraws the adjudication and brings item 1 back
        seen["after_undo"] = shown(app)
        await pilot.press("4", "6", "enter")
        await pilot.press("3", "6", "enter")
        seen["done"] = shown(app)

    run(app, scenario)
    assert seen["first"] == 1 and seen["second"] == 3 and seen["after_undo"] == 1 and seen["done"] is None
    assert "anna: price" in seen["coders"] and "ben: price, terms" in seen["coders"]
    assert "anna: uncertainty, terms" in seen["coders2"] and "ben: uncertainty" in seen["coders2"]
    assert annotations(db, "lead") == [(1, ("price",), None, "adjudication"), (1, None, None, "adjudication"),
                                       (1, ("price", "terms"), None, "adjudication"),
                                       (3, ("uncertainty", "terms"), None, "adjudication")]
    with Store(db) as s:
        assert s.adjudication_queue() == []
        overall = {r["id"]: (r["reasons"], r["annotator"]) for r in s.labeled()}
        assert overall[1] == (["price", "terms"], "lead") and overall[3] == (["uncertainty", "terms"], "lead")
        assert s.labeled("lead") == []  # adjudications are not the lead's own coding
        assert s.coder_labels(["anna", "ben"])["ben"][1] == ["price", "terms"]


def test_suspicious_queue_keeps_or_corrects_and_settled_items_leave(db, codebook):
    app = app_for(db, codebook, queue="suspicious", ranked=[3, 8, 6])
    seen = {}

    async def scenario(pilot):
        seen["first"] = shown(app)
        seen["panel"] = panel_text(app)
        seen["message"] = plain(app.label_screen.query_one("#reasons").content)
        await pilot.press("enter")  # keep anna's label: confirmed
        seen["second"] = shown(app)
        await pilot.press("5", "enter")  # -features: corrected
        seen["third"] = shown(app)
        await pilot.press("s")  # item 6 stays in the queue

    run(app, scenario)
    assert seen["first"] == 3 and seen["second"] == 8 and seen["third"] == 6
    assert "[x] 3 uncertainty" in seen["panel"] and "[x] 6 terms" in seen["panel"]
    assert "enter keeps the label: uncertainty, terms" in seen["message"]
    assert annotations(db) == [(3, ("uncertainty", "terms"), None, "adjudication"),
                               (8, ("price",), None, "adjudication")]
    again = app_for(db, codebook, queue="suspicious", ranked=[3, 8, 6])
    seen.clear()

    async def reopen(pilot):
        seen["pending"] = list(again.label_screen.session.pending)
        await pilot.press("enter")  # item 6: anna said no reason; keeping that is a decision too

    run(again, reopen)
    assert seen["pending"] == [6]
    assert annotations(db)[-1] == (6, (), None, "adjudication")


def test_agreement_screen_shows_alpha_bars_and_the_double_coding_left(db, codebook):
    from whylabel.agreement import team_agreement
    from whylabel.tui.agreement_screen import AgreementScreen

    with Store(db) as s:
        for item, reasons in {1: ["price"], 2: ["trust", "fear"], 3: ["terms"], 4: ["features"], 6: ["price"]}.items():
            s.annotate(item, reasons, annotator="ben")
        expected = team_agreement(s.coder_labels(), codebook)
    app = app_for(db, codebook)
    seen = {}

    async def scenario(pilot):
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        seen["screen"] = type(screen)
        seen["body"] = plain(screen.query_one("#agreement-body").render())
        await pilot.press("escape")
        seen["after"] = app.screen is app.label_screen

    run(app, scenario)
    body = seen["body"]
    assert seen["screen"] is AgreementScreen and seen["after"]
    assert "anna, ben · 5 items double-coded" in body
    price = next(line for line in body.splitlines() if line.startswith("price"))
    assert f"{expected.reasons['price'].alpha:5.2f}" in price and "█" in price
    # the 20 % sample of these eight items is item 5 alone, which ben has not coded
    assert "double coding: 1 of 1 sampled items still need a second coder" in body
