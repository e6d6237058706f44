"""A small TCP proxy a test owns, to cut a database off and bring it back without touching
the machine's server: ``up`` (forward), ``refuse`` (close every connection at once) or
``blackhole`` (accept and never answer)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target`` while ``mode`` is "up"."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "up"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        """Switch to "up", "refuse" or "blackhole"; leaving "up" drops every connection."""
        self.mode = mode
        if mode != "up":
            with self._lock:
                for s in self._open:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                self._open.clear()

    def close(self) -> None:
        self.set("refuse")
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                client.close()
                continue
            with self._lock:
                self._open.append(client)
            if self.mode == "blackhole":
                continue  # held open, never answered: the caller's timeout must end the wait
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()
