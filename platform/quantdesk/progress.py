"""Progress of long work: a tqdm bar in a terminal, or a callback for dashboards."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]


def progress_reporter(progress: bool | Progress, total: int, description: str, unit: str) -> Callable[[int | None], None]:
    """Return ``report(done)`` for ``total`` steps; ``report(None)`` closes the bar.

    ``progress`` is True for a tqdm bar, False for silence, or a callable given ``(done, total)``.
    """
    if callable(progress):
        return lambda done: progress(done, total) if done is not None else None
    if not progress:
        return lambda done: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, disable=None)

    def report(done: int | None) -> None:
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return report
