# `socket` on the virtual board: MicroPython's own, but for the board's port 80. A server on a board binds the
# address getaddrinfo("0.0.0.0", 80) gives; here that is a port of the host's loopback chosen by the bench
# (bench.http_port, the same for the life of the board), as the host reaches port 80 of the board's IP.
from usocket import *  # noqa: F403
import usocket
import uos


def getaddrinfo(host, port, *a):
    if port == 80 and host == "0.0.0.0":
        host, port = "127.0.0.1", int(uos.getenv("VBOARD_HTTP"))
    return usocket.getaddrinfo(host, port, *a)
