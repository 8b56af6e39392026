"""One router per resource; each route parses input, calls a service, shapes the output."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from conductor_loop.api.deps import validate_path_ids
from conductor_loop.api.fastapi_compat import check_pydantic_v1_lazily

check_pydantic_v1_lazily()  # before any route is declared


def api_router(**options: Any) -> APIRouter:
    """A resource's router (``options`` as ``APIRouter`` takes them). Its routes check the
    ids in their paths (``deps.validate_path_ids``), as every route of the app does: the
    app takes them as they are (``app._add_routes``)."""
    return APIRouter(dependencies=[Depends(validate_path_ids)], **options)
