"""router.allowed_methods(): OPTIONS, 405 and 501 with Allow, only when nothing answered."""

from __future__ import annotations

from typing import Any

import pytest
from _router_helpers import fetch

from scallion import App, Context, HttpError
from scallion.router import Router


def users_router(**options: Any) -> Router:
    router = Router(**options)
    router.get("/users", lambda ctx: setattr(ctx, "body", "list"))
    router.post("/users", lambda ctx: setattr(ctx, "body", "created"))
    router.put("/users/:id", lambda ctx: setattr(ctx, "body", "put"))
    return router


async def test_options_on_a_known_path_is_200_with_allow_and_empty_body() -> None:
    response = await fetch(users_router(), "OPTIONS", "/users")
    assert response.status_code == 200
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.content == b""


async def test_wrong_method_on_a_known_path_is_405_with_allow() -> None:
    response = await fetch(users_router(), "DELETE", "/users/5")
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT"


async def test_head_on_a_get_route_is_served_not_405() -> None:
    response = await fetch(users_router(), "HEAD", "/users")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "4"


@pytest.mark.parametrize("method", ["PROPFIND", "TRACE", "CONNECT", "FOO"])
async def test_method_outside_the_router_methods_is_501(method: str) -> None:
    response = await fetch(users_router(), method, "/users")
    assert response.status_code == 501
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_501_also_for_unknown_paths() -> None:
    response = await fetch(users_router(), "PROPFIND", "/nowhere")
    assert response.status_code == 501
    assert "allow" not in response.headers


async def test_custom_methods_list() -> None:
    router = users_router(methods=["GET", "HEAD", "POST", "PUT", "OPTIONS", "PROPFIND"])
    router.add("PROPFIND", "/dav", lambda ctx: setattr(ctx, "body", "dav"))
    assert (await fetch(router, "PROPFIND", "/dav")).text == "dav"
    assert (await fetch(router, "DELETE", "/users")).status_code == 501
    assert (await fetch(router, "PROPFIND", "/users")).status_code == 405


async def test_unknown_path_with_known_method_stays_404() -> None:
    response = await fetch(users_router(), "GET", "/nowhere")
    assert response.status_code == 404
    assert "allow" not in response.headers


async def test_all_route_allows_every_router_method() -> None:
    router = Router()
    router.all("/any", lambda ctx: None)  # answers nothing, so the response stays 404
    # Mounted before routes(), allowed_methods() sees every response on its way out.
    app = App().use(router.allowed_methods()).use(router.routes())
    response = await fetch(app, "OPTIONS", "/any")
    assert response.status_code == 200
    assert response.headers["allow"] == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


async def test_after_routes_it_only_sees_requests_no_route_answered() -> None:
    router = Router()
    router.all("/any", lambda ctx: None)
    response = await fetch(router, "OPTIONS", "/any")  # routes() then allowed_methods()
    assert response.status_code == 404


async def test_explicit_options_route_wins() -> None:
    router = users_router()
    router.options("/users", lambda ctx: setattr(ctx, "body", "custom options"))
    response = await fetch(router, "OPTIONS", "/users")
    assert response.text == "custom options"


async def test_does_nothing_when_downstream_set_a_response() -> None:
    router = users_router()

    async def later(ctx: Context, next: Any) -> None:
        ctx.status = 202

    app = App().use(router.allowed_methods()).use(router.routes()).use(later)
    response = await fetch(app, "DELETE", "/users")
    assert response.status_code == 202
    assert "allow" not in response.headers


async def test_does_nothing_when_downstream_set_a_body_with_status_404() -> None:
    router = users_router()

    async def later(ctx: Context, next: Any) -> None:
        ctx.status = 404
        ctx.body = "custom not found"

    app = App().use(router.allowed_methods()).use(router.routes()).use(later)
    response = await fetch(app, "DELETE", "/users")
    assert response.status_code == 404
    assert response.text == "custom not found"


async def test_throw_raises_http_errors_that_keep_allow() -> None:
    router = users_router()
    caught: list[HttpError] = []

    async def catcher(ctx: Context, next: Any) -> None:
        try:
            await next()
        except HttpError as err:
            caught.append(err)
            raise

    app = App().use(catcher).use(router.routes()).use(router.allowed_methods(throw=True))
    response = await fetch(app, "DELETE", "/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert caught[0].status == 405
    response = await fetch(app, "FOO", "/users")
    assert response.status_code == 501
    assert [err.status for err in caught] == [405, 501]


async def test_custom_exceptions_imply_throw() -> None:
    router = users_router()

    def not_allowed() -> BaseException:
        return HttpError(405, "use another verb")

    def not_implemented() -> BaseException:
        return HttpError(501, "never heard of it", expose=True)

    mw = router.allowed_methods(method_not_allowed=not_allowed, not_implemented=not_implemented)
    app = App().use(router.routes()).use(mw)
    response = await fetch(app, "DELETE", "/users")
    assert (response.status_code, response.text) == (405, "use another verb")
    response = await fetch(app, "FOO", "/users")
    assert (response.status_code, response.text) == (501, "never heard of it")


async def test_nested_router_paths_are_known_to_the_parent() -> None:
    child = Router()
    child.get("/items", lambda ctx: setattr(ctx, "body", "items"))
    parent = Router()
    parent.use("/shop", child.routes())
    response = await fetch(parent, "POST", "/shop/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
