"""Ports of this machine's loopback for the servers the tools start: the virtual boards' HTTP and DNS ports, the
reference server, the MQTT broker.

A port is chosen here and bound a moment later by another process (a board's firmware, a server), so it must stay
free in between. A port the kernel hands out for any outgoing connection (`ip_local_port_range`, 32768-60999 by
default) could be taken by a client of another test meanwhile; so these come from below that range, from a slice of
their own for each test worker, and each one is checked free for TCP and for UDP before it is given."""
import os
import socket

FIRST, SLICE, SLICES = 10000, 1000, 22  # 10000-31999: under the kernel's range for outgoing connections


def _slice():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1...: one slice each
    n = int(worker[2:]) if worker[2:].isdigit() else os.getpid()
    return FIRST + n % SLICES * SLICE


_next = [None]


def _free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port():
    """A port of 127.0.0.1 that nothing uses, for TCP and UDP, just now."""
    base = _slice()
    for _ in range(SLICE):
        n = _next[0] if _next[0] is not None else 0
        _next[0] = (n + 1) % SLICE
        if _free(base + n):
            return base + n
    raise OSError("no free port in %d-%d" % (base, base + SLICE - 1))
