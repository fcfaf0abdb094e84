"""A real server for the HTTP tests: the production uvicorn server in a thread on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time


class Server:
    """The production uvicorn server (:func:`make_server`) in a background thread on a free loopback port."""

    def __init__(self, app, **protections):
        from tessera_onnx.serving.server import make_server

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = make_server(app, port=self.port, log_level="warning", **protections)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)
