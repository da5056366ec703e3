"""`/metrics` (Prometheus) and `/healthz` on one port, served from a daemon thread."""

import json
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def start_http_server(
    host: str, port: int, registry: CollectorRegistry, health: Callable[[], tuple[bool, dict]]
) -> _Server:
    """`health()` returns (ready, details); /healthz answers 200 when ready, 503 otherwise."""
    metrics_app = make_wsgi_app(registry)

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO") == "/healthz":
            ready, details = health()
            body = json.dumps({"status": "ok" if ready else "unavailable", **details}).encode()
            start_response(
                "200 OK" if ready else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
