"""Constant-mean GARCH(1,1) fits with normal errors: arch's estimator, without arch's per-call overhead.

``arch_model(y, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit()``
spends about 18 ms per fit on 504 returns, almost all of it in Python layers around a small
problem: scipy's finite-difference helpers (for the gradient and for the Jacobians of four
linear constraints) and arch's parameter parsing. :func:`fit_garch_parameters` solves the same
problem the same way, so it returns arch's estimates to the last bit:

* the same starting values: the mean from a least-squares fit on a constant, then the best of
  arch's grid of ``(alpha, alpha + beta)`` pairs by Gaussian log-likelihood;
* the same backcast, variance bounds and parameter bounds, computed with the same numpy
  operations (in the same order, so each rounding is the same);
* the same negative log-likelihood (the variance recursion, clamped to the bounds as arch
  clamps it, in numba; the sum in numpy);
* the same optimizer: scipy's SLSQP with its default tolerance, given a gradient and
  constraint Jacobians computed exactly as scipy's forward differences would compute them
  (step ``sqrt(machine epsilon)``, flipped or shortened at a bound), only without the
  overhead of its general-purpose code.

The tests compare the fitted volatility with arch's own on real stocks.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.optimize import minimize

# arch's settings for a GARCH(1,1): the decay and length of the backcast and variance bounds,
# and the grid its starting values are chosen from.
_DECAY = 0.94
_BACKCAST_LENGTH = 75
_ALPHAS = (0.01, 0.05, 0.1, 0.2)
_PERSISTENCES = (0.5, 0.7, 0.9, 0.98)
# scipy's SLSQP forward-difference step (its default ``eps``).
_STEP = math.sqrt(np.finfo(float).eps)
_LOG_TWO_PI = np.log(2 * np.pi)  # numpy's log, as arch takes it
# Parameters (mu, omega, alpha, beta) satisfy A @ x - b >= 0: omega, alpha, beta >= 0 and alpha + beta <= 1.
_CONSTRAINTS = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, -1.0, -1.0]])
_LIMITS = np.array([0.0, 0.0, 0.0, -1.0])


@njit(cache=True, nogil=True)
def _variance(omega, alpha, beta, squares, backcast, bounds, out):
    """Fill ``out`` with the GARCH(1,1) conditional variances, clamped to ``bounds`` as arch clamps them."""
    for t in range(squares.shape[0]):
        # accumulated term by term, in arch's order, so that each rounding matches
        value = omega
        value += alpha * (backcast if t == 0 else squares[t - 1])
        value += beta * (backcast if t == 0 else out[t - 1])
        low = bounds[t, 0]
        high = bounds[t, 1]
        if value < low:
            value = low
        elif value > high:
            if value > 1.7976931348623157e308:
                value = high + 1000.0
            else:
                value = high + math.log(value / high)
        out[t] = value
    return out


@njit(cache=True, nogil=True)
def _residual_terms(y, mu, omega, alpha, beta, backcast, bounds, squares, sigma2, ratio):
    """Fill the squared residuals, their variances and the ratio of the two for parameters ``(mu, omega, alpha, beta)``."""
    for t in range(y.shape[0]):
        residual = y[t] - mu
        squares[t] = residual * residual
    _variance(omega, alpha, beta, squares, backcast, bounds, sigma2)
    for t in range(y.shape[0]):
        ratio[t] = squares[t] / sigma2[t]


@njit(cache=True, nogil=True)
def _log_densities(log_two_pi, log_sigma2, ratio, out):
    """Fill ``out`` with the normal log-density of each residual, as arch's expression groups it."""
    for t in range(out.shape[0]):
        out[t] = -0.5 * ((log_two_pi + log_sigma2[t]) + ratio[t])
    return out


def _weights(count: int) -> np.ndarray:
    weights = _DECAY ** np.arange(count)
    return weights / sum(weights)  # a sequential sum, as arch adds them


