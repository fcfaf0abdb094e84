"""Helpers of the serving tests: the production uvicorn server in a thread on a free loopback port, a
gate that holds an embedder's ``encode``, and ``wait_for``."""

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


class Gate:
    """Holds a loaded embedder's ``encode`` (in the engine's worker thread) until :meth:`release`."""

    def __init__(self, embedder) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        self.calls: list[list[str]] = []
        real = embedder.encode

        def encode(texts, **kwargs):
            self.calls.append(list(texts))
            self.entered.set()
            assert self.open.wait(60), "the test never released the gate"
            return real(texts, **kwargs)

        embedder.encode = encode

    def hold(self) -> None:
        self.entered.clear()
        self.open.clear()

    def release(self) -> None:
        self.open.set()


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
