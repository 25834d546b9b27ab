"""GARCH(1,1) fits: quantdesk's estimator gives arch's parameters to the last bit, and its exit status."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from arch import arch_model

from quantdesk.factors.garch import fit_garch_parameters
from quantdesk.factors.panel import arrays, synthetic_panel


def _arch(sample: np.ndarray, starting: np.ndarray | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = arch_model(sample, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
        return model.fit(disp="off", starting_values=starting, show_warning=False)


@pytest.fixture(scope="module")
def samples() -> list[np.ndarray]:
    returns = arrays(synthetic_panel(12, 1200, seed=5))["returns"]
    columns = [100 * returns[:, a][np.isfinite(returns[:, a])] for a in range(returns.shape[1])]
    return [column[:length] for column in columns for length in (150, 504, None)]


def test_parameters_equal_arch(samples: list[np.ndarray]) -> None:
    for sample in samples:
        expected = _arch(sample)
        parameters, status = fit_garch_parameters(sample)
        np.testing.assert_array_equal(parameters, expected.params.to_numpy())
        assert status == expected.convergence_flag


def test_starting_values_as_arch(samples: list[np.ndarray]) -> None:
    sample = samples[4]
    previous = _arch(sample[:400]).params.to_numpy()
    for start in (previous, np.array([0.0, 0.1, 0.6, 0.6])):  # the second breaks alpha + beta <= 1: arch warns and uses it
        parameters, _ = fit_garch_parameters(sample, start)
        np.testing.assert_array_equal(parameters, _arch(sample, start).params.to_numpy())
