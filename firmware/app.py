"""The application: one loop (loop.py) with a task per concern, and a watchdog over them."""
import gc
import json
import os
import sys
import time

import machine

import firmware
from firmware.log import log
from micropython import const

STATE = "state.json"
_HEALTHY_AFTER_S = const(60)

cfg = None  # the validated configuration
outlets = None  # the arbiter
bus = None  # the I2C bus, or None
reader = None  # the RFID reader's driver, or None
saved = None  # the state as last written
dead = []  # the tasks that died (loop.died): the watchdog task resets the board
events = []  # fn(what, badge hash, text) for a badge tapped ("allowed", "refused", "ended") or a session ended
stats = {"state_writes": 0, "heap_min": 0, "ready_ms": 0, "t0": 0, "version": None}


def setup(starting=False):
    """Bring the board up from its configuration (bringup.py, dropped afterwards). Starting the app, the outlets
    take their power-on behaviour; for the REPL helpers (safe mode too) they are left off."""
    return _once("setup", starting)


def _once(name, *a):
    """Run bringup.<name>(*a): code that runs once (at start, at stop) does not stay on the heap."""
    from firmware import bringup

    try:
        return getattr(bringup, name)(*a)
    finally:
        firmware.drop("bringup")
        gc.collect()


def outlet(s):
    """The index of outlet number s (text, from 1), or ValueError."""
    n = int(s)
    if not 0 < n <= len(outlets):
        raise ValueError("no outlet %d" % n)
    return n - 1


def handle(g, cmd, args, usage, *drop):
    """Run the command function _<cmd> of a command module (globals g); a mistake in the arguments is answered
    with the usage; the modules it loaded are dropped."""
    try:
        return g["_" + cmd](args)
    except (ValueError, IndexError) as e:
        return "error: %s; usage: %s" % (e.args[0] if e.args else "bad arguments", usage)
    finally:
        firmware.drop(*drop)


def load(path, default=None):
    """A JSON file from flash, or default when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, obj):
    """Replace a JSON file atomically: a temp file renamed over the old one (power-loss safe on LittleFS)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


def save_state():
    """Write the state if it changed since the last write (atomic replace)."""
    global saved
    from firmware import clock, link

    snap = {"want": [1 if w else 0 for w in outlets.want]}
    if [t for t in clock.timers if t]:
        snap["timers"] = [t and t[:] for t in clock.timers]
    shed = link.shed[:] if link.shed else (saved or {}).get("shed")  # (at the REPL, the app's is kept)
    if shed and [u for u in shed if u is not None]:  # a shedding outlives a reset
        snap["shed"] = shed
    if snap != saved:
        save(STATE, snap)
        saved = snap
        stats["state_writes"] += 1


async def _watchdog(t0):
    """Say the board is ready once every task has taken its first step; then, while every task is alive, write the
    state every save_interval_s when it changed; reset the board when a task died.

    No machine.WDT: on the ESP8266 one cannot be stopped once made, and from then on the port's event loop no longer
    feeds the SDK's software watchdog (ports/esp8266/machine_wdt.c, ets_loop_dont_feed_sw_wdt), at the REPL too: a
    person or a tool stopping the app would see the board reset, its relays off, within seconds. The SDK's own
    watchdog still resets a board whose C code hangs (a stuck bus, a blocked call)."""
    from firmware.loop import sleep

    stats["ready_ms"] = time.ticks_diff(time.ticks_ms(), t0)
    gc.collect()  # the heap as it is: what bring-up left, not its garbage (every figure of the heap is after one)
    stats["heap_min"] = gc.mem_free()
    log("app: ready in %d ms, %d bytes free; type help on this console" % (stats["ready_ms"], stats["heap_min"]))
    t0 = time.ticks_ms()
    healthy = False
    confirm = "update.json" in os.listdir()  # a pushed update is confirmed (bringup.confirm_update) once ready
    tick = 0
    while not dead:
        if confirm:
            try:
                _once("confirm_update")
                confirm = False
            except MemoryError:  # the heap is busy just now: a second later
                pass
        if not healthy and time.ticks_diff(time.ticks_ms(), t0) > _HEALTHY_AFTER_S * 1000:
            healthy = True
            firmware.boot_count(0)
        if tick % cfg["save_interval_s"] == 0:  # the state, when it changed
            try:
                save_state()
            except OSError as e:  # flash full or failing: the outlets keep working, the log says why
                log("state: cannot write state.json (%r)" % e)
        if tick % 10 == 0:  # a quiet point to collect, and to see the heap as it really is
            gc.collect()
            f = gc.mem_free()
            stats["heap_min"] = min(stats["heap_min"] or f, f)
        tick += 1
        await sleep(1)
    log("app: task %s stopped: resetting the board" % ", ".join(dead))
    time.sleep(1)  # the line goes out first
    machine.reset()


