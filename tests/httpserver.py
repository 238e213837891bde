"""A local HTTP server for tests: serves a folder with ``Range`` support, and can
break a file's first transfer off after some bytes to test resumed downloads.

    server = FileServer(folder); server.start()
    server.cut_once["model.tflite"] = 1000   # the first GET stops after 1000 bytes
    server.requests                           # [(path, range header or "")]
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


class FileServer:
    """Serves ``folder`` on a free localhost port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cut_once: dict[str, int] = {}
        self.cut_always: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                rel = unquote(self.path.lstrip("/"))
                owner.requests.append((rel, self.headers.get("Range", "")))
                path = owner.folder / rel
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"
                    )
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = owner.cut_once.pop(rel, None) or owner.cut_always.get(rel)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        """Serve in a background thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
