# The wire to the bench: one request line, one answer line. Hardware objects are proxies: every method
# call travels to the bench, which holds the behaviour, so the device heap stays the firmware's.
# Names are kept few and short: each identifier here is a qstr the real board has in ROM.
import usocket as socket  # MicroPython's own (socket is the board's: the shim)
import uos

s = socket.socket()
s.connect(socket.getaddrinfo("127.0.0.1", int(uos.getenv("VBOARD_WIRE")))[0][-1])
n = 0
pend = False  # the bench has pin edges for the handlers (machine.Pin.irq): a line "e" before an answer says so
irq = None  # machine's: runs the handlers of those edges


def call(q):
    # Each request carries a number the answer repeats: after a Ctrl-C that landed while we waited,
    # the answer to the interrupted request is still on its way, and is skipped here; so is the rest of
    # a line whose reading a MemoryError cut (the board's heap full: its bytes taken, the line not made).
    global n, pend
    n = (n + 1) % 1000
    t = "%d" % n
    s.write("%s %s\n" % (t, q))
    while True:
        r = s.readline().decode()[:-1]
        if r == "e":
            pend = True
            continue
        k, _, r = r.partition(" ")
        if k == t:
            break
    if pend:  # the edges up to this call: their handlers run before it returns, as a board's would have run
        irq()
    if r[0] == "-":
        raise OSError(int(r[1:]))
    if r[0] == "^":  # the port's own words, as its error_check raises them: OSError("AP required")
        raise OSError(r[1:])
    if r[0] == "!":
        raise ValueError(r[1:])
    if r[0] == "~":
        raise TypeError(r[1:])
    if r[0] == "?":  # a method the bench's object does not have: the board's object has none either
        raise AttributeError(r[1:])
    return r


def e(v):
    if v is None:
        return "n"
    if isinstance(v, str):
        return "s" + v.encode().hex()
    if isinstance(v, (list, tuple)):
        return "t" + ",".join(e(x) for x in v)
    if isinstance(v, Hw):
        return "h%d" % v._i()
    if isinstance(v, (int, bool)):  # MicroPython's bool is no int for isinstance()
        return "i%d" % v
    return "b" + bytes(v).hex()


def d(t, sep=","):
    k, v = t[0], t[1:]
    if k == "i":
        return int(v)
    if k == "o":
        return v == "1"
    if k == "b":
        return bytes.fromhex(v)
    if k == "s":
        return bytes.fromhex(v).decode()
    if k in "tl":  # the items of one inside it are apart by ";" (hw.encode)
        r = [d(x, ";") for x in v.split(sep)] if v else []
        return r if k == "l" else tuple(r)


def go(q, a, kw):
    r = call(" ".join([q] + [e(x) for x in a] + [k + "=" + e(v) for k, v in kw.items()])).split()
    for f in r[1:]:  # "N=HEX": the bench wrote into positional buffer N
        n, x = f.split("=")
        a[int(n)][:] = bytes.fromhex(x)
    return d(r[0])


later = []  # what the objects made later are made from: kept, so that no hole opens in the shims' heap


class Hw:
    def __init__(self, k, a, kw, first_use=False):
        # first_use: made on the bench at its first use (an object the board has in ROM, made here at start)
        if first_use:
            later.append((k, a))
            self.h = later[-1]
        else:
            self.h = go("new " + k, a, kw)

    def _i(self):
        if type(self.h) is tuple:
            self.h = go("new " + self.h[0], self.h[1], {})
        return self.h

    def __repr__(self):
        return d(call("%d __repr__" % self._i()))

    def __getattr__(self, m):
        # Never answer for special names: a __del__ found here would make every proxy a finalised object,
        # and the collector would run Python code with the heap locked.
        if m[0] == "_":
            raise AttributeError(m)
        return lambda *a, **kw: go("%d %s" % (self._i(), m), a, kw)
