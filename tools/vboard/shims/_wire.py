# The wire to the bench: one request line, one answer line. Hardware objects are proxies:
# every method call travels to the bench, which holds the behaviour, so the device heap stays the firmware's.
import os
import socket

_s = socket.socket()
_s.connect(socket.getaddrinfo("127.0.0.1", int(os.getenv("VBOARD_WIRE")))[0][-1])
_p = 0


def call(req):
    global _p
    while _p:  # a Ctrl-C landed while we waited: drop that answer first
        _s.readline()
        _p -= 1
    _s.write(req + "\n")
    _p = 1
    r = _s.readline().decode()[:-1]
    _p = 0
    if r[0] == "-":
        raise OSError(int(r[1:]))
    if r[0] == "!":
        raise ValueError(r[1:])
    return r


def _enc(v):
    if v is None:
        return "n"
    if isinstance(v, str):
        return "s" + v.encode().hex()
    if isinstance(v, (list, tuple)):
        return "t" + ",".join(_enc(x) for x in v)
    if isinstance(v, Hw):
        return "h%d" % v._h
    if isinstance(v, (int, bool)):  # MicroPython's bool is no int for isinstance()
        return "i%d" % v
    return "b" + bytes(v).hex()


def _dec(t):
    k, v = t[0], t[1:]
    if k == "i":
        return int(v)
    if k == "b":
        return bytes.fromhex(v)
    if k == "s":
        return bytes.fromhex(v).decode()
    if k in "tl":
        r = [_dec(x) for x in v.split(",")] if v else []
        return r if k == "l" else tuple(r)
    return None


def invoke(head, a, kw):
    r = call(" ".join([head] + [_enc(x) for x in a] + [k + "=" + _enc(v) for k, v in kw.items()])).split()
    for fill in r[1:]:  # "N=HEX": the bench wrote into positional buffer N
        n, h = fill.split("=")
        a[int(n)][:] = bytes.fromhex(h)
    return _dec(r[0])


class Hw:
    def __init__(self, kind, a, kw):
        self._h = invoke("new " + kind, a, kw)

    def __getattr__(self, m):
        return lambda *a, **kw: invoke("%d %s" % (self._h, m), a, kw)
