"""Timestamped console lines; the last few are kept in RAM to be shown later."""
import time

KEEP = 12
ring = []


def log(*parts):
    t = time.localtime()
    line = "%04d-%02d-%02d %02d:%02d:%02d %s" % (t[0], t[1], t[2], t[3], t[4], t[5], " ".join(str(p) for p in parts))
    print(line)
    ring.append(line)
    if len(ring) > KEEP:
        ring.pop(0)
