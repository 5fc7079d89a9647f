# `socket` on the virtual board: MicroPython's own, but the names and addresses the board connects to are resolved
# by the bench, whose radio (tools/vboard/radio.py) carries the connection while the station is joined.
from usocket import *  # noqa: F403
import usocket
from _wire import go


def getaddrinfo(host, port, *a):
    if host != "0.0.0.0":  # a server's own address is the board's
        host, port = go("f getaddrinfo", (host, port), {})
    return usocket.getaddrinfo(host, port, *a)
