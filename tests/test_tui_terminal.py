"""`whylabel label` in a real pseudo-terminal: decisions shown as saved survive a SIGKILL; keys typed
ahead during a background retrain land, in order, on the items they were typed for."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from tui_helpers import annotations, make_db, make_queue_db

pexpect = pytest.importorskip("pexpect")


def descendants(pid: int) -> list[int]:
    """Child processes (recursively) from /proc: the suggester processes the UI spawned."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"

pytestmark = pytest.mark.slow

ESC = rb"(?:\x1b\[[0-9;]*m)*"  # style changes between segments of one line
SAVED = re.compile(rb"(saved|relabeled) #(\d+): " + ESC + rb"([a-z, ]+?)" + ESC + rb" \xc2\xb7 (\d+) this session")


def spawn_label(db: Path, *args: str, retrain_every: int = 0):
    env = {**os.environ, "TERM": "xterm-256color", "WHYLABEL_ANNOTATOR": "pty", "COLUMNS": "100", "LINES": "30"}
    env.pop("CI", None)
    exe = str(Path(sys.executable).with_name("whylabel"))
    # cwd: a retrained model is saved under ./models
    return pexpect.spawn(exe, ["label", "--db", str(db), "--queue", "newest", "--retrain-every", str(retrain_every),
                               *args], env=env, dimensions=(30, 100), timeout=20, cwd=str(db.parent))


class Drain(threading.Thread):
    """Reads the screen while keys are sent, as a terminal does: a full pty would stall the UI."""

    def __init__(self, child):
        super().__init__(daemon=True)
        self.child = child
        self.screen = bytearray()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.screen += self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)


def test_sigkill_loses_no_decision_shown_as_saved(tmp_path):
    db = tmp_path / "pty.db"
    make_db(db)
    child = spawn_label(db)
    helpers: list = []
    try:
        child.expect("labeled")  # the progress line: the first item is on screen
        shown: dict[int, str] = {}
        for keys in ("0", "4\r", "0", "1\r", "u", "0"):
            child.send(keys)
            if keys == "u":
                child.expect("undone: #(\\d+)")
                shown.pop(int(child.match.group(1)))
                continue
            child.expect(SAVED)
            item, what = int(child.match.group(2)), child.match.group(3).decode()
            shown[item] = what
        helpers = descendants(child.pid) if Path("/proc").is_dir() else []
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)
    labels = {}
    for item, reasons, _, _ in annotations(db, "pty"):
        labels[item] = reasons
    stored = {i: ", ".join(r) if r else "no breakpoint reason" for i, r in labels.items() if r is not None}
    assert len(shown) == 4 and stored == shown
    # The suggester processes do not outlive the UI they served.
    deadline = time.monotonic() + 15
    while any(alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftovers = [p for p in helpers if alive(p)]
    for p in leftovers:
        os.kill(p, signal.SIGKILL)
    assert not leftovers


def test_reopening_continues_where_the_researcher_stopped(tmp_path):
    db = tmp_path / "pty.db"
    make_db(db)
    child = spawn_label(db)
    child.expect("labeled")
    child.send("0")
    child.expect(SAVED)
    child.send("q")
    child.expect("1 decision saved to")
    child.expect(pexpect.EOF)
    child = spawn_label(db)
    try:
        child.expect("1/8 labeled")
        child.expect(re.compile(rb"#2" + ESC + rb" X-2"))  # the next item, not the one already labeled
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)


def test_keys_typed_ahead_during_a_background_retrain_land_in_order(tmp_path):
    """1 + enter sent 60 times 30 ms apart, then 40 times at once, while the model retrains: each
    decision is trust, for the next item of the queue, none lost or doubled."""
    db = tmp_path / "ahead.db"
    queue = make_queue_db(db, 240, labeled=60)  # enough labels for the retrain
    child = spawn_label(db, retrain_every=5)
    drain = None
    try:
        child.expect("labeled")
        child.expect(rb"model: (?!loading)", timeout=60)
        child.expect("\u2591".encode(), timeout=60)  # a probability bar: suggestions pre-select reasons now
        drain = Drain(child)
        drain.start()
        child.send("s")  # the first item goes to the end: every key below is typed ahead of its item
        for _ in range(60):
            time.sleep(0.03)
            child.send("1")
            time.sleep(0.03)
            child.send("\r")
        child.send("1\r" * 40)
        deadline = time.monotonic() + 60
        while len(annotations(db, "pty")) < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # nothing more arrives
        drain.stop()
        assert b"training in the background" in drain.screen  # the retrain ran while keys came in
        child.send("q")
        child.expect(r"\d+ decisions? saved to")
        child.expect(pexpect.EOF)
    finally:
        if drain is not None:
            drain.stop()
        if child.isalive():
            child.kill(signal.SIGKILL)
    rows = annotations(db, "pty")
    assert [r[0] for r in rows if "trust" not in r[1]] == []
    assert [r[0] for r in rows] == queue[1:101]
