"""The why report as one self-contained HTML page: inline CSS, inline SVG charts, no script, nothing
loaded from the network, so it opens offline in any browser and can be mailed.

Contract: `write_html(report, out)` renders `templates/report.html.j2` (Jinja2, autoescaping on:
feedback text is hostile) with charts drawn by matplotlib (the Agg backend, no pyplot state) as
SVG. The SVG keeps its text as text (`svg.fonttype: none`: the browser draws it with a local sans
serif font; nothing embedded, nothing fetched), and its ids are deterministic per chart
(`svg.hashsalt`), so the same database gives the same page. The file appears complete or not at
all (`safefile.output`). Imported only when an HTML report is asked for: matplotlib and Jinja2
cost a second of start-up the other commands need not pay.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path

from .report import BreakpointReport, Labels, WhyReport
from .resources import templates_dir
from .safefile import output

_ID_ATTRIBUTE = re.compile(r'(\sid="|href="#|url\(#)')
COLOURS = {"emotional": "#c8553d", "rational": "#2d6a9f", "none": "#8a8a8a"}
TOP_LOST_CHART = 12  # bars in the "where to act first" chart
TOP_LOST_TABLE = 15  # rows of its table before "the other ..." (folded, still in the page)
CHARTED_BREAKPOINTS = 40  # breakpoints with charts (the most labeled first); the rest have the tables only


def render_html(report: WhyReport, *, generated_at: datetime | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["interval"] = _interval
    env.filters["count"] = _count
    charts = Charts()
    book = report.codebook
    sections = []
    for number, b in enumerate(report.breakpoints, start=1):
        charted = number <= CHARTED_BREAKPOINTS  # drawing is most of the time a page takes
        sections.append({
            "b": b, "anchor": f"bp-{number}",
            "why_chart": charts.why(b, book) if charted and (b.human.n or b.model.n) else None,
            "do_chart": charts.periods(b) if charted and len(b.periods) > 1 else None,
        })
    when = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    return env.get_template("report.html.j2").render(
        report=report, sections=sections, reasons=book.reasons, drivers=("emotional", "rational"),
        lost_chart=charts.lost(report) if report.act_first else None, generated_at=when,
        database=Path(report.database).name, colours=COLOURS, top_lost=TOP_LOST_TABLE,
    )


def write_html(report: WhyReport, out: str | Path, *, generated_at: datetime | None = None) -> None:
    page = render_html(report, generated_at=generated_at)
    with output(out, encoding="utf-8") as stream:
        stream.write(page)


# ---------------------------------------------------------------------------------------------
# Number formats


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _interval(bounds: tuple[float, float] | None) -> str:
    return "–" if bounds is None else f"{_pct(bounds[0])} – {_pct(bounds[1])}"


def _count(x: float | int | None) -> str:
    return "–" if x is None else f"{round(x):,}"


# ---------------------------------------------------------------------------------------------
# Charts


class Charts:
    """matplotlib figures as inline SVG, each with its own deterministic id salt."""

    def __init__(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        self.n = 0

    def _figure(self, width: float, height: float, left: float = 1.3):
        """A figure with fixed margins in inches (a layout engine would measure every text twice)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=left / width, right=1 - 0.25 / width, bottom=0.75 / height, top=1 - 0.35 / height)
        return fig, fig.add_subplot()

    def _svg(self, fig) -> str:
        import matplotlib
        from markupsafe import Markup

        self.n += 1
        buffer = io.StringIO()
        rc = {"svg.hashsalt": f"whylabel-chart-{self.n}", "svg.fonttype": "none"}
        with matplotlib.rc_context(rc):
            fig.savefig(buffer, format="svg", metadata={"Date": None})
        svg = buffer.getvalue()
        svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
        svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)  # names of RDF vocabularies by URL
        # Every chart numbers its groups from 1 (figure_1, patch_1): one page needs unique ids, so each
        # id and each reference to one gets the chart's prefix. Only inside tags: text is escaped there.
        prefix = f"c{self.n}-"

        def own_ids(tag: re.Match) -> str:
            return _ID_ATTRIBUTE.sub(lambda m: m.group(1) + prefix, tag.group(0))

        svg = re.sub(r"<[^<>]+>", own_ids, svg)
        return Markup(svg)  # noqa: S704 - matplotlib's own SVG; every text in it is XML-escaped by matplotlib

    def why(self, b: BreakpointReport, book) -> str:
        """Reason shares with 95 % intervals, human and model labels side by side."""
        kinds = [labels for labels in (b.human, b.model) if labels.n]
        names = list(book.reason_names)
        fig, ax = self._figure(6.4, 0.42 * len(names) * len(kinds) + 1.2)
        height = 0.8 / len(kinds)
        for k, labels in enumerate(kinds):
            for i, reason in enumerate(names):
                share = labels.reason_share(reason)
                low, high = share.interval
                y = i + (k - (len(kinds) - 1) / 2) * height
                colour = COLOURS[book.reason(reason).driver]
                ax.barh(y, share.share, height=height * 0.9, color=colour, alpha=1.0 if labels.kind == "human" else 0.45,
                        hatch=None if labels.kind == "human" else "//", edgecolor="white" if labels.kind == "human" else colour)
                ax.errorbar(share.share, y, xerr=[[share.share - low], [high - share.share]], fmt="none",
                            ecolor="#222222", capsize=3, linewidth=1)
        ax.set_yticks(range(len(names)), labels=names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter("{x:.0%}")
        ax.set_xlabel("share of labeled items with the reason (95 % Wilson interval)")
        legend = " · ".join(f"{_kind_name(labels)} n={labels.n:,}" for labels in kinds)
        ax.set_title(legend, fontsize=9, loc="left", parse_math=False)
        ax.spines[["top", "right"]].set_visible(False)
        return self._svg(fig)

    def periods(self, b: BreakpointReport) -> str:
        """Drop rate per period."""
        rows = [p for p in b.periods if p["drop_rate"] is not None]
        fig, ax = self._figure(6.4, 2.4, left=0.9)
        ax.bar(range(len(rows)), [p["drop_rate"] for p in rows], color="#555555")
        ax.set_xticks(range(len(rows)), labels=[p["period"] for p in rows], parse_math=False)
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.set_ylabel("drop rate")
        ax.spines[["top", "right"]].set_visible(False)
        return self._svg(fig)

    def lost(self, report: WhyReport) -> str:
        """Customers lost per (breakpoint, reason), the largest first, with the interval."""
        top = report.act_first[:TOP_LOST_CHART]
        labels = [f"{x.breakpoint} · {x.reason}" for x in top]
        fig, ax = self._figure(7.6, 0.38 * len(top) + 1.2, left=min(3.6, 0.3 + 0.075 * max(map(len, labels))))
        for i, x in enumerate(top):
            colour = COLOURS[x.driver]
            ax.barh(i, x.estimate, color=colour, alpha=1.0 if x.kind == "human" else 0.45,
                    hatch=None if x.kind == "human" else "//", edgecolor="white" if x.kind == "human" else colour)
            ax.errorbar(x.estimate, i, xerr=[[x.estimate - x.low], [x.high - x.estimate]], fmt="none",
                        ecolor="#222222", capsize=3, linewidth=1)
        ax.set_yticks(range(len(top)), labels=labels, parse_math=False)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter("{x:,.0f}")
        ax.set_xlabel("estimated customers lost (dropped × reason share, 95 % interval)")
        ax.spines[["top", "right"]].set_visible(False)
        return self._svg(fig)


def _kind_name(labels: Labels) -> str:
    return "human labels" if labels.kind == "human" else "model labels (hatched)"
