"""Seed 001 §7.2.3: the third layer, third-party features the inner layers build on.

Koa::

    app.use(cors({ origin: '*', allowMethods: ['GET', 'POST', 'PUT', 'DELETE'] }));
    app.use(bodyParser({ enableTypes: ['json', 'form'] }));
    app.use(serve('./public'));

scallion: the same three, plus ``compress()`` as in §7.1's stack and §7.3.1 ("compress
before the content is produced"). Order matters on the way back out: ``compress`` sees
the final body of everything below it, static files included (a precompressed ``.br``/
``.gz`` next to a file is sent as is), and ``cors`` marks every response, errors too.
"""

from __future__ import annotations

from pathlib import Path

from scallion import App, Context
from scallion.middleware import body_parser, compress, cors, error_handler, serve_static
from scallion.router import Router

router = Router()


@router.post("/notes")
async def add_note(ctx: Context) -> None:
    ctx.status = 201
    ctx.body = {"note": ctx.request.parsed}


@router.get("/report")
async def report(ctx: Context) -> None:
    ctx.body = {"rows": [{"n": i, "label": f"row {i}"} for i in range(200)]}


app = App()
app.use(error_handler())
app.use(cors(origin="*", allow_methods=["GET", "POST", "PUT", "DELETE"]))
app.use(compress())
app.use(body_parser(enable_types=["json", "form"]))
app.use(serve_static(Path(__file__).with_name("public")))
app.use(router.routes(), router.allowed_methods())
