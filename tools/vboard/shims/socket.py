# `socket` on the virtual board: MicroPython's own, but for the addresses. A server on a board binds the address
# getaddrinfo("0.0.0.0", 80) gives; here that is a port of the host's loopback chosen by the bench (bench.http_port,
# the same for the life of the board), as the host reaches port 80 of the board's IP; the same for 53 (UDP:
# bench.dns_port). The names and addresses the
# board connects to are resolved by the bench, whose radio (tools/vboard/radio.py) carries the connection while the
# station is joined.
from usocket import *  # noqa: F403
import usocket
import uos
from _wire import go


def getaddrinfo(host, port, *a):
    if host == "0.0.0.0":  # a server's own address is the board's
        if port == 80:
            host, port = "127.0.0.1", int(uos.getenv("VBOARD_HTTP"))
        elif port == 53:  # the setup's DNS server (firmware/portal.py): UDP
            host, port = "127.0.0.1", int(uos.getenv("VBOARD_DNS"))
    else:
        host, port = go("f getaddrinfo", (host, port), {})
    return usocket.getaddrinfo(host, port, *a)
