"""Shared fixtures: every test runs in its own directory with its own database and annotator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from whylabel.cli import main
from whylabel.codebook import load_codebook
from whylabel.resources import sample_dir
from whylabel.store import Store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Keep tests away from a researcher's real whylabel.db and environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WHYLABEL_DB", raising=False)
    monkeypatch.delenv("WHYLABEL_CODEBOOK", raising=False)
    monkeypatch.setenv("WHYLABEL_ANNOTATOR", "tester")


@pytest.fixture(scope="session")
def codebook():
    return load_codebook()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "test.db"


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def cli():
    """Run the CLI in-process; returns click's Result (stdout and stderr kept apart)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


def sample_reviews() -> tuple[list[str], list[str]]:
    """(texts, languages) of the bundled product reviews: hand-written text in both languages."""
    texts, langs = [], []
    with open(sample_dir() / "product_reviews.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["review"])
            langs.append(row["language"])
    return texts, langs


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def db_snapshot(db_path: Path) -> dict:
    """Everything stored, table by table: to assert a failed command changed nothing."""
    s = Store(db_path)
    try:
        return {
            t: list(s.db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall())
            for t in ("items", "annotations", "imports", "breakpoints", "suggestions", "models")
        }
    finally:
        s.close()
