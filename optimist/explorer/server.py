"""The explorer's HTTP server (standard library `http.server`, bound to 127.0.0.1 only).

Routes (docs/explorer.md): `/`, `/game/<id>`, `/request/<id>` (an id or an entry `RB:I`), `/request-batch/<id>`,
`/batch/<id>` (HTML; `?fragment=1` returns only the main block the page's script swaps in), `/api/overview`,
`/api/game/<id>`, `/api/request/<id>`, `/api/request-batch/<id>`, `/api/batch/<id>`, `/api/status` (JSON). Unknown paths and ids: 404; a node that does not answer: 503 with a banner / `{"error": ...}`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from optimist.entries import EntryError, format_ref, parse_ref
from optimist.explorer import pages
from optimist.explorer.data import ChainDown, ChainView, NotFound

HOST = "127.0.0.1"
log = logging.getLogger("optimist.explorer")

def _request_id(text: str) -> int:
    """A request id or an entry ref `RB:I` (NotFound for one that cannot exist)."""
    try:
        return parse_ref(text)
    except EntryError as exc:
        raise NotFound(str(exc)) from None


ROUTES: list[tuple[re.Pattern[str], str, Callable[[str], Any] | None]] = [
    (re.compile(r"/"), "overview", None),
    (re.compile(r"/game/(\d{1,18})"), "game", int),
    (re.compile(r"/request/(\d{1,20}|\d{1,14}:\d{1,5})"), "request", _request_id),   # entry ids have 19 digits
    (re.compile(r"/request-batch/(\d{1,18})"), "request_batch", int),
    (re.compile(r"/batch/(\d{1,18})"), "batch", int),
]


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def make_handler(view: ChainView, poll_ms: int = 2000) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving `view`."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "optimist-explorer"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj, default=_json_default, allow_nan=False), "application/json")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path.rstrip("/") or "/"
            api = path == "/api" or path.startswith("/api/")
            fragment = "fragment" in parse_qs(url.query)
            try:
                if api:
                    self._api(path[4:] or "/overview")
                else:
                    self._page(path, fragment)
            except NotFound as exc:
                self._error(HTTPStatus.NOT_FOUND, str(exc), api, fragment)
            except ChainDown as exc:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"chain unreachable: {exc}", api, fragment)
            except Exception as exc:  # a bug must not show a traceback to the visitor
                log.exception("explorer: %s failed", self.path)
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}", api, fragment)

        def _route(self, path: str) -> tuple[str, int | None]:
            for pattern, name, convert in ROUTES:
                m = pattern.fullmatch(path)
                if m:
                    return name, (convert(m.group(1)) if convert else None)
            raise NotFound(f"no page {path}")

        def _data(self, name: str, arg: int | None) -> dict[str, Any]:
            if name == "overview":
                return view.overview()
            return getattr(view, name)(arg or 0)

        def _api(self, path: str) -> None:
            if path == "/status":
                self._json(HTTPStatus.OK, view.status())
                return
            if path == "/overview":
                self._json(HTTPStatus.OK, view.overview())
                return
            name, arg = self._route(path)
            if name == "overview":
                raise NotFound(f"no endpoint /api{path}")
            self._json(HTTPStatus.OK, self._data(name, arg))

        def _page(self, path: str, fragment: bool) -> None:
            name, arg = self._route(path)
            d = self._data(name, arg)
            body = getattr(pages, name)(d)
            title = name if arg is None else f"{name.replace('_', ' ')} #{format_ref(arg)}"
            self._send(HTTPStatus.OK, body if fragment else pages.shell(title, body, d["version"], poll_ms=poll_ms),
                       "text/html")

        def _error(self, status: HTTPStatus, message: str, api: bool, fragment: bool) -> None:
            if api:
                self._json(status, {"error": message, "status": int(status)})
                return
            body = pages.not_found(message) if status == HTTPStatus.NOT_FOUND else \
                f"<h1>{status.value} {status.phrase}</h1><p>{pages.e(message)}</p>"
            banner = message if status == HTTPStatus.SERVICE_UNAVAILABLE else ""
            self._send(status, body if fragment else pages.shell(status.phrase, body, "", banner=banner,
                                                                 poll_ms=poll_ms), "text/html")

    return Handler


class Explorer:
    """A running explorer server (in a daemon thread): `url`, `close()`."""

    def __init__(self, view: ChainView, port: int = 0, *, poll_ms: int = 2000) -> None:
        self.view = view
        self.httpd = ThreadingHTTPServer((HOST, port), make_handler(view, poll_ms))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="explorer", daemon=True)

    def start(self) -> Explorer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Explorer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
