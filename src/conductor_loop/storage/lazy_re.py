"""Regular expressions compiled on first use.

Importing ``re`` (and ``enum`` with it) and compiling the bus and YAML patterns was a
fifth of what ``run-agent bus post`` cost; the write path needs none of them for the
common record, so each module names its patterns here and compiles them when a rare
input first needs one. Flags go inline (``(?m)``, ``(?x)``): naming ``re.MULTILINE``
would import ``re``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    import re
    from collections.abc import Callable


def lazy(pattern: str) -> Callable[[], re.Pattern[str]]:
    """A function giving ``re.compile(pattern)``, compiled on its first call."""
    compiled: list[re.Pattern[str]] = []

    def get() -> re.Pattern[str]:
        if not compiled:
            import re

            compiled.append(re.compile(pattern))
        return compiled[0]

    return get
