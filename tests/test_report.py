"""The why report (issue 15 item 1): its figures on a small hand-made database, the HTML page,
escaping, missing data, atomic writes and the -o suffix. The real browser: test_report_browser.py."""

from __future__ import annotations

import contextlib
import csv
import json
import re

import pytest

from whylabel.report import build_report, funnel_figures, report_format, wilson_interval
from whylabel.report_html import render_html
from whylabel.store import Store

# (id, text, breakpoint, source, lang, reasons): an empty reasons cell = nobody labeled it.
ITEMS = [
    ("1", "Verzendkosten van 6,95 vind ik echt te veel", "checkout", "survey", "nl", "price"),
    ("2", "Way too expensive with the shipping costs, cheaper elsewhere", "checkout", "review", "en", "price"),
    ("3", "Bij het afrekenen kwamen er ineens extra kosten bij", "checkout", "survey", "nl", "price"),
    ("4", "I don't trust entering my card details on this site", "checkout", "review", "en", "trust"),
    ("5", "Geen idee of mijn betaling gelukt is, geen bevestiging gekregen", "checkout", "ticket", "nl",
     "trust;uncertainty"),
    ("6", "Duurder dan bij de concurrent, dus daar besteld", "checkout", "survey", "nl", "price"),
    ("7", "Just browsing, will come back later", "checkout", "survey", "en", "none"),
    ("8", "The coupon code did not work and the total was too high", "checkout", "review", "en", "price"),
    ("9", "Pakket kwam drie dagen te laat, de beloofde bezorgdag was onzin", "bezorging", "ticket", "nl", "trust"),
    ("10", "They left my parcel at the door in the rain <script>alert(1)</script>", "bezorging", "review", "en",
     "fear"),
    ("11", "Ik weet niet wanneer het pakket komt, track & trace zegt niets", "bezorging", "survey", "nl",
     "uncertainty"),
    ("12", "Retourneren kost €6,95, dat staat nergens </textarea><img src=x onerror=alert(1)>", "bezorging",
     "survey", "nl", "terms"),
    ("13", "Bezorging duurt veel te lang en niemand weet waar mijn pakket is", "bezorging", "ticket", "nl", ""),
    ("14", "Shipping costs are ridiculous for such a small order", "checkout", "review", "en", ""),
    ("15", "Delivery was fine, nothing to add", "bezorging", "survey", "en", ""),
]
FUNNEL = ("name,moment,stage,reached,dropped,period\n"
          "checkout,choose,purchase,1000,250,2026-09\n"
          "checkout,choose,purchase,1200,330,2026-10\n"
          "bezorging,stay,retention,800,120,2026-10\n"
          "retouren,leave,retention,300,45,2026-10\n")
MODEL_ID = "team-model-1"
CARD = {"model_id": MODEL_ID, "name": "team", "metrics": {"n": 400, "per_reason": {
    "price": {"precision": 0.81, "recall": 0.7}, "uncertainty": {"precision": 0.62, "recall": 0.5}}}}


def _ids(store: Store) -> dict[str, int]:
    return {r[1]: r[0] for r in store.db.execute("SELECT id, external_id FROM items")}


@pytest.fixture
def report_db(cli, tmp_path, db_path):
    items = tmp_path / "feedback.csv"
    with open(items, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "breakpoint", "source", "lang", "reasons"])
        writer.writerows(ITEMS)
    r = cli("import", items, "--reasons-column", "reasons", "--annotator", "anna", "--db", db_path)
    assert r.exit_code == 0, r.stderr
    (tmp_path / "funnel.csv").write_text(FUNNEL, encoding="utf-8")
    assert cli("breakpoints", tmp_path / "funnel.csv", "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        ids = _ids(s)
        s.register_model(model_id=MODEL_ID, name="team", path="models/team", codebook_hash="x", card=CARD)
        # What `predict --into-db` stores: suggestions, no annotation. Item 2 is labeled by a person too.
        s.save_suggestions([
            {"item_id": ids["13"], "model_id": MODEL_ID, "probabilities": {"uncertainty": 0.71},
             "reasons": ["uncertainty"], "evidence": {"uncertainty": [[41, 50, "niemand w", 0.9]]}},
            {"item_id": ids["14"], "model_id": MODEL_ID, "probabilities": {"price": 0.93}, "reasons": ["price"],
             "evidence": {"price": [[0, 14, "Shipping costs", 1.2]]}},
            {"item_id": ids["15"], "model_id": MODEL_ID, "probabilities": {"price": 0.05}, "reasons": []},
            {"item_id": ids["2"], "model_id": MODEL_ID, "probabilities": {"price": 0.97}, "reasons": ["price"],
             "evidence": {"price": [[4, 17, "too expensive", 1.5], [27, 41, "shipping costs", 0.8]]}},
        ])
    return db_path


class FakeExplain:
    """Evidence for quotes without stored evidence: the first word of at least 5 letters."""

    def __init__(self):
        self.calls: list[tuple[list[str], list[str]]] = []

    def __call__(self, texts, langs, reasons):
        self.calls.append((list(texts), list(reasons)))
        out = []
        for text in texts:
            m = re.search(r"[A-Za-zë]{5,}", text)
            out.append([(m.start(), m.end())] if m else [])
        return out


# ---------------------------------------------------------------------------------------------
# Wilson intervals


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (the Wilson score interval).
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_published_values(k, n, low, high):
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_matches_scipy_and_stays_in_bounds():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 1), (1, 1), (3, 8), (5, 8), (50, 50), (1, 1000), (999, 1000)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k, n)
        assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-6)  # the intervals differ by far more when the formula is wrong
        assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(0, 0) is None


