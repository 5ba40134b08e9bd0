"""The local receiver: every Alertmanager receiver of the local stack posts here.

`python -m kontaxa_local.alert_sink --port N --record FILE` serves, on 127.0.0.1 only:
  POST /<receiver>  an Alertmanager webhook notification, kept with the receiver's name
  GET  /            every notification received so far, as a JSON list, oldest first
  GET  /-/ready     200 once it listens
Each notification is also appended to FILE as one JSON line, so it outlives a restart.
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 1 << 20  # Alertmanager's notifications are small; refuse anything silly


class _Sink(ThreadingHTTPServer):
    def __init__(self, port: int, record: Path) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.record = record
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        if record.exists():
            self.received = [json.loads(line) for line in record.read_text().splitlines() if line]


class _Handler(BaseHTTPRequestHandler):
    server: _Sink

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/-/ready":
            self._reply(200, {"status": "ready"})
        elif self.path == "/":
            with self.server.lock:
                self._reply(200, list(self.server.received))
        else:
            self._reply(404, {"error": f"no {self.path}: GET / lists the notifications"})

    def do_POST(self) -> None:
        receiver = self.path.strip("/")
        length = int(self.headers.get("Content-Length") or 0)
        if not receiver or "/" in receiver:
            self._reply(404, {"error": "POST /<receiver>"})
            return
        if length > MAX_BODY:
            self._reply(413, {"error": f"notification over {MAX_BODY} bytes"})
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._reply(400, {"error": "the body is not JSON"})
            return
        entry = {"receiver": receiver, "received_at": time.time(), "notification": payload}
        with self.server.lock:
            self.server.received.append(entry)
            with self.server.record.open("a") as record:
                record.write(json.dumps(entry) + "\n")
        self._reply(200, {"status": "received"})


def main(argv: list[str] | None = None) -> None:
    """Serve until stopped."""
    parser = argparse.ArgumentParser(prog="alert-sink", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)
    _Sink(args.port, args.record).serve_forever()


if __name__ == "__main__":
    main()