def _died(name, e):
    """loop.died: a task raised (or returned); the watchdog notices it."""
    dead.append(name)
    log("app: task %s died: %r" % (name, e))


def busy():
    """A tap or a round with the server holds the heap it loaded for the moment (link.busy): other jobs that load
    code wait for it."""
    link = sys.modules.get("firmware.link")
    return link and link.busy


def _report(i, on, why):
    log("outlet %d %s (%s)" % (i + 1, "on" if on else "off", why))


def _main(t0):
    from firmware import clock, console, link, loop

    outlets.listeners.append(_report)
    outlets.listeners.append(clock.on_switch)
    outlets.listeners.append(link.ended)
    loop.died = _died
    for name, coro in (("outlets", outlets.run()), ("console", console.run()),
                       ("clock", clock.keep()), ("link", link.run())):
        loop.spawn(name, coro)
    if "meter" in cfg:  # a metering chip: measured power and energy (without one, the estimates are where they are
        from firmware import meter  # shown: each outlet's rated watts while it is on)

        meter.start()
        outlets.listeners.append(meter.switched)
        loop.spawn("meter", meter.run())
    if "mqtt" in cfg:  # loaded only when configured: no MQTT, no heap for it
        from firmware import mqtt

        outlets.listeners.append(mqtt.switched)
        events.append(mqtt.heard)
        loop.spawn("mqtt", mqtt.run())
    if "web" in cfg or not cfg["wifi"]["ssid"]:  # the same for the web server (and the setup's page: portal.py)
        from firmware import web

        web.start()
    loop.spawn("watchdog", _watchdog(t0))  # the last: ready
    loop.run()


def run():
    stats["t0"] = t0 = time.ticks_ms()
    from firmware import VERSION

    # Counted back to 0 once up 60 s, or when the app is stopped on purpose (Ctrl-C, reboot, a tool): only starts
    # that end in a crash or a reset add up to safe mode.
    n = firmware.boot_count(firmware.boot_count() + 1)
    log("multiprise %s, reset cause %d, boot %d in a row%s" % (VERSION, machine.reset_cause(), n,
                                                              ", outlets kept as they were" if firmware.warm else ""))
    try:
        if not setup(True):  # first, while the heap is still in one piece
            return
        _main(t0)
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C; the console's reboot
        while True:  # a Ctrl-C pressed again while the app stops: it stops all the same
            try:
                loop = sys.modules.get("firmware.loop")
                if loop:  # the tasks' memory first: the code that stops the app is loaded now
                    loop.tasks.clear()
                gc.collect()
                _once("stop")
                break
            except KeyboardInterrupt:
                pass
        if type(e) is SystemExit:
            log("app: restarting (a soft reset: the outlets keep their state)")
            from firmware import reset

            reset.restart()
        else:
            log("app: stopped by Ctrl-C; outlets keep their state. REPL helpers: from firmware.repl import *")
    except Exception as e:
        sys.print_exception(e)
        log("app: crashed (%r): resetting" % e)
        time.sleep(1)
        machine.reset()
