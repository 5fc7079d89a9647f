"""The little of WebSocket (RFC 6455) that WebREPL uses: the upgrade handshake and frames. Shared by the
virtual board's WebREPL server and the WebREPL client."""

import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (bytes)."""
    return base64.b64encode(hashlib.sha1(key.strip() + GUID).digest())


def client_key():
    return base64.b64encode(os.urandom(16))


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def read_http(sock, limit=8192):
    """An HTTP head up to the blank line."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed during the handshake")
        data += chunk
        if len(data) > limit:
            raise ConnectionError("handshake too long")
    return data


def send(sock, payload, opcode=BINARY, mask=False):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    head = bytes((0x80 | opcode,))
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes((bit | n,))
    elif n < 65536:
        head += bytes((bit | 126,)) + struct.pack(">H", n)
    else:
        head += bytes((bit | 127,)) + struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    sock.sendall(head + payload)


def recv(sock):
    """(opcode, payload) of the next frame; continuation frames are not used by WebREPL."""
    b0, b1 = read_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(sock, 8))[0]
    key = read_exact(sock, 4) if b1 & 0x80 else None
    data = read_exact(sock, n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data
