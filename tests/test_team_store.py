"""Store queries for a team: coders' own labels, shared items, double coding, adjudication first."""

from __future__ import annotations

from whylabel.store import ItemRecord, Store

TEXTS = [
    ("Te duur, bij de concurrent is het goedkoper", "checkout"),
    ("I don't trust the delivery date they promise", "delivery-promise"),
    ("Retourneren kost 6,95, dat staat nergens", "returns"),
    ("Bang dat mijn betaling twee keer wordt afgeschreven", "checkout"),
    ("The app keeps crashing at the payment step", "checkout"),
    ("Geen idee wanneer het pakket komt", "delivery-promise"),
]


def items(s: Store, texts=TEXTS) -> list[int]:
    s.import_records([ItemRecord(hash=f"t{i}", source="survey", text=t, breakpoint=bp, lang="nl")
                      for i, (t, bp) in enumerate(texts)], path="mem")
    return [r[0] for r in s.db.execute("SELECT id FROM items ORDER BY id")]


def test_each_coder_newest_own_label_and_shared_items(store):
    a, b, c, d, *_ = items(store)
    store.annotate(a, ["price"], annotator="anna")
    store.annotate(a, ["price", "terms"], annotator="anna")  # correction: newest wins
    store.annotate(a, ["price"], annotator="ben")
    store.annotate(b, ["trust"], annotator="anna")
    store.annotate(b, ["trust"], annotator="ben")
    store.annotate(b, None, annotator="ben", origin="undo")  # withdrawn: ben no longer labeled b
    store.annotate(c, ["terms"], annotator="ben")
    store.annotate(c, ["terms"], annotator="chris")
    store.annotate(d, ["fear"], annotator="lead", origin="adjudication")  # not a coder's own label
    assert store.coder_labels() == {"anna": {a: ["price", "terms"], b: ["trust"]},
                                    "ben": {a: ["price"], c: ["terms"]}, "chris": {c: ["terms"]}}
    assert store.annotators() == {"anna": 2, "ben": 2, "chris": 1}
    assert store.shared_items() == [a, c]
    assert store.shared_items(["anna", "ben"]) == [a]
    assert store.shared_items(["anna", "chris"]) == []
    assert store.coder_labels(["anna", "nobody"]) == {"anna": {a: ["price", "terms"], b: ["trust"]}, "nobody": {}}
    assert store.coder_labels(["anna", "ben"], breakpoint="delivery-promise") == {"anna": {b: ["trust"]}, "ben": {}}


def test_adjudication_comes_first_overall_but_never_for_one_annotator(store):
    a, b, *_ = items(store)
    store.annotate(a, ["price"], annotator="anna")
    store.annotate(a, ["terms"], annotator="ben")
    adjudicated = store.annotate(a, ["price", "terms"], annotator="lead", origin="adjudication")
    store.annotate(a, ["fear"], annotator="chris")  # newer than the adjudication, still not preferred
    store.annotate(b, ["trust"], annotator="anna")
    overall = {r["id"]: (r["reasons"], r["origin"]) for r in store.labeled()}
    assert overall == {a: (["price", "terms"], "adjudication"), b: (["trust"], "ui")}
    assert {r["id"]: r["reasons"] for r in store.labeled("anna")} == {a: ["price"], b: ["trust"]}
    assert store.labeled("lead") == []  # lead only adjudicated
    assert store.current_annotation(a)["id"] == adjudicated
    assert store.current_annotation(a, "chris")["reasons"] == ["fear"]
    assert [r["reasons"] for r in store.export_rows() if r["item_id"] == a] == [["price", "terms"]]
    assert [r["reasons"] for r in store.export_rows("ben")] == [["terms"]]
    # withdrawing the adjudication (its undo) falls back to the newest own label
    store.annotate(a, None, annotator="lead", origin="adjudication")
    assert {r["id"]: r["reasons"] for r in store.labeled()}[a] == ["fear"]
    assert store.adjudication(a) is None


def test_adjudication_queue_lists_open_disagreements_only(store):
    a, b, c, *_ = items(store)
    for item, anna, ben in ((a, ["price"], ["price", "terms"]), (b, ["trust"], ["trust"]), (c, [], ["terms"])):
        store.annotate(item, anna, annotator="anna")
        store.annotate(item, ben, annotator="ben")
    assert store.adjudication_queue() == [a, c]
    store.annotate(a, ["price"], annotator="lead", origin="adjudication")
    assert store.adjudication_queue() == [c]
    assert store.adjudicated_items() == {a}


def test_double_coding_sample_is_fixed_and_the_same_for_every_second_coder(tmp_path):
    texts = [(f"Opmerking {i}: de levering duurde te lang" if i % 2 else f"Comment {i}: too expensive", "checkout")
             for i in range(400)]
    with Store(tmp_path / "double.db") as s:
        ids = items(s, texts)
        for i in ids[:300]:
            s.annotate(i, ["price"], annotator="anna")
        sample = s.double_coding_sample(0.2)
        assert set(sample) <= set(ids[:300])  # only labeled items
        assert 0.14 * 300 <= len(sample) <= 0.26 * 300
        assert s.double_coding_queue("ben", 0.2) == sample == s.double_coding_queue("chris", 0.2)
        assert s.double_coding_queue("anna", 0.2) == []  # nothing labeled by someone else
        # ben codes a few: they leave his queue, not chris's; more labels never reshuffle the sample
        for i in sample[:5]:
            s.annotate(i, ["price"], annotator="ben")
        assert s.double_coding_queue("ben", 0.2) == sample[5:]
        assert s.double_coding_queue("chris", 0.2) == sample
        for i in ids[300:]:
            s.annotate(i, [], annotator="anna")
        grown = s.double_coding_sample(0.2)
        assert [i for i in grown if i in set(ids[:300])] == sample
        assert s.double_coding_sample(0.5)[: len(sample)] != [] and set(sample) <= set(s.double_coding_sample(0.5))
