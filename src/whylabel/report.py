"""The why report: per breakpoint what customers do (DO), what they say (SAY) and why (WHY).

Contract: `build_report(store, codebook, ...)` reads the store once and returns a `WhyReport`:

- DO: reached, dropped and drop rate per breakpoint; with figures per period, each period and the
  total over the periods that have both figures (`funnel_figures`).
- SAY: items per source.
- WHY: per reason and driver the share of labeled items with a 95 % Wilson interval, counted
  separately for human labels (a person's current label) and model labels (the stored suggestion
  of an item nobody labeled: `predict --into-db`, the labeling UI's suggestions), the model
  labels with the held-out precision of the model that gave them. Quotes per reason with their
  evidence words: stored evidence where the suggestion holds it, else computed for the quotes
  shown only (an `explain` callable, so the cost stays bounded whatever the database's size).
- Where to act first: (breakpoint, reason) ranked by estimated customers lost, dropped × share,
  with the interval dropped × the share's Wilson bounds. The shares come from human labels, or
  from model labels at a breakpoint nobody labeled (marked).

`report_format(path)` picks the output from the -o suffix. The HTML page is written by
`whylabel.report_html` (Jinja2 + matplotlib, imported only then). No click, no Textual, no SQL.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

from .codebook import Codebook
from .errors import WhylabelError
from .store import Store

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054
QUOTES_PER_REASON = 3
QUOTE_CHARS = 400  # a longer text is cut here in the page
NO_BREAKPOINT = "(none)"

Explain = Callable[[Sequence[str], Sequence[str | None], Sequence[str]], list[list[tuple[int, int]]]]
"""(texts, langs, reason per text) -> character spans (start, end) of the words behind that reason."""


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (Wilson 1927; Newcombe 1998, method 3): unlike
    p ± z·se it stays inside [0, 1] and keeps its coverage for small n and shares near 0 or 1."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))  # no rounding past p or [0, 1]


def report_format(out: str | Path | None) -> str:
    """The output an -o name asks for: "html" (.html, .htm) or "csv" (.csv, no suffix: '-', a
    device or a FIFO); anything else is refused in one line."""
    if not out or str(out) == "-":
        return "csv"
    suffix = Path(str(out)).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in ("", ".csv"):
        return "csv"
    raise WhylabelError(f"{out}: the report is written as .html or .htm (the page) or .csv (the table), "
                        f"not {suffix}")


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Share:
    """How many of n labeled items carry something, with its 95 % Wilson interval."""

    count: int
    n: int

    @property
    def share(self) -> float | None:
        return self.count / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.count, self.n)

    def to_json(self) -> dict:
        interval = self.interval
        return {"count": self.count, "share": _round(self.share),
                "low": _round(interval[0]) if interval else None, "high": _round(interval[1]) if interval else None}


@dataclass
class Quote:
    item_id: int
    text: str
    spans: list[tuple[int, int]] = field(default_factory=list)  # evidence, within `text`
    evidence_from: str = "stored"  # "stored" (the suggestion's evidence) or "computed" (for this report)

    @property
    def segments(self) -> list[tuple[str, bool]]:
        """The text cut into (piece, is evidence) for highlighting."""
        out, at = [], 0
        for start, end in self.spans:
            if start > at:
                out.append((self.text[at:start], False))
            out.append((self.text[start:end], True))
            at = end
        if at < len(self.text):
            out.append((self.text[at:], False))
        return out

    @property
    def words(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]


@dataclass
class Labels:
    """One kind of labels (human or model) at one breakpoint."""

    kind: str
    reason_names: Sequence[str]
    n: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    drivers: dict[str, int] = field(default_factory=dict)  # emotional/rational: items with such a reason; none
    models: dict[str, int] = field(default_factory=dict)  # model labels: items per model id
    quotes: dict[str, list[Quote]] = field(default_factory=dict)

    def reason_share(self, reason: str) -> Share:
        return Share(self.counts.get(reason, 0), self.n)

    def driver_share(self, driver: str) -> Share:
        return Share(self.drivers.get(driver, 0), self.n)

    def to_json(self) -> dict:
        return {"labeled": self.n,
                "reasons": {r: self.reason_share(r).to_json() for r in self.reason_names},
                "drivers": {d: self.driver_share(d).to_json() for d in ("emotional", "rational", "none")},
                **({"models": dict(self.models)} if self.kind == "model" else {})}


@dataclass
class BreakpointReport:
    name: str
    moment: str | None
    stage: str | None
    reached: int | None
    dropped: int | None
    periods: list[dict]
    sources: dict[str, int]
    human: Labels
    model: Labels

    @property
    def drop_rate(self) -> float | None:
        return self.dropped / self.reached if self.reached and self.dropped is not None else None

    @property
    def items(self) -> int:
        return sum(self.sources.values())

    @property
    def basis(self) -> Labels:
        """The labels the shares of "where to act first" come from: people's, else the model's."""
        return self.human if self.human.n or not self.model.n else self.model


@dataclass
class Lost:
    """Customers estimated lost at a breakpoint to one reason: dropped × the reason's share."""

    breakpoint: str
    reason: str
    driver: str
    kind: str  # human or model: whose labels the share comes from
    dropped: int
    share: Share

    @property
    def estimate(self) -> float:
        return self.dropped * (self.share.share or 0.0)

    @property
    def low(self) -> float:
        return self.dropped * self.share.interval[0]

    @property
    def high(self) -> float:
        return self.dropped * self.share.interval[1]

    def to_json(self) -> dict:
        return {"breakpoint": self.breakpoint, "reason": self.reason, "driver": self.driver, "labels": self.kind,
                "dropped": self.dropped, "share": _round(self.share.share), "customers_lost": round(self.estimate, 1),
                "low": round(self.low, 1), "high": round(self.high, 1)}


