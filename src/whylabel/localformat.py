"""Numbers and dates as Dutch and English spreadsheets write them.

Contract:
- `whole_numbers(values)` reads one column of counts. The column's decimal mark is decided from
  all its values (`1.234,5` or `0,5` say ','; `12.5` or `1,234.5` say '.'); a value with one
  separator and three digits after it (`12.480`, `12,480`) is a thousands separator unless the
  column says otherwise. Spaces (also non-breaking) group thousands (`12 480`). A fraction, a
  negative or anything that is not a number raises `NumberError` with the index of the value.
- `DateColumn` reads one column of dates into ISO 8601: ISO itself, day-first Dutch dates
  (`20-10-2025`, `20/10/2025 14:05`, `20 okt 2025`, `20 oktober 2025`) and English month names
  (`Oct 20, 2025`, `20 October 2025`). Numeric dates whose day and month could swap
  (`03/04/2025`) follow the column: any value with a first part over 12 makes it day-first, any
  with a second part over 12 month-first; when nothing decides, the value is kept as written and
  counted as ambiguous. Unrecognised values are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any


class NumberError(ValueError):
    """A value in a number column that cannot be read; `index` is its position in the column."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


_NUMBER_SHAPE = re.compile(r"^[+-]?[0-9][0-9.,]*$")


_SPACED = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?")


def _clean(value: Any) -> str:
    """The value without its thousands spaces (`12 480`); spaces anywhere else are left to fail."""
    text = str(value).strip() if value is not None else ""
    return re.sub(r"[ \u00a0\u202f]", "", text) if _SPACED.fullmatch(text) else text


def _decimal_evidence(text: str) -> str | None:
    """The decimal mark this one value proves ('.' or ','), or None when it proves nothing."""
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        return "." if text.rfind(".") > text.rfind(",") else ","
    if dots > 1:
        return ","
    if commas > 1:
        return "."
    if dots == 1 or commas == 1:
        mark = "." if dots else ","
        if len(text) - text.index(mark) - 1 != 3:
            return mark
    return None


def _parse(text: str, decimal: str | None) -> float | None:
    """`text` under the column's decimal mark (None: every separator groups thousands)."""
    if not _NUMBER_SHAPE.match(text):
        return None
    thousands = {".", ","} - {decimal} if decimal else {".", ","}
    whole, _, fraction = text.partition(decimal) if decimal else (text, "", "")
    groups = re.split("[" + re.escape("".join(thousands)) + "]", whole)
    if len(groups) > 1 and (not 1 <= len(groups[0].lstrip("+-")) <= 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    if fraction and not fraction.isdigit():
        return None
    try:
        return float("".join(groups) + ("." + fraction if fraction else ""))
    except ValueError:
        return None


def whole_numbers(values: list[Any]) -> list[int | None]:
    """A column of counts (None for an empty cell); raises NumberError at the first bad value."""
    texts = [_clean(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else v for v in values]
    marks: dict[str, int] = {}
    for index, text in enumerate(texts):
        if isinstance(text, str) and text:
            mark = _decimal_evidence(text)
            if mark and mark not in marks:
                marks[mark] = index
    if len(marks) == 2:
        first, later = sorted(marks.values())
        raise NumberError(later, f"{values[later]!r} and {values[first]!r} (an earlier row) use different decimal marks")
    decimal = next(iter(marks), None)
    out: list[int | None] = []
    for index, text in enumerate(texts):
        if isinstance(text, (int, float)):
            number: float | None = float(text)
        elif not text:
            out.append(None)
            continue
        else:
            number = _parse(text, decimal)
        if number is None or number != int(number) or number < 0:
            why = ""
            if number is not None and decimal and isinstance(text, str) and not _decimal_evidence(text):
                why = f" (read as {number:g}: {values[marks[decimal]]!r} in the same column writes decimals with {decimal!r})"
            raise NumberError(index, f"must be a whole number, got {values[index]!r}{why}")
        out.append(int(number))
    return out


# ---------------------------------------------------------------------------------------------
# Dates

MONTHS = {
    # Dutch
    "januari": 1, "jan": 1, "februari": 2, "feb": 2, "maart": 3, "mrt": 3, "mar": 3, "april": 4, "apr": 4,
    "mei": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "augustus": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "oktober": 10, "okt": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    # English (where it differs)
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "august": 8,
    "october": 10, "oct": 10,
}

_TIME = r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?"
_NUMERIC = re.compile(r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4})" + _TIME + r"$")
_DAY_MONTH_NAME = re.compile(r"^(?P<d>\d{1,2})\.?\s+(?P<m>[a-z]+)\.?,?\s+(?P<y>\d{4})" + _TIME + r"$")
_MONTH_NAME_DAY = re.compile(r"^(?P<m>[a-z]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})" + _TIME + r"$")


def _iso(year: int, month: int, day: int, m: re.Match) -> str | None:
    try:
        if m.group("h") is None:
            return date(year, month, day).isoformat()
        return datetime(year, month, day, int(m.group("h")), int(m.group("mi")), int(m.group("s") or 0)).isoformat()
    except ValueError:
        return None


def _iso_already(text: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return parsed.date().isoformat()
    return parsed.isoformat()


class DateColumn:
    """One column of dates: `decide(values)` first (or `observe` value by value), then `iso(value)`."""

    def __init__(self) -> None:
        self.order: str | None = None  # "dmy" or "mdy", once a value decides it
        self.ambiguous = 0

    def observe(self, value: Any) -> bool:
        """Learn the column's order from one value; True once it is decided."""
        if self.order is not None:
            return True
        m = _NUMERIC.match(str(value or "").strip())
        if m:
            if int(m.group("a")) > 12 >= int(m.group("b")):
                self.order = "dmy"
            elif int(m.group("b")) > 12 >= int(m.group("a")):
                self.order = "mdy"
        return self.order is not None

    def decide(self, values: Iterable[Any]) -> None:
        for value in values:
            if self.observe(value):
                return

    def iso(self, value: Any) -> str | None:
        """ISO 8601 for `value`, or the value as written when it is ambiguous or unrecognised."""
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        lowered = text.lower()
        m = _NUMERIC.match(lowered)
        if m:
            a, b, year = int(m.group("a")), int(m.group("b")), int(m.group("y"))
            order = self.order
            if order is None:
                if a == b or a > 12 >= b:
                    order = "dmy"
                elif b > 12 >= a:
                    order = "mdy"
                else:
                    self.ambiguous += 1
                    return text
            day, month = (a, b) if order == "dmy" else (b, a)
            return _iso(year, month, day, m) or text
        for pattern in (_DAY_MONTH_NAME, _MONTH_NAME_DAY):
            m = pattern.match(lowered)
            if m and m.group("m") in MONTHS:
                return _iso(int(m.group("y")), MONTHS[m.group("m")], int(m.group("d")), m) or text
        return _iso_already(text) or text
