"""Factor library speed: every default variant on a synthetic panel, values per second by family.

Computes each variant of the built-in library's default grids on ``synthetic_panel(assets,
days)`` (plus simulated ``rates``, ``inflation`` and ``vix`` series for the macro family), on
one thread with the kernels compiled beforehand, and prints per family the variants, the
seconds and the values (time x asset) per second. The GARCH factor, whose cost is one arch
fit per asset rather than per value, has a line of its own. The baseline, run in the same
process on the same closes, is pandas' ``DataFrame.rolling(21).mean()``; each rate is also
shown as a ratio to it. The scale target (500 assets x 760 variants x 2,520 bars in 30 s on
2 cores, scoring and writing included) needs on the order of 3e7 values/s per core for the
factors.

    .venv/bin/python tests/benchmarks/bench_factor_library.py [--assets 100] [--days 2520]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import pandas as pd

from quantdesk.factors.panel import arrays, synthetic_panel
from quantdesk.factors.registry import registry


def panel_data(assets: int, days: int) -> dict[str, np.ndarray]:
    """Return the synthetic panel's arrays with three simulated external series added."""
    data = arrays(synthetic_panel(assets, days, seed=7))
    rng = np.random.default_rng(7)
    data["rates"] = 2.0 + np.cumsum(rng.normal(0.0, 0.03, days))
    data["inflation"] = np.repeat(np.cumsum(rng.normal(0.002, 0.002, days // 21 + 1)), 21)[:days] + 250.0
    data["vix"] = 15.0 * np.exp(np.cumsum(rng.normal(0.0, 0.05, days)) * 0.3)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--days", type=int, default=2520)
    arguments = parser.parse_args()

    data = panel_data(arguments.assets, arguments.days)
    values_per_variant = arguments.days * arguments.assets
    rows = min(arguments.days, 600)
    warm = {name: (value[:rows, :2] if value.ndim == 2 else value[:rows]) for name, value in data.items()}
    variants_by_family = defaultdict(list)
    for entry in registry().values():
        group = "garch (fit)" if entry.name == "garch_volatility" else entry.family
        for variant in entry.variants():
            variant.compute(warm)  # compiles (or loads) the numba kernels and imports arch outside the timing
            variants_by_family[group].append(variant)

    closes = pd.DataFrame(data["close"])
    start = time.perf_counter()
    closes.rolling(21).mean()
    baseline = values_per_variant / (time.perf_counter() - start)

    print(f"{arguments.assets} assets x {arguments.days} bars; "
          f"baseline pandas rolling(21).mean(): {baseline:.3g} values/s")
    print(f"{'family':12s} {'variants':>8s} {'seconds':>8s} {'values/s':>10s} {'vs baseline':>11s}")
    total_variants, total_seconds = 0, 0.0
    for family, variants in sorted(variants_by_family.items()):
        start = time.perf_counter()
        for variant in variants:
            variant.compute(data)
        seconds = time.perf_counter() - start
        rate = len(variants) * values_per_variant / seconds
        total_variants += len(variants)
        total_seconds += seconds
        print(f"{family:12s} {len(variants):8d} {seconds:8.2f} {rate:10.3g} {rate / baseline:11.2f}")
    rate = total_variants * values_per_variant / total_seconds
    print(f"{'all':12s} {total_variants:8d} {total_seconds:8.2f} {rate:10.3g} {rate / baseline:11.2f}")


if __name__ == "__main__":
    main()
