"""Long runs of the virtual board (`make soak`): power-cut storms around state writes and around session reports, and a
time-accelerated week of schedules, badge taps and server rounds; a table, and the figures in build/soak.json."""
import calendar
import json
import os
import random
import re
import statistics
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from tools.build import BUILD, build, make_board
from tools.deploy import romfs_board
from tools.server import demo
from tools.server.process import server_process
from tools.server.relay import Relay
from tools.vboard.bench import Bench

READY = r"app: ready in \d+ ms, (\d+) bytes free"
STATUS = r"heap (\d+) free \(min (\d+)\)"

# The accelerated week: the world's clock moves by STEP_S at a time, every PACE_S of wall time at most, from WEEK_START
# (local time, a Monday: the week crosses the change to summer time, Sunday 29 March 02:00 -> 03:00). The steps land
# on minutes 07, 22, 37, 52: never on a schedule edge (they are on whole and half hours, an hour apart at least).
WEEK_START = "2026-03-23 00:07"
TZ = "CET-1CEST,M3.5.0,M10.5.0/3"
STEP_S = 900
PACE_S = 0.3
SCHEDULES = [[], [], [], ["mon-fri 07:30-22:00"], ["daily 18:00-23:00", "sat,sun 08:00-10:00"],
             ["mon-fri 12:00-13:00", "sat 10:00-16:00", "sun 02:30-05:00"]]
# The heap, twice a simulated hour: `status` collects the garbage, then shows the free heap and the least the app saw
# after a collection ('min': its watchdog collects every 10 s, between the tasks' steps). Samples taken with the same
# number of badge sessions open are compared (heap_trend); the free heap trends down when the median of the last
# quarter's samples is below the median of the first quarter's by more than HEAP_MARGIN bytes: a leak, or a heap that
# fragments as the days go by, moves every sample; a sample taken while a round with the server holds its client and
# buffers for the moment (some 7 KB) moves one, and a median does not follow it where a least would.
HEAP_MARGIN = 1024
AGAIN = "not enough memory for that badge just now: present it again"
TAP = r"badge [0-9a-f]{8}(?: \([^)]*\))?: [^\n]*\n"
BOB, MALLORY = bytes.fromhex(demo.BADGES[1].uid), bytes.fromhex(demo.BADGES[2].uid)  # Bob: outlets 1-3
STRANGER = bytes.fromhex("0A0B0C0D")  # not enrolled

UNITS = {
    "state": "power cuts at random instants in a storm of state writes (the firmware's own save path): cuts,"
             " state_files_checked / state_files_corrupt (state.json after each cut: whole, valid JSON, six 0/1),"
             " boots_checked (booted with that state: its relays, no 'unreadable'), interpreter_restarts (a Ctrl-C that"
             " ended the interpreter: the board was powered again, no cut counted), wall_s",
    "sessions": "power cuts around session reports, the real server behind a relay: cuts (report_cuts: as a report"
                " went by; boot_cuts: anywhere in the boot; drain_cuts: just after a boot delivered what waited and"
                " rewrote done.log; cuts_in_rewrite: those that caught the board rewriting done.log),"
                " sessions_expected / stored / lost / duplicated / unknown (stored but never queued), dropped (the"
                " board's log says it dropped some), wall_s",
    "week": "the accelerated run: days simulated, steps (of step_s seconds of world time), loop_wall_s and wall_s; taps"
            " (bob_on, bob_off, refused, taps_failed: a tap the server could not answer), no_room (a tap or a console"
            " line the board had no room for), sessions_expected / stored / lost / duplicated / unknown, dropped;"
            " heap (bytes free, from status twice a simulated hour, after its collection): samples_n, free_min,"
            " free_max, slope_per_day (least squares, per simulated day), median_first_quarter and"
            " median_last_quarter, least_seen (status's 'min' at the end: the least the app saw after a collection),"
            " trend (down: the last quarter's median below the first's by more than heap_margin); flash:"
            " state_writes (state.json replaced during the run), per_sim_hour, per_wall_hour, state_writes_app (the"
            " firmware's own count since boot), open_json_writes (an open session moves with each step of the clock),"
            " done_log_writes; schedule_checks / schedule_mismatches (outlets 4-6 as their rules say, each hour),"
            " schedule_switches (relay changes seen on them) against schedule_edges (changes the rules give);"
            " ntp_syncs (time sync once a simulated day), ntp_requests; server_requests, server_rounds (GET commands),"
            " server_401 (a step of the clock that crossed a request in flight: sent again at the next round);"
            " problems (a restart or a dead task in the log)",
}


