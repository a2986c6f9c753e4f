"""Agreement figures held equal to the `krippendorff` package and scikit-learn on generated labels."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from whylabel.agreement import (
    DRIVER_VALUES,
    AgreementError,
    agreement,
    alpha_band,
    check_shared,
    kappa_band,
    self_confidence,
)

REASONS = ("trust", "fear", "uncertainty", "price", "features", "terms")


def generated_coders(n_items: int, coders: list[str], *, seed: int, missing: float, noise: float) -> dict:
    """A 'true' label per item; each coder copies it with some reasons flipped and skips some items."""
    rng = np.random.default_rng(seed)
    truth = [tuple(r for r in REASONS if rng.random() < 0.25) for _ in range(n_items)]
    out: dict[str, dict[int, tuple]] = {c: {} for c in coders}
    for item, reasons in enumerate(truth, start=1):
        for coder in coders:
            if rng.random() < missing:
                continue
            mine = set(reasons)
            for r in REASONS:
                if rng.random() < noise:
                    mine ^= {r}
            out[coder][item] = tuple(r for r in REASONS if r in mine)
    return out


def reliability(coders: dict, items: list[int], value) -> np.ndarray:
    """(coders, items) with np.nan where a coder left the item out: the package's own input form."""
    return np.array([[value(labels[i]) if i in labels else np.nan for i in items] for labels in coders.values()],
                    dtype=float)


def shared_items(coders: dict) -> list[int]:
    every = sorted({i for labels in coders.values() for i in labels})
    return [i for i in every if sum(i in labels for labels in coders.values()) >= 2]


def driver_index(codebook, reasons) -> int:
    return DRIVER_VALUES.index(codebook.driver_of(reasons))


@pytest.mark.parametrize("names,missing", [(["anna", "ben"], 0.15), (["anna", "ben", "chris"], 0.3)])
def test_alpha_equals_the_krippendorff_package_with_missing_labels(codebook, names, missing):
    coders = generated_coders(150, names, seed=7, missing=missing, noise=0.12)
    report = agreement(coders, codebook, samples=200)
    items = shared_items(coders)
    assert report.n_items == len(items) > 100
    for reason in REASONS:
        data = reliability(coders, items, lambda labels, r=reason: float(r in labels))
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        got = report.reasons[reason]
        assert got.alpha == pytest.approx(expected, abs=1e-4)
        assert got.n == len(items)
        low, high = got.alpha_ci
        assert low <= got.alpha <= high and high - low < 0.5
    data = reliability(coders, items, lambda labels: driver_index(codebook, labels))
    assert report.driver.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"), abs=1e-4)


def test_kappa_and_agreement_equal_scikit_learn_for_two_coders(codebook):
    coders = generated_coders(120, ["anna", "ben"], seed=3, missing=0.2, noise=0.1)
    report = agreement(coders, codebook, samples=100)
    both = [i for i in coders["anna"] if i in coders["ben"]]
    for reason in REASONS:
        first = [int(reason in coders["anna"][i]) for i in both]
        second = [int(reason in coders["ben"][i]) for i in both]
        got = report.reasons[reason]
        assert got.kappa == pytest.approx(cohen_kappa_score(first, second), abs=1e-4)
        assert got.agreement == pytest.approx(np.mean(np.array(first) == np.array(second)), abs=1e-4)
        # confusion: rows anna, columns ben; the diagonal is the agreement
        assert sum(map(sum, got.confusion)) == len(both)
        assert got.confusion[1][1] == sum(a and b for a, b in zip(first, second))
        assert got.confusion[1][0] == sum(a and not b for a, b in zip(first, second))
    first = [driver_index(codebook, coders["anna"][i]) for i in both]
    second = [driver_index(codebook, coders["ben"][i]) for i in both]
    assert report.driver.kappa == pytest.approx(cohen_kappa_score(first, second), abs=1e-4)


def test_three_coders_have_no_kappa_and_agreement_means_all_coders_agree(codebook):
    coders = {"anna": {1: ("price",), 2: ("trust",), 3: ()},
              "ben": {1: ("price",), 2: ("trust", "fear"), 3: ()},
              "chris": {1: ("price",), 2: ("trust",)}}
    report = agreement(coders, codebook, samples=50)
    assert report.n_items == 3
    assert report.reasons["price"].kappa is None and report.reasons["price"].confusion is None
    assert report.reasons["fear"].agreement == pytest.approx(2 / 3)
    assert report.reasons["trust"].agreement == 1.0
    # item 2: 'emotional' from everyone (trust, fear are both emotional)
    assert report.driver.agreement == 1.0


def test_a_code_nobody_used_is_undefined_not_nan(codebook):
    coders = {"anna": {1: ("price",), 2: (), 3: ("price",)}, "ben": {1: ("price",), 2: (), 3: ()}}
    report = agreement(coders, codebook, samples=50)
    terms = report.reasons["terms"]
    assert terms.alpha is None and terms.kappa is None and terms.alpha_ci is None
    assert terms.agreement == 1.0 and terms.n == 3
    assert report.to_json()["reasons"]["terms"] == {"alpha": None, "alpha_ci": None, "kappa": None,
                                                   "agreement": 1.0, "n": 3}


def test_bootstrap_interval_is_reproducible(codebook):
    coders = generated_coders(80, ["anna", "ben"], seed=11, missing=0.1, noise=0.15)
    first = agreement(coders, codebook, samples=200, seed=0).reasons["price"].alpha_ci
    again = agreement(coders, codebook, samples=200, seed=0).reasons["price"].alpha_ci
    assert first == again


def test_no_shared_items_is_one_line_naming_the_counts():
    coders = {"anna": {i: ("price",) for i in range(120)}, "ben": {}}
    with pytest.raises(AgreementError) as err:
        check_shared(coders)
    assert str(err.value) == ("agreement needs two annotators who labeled the same items "
                              "(anna: 120 items, ben: 0 in common)")
    with pytest.raises(AgreementError, match=r"\(anna: 2 items, nobody else has labeled\)"):
        check_shared({"anna": {1: (), 2: ()}})
    check_shared({"anna": {1: ()}, "ben": {1: ("fear",)}})


def test_bands():
    assert [kappa_band(k) for k in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9, None)] == [
        "poor", "slight", "fair", "moderate", "substantial", "almost perfect", "undefined"]
    assert [alpha_band(a) for a in (0.5, 0.667, 0.79, 0.8, None)] == [
        "unreliable", "tentative", "tentative", "reliable", "undefined"]


def test_self_confidence_is_the_worst_reason():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.3], [0.6, 0.95]])
    given = np.array([[1, 0], [1, 0], [0, 1]])
    assert self_confidence(probabilities, given) == pytest.approx([0.1, 0.8, 0.6])


def test_agreement_is_core_no_textual_no_click():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import whylabel.agreement, sys; "
                          "print(' '.join(m for m in ('textual', 'click', 'spacy') if m in sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
