"""The virtual network's time server: a real SNTP server (RFC 4330, RFC 5905 packet format) on UDP.

It serves the bench's world clock plus `offset`, to the board only while its station is connected to the
bench's access point (a request sent meanwhile is lost, as over a dead link). `mode` is what it does with
a request: "on" answers, "off" drops it (the client times out), "garbage" answers 12 bytes of junk,
"kod" answers a kiss-of-death (stratum 0, "RATE").
"""

import socket
import struct
import threading

NTP_EPOCH = 2208988800  # 1900-01-01 to 1970-01-01, in seconds
MODES = ("on", "off", "garbage", "kod")
PACKET = struct.Struct("!BBbbII4s8s8s8s8s")  # LI/VN/mode, stratum, poll, precision, root delay and dispersion,
#                                             reference id, then the reference, originate, receive and transmit
#                                             timestamps


def timestamp(unix):
    """The 64-bit NTP timestamp of a Unix time: seconds since 1900 (modulo 2^32, era 0 wraps in 2036), fraction."""
    seconds = unix + NTP_EPOCH
    whole = int(seconds // 1)
    return struct.pack("!II", whole & 0xFFFFFFFF, int((seconds - whole) * 2**32) & 0xFFFFFFFF)


def unix_time(stamp):
    """The Unix time of an NTP timestamp of era 0 (1900-2036)."""
    whole, fraction = struct.unpack("!II", stamp)
    return whole - NTP_EPOCH + fraction / 2**32


def answer(request, now, mode="on"):
    """The server's reply to one request datagram (None: no reply). `now` is the Unix time to serve."""
    if len(request) < PACKET.size or request[0] & 7 != 3:  # only client requests (mode 3) are answered
        return None
    first, _, poll, precision, delay, dispersion, _, reference, _, _, sent = PACKET.unpack_from(request)
    version = first >> 3 & 7 or 4
    if mode == "garbage":
        return b"\xff" * 12
    if mode == "kod":
        # As ntpd sends it: leap "unsynchronized", stratum 0, the kiss code as reference id, and no time
        # of ours: the receive and transmit timestamps echo the client's transmit timestamp.
        return PACKET.pack(3 << 6 | version << 3 | 4, 0, poll, precision, delay, dispersion, b"RATE", reference,
                           sent, sent, sent)
    stamp = timestamp(now)
    return PACKET.pack(version << 3 | 4, 1, max(poll, 6), -20, 0, 0x10, b"GPS\0", timestamp(now - 16), sent,
                       stamp, stamp)


class Server:
    """The bench's SNTP server on 127.0.0.1 (any free port); `requests` counts the requests it received."""

    def __init__(self, clock, reachable=lambda: True):
        self.clock = clock
        self.reachable = reachable  # whether the board's traffic reaches us now
        self.offset = 0.0  # seconds added to the world's time in the answers
        self.mode = "on"
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def mode(self):
        return self._mode

    @mode.setter
    def mode(self, mode):
        if mode not in MODES:
            raise ValueError("NTP server mode %r: one of %s" % (mode, ", ".join(MODES)))
        self._mode = mode

    def _serve(self):
        while True:
            try:
                request, client = self._sock.recvfrom(512)
            except OSError:
                return  # closed
            if not self.reachable():
                continue
            self.requests += 1
            reply = None if self.mode == "off" else answer(request, self.clock.now() + self.offset, self.mode)
            if reply:
                try:
                    self._sock.sendto(reply, client)
                except OSError:
                    pass

    def close(self):
        self._sock.close()