class _Problem:
    """The negative log-likelihood of one sample and what SLSQP needs besides: start, bounds, constraints."""

    def __init__(self, y: np.ndarray) -> None:
        self.y = y
        nobs = y.shape[0]
        mean = np.linalg.pinv(np.ones((nobs, 1))).dot(y)
        resids = y - mean[0]
        self.mean = mean
        self.squares, self.sigma2, self.ratio, self.logs, self.densities = (np.empty(nobs) for _ in range(5))
        count = min(_BACKCAST_LENGTH, nobs)
        self.backcast = float(np.sum((np.absolute(resids[:count]) ** 2.0) * _weights(count)))
        self.bounds = self._variance_bounds(resids)
        scale = float(np.mean(np.absolute(resids) ** 2.0))
        self.parameter_bounds = [(-np.inf, np.inf), (1e-8 * scale, 10.0 * scale), (0.0, 1.0), (0.0, 1.0)]
        self.lower = np.array([low for low, _ in self.parameter_bounds])
        self.upper = np.array([high for _, high in self.parameter_bounds])
        self.lower_list, self.upper_list = self.lower.tolist(), self.upper.tolist()
        self._steps_at: tuple[float, ...] = ()
        self._step_list: list[float] = []
        self.resids = resids

    def _variance_bounds(self, resids: np.ndarray) -> np.ndarray:
        nobs = resids.shape[0]
        count = min(_BACKCAST_LENGTH, nobs)
        start = _weights(count).dot(resids[:count] ** 2.0)
        smoothed = _variance(0.0, 1.0 - _DECAY, _DECAY, resids**2.0, start,
                             np.ones((nobs, 2)) * np.array([-1.0, 1.7e308]), np.zeros(nobs))
        bounds = np.vstack((smoothed / 1e6, smoothed * 1e6)).T
        largest = 1 + float(np.max(resids**2.0))
        lower, upper = float(np.var(resids)) / 1e8, 1e7 * largest
        bounds[bounds[:, 0] < lower, 0] = lower
        bounds[bounds[:, 1] < largest, 1] = largest
        bounds[bounds[:, 1] > upper, 1] = upper
        return np.ascontiguousarray(bounds)

    def _loglikelihood(self, y: np.ndarray, mu: float, omega: float, alpha: float, beta: float) -> float:
        # numba for the recursion and the elementwise arithmetic (the same IEEE operations as
        # numpy's); numpy for the logarithm and the pairwise sum, whose results numba would not match
        _residual_terms(y, mu, omega, alpha, beta, self.backcast, self.bounds, self.squares, self.sigma2, self.ratio)
        np.log(self.sigma2, out=self.logs)
        return float(np.sum(_log_densities(_LOG_TWO_PI, self.logs, self.ratio, self.densities)))

    def objective(self, x: np.ndarray) -> float:
        """Return the negative log-likelihood at ``x = (mu, omega, alpha, beta)``."""
        return -self._loglikelihood(self.y, x[0], x[1], x[2], x[3])

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Return scipy's forward-difference gradient of :meth:`objective` at ``x``, step for step."""
        if np.any((x < self.lower) | (x > self.upper)):
            raise ValueError("`x0` violates bound constraints.")  # where scipy's differences would stop the fit
        base = self.objective(x)
        out = np.empty(4)
        for i, step in enumerate(self._steps(x)):
            moved = x.copy()
            moved[i] = x[i] + step
            out[i] = (self.objective(moved) - base) / ((x[i] + step) - x[i])
        return out

    def constraint_jacobian(self, row: int):
        """Return scipy's forward-difference Jacobian of constraint ``row`` (its coefficients, up to rounding)."""
        terms = [(i, float(c)) for i, c in enumerate(_CONSTRAINTS[row]) if c != 0.0]
        limit = float(_LIMITS[row])

        def value(point: list[float]) -> float:
            # The dot product's nonzero terms (at most two, so their sum is the same in any
            # order, as BLAS computes it for scipy); the zero terms change no sum.
            total = 0.0
            for i, c in terms:
                total += c * point[i]
            return total - limit

        def jacobian(x: np.ndarray) -> np.ndarray:
            point = np.clip(x, self.lower, self.upper).tolist()
            base = value(point)
            out = np.empty((1, 4))
            for i, step in enumerate(self._steps(point)):
                moved = list(point)
                moved[i] = point[i] + step
                out[0, i] = (value(moved) - base) / ((point[i] + step) - point[i])
            return out

        return jacobian

    def _steps(self, x) -> list[float]:
        """Return scipy's forward steps at ``x``: ``eps``, reversed or shortened where a bound is closer."""
        key = tuple(float(v) for v in x)
        if key != self._steps_at:  # the gradient and four constraint Jacobians ask at the same point
            self._steps_at, self._step_list = key, [self._step(v, low, high)
                                                    for v, low, high in zip(key, self.lower_list, self.upper_list)]
        return self._step_list

    @staticmethod
    def _step(v: float, low: float, high: float) -> float:
        step = _STEP
        if (v + step) - v == 0:
            step = _STEP * (1.0 if v >= 0 else -1.0) * max(1.0, abs(v))
        below, above = v - low, high - v
        fitting = abs(step) <= max(below, above)
        if fitting:
            ahead = v + step
            return -step if ahead < low or ahead > high else step
        return above if above >= below else -below

    def starting_values(self) -> np.ndarray:
        """Return arch's start: the sample mean and the best ``(omega, alpha, beta)`` of its grid."""
        resids = self.resids
        target = np.mean(np.absolute(resids) ** 2.0)
        target *= (np.mean(resids**2) / target ** 1.0) ** 1.0
        best, chosen = -np.inf, None
        for alpha in _ALPHAS:
            for persistence in _PERSISTENCES:
                candidate = (1.0 - persistence) * target * np.ones(3)
                candidate[1] = alpha
                candidate[2] = persistence - alpha
                value = self._loglikelihood(self.y, self.mean[0], candidate[0], candidate[1], candidate[2])
                if math.isnan(value):  # arch takes numpy's argmax, which stops at the first NaN
                    return np.hstack([self.mean, candidate])
                if chosen is None or value > best:  # the first of equal maxima, as argmax
                    best, chosen = value, candidate
        return np.hstack([self.mean, chosen])


