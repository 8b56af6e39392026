"""One router per resource; each route parses input, calls a service, shapes the output."""

from conductor_loop.api.fastapi_compat import check_pydantic_v1_lazily

check_pydantic_v1_lazily()  # before any route is declared
