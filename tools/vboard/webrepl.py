"""The virtual board's WebREPL server, as the ESP8266's behaves: started by `webrepl.start()` on the board, one
session at a time, a password prompt, text frames for the REPL, binary frames for file transfers."""

import hmac
import socket
import struct
import threading

from tools import wsframe

RECORD = struct.Struct("<2sBBQLH64s")  # b"WA", type (1 put, 2 get, 3 version), flags, offset, size, name length, name
PUT, GET, VERSION = 1, 2, 3
CHUNK = 1024


def status(code=0):
    return b"WB" + struct.pack("<H", code)


class Server:
    def __init__(self, bench, password, port=0):
        self.bench, self.password = bench, password.encode()
        self.srv = socket.create_server(("127.0.0.1", port))
        self.port = self.srv.getsockname()[1]
        self.session = None
        self.lock = threading.Lock()  # one sender at a time on the session's socket
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.srv.close()
        s = self.session
        if s:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self):
        while True:
            try:
                c, addr = self.srv.accept()
            except OSError:
                return
            if self.session:
                self.bench.serial.feed(b"\r\nConcurrent WebREPL connection from %s rejected\r\n" % repr(addr).encode())
                c.close()
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _send(self, c, payload, opcode=wsframe.BINARY):
        with self.lock:
            wsframe.send(c, payload, opcode)

    def _forward(self, c, data):
        try:
            self._send(c, data, wsframe.TEXT)
        except OSError:
            pass  # the session is going away; its own thread ends it

    def _serve(self, c):
        try:
            head = wsframe.read_http(c)
            key = [line.split(b":", 1)[1] for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:")]
            if not key:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                return
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + wsframe.accept_key(key[0]) + b"\r\n\r\n")
            self._send(c, "Password: ", wsframe.TEXT)
            op, data = wsframe.recv(c)
            if not hmac.compare_digest(data.rstrip(b"\r\n"), self.password):
                self._send(c, "\r\nAccess denied\r\n", wsframe.TEXT)
                return
            self.session = c
            self._send(c, "\r\nWebREPL connected\r\n>>> ", wsframe.TEXT)
            self.bench.serial.listeners.append(forward := lambda b: self._forward(c, b))
            try:
                self._session(c)
            finally:
                self.bench.serial.listeners.remove(forward)
        except (ConnectionError, OSError):
            pass
        finally:
            if self.session is c:
                self.session = None
            c.close()

    def _session(self, c):
        while True:
            op, data = wsframe.recv(c)
            if op == wsframe.CLOSE:
                return
            if op == wsframe.TEXT:
                self.bench.serial.write(data)  # the REPL, as if typed on the UART
            elif op == wsframe.BINARY and len(data) == RECORD.size and data[:2] == b"WA":
                sig, kind, flags, offset, size, n, name = RECORD.unpack(data)
                self._file(c, kind, size, name[:n].decode("utf-8", "replace"))

    def _path(self, name):
        root = self.bench.board_dir.resolve()
        p = (root / name.lstrip("/")).resolve()
        if root != p and root not in p.parents:
            raise PermissionError(name)
        return p

    def _file(self, c, kind, size, name):
        if kind == VERSION:
            self._send(c, bytes((1, 29, 0)))
            return
        try:
            path = self._path(name)
            if kind == GET and not path.is_file():
                raise FileNotFoundError(name)
        except OSError:
            self._send(c, status(1))
            return
        if kind == PUT:
            self._send(c, status(0))
            with open(path, "wb") as f:  # as on the board: written as it comes, so a cut leaves it partial
                left = size
                while left > 0:
                    op, data = wsframe.recv(c)
                    f.write(data[:left])
                    left -= len(data)
            self._send(c, status(0))
        elif kind == GET:
            self._send(c, status(0))
            with open(path, "rb") as f:
                while True:
                    op, data = wsframe.recv(c)  # the client asks for each chunk with b"\0"
                    chunk = f.read(CHUNK)
                    self._send(c, struct.pack("<H", len(chunk)) + chunk)
                    if not chunk:
                        break
            self._send(c, status(0))
        else:
            self._send(c, status(2))