def fit_garch_parameters(sample: np.ndarray, starting: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Fit a constant-mean GARCH(1,1) with normal errors to ``sample`` as arch does.

    Parameters
    ----------
    sample : numpy.ndarray
        Returns without NaN, in the units to fit (arch recommends percent).
    starting : numpy.ndarray, optional
        ``(mu, omega, alpha, beta)`` to start from (a previous fit). As in arch, a start
        outside the constraints is used all the same (arch only warns), clipped to the bounds.

    Returns
    -------
    parameters : numpy.ndarray
        ``(mu, omega, alpha, beta)``, equal to ``arch_model(...).fit().params``.
    status : int
        SLSQP's exit mode, arch's ``convergence_flag``: 0 when converged.

    Raises
    ------
    ValueError, numpy.linalg.LinAlgError
        Where arch's fit raises them (a degenerate sample).
    """
    y = np.ascontiguousarray(sample, dtype=np.float64)
    with np.errstate(all="ignore"):
        problem = _Problem(y)
        start = problem.starting_values() if starting is None else np.asarray(starting, dtype=np.float64).reshape(4)
    constraints = [{"type": "ineq", "fun": lambda x, c=_CONSTRAINTS[row], b=_LIMITS[row]: np.dot(c, x) - b,
                    "jac": problem.constraint_jacobian(row)} for row in range(4)]
    with np.errstate(all="ignore"):  # a degenerate sample shows in the status or the parameters, not in warnings
        result = minimize(problem.objective, start, method="SLSQP", jac=problem.gradient,
                          bounds=problem.parameter_bounds, constraints=constraints, options={"disp": False})
    return np.asarray(result.x, dtype=np.float64), int(result.status)
