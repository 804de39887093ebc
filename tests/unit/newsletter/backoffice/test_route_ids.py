"""Ids in every route are bounded: a huge number is a clear 4xx, never a 500 (issue 17 B9)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from fastapi.routing import APIRoute, _IncludedRouter
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from newsletter.editors.models import Role
from newsletter.parsing import MAX_ID
from tests.unit.newsletter.backoffice.conftest import Accounts

SignIn = Callable[[Role], str]
HUGE = ("99999999999999999999999", "9223372036854775808", str(MAX_ID + 1), "-1", "0")
_PARAM = re.compile(r"{([a-z_]+)}")


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint of the app with its full path, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif isinstance(route, _IncludedRouter):
            inner = prefix + route.include_context.prefix
            yield from _routes(route.original_router.routes, inner)


def _id_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path, id parameter) of every route whose path takes an integer."""
    found = []
    for path, route in _routes(client.app.routes):  # type: ignore[attr-defined]
        ints = {p.name for p in route.dependant.path_params if p.field_info.annotation is int}
        for name in _PARAM.findall(path):
            if name in ints:
                found.extend((method, path, name) for method in sorted(route.methods))
    return found


def test_every_id_route_bounds_its_ids(
    client: TestClient, accounts: Accounts, signed_in: SignIn
) -> None:
    """Pages and API alike answer 404/422 to ids past what the database holds."""
    token = signed_in(Role.ADMIN)
    routes = _id_routes(client)
    # The editors' pages and the API both have id routes; a new one is covered by itself.
    assert {path.split("/")[1] for _m, path, _n in routes} >= {"editor", "api"}
    for method, path, name in routes:
        for value in HUGE:
            url = path.replace("{" + name + "}", value)
            url = _PARAM.sub("x", url)
            if method == "GET":
                response = client.get(url, headers=accounts.bearer(Role.ADMIN))
            else:
                response = client.request(
                    method,
                    url,
                    data={"csrf_token": token},
                    headers=accounts.bearer(Role.ADMIN),
                )
            assert response.status_code in (404, 405, 422), (method, url, response.status_code)
