# `ntptime` (frozen in the ESP8266 firmware) on the virtual board: the same API and the same failures.
# The name is resolved by the bench's virtual network; the query is a real UDP exchange with its server.
import usocket as socket  # the name is resolved below, by the bench
import struct
from time import gmtime
from _wire import go

host = "pool.ntp.org"
timeout = 1


def time():
    # Like the stock module: the reply is not checked (stratum, mode), a short one fails to unpack.
    a = socket.getaddrinfo(*go("f getaddrinfo", (host, 123), {}))[0][-1]
    q = bytearray(48)
    q[0] = 0x23  # version 4, client
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(q, a)
        try:
            r = s.recv(48)
        except OSError as e:
            if e.errno == 11:  # the unix port's EAGAIN: the ESP8266 says ETIMEDOUT
                raise OSError(110)
            raise
    finally:
        s.close()
    t = struct.unpack("!I", r[40:44])[0]
    if t < 3913056000:  # before 2024: the 32-bit count wrapped (from 2036 on)
        t += 1 << 32
    return t - 3155673600  # seconds from 1900 to 2000


def settime():
    import machine

    t = gmtime(time())
    machine.RTC().datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))
