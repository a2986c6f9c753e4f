"""Choose what the queue holds: a breakpoint, a source, a suggested reason, or the labeled items
whose label disagrees with the model. Dismisses with a `QueueFilter`, or None when cancelled.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from .session import QueueFilter


class FilterScreen(ModalScreen[QueueFilter | None]):
    BINDINGS = [Binding("escape,f", "cancel", "cancel")]

    def __init__(self, *, current: QueueFilter, breakpoints: list[str], sources: list[str],
                 reasons: list[str], blind: bool = False):
        super().__init__()
        self.current = current
        self.choices: list[QueueFilter] = [QueueFilter()]
        labels = ["All items (no filter)"]
        for name in breakpoints:
            self.choices.append(QueueFilter(breakpoint=name))
            labels.append(f"Breakpoint: {name}")
        for name in sources:
            self.choices.append(QueueFilter(source=name))
            labels.append(f"Source: {name}")
        if not blind:  # blind coding hides the model, so no filter may reveal it
            for name in reasons:
                self.choices.append(QueueFilter(reason=name))
                labels.append(f"Suggested reason: {name}")
            self.choices.append(QueueFilter(disagrees=True))
            labels.append("Disagrees with model: my labels that differ from the suggestion")
        self.labels = labels

    def compose(self) -> ComposeResult:
        with Vertical(id="filter"):
            yield Label(f"Filter the queue (now: {self.current.describe()})", id="filter-title")
            yield OptionList(*[Option(label, id=str(i)) for i, label in enumerate(self.labels)],
                             id="filter-options")
            yield Label("↑/↓ choose · enter: apply · escape: cancel", id="filter-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        # Title, borders and the hint must stay visible on a small terminal: the list scrolls.
        options.styles.max_height = max(4, self.app.size.height - 10)
        options.focus()
        if self.current in self.choices:
            options.highlighted = self.choices.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
