"""A tour in one file: onion middleware, a Router and an Express stack on one App.

Run ``scallion serve examples.hello:app``, then ``curl localhost:3000/api/hello/you``.
"""

import time

from scallion import App, Context, HttpError, sse
from scallion.express import Express
from scallion.router import Router
from scallion.types import Next

app = App()


async def timing(ctx: Context, next: Next) -> None:
    start = time.perf_counter()
    await next()  # everything downstream runs here; the rest runs on the way back out
    ctx.set("X-Response-Time", f"{(time.perf_counter() - start) * 1000:.2f}ms")


api = Router(prefix="/api")


@api.get("/hello/:name")
async def hello(ctx: Context) -> None:
    ctx.body = {"hello": ctx.params["name"]}


@api.post("/echo")
async def echo(ctx: Context) -> None:
    ctx.body = await ctx.request.json()  # 400 on bad JSON, 413 over the 1 MiB limit


@api.get("/ticks")
async def ticks(ctx: Context) -> None:
    async def events():  # server-sent events, closed at once if the client goes away
        for n in range(5):
            yield {"tick": n}

    ctx.body = sse(events())


classic = Express()  # (req, res, next) handlers, mounted below as ONE onion layer


@classic.get("/")
def home(req, res):
    res.json({"try": ["/api/hello/you", "/api/ticks", "/users/7", "/users/x"]})


@classic.get("/users/:id")
def user(req, res, next):
    if not req.params["id"].isdigit():
        return next(HttpError(400, "id must be a number"))
    res.json({"id": int(req.params["id"]), "via": "express"})


app.use(timing, api.routes(), api.allowed_methods(), classic)

if __name__ == "__main__":
    app.listen(3000)  # the same as: scallion serve examples.hello:app
