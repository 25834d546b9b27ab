"""Factor scoring: information coefficients, quantile portfolios, turnover, coverage, redundancy, a leaderboard.

Timing convention: a factor value at date ``t`` is computed from data up to and including
``t``'s close, so it is assumed tradeable at that close. It is scored against the forward
return from the close at ``t`` to the close at ``t + h`` (``h`` = horizon in bars); set
``delay=1`` in :func:`forward_returns` to enter one bar later instead.

Per factor, horizon and date, only assets with both a factor value and a forward return
count (a *pair*); a date with fewer than ``min_pairs`` pairs has no score. On each date:

- the **IC** is Pearson's correlation of factor values and forward returns over the pairs;
- the **rank IC** is Spearman's correlation (Pearson on average ranks, as ``scipy.stats.spearmanr``);
- **quantile returns** are the equal-weighted mean forward returns of the assets in each
  quantile bucket. Buckets are those of ``pandas.qcut(values, quantiles)``: edges at the
  linearly interpolated quantiles of the date's factor values, right-closed bins, so tied
  values share a bucket (and a bucket may be empty on a date with many ties; it then has no
  return that date). Edges are computed exactly: a value lying on an edge is in the lower
  bucket, where qcut's floating-point edge can now and then land a hair below it. The
  **spread** is the top bucket's mean minus the bottom bucket's.
- the **turnover** of the top bucket (over assets with a value, whatever the horizon) is the
  share of its names that were not in it on the previous date.

Summaries over dates: mean, standard deviation (``ddof=1``), IR = mean / std (per period, not
annualized; infinite for a factor whose IC never varies), t-statistic = mean / std * sqrt(dates).
For ``h > 1`` consecutive ``h``-bar forward returns overlap, which makes the daily ICs
autocorrelated and the plain t-statistic too large, so a Newey-West t-statistic (Bartlett
kernel, ``h - 1`` lags) is reported beside it as ``*_tstat_nw``; the leaderboard shows the
Newey-West one. For ``h = 1`` the two differ only by ``ddof``.

The per-date work is a numba kernel over a block of factors (:func:`score_block`), so the
pipeline can score each factor chunk where it was computed and keep only small results.
Forward returns are ranked once per horizon (:func:`prepare_forward`) and reused by every block.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import xarray as xr
from numba import njit, prange

from quantdesk.errors import QuantDeskError

DEFAULT_HORIZONS = (1, 5, 21)
DEFAULT_QUANTILES = 10
DEFAULT_MIN_PAIRS = 5

# Most factors scored together by one kernel task: in a (time, asset, factor) block neighbouring
# factors share each date's cache lines (16 float32 or 8 float64 fill a line), which measured
# faster than scoring factor by factor. (A factor-major block reads each date's row in order.)
_GROUP = 16

_SERIES = ("ic", "rank_ic", "spread")
_STATISTICS = ("mean", "std", "ir", "tstat", "tstat_nw", "dates")


# --------------------------------------------------------------------------------------
# Forward returns
# --------------------------------------------------------------------------------------


def forward_returns(close: xr.DataArray, horizons: Sequence[int] = DEFAULT_HORIZONS, delay: int = 0) -> xr.DataArray:
    """Return the forward return of every asset at every date for each horizon.

    The value at ``(h, t, asset)`` is ``close[t + delay + h] / close[t + delay] - 1``: with
    the default ``delay=0`` a factor known at ``t``'s close is traded at that close. It is NaN
    where either close is missing or ``t + delay + h`` is beyond the data.

    Parameters
    ----------
    close : xarray.DataArray
        Closes over ``(time, asset)``.
    horizons : sequence of int
        Holding periods in bars, each at least 1.
    delay : int
        Bars between the factor's date and the entry close (0 or more).

    Returns
    -------
    xarray.DataArray
        float64 over ``(horizon, time, asset)``.

    Raises
    ------
    QuantDeskError
        For a horizon below 1 or not shorter than the data, a repeated horizon, or a negative delay.
    """
    _check_dims(close, ("time", "asset"), "close")
    horizons = _check_horizons(horizons, close.sizes["time"], delay)
    out = _forward_array(close.transpose("time", "asset").to_numpy(), horizons, delay)
    return xr.DataArray(
        out,
        dims=("horizon", "time", "asset"),
        coords={"horizon": list(horizons), "time": close["time"], "asset": close["asset"]},
        name="forward_return",
        attrs={"delay": delay, "description": "close[t + delay + h] / close[t + delay] - 1"},
    )


def _forward_array(close: np.ndarray, horizons: Sequence[int], delay: int) -> np.ndarray:
    """Return ``(horizon, time, asset)`` forward returns of a ``(time, asset)`` array of closes."""
    level = np.asarray(close, dtype="float64")
    level = np.where(np.isfinite(level) & (level > 0.0), level, np.nan)  # a zero or negative close has no return
    times = level.shape[0]
    out = np.full((len(horizons), times, level.shape[1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for row, horizon in enumerate(horizons):
            end = times - delay - horizon
            out[row, :end] = level[delay + horizon:delay + horizon + end] / level[delay:delay + end] - 1.0
    return out


def _ranked_forward_from_close(close: np.ndarray, horizons: tuple[int, ...], delay: int, times: np.ndarray,
                               assets: np.ndarray) -> RankedForward:
    """Rank the forward returns of ``close`` at the given date and asset positions (-1: not in ``close``)."""
    forward = _forward_array(close, horizons, delay)
    aligned = np.full((len(horizons), times.size, assets.size), np.nan)
    rows, columns = np.flatnonzero(times >= 0), np.flatnonzero(assets >= 0)
    every = np.arange(len(horizons))
    aligned[np.ix_(every, rows, columns)] = forward[np.ix_(every, times[rows], assets[columns])]
    return prepare_forward(aligned, horizons)


def _check_horizons(horizons: Sequence[int], times: int, delay: int = 0) -> tuple[int, ...]:
    if isinstance(horizons, (int, np.integer)):
        horizons = (int(horizons),)
    horizons = tuple(horizons)
    if not horizons:
        raise QuantDeskError("No horizons given: pass at least one holding period in bars, e.g. horizons=(1, 5, 21)")
    if delay < 0:
        raise QuantDeskError(f"delay {delay} is negative: give 0 (trade at the factor's close) or more bars")
    for horizon in horizons:
        if not isinstance(horizon, (int, np.integer)) or isinstance(horizon, bool) or horizon < 1:
            raise QuantDeskError(
                f"Horizon {horizon!r} is not a whole number of bars >= 1: use e.g. horizons=(1, 5, 21)"
            )
        if horizon + delay >= times:
            raise QuantDeskError(
                f"Horizon {horizon} (with delay {delay}) needs more than {horizon + delay} dates but the data has "
                f"{times}: use shorter horizons or a longer period"
            )
    if len(set(horizons)) != len(horizons):
        raise QuantDeskError(f"Horizons {list(horizons)} repeat a value: give each horizon once")
    return tuple(int(h) for h in horizons)


# --------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _sort_key(value):
    # Order-preserving unsigned image of the value rounded to float32: 32 bits leave room
    # for the asset index in one uint64, so a 4-pass byte radix sort orders both at once.
    bits = np.int64(np.float32(value).view(np.int32))
    if bits < 0:
        return np.uint64((~bits) & 0xFFFFFFFF)
    return np.uint64(bits | 0x80000000)


@njit(cache=True, nogil=True)
def _radix_sort(packed, scratch, counts, n):
    """Sort ``packed[:n]`` by bits 40-63 (the key's top 24 bits); return whichever buffer holds the result.

    The key's lowest byte is left out: one pass fewer, and the few values it would have
    told apart are put in order by the exact pass that follows.
    """
    counts[:] = 0
    for i in range(n):
        key = packed[i] >> np.uint64(40)
        counts[key & np.uint64(255)] += 1
        counts[256 + ((key >> np.uint64(8)) & np.uint64(255))] += 1
        counts[512 + (key >> np.uint64(16))] += 1
    source = packed
    target = scratch
    for digit in range(3):
        base = digit * 256
        shift = np.uint64(40 + 8 * digit)
        if counts[base + ((source[0] >> shift) & np.uint64(255))] == n:
            continue  # every key has the same byte here: nothing to move
        total = 0
        for j in range(256):
            c = counts[base + j]
            counts[base + j] = total
            total += c
        for i in range(n):
            item = source[i]
            j = base + ((item >> shift) & np.uint64(255))
            position = counts[j]
            counts[j] = position + 1
            target[position] = item
        source, target = target, source
    return source


@njit(cache=True, nogil=True)
def _argsort_valid(values, packed, scratch, counts, order, sorted_values, n):
    """Write the assets of ``packed[:n]`` into ``order[:n]`` in ascending order of their exact ``values``.

    ``sorted_values[:n]`` receives the values in that order.
    """
    if n == 0:
        return
    result = _radix_sort(packed, scratch, counts, n)
    for i in range(n):
        item = np.int64(result[i] & np.uint64(0xFFFFFFFF))
        value = values[item]
        # Keys are coarser than the values, so equal keys can hide a wrong order. Such runs are
        # short and adjacent: insertion on exact values fixes them in about one pass.
        j = i
        while j > 0 and sorted_values[j - 1] > value:
            sorted_values[j] = sorted_values[j - 1]
            order[j] = order[j - 1]
            j -= 1
        sorted_values[j] = value
        order[j] = item


@njit(cache=True, nogil=True, inline="always")
def _quantile_edge(sorted_values, m, k, quantiles):
    # Linear interpolation at position k * (m - 1) / quantiles, in integers so that a
    # position on a data point gives that value exactly (as numpy's "linear" method does).
    numerator = k * (m - 1)
    low = numerator // quantiles
    remainder = numerator - low * quantiles
    if remainder == 0:
        return sorted_values[low]
    return sorted_values[low] + (sorted_values[low + 1] - sorted_values[low]) * (remainder / quantiles)


@njit(cache=True, nogil=True)
def _prepare_forward_kernel(forward, order, count, ranks, rank_squares):
    horizons, times, assets = forward.shape
    packed = np.empty(assets, np.uint64)
    scratch = np.empty(assets, np.uint64)
    counts = np.empty(1024, np.int64)
    row = np.empty(assets, np.int64)
    sorted_y = np.empty(assets, np.float64)
    for h in range(horizons):
        for t in range(times):
            y = forward[h, t]
            n = 0
            for a in range(assets):
                ranks[h, t, a] = np.nan
                if y[a] == y[a]:
                    packed[n] = (_sort_key(y[a]) << np.uint64(32)) | np.uint64(a)
                    n += 1
            _argsort_valid(y, packed, scratch, counts, row, sorted_y, n)
            mean_rank = 0.5 * (n + 1)
            squares = 0.0
            i = 0
            while i < n:
                j = i + 1
                while j < n and sorted_y[j] == sorted_y[i]:
                    j += 1
                average = 0.5 * (i + 1 + j)
                squares += (j - i) * (average - mean_rank) ** 2
                for k in range(i, j):
                    ranks[h, t, row[k]] = average
                i = j
            for i in range(n):
                order[h, t, i] = row[i]
            count[h, t] = n
            rank_squares[h, t] = squares


@njit(cache=True, nogil=True)
def _bucket_starts(sorted_values, m, quantiles, edges, starts):
    """Fill ``starts[q]`` with the first position of bucket ``q`` in ``sorted_values[:m]`` (``starts[quantiles] = m``).

    A value belongs to bucket ``q`` when exactly ``q`` interior edges lie strictly below it,
    which is ``pandas.qcut``'s rule (right-closed bins, the lowest value in the first).
    """
    for k in range(1, quantiles):
        edges[k] = _quantile_edge(sorted_values, m, k, quantiles)
    starts[0] = 0
    low = 0
    for q in range(1, quantiles):
        # first position whose value is above the edge (binary search: edges are few, values many)
        high = m
        while low < high:
            middle = (low + high) >> 1
            if sorted_values[middle] > edges[q]:
                high = middle
            else:
                low = middle + 1
        starts[q] = low
    starts[quantiles] = m


@njit(cache=True, nogil=True)
def _score_pairs(x, has_x, order, m_x, y, rows, n_y, quantiles, min_pairs, kept, kept_x, kept_y, rank_x,
                 subset_rank_y, edges, starts, f, h, t, ic, rank_ic, spread, quantile_sum, quantile_dates):
    """Score one factor, horizon and date over the assets having both values, from scratch.

    The general case: used when some asset with a factor value lacks a forward return.
    """
    m = 0
    sum_x = 0.0
    sum_y = 0.0
    for i in range(m_x):
        a = order[i]
        if y[a] == y[a]:
            kept[m] = a
            kept_x[m] = x[a]
            kept_y[m] = y[a]
            sum_x += x[a]
            sum_y += y[a]
            m += 1
    if m < min_pairs:
        return
    i = 0
    while i < m:  # kept_x is ascending: average ranks run by run
        j = i + 1
        while j < m and kept_x[j] == kept_x[i]:
            j += 1
        average = 0.5 * (i + 1 + j)
        for k in range(i, j):
            rank_x[k] = average
        i = j
    _rank_subset(y, rows, n_y, has_x, subset_rank_y, 0.5 * (m + 1))
    mean_x = sum_x / m
    mean_y = sum_y / m
    mean_rank = 0.5 * (m + 1)
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    rxx = 0.0
    ryy = 0.0
    rxy = 0.0
    for k in range(m):
        dx = kept_x[k] - mean_x
        dy = kept_y[k] - mean_y
        sxx += dx * dx
        syy += dy * dy
        sxy += dx * dy
        ex = rank_x[k] - mean_rank
        ey = subset_rank_y[kept[k]] - mean_rank
        rxx += ex * ex
        ryy += ey * ey
        rxy += ex * ey
    if sxx > 0.0 and syy > 0.0:
        ic[f, h, t] = sxy / math.sqrt(sxx * syy)
    if rxx > 0.0 and ryy > 0.0:
        rank_ic[f, h, t] = rxy / math.sqrt(rxx * ryy)
    if m >= max(min_pairs, quantiles):
        _bucket_starts(kept_x, m, quantiles, edges, starts)
        bottom = np.nan
        top = np.nan
        for q in range(quantiles):
            size = starts[q + 1] - starts[q]
            if size == 0:
                continue
            total = 0.0
            for k in range(starts[q], starts[q + 1]):
                total += kept_y[k]
            mean = total / size
            quantile_sum[f, h, q] += mean
            quantile_dates[f, h, q] += 1
            if q == 0:
                bottom = mean
            if q == quantiles - 1:
                top = mean
        spread[f, h, t] = top - bottom


@njit(cache=True, nogil=True)
def _rank_subset(y, rows, n_y, has_x, out, center):
    """Write into ``out[a]`` the average rank of ``y[a]`` among the assets with ``has_x``.

    ``rows[:n_y]`` are the assets with a ``y`` in ascending order of it, so this is one pass.
    Return how many assets were ranked and the sum of their ranks' squared deviations from ``center``.
    """
    i = 0
    position = 0
    squares = 0.0
    while i < n_y:
        a = rows[i]
        if not has_x[a]:
            i += 1
            continue
        j = i + 1
        run = 1
        while j < n_y and y[rows[j]] == y[a]:
            if has_x[rows[j]]:
                run += 1
            j += 1
        average = position + 0.5 * (run + 1)
        squares += run * (average - center) ** 2
        for k in range(i, j):
            if has_x[rows[k]]:
                out[rows[k]] = average
        position += run
        i = j
    return position, squares


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _score_group(values, first, last, forward, forward_order, forward_count, forward_ranks, forward_rank_squares,
                 quantiles, min_pairs, ic, rank_ic, spread, quantile_sum, quantile_dates, turnover_sum,
                 turnover_dates, valid_cells):
    _, times, assets = values.shape  # values: (factor, time, asset), whatever its memory order
    horizons = forward.shape[0]
    group = last - first
    packed = np.empty(assets, np.uint64)
    scratch = np.empty(assets, np.uint64)
    counts = np.empty(1024, np.int64)
    order = np.empty(assets, np.int64)
    x = np.empty(assets, np.float64)
    has_x = np.zeros(assets, np.bool_)
    sorted_x = np.empty(assets, np.float64)
    deviation_x = np.empty(assets, np.float64)
    deviation_rank = np.empty(assets, np.float64)
    kept = np.empty(assets, np.int64)
    kept_x = np.empty(assets, np.float64)
    kept_y = np.empty(assets, np.float64)
    rank_x = np.empty(assets, np.float64)
    subset_rank_y = np.empty(assets, np.float64)
    edges = np.empty(quantiles, np.float64)
    starts = np.empty(quantiles + 1, np.int64)
    bucket_sum = np.empty(quantiles, np.float64)
    previous_top = np.zeros((group, assets), np.bool_)
    previous_ok = np.zeros(group, np.bool_)
    enough_for_buckets = max(min_pairs, quantiles)
    for t in range(times):
        for g in range(group):
            f = first + g
            m_x = 0
            for a in range(assets):
                v = np.float64(values[f, t, a])
                if math.isfinite(v):
                    x[a] = v
                    has_x[a] = True
                    packed[m_x] = (_sort_key(v) << np.uint64(32)) | np.uint64(a)
                    m_x += 1
                else:
                    has_x[a] = False
            valid_cells[f] += m_x
            if m_x < min_pairs:
                previous_ok[g] = False
                continue
            _argsort_valid(x, packed, scratch, counts, order, sorted_x, m_x)

            # What does not depend on the horizon, over every asset with a value: deviations
            # of the values and of their ranks from the means, bucket boundaries.
            total = 0.0
            for i in range(m_x):
                total += sorted_x[i]
            mean_x = total / m_x
            mean_rank = 0.5 * (m_x + 1)
            sxx = 0.0
            rxx = 0.0
            i = 0
            while i < m_x:
                j = i + 1
                while j < m_x and sorted_x[j] == sorted_x[i]:
                    j += 1
                d = 0.5 * (i + 1 + j) - mean_rank
                rxx += (j - i) * d * d
                for k in range(i, j):
                    deviation_rank[k] = d
                    e = sorted_x[k] - mean_x
                    deviation_x[k] = e
                    sxx += e * e
                i = j
            buckets = m_x >= enough_for_buckets
            if buckets:
                _bucket_starts(sorted_x, m_x, quantiles, edges, starts)
                members = m_x - starts[quantiles - 1]
                newcomers = 0
                for k in range(starts[quantiles - 1], m_x):
                    if not previous_top[g, order[k]]:
                        newcomers += 1
                if previous_ok[g] and members > 0:
                    turnover_sum[f] += newcomers / members
                    turnover_dates[f] += 1
                previous_top[g, :] = False
                for k in range(starts[quantiles - 1], m_x):
                    previous_top[g, order[k]] = True
                previous_ok[g] = members > 0
            else:
                previous_ok[g] = False

            for h in range(horizons):
                n_y = forward_count[h, t]
                if n_y < min_pairs:
                    continue
                y = forward[h, t]
                rows = forward_order[h, t]
                # Fast path: every asset with a value has a forward return, so the ranks, deviations
                # and buckets above hold for the pairs too.
                fast = n_y >= m_x
                ranks_y = forward_ranks[h, t]
                ryy = forward_rank_squares[h, t]
                if n_y > m_x:
                    ranks_y = subset_rank_y
                    ranked, ryy = _rank_subset(y, rows, n_y, has_x, subset_rank_y, mean_rank)
                    fast = ranked == m_x
                if fast:
                    shift = y[order[0]]
                    sum_y = 0.0
                    square_y = 0.0
                    sxy = 0.0
                    rxy = 0.0
                    missing = False
                    # One pass over the assets in factor order, bucket by bucket so each bucket's
                    # sum stays in a register.
                    for q in range(quantiles if buckets else 1):
                        begin = starts[q] if buckets else 0
                        end = starts[q + 1] if buckets else m_x
                        inside = 0.0
                        for k in range(begin, end):
                            a = order[k]
                            v = y[a]
                            missing |= v != v
                            s = v - shift
                            sum_y += s
                            square_y += s * s
                            sxy += deviation_x[k] * v
                            rxy += deviation_rank[k] * ranks_y[a]
                            inside += v
                        bucket_sum[q] = inside
                    fast = not missing  # same count but not the same assets: take the general path
                if not fast:
                    _score_pairs(x, has_x, order, m_x, y, rows, n_y, quantiles, min_pairs, kept, kept_x, kept_y,
                                 rank_x, subset_rank_y, edges, starts, f, h, t, ic, rank_ic, spread, quantile_sum,
                                 quantile_dates)
                    if buckets:  # _score_pairs reused starts for the pairs; restore the factor's own
                        _bucket_starts(sorted_x, m_x, quantiles, edges, starts)
                    continue
                syy = square_y - sum_y * sum_y / m_x
                if sxx > 0.0 and syy > 0.0:
                    ic[f, h, t] = sxy / math.sqrt(sxx * syy)
                if rxx > 0.0 and ryy > 0.0:
                    rank_ic[f, h, t] = rxy / math.sqrt(rxx * ryy)
                if buckets:
                    for q in range(quantiles):
                        size = starts[q + 1] - starts[q]
                        if size > 0:
                            quantile_sum[f, h, q] += bucket_sum[q] / size
                            quantile_dates[f, h, q] += 1
                    bottom = starts[1] - starts[0]
                    top = starts[quantiles] - starts[quantiles - 1]
                    if bottom > 0 and top > 0:
                        spread[f, h, t] = bucket_sum[quantiles - 1] / top - bucket_sum[0] / bottom


@njit(cache=True, nogil=True, parallel=True)
def _score_parallel(values, forward, forward_order, forward_count, forward_ranks, forward_rank_squares, quantiles,
                    min_pairs, ic, rank_ic, spread, quantile_sum, quantile_dates, turnover_sum, turnover_dates,
                    valid_cells, group_size):
    factors = values.shape[0]
    groups = (factors + group_size - 1) // group_size
    for group in prange(groups):
        _score_group(values, group * group_size, min(factors, (group + 1) * group_size), forward, forward_order,
                     forward_count, forward_ranks, forward_rank_squares, quantiles, min_pairs, ic, rank_ic, spread,
                     quantile_sum, quantile_dates, turnover_sum, turnover_dates, valid_cells)


@njit(cache=True, nogil=True)
def _score_serial(values, forward, forward_order, forward_count, forward_ranks, forward_rank_squares, quantiles,
                  min_pairs, ic, rank_ic, spread, quantile_sum, quantile_dates, turnover_sum, turnover_dates,
                  valid_cells, group_size):
    factors = values.shape[0]
    groups = (factors + group_size - 1) // group_size
    for group in range(groups):
        _score_group(values, group * group_size, min(factors, (group + 1) * group_size), forward, forward_order,
                     forward_count, forward_ranks, forward_rank_squares, quantiles, min_pairs, ic, rank_ic, spread,
                     quantile_sum, quantile_dates, turnover_sum, turnover_dates, valid_cells)


@njit(cache=True, nogil=True)
def _series_statistics(series, lags, out):
    """Fill ``out[..., :]`` with mean, std, IR, t, Newey-West t and the count of each series' valid dates."""
    factors, horizons, times = series.shape
    buffer = np.empty(times, np.float64)
    for f in range(factors):
        for h in range(horizons):
            n = 0
            for t in range(times):
                v = series[f, h, t]
                if v == v:
                    buffer[n] = v
                    n += 1
            for s in range(5):
                out[f, h, s] = np.nan
            out[f, h, 5] = n
            if n < 2:
                continue
            mean = 0.0
            for i in range(n):
                mean += buffer[i]
            mean /= n
            gamma0 = 0.0
            for i in range(n):
                d = buffer[i] - mean
                gamma0 += d * d
            std = math.sqrt(gamma0 / (n - 1))
            out[f, h, 0] = mean
            out[f, h, 1] = std
            if std > 0.0:
                out[f, h, 2] = mean / std
                out[f, h, 3] = mean / std * math.sqrt(n)
            elif mean != 0.0:  # the same IC every date (a perfect factor): unbounded, not unknown
                out[f, h, 2] = math.copysign(np.inf, mean)
                out[f, h, 3] = math.copysign(np.inf, mean)
            # Newey-West long-run variance, Bartlett weights 1 - l / (L + 1), autocovariances over n.
            lag_count = min(lags[h], n - 1)
            long_run = gamma0 / n
            for lag in range(1, lag_count + 1):
                gamma = 0.0
                for i in range(lag, n):
                    gamma += (buffer[i] - mean) * (buffer[i - lag] - mean)
                long_run += 2.0 * (1.0 - lag / (lag_count + 1.0)) * gamma / n
            if long_run > 0.0:
                out[f, h, 4] = mean / math.sqrt(long_run / n)
            elif mean != 0.0:
                out[f, h, 4] = math.copysign(np.inf, mean)


# --------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RankedForward:
    """Forward returns with their per-date ordering, computed once and shared by every factor block.

    Attributes
    ----------
    horizons : tuple of int
        Horizon in bars of each row.
    values : numpy.ndarray
        float64 ``(horizon, time, asset)``, NaN where there is no forward return.
    order : numpy.ndarray
        int32 ``(horizon, time, asset)``: per date, the assets with a forward return in ascending
        order of it (the first ``count`` entries are meaningful).
    count : numpy.ndarray
        int64 ``(horizon, time)``: assets with a forward return.
    ranks : numpy.ndarray
        float64 ``(horizon, time, asset)``: average ranks (1-based) among those assets, NaN elsewhere.
    rank_squares : numpy.ndarray
        float64 ``(horizon, time)``: sum of squared deviations of those ranks from their mean.
    """

    horizons: tuple[int, ...]
    values: np.ndarray
    order: np.ndarray
    count: np.ndarray
    ranks: np.ndarray
    rank_squares: np.ndarray


def prepare_forward(
    forward: xr.DataArray | np.ndarray | RankedForward, horizons: Sequence[int] | None = None
) -> RankedForward:
    """Rank forward returns once per horizon and date, for reuse by every :func:`score_block` call.

    Parameters
    ----------
    forward : xarray.DataArray, numpy.ndarray or RankedForward
        ``(horizon, time, asset)`` forward returns, as :func:`forward_returns` gives. Non-finite
        values count as missing.
    horizons : sequence of int, optional
        Horizon in bars of each row; taken from a DataArray's ``horizon`` coordinate when omitted.
        They set the Newey-West lag (``h - 1``) of the t-statistics.

    Returns
    -------
    RankedForward
    """
    if isinstance(forward, RankedForward):
        return forward
    if isinstance(forward, xr.DataArray):
        _check_dims(forward, ("horizon", "time", "asset"), "forward")
        forward = forward.transpose("horizon", "time", "asset")
        if horizons is None:
            horizons = [int(h) for h in forward["horizon"].to_numpy()]
        array = forward.to_numpy()
    else:
        array = np.asarray(forward)
    if array.ndim != 3:
        raise QuantDeskError(f"forward has shape {array.shape}: give (horizon, time, asset) forward returns")
    if horizons is None:
        raise QuantDeskError(
            "The horizons of a plain forward-return array are unknown: pass horizons=(...) with one bar count per row, "
            "or the DataArray from forward_returns()"
        )
    horizons = tuple(int(h) for h in horizons)
    if len(horizons) != array.shape[0] or min(horizons) < 1:
        raise QuantDeskError(
            f"horizons {list(horizons)} do not match the {array.shape[0]} rows of forward: "
            "give one bar count >= 1 per row"
        )
    values = np.ascontiguousarray(array, dtype="float64")
    values = np.where(np.isfinite(values), values, np.nan)
    order = np.zeros(values.shape, np.int32)
    count = np.zeros(values.shape[:2], np.int64)
    ranks = np.empty(values.shape, np.float64)
    rank_squares = np.zeros(values.shape[:2], np.float64)
    _prepare_forward_kernel(values, order, count, ranks, rank_squares)
    return RankedForward(horizons, values, order, count, ranks, rank_squares)


def score_block(
    values: np.ndarray,
    forward: xr.DataArray | np.ndarray | RankedForward,
    quantiles: int = DEFAULT_QUANTILES,
    *,
    horizons: Sequence[int] | None = None,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    parallel: bool | None = None,
    factor_major: bool = False,
) -> dict[str, np.ndarray]:
    """Score a block of factors against forward returns.

    Parameters
    ----------
    values : numpy.ndarray
        ``(time, asset, factor)`` factor values, float32 or float64; NaN (or any non-finite
        value) means no value. ``(factor, time, asset)`` with ``factor_major=True``.
    forward : xarray.DataArray, numpy.ndarray or RankedForward
        ``(horizon, time, asset)`` forward returns on the same dates and assets; pass the
        result of :func:`prepare_forward` when scoring many blocks, so it is ranked once.
    quantiles : int
        Number of quantile buckets (2 or more, at most the number of assets).
    horizons : sequence of int, optional
        Horizon in bars of each forward row, needed only for a plain array ``forward``.
    min_pairs : int
        Fewest assets with both a value and a forward return for a date to be scored (at least 3).
    parallel : bool, optional
        Spread the factors over numba's threads. By default only on the main thread: inside a
        Dask task the scheduler already runs blocks side by side.
    factor_major : bool
        ``values`` is ``(factor, time, asset)``, the layout the pipeline computes in: each
        factor's dates are then read in memory order, with no transposed copy.

    Returns
    -------
    dict of numpy.ndarray
        ``ic``, ``rank_ic``, ``spread``: ``(factor, horizon, time)`` daily series, NaN where
        unscored. For each of ``ic``, ``rank_ic`` and ``spread``: ``<name>_mean``, ``_std``,
        ``_ir``, ``_tstat``, ``_tstat_nw`` and ``_dates`` over ``(factor, horizon)``.
        ``quantile_return``: ``(factor, horizon, quantile)`` mean over dates of each bucket's
        mean forward return (bucket 0 holds the lowest values). ``turnover`` and ``coverage``:
        ``(factor,)``. ``problem``: ``(factor,)`` strings, empty when the factor scored.

    Raises
    ------
    QuantDeskError
        For shapes that do not match, ``quantiles`` below 2 or above the number of assets, or
        ``min_pairs`` below 3.
    """
    ranked = prepare_forward(forward, horizons)
    array = np.asarray(values)
    if array.ndim != 3:
        raise QuantDeskError(f"values has shape {array.shape}: give a (time, asset, factor) block")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype("float64")
    # C order (one compiled kernel per dtype and layout); the kernel indexes (factor, time, asset)
    array = np.ascontiguousarray(array) if factor_major else np.ascontiguousarray(array).transpose(2, 0, 1)
    factors, times, assets = array.shape
    if ranked.values.shape[1:] != (times, assets):
        raise QuantDeskError(
            f"forward covers {ranked.values.shape[1]} dates x {ranked.values.shape[2]} assets but values "
            f"{times} x {assets}: align both to the same dates and assets"
        )
    _check_quantiles(quantiles, assets)
    if not isinstance(min_pairs, (int, np.integer)) or min_pairs < 3:
        raise QuantDeskError(f"min_pairs {min_pairs!r} is too small: a correlation needs at least 3 assets per date")
    horizons_count = len(ranked.horizons)
    ic = np.full((factors, horizons_count, times), np.nan)
    rank_ic = np.full_like(ic, np.nan)
    spread = np.full_like(ic, np.nan)
    quantile_sum = np.zeros((factors, horizons_count, quantiles))
    quantile_dates = np.zeros((factors, horizons_count, quantiles), np.int64)
    turnover_sum = np.zeros(factors)
    turnover_dates = np.zeros(factors, np.int64)
    valid_cells = np.zeros(factors, np.int64)
    if parallel is None:
        parallel = threading.current_thread() is threading.main_thread()
    if parallel:
        # at least two groups per thread, so an uneven last group does not leave a core idle
        group_size = max(1, min(_GROUP, -(-factors // (2 * numba.get_num_threads()))))
        kernel = _score_parallel
    else:
        group_size = _GROUP
        kernel = _score_serial
    kernel(array, ranked.values, ranked.order, ranked.count, ranked.ranks, ranked.rank_squares, int(quantiles),
           int(min_pairs), ic, rank_ic, spread, quantile_sum, quantile_dates, turnover_sum, turnover_dates, valid_cells,
           group_size)

    result: dict[str, np.ndarray] = {"ic": ic, "rank_ic": rank_ic, "spread": spread}
    lags = np.array([h - 1 for h in ranked.horizons], np.int64)
    for name in _SERIES:
        statistics = np.empty((factors, horizons_count, len(_STATISTICS)))
        _series_statistics(result[name], lags, statistics)
        for index, statistic in enumerate(_STATISTICS):
            column = statistics[..., index]
            result[f"{name}_{statistic}"] = column.astype(np.int64) if statistic == "dates" else column
    with np.errstate(invalid="ignore", divide="ignore"):
        result["quantile_return"] = np.where(quantile_dates > 0, quantile_sum / np.maximum(quantile_dates, 1), np.nan)
        result["turnover"] = np.where(turnover_dates > 0, turnover_sum / np.maximum(turnover_dates, 1), np.nan)
    result["coverage"] = valid_cells / float(times * assets)
    result["problem"] = _problems(valid_cells, result["rank_ic_dates"], min_pairs)
    return result


def _problems(valid_cells: np.ndarray, dates: np.ndarray, min_pairs: int) -> np.ndarray:
    problems = np.full(valid_cells.shape, "", dtype=object)
    for f in range(valid_cells.shape[0]):
        if valid_cells[f] == 0:
            problems[f] = "no values"
        elif dates[f].max() == 0:
            problems[f] = (
                f"no date scored: on every date fewer than {min_pairs} assets have a value and a forward return, "
                "or all of them have the same value"
            )
    return problems.astype(str)


def _check_quantiles(quantiles: int, assets: int) -> None:
    if not isinstance(quantiles, (int, np.integer)) or isinstance(quantiles, bool) or quantiles < 2:
        raise QuantDeskError(
            f"quantiles {quantiles!r} must be a whole number >= 2 (e.g. 10 for deciles, 5 for quintiles)"
        )
    if quantiles > assets:
        raise QuantDeskError(f"quantiles {quantiles} is more than the {assets} assets: use at most {assets} buckets")


def _check_dims(array: xr.DataArray, dims: tuple[str, ...], name: str) -> None:
    if not isinstance(array, xr.DataArray):
        raise QuantDeskError(f"{name} is a {type(array).__name__}: give an xarray.DataArray over {dims}")
    if set(array.dims) != set(dims):
        raise QuantDeskError(f"{name} has dimensions {array.dims}: give {dims}")


# --------------------------------------------------------------------------------------
# All factors
# --------------------------------------------------------------------------------------


def score(
    values: xr.DataArray,
    close: xr.DataArray,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    quantiles: int = DEFAULT_QUANTILES,
    *,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    delay: int = 0,
) -> xr.Dataset:
    """Score every factor against the forward returns of ``close``.

    A Dask-backed ``values`` is scored one factor chunk per Dask task (on the active
    scheduler: the cluster's workers when a client is connected); see :class:`ScoringPlan`.
    An in-memory ``values`` is scored here in one call whose factors are spread over numba's threads.

    Parameters
    ----------
    values : xarray.DataArray
        Factor values over ``(time, asset, factor)``; the ``factor`` coordinate holds variant labels.
    close : xarray.DataArray
        Closes over ``(time, asset)``; aligned to ``values``'s dates and assets.
    horizons : sequence of int
        Forward-return horizons in bars.
    quantiles : int
        Number of quantile buckets (10 = deciles).
    min_pairs : int
        Fewest assets with a value and a forward return for a date to be scored.
    delay : int
        Bars between a factor's date and the entry close (see :func:`forward_returns`).

    Returns
    -------
    xarray.Dataset
        Over ``(factor, horizon)``: ``ic_mean``, ``ic_std``, ``ic_ir``, ``ic_tstat``,
        ``ic_tstat_nw``, ``ic_dates`` and the same for ``rank_ic`` and ``spread``; over
        ``(factor,)``: ``turnover``, ``coverage``, ``problem`` (empty string when scored);
        ``quantile_return`` over ``(factor, horizon, quantile)``; the daily ``ic``, ``rank_ic``
        and ``spread`` over ``(factor, horizon, time)``.

    Raises
    ------
    QuantDeskError
        For misshapen inputs, no common dates or assets, or a bad horizon or ``quantiles``.
    """
    plan = ScoringPlan(values, close, horizons, quantiles, min_pairs=min_pairs, delay=delay)
    if values.chunks is not None:
        import dask

        return plan.finish(dask.compute(*plan.tasks()))
    # already in memory: one call, no copy of a factor slice, numba's threads share the factors
    return plan.finish([score_block(plan.values.to_numpy(), _ranked_forward_from_close(*plan.forward_inputs),
                                    quantiles, min_pairs=min_pairs)])


class ScoringPlan:
    """The scoring of ``values`` split into one task per factor chunk, and the merge of their results.

    Each task scores a chunk where its values are (with the pipeline, on the worker that just
    computed them, before any write or read of the store), so only the small results travel;
    the forward returns are ranked once, on a worker, and shared by every task. (Tasks rather
    than ``xr.apply_ufunc``: each block returns a dict of differently shaped arrays, and the
    shared ranking is one graph key instead of one copy per block.) Arguments as :func:`score`.
    """

    def __init__(self, values: xr.DataArray, close: xr.DataArray, horizons: Sequence[int] = DEFAULT_HORIZONS,
                 quantiles: int = DEFAULT_QUANTILES, *, min_pairs: int = DEFAULT_MIN_PAIRS, delay: int = 0) -> None:
        _check_dims(values, ("time", "asset", "factor"), "values")
        values = values.transpose("time", "asset", "factor")
        _check_dims(close, ("time", "asset"), "close")
        close = close.transpose("time", "asset")
        common_times = np.intersect1d(values["time"].to_numpy(), close["time"].to_numpy()).size
        common_assets = np.intersect1d(values["asset"].to_numpy(), close["asset"].to_numpy()).size
        if common_times == 0 or common_assets == 0:
            raise QuantDeskError(
                f"values and close share {common_times} dates and {common_assets} assets: "
                "give closes of the factors' universe and period"
            )
        if values.sizes["factor"] == 0:
            raise QuantDeskError("values holds no factors: compute at least one factor variant")
        _check_quantiles(quantiles, values.sizes["asset"])
        self.values = values
        self.quantiles, self.min_pairs, self.delay = quantiles, min_pairs, delay
        self.horizons = _check_horizons(horizons, close.sizes["time"], delay)
        # Forward returns come from the closes' own dates (a horizon may reach past the factors'
        # last date), then line up with the factors' dates and assets.
        self.forward_inputs = (close.to_numpy(), self.horizons, delay, _positions(close, values, "time"),
                               _positions(close, values, "asset"))

    def ranked_forward(self):
        """Return the ``dask.delayed`` :class:`RankedForward` every block task shares.

        Ranked on a worker from the closes: the graph carries the closes, not the bulkier ranking.
        """
        import dask

        return dask.delayed(_ranked_forward_from_close, pure=True)(*self.forward_inputs)

    def tasks(self) -> list:
        """Return one ``dask.delayed`` :func:`score_block` per factor chunk of the (Dask-backed) values, in order."""
        import dask

        data = self.values.chunk({"time": -1, "asset": -1}).data
        shared = self.ranked_forward()
        return [
            dask.delayed(score_block, pure=True)(block, shared, self.quantiles, min_pairs=self.min_pairs)
            for block in data.to_delayed(optimize_graph=False).ravel()
        ]

    def finish(self, parts: Sequence[Mapping[str, np.ndarray]]) -> xr.Dataset:
        """Return the scores Dataset from the results of :meth:`tasks` (or one whole-array :func:`score_block`)."""
        merged = {name: np.concatenate([part[name] for part in parts], axis=0) for name in parts[0]}
        labels = [str(label) for label in self.values["factor"].to_numpy()]
        return _as_dataset(merged, labels, self.horizons, self.values["time"], self.quantiles, self.min_pairs,
                           self.delay)


def _positions(close: xr.DataArray, values: xr.DataArray, dim: str) -> np.ndarray:
    """Return where each of ``values``'s labels along ``dim`` sits in ``close`` (-1 where it does not)."""
    if dim in close.indexes and dim in values.indexes:
        return close.indexes[dim].get_indexer(values.indexes[dim])
    if close.sizes[dim] != values.sizes[dim]:
        raise QuantDeskError(
            f"close has {close.sizes[dim]} {dim} entries and values {values.sizes[dim]}, without {dim} labels to "
            f"match them: give both the same {dim} coordinate"
        )
    return np.arange(values.sizes[dim])


def _as_dataset(merged: Mapping[str, np.ndarray], labels: list[str], horizons: tuple[int, ...], times: xr.DataArray,
                quantiles: int, min_pairs: int, delay: int) -> xr.Dataset:
    data = {}
    for name, array in merged.items():
        if name in _SERIES:
            data[name] = (("factor", "horizon", "time"), array)
        elif name == "quantile_return":
            data[name] = (("factor", "horizon", "quantile"), array)
        elif array.ndim == 1:
            data[name] = (("factor",), array)
        else:
            data[name] = (("factor", "horizon"), array)
    return xr.Dataset(
        data,
        coords={
            "factor": labels,
            "horizon": list(horizons),
            "time": times.to_numpy(),
            "quantile": np.arange(1, quantiles + 1),
        },
        attrs={
            "quantiles": quantiles,
            "min_pairs": min_pairs,
            "delay": delay,
            "tstat_nw": "Newey-West t-statistic, Bartlett kernel with horizon - 1 lags (overlapping forward returns)",
            "quantile": "1 = lowest factor values; returns are mean h-bar forward returns, not per bar",
        },
    )


# --------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------


def leaderboard(
    scores: xr.Dataset, horizon: int | None = None, by: str = "rank_ic_ir", absolute: bool = True
) -> pd.DataFrame:
    """Return one row per factor ranked by ``by`` at ``horizon``, with the headline numbers.

    Parameters
    ----------
    scores : xarray.Dataset
        The result of :func:`score`.
    horizon : int, optional
        Horizon the ranking and headline columns use; the first scored horizon by default.
    by : str
        A ``(factor, horizon)`` or ``(factor,)`` variable of ``scores`` to rank by.
    absolute : bool
        Rank by the magnitude: a reliably negative factor is as useful reversed. The
        ``direction`` column gives the sign.

    Returns
    -------
    pandas.DataFrame
        Indexed by factor in ranking order (unscored factors last) with ``rank``, ``direction``,
        rank-IC and IC mean / IR / Newey-West t, the top-minus-bottom spread, turnover, coverage,
        ``rank_ic_mean_<h>`` for every horizon (the decay profile) and ``problem``.
    """
    horizon = _pick_horizon(scores, horizon)
    if by not in scores.data_vars or scores[by].dims not in (("factor", "horizon"), ("factor",)):
        candidates = [
            name
            for name, variable in scores.data_vars.items()
            if variable.dims in (("factor", "horizon"), ("factor",)) and name != "problem"
        ]
        raise QuantDeskError(f"Cannot rank by {by!r}: choose one of {', '.join(sorted(candidates))}")
    at = scores.sel(horizon=horizon)
    table = pd.DataFrame(index=pd.Index(scores["factor"].to_numpy(), name="factor"))
    for name in ("rank_ic_mean", "rank_ic_ir", "rank_ic_tstat_nw", "ic_mean", "ic_ir", "ic_tstat_nw", "spread_mean",
                 "spread_tstat_nw", "rank_ic_dates"):
        table[name] = at[name].to_numpy()
    table["turnover"] = scores["turnover"].to_numpy()
    table["coverage"] = scores["coverage"].to_numpy()
    for h in scores["horizon"].to_numpy():
        table[f"rank_ic_mean_{int(h)}"] = scores["rank_ic_mean"].sel(horizon=h).to_numpy()
    table["problem"] = scores["problem"].to_numpy() if "problem" in scores else ""
    key = at[by].to_numpy().astype(float)
    table["direction"] = np.sign(key)
    strength = np.abs(key) if absolute else key
    table = table.assign(_key=strength).sort_values("_key", ascending=False, na_position="last", kind="stable")
    table = table.drop(columns="_key")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.attrs.update({"horizon": horizon, "by": by, "absolute": absolute})
    return table


def _pick_horizon(scores: xr.Dataset, horizon: int | None) -> int:
    available = [int(h) for h in scores["horizon"].to_numpy()]
    if horizon is None:
        return available[0]
    if horizon not in available:
        raise QuantDeskError(f"Horizon {horizon} was not scored: choose one of {available}")
    return horizon


# --------------------------------------------------------------------------------------
# Redundancy
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _standardized_ranks(block, min_pairs, out):
    """Per date and factor: average ranks over the assets with a value, standardized; 0 elsewhere."""
    dates, assets, factors = block.shape
    packed = np.empty(assets, np.uint64)
    scratch = np.empty(assets, np.uint64)
    counts = np.empty(1024, np.int64)
    order = np.empty(assets, np.int64)
    ordered = np.empty(assets, np.float64)
    x = np.empty(assets, np.float64)
    for d in range(dates):
        for f in range(factors):
            n = 0
            for a in range(assets):
                out[d, f, a] = 0.0
                v = np.float64(block[d, a, f])
                x[a] = v
                if math.isfinite(v):
                    packed[n] = (_sort_key(v) << np.uint64(32)) | np.uint64(a)
                    n += 1
            if n < min_pairs:
                out[d, f, 0] = np.nan
                continue
            _argsort_valid(x, packed, scratch, counts, order, ordered, n)
            mean = 0.5 * (n + 1)
            total = 0.0
            i = 0
            while i < n:
                j = i + 1
                while j < n and ordered[j] == ordered[i]:
                    j += 1
                deviation = 0.5 * (i + 1 + j) - mean
                for k in range(i, j):
                    out[d, f, order[k]] = deviation
                total += (j - i) * deviation * deviation
                i = j
            if total <= 0.0:
                out[d, f, 0] = np.nan
                continue
            scale = 1.0 / math.sqrt(total)
            for a in range(assets):
                out[d, f, a] *= scale


def factor_correlation(
    values: xr.DataArray, sample_dates: int | None = 60, min_pairs: int = DEFAULT_MIN_PAIRS
) -> xr.DataArray:
    """Return the average cross-sectional rank correlation between every pair of factors.

    To stay cheap with hundreds of factors it uses ``sample_dates`` dates spread evenly over
    the period (all dates with ``None``). On each date every factor is ranked over the assets
    it covers; an asset a factor lacks counts as its mean rank, so for two factors covering the
    same assets the date's value is exactly Spearman's rho, and otherwise it is shrunk towards 0.
    A date counts for a pair when both factors have at least ``min_pairs`` values.

    Parameters
    ----------
    values : xarray.DataArray
        Factor values over ``(time, asset, factor)``, in memory or Dask-backed (only the sampled
        dates are read).
    sample_dates : int, optional
        Number of evenly spread dates to average over.
    min_pairs : int
        Fewest values a factor needs on a date to count there.

    Returns
    -------
    xarray.DataArray
        ``(factor, other_factor)`` (the same labels on both axes), 1 on the diagonal for a
        factor with values, NaN for a pair never observed together.
    """
    _check_dims(values, ("time", "asset", "factor"), "values")
    values = values.transpose("time", "asset", "factor")
    times = values.sizes["time"]
    if sample_dates is not None:
        if sample_dates < 1:
            raise QuantDeskError(f"sample_dates {sample_dates} must be at least 1 (or None for every date)")
        picked = np.unique(np.linspace(0, times - 1, min(sample_dates, times)).round().astype(int))
        values = values.isel(time=picked)
    block = np.asarray(values.to_numpy())
    if block.dtype not in (np.float32, np.float64):
        block = block.astype("float64")
    dates, assets, factors = block.shape
    ranks = np.empty((dates, factors, assets))
    _standardized_ranks(np.ascontiguousarray(block), int(min_pairs), ranks)
    total = np.zeros((factors, factors))
    observed = np.zeros((factors, factors))
    for d in range(dates):
        present = ~np.isnan(ranks[d, :, 0])
        z = np.where(present[:, None], ranks[d], 0.0)
        total += z @ z.T
        observed += np.outer(present, present)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(observed > 0, total / np.maximum(observed, 1), np.nan)
    labels = values["factor"].to_numpy()
    return xr.DataArray(
        np.clip(correlation, -1.0, 1.0),
        dims=("factor", "other_factor"),  # xarray needs two names for the two axes; both hold the same labels
        coords={"factor": labels, "other_factor": labels},
        name="rank_correlation",
        attrs={"dates": dates},
    )


def redundant_clusters(correlation: xr.DataArray, threshold: float = 0.9) -> list[list[str]]:
    """Group factors whose rank correlations are at least ``threshold`` in magnitude.

    Hierarchical clustering with average linkage on the distance ``1 - |rho|``, cut at
    ``1 - threshold``: within a cluster the average ``|rho|`` between members is at least
    ``threshold``. A pair never observed together counts as uncorrelated.

    Parameters
    ----------
    correlation : xarray.DataArray
        The result of :func:`factor_correlation`.
    threshold : float
        In ``(0, 1]``.

    Returns
    -------
    list of list of str
        Every factor exactly once, in clusters (singletons included), largest cluster first.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if not 0.0 < threshold <= 1.0:
        raise QuantDeskError(f"threshold {threshold} must be in (0, 1], e.g. 0.9")
    labels = [str(label) for label in correlation["factor"].to_numpy()]
    if len(labels) == 1:
        return [labels]
    rho = np.nan_to_num(np.asarray(correlation.to_numpy(), dtype="float64"), nan=0.0)
    distance = 1.0 - np.abs((rho + rho.T) / 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(np.clip(distance, 0.0, 1.0), checks=False), method="average")
    assignment = fcluster(tree, t=1.0 - threshold, criterion="distance")
    clusters: dict[int, list[str]] = {}
    for label, cluster in zip(labels, assignment):
        clusters.setdefault(int(cluster), []).append(label)
    return sorted(clusters.values(), key=lambda members: (-len(members), labels.index(members[0])))


def select_representatives(
    clusters: Sequence[Sequence[str]],
    scores: xr.Dataset,
    horizon: int | None = None,
    by: str = "rank_ic_ir",
) -> list[str]:
    """Keep the best-scoring factor of each cluster (by ``|by|`` at ``horizon``).

    Parameters
    ----------
    clusters : sequence of sequence of str
        The result of :func:`redundant_clusters`.
    scores : xarray.Dataset
        The result of :func:`score` for (at least) the clustered factors.
    horizon : int, optional
        Horizon of the ranking variable; the first scored horizon by default.
    by : str
        Ranking variable, as in :func:`leaderboard`.

    Returns
    -------
    list of str
        One factor per cluster, in cluster order. A cluster none of whose factors scored keeps its first member.
    """
    table = leaderboard(scores, horizon, by)
    position = {label: index for index, label in enumerate(table.index)}
    chosen = []
    for members in clusters:
        missing = [m for m in members if m not in position]
        if missing:
            raise QuantDeskError(f"Factors {', '.join(missing)} are not in scores: score every clustered factor first")
        chosen.append(min(members, key=position.__getitem__))
    return chosen


# --------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------


def save_scores(scores: xr.Dataset, path: str | Path) -> Path:
    """Write ``scores`` to a Zarr store at ``path`` (e.g. ``<factor store>/scores.zarr``), replacing any there."""
    path = Path(path)
    # Uncompressed: daily ICs are noise to a compressor (it saved a few percent), and compressing
    # and decompressing them took three times as long as the plain write and read.
    encoding = {name: {"compressors": None} for name in scores.data_vars}
    scores.to_zarr(path, mode="w", consolidated=False, encoding=encoding)
    return path


def load_scores(path: str | Path) -> xr.Dataset:
    """Read scores written by :func:`save_scores` into memory."""
    path = Path(path)
    if not path.exists():
        raise QuantDeskError(
            f"No scores at {path}: run the scoring first (quantdesk.factors.scoring.score, then save_scores)"
        )
    # chunks=None: read here, not through Dask (with a client connected, Dask would send every
    # chunk's read to the cluster and back)
    with xr.open_zarr(path, consolidated=False, chunks=None) as stored:
        return stored.load()
