"""An app whose startup hook fails: the server must exit non-zero and say why."""

from __future__ import annotations

from scallion import App

app = App()


@app.on("startup")
async def connect() -> None:
    raise RuntimeError("cannot reach the database (scallion-test-startup-failure)")
