"""The project database: the only module that speaks SQL.

Contract: `Store(path)` opens (or creates) one SQLite file in WAL mode, refuses a file that is not
a whylabel database or was written by a newer whylabel, and brings an older one up to date with
versioned migrations (PRAGMA user_version). Every write is one transaction. Annotations are
append-only: a correction or an undo is a new row, and an item's current label (per annotator or
overall) is its newest annotation; a row whose `reasons` is NULL withdraws the label.
Adjudications (origin `adjudication`: a settled disagreement or a confirmed suspicious label) are
a track of their own: an item's overall label is its newest adjudication if that is not withdrawn,
else its newest other annotation; one annotator's labels never include adjudications.

One `Store` per thread: SQLite connections must not cross threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import StoreError
from .records import ItemRecord

APPLICATION_ID = 0x7768796C  # "whyl": marks a file as ours
DEFAULT_DB = "whylabel.db"


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------------------------
# Migrations: append only. Each function runs in its own transaction and bumps user_version.


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            file_sha256 TEXT,
            format TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            rows_read INTEGER DEFAULT 0,
            added INTEGER DEFAULT 0,
            duplicates INTEGER DEFAULT 0,
            skipped INTEGER DEFAULT 0,
            labels_added INTEGER DEFAULT 0,
            options TEXT
        );
        CREATE TABLE breakpoints (
            name TEXT PRIMARY KEY,
            moment TEXT,
            stage TEXT,
            reached INTEGER,
            dropped INTEGER,
            period TEXT,
            updated_at TEXT
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            external_id TEXT,
            source TEXT NOT NULL,
            breakpoint TEXT,
            text TEXT NOT NULL,
            lang TEXT,
            rating REAL,
            created_at TEXT,
            meta TEXT,
            import_id INTEGER REFERENCES imports(id)
        );
        CREATE INDEX items_breakpoint ON items(breakpoint);
        CREATE INDEX items_source ON items(source);
        CREATE TABLE annotations (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            annotator TEXT NOT NULL,
            reasons TEXT,
            note TEXT,
            origin TEXT NOT NULL DEFAULT 'ui',
            codebook_hash TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX annotations_item ON annotations(item_id, id);
        CREATE INDEX annotations_annotator ON annotations(annotator, id);
        CREATE TABLE suggestions (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            model_id TEXT NOT NULL,
            probabilities TEXT NOT NULL,
            evidence TEXT,
            reasons TEXT,
            confidence REAL,
            margin REAL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX suggestions_margin ON suggestions(margin);
        CREATE TABLE models (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT,
            codebook_hash TEXT,
            created_at TEXT NOT NULL,
            card TEXT
        );
        """
    )


def _m2_embeddings(db: sqlite_utils.Database) -> None:
    """Meaning vectors, computed once per item and encoder (float16 bytes), and which model is in use."""
    db.executescript(
        """
        CREATE TABLE embeddings (
            item_id INTEGER NOT NULL REFERENCES items(id),
            encoder TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (item_id, encoder)
        );
        """
    )


def _m3_funnel_periods(db: sqlite_utils.Database) -> None:
    """Behavioural figures per breakpoint and period (the breakpoints table keeps one row per
    breakpoint, so a funnel with several periods kept only its last); existing figures come along."""
    db.executescript(
        """
        CREATE TABLE funnel_periods (
            breakpoint TEXT NOT NULL,
            period TEXT NOT NULL,
            reached INTEGER,
            dropped INTEGER,
            updated_at TEXT,
            PRIMARY KEY (breakpoint, period)
        );
        INSERT INTO funnel_periods (breakpoint, period, reached, dropped, updated_at)
            SELECT name, period, reached, dropped, updated_at FROM breakpoints WHERE period IS NOT NULL;
        """
    )


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_m1_initial, _m2_embeddings, _m3_funnel_periods)
SCHEMA_VERSION = len(MIGRATIONS)


# ---------------------------------------------------------------------------------------------

_SAVE_SUGGESTION = ("INSERT OR REPLACE INTO suggestions (item_id, model_id, probabilities, evidence, reasons,"
                    " confidence, margin, created_at) VALUES (?,?,?,?,?,?,?,?)")


def _suggestion_params(row: dict, now: str) -> tuple:
    """A suggestion row (`Suggestion.to_row`) as the parameters of `_SAVE_SUGGESTION`."""
    return (row["item_id"], row["model_id"], json.dumps(row["probabilities"]),
            json.dumps(row.get("evidence") or {}, ensure_ascii=False), json.dumps(list(row.get("reasons") or [])),
            row.get("confidence"), row.get("margin"), now)


