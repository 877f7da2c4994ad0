"""Serving: Conductor's REST API over one `Runtime` (`pip install 'cadenza[server]'`).

`create_app(rt, token=None)` returns an ASGI app (Starlette) serving, under
`/api`, the part of Conductor's REST API listed in API.md's "Serving"
section, with Conductor's JSON shapes and status codes, so Conductor's own
SDKs (the `conductor-python` package's workers and clients) work against it
unchanged; `/health`; and the dashboard at `/ui/` (`cadenza.http.ui`). `serve(...)` is `cadenza serve`: one runtime on
one journal, served by uvicorn, bound to 127.0.0.1 unless told otherwise.
"""

from cadenza.http._app import create_app, routes
from cadenza.http._serve import serve, serving

__all__ = ["create_app", "routes", "serve", "serving"]
