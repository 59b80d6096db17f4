"""Typing checks for the Router's decorator and chaining APIs, run by mypy in test_typing.py.

Never executed: mypy reads it and ``assert_type`` must hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, assert_type

from scallion import Context
from scallion.router import Dispatch, Route, Router

router = Router(prefix="/api")


@router.get("/users/:id", name="user")
async def show_user(ctx: Context, /) -> None: ...


# The decorator hands back the function itself, signature and all (not Any); the
# handlers are positional-only so that assert_type can compare them with Callable[...].
assert_type(show_user, Callable[[Context], Coroutine[Any, Any, None]])


@router.post("/users", body_limit=1024)
def create_user(ctx: Context, next: Callable[[], Awaitable[Any]], /) -> int:
    return 1


assert_type(create_user, Callable[[Context, Callable[[], Awaitable[Any]]], int])


@router.add(["PUT", "PATCH"], "/users/:id")
def update_user(ctx: Context, /) -> None: ...


assert_type(update_user, Callable[[Context], None])

# With handlers, every verb returns the router, so calls chain.
assert_type(router.get("/a", show_user), Router)
assert_type(router.get("/a", show_user).put("/b", create_user, show_user), Router)
assert_type(router.all("/c", show_user), Router)
assert_type(router.add(None, "/d", show_user), Router)
assert_type(router.use(create_user), Router)
assert_type(router.use("/admin", create_user, always=True), Router)
assert_type(router.param("id", lambda value, ctx, next: next()), Router)
assert_type(router.redirect("/old", "user"), Router)

assert_type(router.routes(), Dispatch)
assert_type(router.routes().router, Router)
assert_type(router.url("user", query={"tab": "x"}, id=3), str)
assert_type(router.route("user"), Route | None)
assert_type(router.match("/api/users/1", "GET"), list[tuple[Route, dict[str, str]]])