@dataclass
class ImportCounts:
    import_id: int = 0
    rows_read: int = 0
    added: int = 0
    duplicates: int = 0
    skipped: int = 0
    labels_added: int = 0
    skipped_why: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped += 1
        self.skipped_why[why] = self.skipped_why.get(why, 0) + 1


def _scope_filters(
    breakpoint: str | None, source: str | None, search: str | None, *, prefix: str = ""
) -> tuple[list[str], list[Any]]:
    """WHERE clauses for the queue filters the UI and the CLI share (search is a plain substring)."""
    where: list[str] = []
    params: list[Any] = []
    if breakpoint:
        where.append(f"{prefix}breakpoint = ?")
        params.append(breakpoint)
    if source:
        where.append(f"{prefix}source = ?")
        params.append(source)
    if search:
        where.append(f"{prefix}text LIKE ? ESCAPE '\\'")
        params.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return where, params


DatabaseError = sqlite3.Error  # what the faces catch, without importing sqlite3 themselves


def database_error_message(path: str | Path, exc: sqlite3.Error) -> str:
    """One line for an SQLite failure that says what happened to the file and what to do."""
    p = Path(path)
    text = str(exc)
    lowered = text.lower()
    if "disk is full" in lowered or ("disk i/o error" in lowered and _disk_full(p)):
        return (f"{p}: cannot write the database: no space left on device; free some space and run the "
                "command again (nothing of this run was saved)")
    if "malformed" in lowered or "disk image" in lowered:
        return (f"{p}: the database file is damaged ({text}); restore it from a backup, or start a new "
                "one with --db")
    if "readonly" in lowered or "read-only" in lowered or (
        "unable to open" in lowered and p.exists() and not os.access(p.parent, os.W_OK)
    ):
        where = p if p.exists() and not os.access(p, os.W_OK) else p.parent
        return (f"{p}: cannot write the database ({where} is read-only); make it writable or choose "
                "another file with --db")
    if "unable to open" in lowered:
        if not os.access(p.parent, os.W_OK):
            return f"{p}: cannot create the database ({p.parent} is read-only); choose another file with --db"
        return f"{p}: cannot open the database ({text}); check that the file can be read and written"
    if "locked" in lowered or "busy" in lowered:
        return f"{p}: the database is busy (another whylabel is writing to it); try again in a moment"
    if "not a database" in lowered:
        return f"{p}: not a whylabel database (not an SQLite file); choose another file with --db"
    return f"{p}: database error ({text})"


def _disk_full(path: Path) -> bool:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail == 0