class SoakFailure(AssertionError):
    """A check of a long run failed; `figures` are the run's so far. The message names the seed that replays it."""

    def __init__(self, what, seed, figures, detail=""):
        self.figures = figures
        super().__init__("%s (seed %d: replay with make soak ARGS=\"--seed %d\", or CUT_SEED=%d for the tests)\n"
                         "figures: %s%s" % (what, seed, seed, seed, json.dumps(_brief(figures), sort_keys=True),
                                            "\n" + detail if detail else ""))


def _brief(fig):
    return {k: v for k, v in fig.items() if k != "heap_samples"}


@contextmanager
def _run(fig, what, boards):
    """Times the part into fig["wall_s"]; any error but a SoakFailure becomes one, with the board's last output."""
    t0 = time.monotonic()
    try:
        yield
    except SoakFailure:
        fig["wall_s"] = round(time.monotonic() - t0, 1)
        raise
    except Exception as e:
        fig["wall_s"] = round(time.monotonic() - t0, 1)
        tail = boards[-1].serial.text()[-2000:] if boards else ""
        raise SoakFailure("%s stopped: %s: %s" % (what, type(e).__name__, str(e)[:2000]), fig["seed"], fig,
                          "the board's last output:\n" + tail) from e
    fig["wall_s"] = round(time.monotonic() - t0, 1)


@contextmanager
def boards(tmp):
    """Factory for the storms, as tools/benchmarks.py builds its boards: make(config=None, start=True) -> Bench, the
    reference board (seed wiring, the firmware in the ROMFS partition, an ESP8266's heap) in a folder of tmp. Every
    board is stopped at the end, whatever happened."""
    made = []

    def make(config=None, start=True):
        d = Path(tmp) / ("board-%d" % len(made))
        d.mkdir(parents=True)
        make_board(d, config)
        b = Bench(d, wiring="seed", romfs="320k")
        made.append(b)
        romfs_board(b)
        if start:
            b.start()
        return b

    try:
        yield make
    finally:
        for b in made:
            b.stop()


def _made(make):
    """make, and the list of the boards it made (to show the last one's output on a failure)."""
    made = []

    def wrapped(*a, **kw):
        b = make(*a, **kw)
        made.append(b)
        return b

    return wrapped, made


def _ready(b, since=0, timeout=10.0):
    return b.serial.expect(READY, timeout, since=since)


def _lines(path):
    return [s for s in path.read_text().splitlines() if s.strip()] if path.exists() else []


def _stored(db, device):
    """The keys of the device's sessions in the server's database (all of them: the admin API gives 1000 at most)."""
    from tools.server.store import Store

    return [s.key for s in Store(str(db)).sessions(10 ** 7, device=device)]


def _compare(fig, expected, got):
    fig["sessions_expected"] = len(expected)
    fig["sessions_stored"] = len(got)
    fig["sessions_lost"] = len(set(expected) - set(got))
    fig["sessions_duplicated"] = len(got) - len(set(got))
    fig["sessions_unknown"] = len(set(got) - set(expected))
    detail = []
    if fig["sessions_lost"]:
        detail.append("lost: %s" % sorted(set(expected) - set(got))[:20])
    if fig["sessions_duplicated"]:
        detail.append("duplicated: %s" % sorted({k for k in got if got.count(k) > 1})[:20])
    if fig["sessions_unknown"]:
        detail.append("unknown: %s" % sorted(set(got) - set(expected))[:20])
    return "; ".join(detail)


# ---- 1. power cuts around state writes ------------------------------------------------------------------------------

STORM = ("import firmware.app as a\nimport time\ni=0\n"
         "while True:\n i+=1\n a.outlets.want[i % 6] = not a.outlets.want[i % 6]\n a.save_state()\n")


