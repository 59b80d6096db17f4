"""Seed 001 §1.2 (洋葱模型): three layers print 1..6, in on the way down and out on the way up.

Run it with ``scallion serve examples.seeds.onion_order:app`` and request ``/``.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.types import Next

app = App()


async def first(ctx: Context, next: Next) -> None:
    print("1. entering layer one")
    await next()
    print("6. leaving layer one")


async def second(ctx: Context, next: Next) -> None:
    print("2. entering layer two")
    await next()
    print("5. leaving layer two")


async def third(ctx: Context, next: Next) -> None:
    print("3. entering layer three")
    ctx.body = "Hello World"
    print("4. leaving layer three")


app.use(first, second, third)
