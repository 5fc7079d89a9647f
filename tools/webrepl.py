"""A WebREPL client: log in, type on the REPL, put and get files, with retries when the connection drops."""

import socket
import struct
import time

from tools import wsframe

RECORD = struct.Struct("<2sBBQLH64s")
PUT, GET = 1, 2
CHUNK = 1024


class WebReplError(Exception):
    pass


class Busy(WebReplError):
    """The board closed the connection at once: another session is open (or was, a moment ago)."""


class Refused(WebReplError):
    """The board answered a transfer with an error status (a file to get that is not there...)."""


class WebRepl:
    def __init__(self, host, port=8266, password="", timeout=10.0):
        self.host, self.port, self.password, self.timeout = host, port, password, timeout
        self.sock = None
        self.text = ""  # what the REPL printed, as it came

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self, busy_wait=2.0):
        """Log in. The board takes one session at a time, and notices that the last one ended only a moment after
        it did: a refusal is tried again for busy_wait seconds."""
        end = time.monotonic() + busy_wait
        while True:
            try:
                return self._connect()
            except Busy:
                if time.monotonic() >= end:
                    raise
                time.sleep(0.2)

    def _connect(self):
        self.close()
        s = socket.create_connection((self.host, self.port), self.timeout)
        s.settimeout(self.timeout)
        key = wsframe.client_key()
        s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  b"Sec-WebSocket-Key: %s\r\n\r\n" % (self.host.encode(), key))
        try:
            head = wsframe.read_http(s).split(b"\r\n")
            accept = [h.split(b":", 1)[1].strip() for h in head[1:] if h.lower().startswith(b"sec-websocket-accept:")]
            if b" 101 " not in head[0] or accept != [wsframe.accept_key(key)]:  # RFC 6455, 4.1: else not a WebSocket
                raise WebReplError("%s:%d is not a WebREPL" % (self.host, self.port))
            self.sock = s
            if "Password:" not in self._text_until("Password:"):
                raise WebReplError("no password prompt")
            self.send_text(self.password + "\r")
            seen = self._text_until("WebREPL connected", "Access denied")
        except ConnectionError as e:
            s.close()
            self.sock = None
            raise Busy("%s:%d closed the connection: another WebREPL session may be open"
                       % (self.host, self.port)) from e
        if "Access denied" in seen:
            self.close()
            raise WebReplError("access denied: wrong WebREPL password")
        return self

    def close(self):
        if self.sock:
            try:
                wsframe.send(self.sock, b"", wsframe.CLOSE, mask=True)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def send_text(self, text):
        wsframe.send(self.sock, text, wsframe.TEXT, mask=True)

    def _frame(self):
        """The next binary frame; text frames met on the way are REPL output, kept in self.text."""
        while True:
            op, data = wsframe.recv(self.sock)
            if op == wsframe.TEXT:
                self.text += data.decode("utf-8", "replace")
            elif op == wsframe.CLOSE:
                raise ConnectionError("closed by the board")
            elif op == wsframe.BINARY:
                return data

    def _text_until(self, *marks, timeout=None):
        start = len(self.text)
        end = time.monotonic() + (timeout or self.timeout)
        while not any(m in self.text[start:] for m in marks):
            if time.monotonic() > end:
                raise WebReplError("timed out waiting for %r" % (marks,))
            op, data = wsframe.recv(self.sock)
            if op == wsframe.TEXT:
                self.text += data.decode("utf-8", "replace")
            elif op == wsframe.CLOSE:
                raise ConnectionError("closed by the board")
        return self.text[start:]

    def repl(self, line, until=">>> ", timeout=None):
        """Type a line on the REPL; return what it printed up to `until`. After a session the board ended (a file it
        could not open), a new one."""
        if not self.sock:
            self.connect()
        self.send_text(line)
        return self._text_until(until, timeout=timeout)

    def _status(self):
        data = self._frame()
        if data[:2] != b"WB":
            raise WebReplError("unexpected answer %r" % data[:8])
        return struct.unpack("<H", data[2:4])[0]

    def _record(self, kind, name, size=0):
        raw = name.encode()
        if len(raw) >= 64:
            raise WebReplError("%s: WebREPL names must be shorter than 64 bytes" % name)
        wsframe.send(self.sock, RECORD.pack(b"WA", kind, 0, 0, size, len(raw), raw), mask=True)
        try:
            code = self._status()
        except ConnectionError:  # the board cannot open it: its WebREPL gives up the session
            self.close()
            raise Refused("%s: the board cannot open it (no such file or folder)" % name) from None
        if code:
            raise Refused("%s: the board refused (status %d)" % (name, code))

    def _put(self, data, name):
        self._record(PUT, name, len(data))
        for i in range(0, len(data), CHUNK):
            wsframe.send(self.sock, data[i:i + CHUNK], mask=True)
        if self._status():
            raise WebReplError("%s: the board could not write it" % name)

    def _get(self, name):
        self._record(GET, name)
        out = b""
        while True:
            wsframe.send(self.sock, b"\0", mask=True)
            data = self._frame()
            n = struct.unpack("<H", data[:2])[0]
            if not n:
                break
            out += data[2:2 + n]
        if self._status():
            raise WebReplError("%s: the transfer failed" % name)
        return out

    def _retry(self, what, retries):
        for attempt in range(retries + 1):
            try:
                if not self.sock:
                    self.connect()
                return what()
            except (TimeoutError, ConnectionError, OSError) as e:
                self.close()
                if attempt == retries:
                    raise WebReplError("connection lost %d times: %s" % (retries + 1, e)) from e
                time.sleep(0.5 * (attempt + 1))

    def put(self, data, name, retries=3):
        """Write bytes to the board's file `name`; a dropped connection is retried from the start."""
        return self._retry(lambda: self._put(bytes(data), name), retries)

    def get(self, name, retries=3):
        return self._retry(lambda: self._get(name), retries)
