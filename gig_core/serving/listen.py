"""The socket `gig serve` and `gig gallery` listen on, bound before the model loads: a taken port is
one readable line at once instead of a traceback after the load, and port 0 (any free port) is
printed as the port the OS gave, so whoever started the server reaches this one and no other."""

from __future__ import annotations

import socket

from gig_core.config import ConfigError


def listening_socket(host: str, port: int, what: str) -> socket.socket:
    """A bound, listening TCP socket on host:port (port 0: any free port; read it from getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse a port in TIME_WAIT
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(f"{what}: cannot listen on {host}:{port} ({error.strerror}); choose another port with "
                          f"--port, or 0 for any free port") from None
    sock.listen(128)
    return sock


def http_address(sock: socket.socket) -> str:
    """http://HOST:PORT of a listening socket, with the port the OS gave it (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_forever(app, sock: socket.socket, **options) -> None:
    """uvicorn on the socket already bound by listening_socket."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, **options)).run(sockets=[sock])