# ---------------------------------------------------------------------------------------------
# Figures


def test_funnel_periods_are_kept_and_totalled(report_db):
    with Store(report_db) as s:
        funnel = funnel_figures(s)
    checkout = funnel["checkout"]
    assert [(p["period"], p["reached"], p["dropped"]) for p in checkout["periods"]] == [
        ("2026-09", 1000, 250), ("2026-10", 1200, 330)]
    assert checkout["periods"][0]["drop_rate"] == pytest.approx(0.25)
    assert (checkout["reached"], checkout["dropped"]) == (2200, 580)
    assert (funnel["bezorging"]["reached"], funnel["bezorging"]["dropped"]) == (800, 120)


def test_human_and_model_labels_are_counted_apart(report_db, codebook):
    with Store(report_db) as s:
        report = build_report(s, codebook, explain=FakeExplain())
    checkout, bezorging = report.breakpoint("checkout"), report.breakpoint("bezorging")
    assert (checkout.human.n, checkout.model.n) == (8, 1)  # item 2 has a suggestion, but a person labeled it
    assert checkout.human.counts == {"price": 5, "trust": 2, "uncertainty": 1}
    assert checkout.human.drivers == {"rational": 5, "emotional": 2, "none": 1}
    assert checkout.model.counts == {"price": 1} and checkout.model.models == {MODEL_ID: 1}
    assert (bezorging.human.n, bezorging.model.n) == (4, 2)
    assert bezorging.model.counts == {"uncertainty": 1} and bezorging.model.drivers == {"emotional": 1, "none": 1}
    assert checkout.sources == {"review": 4, "survey": 4, "ticket": 1} and checkout.items == 9
    assert report.human_labeled == 12 and report.model_labeled == 3 and report.items == 15
    model = report.models[MODEL_ID]
    assert (model.name, model.items, model.held_out) == ("team", 3, 400)
    assert model.precision == {"price": 0.81, "uncertainty": 0.62}
    share = checkout.human.reason_share("price")
    assert (share.count, share.n) == (5, 8) and share.interval == wilson_interval(5, 8)


def test_where_to_act_first_ranks_by_customers_lost(report_db, codebook):
    with Store(report_db) as s:
        report = build_report(s, codebook, explain=FakeExplain())
    ranked = [(x.breakpoint, x.reason) for x in report.act_first]
    assert ranked == [("checkout", "price"), ("checkout", "trust"), ("checkout", "uncertainty"),
                      ("bezorging", "fear"), ("bezorging", "terms"), ("bezorging", "trust"),
                      ("bezorging", "uncertainty")]
    top = report.act_first[0]
    assert top.estimate == pytest.approx(580 * 5 / 8)
    low, high = wilson_interval(5, 8)
    assert (top.low, top.high) == pytest.approx((580 * low, 580 * high))
    assert report.act_first[3].estimate == pytest.approx(120 / 4)
    assert all(x.kind == "human" for x in report.act_first)
    assert "retouren" not in {x.breakpoint for x in report.act_first}  # dropped customers, but no labels


