"""Redaction of personal data in feedback before it is stored or written (GDPR).

Contract: `Redactor().text(s)` returns `s` with every
- e-mail address replaced by `<email>`,
- IBAN that passes the ISO 13616 mod-97 check by `<iban>`,
- payment card number (13-19 digits, a card network's prefix) that passes the Luhn check by `<card>`,
- phone number that libphonenumber (`phonenumbers`) holds valid for the Netherlands, Belgium, the
  UK or the US (national or international format) by `<phone>`,
and counts each kind in `Redactor.counts`. Only validated patterns are replaced: prices, dates,
quantities, postcodes and order numbers (which fail the checks) stay as written. `row(d)` redacts
every string value of a row, nested JSON values included. Texts without an `@` and without a run
of seven digits are returned untouched at the cost of one regular-expression search.
"""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDERS = {"email": "<email>", "phone": "<phone>", "iban": "<iban>", "card": "<card>"}
PHONE_REGIONS = ("NL", "BE", "GB", "US")

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)
# Where an IBAN may start: two letters and two check digits, not inside a word.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})\d{2}")
# 13-19 digits, optionally in groups separated by one space or dash, not inside a longer number.
_CARD = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d])(?![.,]\d)")
# A text may hold a phone number, IBAN or card only with seven digits close together.
_DIGIT_RUN = re.compile(r"\d(?:[\s().\-/+]{0,3}\d){6}")

# Phone shapes that decide which regions' matchers run (see Redactor._regions_to_try).
_TRUNK_ZERO = frozenset({"NL", "BE", "GB"})
_NATIONAL_EU = re.compile(r"(?<!\d)0(?:[\s().\-/]{0,3}\d){7,}")
# A US number written as one: (650) 253-0000, 650-253-0000, 1 650 253 0000. A bare run of ten
# digits is far more often an invoice or order number in this feedback, so it is left alone.
_NANP = re.compile(r"(?<!\d)(?:1[\s.-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.-])[2-9]\d{2}[\s.-]\d{4}(?!\d)")
_INTERNATIONAL = re.compile(r"\+\s?\d")

# ISO 13616 lengths of the IBANs customers in these markets meet most.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26,
    "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28,
    "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}

# Card network prefixes (ISO/IEC 7812 issuer ranges) and the lengths each issues.
_CARD_NETWORKS = (
    (re.compile(r"4"), (13, 16, 19)),                                    # Visa
    (re.compile(r"5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),                                       # American Express
    (re.compile(r"6(?:011|5|4[4-9])"), (16, 19)),                        # Discover
    (re.compile(r"35(?:2[89]|[3-8])"), (16, 17, 18, 19)),                # JCB
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 16)),                        # Diners Club
    (re.compile(r"62"), (16, 17, 18, 19)),                               # UnionPay
    (re.compile(r"5[06-9]|6"), tuple(range(12, 20))),                    # Maestro
)


def iban_valid(iban: str) -> bool:
    """ISO 13616: the right length for its country and mod-97 of the rearranged number is 1."""
    iban = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    length = IBAN_LENGTHS.get(iban[:2])
    if length is not None and len(iban) != length:
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_valid(number: str) -> bool:
    """A card network's prefix and length, and the Luhn check."""
    digits = re.sub(r"\D", "", number)
    return any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_NETWORKS) \
        and luhn_valid(digits)