class Store:
    def __init__(self, path: str | Path = DEFAULT_DB, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: database not found (run `whylabel import FILE` first)")
        conn = self._connect()
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._migrate()

    # -- opening -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a database file")
        if not self.path.parent.exists():
            raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            conn = sqlite3.connect(str(self.path), timeout=30)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type='table'"
            ).fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(database_error_message(self.path, exc)) from None
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            conn.close()
            raise StoreError(
                f"{self.path}: not a whylabel database (it holds another application's tables); "
                "choose another file with --db"
            )
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{self.path}: written by a newer whylabel (schema {version}; this version reads up "
                f"to {SCHEMA_VERSION}); upgrade whylabel to open it"
            )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(database_error_message(self.path, exc)) from None
        # NORMAL in WAL mode survives a killed process (not a power cut) and keeps commits cheap.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _migrate(self) -> None:
        version = self.schema_version
        for number, migration in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            with self.db.atomic():
                if number == 1:
                    self.db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                migration(self.db)
                self.db.execute(f"PRAGMA user_version={number}")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- import ---------------------------------------------------------------------------------

    def import_records(
        self,
        records: Iterable[ItemRecord],
        *,
        path: str,
        file_sha256: str | None = None,
        format: str | None = None,
        options: dict | None = None,
        annotator: str | None = None,
        codebook_hash: str | None = None,
        counts: ImportCounts | None = None,
    ) -> ImportCounts:
        """Store an export in one transaction: on any exception nothing of it remains."""
        counts = counts or ImportCounts()
        conn = self.db.conn
        now = utcnow()
        with self.db.atomic():
            cur = conn.execute(
                "INSERT INTO imports (path, file_sha256, format, started_at, options) VALUES (?,?,?,?,?)",
                (path, file_sha256, format, now, json.dumps(options or {}, ensure_ascii=False)),
            )
            import_id = cur.lastrowid
            counts.import_id = import_id
            known_breakpoints = {r[0] for r in conn.execute("SELECT name FROM breakpoints")}
            for rec in records:
                if rec.breakpoint and rec.breakpoint not in known_breakpoints:
                    conn.execute(
                        "INSERT INTO breakpoints (name, moment, stage, updated_at) VALUES (?,?,?,?)",
                        (rec.breakpoint, rec.moment, rec.stage, now),
                    )
                    known_breakpoints.add(rec.breakpoint)
                cur = conn.execute(
                    "INSERT OR IGNORE INTO items (hash, external_id, source, breakpoint, text, lang,"
                    " rating, created_at, meta, import_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (rec.hash, rec.external_id, rec.source, rec.breakpoint, rec.text, rec.lang,
                     rec.rating, rec.created_at,
                     json.dumps(rec.meta, ensure_ascii=False) if rec.meta else None, import_id),
                )
                if cur.rowcount:
                    counts.added += 1
                    item_id = cur.lastrowid
                    is_new = True
                else:
                    counts.duplicates += 1
                    item_id = conn.execute("SELECT id FROM items WHERE hash=?", (rec.hash,)).fetchone()[0]
                    is_new = False
                if rec.suggestion is not None:
                    conn.execute(_SAVE_SUGGESTION, _suggestion_params({**rec.suggestion, "item_id": item_id}, now))
                    if rec.suggestion.get("vector") is not None:
                        conn.execute("INSERT OR REPLACE INTO embeddings (item_id, encoder, vector) VALUES (?,?,?)",
                                     (item_id, rec.suggestion["encoder"], rec.suggestion["vector"]))
                if rec.reasons is not None and annotator:
                    if not is_new:
                        current = self._current_reasons(item_id, annotator)
                        if current is not None and tuple(current) == tuple(rec.reasons):
                            continue
                    conn.execute(
                        "INSERT INTO annotations (item_id, annotator, reasons, origin, codebook_hash,"
                        " created_at) VALUES (?,?,?,?,?,?)",
                        (item_id, annotator, json.dumps(list(rec.reasons)), "import", codebook_hash, now),
                    )
                    counts.labels_added += 1
            if not counts.rows_read and not counts.added and not counts.duplicates:
                # Nothing in the file (a header only): no import to record.
                conn.execute("DELETE FROM imports WHERE id=?", (import_id,))
                counts.import_id = 0
                return counts
            conn.execute(
                "UPDATE imports SET finished_at=?, rows_read=?, added=?, duplicates=?, skipped=?,"
                " labels_added=? WHERE id=?",
                (utcnow(), counts.rows_read, counts.added, counts.duplicates, counts.skipped,
                 counts.labels_added, import_id),
            )
        return counts

    def upsert_breakpoints(self, rows: Iterable[dict]) -> int:
        """Behavioural figures per breakpoint (and per period, when a row has one); keeps fields a
        row leaves empty."""
        n = 0
        now = utcnow()
        with self.db.atomic():
            for row in rows:
                self.db.execute(
                    "INSERT INTO breakpoints (name, moment, stage, reached, dropped, period, updated_at)"
                    " VALUES (:name, :moment, :stage, :reached, :dropped, :period, :now)"
                    " ON CONFLICT(name) DO UPDATE SET"
                    " moment=coalesce(excluded.moment, moment), stage=coalesce(excluded.stage, stage),"
                    " reached=coalesce(excluded.reached, reached), dropped=coalesce(excluded.dropped, dropped),"
                    " period=coalesce(excluded.period, period), updated_at=excluded.updated_at",
                    {"moment": None, "stage": None, "reached": None, "dropped": None, "period": None,
                     **row, "now": now},
                )
                if row.get("period"):
                    self.db.execute(
                        "INSERT INTO funnel_periods (breakpoint, period, reached, dropped, updated_at)"
                        " VALUES (?,?,?,?,?) ON CONFLICT(breakpoint, period) DO UPDATE SET"
                        " reached=coalesce(excluded.reached, reached), dropped=coalesce(excluded.dropped, dropped),"
                        " updated_at=excluded.updated_at",
                        (row["name"], row["period"], row.get("reached"), row.get("dropped"), now),
                    )
                n += 1
        return n

    # -- annotations ---------------------------------------------------------------------------

    def annotate(
        self,
        item_id: int,
        reasons: Sequence[str] | None,
        *,
        annotator: str,
        note: str | None = None,
        origin: str = "ui",
        codebook_hash: str | None = None,
    ) -> int:
        """Append one decision and commit it before returning (the UI relies on that)."""
        with self.db.atomic():
            cur = self.db.execute(
                "INSERT INTO annotations (item_id, annotator, reasons, note, origin, codebook_hash,"
                " created_at) VALUES (?,?,?,?,?,?,?)",
                (item_id, annotator, None if reasons is None else json.dumps(list(reasons)),
                 note, origin, codebook_hash, utcnow()),
            )
        return cur.lastrowid

    def _current_reasons(self, item_id: int, annotator: str | None = None) -> list[str] | None:
        ann = self.current_annotation(item_id, annotator)
        return None if ann is None else ann["reasons"]

    def current_annotation(self, item_id: int, annotator: str | None = None) -> dict | None:
        """The current label of an item (one annotator's own if given, else adjudicated first); None if unlabeled."""
        latest, params = self._latest_sql(annotator)
        row = self.db.execute(
            f"SELECT a.* FROM ({latest}) last JOIN annotations a ON a.id = last.id WHERE last.item_id=?",
            [*params, item_id]).fetchone()
        if row is None:
            return None
        ann = self._annotation_dict(row)
        return ann if ann["reasons"] is not None else None

    def adjudication(self, item_id: int) -> dict | None:
        """The item's newest adjudication, None if never adjudicated or withdrawn."""
        row = self.db.execute("SELECT * FROM annotations WHERE item_id=? AND origin='adjudication'"
                              " ORDER BY id DESC LIMIT 1", (item_id,)).fetchone()
        if row is None:
            return None
        ann = self._annotation_dict(row)
        return ann if ann["reasons"] is not None else None

    def annotations(self, item_id: int | None = None, annotator: str | None = None) -> list[dict]:
        """Full history, oldest first."""
        where, params = [], []
        if item_id is not None:
            where.append("item_id=?")
            params.append(item_id)
        if annotator:
            where.append("annotator=?")
            params.append(annotator)
        sql = "SELECT * FROM annotations" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._annotation_dict(r) for r in self.db.execute(sql + " ORDER BY id", params)]

    def _annotation_dict(self, row: tuple) -> dict:
        cols = ("id", "item_id", "annotator", "reasons", "note", "origin", "codebook_hash", "created_at")
        d = dict(zip(cols, row))
        d["reasons"] = None if d["reasons"] is None else json.loads(d["reasons"])
        return d

    def _latest_sql(self, annotator: str | None) -> tuple[str, list]:
        """SQL for the current annotation id per item: one annotator's newest own label, or the
        adjudicated label first, then the newest; labels withdrawn by undo are filtered later."""
        if annotator:
            return ("SELECT item_id, max(id) AS id FROM annotations WHERE annotator=? AND origin != 'adjudication'"
                    " GROUP BY item_id", [annotator])
        return (
            "SELECT g.item_id, CASE WHEN adj.reasons IS NOT NULL THEN g.adj_id ELSE g.own_id END AS id"
            " FROM (SELECT item_id, max(CASE WHEN origin = 'adjudication' THEN id END) AS adj_id,"
            " max(CASE WHEN origin != 'adjudication' THEN id END) AS own_id FROM annotations GROUP BY item_id) g"
            " LEFT JOIN annotations adj ON adj.id = g.adj_id", [])

    def labeled(self, annotator: str | None = None) -> list[dict]:
        """Items with their current label: what training and export read."""
        latest, params = self._latest_sql(annotator)
        sql = (
            f"SELECT i.id, i.text, i.lang, i.source, i.breakpoint, a.reasons, a.annotator, a.created_at,"
            f" i.external_id, a.origin, a.id"
            f" FROM ({latest}) last JOIN annotations a ON a.id = last.id JOIN items i ON i.id = a.item_id"
            f" WHERE a.reasons IS NOT NULL ORDER BY i.id"
        )
        out = []
        for r in self.db.execute(sql, params):
            out.append({"id": r[0], "text": r[1], "lang": r[2], "source": r[3], "breakpoint": r[4],
                        "reasons": json.loads(r[5]), "annotator": r[6], "labeled_at": r[7],
                        "external_id": r[8], "origin": r[9], "annotation_id": r[10]})
        return out

    # -- a team: coders, shared items, adjudication ---------------------------------------------

    def _coder_rows(self, annotators: Sequence[str] | None, breakpoint: str | None, *,
                    item_id: int | None = None) -> Iterator[tuple]:
        """(annotator, item_id, reasons JSON) of each annotator's newest own label per item."""
        inner = "" if item_id is None else "AND item_id = ? "
        params: list[Any] = [] if item_id is None else [item_id]
        where = ["a.reasons IS NOT NULL"]
        if annotators is not None:
            where.append(f"last.annotator IN ({','.join('?' * len(annotators))})")
            params += list(annotators)
        if breakpoint:
            where.append("i.breakpoint = ?")
            params.append(breakpoint)
        return self.db.execute(
            "SELECT last.annotator, last.item_id, a.reasons FROM (SELECT annotator, item_id, max(id) AS id"
            f" FROM annotations WHERE origin != 'adjudication' {inner}GROUP BY annotator, item_id) last"
            " JOIN annotations a ON a.id = last.id JOIN items i ON i.id = last.item_id"
            " WHERE " + " AND ".join(where) + " ORDER BY last.annotator, last.item_id", params)

    def annotators(self) -> dict[str, int]:
        """Everyone with a current own label, and on how many items (adjudications not counted)."""
        counts: dict[str, int] = {}
        for name, _, _ in self._coder_rows(None, None):
            counts[name] = counts.get(name, 0) + 1
        return counts

    def coder_labels(self, annotators: Sequence[str] | None = None, *,
                     breakpoint: str | None = None) -> dict[str, dict[int, list[str]]]:
        """Each annotator's newest own label per item: what agreement compares."""
        out: dict[str, dict[int, list[str]]] = {name: {} for name in annotators or ()}
        for name, item_id, reasons in self._coder_rows(annotators, breakpoint):
            out.setdefault(name, {})[item_id] = json.loads(reasons)
        return out

    def shared_items(self, annotators: Sequence[str] | None = None, *, breakpoint: str | None = None,
                     min_coders: int = 2) -> list[int]:
        """Items labeled by at least `min_coders` of the annotators (all coders if None), by id."""
        seen: dict[int, int] = {}
        for _, item_id, _ in self._coder_rows(annotators, breakpoint):
            seen[item_id] = seen.get(item_id, 0) + 1
        return sorted(i for i, n in seen.items() if n >= min_coders)

    def item_coder_labels(self, item_id: int) -> dict[str, list[str]]:
        """Each annotator's newest own label of one item (what an adjudicator compares)."""
        return {name: json.loads(reasons) for name, _, reasons in self._coder_rows(None, None, item_id=item_id)}

    def double_coding_sample(self, share: float) -> list[int]:
        """The labeled items (by anyone) chosen for double coding, in queue order.

        An item is in the sample when a hash of its id falls below `share`: the same items for
        every second coder and every day, whoever labeled first.
        """
        bucket = "((id * 2654435761) % 4294967296)"
        rows = self.db.execute(f"SELECT id FROM items WHERE {bucket} < ? ORDER BY {bucket}, id",
                               (int(share * 4294967296),))
        coded = {item for _, item, _ in self._coder_rows(None, None)}
        return [r[0] for r in rows if r[0] in coded]

    def double_coding_queue(self, annotator: str, share: float) -> list[int]:
        """Sampled items someone else labeled and `annotator` has not."""
        labels = self.coder_labels()
        mine = labels.get(annotator, {})
        others = {i for name, items in labels.items() if name != annotator for i in items}
        return [i for i in self.double_coding_sample(share) if i in others and i not in mine]

    def adjudication_queue(self, annotators: Sequence[str] | None = None) -> list[int]:
        """Items whose coders differ and that nobody has adjudicated yet, by id."""
        labels = self.coder_labels(annotators)
        by_item: dict[int, set[tuple[str, ...]]] = {}
        for items in labels.values():
            for item_id, reasons in items.items():
                by_item.setdefault(item_id, set()).add(tuple(sorted(reasons)))
        settled = self.adjudicated_items()
        return sorted(i for i, versions in by_item.items() if len(versions) > 1 and i not in settled)

    def adjudicated_items(self) -> set[int]:
        """Items with a current adjudication (settled or confirmed)."""
        return {r[0] for r in self.db.execute(
            "SELECT a.item_id FROM (SELECT item_id, max(id) AS id FROM annotations WHERE origin='adjudication'"
            " GROUP BY item_id) last JOIN annotations a ON a.id = last.id WHERE a.reasons IS NOT NULL")}

    # -- items and queues ----------------------------------------------------------------------

    def _where_in(self, sql: str, values: Iterable[Any], *, size: int = 500) -> Iterator[tuple]:
        """Run `sql` (with an `IN ({marks})` slot) over many values, in chunks SQLite accepts."""
        values = list(values)
        for start in range(0, len(values), size):
            chunk = values[start:start + size]
            yield from self.db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    def item(self, item_id: int) -> dict | None:
        row = self.db.execute(
            "SELECT i.id, i.external_id, i.source, i.breakpoint, b.moment, b.stage, i.text, i.lang,"
            " i.rating, i.created_at, i.meta FROM items i LEFT JOIN breakpoints b ON b.name = i.breakpoint"
            " WHERE i.id=?",
            (item_id,),
        ).fetchone()
        if row is None:
            return None
        cols = ("id", "external_id", "source", "breakpoint", "moment", "stage", "text", "lang",
                "rating", "created_at", "meta")
        d = dict(zip(cols, row))
        d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
        return d

    def count_items(self) -> int:
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]

    def queue(
        self,
        *,
        order: str = "newest",
        annotator: str | None = None,
        breakpoint: str | None = None,
        source: str | None = None,
        search: str | None = None,
        unlabeled: bool = True,
        seed: int = 0,
    ) -> list[int]:
        """Item ids to label, in queue order; nothing is ever dropped, only ordered.

        With `annotator`, an item counts as labeled only when that annotator labeled it (blind
        reliability coding); without, any current label takes it out of the queue.
        """
        where, params = [], []
        if unlabeled:
            latest, lparams = self._latest_sql(annotator)
            where.append(
                f"i.id NOT IN (SELECT a.item_id FROM ({latest}) last JOIN annotations a ON a.id = last.id"
                f" WHERE a.reasons IS NOT NULL)"
            )
            params += lparams
        scope, scope_params = _scope_filters(breakpoint, source, search, prefix="i.")
        where += scope
        params += scope_params
        orders = {
            "newest": "i.created_at DESC NULLS LAST, i.id DESC",
            "oldest": "i.id",
            "breakpoint": "i.breakpoint NULLS LAST, i.id",
            "random": f"((i.id * 2654435761 + {int(seed)}) % 4294967296)",
            "uncertain": "s.margin ASC NULLS LAST, i.id",
        }
        if order not in orders:
            raise ValueError(f"unknown queue order {order!r} (expected one of: {', '.join(orders)})")
        sql = "SELECT i.id FROM items i"
        if order == "uncertain":
            sql += " LEFT JOIN suggestions s ON s.item_id = i.id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + orders[order]
        return [r[0] for r in self.db.execute(sql, params)]

    def labeled_by(self, annotator: str) -> list[int]:
        """Item ids this annotator decided on, in the order of their latest decision."""
        rows = self.db.execute(
            "SELECT item_id FROM annotations WHERE annotator=? AND origin != 'import'"
            " GROUP BY item_id ORDER BY max(id)",
            (annotator,),
        )
        return [r[0] for r in rows]

    def reason_counts(self, annotator: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.labeled(annotator):
            for r in row["reasons"] or ["none"]:
                counts[r] = counts.get(r, 0) + 1
        return counts

    def breakpoints(self) -> list[dict]:
        cur = self.db.execute("SELECT name, moment, stage, reached, dropped, period FROM breakpoints ORDER BY name")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur]

    def funnel_periods(self) -> list[dict]:
        """Reached and dropped per breakpoint and period, in period order (ISO periods sort as text)."""
        cur = self.db.execute("SELECT breakpoint, period, reached, dropped FROM funnel_periods"
                              " ORDER BY breakpoint, period")
        return [dict(zip(("breakpoint", "period", "reached", "dropped"), r)) for r in cur]

    def items_by_source(self) -> list[tuple[str | None, str, int]]:
        """(breakpoint, source, items), labeled or not: what customers said, and where."""
        return list(self.db.execute("SELECT breakpoint, source, count(*) FROM items GROUP BY breakpoint, source"
                                    " ORDER BY breakpoint, source"))

    def report_labels(self, annotator: str | None = None) -> Iterator[tuple]:
        """Every item with a current human label or a stored suggestion, for the why report:
        (item_id, breakpoint, human reasons JSON or None, suggested reasons JSON or None,
        suggestion probabilities JSON or None, suggestion evidence JSON or None, model_id or None,
        text length). An item a person labeled carries its human label; the suggestion of an
        unlabeled item is a model label."""
        latest, params = self._latest_sql(annotator)
        # A model label is the suggestion of an item nobody labeled (with --annotator: not only not them).
        anyone, anyone_params = self._latest_sql(None) if annotator else (None, [])
        sql = (
            "SELECT i.id, i.breakpoint, a.reasons, s.reasons, s.probabilities, s.evidence, s.model_id, length(i.text)"
            f" FROM items i LEFT JOIN ({latest}) last ON last.item_id = i.id"
            " LEFT JOIN annotations a ON a.id = last.id AND a.reasons IS NOT NULL"
            + (f" LEFT JOIN ({anyone}) anyl ON anyl.item_id = i.id"
               " LEFT JOIN annotations b ON b.id = anyl.id AND b.reasons IS NOT NULL" if anyone else "")
            + " LEFT JOIN suggestions s ON s.item_id = i.id"
            " WHERE a.id IS NOT NULL OR (s.item_id IS NOT NULL" + (" AND b.id IS NULL)" if anyone else ")")
        )
        params = [*params, *anyone_params]
        cur = self.db.conn.cursor()
        cur.arraysize = 2000
        cur.execute(sql, params)
        while batch := cur.fetchmany():
            yield from batch

    def model_cards(self) -> dict[str, dict]:
        """Cards of the models trained into this project (by model id): their held-out metrics."""
        return {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT id, card FROM models WHERE card IS NOT NULL")}

    def sources(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT source FROM items ORDER BY source")]

    # -- suggestions and models ----------------------------------------------------------------

    def save_suggestions(self, rows: Iterable[dict]) -> int:
        """Replace suggestions in place: one row per item, newest model wins."""
        now = utcnow()
        n = 0
        with self.db.atomic():
            for row in rows:
                self.db.execute(_SAVE_SUGGESTION, _suggestion_params(row, now))
                n += 1
        return n

    def suggestion(self, item_id: int) -> dict | None:
        row = self.db.execute(
            "SELECT item_id, model_id, probabilities, evidence, reasons, confidence, margin, created_at"
            " FROM suggestions WHERE item_id=?",
            (item_id,),
        ).fetchone()
        if row is None:
            return None
        return self._suggestion_dict(row)

    def _suggestion_dict(self, row: tuple) -> dict:
        cols = ("item_id", "model_id", "probabilities", "evidence", "reasons", "confidence", "margin",
                "created_at")
        d = dict(zip(cols, row))
        for k in ("probabilities", "evidence", "reasons"):
            d[k] = json.loads(d[k]) if d[k] else ({} if k != "reasons" else [])
        return d

    def items_without_labels(self, limit: int | None = None) -> Iterator[dict]:
        """Unlabeled items (by anyone), for filling suggestions."""
        ids = self.queue(order="oldest")
        if limit is not None:
            ids = ids[:limit]
        for r in self._where_in("SELECT id, text, lang FROM items WHERE id IN ({marks}) ORDER BY id", ids):
            yield {"id": r[0], "text": r[1], "lang": r[2]}

    def embeddings(self, item_ids: Iterable[int], encoder: str) -> dict[int, bytes]:
        """The stored vectors (float16 bytes) of these items, by item id; missing ones are absent."""
        ids = list(item_ids)
        return dict(self._where_in(
            f"SELECT item_id, vector FROM embeddings WHERE encoder={encoder!r} AND item_id IN ({{marks}})", ids))

    def save_embeddings(self, encoder: str, rows: Iterable[tuple[int, bytes]]) -> int:
        n = 0
        with self.db.atomic():
            for item_id, vector in rows:
                self.db.execute("INSERT OR REPLACE INTO embeddings (item_id, encoder, vector) VALUES (?,?,?)",
                                (item_id, encoder, vector))
                n += 1
        return n

    def register_model(self, *, model_id: str, name: str, path: str, codebook_hash: str, card: dict) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT OR REPLACE INTO models (id, name, path, codebook_hash, created_at, card)"
                " VALUES (?,?,?,?,?,?)",
                (model_id, name, path, codebook_hash, utcnow(), json.dumps(card, ensure_ascii=False)),
            )

    # -- export ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that all see one state of the database (an export's two passes), whatever a
        labeling session writes meanwhile."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def export_import_ids(self, annotator: str | None = None) -> list[int | None]:
        """The imports of the items `export_rows` yields, in the order of each one's first item."""
        latest, params = self._latest_sql(annotator)
        sql = (f"SELECT i.import_id FROM ({latest}) last JOIN annotations a ON a.id = last.id"
               " JOIN items i ON i.id = a.item_id WHERE a.reasons IS NOT NULL"
               " GROUP BY i.import_id ORDER BY min(i.id)")
        return [row[0] for row in self.db.execute(sql, params)]

    def import_options(self) -> dict[int, dict]:
        """Each import's options: the column mapping and the file's header."""
        return {row[0]: json.loads(row[1]) if row[1] else {}
                for row in self.db.execute("SELECT id, options FROM imports")}

    def export_rows(self, annotator: str | None = None) -> Iterator[dict]:
        """One row per item with a current label, joined with its breakpoint and suggestion; `meta`
        is the stored JSON text (parsed by whoever needs it)."""
        latest, params = self._latest_sql(annotator)
        sql = (
            "SELECT i.id, i.external_id, i.source, i.breakpoint, b.moment, b.stage, i.lang, i.rating,"
            " i.created_at, i.text, a.reasons, a.annotator, a.created_at, a.note, s.reasons, s.confidence,"
            " s.model_id, i.meta, i.import_id"
            f" FROM ({latest}) last JOIN annotations a ON a.id = last.id"
            " JOIN items i ON i.id = a.item_id"
            " LEFT JOIN breakpoints b ON b.name = i.breakpoint"
            " LEFT JOIN suggestions s ON s.item_id = i.id"
            " WHERE a.reasons IS NOT NULL ORDER BY i.id"
        )
        cols = ("item_id", "external_id", "source", "breakpoint", "moment", "stage", "lang", "rating",
                "created_at", "text", "reasons", "annotator", "labeled_at", "note", "suggested_reasons",
                "suggestion_confidence", "model_id", "meta", "import_id")
        cur = self.db.conn.cursor()
        cur.arraysize = 1000
        cur.execute(sql, params)
        while batch := cur.fetchmany():
            for r in batch:
                d = dict(zip(cols, r))
                d["reasons"] = json.loads(d["reasons"])
                d["suggested_reasons"] = json.loads(d["suggested_reasons"]) if d["suggested_reasons"] else None
                yield d

    # -- labeling UI (tui) ---------------------------------------------------------------------

    def count_scope(self, *, breakpoint: str | None = None, source: str | None = None,
                    search: str | None = None) -> int:
        """How many items a queue filter covers, labeled or not (the "total" of the progress line)."""
        where, params = _scope_filters(breakpoint, source, search)
        sql = "SELECT count(*) FROM items" + (" WHERE " + " AND ".join(where) if where else "")
        return self.db.execute(sql, params).fetchone()[0]

    def suggested_with(self, reason: str) -> set[int]:
        """Items whose stored suggestion includes `reason` (the UI's "filter by reason")."""
        rows = self.db.execute(
            "SELECT s.item_id FROM suggestions s WHERE EXISTS"
            " (SELECT 1 FROM json_each(s.reasons) j WHERE j.value = ?)",
            (reason,),
        )
        return {r[0] for r in rows}

    def disagreements(self, annotator: str | None = None) -> list[int]:
        """Labeled items whose current label differs from their stored suggestion, oldest label first."""
        latest, params = self._latest_sql(annotator)
        sql = (
            f"SELECT a.item_id, a.reasons, s.reasons FROM ({latest}) last"
            " JOIN annotations a ON a.id = last.id JOIN suggestions s ON s.item_id = a.item_id"
            " WHERE a.reasons IS NOT NULL ORDER BY a.id"
        )
        return [r[0] for r in self.db.execute(sql, params)
                if set(json.loads(r[1])) != set(json.loads(r[2]) if r[2] else [])]

    def suggestions_for(self, item_ids: Sequence[int]) -> dict[int, dict]:
        """Stored suggestions of many items in one query (keyed by item id)."""
        out: dict[int, dict] = {}
        for row in self._where_in(
            "SELECT item_id, model_id, probabilities, evidence, reasons, confidence, margin, created_at"
            " FROM suggestions WHERE item_id IN ({marks})", item_ids,
        ):
            out[row[0]] = self._suggestion_dict(row)
        return out

    def texts(self, item_ids: Sequence[int]) -> list[tuple[int, str, str | None]]:
        """(id, text, lang) of many items, in the order asked (unknown ids are left out)."""
        found: dict[int, tuple[int, str, str | None]] = {}
        ids = list(item_ids)
        for r in self._where_in("SELECT id, text, lang FROM items WHERE id IN ({marks})", ids):
            found[r[0]] = (r[0], r[1], r[2])
        return [found[i] for i in ids if i in found]

    # -- batch predict ---------------------------------------------------------------------------

    def item_ids_by_hash(self, hashes: Sequence[str]) -> dict[str, int]:
        """Item ids of content hashes (those stored so far, inside an open import too)."""
        out: dict[str, int] = {}
        for r in self._where_in("SELECT hash, id FROM items WHERE hash IN ({marks})", dict.fromkeys(hashes)):
            out[r[0]] = r[1]
        return out
