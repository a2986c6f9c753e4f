"""Reading behavioural figures per breakpoint (`whylabel breakpoints`): the "what" beside the "why".

Contract: `read_funnel(path, codebook)` returns one dict per row (name, moment, stage, reached,
dropped, period), from column names in English or Dutch (`stap`, `bereikt`, `afgehaakt`,
`periode`, `fase`), any case. Counts are read per column (`whylabel.localformat.whole_numbers`), so
`12.480` in a Dutch file and `12,480` in an English one are both 12480. Every problem raises
`InputError` naming the file, row and column, before anything is stored.
"""

from __future__ import annotations

from .codebook import Codebook
from .errors import InputError
from .io import open_table
from .localformat import NumberError, whole_numbers

# Accepted names of each figure, lower-cased, in order of preference.
FUNNEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "breakpoint", "stap", "naam", "breekpunt"),
    "moment": ("moment", "beslismoment"),
    "stage": ("stage", "fase"),
    "reached": ("reached", "bereikt"),
    "dropped": ("dropped", "afgehaakt"),
    "period": ("period", "periode"),
}


def read_funnel(path: str, codebook: Codebook) -> list[dict]:
    table = open_table(path)
    try:
        by_lower: dict[str, str] = {}
        for column in table.columns:
            by_lower.setdefault(column.strip().lower(), column)
        cols = {key: next((by_lower[n] for n in names if n in by_lower), None) for key, names in FUNNEL_COLUMNS.items()}
        if not cols["name"]:
            raise InputError(path, "no `name`, `breakpoint` or `stap` column (columns: " + ", ".join(table.columns) + ")")
        numbered = list(table.rows)
    finally:
        table.close()

    def bad(number: int, column: str | None, message: str) -> InputError:
        return InputError(path, message, row=number, column=column, row_label=table.row_label)

    counts: dict[str, list[int | None]] = {}
    for key in ("reached", "dropped"):
        column = cols[key]
        values = [row.get(column) for _, row in numbered] if column else []
        try:
            counts[key] = whole_numbers(values) if column else [None] * len(numbered)
        except NumberError as exc:
            raise bad(numbered[exc.index][0], column, f"{key} {exc}") from None
    rows = []
    for index, (number, row) in enumerate(numbered):
        rec: dict = {"name": str(row.get(cols["name"]) or "").strip().lower()}
        if not rec["name"]:
            raise bad(number, cols["name"], "empty breakpoint name")
        for key, allowed in (("moment", codebook.moments), ("stage", codebook.stages)):
            column = cols[key]
            value = str(row.get(column) or "").strip().lower() if column else ""
            if value and allowed and value not in allowed:
                raise bad(number, column, f"unknown {key} {value!r} (expected one of: {', '.join(allowed)})")
            rec[key] = value or None
        rec["reached"], rec["dropped"] = counts["reached"][index], counts["dropped"][index]
        if rec["reached"] is not None and rec["dropped"] is not None and rec["dropped"] > rec["reached"]:
            raise bad(number, cols["dropped"], f"dropped ({rec['dropped']}) is more than reached ({rec['reached']})")
        rec["period"] = (str(row.get(cols["period"]) or "").strip() or None) if cols["period"] else None
        rows.append(rec)
    return rows
