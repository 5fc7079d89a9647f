"""Running the app under uvicorn (httptools, uvloop): one process, or several workers sharing one listening socket;
slow clients closed, concurrent connections capped."""
import os
import signal
import socket
import sys

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CLIENT_S = 5            # a request's line and headers within this, from its first byte (or the connection's start);
                        # its body within this too, once the headers are in (device_api.read_body)
MAX_CONNECTIONS = 200   # past this many at once, requests are answered 503


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 over httptools, which bounds only the wait between requests: here a request's headers must
    come whole within `headers_s`, or the connection is closed (a client sending a byte every few seconds would hold it
    for ever). The body's time is bounded where it is read (device_api.read_body)."""

    headers_timer = None
    headers_s = CLIENT_S

    def _arm(self):
        if self.headers_timer is None:
            self.headers_timer = self.loop.call_later(self.headers_s, self._too_slow)

    def _disarm(self):
        if self.headers_timer is not None:
            self.headers_timer.cancel()
            self.headers_timer = None

    def _too_slow(self):
        self.headers_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self):
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self):
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self):
        super().on_response_complete()
        self._disarm()      # idle between requests: uvicorn's keep-alive timeout

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)


def config(app, access_log=False, max_connections=MAX_CONNECTIONS, client_s=CLIENT_S, **where):
    http = type("GuardedHttp", (GuardedHttp,), {"headers_s": client_s})
    return uvicorn.Config(app, http=http, loop="uvloop", log_level="info", access_log=access_log,
                          limit_concurrency=max_connections, timeout_keep_alive=5, **where)


def run(make_app, host, port, workers=1, access_log=False, max_connections=MAX_CONNECTIONS, client_s=CLIENT_S):
    """Serve the app that `make_app()` gives on host:port. With several workers, each is a process of its own
    (forked once the socket listens) that makes its own app, so its own database connections."""
    if workers == 1:
        uvicorn.Server(config(make_app(), access_log, max_connections, client_s, host=host, port=port)).run()
        return 0
    sock = socket.create_server((host, port), backlog=2048)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                uvicorn.Server(config(make_app(), access_log, max_connections, client_s)).run(sockets=[sock])
                code = 0
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    sock.close()
    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    for pid in children:
        while True:
            try:
                _, code = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        if code and not stopping:
            status = 1
            stop(None, None)    # one worker gone wrong: stop the others rather than serve on, short-handed
    return status
