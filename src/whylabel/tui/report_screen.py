"""The why at a glance inside the labeling UI (`r`): per breakpoint, the drop rate and each
reason's share of its labeled items, as bars in a table.

Contract: the figures are `export.breakpoint_summary` (the same as `whylabel report`), computed
once per opening in a thread worker on its own `Store` connection, so they include every label
saved so far this session and no keystroke on the labeling screen ever pays for them.
`report_cells` and `report_notes` only shape the figures for the screen.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ..codebook import Codebook
from ..export import breakpoint_summary
from ..store import Store
from .label_screen import one_line
from .palette import reason_style

DROP_BAR = 6
REASON_BAR = 3


def bar(share: float | None, width: int, style: str) -> Text:
    """A share (0-1) as a bar of `width` cells and its percentage; "-" when there is no figure."""
    if share is None:
        return Text("-".center(width + 5), style="dim")
    filled = round(min(max(share, 0.0), 1.0) * width)
    out = Text("█" * filled, style=style)
    out.append("·" * (width - filled), style="dim")
    out.append(f"{share:>5.0%}")
    return out


def report_cells(row: dict, codebook: Codebook) -> list[Text]:
    """One breakpoint's table row: name, drop rate, labeled items, the top reason, a bar per reason
    (the essentials first: a narrow terminal scrolls to the bars)."""
    labeled = row["labeled"]
    top = row["top_reason"]
    cells = [Text(row["breakpoint"], style="bold"), bar(row["drop_rate"], DROP_BAR, "bold #e5534b"),
             Text(f"{labeled:,}", justify="right"),
             Text(f"{top} {row[top] / labeled:.0%}", style=reason_style(codebook, top)) if top
             else Text("-", style="dim")]
    for name in codebook.reason_names:
        cells.append(bar(row[f"{name}_share"] if labeled else None, REASON_BAR, reason_style(codebook, name)))
    return cells


def report_notes(rows: list[dict]) -> str:
    """What the table cannot show yet, said instead of an empty column."""
    if not rows:
        return ("No breakpoints yet: import feedback with a breakpoint column (`breakpoint`, `stap`) or "
                "`--breakpoint NAME`, then label some items.")
    notes = []
    if all(r["drop_rate"] is None for r in rows):
        notes.append("No funnel figures yet: `whylabel breakpoints funnel.csv` adds reached and dropped "
                     "per breakpoint, and with them the drop rate.")
    if not any(r["labeled"] for r in rows):
        notes.append("No labels yet: the reason bars fill as you label.")
    return "\n".join(notes)


class ReportScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,r", "close", "close")]
    DEFAULT_CSS = """
    ReportScreen { align: center middle; }
    ReportScreen > Vertical {
        width: 100%; height: auto; max-height: 100%;
        border: round $primary; padding: 0; background: $surface;
    }
    ReportScreen #report-table { height: auto; max-height: 24; }
    ReportScreen #report-notes { padding-top: 1; display: none; }
    ReportScreen #report-foot { color: $text-muted; padding-top: 1; }
    """

    def __init__(self, db_path: str, codebook: Codebook):
        super().__init__()
        self.db_path = db_path
        self.codebook = codebook
        self.rows: list[dict] | None = None  # the figures on screen, once computed

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "why per breakpoint"
            yield Static("computing the report…", id="report-head")
            table = DataTable(id="report-table", cursor_type="none", zebra_stripes=True)
            table.display = False
            yield table
            yield Static(id="report-notes")
            yield Static("drop: dropped / reached (whylabel breakpoints) · reasons: share of the labeled "
                         "items (an item can have several) · escape: back to labeling", id="report-foot")

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def compute(self) -> None:
        try:
            with Store(self.db_path) as store:
                rows = breakpoint_summary(store, self.codebook)
        except Exception as exc:  # a locked or damaged database: say so, keep labeling
            self.app.call_from_thread(self.show_error, one_line(exc))
            return
        self.app.call_from_thread(self.show_figures, rows)

    def show_figures(self, rows: list[dict]) -> None:
        if not self.is_attached:  # closed before the figures came
            return
        self.rows = rows
        labeled = sum(r["labeled"] for r in rows)
        self.query_one("#report-head", Static).update(
            f"{len(rows)} breakpoint{'s' * (len(rows) != 1)} · {labeled:,} labeled items "
            "(adjudicated label first, else the newest by anyone: as `whylabel report`)")
        notes = report_notes(rows)
        if notes:
            self.query_one("#report-notes", Static).update(Text(notes, style="bold"))
            self.query_one("#report-notes").display = True
        if not rows:
            return
        table = self.query_one("#report-table", DataTable)
        table.add_column("breakpoint", key="breakpoint")
        table.add_column("drop rate", key="drop_rate")
        table.add_column("labeled", key="labeled")
        table.add_column("top reason", key="top_reason")
        for name in self.codebook.reason_names:
            table.add_column(Text(name, style=reason_style(self.codebook, name)), key=name)
        for row in rows:
            table.add_row(*report_cells(row, self.codebook), key=row["breakpoint"])
        table.display = True
        table.focus()

    def show_error(self, message: str) -> None:
        if self.is_attached:
            self.query_one("#report-head", Static).update(Text(f"could not compute the report: {message}",
                                                               style="bold red"))

    def action_close(self) -> None:
        self.dismiss(None)