def test_model_labels_give_the_shares_where_nobody_labeled(cli, tmp_path, db_path, codebook):
    (tmp_path / "f.csv").write_text("id,text,breakpoint\n1,Veel te duur allemaal,checkout\n"
                                    "2,Te dure verzending,checkout\n", encoding="utf-8")
    assert cli("import", tmp_path / "f.csv", "--db", db_path).exit_code == 0
    (tmp_path / "funnel.csv").write_text("name,reached,dropped\ncheckout,500,100\n", encoding="utf-8")
    assert cli("breakpoints", tmp_path / "funnel.csv", "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        ids = _ids(s)
        s.save_suggestions([{"item_id": ids[i], "model_id": "m", "probabilities": {"price": 0.9}, "reasons": ["price"]}
                            for i in ("1", "2")])
        report = build_report(s, codebook, explain=FakeExplain())
    (lost,) = report.act_first
    assert (lost.kind, lost.reason, lost.estimate) == ("model", "price", 100.0)
    assert report.models["m"].precision == {} and report.models["m"].held_out is None


def test_quotes_use_stored_evidence_and_compute_only_the_rest(report_db, codebook):
    explain = FakeExplain()
    with Store(report_db) as s:
        report = build_report(s, codebook, explain=explain)
    price = report.breakpoint("checkout").human.quotes["price"]
    assert len(price) == 3  # three of the five, the one the model is surest of first
    assert price[0].text.startswith("Way too expensive")
    assert price[0].words == ["too expensive", "shipping costs"] and price[0].evidence_from == "stored"
    assert price[0].segments[:2] == [("Way ", False), ("too expensive", True)]
    assert "".join(piece for piece, _ in price[0].segments) == price[0].text
    (call,) = explain.calls  # one call for every quote that has no stored evidence, and only those
    shown = [q for b in report.breakpoints for qs in b.basis.quotes.values() for q in qs]
    assert len(call[0]) == sum(q.evidence_from == "computed" for q in shown) == len(shown) - 1
    assert report.breakpoint("checkout").model.quotes == {}  # quotes come from human labels here


def test_report_json_adds_the_new_figures(cli, report_db):
    r = cli("report", "--db", report_db, "--json")
    assert r.exit_code == 0, r.stderr
    rows = {row["breakpoint"]: row for row in json.loads(r.stdout)}
    checkout = rows["checkout"]
    # the summary's keys as before, the reached/dropped being totals over the periods
    assert (checkout["labeled"], checkout["price"], checkout["reached"], checkout["dropped"]) == (8, 5, 2200, 580)
    assert checkout["drop_rate"] == round(580 / 2200, 4)
    assert checkout["periods"][1] == {"period": "2026-10", "reached": 1200, "dropped": 330, "drop_rate": 0.275}
    assert checkout["sources"] == {"review": 4, "survey": 4, "ticket": 1} and checkout["items"] == 9
    low, high = wilson_interval(5, 8)
    assert checkout["human"]["reasons"]["price"] == {"count": 5, "share": 0.625, "low": round(low, 4),
                                                     "high": round(high, 4)}
    assert checkout["model"]["labeled"] == 1
    assert checkout["model"]["models"] == {MODEL_ID: {"items": 1, "name": "team", "measured_on": 400,
                                                      "precision": {"price": 0.81, "uncertainty": 0.62}}}
    assert checkout["lost"][0] == {"rank": 1, "breakpoint": "checkout", "reason": "price", "driver": "rational",
                                   "labels": "human", "dropped": 580, "share": 0.625, "customers_lost": 362.5,
                                   "low": round(580 * low, 1), "high": round(580 * high, 1)}
    assert rows["retouren"]["lost"] == [] and rows["retouren"]["human"]["labeled"] == 0


def test_text_table_and_csv_keep_working(cli, tmp_path, report_db):
    table = cli("report", "--db", report_db).stdout
    assert "checkout" in table and "26%" in table  # 580 of 2200 over both periods
    out = tmp_path / "summary.csv"
    assert cli("report", "--db", report_db, "-o", out).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["breakpoint"]: r["dropped"] for r in rows} == {"checkout": "580", "bezorging": "120", "retouren": "45"}


# ---------------------------------------------------------------------------------------------
# The page


def test_page_shows_do_say_why_and_marks_model_labels(report_db, codebook):
    with Store(report_db) as s:
        report = build_report(s, codebook, explain=FakeExplain())
    page = render_html(report)
    for name in ("checkout", "bezorging", "retouren"):
        assert f">{name}</h2>" in page
    assert "<td>2026-09</td><td>1,000</td><td>250</td><td>25%</td>" in page
    assert "<strong>2,200</strong></td><td><strong>580</strong>" in page
    assert page.count('<span class="badge model">MODEL</span> n = 1') == 1  # checkout: one model label
    assert "team <span class=\"note\">team-model-1</span>" in page and "<td>400 labels</td>" in page
    assert "<td>81%</td>" in page  # the model's held-out precision for price
    assert "<mark>too expensive</mark>" in page
    assert "Missing:" not in page
    assert page.count("<svg") == 1 + 2 + 1  # where to act first, two WHY charts, checkout's periods


