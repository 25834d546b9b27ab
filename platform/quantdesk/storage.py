"""Write a folder of files so that readers see the old folder or the new one, never half of either."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``final``; on success it replaces ``final`` by renames.

    On an exception the staged folder is removed and ``final`` is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".writing-"))
    try:
        yield staging
        if final.exists():
            # Rename the old folder away first: a rename cannot replace a non-empty directory.
            retired = Path(tempfile.mkdtemp(dir=final.parent, prefix=".replaced-"))
            final.rename(retired / final.name)
            staging.rename(final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
