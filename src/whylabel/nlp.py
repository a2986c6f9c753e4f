"""Language work: language detection, spaCy pipelines, normalisation and cue matching.

Contract: everything here is offline. Pipelines are built from `spacy.blank("nl")` and
`spacy.blank("en")` once per process; nothing is ever downloaded.
"""

from __future__ import annotations

import re
from functools import lru_cache

LANGS = ("en", "nl")
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@lru_cache(maxsize=1)
def _exclusive_stop_words() -> dict[str, frozenset[str]]:
    """Stop words that belong to one language only: the cheapest reliable language signal."""
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.nl.stop_words import STOP_WORDS as NL

    # Words that are common in both languages ("is", "in", "was", "over"...) tell nothing.
    return {"en": frozenset(EN - NL), "nl": frozenset(NL - EN)}


def detect_language(text: str, default: str | None = None) -> str | None:
    """"nl" or "en" by counting language-exclusive stop words; `default` when there is no signal."""
    words = _exclusive_stop_words()
    en = nl = 0
    for w in _WORD_RE.findall(text.lower()):
        if w in words["en"]:
            en += 1
        elif w in words["nl"]:
            nl += 1
    if en == nl:
        return default
    return "en" if en > nl else "nl"