def state_write_cuts(make, cuts, seed):
    """`cuts` power cuts at random instants inside a storm of state writes (the firmware's own save path, run from the
    raw REPL as fast as it goes); after each, state.json must be whole and valid, and the board must boot with it.
    make(config) -> a started Bench. Returns the figures; raises SoakFailure at the first bad state."""
    rng = random.Random(seed)
    fig = {"seed": seed, "cuts": 0, "state_files_checked": 0, "state_files_corrupt": 0, "boots_checked": 0,
           "interpreter_restarts": 0}
    make, made = _made(make)
    with _run(fig, "the state-write storm", made):
        b = make({"outlets": [{"power_on": "last"}] * 6, "stagger_ms": 0})
        m = 0
        while fig["cuts"] < cuts:
            _ready(b, since=m)
            # the tasks' first steps done: a Ctrl-C then seldom lands in a collection, where the unix port can end
            # the interpreter (docs/virtual-board.md, "Differences between the virtual board and an ESP8266")
            b.serial.expect("rfid: reader ready", 5, since=m)
            m = b.serial.mark()
            b.interrupt(timeout=15)
            if "rst cause:2" in b.serial.text(m):  # the Ctrl-C ended the interpreter (docs/virtual-board.md)
                fig["interpreter_restarts"] += 1
                m = b.serial.mark()
                b.power_cycle()
                continue
            b.serial.write(b"\x01")
            b.serial.expect(r"raw REPL; CTRL-B to exit\r?\n>", 5, since=m)
            b.serial.write(STORM.encode() + b"\x04")
            b.serial.expect(r"OK", 5, since=m)
            time.sleep(rng.uniform(0.0, 0.05))
            b.power_cut()
            fig["cuts"] += 1
            fig["state_files_checked"] += 1
            try:  # a whole, valid state: never a torn one (read from the board's LittleFS image, or its folder)
                lfs = b.flash == "littlefs"
                text = b.flash_read("/state.json") if lfs else (b.board_dir / "state.json").read_bytes()
                want = json.loads(text)["want"]
                if not (isinstance(want, list) and len(want) == 6 and set(want) <= {0, 1}):
                    raise ValueError("want = %r" % (want,))
            except (OSError, ValueError, KeyError, TypeError) as e:
                fig["state_files_corrupt"] += 1
                raise SoakFailure("state.json is not a whole, valid state after cut %d: %r" % (fig["cuts"], e),
                                  seed, fig) from None
            m = b.serial.mark()
            b.power_on()
            _ready(b, since=m)
            try:  # and the board boots with it
                b.wait_relays([bool(x) for x in want], timeout=3)
            except TimeoutError as e:
                raise SoakFailure("the board did not boot with the state left by cut %d (%s): %s" % (
                    fig["cuts"], want, e), seed, fig, b.serial.text(m)[-2000:]) from None
            if "unreadable" in b.serial.text(m):
                raise SoakFailure("the board found the state left by cut %d unreadable" % fig["cuts"], seed, fig,
                                  b.serial.text(m)[-2000:])
            fig["boots_checked"] += 1
            m = b.serial.mark()
            b.power_cycle()
    return fig


# ---- 2. power cuts around session reports ---------------------------------------------------------------------------

FEW = 6  # sessions are added (1 to 3 finished ones; at every 4th boot an interrupted one) while fewer wait


def _session_line(key, badge, outlet, start):
    return '{"id":"%s","badge":"%s","outlet":%d,"start":%d,"end":%d,"energy_wh":%d.00}\n' % (
        key, badge, outlet, start, start + 60, outlet)


def _delivered(b, after, seed, fig):
    """Wait (a minute at most) until the board has no session open or waiting to be delivered."""
    done, opened = b.board_dir / "done.log", b.board_dir / "open.json"
    end = time.monotonic() + 60
    while _lines(done) or _open_session(opened):
        if time.monotonic() > end:
            raise SoakFailure("sessions still wait on the board a minute after %s" % after, seed, fig,
                              done.read_text()[:500] + "\n" + b.serial.text()[-2000:])
        time.sleep(0.5)


def _open_session(path):
    return path.exists() and "[" in path.read_text()[1:]


def _no_report(b, relay):
    """What the board and the relay say when no report came: the board's last output, its status (the server line
    says why), the relay's last requests; and whether one comes in the next 20 s."""
    out = b.serial.text()[-2000:]
    try:
        out += "\nstatus:\n" + b.command("status", expect=r"(?m)^6 [^\n]*\n")
    except TimeoutError as e:
        out += "\nstatus: %s" % e
    late = relay.report.wait(20)
    return out + "\nthe relay's last requests: %s\na report in the next 20 s: %s" % (
        [r.split(b"\r\n", 1)[0] for r in relay.requests[-5:]], late)


