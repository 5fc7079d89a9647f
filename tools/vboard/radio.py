"""The board's TCP connections to the outside go through the bench's radio: a relay that carries bytes only while
the station is joined to the access point.

An ESP8266 that loses its access point keeps its TCP connections (lwIP keeps them while the address stays the same):
nothing arrives and nothing leaves until the station is back, then they carry on, unless the far end gave up in the
meantime (a broker's keepalive, a server's timeout), whose close arrives then. The relay does the same: while the
radio is down its two pumps stop reading, so the bytes wait where they are.

The board reaches a relay through getaddrinfo (the socket shim asks the bench for each name it resolves): the bench
first connects to the real service, so that a service that refuses is refused to the board's own connect (its port
is given as it is), as a real board sees ECONNREFUSED."""
import select
import socket
import threading
import time

UNUSED_S = 10.0  # a resolved name nobody connected to within this: its connection to the service is closed


class Radio:
    def __init__(self, joined):
        self.joined = joined  # fn() -> True while the station is joined (bench.wifi_status() == 5)
        self.lock = threading.Lock()
        self.conns = []  # every socket of the relays, closed with the board's (drop) or the bench's (close)
        self.closed = False

    def route(self, port):
        """The loopback port the board connects to for the service on port: a relay's, or the service's own when
        it refuses (the board's connect is refused too)."""
        try:
            up = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return port
        srv = socket.create_server(("127.0.0.1", 0))
        srv.settimeout(UNUSED_S)
        with self.lock:
            self.conns += [up, srv]
        threading.Thread(target=self._accept, args=(srv, up), daemon=True).start()
        return srv.getsockname()[1]

    def _accept(self, srv, up):
        try:
            board, _ = srv.accept()
        except OSError:  # nobody came: the name was resolved and not used
            self._close(up)
            return
        finally:
            self._close(srv)
        with self.lock:
            self.conns.append(board)
        try:
            board.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the board went in the meantime (drop closed the service's end)
            self._close(board, up)
            return
        ends = [board, up]  # a pump that has seen its end's close takes itself out; the last one closes both
        threading.Thread(target=self._pump, args=(board, up, ends), daemon=True).start()
        threading.Thread(target=self._pump, args=(up, board, ends), daemon=True).start()

    def _pump(self, src, dst, ends):
        try:
            while not self.closed:
                if not self.joined():  # the radio is down: the bytes wait
                    time.sleep(0.05)
                    continue
                if not select.select([src], [], [], 0.05)[0]:
                    continue
                data = src.recv(4096)
                if not data:  # a close goes on once the radio carries it
                    while not self.joined() and not self.closed:
                        time.sleep(0.05)
                    dst.shutdown(socket.SHUT_WR)
                    with self.lock:
                        ends.remove(src)
                        if ends:
                            return
                    break
                dst.sendall(data)
        except (OSError, ValueError):  # either end went away (closed under the pump: ValueError): so does the other
            pass
        self._close(src, dst)

    def _close(self, *socks):
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
            with self.lock:
                if s in self.conns:
                    self.conns.remove(s)

    def drop(self):
        """The board is gone (a power cut, a reset): its sockets close, as the host's did before the relay."""
        with self.lock:
            socks = self.conns[:]
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._close(*socks)

    def close(self):
        self.closed = True
        self.drop()
