"""Write files and folders so that readers see the old version or the new one, never half of either."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quantdesk.errors import QuantDeskError


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


@contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final`` to write to; on success it replaces ``final`` in one rename.

    On an exception the temporary file is removed and ``final`` is left as it was.

    Raises
    ------
    QuantDeskError
        When the folder cannot be created or written to.
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.")
    except OSError as error:
        raise QuantDeskError(f"Cannot write {str(final)!r} ({error.strerror}): choose a writable folder") from None
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(final: Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8) to ``final`` through :func:`staged_file`; return ``final``."""
    with staged_file(final) as temporary:
        if isinstance(content, bytes):
            temporary.write_bytes(content)
        else:
            temporary.write_text(content, encoding="utf-8", newline="")
    return final
