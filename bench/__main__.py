"""``python -m bench [name ...]``: run benchmarks by name, or all of them.

A benchmark is a module ``bench/<name>_bench.py`` with ``main() -> int`` (0 when every
target is met). Adding a file is all it takes to register one. Each prints a table and
writes ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

SUFFIX = "_bench"


def available() -> list[str]:
    return sorted(p.stem[: -len(SUFFIX)] for p in Path(__file__).parent.glob(f"*{SUFFIX}.py"))


def main(argv: list[str]) -> int:
    known = available()
    if any(arg in ("-h", "--help") for arg in argv):
        print(f"usage: python -m bench [{'|'.join(known)} ...]   (default: all)")
        return 0
    names = argv or known
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return 2
    status = 0
    for name in names:
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}{SUFFIX}")
        status |= int(module.main() or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