def test_the_same_database_gives_the_same_page(report_db, codebook):
    from datetime import datetime, timezone

    when = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
    pages = []
    for _ in range(2):
        with Store(report_db) as s:
            pages.append(render_html(build_report(s, codebook, explain=FakeExplain()), generated_at=when))
    assert pages[0] == pages[1] and "generated 2026-11-23 09:30 UTC" in pages[0]
    ids = re.findall(r' id="([^"]+)"', pages[0])
    assert len(ids) == len(set(ids)), "two charts share an SVG id"


def test_hostile_feedback_is_escaped(report_db, codebook):
    with Store(report_db) as s:
        page = render_html(build_report(s, codebook, explain=FakeExplain()))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page.lower() and "<img" not in page.lower() and "onerror=alert" not in page.replace(
        "&lt;img src=x onerror=alert(1)&gt;", "")


def test_breakpoint_names_are_escaped_in_the_page_and_charts(cli, tmp_path, db_path, codebook):
    (tmp_path / "f.csv").write_text('id,text,breakpoint,reasons\n1,Te duur,"<b>$x$</b>",price\n', encoding="utf-8")
    assert cli("import", tmp_path / "f.csv", "--db", db_path, "--reasons-column", "reasons",
               "--annotator", "anna").exit_code == 0
    (tmp_path / "funnel.csv").write_text('name,reached,dropped\n"<b>$x$</b>",10,5\n', encoding="utf-8")
    assert cli("breakpoints", tmp_path / "funnel.csv", "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        page = render_html(build_report(s, codebook, explain=FakeExplain()))
    assert "<b>" not in page and "&lt;b&gt;$x$&lt;/b&gt;" in page  # matplotlib drew "$x$" as text, not math


def test_empty_database_says_what_is_missing(cli, tmp_path, db_path, codebook):
    Store(db_path).close()
    out = tmp_path / "why.html"
    r = cli("report", "--db", db_path, "-o", out)
    assert r.exit_code == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    assert "Missing: no feedback yet: import it with <code>" not in page  # text, not markup
    assert "Missing: no feedback yet: import it with `whylabel import FILE`" in page
    assert "no funnel figures (reached, dropped)" in page and "Nothing to rank yet" in page
    assert json.loads(cli("report", "--db", db_path, "--json").stdout) == []


def test_labels_without_funnel_figures_say_so(cli, tmp_path, db_path, codebook):
    (tmp_path / "f.csv").write_text("id,text,breakpoint,reasons\n1,Veel te duur,checkout,price\n"
                                    "2,I do not trust this shop,checkout,trust\n", encoding="utf-8")
    assert cli("import", tmp_path / "f.csv", "--db", db_path, "--reasons-column", "reasons",
               "--annotator", "anna").exit_code == 0
    with Store(db_path) as s:
        report = build_report(s, codebook, explain=FakeExplain())
    assert report.act_first == [] and report.breakpoint("checkout").human.n == 2
    assert report.missing == ["no funnel figures (reached, dropped): import them with `whylabel breakpoints FILE`; "
                              "without them there is no drop rate and no estimate of customers lost"]
    page = render_html(report)
    assert "No funnel figures for this breakpoint" in page and ">checkout</h2>" in page


# ---------------------------------------------------------------------------------------------
# The command


def test_report_html_from_the_command_line(cli, tmp_path, report_db):
    out = tmp_path / "why.html"
    r = cli("report", "--db", report_db, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == f"{out}: the why report for 3 breakpoints\n" and r.stdout == ""
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # the words behind the quotes nobody stored evidence for come from the suggester in use
    assert page.count("<mark>") > 5
    assert cli("report", "--db", report_db, "-o", tmp_path / "WHY.HTM").exit_code == 0


def test_a_bad_suffix_is_one_line(cli, tmp_path, report_db):
    for name, suffix in (("why.pdf", ".pdf"), ("why.xlsx", ".xlsx"), ("why.json", ".json")):
        r = cli("report", "--db", report_db, "-o", tmp_path / name)
        assert r.exit_code == 2
        assert r.stderr == (f"whylabel: error: {tmp_path / name}: the report is written as .html or .htm (the page) "
                            f"or .csv (the table), not {suffix}\n")
    r = cli("report", "--db", report_db, "-o", tmp_path / "why.html", "--excel")
    assert (r.exit_code, r.stderr) == (2, "whylabel: error: --excel applies to CSV output only\n")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("test.db")) == [
        "feedback.csv", "funnel.csv"]
    assert report_format("-") == report_format("summary.csv") == report_format("/dev/stdout") == "csv"


def test_a_failure_leaves_no_partial_page(cli, tmp_path, report_db, monkeypatch):
    from whylabel import report_html

    out = tmp_path / "why.html"
    out.write_text("last week's report", encoding="utf-8")

    real_output = report_html.output

    class HalfStream:
        def __init__(self, stream):
            self.stream = stream

        def write(self, data):
            self.stream.write(data[: len(data) // 2])  # half the page reaches the disk, then the disk fails
            raise OSError(28, "No space left on device", str(out))

    @contextlib.contextmanager
    def half_output(path, **kw):
        with real_output(path, **kw) as stream:
            yield HalfStream(stream)

    monkeypatch.setattr(report_html, "output", half_output)
    r = cli("report", "--db", report_db, "-o", out)
    assert (r.exit_code, r.stderr) == (2, f"whylabel: error: {out}: no space left on device\n")
    assert out.read_text(encoding="utf-8") == "last week's report"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".why")) == []


def test_help_and_start_up_do_not_import_the_plotting_stack():
    import subprocess
    import sys

    code = ("import sys; from whylabel.cli import main; from whylabel import report, export; "
            "print(sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stderr


def test_a_database_from_before_periods_keeps_its_figures(db_path, monkeypatch):
    """Migration 3: the figures stored with a period move into the per-period table."""
    from whylabel import store as store_mod

    before = store_mod.MIGRATIONS.index(store_mod._m3_funnel_periods)
    with monkeypatch.context() as m:
        m.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:before])
        m.setattr(store_mod, "SCHEMA_VERSION", before)
        with Store(db_path) as s:
            s.db.execute("INSERT INTO breakpoints (name, reached, dropped, period) VALUES"
                         " ('checkout', 1200, 330, '2026-10'), ('bezorging', 800, 120, NULL)")
            s.db.conn.commit()
    with Store(db_path) as s:
        assert s.schema_version == store_mod.SCHEMA_VERSION
        assert s.funnel_periods() == [{"breakpoint": "checkout", "period": "2026-10", "reached": 1200, "dropped": 330}]
        s.upsert_breakpoints([{"name": "checkout", "reached": 1000, "dropped": 250, "period": "2026-09"}])
        funnel = funnel_figures(s)
    assert (funnel["checkout"]["reached"], funnel["checkout"]["dropped"]) == (2200, 580)
    assert (funnel["bezorging"]["reached"], funnel["bezorging"]["dropped"]) == (800, 120)


