"""Store: migrations, append-only annotations, queues, suggestions."""

from __future__ import annotations

import sqlite3

import pytest

from whylabel import store as store_mod
from whylabel.errors import StoreError
from whylabel.records import ItemRecord
from whylabel.store import Store

NEXT = store_mod.SCHEMA_VERSION + 1  # a migration added on top of the current schema


def add_items(s: Store, texts: list[str], **kw) -> list[int]:
    recs = [ItemRecord(hash=f"h{i}-{t}", source="survey", text=t, created_at=f"2026-01-{i + 1:02d}", **kw)
            for i, t in enumerate(texts)]
    s.import_records(recs, path="mem")
    return [r[0] for r in s.db.execute("SELECT id FROM items ORDER BY id")]


def test_migrations_on_empty_database(db_path):
    with Store(db_path) as s:
        assert s.schema_version == store_mod.SCHEMA_VERSION
        assert set(s.db.table_names()) >= {"items", "annotations", "suggestions", "breakpoints", "models", "imports"}
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("PRAGMA application_id").fetchone()[0] == store_mod.APPLICATION_ID


def test_migrations_on_existing_database_keep_data(db_path, monkeypatch):
    with Store(db_path) as s:
        [item] = add_items(s, ["te duur"])
        s.annotate(item, ["price"], annotator="a")

    def m2(db):
        db.execute("ALTER TABLE items ADD COLUMN channel_detail TEXT")

    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS + (m2,))
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", NEXT)
    with Store(db_path) as s:
        assert s.schema_version == NEXT
        assert "channel_detail" in s.db["items"].columns_dict
        assert s.current_annotation(item)["reasons"] == ["price"]
    # Opening again applies nothing twice.
    with Store(db_path) as s:
        assert s.schema_version == NEXT


def test_failed_migration_leaves_database_at_old_version(db_path, monkeypatch):
    with Store(db_path) as s:
        add_items(s, ["x"])

    def broken(db):
        db.execute("ALTER TABLE items ADD COLUMN y TEXT")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS + (broken,))
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", NEXT)
    with pytest.raises(RuntimeError):
        Store(db_path)
    with sqlite3.connect(db_path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == NEXT - 1
        assert "y" not in [r[1] for r in c.execute("PRAGMA table_info(items)")]


def test_refuses_foreign_and_newer_files(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not a whylabel database"):
        Store(other)
    newer = tmp_path / "newer.db"
    Store(newer).close()
    with sqlite3.connect(newer) as c:
        c.execute("PRAGMA user_version=7")
    with pytest.raises(StoreError, match="newer whylabel"):
        Store(newer)
    with pytest.raises(StoreError, match="database not found"):
        Store(tmp_path / "missing.db", create=False)


def test_annotations_are_append_only_and_undo_withdraws(store):
    a, b = add_items(store, ["een", "twee"])
    store.annotate(a, ["price"], annotator="ann")
    store.annotate(a, ["price", "terms"], annotator="ann", note="ook retour")
    store.annotate(b, [], annotator="bob")
    assert store.current_annotation(a)["reasons"] == ["price", "terms"]
    assert store.current_annotation(a)["note"] == "ook retour"
    assert store.current_annotation(b, "ann") is None
    store.annotate(a, None, annotator="ann", origin="undo")
    assert store.current_annotation(a) is None
    assert [h["reasons"] for h in store.annotations(a)] == [["price"], ["price", "terms"], None]
    assert [r["id"] for r in store.labeled()] == [b]
    assert store.queue() == [a]
    # Per annotator (blind coding): bob has not labeled a; ann has labeled nothing now.
    assert store.queue(annotator="bob") == [a]
    assert store.queue(annotator="ann", order="oldest") == [a, b]


def test_queue_orders_and_filters(store):
    ids = add_items(store, ["alpha één", "beta twee", "gamma drie"])
    assert store.queue(order="newest") == ids[::-1]
    assert store.queue(order="oldest") == ids
    assert sorted(store.queue(order="random", seed=3)) == ids
    assert store.queue(search="TWEE") == [ids[1]]
    assert store.queue(search="%") == []
    store.save_suggestions([
        {"item_id": ids[0], "model_id": "m", "probabilities": {"price": 0.9}, "margin": 0.8},
        {"item_id": ids[2], "model_id": "m", "probabilities": {"price": 0.5}, "margin": 0.0},
    ])
    # Uncertain first; an item without a suggestion is last, never dropped.
    assert store.queue(order="uncertain") == [ids[2], ids[0], ids[1]]
    store.save_suggestions([{"item_id": ids[2], "model_id": "m2", "probabilities": {"price": 0.99}, "margin": 0.98}])
    assert store.suggestion(ids[2])["model_id"] == "m2"
    assert store.db.execute("SELECT count(*) FROM suggestions").fetchone()[0] == 2


def test_import_is_one_transaction(store):
    add_items(store, ["bestaand"])

    def records():
        yield ItemRecord(hash="new1", source="review", text="nieuw")
        raise ValueError("broken row")

    with pytest.raises(ValueError):
        store.import_records(records(), path="x.csv")
    assert [r[0] for r in store.db.execute("SELECT text FROM items")] == ["bestaand"]
    assert store.db.execute("SELECT count(*) FROM imports").fetchone()[0] == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError) as err:
        Store(tmp_path / "nope" / "x.db")
    assert str(err.value) == f"{tmp_path / 'nope' / 'x.db'}: folder {tmp_path / 'nope'} does not exist"
