"""The board's own web server on port 80 (docs/web.md): the JSON API under /api/. Loaded only when the configuration
has `web`.

This part stays on the heap while the app runs, and is small: the listening socket, the connections, the sessions,
the back-off; a task that looks for a client each step. The code that serves connections (webconn.py) is loaded
while there is one, the answers (webapi.py) for one request, the password's code (webauth.py) while a password is
derived (a login, a change, the console's webpass)."""
import firmware
from firmware import app

srv = None
conns = []  # the connections served (webconn.py: their slots)
stats = [0, 0, 0]  # requests answered, connections refused (busy), requests refused (malformed or too long)
sessions = []  # [token (hex bytes), when it ends (time.ticks_ms())], 4 at most
fails = [0, 0]  # failed logins in a row, time.ticks_ms() before which no login is tried
job = None  # a derivation under way (webauth.start): [connection (None: the console's; False: gone), derivation,
# None: a login; a new password: a change, the current one checked first; True: a new password, stored when done]
told = []  # the last badge events: (what, badge hash, text), 4 at most
changes = 0  # outlets switched, badge events and graph points so far: a WebSocket's state goes at once
# (webconn._deliver)
data = bytearray(b"\xff" * 120)  # the last 10 minutes of total power: a point every 10 s, oldest first, W in 2 bytes
# (big-endian; 65535: no point yet)


def heard(what, badge, text):
    """app.events listener: the last badge events, for the page."""
    global changes
    changes += 1
    if len(told) >= 4:
        told.pop(0)
    told.append((what, badge, text))


def switched(i, on, why):
    """outlets listener: the page's WebSocket sends the state at once."""
    global changes
    changes += 1


def holding():
    """A password is being derived (its code and state hold the heap for a second or so), or an answer is being sent
    (a connection in webconn's state 4, _STATE its second item: its parts hold the heap until it is gone): a tap, a
    round or a console line waits for it."""
    if job:
        return True
    for c in conns:
        if c[1] == 4:
            return True
    return False


def watts():
    """Each outlet's power (W) and whether it is measured: the metering chip's share (meter.py, loaded when there is
    one), else an estimate, each outlet's rated watts while it is on, as hass.telemetry computes it."""
    import sys

    m = sys.modules.get("firmware.meter")
    if m:
        return m.watts, True
    o = app.outlets
    return [app.cfg["watts"][i] if o.on[i] else 0 for i in range(len(o))], False


def start():
    """The web server's task, and the listeners that tell the page what changed (app, and wifi.setup when the FLASH
    button opens the setup on a board without the server)."""
    from firmware import loop

    app.events.append(heard)
    app.outlets.listeners.append(switched)
    loop.spawn("web", run())


async def run():
    global srv, changes
    import gc
    import select
    import socket
    import time

    from firmware.loop import sleep_ms

    gc.collect()
    srv = s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(socket.getaddrinfo("0.0.0.0", 80)[0][-1])
    s.listen(2)
    s.setblocking(False)
    p = select.poll()
    p.register(s, select.POLLIN)
    gc.collect()  # what bring-up left goes: the socket and the poll found the first holes, larger blocks stay whole
    t = time.ticks_ms()
    while True:
        await sleep_ms(20)
        if time.ticks_diff(time.ticks_ms(), t) >= 10000:  # a point of the graph
            t = time.ticks_ms()
            n = min(sum(watts()[0]), 65534)
            data[:-2] = data[2:]
            data[-2] = n >> 8
            data[-1] = n & 255
            changes += 1
        if not (conns or job or p.poll(0)) or app.busy() and not conns:  # a first client waits for a tap or a round
            continue
        try:
            from firmware import webconn

            webconn.step()
        except MemoryError:  # no room to load it just now: the client waits in the backlog, a step more
            pass
        if not job:  # the password's code only while one is derived (a login, a change, the console's webpass)
            firmware.drop("webauth")
        if not conns:
            firmware.drop("webconn")


def password(p):
    """The console's webpass: a new password derived and stored (a second or so on an ESP8266); what to say."""
    from firmware import webauth

    return webauth.password(p)
