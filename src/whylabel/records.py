"""What an export's row becomes: the column mapping, the fields it maps onto, and `ItemRecord`.

`ColumnMap` names, for each of whylabel's fields, the export's column that holds it;
`COLUMN_FIELDS` is that list of fields (each one a `--<field>-column` flag of `import` and
`predict`), derived from `ColumnMap` so it is written down once. `ItemRecord` is one prepared row,
ingest's output and the store's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class ColumnMap:
    text: str
    id: str | None = None
    source: str | None = None
    breakpoint: str | None = None
    moment: str | None = None
    stage: str | None = None
    rating: str | None = None
    created_at: str | None = None
    lang: str | None = None
    reasons: str | None = None  # existing labels (import --reasons-column): not an item field

    def named(self) -> dict[str, str]:
        """field -> column, for the fields that have one (the summaries' `columns`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


COLUMN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ColumnMap) if f.name != "reasons")
"""The item fields an export's columns map onto, in the order the flags and summaries show them."""


@dataclass
class ItemRecord:
    """One prepared row of an export, ready to store."""

    hash: str
    source: str
    text: str
    external_id: str | None = None
    breakpoint: str | None = None
    moment: str | None = None
    stage: str | None = None
    lang: str | None = None
    rating: float | None = None
    created_at: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] | None = None  # None: unlabeled; (): labeled "no reason"
    suggestion: dict | None = None  # a model's suggestion to store with it (`predict --into-db`)