def server_config(b, port, **server):
    """A configuration for the demo strip on the server at 127.0.0.1:port, joining the bench's access point."""
    return {"wifi": {"ssid": b.ap["ssid"], "password": b.ap["password"]},
            "outlets": [{"watts": w} for w in demo.POWER],
            "server": dict(url="http://127.0.0.1:%d" % port, device=demo.DEVICE_ID, secret=demo.DEVICE_SECRET,
                           site_secret=demo.SITE_SECRET, poll_s=2, **server)}


def session_report_cuts(make, cuts, seed, tmp):
    """`cuts` power cuts around session reports: the real server process (demo site, a database in tmp) behind a relay
    that sees each report go by. Before each boot, while fewer than FEW wait, finished sessions are added to done.log
    and now and then an interrupted one to open.json; the power is cut at random instants, most as a report goes by
    (before the server has it, once it has stored it but before the board knows, while the board rewrites done.log),
    some anywhere in the boot; when FEW or more wait, just after the boot delivered them. In the end the server must
    have every session exactly once. make(config, start=False) -> a Bench. Returns the figures; raises SoakFailure."""
    from tools.server.signing import badge_hash

    rng = random.Random(seed)
    h = badge_hash(demo.SITE_SECRET, demo.BADGES[0].uid)
    fig = {"seed": seed, "cuts": 0, "report_cuts": 0, "boot_cuts": 0, "drain_cuts": 0, "cuts_in_rewrite": 0}
    make, made = _made(make)
    Path(tmp).mkdir(parents=True, exist_ok=True)
    db = Path(tmp) / "sessions-server.db"
    with _run(fig, "the session-report storm", made), \
            server_process("--demo", "--db", str(db)) as (port, _):
        relay = Relay(port)
        try:
            b = make(None, start=False)
            (b.board_dir / "config.json").write_text(json.dumps(server_config(b, relay.port)))
            b.join_s = 0.05  # the access point lets the board in at once: the cuts come sooner
            b.start()
            since = _ready(b, timeout=20).start()
            b.serial.expect("clock: time from ntp", 10, since=since)  # the RTC chip has the time from now on
            done, opened = b.board_dir / "done.log", b.board_dir / "open.json"
            rewriting, last = b.board_dir / "done.log.tmp", None
            expected = set()
            t0 = int(time.time()) - 86400
            for cut in range(cuts):
                b.power_cut()
                # new sessions while few wait; when more wait, this boot delivers them first (a round removes what
                # it delivered once it has sent them all: with many waiting, no boot would get that far before its
                # cut, and beyond 64 the board drops the oldest, as it should)
                few = len(_lines(done)) < FEW
                new = ["%d-%d-%06x" % (t0 + cut, k + 1, rng.randrange(1 << 24))
                       for k in range(rng.randint(1, 3) if few else 0)]
                with open(done, "a") as f:  # finished sessions waiting for the server, as the firmware writes them
                    f.write("".join("\n" + _session_line(key, h, k + 1, t0 + cut) for k, key in enumerate(new)))
                expected.update(new)
                if cut % 4 == 0 and few and not _open_session(opened):  # and a session a power cut interrupted:
                    key = "%d-6-%06x" % (t0 + cut, rng.randrange(1 << 24))  # the boot finishes it
                    opened.write_text(json.dumps([None] * 5 + [[key, h, t0 + cut, 10]]))
                    expected.add(key)
                relay.report.clear()
                b.power_on()
                if not few:  # just after the board rewrote done.log without what it delivered
                    end = time.monotonic() + 15
                    while _lines(done):
                        if time.monotonic() > end:
                            raise SoakFailure("boot %d did not deliver its sessions within 15 s" % (cut + 1), seed,
                                              fig, b.serial.text()[-2000:])
                        time.sleep(0.005)
                    time.sleep(rng.uniform(0.0, 0.06))
                    fig["drain_cuts"] += 1
                elif cut % 4 == 3:  # anywhere in the boot
                    time.sleep(rng.uniform(0.0, 0.6))
                    fig["boot_cuts"] += 1
                else:  # as a report goes by: before, while and after the server stores it
                    if not relay.report.wait(10):
                        raise SoakFailure("no session report within 10 s of boot %d" % (cut + 1), seed, fig,
                                          _no_report(b, relay))
                    time.sleep(rng.uniform(0.0, 0.06))
                    fig["report_cuts"] += 1
                b.power_cut()
                fig["cuts"] += 1
                try:  # a cut while the board rewrote done.log leaves its copy
                    seen = rewriting.stat().st_mtime_ns
                except OSError:
                    seen = None
                if seen not in (None, last):
                    fig["cuts_in_rewrite"] += 1
                last = seen
            b.power_on()
            _delivered(b, "the last cut", seed, fig)
            got = _stored(db, demo.DEVICE_ID)
            detail = _compare(fig, expected, got)
            fig["dropped"] = b.serial.text().count("dropped")
            if detail or fig["dropped"]:
                raise SoakFailure("sessions lost, duplicated or dropped", seed, fig, detail)
        finally:
            relay.close()
    return fig


