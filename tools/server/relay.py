"""A TCP relay in front of a server on this machine (a man in the middle), for the tests and `make soak`: it sees
each request go by, whole, and tells when a session report starts going through."""
import socket
import threading

REPORT = b"POST /api/v1/device/sessions "  # how a session report starts


class Relay:
    """Listens on 127.0.0.1:port (any free one) and passes each connection on to the server on `target`: `requests`
    gets what each connection sent, whole, once it is done; `report` (an Event) is set when a session report starts
    going through."""

    def __init__(self, target):
        self.target, self.requests, self.report = target, [], threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                board, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(board,), daemon=True).start()

    def _serve(self, board):
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            board.close()
            return
        threading.Thread(target=self._pipe, args=(server, board, None), daemon=True).start()
        self._pipe(board, server, bytearray())

    def _pipe(self, src, dst, record):
        looked = False  # at the request line: a board sends its request in pieces, which may come one by one
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if record is not None:
                    record += data
                    if not looked and (len(record) >= len(REPORT) or b"\n" in record):
                        looked = True
                        if record.startswith(REPORT):
                            self.report.set()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if record:
                self.requests.append(bytes(record))
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