@dataclass
class ModelInfo:
    """A model whose labels the report counts, and how precise it measured on held-out labels."""

    model_id: str
    name: str
    items: int
    precision: dict[str, float]  # per reason, from the card's cross-validated metrics
    held_out: int | None  # labeled items the precision was measured on

    def to_json(self) -> dict:
        return {"model_id": self.model_id, "name": self.name, "items": self.items,
                "precision": self.precision, "measured_on": self.held_out}


@dataclass
class WhyReport:
    database: str
    codebook: Codebook
    breakpoints: list[BreakpointReport]
    act_first: list[Lost]
    models: dict[str, ModelInfo]
    missing: list[str]

    @property
    def human_labeled(self) -> int:
        return sum(b.human.n for b in self.breakpoints)

    @property
    def model_labeled(self) -> int:
        return sum(b.model.n for b in self.breakpoints)

    @property
    def items(self) -> int:
        return sum(b.items for b in self.breakpoints)

    def breakpoint(self, name: str) -> BreakpointReport:
        return next(b for b in self.breakpoints if b.name == name)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


# ---------------------------------------------------------------------------------------------
# Reading the store


def funnel_figures(store: Store) -> dict[str, dict]:
    """Per breakpoint: name, moment, stage, reached, dropped and its periods. With periods, reached
    and dropped are the totals over the periods that have both figures (else the latest figures)."""
    out = {bp["name"]: {**bp, "periods": []} for bp in store.breakpoints()}
    for row in store.funnel_periods():
        bp = out.setdefault(row["breakpoint"], {"name": row["breakpoint"], "moment": None, "stage": None,
                                                "reached": None, "dropped": None, "period": None, "periods": []})
        rate = row["dropped"] / row["reached"] if row["reached"] and row["dropped"] is not None else None
        bp["periods"].append({"period": row["period"], "reached": row["reached"], "dropped": row["dropped"],
                              "drop_rate": rate})
    for bp in out.values():
        complete = [p for p in bp["periods"] if p["reached"] is not None and p["dropped"] is not None]
        if complete:
            bp["reached"] = sum(p["reached"] for p in complete)
            bp["dropped"] = sum(p["dropped"] for p in complete)
    return out


def _quote_key(reasons: Sequence[str], reason: str, probabilities: dict, evidence: str | None, length: int,
               item_id: int) -> tuple:
    """Which items make the best quotes for a reason: evidence stored for it (the model found the
    words, and nothing has to be computed), a label with that reason alone, the model agreeing
    most, a readable length (40-240 characters), then the oldest item."""
    # `evidence` is the stored JSON (json.dumps' default separators): a reason with spans reads "reason": [[
    has_evidence = evidence is not None and f'"{reason}": [[' in evidence
    off_length = 0 if 40 <= length <= 240 else min(abs(length - 40), abs(length - 240))
    return (has_evidence, len(reasons) == 1, round(float(probabilities.get(reason) or 0.0), 2), -off_length, -item_id)