# ---- 3. the accelerated week ----------------------------------------------------------------------------------------

def cet_offset(t):
    """Seconds east of UTC at the instant t, by TZ's rule (the European Union's: summer time from the last Sunday of
    March to the last Sunday of October, 01:00 UTC)."""
    y = time.gmtime(t).tm_year

    def last_sunday(month):  # March and October have 31 days
        return calendar.timegm((y, month, 31 - (calendar.weekday(y, month, 31) + 1) % 7, 1, 0, 0))

    return 7200 if last_sunday(3) <= t < last_sunday(10) else 3600


def local_unix(text):
    """The instant of a local time 'YYYY-MM-DD HH:MM' in TZ."""
    t = calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))
    return t - cet_offset(t - 3600)


def _days(text):
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    out = set()
    for part in ("mon-sun" if text == "daily" else text).split(","):
        a, _, b = part.partition("-")
        a, b = names.index(a), names.index(b or a)
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return out


def scheduled(rules, t):
    """Whether rules (windows within a day, 'days HH:MM-HH:MM') say on at the instant t."""
    lt = time.gmtime(t + cet_offset(t))
    minute = lt.tm_hour * 60 + lt.tm_min
    for rule in rules:
        days, span = rule.split()
        on, off = (int(x[:2]) * 60 + int(x[3:]) for x in span.split("-"))
        if lt.tm_wday in _days(days) and on <= minute < off:
            return True
    return False


def _local(t):
    return time.strftime("%a %Y-%m-%d %H:%M", time.gmtime(t + cet_offset(t)))


def _wait_outlets(b, want, timeout):
    """Until the relays of the outlets in want ({index from 0: on}) are as wanted; whether they got there."""
    end = time.monotonic() + timeout
    with b.changed:
        while any(b.relay_state[i] != on for i, on in want.items()):
            if time.monotonic() >= end:
                return False
            b.changed.wait(end - time.monotonic())
    return True


class _Week:
    """The accelerated run's state: the board, the server's clock file, what was tapped and expected."""

    def __init__(self, b, clock_file, fig, rng):
        self.b, self.clock_file, self.fig, self.rng = b, Path(clock_file), fig, rng
        self.card_left = 0.0  # time.monotonic() when the last card left the reader
        self.expected = set()  # the keys of the sessions taps opened (read from open.json)
        self.bob = None  # (hours it lasts, hours so far) while Bob has a session

    def world(self, t):
        """Set the world's clock (the board's RTC chip, its ESP8266 clock and the NTP server follow it), and the
        server's: it reads its offset from the clock file."""
        self.b.clock.set(t)
        set_clock_file(self.clock_file, t - time.time())

    def tap(self, uid):
        """A card placed on the reader until the board says what it did, then taken away; the line it logged (a tap
        the board found no room for is counted: on an ESP8266's heap it must not happen)."""
        b = self.b
        time.sleep(max(0.0, self.card_left + 2.0 - time.monotonic()))  # two empty polls, a round under way
        m0 = b.serial.mark()
        b.field.place(uid)
        try:
            line = b.serial.expect(TAP + "|" + re.escape(AGAIN), 8, since=m0).group(0).decode()
        finally:
            b.field.remove()
            self.card_left = time.monotonic()
        if AGAIN in line:
            self.fig["no_room"] += 1
        return line

    def bob_tap(self):
        fig, b = self.fig, self.b
        line = self.tap(BOB)
        if "session ended" in line:
            fig["bob_off"] += 1
            self.bob = None
            if not _wait_outlets(b, {0: False, 1: False, 2: False}, 3):
                raise AssertionError("outlets 1-3 still on after Bob's second tap: %s" % b.relays())
        elif re.search(r"outlet [\d,]+ on", line):
            fig["bob_on"] += 1
            sessions = json.loads((b.board_dir / "open.json").read_text())  # written before the outlets go on
            self.expected.update(s[0] for s in sessions if s)
            self.bob = [self.rng.randint(1, 3), 0]
            if not _wait_outlets(b, {0: True, 1: True, 2: True}, 3):
                raise AssertionError("outlets 1-3 not on after Bob's tap: %s" % b.relays())
        else:  # the server could not say (the log says why): the next hour tries again
            fig["taps_failed"] += 1
            fig.setdefault("first_failed_tap", line.strip())

    def other_tap(self, uid, why):
        line = self.tap(uid)
        if why in line:
            self.fig["refused"] += 1
        else:
            self.fig["taps_failed"] += 1
            self.fig.setdefault("first_failed_tap", line.strip())

    def command(self, line, expect=None):
        """A console line; its reply (one the board found no room for is counted: it must not happen either)."""
        out = self.b.command(line, expect=expect)
        if self.b.NO_ROOM in out:
            self.fig["no_room"] += 1
        return out

    def status(self, day):
        out = self.command("status", expect=r"(?m)^6 [^\n]*\n")
        m = re.search(STATUS, out)
        if not m:
            if self.b.NO_ROOM in out:  # counted: the run fails in the end
                return
            raise AssertionError("status without its heap figures: %r" % out)
        self.fig["heap_samples"].append([round(day, 3), int(m.group(1)), int(m.group(2)), 1 if self.bob else 0])
        w = re.search(r"(\d+) state writes", out)
        if w:
            self.fig["state_writes_app"] = int(w.group(1))