class Redactor:
    """Replaces personal data with placeholders and counts what it replaced, per kind."""

    def __init__(self, regions: tuple[str, ...] = PHONE_REGIONS):
        import phonenumbers  # libphonenumber's metadata: loaded only when redacting

        self._phonenumbers = phonenumbers
        self.regions = regions
        self.counts = {kind: 0 for kind in PLACEHOLDERS}

    def text(self, text: str) -> str:
        if not text:
            return text
        has_at = "@" in text
        if not has_at and _DIGIT_RUN.search(text) is None:
            return text
        if has_at:
            text = _EMAIL.sub(self._counted("email"), text)
        if _DIGIT_RUN.search(text) is None:
            return text
        text = self._ibans(text)
        text = _CARD.sub(self._card, text)
        return self._phones(text)

    def _counted(self, kind: str):  # noqa: ANN202 - a re.sub replacement function
        def replace(match: re.Match) -> str:
            self.counts[kind] += 1
            return PLACEHOLDERS[kind]

        return replace

    def _ibans(self, text: str) -> str:
        """Each place that starts like an IBAN is read forward (letters and digits, single spaces
        between groups) to its country's length, or the longest valid length elsewhere."""
        out, last = [], 0
        for start in _IBAN_START.finditer(text):
            if start.start() < last:
                continue
            country = start.group(1).upper()
            ends = []  # ends[k]: text position after the k+1-th character
            i = start.start()
            while i < len(text) and len(ends) < 34:
                if text[i].isascii() and text[i].isalnum():
                    ends.append(i + 1)
                    i += 1
                elif text[i] == " " and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum() \
                        and ends:
                    i += 1
                else:
                    break
            lengths = [IBAN_LENGTHS[country]] if country in IBAN_LENGTHS else range(34, 14, -1)
            for n in lengths:
                end = ends[n - 1] if n <= len(ends) else None
                if end is None or (end < len(text) and text[end].isascii() and text[end].isalnum()):
                    continue  # too short, or it would cut a word or number in two
                if iban_valid(text[start.start():end]):
                    out.append(text[last:start.start()])
                    out.append(PLACEHOLDERS["iban"])
                    self.counts["iban"] += 1
                    last = end
                    break
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def _card(self, match: re.Match) -> str:
        # The pattern may run on into a following number ("4111 1111 1111 1111 12/27"): try the
        # whole run first, then shorter ones that end at a digit.
        found = match.group(0)
        ends = [i + 1 for i, ch in enumerate(found) if ch.isdigit() and (i + 1 == len(found) or found[i + 1] in " -")]
        for end in reversed(ends):  # whole groups only: never cut a run of digits in two
            if card_valid(found[:end]):
                self.counts["card"] += 1
                return PLACEHOLDERS["card"] + _CARD.sub(self._card, found[end:])
        return found

    def _phones(self, text: str) -> str:
        pn = self._phonenumbers
        for region in self._regions_to_try(text):
            if _DIGIT_RUN.search(text) is None:
                break
            spans = [(m.start, m.end) for m in pn.PhoneNumberMatcher(text, region, leniency=pn.Leniency.VALID)
                     if region != "US" or not m.raw_string.isdigit()]
            for start, end in reversed(spans):
                text = text[:start] + PLACEHOLDERS["phone"] + text[end:]
                self.counts["phone"] += 1
        return text

    def _regions_to_try(self, text: str) -> list[str]:
        """The regions whose matcher can find something here (libphonenumber's matcher costs about
        50 µs a region for each run of digits, and most runs are dates, prices and order numbers).

        International numbers (`+` or `00`) parse the same from any region; national numbers of
        the Netherlands, Belgium and the UK start with their trunk prefix 0 (the matcher requires
        it) and have at least 8 digits; US numbers have the NANP shape."""
        regions = []
        national = _NATIONAL_EU.search(text) is not None
        for region in self.regions:
            if region == "US":
                wanted = _NANP.search(text) is not None
            elif region in _TRUNK_ZERO:
                wanted = national
            else:
                wanted = True
            if wanted:
                regions.append(region)
        if not regions and _INTERNATIONAL.search(text):
            regions.append(self.regions[0])
        return regions

    def value(self, value: Any) -> Any:
        """A cell: strings redacted, lists and objects (JSON) redacted inside, the rest as is."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: self.value(v) for k, v in row.items()}

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def counts_text(counts: dict[str, int]) -> str:
    """'redacted 2 email, 1 phone' (or 'redacted nothing')."""
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    return "redacted " + (", ".join(parts) if parts else "nothing")