def build_report(store: Store, codebook: Codebook, *, annotator: str | None = None,
                 cards: Callable[[Iterable[str]], dict[str, dict]] | None = None,
                 explain: Explain | None = None, quotes: int = QUOTES_PER_REASON) -> WhyReport:
    """Everything the report shows, from one pass over the labels. `cards(model_ids)` gives the
    model cards (for precision); `explain` computes evidence for quotes whose suggestion holds none."""
    names = codebook.reason_names
    driver = {r.name: r.driver for r in codebook.reasons}
    funnel = funnel_figures(store)
    sources: dict[str, dict[str, int]] = {}
    for bp, source, count in store.items_by_source():
        sources.setdefault(bp or NO_BREAKPOINT, {})[source] = count

    labels: dict[tuple[str, str], Labels] = {}
    heaps: dict[tuple[str, str, str], list] = {}

    def labels_of(bp: str, kind: str) -> Labels:
        found = labels.get((bp, kind))
        if found is None:
            found = labels[(bp, kind)] = Labels(kind, names)
        return found

    parsed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # a label's JSON -> (reasons, drivers); few distinct
    for item_id, bp, human, suggested, probabilities, evidence, model_id, length in store.report_labels(annotator):
        bp = bp or NO_BREAKPOINT
        kind = "human" if human is not None else "model"
        label = human if human is not None else suggested or "[]"
        found = parsed.get(label)
        if found is None:
            reasons = tuple(r for r in json.loads(label) if r in driver)
            found = parsed[label] = (reasons, tuple({driver[r] for r in reasons} or {"none"}))
        reasons, drivers = found
        into = labels_of(bp, kind)
        into.n += 1
        if kind == "model":
            into.models[model_id] = into.models.get(model_id, 0) + 1
        for d in drivers:
            into.drivers[d] = into.drivers.get(d, 0) + 1
        if not reasons:
            continue
        p = json.loads(probabilities) if probabilities else {}
        for r in reasons:
            into.counts[r] = into.counts.get(r, 0) + 1
            heap = heaps.setdefault((bp, kind, r), [])
            entry = (_quote_key(reasons, r, p, evidence, length, item_id), item_id)
            if len(heap) < quotes:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)

    all_names = set(funnel) | set(sources) | {bp for bp, _ in labels}
    reports = []
    for name in all_names:
        fig = funnel.get(name, {})
        reports.append(BreakpointReport(
            name=name, moment=fig.get("moment"), stage=fig.get("stage"), reached=fig.get("reached"),
            dropped=fig.get("dropped"), periods=fig.get("periods", []), sources=sources.get(name, {}),
            human=labels_of(name, "human"), model=labels_of(name, "model")))
    reports.sort(key=lambda b: (-(b.human.n + b.model.n), -(b.dropped or 0), b.name))

    _add_quotes(store, reports, heaps, explain)
    model_ids = {m for b in reports for m in b.model.models}
    models = _model_infos(store, model_ids, reports, cards)
    act_first = rank_lost(reports, driver)
    return WhyReport(str(store.path), codebook, reports, act_first, models, _missing(reports, funnel))


def rank_lost(reports: Iterable[BreakpointReport], driver: dict[str, str]) -> list[Lost]:
    """Every (breakpoint, reason) with dropped customers and labels, most customers lost first."""
    out = []
    for b in reports:
        basis = b.basis
        if not b.dropped or not basis.n:
            continue
        for reason, count in basis.counts.items():
            if count:
                out.append(Lost(b.name, reason, driver[reason], basis.kind, b.dropped, basis.reason_share(reason)))
    return sorted(out, key=lambda x: (-x.estimate, -x.high, x.breakpoint, x.reason))


def _add_quotes(store: Store, reports: list[BreakpointReport], heaps: dict, explain: Explain | None) -> None:
    """Fetch the chosen quotes' texts and evidence (stored, else computed for these quotes only)."""
    wanted: list[tuple[BreakpointReport, str, int]] = []
    for b in reports:
        kind = b.basis.kind
        for reason in b.basis.reason_names:
            for _, item_id in sorted(heaps.get((b.name, kind, reason), []), reverse=True):
                wanted.append((b, reason, item_id))
    ids = list(dict.fromkeys(item_id for _, _, item_id in wanted))
    texts = {i: (text, lang) for i, text, lang in store.texts(ids)}
    suggestions = store.suggestions_for(ids)
    made: list[tuple[Quote, str, str | None, str]] = []
    for b, reason, item_id in wanted:
        text, lang = texts[item_id]
        visible = text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS].rstrip()
        quote = Quote(item_id, visible if visible == text else visible + "…")
        stored = (suggestions.get(item_id) or {}).get("evidence", {}).get(reason)
        if stored:
            quote.spans = _clean_spans(text, [(e[0], e[1]) for e in stored if _span_matches(text, e)], QUOTE_CHARS)
        else:
            quote.evidence_from = "computed"
            made.append((quote, text, lang, reason))
        b.basis.quotes.setdefault(reason, []).append(quote)
    if made and explain is not None:
        spans = explain([t for _, t, _, _ in made], [lang for _, _, lang, _ in made], [r for *_, r in made])
        for (quote, text, _, _), found in zip(made, spans):
            quote.spans = _clean_spans(text, found, QUOTE_CHARS)


