"""What the emulator tests share: a webhook receiver that records deliveries, the
recorded GitHub payload examples, and a check that a payload carries every key of one.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parents[1] / "samples" / "webhooks"


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> str:
        return self.headers["x-github-event"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    """The App's webhook endpoint: records every delivery, answers ``status``."""

    url: str
    hits: list[Hit] = field(default_factory=list)
    status: int = 202
    delay: float = 0.0  # seconds to wait before answering: a slow receiver

    def of(self, event: str) -> list[Any]:
        """The payloads of the recorded deliveries of ``event``, oldest first."""
        return [hit.json() for hit in self.hits if hit.event == event]


@contextmanager
def running_sink() -> Iterator[Sink]:
    record = Sink(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            record.hits.append(Hit({k.lower(): v for k, v in self.headers.items()}, body))
            if record.delay:
                time.sleep(record.delay)  # the sender may have given up: that is the point
            answer = b'{"accepted": true}'
            try:
                self.send_response(record.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender timed out and closed the connection

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}/api/github/webhooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


def missing_keys(
    template: Any, actual: Any, path: str = "", nullable: frozenset[str] = frozenset()
) -> list[str]:
    """Keys of ``template`` (recursively) that ``actual`` lacks; a path in ``nullable`` may
    be null where the example has an object."""
    if isinstance(template, dict):
        if actual is None and path in nullable:
            return []
        if not isinstance(actual, dict):
            return [path or "."]
        found = []
        for key, value in template.items():
            if key not in actual:
                found.append(f"{path}.{key}")
            else:
                found += missing_keys(value, actual[key], f"{path}.{key}", nullable)
        return found
    if isinstance(template, list) and template and isinstance(actual, list) and actual:
        return missing_keys(template[0], actual[0], path, nullable)
    return []
