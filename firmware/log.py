"""Timestamped console lines, in local time as `status` and `time` show it (UTC until the clock knows the zone's
offset for now); the last few are kept to be shown later.

The kept lines live in one buffer allocated at import: lines stored as new strings would be
scattered over the heap for as long as they are kept, and fragment it."""
import time
from micropython import const

_KEEP = const(10)
_WIDTH = const(88)  # longer lines are kept cut
_buf = memoryview(bytearray(_KEEP * _WIDTH))
_len = bytearray(_KEEP)
_next = 0
zone = None  # clock.known while the clock task is loaded: the local offset at an instant, None when not worked out


def log(*parts):
    global _next
    t = time.time()
    o = zone(t) if zone else None
    t = time.gmtime(t + (o or 0))
    line = "%04d-%02d-%02d %02d:%02d:%02d %s" % (t[0], t[1], t[2], t[3], t[4], t[5], " ".join(str(p) for p in parts))
    print(line)
    b = line.encode()[:_WIDTH]
    _buf[_next * _WIDTH:_next * _WIDTH + len(b)] = b
    _len[_next] = len(b)
    _next = (_next + 1) % _KEEP


def lines():
    """The kept lines, oldest first."""
    return [bytes(_buf[i * _WIDTH:i * _WIDTH + _len[i]]).decode() for i in [(_next + k) % _KEEP for k in range(_KEEP)]
            if _len[i]]
