"""scikit-learn's own estimator checks, run on both estimators.

No check is marked as not applicable: every check scikit-learn selects for these estimators'
tags runs and must pass (scikit-learn itself skips the array-API check unless SCIPY_ARRAY_API
is set, and the decision_function format check, as the classifier has no decision_function).
max_iter=100 is what scikit-learn's own test suite uses for its MLPs.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_estimator_check(estimator, check):
    check(estimator)
