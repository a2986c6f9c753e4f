"""The reasons, grouped by driver: key, name, the model's probability as a bar, the selection.

Contract: `ReasonPanel.show(...)` renders what it is given (selection, suggestion); pressing keys
and saving are the screen's business. In blind mode no probability or evidence is shown.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..codebook import Codebook
from ..suggestion import Suggestion
from .palette import reason_style

BAR = 10


def bar(p: float) -> Text:
    filled = max(0, min(BAR, round(p * BAR)))
    return Text.assemble(("█" * filled, "bold"), ("░" * (BAR - filled), "dim"))


def evidence_words(suggestion: Suggestion | None, reason: str, limit: int = 3) -> str:
    if suggestion is None:
        return ""
    spans = sorted(suggestion.evidence.get(reason, ()), key=lambda e: -e.weight)
    words: list[str] = []
    for e in spans:
        w = e.text.strip()
        if w and w.lower() not in (x.lower() for x in words):
            words.append(w)
        if len(words) == limit:
            break
    if not words and reason in suggestion.reasons:
        return "from the text's meaning, no single words"
    return ", ".join(f"“{w}”" for w in words)


class ReasonPanel(Static):
    def show(self, codebook: Codebook, selected: set[str], suggestion: Suggestion | None, *,
             blind: bool, save_hint: Text, show_evidence: bool = True, layout: bool = True) -> None:
        # Plain lines, not a rich Table: measuring a table on every keystroke costs milliseconds.
        drivers = list(codebook.drivers)
        columns = {d: [r for r in codebook.reasons if r.driver == d] for d in drivers}
        gap = 2
        width = max(20 * len(drivers), self.size.width or 76)
        col = (width - gap * (len(drivers) - 1)) // len(drivers)

        def row(cells: list[Text]) -> Text:
            line = Text(no_wrap=True, overflow="ellipsis")
            for i, cell in enumerate(cells):
                cell.truncate(col, overflow="ellipsis", pad=i < len(cells) - 1)
                line.append_text(cell)
                if i < len(cells) - 1:
                    line.append(" " * gap)
            return line

        lines = [row([Text(d, style="bold italic") for d in drivers])]
        for i in range(max(len(v) for v in columns.values())):
            cells, ev_cells = [], []
            for d in drivers:
                if i >= len(columns[d]):
                    cells.append(Text(""))
                    ev_cells.append(Text(""))
                    continue
                reason = columns[d][i]
                on = reason.name in selected
                style = reason_style(codebook, reason.name)
                cell = Text()
                cell.append("[x] " if on else "[ ] ", style="bold" if on else "dim")
                cell.append(reason.key, style="reverse bold")
                cell.append(" ")
                cell.append(f"{reason.name:<12}", style=style if on else style.replace("bold ", ""))
                if not blind and suggestion is not None:
                    p = suggestion.probabilities.get(reason.name, 0.0)
                    cell.append_text(bar(p))
                    cell.append(f" {p:.2f}", style="bold" if p >= suggestion.threshold else "dim")
                cells.append(cell)
                words = "" if blind or not show_evidence else evidence_words(suggestion, reason.name)
                ev_cells.append(Text(f"      {words}", style="dim italic") if words else Text(""))
            lines.append(row(cells))
            if show_evidence:  # always the same height: the layout must not jump
                lines.append(row(ev_cells))
        save_hint.no_wrap = True
        save_hint.overflow = "ellipsis"
        # Same height for every item: skipping the layout pass keeps a keystroke cheap.
        self.update(Text("\n").join([*lines, save_hint]), layout=layout)