def set_clock_file(path, offset):
    """Write the offset for `multiprise server --clock-file` (replaced whole)."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text("%.3f\n" % offset)
    os.replace(tmp, path)


def heap_trend(samples, margin=HEAP_MARGIN):
    """Figures of [day, free, the least after a collection, state] samples (state: what the app holds just then, here
    the badge sessions open; 0 when left out): the least and the most free, the least-squares slope of free (bytes per
    simulated day) within each state, and the trend. Samples are compared with samples of the same state only: an
    open session holds 800 to 1,100 bytes, and a run whose sessions fall in its last quarter is not a leak. For each
    state with 4 samples or more, the median of its first and of its last quarter's free; the trend is "down" when
    one of them falls by more than margin (the figures shown are that state's, or the largest fall's)."""
    out = {"heap_samples_n": len(samples)}
    groups = {}
    for s in samples:
        groups.setdefault(s[3] if len(s) > 3 else 0, []).append(s)
    falls = []
    sxy = sxx = 0.0
    for state, g in sorted(groups.items()):
        if len(g) < 4:
            continue
        xs, ys = [s[0] for s in g], [s[1] for s in g]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx += sum((x - mx) ** 2 for x in xs)
        sxy += sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        q = len(g) // 4
        first, last = statistics.median(ys[:q]), statistics.median(ys[-q:])
        falls.append((first - last, state, first, last))
    if not falls:
        return out
    fall, state, first, last = max(falls)
    ys = [s[1] for s in samples]
    out.update(heap_free_min=min(ys), heap_free_max=max(ys), heap_slope_per_day=round(sxy / sxx, 1) if sxx else 0.0,
               heap_median_first_quarter=first, heap_median_last_quarter=last, heap_trend_state=state,
               heap_least_seen=samples[-1][2], heap_margin=margin, heap_trend="down" if fall > margin else "flat")
    return out


def _server_log(text, fig):
    requests = re.findall(r'"(GET|POST) /api/v1/device/(\w+)[^"]*" (\d+)', text)
    fig["server_requests"] = len(requests)
    fig["server_rounds"] = sum(1 for m, p, _ in requests if m == "GET" and p == "commands")
    fig["server_401"] = sum(1 for _, _, s in requests if s == "401")


def accelerated_week(make, days, seed, tmp, pace=PACE_S, start=WEEK_START):
    """`days` simulated days in a few minutes: the world's clock moves by STEP_S at a time, every `pace` seconds of
    wall time at most (the board takes each step as a clock correction: schedule edges passed fire, timers and open
    sessions keep their length), the server following the same clock (--clock-file). Outlets 4-6 run on weekly
    schedules (checked each hour); Bob's badge opens sessions on outlets 1-3 for an hour or three, at random, and
    Mallory or a stranger are refused now and then; the server has a round every 2 s; `time sync` asks NTP once a day.
    The heap is read from `status` twice a simulated hour (heap_trend), state.json's rewrites are counted. make(config,
    start=False) -> a Bench. Returns the figures; raises SoakFailure when a session is lost, duplicated, unknown or
    dropped, the free heap trends down, the outlets do not follow their schedules, a tap or a console line found no
    room, or the board restarted or lost a task."""
    rng = random.Random(seed)
    from tools.benchmarks import InodeWatch

    fig = {"seed": seed, "days": days, "step_s": STEP_S, "steps": 0, "bob_on": 0, "bob_off": 0, "refused": 0,
           "taps_failed": 0, "no_room": 0, "heap_samples": [], "schedule_checks": 0,
           "schedule_mismatches": 0, "schedule_edges": 0, "ntp_syncs": 0}
    make, made = _made(make)
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    db, clock_file, log = tmp / "week-server.db", tmp / "week-clock", tmp / "week-server.log"
    t_start = local_unix(start)
    set_clock_file(clock_file, t_start - time.time())
    watches = []
    with _run(fig, "the accelerated run", made), open(log, "w+") as out, \
            server_process("--demo", "--db", str(db), "--clock-file", str(clock_file), "--access-log",
                           output=out) as (port, _):
        try:
            b = make(None, start=False)
            cfg = server_config(b, port)
            cfg["time"] = {"tz": TZ}
            for o, rules in zip(cfg["outlets"], SCHEDULES, strict=True):
                o["schedule"] = rules
            (b.board_dir / "config.json").write_text(json.dumps(cfg))
            w = _Week(b, clock_file, fig, rng)
            w.world(t_start)
            watches = [InodeWatch(b.board_dir / name) for name in ("state.json", "open.json", "done.log")]
            b.start()
            since = _ready(b, timeout=20).start()
            b.serial.expect("clock: time from ntp", 15, since=since)
            b.serial.expect("rfid: reader ready", 10, since=since)
            # warm-up, before the samples: every path the run takes has run once (names interned, modules seen)
            w.bob_tap()
            w.bob_tap()
            w.other_tap(MALLORY, "no rule")
            w.command("time sync")
            w.command("status", expect=r"(?m)^6 [^\n]*\n")
            ntp0 = b.ntp.requests
            watch_from = time.monotonic()
            history0 = len(b.relay_history)
            loop_from = b.serial.mark()
            wall0 = time.monotonic()
            previous = [scheduled(r, t_start) for r in SCHEDULES[3:]]
            for k in range(1, days * 96 + 1):
                t = t_start + k * STEP_S
                w.world(t)
                fig["steps"] = k
                due = time.monotonic() + pace
                lt = time.gmtime(t + cet_offset(t))
                day = k * STEP_S / 86400
                if lt.tm_min == 22:  # badges
                    if w.bob:
                        w.bob[1] += 1
                        if w.bob[1] >= w.bob[0]:
                            w.bob_tap()
                    elif rng.random() < 0.2:
                        w.bob_tap()
                    if rng.random() < 0.04:
                        w.other_tap(MALLORY, "refused by the server: no rule")
                    elif rng.random() < 0.03:
                        w.other_tap(STRANGER, "refused by the server: unknown badge")
                elif lt.tm_min in (7, 37):  # the heap; NTP once a day
                    w.status(day)
                    if lt.tm_hour == 3 and lt.tm_min == 37:
                        w.command("time sync")
                        fig["ntp_syncs"] += 1
                elif lt.tm_min == 52:  # the schedules
                    now = b.clock.now()
                    want = [scheduled(r, now) for r in SCHEDULES[3:]]
                    fig["schedule_edges"] += sum(1 for a, c in zip(previous, want, strict=True) if a != c)
                    previous = want
                    fig["schedule_checks"] += 1
                    if not _wait_outlets(b, {3 + i: on for i, on in enumerate(want)}, 3):
                        fig["schedule_mismatches"] += 1
                        fig.setdefault("first_mismatch", "%s: outlets 4-6 %s, their rules say %s" % (
                            _local(now), b.relays()[3:], want))
                time.sleep(max(0.0, due - time.monotonic()))
            wall1 = time.monotonic()
            if w.bob:
                w.bob_tap()
            fig["ntp_requests"] = b.ntp.requests - ntp0
            fig["schedule_switches"] = sum(1 for _, i, _ in b.relay_history[history0:] if i >= 3)
            hours = days * 24
            n = watches[0].count(watch_from, wall1)
            fig["state_writes"] = n
            fig["state_writes_per_sim_hour"] = round(n / hours, 2)
            fig["state_writes_per_wall_hour"] = round(n * 3600 / (wall1 - wall0))
            fig["open_json_writes"] = watches[1].count(watch_from, wall1)
            fig["done_log_writes"] = watches[2].count(watch_from, wall1)
            fig["loop_wall_s"] = round(wall1 - wall0, 1)
            _delivered(b, "the run", seed, fig)
            detail = _compare(fig, w.expected, _stored(db, demo.DEVICE_ID))
            fig.update(heap_trend(fig["heap_samples"]))
            text = b.serial.text(loop_from)
            fig["dropped"] = text.count("dropped")
            problems = [s.strip() for s in text.splitlines()
                        if re.search(r"Traceback|MemoryError|died|crashed|stopped|reset cause", s)]
            fig["problems"] = len(problems)
            out.flush()
            out.seek(0)
            _server_log(out.read(), fig)
            failed = []
            if detail or fig["dropped"]:
                failed.append("sessions lost, duplicated, unknown or dropped (%s)" % detail)
            if fig.get("heap_trend") == "down":
                failed.append("the free heap trends down: median %d in the first quarter, %d in the last, with %d "
                              "session(s) open (margin %d)" % (fig["heap_median_first_quarter"],
                                                               fig["heap_median_last_quarter"],
                                                               fig["heap_trend_state"], HEAP_MARGIN))
            if fig["schedule_mismatches"]:
                failed.append("the outlets did not follow their schedules %d time(s), first: %s" % (
                    fig["schedule_mismatches"], fig["first_mismatch"]))
            if fig["no_room"]:
                failed.append("the board found no room for %d tap(s) or console line(s)" % fig["no_room"])
            if problems:
                failed.append("the board restarted or a task died: %s" % problems[:3])
            if failed:
                raise SoakFailure("; ".join(failed), seed, fig)
        finally:
            for watch in watches:
                watch.stop()
    return fig


# ---- the command ----------------------------------------------------------------------------------------------------

PARTS = ("state", "sessions", "week")


def table(res):
    lines = []
    for part in PARTS:
        fig = res.get(part)
        if not fig:
            continue
        lines += ["", "%s: %s" % (part, UNITS[part])]
        for k, v in fig.items():
            if k != "heap_samples":
                lines.append("  %-28s %s" % (k, v))
    return "\n".join(lines)


def main(args):
    """make soak: the parts asked for (all by default), one after the other; build/soak.json; 1 when a check failed."""
    parts = args.only or list(PARTS)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    out = Path(getattr(args, "out", None) or BUILD / "soak.json")
    res = {"seed": seed}
    failures = []
    t0 = time.monotonic()
    print("soak: building; seed %d; %s" % (seed, ", ".join(parts)), flush=True)
    build()
    runs = {"state": lambda make, tmp: state_write_cuts(make, args.cuts, seed),
            "sessions": lambda make, tmp: session_report_cuts(make, args.session_cuts or args.cuts, seed, tmp),
            "week": lambda make, tmp: accelerated_week(make, args.days, seed, tmp)}
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        for part in PARTS:
            if part not in parts:
                continue
            print("soak: %s ..." % part, flush=True)
            t1 = time.monotonic()
            n = len(failures)
            try:
                with boards(Path(tmp) / part) as make:
                    res[part] = runs[part](make, Path(tmp) / part)
            except SoakFailure as e:
                res[part] = e.figures
                failures.append("%s: %s" % (part, e))
            except Exception as e:  # reported, and the next part runs
                res[part] = {"seed": seed, "error": "%s: %s" % (type(e).__name__, e),
                             "wall_s": round(time.monotonic() - t1, 1)}
                failures.append("%s: %s" % (part, traceback.format_exc()))
            print("soak: %s %s in %.0f s" % (part, "FAILED" if len(failures) > n else "passed",
                                            time.monotonic() - t1), flush=True)
    res["wall_s"] = round(time.monotonic() - t0, 1)
    print(table(res))
    res["_units"] = {p: UNITS[p] for p in PARTS if p in res}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print("\nsoak: seed %d, %.0f s, figures in %s" % (seed, res["wall_s"], out))
    if failures:
        print("soak: %d part(s) failed:\n%s" % (len(failures), "\n".join(failures)))
        return 1
    return 0
