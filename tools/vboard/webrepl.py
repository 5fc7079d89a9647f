"""The virtual board's WebREPL server, as the ESP8266's behaves: started by `webrepl.start()` on the board, one
session at a time, a password prompt, text frames for the REPL, binary frames for file transfers."""

import base64
import hmac
import re
import socket
import struct
import threading

from tools import wsframe

RECORD = struct.Struct("<2sBBQLH64s")  # b"WA", type (1 put, 2 get, 3 version), flags, offset, size, name length, name
PUT, GET, VERSION = 1, 2, 3
CHUNK = 256  # a GET's chunks, as the board sends them


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
        try:  # wakes the thread blocked in accept(): until it returns, the port stays bound
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
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
            s = Stream(c, lambda: self._send(c, b"", wsframe.CLOSE))
            typed = b""
            while True:  # the password, a byte at a time up to the line's end (the board keeps 10 at most)
                ch = s.read(1)
                if ch in (b"\r", b"\n"):
                    break
                if len(typed) < 10:
                    typed += ch
            if not hmac.compare_digest(typed, self.password):
                self._send(c, "\r\nAccess denied\r\n", wsframe.TEXT)
                return
            self.session = c
            self._send(c, "\r\nWebREPL connected\r\n>>> ", wsframe.TEXT)
            self.bench.serial.listeners.append(forward := lambda b: self._forward(c, b))
            try:
                self._session(c, s)
            finally:
                self.bench.serial.listeners.remove(forward)
        except (ConnectionError, OSError):
            pass
        finally:
            if self.session is c:
                self.session = None
            c.close()

    def _session(self, c, s):
        """As modwebrepl.c reads the socket: text is the REPL's input; binary bytes make a request record (82 bytes,
        in as many frames as they come), then a file's bytes."""
        while True:
            data = s.read(4096)
            if s.op == wsframe.TEXT:
                self.bench.serial.write(data)  # the REPL, as if typed on the UART
                continue
            record = data[:RECORD.size]
            s.unread(data[RECORD.size:])
            record += s.exactly(RECORD.size - len(record))
            sig, kind, flags, offset, size, n, name = RECORD.unpack(record)
            self._file(c, s, kind, size, name[:n].decode("utf-8", "replace"))

    def _path(self, name):
        root = self.bench.board_dir.resolve()
        p = (root / name.lstrip("/")).resolve()
        if root != p and root not in p.parents:
            raise PermissionError(name)
        return p

    def _file(self, c, s, kind, size, name):
        if kind == VERSION:
            self._send(c, bytes((1, 29, 0)))
            return
        board = BoardFile(self.bench) if self.bench.flash == "littlefs" else None
        refused = None
        try:
            try:  # the board opens the file at once: a name it cannot open ends the session (dupterm gives up)
                mode = "wb" if kind == PUT else "rb"
                f = board.open(name, mode) if board else open(self._path(name), mode)
            except OSError as e:
                refused = e
            if not refused:
                with f:
                    self._send(c, status(0))
                    if kind == PUT:  # written as it comes, so a cut leaves it partial, as on the board
                        left = size
                        while left > 0:
                            data = s.read(min(left, 512))
                            f.write(data)
                            left -= len(data)
                    elif kind == GET:
                        while True:
                            s.read(1)  # the client asks for each chunk with b"\0"
                            chunk = f.read(CHUNK)
                            self._send(c, struct.pack("<H", len(chunk)) + chunk)
                            if not chunk:
                                break
        finally:
            if board:
                board.leave()
        if refused:
            self.bench.serial.feed(b"dupterm: Exception in read() method, deactivating: OSError: %d\r\n"
                                   % (refused.errno or 2))
            raise ConnectionError(name) from refused
        self._send(c, status(0))  # once the file is closed, as the board answers


class BoardFile:
    """flash="littlefs": a transferred file opened, written and read by the board itself, at its raw REPL (a running
    board's LittleFS is in its own heap: the host cannot reach it). The REPL is left as it was; an app that ran is
    stopped for the transfer (Ctrl-C) and started again after it (a soft reset: the outlets stay), where an ESP8266
    carries the transfer out beside it (docs/virtual-board.md). Nothing of the raw REPL is shown (serial.quiet)."""

    def __init__(self, bench):
        self.b, self.opened = bench, False
        self.was = "raw" if bench._raw else "repl" if bench._tail.endswith(b">>> ") else "app"
        bench.serial.quiet = True

    def open(self, name, mode):
        try:
            self.b.exec("import binascii as _wb\n_wf = open(%r, %r)" % (name, mode))
        except RuntimeError as e:
            errno = re.search(r"OSError: \[Errno (\d+)\]", str(e))
            raise OSError(int(errno.group(1)) if errno else 2, name) from e
        self.opened = True
        return self

    def write(self, data):
        self.b.exec("_wf.write(_wb.a2b_base64(%r))" % base64.b64encode(data).decode())

    def read(self, n):
        return base64.b64decode(self.b.exec("print(_wb.b2a_base64(_wf.read(%d)).decode(), end='')" % n))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.b.exec("_wf.close()")

    def leave(self):
        b = self.b
        try:
            b.exec("del _wf, _wb" if self.opened else "del _wb")
            if self.was != "raw":
                b.friendly()
        finally:
            b.serial.quiet = False
        if self.was == "app":
            b.serial.write(b"\x04")  # the app again, from the friendly REPL


class Stream:
    """The WebSocket as the board's webrepl reads it: bytes, whatever frames they came in, and the kind of the frame
    the last ones came in (text: the REPL; binary: a file transfer). A close frame from the client ends it."""

    def __init__(self, c, answer_close):
        self.c, self.buf, self.op, self.answer_close = c, b"", None, answer_close

    def read(self, n):
        """Between 1 and n bytes."""
        while not self.buf:
            op, data = wsframe.recv(self.c)
            if op == wsframe.CLOSE:  # modwebsocket answers with an empty close frame: the client sees a clean close
                self.answer_close()
                raise ConnectionError("closed by the client")
            if op in (wsframe.TEXT, wsframe.BINARY):
                self.op = op
            if op in (0, wsframe.TEXT, wsframe.BINARY):  # 0: a continuation, of the kind before
                self.buf = data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def unread(self, data):
        self.buf = data + self.buf

    def exactly(self, n):
        out = b""
        while len(out) < n:
            out += self.read(n - len(out))
        return out
