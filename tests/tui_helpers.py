"""Shared pieces of the labeling-UI tests: a small database, a fake suggester, DB readers."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from whylabel.records import ItemRecord
from whylabel.store import Store
from whylabel.suggestion import Evidence, Suggestion

ITEMS = [
    # text, source, breakpoint, lang, rating
    ("Way too expensive, cheaper elsewhere", "review", "checkout", "en", 2),
    ("Is this a scam? They promised delivery on Monday", "ticket", "delivery-promise", "en", None),
    ("Te duur en de retour is onduidelijk", "survey", "checkout", "nl", 3),
    ("The zipper was broken on arrival", "review", "returns", "en", 1),
    ("I'm afraid they will charge me twice", "ticket", "checkout", "en", None),
    ("Great service, thanks!", "survey", "returns", "en", 9),
    ("Return window of 14 days is too short", "survey", "returns", "en", 4),
    ("Kapot aangekomen en erg duur voor wat het is", "review", "delivery-promise", "nl", 1),
]
BREAKPOINTS = [
    {"name": "checkout", "moment": "choose", "stage": "purchase"},
    {"name": "delivery-promise", "moment": "choose", "stage": "consideration"},
    {"name": "returns", "moment": "leave", "stage": "retention"},
]
KEYWORDS = {
    "trust": ("scam", "promised"),
    "fear": ("afraid", "bang"),
    "uncertainty": ("unclear", "onduidelijk"),
    "price": ("expensive", "duur"),
    "features": ("broken", "kapot"),
    "terms": ("return", "retour"),
}


class FakeSuggester:
    """Keyword suggester: 0.9 for a reason whose keyword occurs, else `low`; evidence = the keyword."""

    def __init__(self, codebook=None, *, model_id: str = "fake-1", low: float = 0.1):
        self.model_id = model_id
        self.threshold = 0.5
        self.low = low
        self.calls: list[int] = []

    def suggest(self, texts: Sequence[str], langs=None) -> list[Suggestion]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            probs, evidence = {}, {}
            for reason, words in KEYWORDS.items():
                spans = [Evidence(m.start(), m.end(), m.group(0), 1.0)
                         for w in words for m in re.finditer(w, text, flags=re.I)]
                probs[reason] = 0.9 if spans else self.low
                if spans:
                    evidence[reason] = tuple(spans)
            out.append(Suggestion(probs, tuple(r for r, p in probs.items() if p >= 0.5), evidence, 0.5))
        return out


def make_db(path: Path) -> list[int]:
    with Store(path) as s:
        s.upsert_breakpoints(BREAKPOINTS)
        recs = [
            ItemRecord(hash=f"h{i}", source=src, text=text, external_id=f"X-{i + 1}", breakpoint=bp, lang=lang,
                       rating=rating, created_at=f"2026-01-{8 - i:02d}T10:00:00", meta={"shop": "Verskist", "row": i})
            for i, (text, src, bp, lang, rating) in enumerate(ITEMS)
        ]
        s.import_records(recs, path="test")
        return [r[0] for r in s.db.execute("SELECT id FROM items ORDER BY id")]


def annotations(db: Path, annotator: str = "tester") -> list[tuple]:
    """(item_id, reasons or None, note, origin), oldest first, read on a fresh connection."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT item_id, reasons, note, origin FROM annotations WHERE annotator=? ORDER BY id",
                         (annotator,)).fetchall()
    return [(i, None if r is None else tuple(json.loads(r)), n, o) for i, r, n, o in rows]


def current_labels(db: Path, annotator: str = "tester") -> dict[int, tuple | None]:
    out: dict[int, tuple | None] = {}
    for item_id, reasons, _, _ in annotations(db, annotator):
        out[item_id] = reasons
    return {i: r for i, r in out.items() if r is not None}


def plain(renderable, width: int = 120) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# A longer queue, generated: what customers say per reason, in English and Dutch. The English
# trust phrases contain the fake suggester's keywords ("promised", "scam"), so it pre-selects trust.
PHRASES = {
    "en": {
        "trust": ("they promised delivery on Friday and nothing came", "this shop looks like a scam to me",
                  "the tracking page promised a parcel that never existed"),
        "fear": ("I'm afraid my card gets charged twice", "afraid the parcel gets lost on the way"),
        "uncertainty": ("it is unclear when my order ships", "unclear which size I should pick"),
        "price": ("far too expensive for what you get", "shipping is expensive compared to other shops"),
        "features": ("the zipper was broken after a week", "the app is broken when I try to pay"),
        "terms": ("a return costs me 6 euros", "the return window of 14 days is too short"),
    },
    "nl": {
        "trust": ("ze beloofden levering op vrijdag, niets gekregen", "ik vertrouw deze webshop niet meer"),
        "fear": ("ik ben bang dat ik twee keer betaal", "bang dat mijn pakket kwijtraakt"),
        "uncertainty": ("onduidelijk wanneer mijn bestelling komt", "geen idee welke maat ik moet nemen"),
        "price": ("veel te duur voor wat het is", "de verzendkosten zijn te duur"),
        "features": ("kapot aangekomen, de rits werkt niet", "de jas was kapot bij levering"),
        "terms": ("retour sturen kost geld", "de retourtermijn van 14 dagen is te kort"),
    },
}
OPENERS = {"en": ("Honestly,", "Second order and", "Hi team,", "Well,", ""),
           "nl": ("Eerlijk gezegd:", "Tweede bestelling en", "Hallo,", "Tja,", "")}


def make_queue_db(path: Path, items: int, *, labeled: int = 0, seed: int = 3) -> list[int]:
    """`items` generated feedback items, newest first by id; the first `labeled` are labeled (by
    "import") with the reasons their text was made from. Returns the ids of the unlabeled ones in
    the newest-first queue order."""
    import random

    rng = random.Random(seed)
    reasons = list(KEYWORDS)
    recs = []
    for i in range(items):
        lang = "nl" if i % 3 == 2 else "en"
        chosen = rng.sample(reasons, 2 if rng.random() < 0.3 else 1)
        parts = [rng.choice(PHRASES[lang][r]) for r in chosen]
        glue = " en " if lang == "nl" else " and "
        text = f"{rng.choice(OPENERS[lang])} {glue.join(parts)}.".strip()
        text = text[0].upper() + text[1:]
        bp = BREAKPOINTS[i % len(BREAKPOINTS)]["name"]
        recs.append(ItemRecord(hash=f"g{i}", source=("survey", "review", "ticket")[i % 3], text=text,
                               external_id=f"G-{i + 1}", breakpoint=bp, lang=lang, rating=float(1 + i % 5),
                               created_at=f"2026-03-{28 - i // 48:02d}T{23 - i // 2 % 24:02d}:{59 - i % 2:02d}:00",
                               meta={"shop": "Verskist"},
                               reasons=tuple(r for r in reasons if r in chosen) if i < labeled else None))
    with Store(path) as s:
        s.upsert_breakpoints(BREAKPOINTS)
        s.import_records(recs, path="generated", annotator="import")
        ids = [r[0] for r in s.db.execute("SELECT id FROM items ORDER BY id")]
    return ids[labeled:]
