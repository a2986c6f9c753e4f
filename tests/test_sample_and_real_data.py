"""The bundled sample meets its promises; real exports from ../shared/data import without naming columns."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA
from whylabel.resources import sample_dir
from whylabel.store import Store


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from click.testing import CliRunner

    from whylabel.cli import main

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    r = CliRunner().invoke(main, ["demo", "--no-ui", "--db", str(path), "--sample-dir", str(sample_dir())],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return path


def test_sample_feedback_meets_the_brief(demo_db, codebook):
    with Store(demo_db) as s:
        total = s.count_items()
        langs = dict(s.db.execute("SELECT lang, count(*) FROM items GROUP BY lang").fetchall())
        sources = dict(s.db.execute("SELECT source, count(*) FROM items GROUP BY source").fetchall())
        breakpoints = s.breakpoints()
        labeled = s.labeled()
    assert total >= 400
    assert set(langs) == {"nl", "en"}, langs
    assert 0.4 <= langs["nl"] / total <= 0.6
    assert set(sources) == {"survey", "review", "ticket"}
    assert len(breakpoints) >= 8
    assert {b["moment"] for b in breakpoints} == {"choose", "stay", "leave", "return"}
    assert all(b["reached"] and b["dropped"] is not None for b in breakpoints)
    assert len(labeled) >= 150
    counts = {r: sum(r in row["reasons"] for row in labeled) for r in codebook.reason_names}
    assert min(counts.values()) >= 15, counts
    assert sum(len(row["reasons"]) >= 2 for row in labeled) >= 20
    assert sum(not row["reasons"] for row in labeled) >= 10


def test_demo_is_idempotent(demo_db, cli):
    before = Store(demo_db).count_items()
    r = cli("demo", "--no-ui", "--db", demo_db, "--sample-dir", sample_dir())
    assert r.exit_code == 0
    assert "0 added" in r.stdout
    assert Store(demo_db).count_items() == before


REAL = [
    # (file, expected text column, minimum rows added)
    ("womens_clothing_ecommerce_reviews/reviews.csv", "Review Text", 950),
    ("cfpb_complaints_sample/complaints_sample.csv", "Consumer complaint narrative", 1500),
    ("twcs_sample/sample.csv", "text", 90),
]


@pytest.mark.parametrize("name, text_column, minimum", REAL)
def test_real_exports_import_without_naming_columns(cli, tmp_path, name, text_column, minimum):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/data is only on the team's machines)")
    r = cli("import", path, "--db", tmp_path / "real.db", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["columns"]["text"] == text_column
    assert summary["added"] >= minimum
    assert summary["rows_read"] == summary["added"] + summary["duplicates"] + summary["skipped"]
    with Store(tmp_path / "real.db") as s:
        multi_line = s.db.execute("SELECT count(*) FROM items WHERE text LIKE '%' || char(10) || '%'").fetchone()[0]
        if "cfpb" in name:
            assert multi_line > 0  # multi-line quoted narratives stay whole
        assert s.db.execute("SELECT count(*) FROM items WHERE lang='en'").fetchone()[0] > 0.9 * summary["added"]
