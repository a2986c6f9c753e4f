"""The team's agreement at a glance: per reason, alpha as a bar in its band's colour, and how
many items of the double-coding sample still wait for a second coder.

Contract: opens at once with a "computing" line; the figures (bootstrap included) are computed in
a thread worker on its own `Store` connection and drawn when ready. `agreement_bars` only renders.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..agreement import AgreementError, AgreementReport, alpha_band, team_agreement
from ..codebook import Codebook
from ..store import Store

BAR_WIDTH = 30
BAND_STYLE = {"reliable": "green", "tentative": "yellow", "unreliable": "red", "undefined": "dim"}


def agreement_bars(report: AgreementReport | None, *, error: str | None, still_to_do: int, sample: int) -> Text:
    out = Text()
    if report is None:
        out.append(error or "no agreement yet", style="bold")
        out.append("\n")
    else:
        out.append(f"{', '.join(report.annotators)} · {report.n_items} items double-coded\n\n", style="bold")
        for name, code in [*report.reasons.items(), ("driver", report.driver)]:
            band = alpha_band(code.alpha)
            filled = 0 if code.alpha is None else round(max(code.alpha, 0.0) * BAR_WIDTH)
            out.append(f"{name:<12} ")
            out.append("█" * filled, style=BAND_STYLE[band])
            out.append("·" * (BAR_WIDTH - filled), style="dim")
            figure = "  -  " if code.alpha is None else f"{code.alpha:5.2f}"
            out.append(f" {figure}  ")
            out.append(f"{band}\n", style=BAND_STYLE[band])
        out.append("\nalpha: ≥ 0.8 reliable · 0.667–0.8 tentative · below unreliable (Krippendorff)\n", style="dim")
    out.append(f"\ndouble coding: {still_to_do} of {sample} sampled items still need a second coder "
               "(whylabel label --queue double)\n")
    out.append("escape: back to labeling", style="dim")
    return out


class AgreementScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,a", "close", "close")]
    DEFAULT_CSS = """
    AgreementScreen { align: center middle; }
    AgreementScreen > Vertical {
        width: 90; height: auto; max-height: 90%;
        border: round $primary; padding: 1 2; background: $surface;
    }
    """

    def __init__(self, db_path: str, codebook: Codebook, *, share: float = 0.2):
        super().__init__()
        self.db_path = db_path
        self.codebook = codebook
        self.share = share
        self.ready = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "agreement"
            yield Static("computing agreement…", id="agreement-body")

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True, group="agreement", exit_on_error=False)
    def compute(self) -> None:
        with Store(self.db_path) as store:
            coders = store.coder_labels()
            shared = set(store.shared_items())
            sample = store.double_coding_sample(self.share)
        report, error = None, None
        try:
            report = team_agreement(coders, self.codebook)
        except AgreementError as exc:
            error = str(exc)
        body = agreement_bars(report, error=error, still_to_do=sum(i not in shared for i in sample),
                              sample=len(sample))
        self.app.call_from_thread(self.show_figures, body)

    def show_figures(self, body: Text) -> None:
        self.query_one("#agreement-body", Static).update(body)
        self.ready = True

    def action_close(self) -> None:
        self.dismiss(None)
