"""The help screen: the keys, then the codebook (definitions, use when / not when, examples in
English and Dutch, moments and stages), so a researcher never has to leave the labeling UI.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..codebook import Codebook
from .palette import reason_style

KEYS = (
    ("1-6", "toggle a reason (pre-selected: the model's suggestion)"),
    ("enter", "save the selection and go to the next item (untouched = accept the suggestion)"),
    ("0", "save \"no breakpoint reason\" (the item states no reason for a decision)"),
    ("s", "skip: the item goes to the end of the queue, nothing is saved"),
    ("u / ctrl+z", "undo the last decision (again to go further back); saved as a new annotation"),
    ("← / →", "walk back / forward through what you labeled, to review or relabel"),
    ("/", "search the text (empty search = all)"),
    ("f", "filter: breakpoint, source, suggested reason, or labels that disagree with the model"),
    ("e", "add a note; it is saved with your next decision on this item"),
    ("m", "show or hide the export's columns as written (all but the text)"),
    ("t", "retrain the model now (also automatic every few labels)"),
    ("r", "report: per breakpoint, the drop rate and the reason shares as bars"),
    ("a", "agreement: per reason, how far the annotators agree"),
    ("?", "this help"),
    ("ctrl+p", "command palette: every action by name"),
    ("q", "quit (every decision is already saved; reopening continues where you stopped)"),
)


def codebook_help(codebook: Codebook) -> Group:
    parts: list = []
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for k, what in KEYS:
        keys.add_row(k, what)
    parts += [Text.assemble(("Keys", "bold underline"), "   (↓ / page down: the codebook below, escape: back)"),
              keys, Text("")]
    parts.append(Text(f"Codebook: {codebook.name}" + (f" (version {codebook.version})" if codebook.version else ""),
                      style="bold underline"))
    if codebook.description:
        parts.append(Text(codebook.description, style="italic"))
    for driver, definition in codebook.drivers.items():
        parts += [Text(""), Text.assemble((driver.upper(), "bold"), "  ", (definition, "italic"))]
        for r in (r for r in codebook.reasons if r.driver == driver):
            body = Text()
            body.append(f"\n {r.key} ", style="reverse bold")
            body.append(f" {r.name}", style=reason_style(codebook, r.name))
            body.append(f"  {r.definition}\n")
            if r.use_when:
                body.append("   Use when: ", style="bold")
                body.append(r.use_when + "\n")
            if r.not_when:
                body.append("   Not when: ", style="bold")
                body.append(r.not_when + "\n")
            for lang, title in (("en", "Examples (English)"), ("nl", "Voorbeelden (Nederlands)")):
                examples = r.examples.get(lang, ())
                if examples:
                    body.append(f"   {title}:\n", style="bold")
                    for ex in examples:
                        body.append(f"     • {ex}\n", style="italic")
            body.rstrip()
            parts.append(body)
    parts += [Text(""), Text.assemble((" 0 ", "reverse bold"), (" no breakpoint reason", "bold"),
                                      "  The feedback states no reason for a journey decision: pure praise, "
                                      "off-topic, a question without friction, a thank-you, \"ok\".")]
    for title, entries in (("Moments", codebook.moments), ("Stages", codebook.stages)):
        if entries:
            parts += [Text(""), Text(title, style="bold underline")]
            for name, definition in entries.items():
                parts.append(Text.assemble(("  " + name, "bold"), f"  {definition}"))
    return Group(*parts)


class CodebookScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "close help"),
        Binding("pageup", "scroll('page_up')", "page up", show=False),
        Binding("pagedown,space", "scroll('page_down')", "page down", show=False),
    ]

    def __init__(self, codebook: Codebook):
        super().__init__()
        self.codebook = codebook

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Static(codebook_help(self.codebook), id="help-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss()

    def action_scroll(self, how: str) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        getattr(scroll, f"scroll_{how}")(animate=False)
