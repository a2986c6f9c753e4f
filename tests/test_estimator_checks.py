"""scikit-learn's own estimator checks on the reason models.

`parametrize_with_checks` picks its checks from an estimator's tags. Ours take texts (tags
`input_tags.string`, not `two_d_array`), so scikit-learn skips every check that feeds numeric
arrays: those are the documented skips, and tests/test_model.py covers fitting and predicting on
texts (clone, fixed seed, shapes, not-fitted errors). The API checks that need no data are run by
name below as well, so the parameter contract (params-only `__init__`, get/set_params, defaults)
holds for both models whatever scikit-learn selects.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from whylabel.codebook import load_codebook
from whylabel.meaning import MeaningClassifier
from whylabel.model import BlendedReasonClassifier, ReasonClassifier, ReasonLinear
from whylabel.nlp import cue_table

_BOOK = load_codebook()
ESTIMATORS = [ReasonClassifier(cues=cue_table(_BOOK), codebook_hash=_BOOK.hash),
              BlendedReasonClassifier(cues=cue_table(_BOOK), codebook_hash=_BOOK.hash)]
PARTS = [MeaningClassifier(), ReasonLinear()]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS + PARTS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", [check_no_attributes_set_in_init, check_get_params_invariance, check_set_params,
                                   check_parameters_default_constructible], ids=lambda c: c.__name__)
def test_parameter_contract(estimator, check):
    check(type(estimator).__name__, estimator)
