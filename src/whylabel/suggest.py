"""The one service that suggests for stored items and stores what it suggested.

Contract: `suggest_and_store(store, suggester, item_ids, *, reuse=True, want=True)` returns the
suggestion of each item (by id) from this suggester's model. With `reuse`, suggestions stored
earlier by the same model are read, not recomputed; everything computed is written to the store
(one transaction per call), so a suggestion shown once survives a restart. For a suggester that
reads meaning (`encoder_id`), each item's sentence vector comes from the store or is encoded once
and kept. `whylabel suggest`, the labeling UI and its background fill all go through here;
`predict --into-db` hands its suggestions to the store with the records it imports.
"""

from __future__ import annotations

from collections.abc import Sequence

from .store import Store
from .suggestion import Suggester, Suggestion


def suggest_and_store(store: Store, suggester: Suggester, item_ids: Sequence[int], *, reuse: bool = True,
                      want: bool = True) -> dict[int, Suggestion]:
    model_id = suggester.model_id
    stored = store.suggestions_for(item_ids) if reuse else {}
    stale = [i for i in item_ids if i not in stored or stored[i]["model_id"] != model_id]
    out: dict[int, Suggestion] = {}
    if want:
        out = {i: Suggestion.from_row(row, suggester.threshold) for i, row in stored.items() if i not in stale}
    if not stale:
        return out
    rows = store.texts(stale)
    ids, texts, langs = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    encoder_id = getattr(suggester, "encoder_id", None)
    if encoder_id:
        from .model import stored_vectors  # numpy + scikit-learn: only where a model suggests

        suggestions = suggester.suggest(texts, langs, stored_vectors(store, ids, texts, encoder_id))
    else:
        suggestions = suggester.suggest(texts, langs)
    store.save_suggestions(s.to_row(i, model_id) for i, s in zip(ids, suggestions))
    if want:
        out.update(zip(ids, suggestions))
    return out
