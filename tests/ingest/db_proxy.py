"""A loopback TCP proxy in front of the test database, which a test can cut.

The ingester is pointed at the proxy (`dsn`), the test's own queries go straight to
the database. `cut()` closes every proxied connection and, until `restore()`, closes
each new one as soon as it is accepted: the client sees the database go away
("server closed the connection unexpectedly") without a PostgreSQL restart, so the
test's checks keep working meanwhile.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class TcpProxy:
    """Forwards 127.0.0.1:<port> to (host, target_port), one thread per direction."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target = (host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._stopped = False
        self.refused = 0  # connections closed on arrival while cut
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def to_database(cls, database_url: str) -> TcpProxy:
        params = conninfo_to_dict(database_url)
        return cls(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))

    def dsn(self, database_url: str) -> str:
        """`database_url` with the proxy as its host and port."""
        return make_conninfo(database_url, host="127.0.0.1", port=str(self.port))

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        """Drop every proxied connection and refuse new ones until `restore()`."""
        with self._lock:
            self._cut = True
            socks, self._open = list(self._open), set()
        for sock in socks:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._stopped = True
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = self._cut
                if refuse:
                    self.refused += 1
            if refuse:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._cut:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    continue
                self._open |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {src, dst}
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
