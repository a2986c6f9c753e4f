"""The item being labeled: where it comes from, its text with the evidence highlighted, its note.

Contract: `ItemView.show(...)` takes plain data (the item dict, a `Suggestion` or None) and only
renders; it never reads the database. In blind mode nothing of the suggestion is shown.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ..codebook import Codebook
from ..suggestion import Suggestion
from .palette import reason_style

# Evidence counts as worth highlighting when its reason is at least this likely.
HIGHLIGHT_FROM = 0.3


def item_header(item: dict, codebook: Codebook) -> Text:
    """One line: id, source, breakpoint (moment, stage), rating, date, language."""
    head = Text()
    head.append(f"#{item['id']}", style="bold")
    if item.get("external_id"):
        head.append(f" {item['external_id']}", style="dim")
    head.append(f"  {item['source']}")
    if item.get("breakpoint"):
        head.append("  ")
        head.append(item["breakpoint"], style="bold")
        where = " · ".join(x for x in (item.get("moment"), item.get("stage")) if x)
        if where:
            head.append(f" ({where})", style="italic")
    if item.get("rating") is not None:
        rating = item["rating"]
        head.append(f"  rating {rating:g}" if isinstance(rating, float) else f"  rating {rating}")
    if item.get("created_at"):
        head.append(f"  {str(item['created_at'])[:10]}", style="dim")
    if item.get("lang"):
        head.append(f"  {item['lang']}", style="dim")
    return head


def highlighted_text(text: str, suggestion: Suggestion | None, codebook: Codebook) -> Text:
    out = Text(text)
    if suggestion is None:
        return out
    names = codebook.reason_names
    for reason, spans in suggestion.evidence.items():
        if reason not in names or suggestion.probabilities.get(reason, 0.0) < HIGHLIGHT_FROM:
            continue
        style = reason_style(codebook, reason) + " underline"
        for ev in spans:
            if 0 <= ev.start < ev.end <= len(text):
                out.stylize(style, ev.start, ev.end)
    return out


def fields_text(item: dict) -> Text:
    """The export's columns as written (but the text), on demand (m)."""
    out = Text()
    meta = item.get("meta") or {}
    if not meta:
        return Text("(no other fields in the export)", style="dim")
    width = max(len(str(k)) for k in meta)
    for k, v in meta.items():
        out.append(f"{str(k):<{width}}  ", style="bold dim")
        out.append(f"{v}\n")
    out.rstrip()
    return out


class ItemView(Vertical):
    """The header line, then the scrollable text (and the other fields, the note)."""

    def compose(self) -> ComposeResult:
        yield Static(id="item-head")
        with VerticalScroll(id="item-scroll", can_focus=False):
            yield Static(id="item-text")
            yield Static(id="item-fields")
            yield Static(id="item-note")

    def show(self, item: dict | None, suggestion: Suggestion | None, codebook: Codebook, *,
             blind: bool, show_fields: bool, note: str | None, banner: Text | str = "") -> None:
        head = self.query_one("#item-head", Static)
        body = self.query_one("#item-text", Static)
        fields = self.query_one("#item-fields", Static)
        note_w = self.query_one("#item-note", Static)
        if item is None:
            head.update(banner)
            body.update("")
            fields.display = False
            note_w.display = False
            return
        line = item_header(item, codebook)
        if banner:
            line = Text.assemble(banner, "  ", line)
        head.update(line)
        body.update(highlighted_text(item["text"], None if blind else suggestion, codebook))
        fields.display = show_fields
        if show_fields:
            fields.update(fields_text(item))
        note_w.display = bool(note)
        if note:
            note_w.update(Text.assemble(("note: ", "bold"), note))
        self.query_one("#item-scroll").scroll_home(animate=False)
