"""Progress bars, drawn only on a terminal: a redirected log gets no ``\\r`` frames."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(*, total: int | None, desc: str, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; disabled unless ``enabled`` and stderr is a terminal."""
    shown = enabled and sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not shown, leave=False, file=sys.stderr, **kwargs)