def test_evidence_for_a_reason_the_model_did_not_choose(codebook):
    """The model in use explains a person's reason too: its words, as spans of the text."""
    from whylabel.model import load_suggester

    suggester = load_suggester(codebook, fast=True)
    texts = ["De verzendkosten zijn belachelijk hoog, echt te duur", "I don't trust this shop with my card details"]
    found = suggester.evidence_for(texts, ["nl", "en"], ["price", "trust"])
    words = [[texts[k][e.start:e.end] for e in spans] for k, spans in enumerate(found)]
    assert all(e.text == texts[k][e.start:e.end] for k, spans in enumerate(found) for e in spans)
    assert "duur" in " ".join(words[0]) and "trust" in " ".join(words[1])
    assert suggester.evidence_for(["te duur"], None, ["no-such-reason"]) == [()]


def test_an_item_someone_else_labeled_is_no_model_label(report_db, codebook):
    """With --annotator: human labels are theirs; an item another person labeled counts as neither."""
    with Store(report_db) as s:
        s.annotate(_ids(s)["14"], ["price", "terms"], annotator="bob")
        mine = build_report(s, codebook, annotator="anna", explain=FakeExplain()).breakpoint("checkout")
        everyone = build_report(s, codebook, explain=FakeExplain()).breakpoint("checkout")
    assert (mine.human.n, mine.model.n) == (8, 0)
    assert (everyone.human.n, everyone.model.n) == (9, 0) and everyone.human.counts["terms"] == 1


def test_a_long_quote_is_cut_and_keeps_only_the_evidence_it_shows():
    from whylabel.report import QUOTE_CHARS, _clean_spans

    text = "Te duur. " + "x" * (QUOTE_CHARS - 9 - 5) + "     verzendkosten veel te hoog"
    spans = _clean_spans(text, [(3, 7), (0, 2), (1, 5), (QUOTE_CHARS - 6, QUOTE_CHARS + 2), (QUOTE_CHARS + 3, QUOTE_CHARS + 9)],
                         QUOTE_CHARS)
    assert spans == [(0, 2), (3, 7)]  # overlaps dropped; nothing past the shown part (nor in its cut-off spaces)
