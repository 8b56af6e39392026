"""FastAPI without ``pydantic.v1``: its check for v1 models made lazy.

FastAPI (0.165) imports ``pydantic.v1`` (about 0.1 s and 1 MB of the server's start-up)
to check that no route or response uses a pydantic v1 model. Nothing can be one unless
something imported ``pydantic.v1``, so the check looks only then. ``routes`` applies it
before any route is declared; with other FastAPI internals it leaves them alone.
"""

from __future__ import annotations

import sys
from typing import Any


def check_pydantic_v1_lazily() -> None:
    """Have FastAPI look for pydantic v1 models only once ``pydantic.v1`` is imported."""
    try:
        import fastapi._compat as compat
        import fastapi.encoders as encoders
        from fastapi._compat import shared
    except ImportError:
        return
    lenient = getattr(shared, "lenient_issubclass", None)
    names = ("is_pydantic_v1_model_class", "is_pydantic_v1_model_instance")
    if lenient is None or not all(hasattr(shared, name) for name in names):
        return

    def is_v1_class(cls: Any) -> bool:
        v1 = sys.modules.get("pydantic.v1")
        return v1 is not None and bool(lenient(cls, v1.BaseModel))

    def is_v1_instance(obj: Any) -> bool:
        v1 = sys.modules.get("pydantic.v1")
        return v1 is not None and isinstance(obj, v1.BaseModel)

    replacements = dict(zip(names, (is_v1_class, is_v1_instance), strict=True))
    for module in (shared, compat, encoders):  # and where they were imported by name
        for name, replacement in replacements.items():
            if hasattr(module, name):
                setattr(module, name, replacement)
