"""Benchmarks of the labeling UI on a large database (run on demand, not a test).

    python benchmarks/bench_tui.py                 # 100,000 items, 5,000 labels, 500 decisions
    python benchmarks/bench_tui.py --items 20000   # quicker

Figures printed:
  startup    launch of `whylabel label` in a pseudo-terminal -> first item on screen (median of 3)
  keystroke  key event posted (as the terminal driver does) -> next item drawn (after the
             screen refresh), over N keys (p50 / p99 / max), with the default engine (suggester in
             a child process) running and filling the queue's suggestions
  stall      the longest the UI event loop was late (5 ms timer) while a retrain on all labels runs
             in the background, idle and while labeling
The database is built once (sample feedback sentences recombined) and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from textual import events  # noqa: E402

from whylabel.codebook import load_codebook  # noqa: E402

KEY_CHARS = {"0": "0", "enter": "\r", "s": "s", "1": "1"}
from whylabel.records import ItemRecord  # noqa: E402
from whylabel.resources import sample_dir  # noqa: E402
from whylabel.store import Store  # noqa: E402


def as_in_a_terminal(app):
    """`run_test` is headless, where the app leaves the collector alone; a real terminal freezes
    what exists after mount and after the model loads (LabelApp.freeze_objects). Measure that."""
    type(app).freeze_gc = True
    return app


class StallMeter:
    """How late the event loop ran a 5 ms timer: the longest UI stall since the last reset."""

    def __init__(self, app, every: float = 0.005):
        self.every = every
        self.max_stall = 0.0
        self._last = time.perf_counter()
        app.set_interval(every, self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_stall = max(self.max_stall, now - self._last - self.every)
        self._last = now

    def take(self) -> float:
        """The longest stall so far; starts over."""
        worst, self.max_stall = self.max_stall, 0.0
        return worst


def sample_rows() -> list[tuple[str, str | None, tuple[str, ...] | None, str]]:
    """(text, lang, reasons or None, breakpoint) from the bundled sample."""
    import csv

    book = load_codebook()
    out = []
    d = sample_dir()
    with open(d / "survey_answers.csv", encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            out.append((r["answer"], r.get("lang"), book.parse_reasons(r["reasons"]), r["breakpoint"]))
    with open(d / "product_reviews.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out.append((r["review"], r.get("language"), book.parse_reasons(r["reasons"]), r["breakpoint"]))
    with open(d / "support_tickets.csv", encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f, delimiter=";"):
            out.append((r["message"], None, book.parse_reasons(r["reasons"]), r["breakpoint"]))
    return [r for r in out if r[0].strip()]


def build_db(path: Path, items: int, labels: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    rows = sample_rows()
    labeled = [r for r in rows if r[2] is not None]
    book = load_codebook()
    t0 = time.perf_counter()
    recs = []
    for i in range(items):
        a = rng.choice(labeled if i < labels else rows)
        b = rng.choice(labeled) if rng.random() < 0.3 else None
        text = a[0] if b is None else f"{a[0]} {b[0]}"
        reasons = None
        if i < labels:
            reasons = tuple(n for n in book.reason_names if n in set(a[2] or ()) | set((b[2] or ()) if b else ()))
        recs.append(ItemRecord(hash=f"bench-{i}", source=rng.choice(["survey", "review", "ticket"]),
                               text=text, external_id=f"B-{i}", breakpoint=a[3], lang=a[1],
                               rating=float(rng.randint(1, 5)),
                               created_at=f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00",
                               meta={"shop": "bench", "n": i}, reasons=reasons))
    with Store(path) as s:
        s.import_records(recs, path="bench", annotator="bench")
    print(f"built {path.name}: {items:,} items, {labels:,} labeled in {time.perf_counter() - t0:.1f} s")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_startup(db: Path, runs: int = 3) -> list[float]:
    import pexpect

    env = {**os.environ, "TERM": "xterm-256color", "WHYLABEL_ANNOTATOR": "bench-start"}
    exe = str(Path(sys.executable).with_name("whylabel"))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        child = pexpect.spawn(exe, ["label", "--db", str(db), "--retrain-every", "0"], env=env,
                              dimensions=(40, 120), timeout=30)
        child.expect("rating")  # the item header line is drawn
        times.append(time.perf_counter() - t0)
        child.send("q")
        child.expect(pexpect.EOF)
    return times


async def bench_keys(db: Path, decisions: int, model: str | None = None) -> dict:
    from whylabel.tui.app import build_app

    book = load_codebook()
    app = as_in_a_terminal(build_app(db, book, annotator="bench-keys", retrain_every=0, queue="uncertain",
                                     model=model))
    app_times: list[float] = []
    key_times: list[float] = []
    pending: dict = {}

    stuck: list[str] = []

    def shown(item_id):
        if "t0" in pending and item_id != pending.get("before"):
            app_times.append(time.perf_counter() - pending.pop("t0"))
            fut = pending.pop("done", None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    decide_times: list[float] = []
    session = app.label_screen.session
    real_decide = session.decide

    def timed_decide(reasons):
        t0 = time.perf_counter()
        try:
            return real_decide(reasons)
        finally:
            decide_times.append(time.perf_counter() - t0)

    session.decide = timed_decide
    import gc

    gc_pauses: list[float] = []
    gc_start: dict = {}

    def on_gc(phase, info):
        if phase == "start":
            gc_start["t"] = time.perf_counter()
        elif "t" in gc_start:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_start.pop("t")))

    gc.callbacks.append(on_gc)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.label_screen
        screen.on_shown = shown
        # Let the suggester child load (as a researcher reading the first item would).
        for _ in range(200):
            if screen.model_id:
                break
            await asyncio.sleep(0.1)
        await pilot.pause()
        keys = ["0", "enter", "s", "0", "enter"]
        loop = asyncio.get_running_loop()
        for n in range(decisions):
            key = keys[n % len(keys)]
            # What a terminal does: the driver posts a Key event; then wait until the next item is drawn.
            done = loop.create_future()
            pending["before"] = screen.session.current().item["id"]
            pending["t0"] = time.perf_counter()
            pending["done"] = done
            t0 = time.perf_counter()
            app.post_message(events.Key(key, KEY_CHARS[key]))
            try:
                await asyncio.wait_for(done, 2)
            except TimeoutError:
                stuck.append(key)
                pending.clear()
                continue
            key_times.append(time.perf_counter() - t0)
        await pilot.pause()
    gc.callbacks.remove(on_gc)
    worst = sorted(gc_pauses, key=lambda g: -g[1])[:5]
    print("gc pauses (generation, ms), worst:", [(g, round(t * 1000, 1)) for g, t in worst],
          "count", len(gc_pauses))
    worst = sorted(range(len(key_times)), key=lambda i: -key_times[i])[:5]
    print("slowest keys (index, ms):", [(i, round(key_times[i] * 1000, 1)) for i in worst])
    if stuck:
        print(f"{len(stuck)} keys did not move on (enter before a suggestion was there): {stuck[:10]}")
    return {"key": key_times, "app": app_times, "commit": decide_times}


async def bench_stall(db: Path, labeling_keys: int) -> dict:
    from whylabel.tui.app import build_app

    book = load_codebook()
    models = Path(tempfile.mkdtemp(prefix="whylabel-bench-models-"))
    cwd = os.getcwd()
    os.chdir(models)  # the retrained model is saved under ./models: keep it out of the checkout
    try:
        app = as_in_a_terminal(build_app(db, book, annotator="bench-stall", retrain_every=0, queue="newest"))
        out = {}
        async with app.run_test(size=(120, 40)) as pilot:
            meter = StallMeter(app)
            screen = app.label_screen
            for _ in range(200):
                if screen.model_id:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            meter.take()
            t0 = time.perf_counter()
            await pilot.press("t")
            idle_until = t0 + 8
            pressed = 0
            while screen._training:
                await asyncio.sleep(0.05)
                if time.perf_counter() > idle_until and pressed == 0:
                    out["stall_idle"] = meter.take()  # first seconds: no keys, only the retrain
                if time.perf_counter() > idle_until and pressed < labeling_keys:
                    app.post_message(events.Key("0", "0"))
                    pressed += 1
                    await asyncio.sleep(0.2)  # a fast researcher: 5 decisions a second
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError("retrain did not finish in 10 minutes")
            out["train_seconds"] = time.perf_counter() - t0
            worst = meter.take()
            out.setdefault("stall_idle", worst)
            out["stall_labeling"] = worst if pressed else None
            out["keys_during_training"] = pressed
            out["message"] = str(screen.message)
            await asyncio.sleep(5)  # the child now fills the new model's suggestions for the queue
            out["stall_fill"] = meter.take()
    finally:
        os.chdir(cwd)
        shutil.rmtree(models, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--labels", type=int, default=5_000)
    ap.add_argument("--decisions", type=int, default=500)
    ap.add_argument("--db", type=Path, default=None, help="default: a cached file in the temp directory")
    ap.add_argument("--skip", nargs="*", default=[], choices=["startup", "keys", "stall"])
    ap.add_argument("--model", default=None, help="model name or path for the keys run (default: as `label` picks)")
    args = ap.parse_args()
    cached = args.db or Path(tempfile.gettempdir()) / f"whylabel-bench-{args.items}-{args.labels}.db"
    if not cached.exists():
        build_db(cached, args.items, args.labels)
    db = cached.with_name(cached.stem + "-run.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(cached, db)
    print(f"database: {db} ({args.items:,} items, {args.labels:,} labeled)")

    if "startup" not in args.skip:
        times = bench_startup(db)
        print(f"startup: first item on screen after {statistics.median(times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)}; target <= 1.2 s)")
    if "keys" not in args.skip:
        r = asyncio.run(bench_keys(db, args.decisions, args.model))
        for name, values in (("key event -> next item drawn", r["key"]),
                             ("of which the committed decision", r["commit"])):
            ms = [v * 1000 for v in values]
            print(f"keystroke ({name}, n={len(ms)}): p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
                  f"max {max(ms):.1f} ms (target p99 <= 30 ms)")
    if "stall" not in args.skip:
        r = asyncio.run(bench_stall(db, labeling_keys=20))
        print(f"retrain on {args.labels:,}+ labels took {r['train_seconds']:.1f} s in the background; "
              f"longest UI stall: idle {r['stall_idle'] * 1000:.1f} ms, while labeling "
              + (f"{r['stall_labeling'] * 1000:.1f} ms ({r['keys_during_training']} keys)"
                 if r["stall_labeling"] is not None else "n/a")
              + f", during the suggestion fill after it {r['stall_fill'] * 1000:.1f} ms (target <= 50 ms)")
        print(f"  message: {r['message']}")


if __name__ == "__main__":
    main()
