"""The HTML why report in a real browser: headless Chromium renders it, the screenshot is not
blank (the charts are drawn), the DOM names every breakpoint, and the page makes no network
request. `.ci/run` installs Chromium from the system package manager when it is missing; locally
these tests are skipped without it (`apt-get install chromium`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from whylabel.report_html import COLOURS

CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)
if CHROMIUM is None and os.environ.get("CI") == "true":
    # .ci/run installs chromium; if that failed, the browser check must not vanish as a skip
    raise RuntimeError("no chromium binary on PATH, and .ci/run should have installed it")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (CI installs it: see .ci/run)")

# Quiet flags: Chromium's own background traffic (updates, accounts) is not the page's, and it
# is told apart below by its initiator; these keep it small. Root needs --no-sandbox.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--hide-scrollbars"]


def chromium(tmp_path: Path, page: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run Chromium on `page`; return the run and the URLs the page asked the network for."""
    net_log = tmp_path / f"net-{len(list(tmp_path.glob('net-*')))}.json"
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--log-net-log={net_log}",
                        *args, page.as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r, page_requests(net_log)


def page_requests(net_log: Path) -> list[str]:
    """http(s)/ws(s) URLs requested on behalf of a web page. Chromium's own requests (component
    updates, time sync) have no page as initiator ("not an origin") and are left out."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and "url" in params and params.get("initiator") != "not an origin":
            if re.match(r"(https?|wss?)://", params["url"]):
                urls.append(params["url"])
    return urls


class _Page(HTMLParser):
    """What a page would load (src/href/url() that are not data: or #fragments), and its h2 headings."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.tags: set[str] = set()
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self._in_h2 = tag == "h2"
        if self._in_h2:
            self.h2.append("")
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data", "background") and value:
                if not value.startswith(("#", "data:")):
                    self.loads.append(f"{tag} {name}={value}")
            if name == "style" and value:
                self._css(value)

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data
        self._css(data)  # inline <style> and anything that reads like CSS

    def _css(self, text: str) -> None:
        for target in re.findall(r"url\(\s*['\"]?([^'\")]*)", text):
            if not target.startswith(("#", "data:")):
                self.loads.append(f"url({target})")
        for target in re.findall(r"@import\s+['\"]?([^'\";]+)", text):
            self.loads.append(f"@import {target}")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> tuple[Path, list[str]]:
    """The demo sample plus a week labeled by the model only (`predict --into-db`), as a page."""
    base = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "WHYLABEL_ANNOTATOR": "tester"}
    env.pop("WHYLABEL_DB", None)
    whylabel = [sys.executable, "-m", "whylabel"]

    def run(*args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([*whylabel, *args], cwd=base, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r

    run("demo", "--no-ui", "--db", "why.db")
    (base / "week.csv").write_text(
        "id,comment,breakpoint\n"
        "w1,Verzendkosten van 6.95 vind ik echt te veel,checkout\n"
        "w2,\"They promised delivery on Monday, still nothing, I don't trust them\",nieuwe-stap\n"
        "w3,\"<script>alert('x')</script> De maat klopt niet, het materiaal voelt goedkoop\",nieuwe-stap\n",
        encoding="utf-8")
    run("predict", "week.csv", "--into-db", "--db", "why.db", "--source", "survey", "--workers", "1", "-q")
    run("report", "--db", "why.db", "-o", "why.html")
    rows = {row["breakpoint"]: row for row in json.loads(run("report", "--db", "why.db", "--json").stdout)}
    # the week's rows are model labels, with the shipped default's held-out precision
    (model,) = rows["nieuwe-stap"]["model"]["models"].values()
    assert rows["nieuwe-stap"]["model"]["labeled"] == 2 and rows["nieuwe-stap"]["human"]["labeled"] == 0
    assert model["measured_on"] == 1090 and set(model["precision"]) == {"trust", "fear", "uncertainty", "price",
                                                                        "features", "terms"}
    return base / "why.html", list(rows)


def test_the_page_renders_with_its_charts(report_page, tmp_path):
    page, _ = report_page
    shot = tmp_path / "shot.png"
    _, requests = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,2000")
    assert requests == []
    from matplotlib.image import imread

    pixels = imread(shot)[:, :, :3]  # floats in 0..1
    assert pixels.shape[:2] == (2000, 1200)
    colours = {tuple(p) for p in (pixels[::4, ::4] * 255).round().astype(int).reshape(-1, 3)}
    assert len(colours) > 50, "the screenshot is (nearly) one colour: a blank page"
    not_white = (pixels < 0.95).any(axis=2).mean()
    assert not_white > 0.05, f"only {not_white:.1%} of the screenshot is not white"
    for driver in ("emotional", "rational"):  # the bars of the charts were drawn (SVG rendered)
        want = [int(COLOURS[driver][i:i + 2], 16) / 255 for i in (1, 3, 5)]
        close = (abs(pixels - want) < 0.03).all(axis=2).sum()
        assert close > 500, f"no {driver} bars in the screenshot"


def test_the_dom_names_every_breakpoint_and_nothing_is_fetched(report_page, tmp_path):
    page, names = report_page
    r, requests = chromium(tmp_path, page, "--dump-dom")
    assert requests == []
    dom = _Page()
    dom.feed(r.stdout)
    assert set(names) <= set(dom.h2) and {"nieuwe-stap", "checkout", "delivery-promise"} <= set(names)
    assert "Where to act first" in dom.h2
    assert "MODEL" in r.stdout and "HUMAN" in r.stdout
    assert "<script" not in r.stdout and "&lt;script&gt;alert('x')&lt;/script&gt;" in r.stdout


def test_the_file_loads_nothing_by_url(report_page):
    page, _ = report_page
    html = page.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(html)
    assert parsed.loads == []
    assert not parsed.tags & {"script", "link", "iframe", "object", "embed", "base", "img", "audio", "video"}
    assert "<svg" in html and "http-equiv" not in html


def test_the_check_catches_a_page_that_fetches(tmp_path):
    """The harness itself: a page that loads an image by URL is caught by both checks."""
    page = tmp_path / "fetching.html"
    page.write_text('<html><body><h2>x</h2><img src="http://example.invalid/pixel.png">'
                    '<p style="background:url(https://example.invalid/bg.png)">x</p></body></html>', encoding="utf-8")
    _, requests = chromium(tmp_path, page, "--dump-dom")
    assert "http://example.invalid/pixel.png" in requests
    parsed = _Page()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert parsed.loads == ["img src=http://example.invalid/pixel.png", "url(https://example.invalid/bg.png)"]
