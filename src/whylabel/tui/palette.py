"""Colours for reasons, shared by the item text highlights and the reason panel (a legend)."""

from __future__ import annotations

from ..codebook import Codebook

# Emotional reasons in warm colours, rational in cool ones; distinct on dark and light themes.
_EMOTIONAL = ("#e5534b", "#d97706", "#c061cb")
_RATIONAL = ("#2f9e44", "#1c7ed6", "#0ca3a3")


def reason_style(codebook: Codebook, reason: str) -> str:
    driver = codebook.reason(reason).driver
    same = [r.name for r in codebook.reasons if r.driver == driver]
    colours = _EMOTIONAL if driver == "emotional" else _RATIONAL
    return f"bold {colours[same.index(reason) % len(colours)]}"