def _span_matches(text: str, evidence: Sequence) -> bool:
    """Stored evidence is [start, end, text, weight]; trust it only where it still fits the text."""
    try:
        start, end, words = int(evidence[0]), int(evidence[1]), str(evidence[2])
    except (TypeError, ValueError, IndexError):
        return False
    return 0 <= start < end <= len(text) and text[start:end] == words


def _clean_spans(text: str, spans: Iterable[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans inside the part of the text that is shown (its first `limit`
    characters, less the white space before the "…" of a cut text)."""
    limit = min(limit, len(text[:limit].rstrip()) if len(text) > limit else len(text))
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if start >= end or end > limit or (out and start < out[-1][1]):
            continue
        out.append((start, end))
    return out


def _model_infos(store: Store, model_ids: set[str], reports: list[BreakpointReport],
                 cards: Callable[[Iterable[str]], dict[str, dict]] | None) -> dict[str, ModelInfo]:
    found = store.model_cards()
    missing = [m for m in model_ids if m not in found]
    if missing and cards is not None:
        found.update(cards(missing))
    out = {}
    for model_id in sorted(model_ids):
        card = found.get(model_id) or {}
        metrics = card.get("metrics") or {}
        per_reason = metrics.get("per_reason") or {}
        precision = {r: float(m["precision"]) for r, m in per_reason.items()
                     if isinstance(m, dict) and isinstance(m.get("precision"), (int, float))}
        items = sum(b.model.models.get(model_id, 0) for b in reports)
        out[model_id] = ModelInfo(model_id, str(card.get("name") or model_id), items, precision, metrics.get("n"))
    return out


def _missing(reports: list[BreakpointReport], funnel: dict) -> list[str]:
    """What the report cannot show yet, and how to get it."""
    out = []
    if not any(b.items for b in reports):
        out.append("no feedback yet: import it with `whylabel import FILE`")
    elif not any(b.human.n or b.model.n for b in reports):
        out.append("no labels yet: label with `whylabel label`, or let the model label with "
                   "`whylabel predict FILE --into-db`")
    if not any(f.get("reached") is not None or f.get("dropped") is not None for f in funnel.values()):
        out.append("no funnel figures (reached, dropped): import them with `whylabel breakpoints FILE`; "
                   "without them there is no drop rate and no estimate of customers lost")
    return out


# ---------------------------------------------------------------------------------------------
# Evidence and model cards from the models on disk (the CLI's defaults)


def suggester_explain(codebook: Codebook, *, model: str | None = None, models_dir: str | None = None) -> Explain:
    """Evidence from the suggester in use (its words; the model is loaded on the first call only)."""
    loaded = []

    def explain(texts: Sequence[str], langs: Sequence[str | None], reasons: Sequence[str]) -> list[list[tuple[int, int]]]:
        if not loaded:
            from .model import load_suggester

            loaded.append(load_suggester(codebook, model, models_dir=models_dir, fast=True))
        found = loaded[0].evidence_for(texts, langs, reasons)
        return [[(e.start, e.end) for e in spans] for spans in found]

    return explain


def cards_on_disk(models_dir: str | None = None) -> Callable[[Iterable[str]], dict[str, dict]]:
    """Cards of the models in the models folder and the shipped default, by model id."""

    def cards(model_ids: Iterable[str]) -> dict[str, dict]:
        from .errors import ModelError
        from .model import CARD_FILE, model_dirs, read_card

        wanted, out = set(model_ids), {}
        for base in model_dirs(models_dir):
            if not base.is_dir():
                continue
            for directory in sorted(base.iterdir()):
                if not (directory / CARD_FILE).is_file():
                    continue
                try:
                    card = read_card(directory)
                except ModelError:
                    continue
                if card.get("model_id") in wanted:
                    out.setdefault(card["model_id"], {**card, "name": card.get("name") or directory.name})
        return out

    return cards


# ---------------------------------------------------------------------------------------------
# JSON


def report_json(report: WhyReport, summary_rows: list[dict]) -> list[dict]:
    """`whylabel report --json`: the summary rows (unchanged keys), each with the report's figures
    added; see the README for the keys."""
    by_name = {b.name: b for b in report.breakpoints}
    lost: dict[str, list[dict]] = {}
    for rank, x in enumerate(report.act_first, start=1):
        lost.setdefault(x.breakpoint, []).append({"rank": rank, **x.to_json()})
    out = []
    for row in summary_rows:
        b = by_name.get(row["breakpoint"])
        if b is None:
            out.append(row)
            continue
        model = b.model.to_json()
        model["models"] = {m: {"items": n, "name": report.models[m].name, "precision": report.models[m].precision,
                               "measured_on": report.models[m].held_out} for m, n in b.model.models.items()}
        out.append({**row, "items": b.items, "sources": b.sources, "periods": b.periods,
                    "human": b.human.to_json(), "model": model, "lost": lost.get(b.name, [])})
    return out
