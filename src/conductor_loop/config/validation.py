"""Checking configuration data with pydantic: imported here, and only when a config is
actually validated (not when a cached one is used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from conductor_loop.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")

# pydantic's wording for dataclass arguments, in the words a config file's reader uses.
_MESSAGES = {
    "extra_forbidden": "unknown key",
    "unexpected_keyword_argument": "unknown key",
    "missing": "Field required",
    "missing_argument": "Field required",
}


_adapters: dict[type, TypeAdapter[Any]] = {}


def _adapter(model: type[T]) -> TypeAdapter[T]:
    from pydantic import TypeAdapter

    if model not in _adapters:
        _adapters[model] = TypeAdapter(model)
    return _adapters[model]


def validate(model: type[T], data: dict[str, Any], source: str) -> T:
    """``data`` checked and converted into ``model``; a ConfigError names each bad key."""
    from pydantic import ValidationError

    try:
        return _adapter(model).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for error in exc.errors():
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        path = ".".join(str(part) for part in loc) or "(top level)"
        lines.append(f"  {path}: {_MESSAGES.get(error['type'], error['msg'])}")
    return "\n".join(lines)
