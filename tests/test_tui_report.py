"""The report screen (`r`), key by key: drop rate and reason shares per breakpoint, with the labels
saved in this session, and back on the same item."""

from __future__ import annotations

import pytest
from test_tui import app_for, run, shown
from tui_helpers import make_db, plain

from whylabel.store import Store
from whylabel.tui.report_screen import ReportScreen

FUNNEL = [
    {"name": "checkout", "moment": "choose", "stage": "purchase", "reached": 12480, "dropped": 3120},
    {"name": "returns", "moment": "leave", "stage": "retention", "reached": 800, "dropped": 96},
]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "report.db"
    make_db(path)
    return path


def table_rows(screen) -> dict[str, list[str]]:
    """The report table as the researcher reads it: breakpoint -> its cells' text."""
    from textual.widgets import DataTable

    table = screen.query_one("#report-table", DataTable)
    rows = {}
    for index in range(table.row_count):
        cells = [plain(cell).strip() for cell in table.get_row_at(index)]
        rows[cells[0]] = cells
    return rows


def columns(screen) -> list[str]:
    from textual.widgets import DataTable

    return [str(c.label) for c in screen.query_one("#report-table", DataTable).columns.values()]


async def open_report(pilot) -> ReportScreen:
    await pilot.press("r")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen) and screen.rows is not None
    return screen


def test_report_shows_drop_rate_and_reason_shares_with_this_sessions_labels(db, codebook):
    with Store(db) as s:
        s.upsert_breakpoints(FUNNEL)
        s.annotate(1, ["price"], annotator="anna")  # checkout: labeled before the session
    app = app_for(db, codebook)
    seen = {}

    async def scenario(pilot):
        seen["first"] = shown(app)  # item 2 (newest first; anna labeled item 1): delivery-promise
        report = await open_report(pilot)
        seen["before"] = table_rows(report)
        seen["columns"] = columns(report)
        seen["head"] = plain(report.query_one("#report-head").render())
        seen["notes"] = plain(report.query_one("#report-notes").render()).strip()
        await pilot.press("escape")
        seen["back"] = (app.screen is app.label_screen, shown(app))
        await pilot.press("enter")  # item 2 accepts the fake suggestion: "scam", "promised" -> trust
        await pilot.press("enter")  # item 3 (checkout): "duur", "retour", "onduidelijk" -> price, terms, uncertainty
        await pilot.press("0")  # item 4 (returns): no reason
        seen["now"] = shown(app)
        report = await open_report(pilot)
        seen["after"] = table_rows(report)
        await pilot.press("q")
        seen["closed"] = (app.screen is app.label_screen, shown(app))

    run(app, scenario)
    assert seen["first"] == 2 and seen["back"] == (True, 2)
    assert seen["columns"] == ["breakpoint", "drop rate", "labeled", "top reason", *codebook.reason_names]
    before = seen["before"]
    assert set(before) == {"checkout", "delivery-promise", "returns"}
    assert before["checkout"][1].endswith("25%") and "██" in before["checkout"][1]  # 3120 / 12480
    assert before["returns"][1].endswith("12%")  # 96 / 800
    assert before["delivery-promise"][1] == "-"  # no funnel figures for it
    assert (before["checkout"][2], before["checkout"][3]) == ("1", "price 100%")
    assert before["returns"][2] == "0" and before["returns"][3] == "-"
    assert "3 breakpoints · 1 labeled items" in seen["head"] and seen["notes"] == ""
    after = seen["after"]
    assert (after["delivery-promise"][2], after["delivery-promise"][3]) == ("1", "trust 100%")
    reason = {name: 4 + i for i, name in enumerate(codebook.reason_names)}
    checkout = after["checkout"]
    assert (checkout[2], checkout[3]) == ("2", "price 100%")
    assert checkout[reason["uncertainty"]].endswith("50%") and checkout[reason["terms"]].endswith("50%")
    assert checkout[reason["trust"]] == "···   0%"
    assert (after["returns"][2], after["returns"][3]) == ("1", "-")  # labeled: no reason
    assert seen["now"] == 5 and seen["closed"] == (True, 5)


def test_no_funnel_figures_and_no_labels_are_said(db, codebook):
    app = app_for(db, codebook)
    seen = {}

    async def scenario(pilot):
        report = await open_report(pilot)
        seen["rows"] = table_rows(report)
        seen["notes"] = plain(report.query_one("#report-notes").render())
        await pilot.press("r")
        seen["back"] = app.screen is app.label_screen

    run(app, scenario)
    assert set(seen["rows"]) == {"checkout", "delivery-promise", "returns"}
    assert all(cells[1] == "-" and cells[3] == "-" for cells in seen["rows"].values())
    assert "No funnel figures yet: `whylabel breakpoints funnel.csv`" in seen["notes"]
    assert "No labels yet" in seen["notes"] and seen["back"]


def test_an_empty_database_says_so(tmp_path, codebook):
    empty = tmp_path / "empty.db"
    Store(empty).close()
    app = app_for(empty, codebook)
    seen = {}

    async def scenario(pilot):
        report = await open_report(pilot)
        seen["head"] = plain(report.query_one("#report-head").render())
        seen["notes"] = plain(report.query_one("#report-notes").render())
        seen["table shown"] = report.query_one("#report-table").display
        await pilot.press("escape")
        seen["back"] = app.screen is app.label_screen

    run(app, scenario)
    assert "0 breakpoints · 0 labeled items" in seen["head"]
    assert "No breakpoints yet" in seen["notes"] and not seen["table shown"] and seen["back"]
