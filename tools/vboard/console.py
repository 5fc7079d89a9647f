"""`multiprise sim`: the virtual board live in a terminal (outlets, power, Wi-Fi, clocks, serial output),
and a command line that acts on its world or types on its serial console."""
import codecs
import curses
import datetime
import json
import locale
import os
import re
import sys
import threading
import time
from collections import deque
from pathlib import Path

from tools.build import IMAGE, make_board
from tools.vboard.bench import HARD_RESET, WIRINGS, Bench
from tools.vboard.ntp import MODES

EXAMPLE_OUTLETS = [("Lamp", "last"), ("Desk", "off"), ("Heater", "off"), ("Fan", "last"), ("Router", "on"),
                   ("Charger", "off")]
STATION = {0: "idle", 1: "connecting", 2: "wrong password", 3: "AP not found", 4: "connect failed", 5: "got IP"}
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
UTC = datetime.UTC
# Escape sequences and control characters other than \b, \t and \n (\r goes too).
CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x07\x0b-\x1f\x7f]")
HELP = """\
on|off|toggle N|all, status, time, help, and anything else not below:
                    typed on the board's serial console (its own commands: help)
? (or sim help)     this list
power               cut the power if on, restore it if cut (or: cut, restore)
reset               press the board's reset button
wifi up|down        switch the Wi-Fi access point the board joins
button              hold/release FLASH: held at a reset = safe mode; 5 s while running = Wi-Fi setup
world YYYY-MM-DD HH:MM[:SS]
                    set the world clock (UTC); the RTC chip lives through it, the demo server and the NTP
                    server follow it, and the board is asked to sync (time sync)
jump +/-N[s|m|h|d]  move the world clock and the RTC chip with it: jump +2h (the same followers)
chip YYYY-MM-DD HH:MM[:SS] | +/-N[s|m|h|d]
                    set or move the RTC chip's time alone (UTC): chip -1h
chip lost           the chip's battery ran flat: 2000-01-01, OSF (DS3231) or CH (DS1307) set
ntp on|off|garbage|kod
                    the NTP server answers, stays silent, answers junk, or says RATE (kiss-of-death)
ntp +/-N[s|m|h|d]   the NTP server's time is off by that much (ntp 0: right); ntp alone: its state
tap UID             a badge on the RFID reader: its UID in hex, 4 or 7 bytes (tap 04a1b2c3d4e5f6)
load N WATTS [PF]   what is plugged into outlet N draws while it is on, at power factor PF (1: a heater);
                    the metering chip measures it (status on the board): load 3 2000
load N WATTS [PF] noise=R kettle=S inrush=KxMS (any of them)
                    its power wanders within +-R of WATTS (noise=0.05 or 5%), a new value each second; its
                    thermostat switches it off after S seconds on, the outlet staying on, until the outlet is
                    switched off and on (a kettle: kettle=90); it draws K times WATTS for MS ms after the relay
                    closes (a motor: inrush=8x20): load 3 2000 kettle=90
untap               take the badge off the reader
quit                stop the board and leave (Ctrl-C too)"""


def example_config(wiring, ssid, password, server=None):
    """The configuration a fresh simulated board gets: the reference wiring and the bench's access point; with server
    (its URL), the demo strip of the reference server (tools/server/demo.py)."""
    from tools.server import demo

    cfg = {"name": "multiprise-sim", "board": {"profile": wiring}, "wifi": {"ssid": ssid, "password": password},
           "outlets": [{"name": n, "power_on": p, "watts": w}
                       for (n, p), w in zip(EXAMPLE_OUTLETS, demo.POWER, strict=True)],
           "meter": {"max_watts": 3500}}
    if server:
        cfg["server"] = {"url": server, "device": demo.DEVICE_ID, "secret": demo.DEVICE_SECRET,
                         "site_secret": demo.SITE_SECRET}
    return cfg


def demo_server_url(board, server):
    """A board folder whose config.json is for the demo strip on this machine follows the demo server to the port it
    has this time. True when config.json changed."""
    from tools.server import demo

    try:
        cfg = json.loads((board / "config.json").read_text())
        srv = cfg["server"]
        if srv.get("device") != demo.DEVICE_ID or not srv.get("url", "").startswith("http://127.0.0.1:") \
                or srv["url"] == server:
            return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    srv["url"] = server
    (board / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return True


def prepare(board, wiring, ap, config_path=None, server=None):
    """Fill the board folder; return the outlet names and notes for the person. server: the URL of the demo server
    started beside the board, or None.

    config.json is written from --config, or the example when the folder has none (a person's edits persist)."""
    board.mkdir(parents=True, exist_ok=True)
    config = None
    if config_path:
        config = Path(config_path).read_text()
    elif not (board / "config.json").exists():
        config = example_config(wiring, ap["ssid"], ap["password"], server)
    elif server:
        demo_server_url(board, server)
    make_board(board, config)
    names, notes, profile = ["Outlet %d" % (i + 1) for i in range(len(WIRINGS[wiring]["relays"]))], [], wiring
    try:
        cfg = json.loads((board / "config.json").read_text())
        for i, outlet in enumerate(cfg.get("outlets", [])[:len(names)]):
            names[i] = str(outlet.get("name", names[i]))
        profile = cfg.get("board", {}).get("profile", "seed")
    except (ValueError, AttributeError, TypeError):
        notes.append("config.json is not a configuration the console can read: the board will say what is wrong")
    if profile in WIRINGS and profile != wiring:
        notes.append("config.json is for the %s wiring but the bench is wired %s: the relays will not follow; "
                     "use another --board folder or --config" % (profile, wiring))
    return names, notes


def from_flash(bench, board):
    """On LittleFS, from an earlier run's image: the folder's config.json becomes the one on the board's flash (or
    goes, when the board has none), so prepare() reads and keeps what the board holds: a configuration changed on
    the board (mpremote, the web page) stays."""
    if bench.flash != "littlefs" or not bench.flash_file.exists():
        return
    board.mkdir(parents=True, exist_ok=True)
    with bench.flash_image() as im:
        config = im.read("/config.json") if im.exists("/config.json") else None
    if config is None:
        (board / "config.json").unlink(missing_ok=True)
    else:
        (board / "config.json").write_bytes(config)


def onto_flash(bench, board):
    """On LittleFS, from an earlier run's image: what this run's prepare() and romfs_board() left in the folder goes
    on the board's flash, as deploy leaves a board: the built firmware's files and config.json, each that differs
    (with the firmware in the ROMFS partition, /lib/firmware goes). At the first run start() makes the image from
    the folder."""
    if bench.flash != "littlefs" or not bench.flash_file.exists():
        return
    files = sorted(p.relative_to(IMAGE).as_posix() for p in IMAGE.rglob("*") if p.is_file()) + ["config.json"]
    with bench.flash_image() as im:
        if bench.romfs:
            im.remove("/lib/firmware")
        for rel in files:
            f = board / rel
            if f.is_file():
                data = f.read_bytes()
                if not im.exists("/" + rel) or im.read("/" + rel) != data:
                    im.write("/" + rel, data)


def plug_loads(bench, board):
    """Each outlet's load on the bench: its rated watts in config.json (the sim's `load` changes it)."""
    try:
        outlets = json.loads((board / "config.json").read_text()).get("outlets", [])
        for i, o in enumerate(outlets[:len(bench.relay_wires)]):
            w = o.get("watts", 0)
            bench.mains.set_load(i, w if type(w) in (int, float) and w >= 0 else 0)
    except (ValueError, AttributeError, TypeError):  # a configuration the board will refuse: no loads
        pass


def snapshot(bench, names):
    """The state of the world at one instant, as plain values."""
    with bench.lock:
        rtc = bench.rtc
        return {"relays": list(bench.relay_state), "names": list(names), "powered": bench.powered,
                "ap": dict(bench.ap), "station": bench.wifi_status(), "dhcp": bench.dhcp_name, "button": bench.button,
                "now": datetime.datetime.fromtimestamp(bench.clock.now(), UTC),
                "rtc": rtc and (type(rtc).__name__, rtc.time(), rtc.battery, rtc.time_lost()),
                "boots": bench.boots, "wdt_resets": bench.wdt_resets, "port": bench.serial.port,
                "webrepl": bench.webrepl.port if bench.webrepl else None,
                "board": str(bench.flash_file if bench.flash == "littlefs" else bench.board_dir),
                "wiring": bench.wiring_name, "ntp": ntp_state(bench),
                "reader": bench.reader_kind, "cards": [uid.hex() for uid in bench.field.uids()]}


def status_lines(s):
    """The status area: a list of lines, each a list of (text, style); style is "", title, on or bad."""
    outlets = []
    for i, on in enumerate(s["relays"]):
        if i % 3 == 0:
            outlets.append([("outlets" if i == 0 else "", "")])
        outlets[-1] += [("  %d %-12.12s " % (i + 1, s["names"][i]), ""), ("ON " if on else "off", "on" if on else "")]
    rtc, ap = "no RTC chip", s["ap"]
    if s["rtc"]:
        kind, when, battery, lost = s["rtc"]
        flag = "OSF" if kind == "DS3231" else "CH"
        rtc = "RTC %s %s, battery %s%s" % (kind, stamp(when), "ok" if battery else "none",
                                          ", time lost (%s set)" % flag if lost else "")
    return [
        [("multiprise sim", "title"), ("   boots %d, watchdog resets %d   %s wiring, board %s"
                                       % (s["boots"], s["wdt_resets"], s["wiring"], s["board"]), "")],
        [("serial  mpremote connect socket://127.0.0.1:%s" % s["port"]
          + ("   WebREPL ws://127.0.0.1:%d" % s["webrepl"] if s.get("webrepl") else ""), "")],
        *outlets,
        [("power ", ""), ("on" if s["powered"] else "CUT", "on" if s["powered"] else "bad"),
         ("   Wi-Fi AP %s " % ap["ssid"], ""), ("up" if ap["up"] else "DOWN", "on" if ap["up"] else "bad"),
         (", board: %s" % (STATION.get(s["station"], s["station"]) if s["powered"] else "no power"), ""),
         (" as %s" % s["dhcp"] if s.get("dhcp") and s["powered"] and s["station"] == 5 else "", ""),
         ("   FLASH button ", ""), ("HELD" if s["button"] else "released", "bad" if s["button"] else "")],
        [("world %s UTC   %s" % (stamp(s["now"]), rtc), "")],
        [(s["ntp"], "")],
    ] + ([[("RFID %s: " % s["reader"], ""), ("card %s" % ", ".join(s["cards"]), "on") if s["cards"] else
           ("no card", "")]] if s.get("reader") else [])


def clocks(bench):
    with bench.lock:
        world = "world clock %s UTC" % stamp(datetime.datetime.fromtimestamp(bench.clock.now(), UTC))
        return world + ("; the RTC chip reads %s" % stamp(bench.rtc.time()) if bench.rtc else "")


def stamp(when):
    return when.strftime("%Y-%m-%d %H:%M:%S")


def parse_when(words):
    """Unix time of "YYYY-MM-DD HH:MM[:SS]" (UTC), or None."""
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.datetime.strptime(" ".join(words), fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    return None


def parse_seconds(words):
    """Seconds in "+/-N[s|m|h|d]" (no unit: seconds), or None."""
    m = re.fullmatch(r"([+-]?\d+)([smhd]?)", "".join(words))
    return int(m[1]) * SECONDS[m[2] or "s"] if m else None


def ntp_state(bench):
    n = bench.ntp
    return "NTP server %s, %+d s, %d request%s" % (n.mode, n.offset, n.requests, "" if n.requests == 1 else "s")


def text(segments):
    return "".join(t for t, _ in segments)


def handle(bench, line):
    """Carry out one line typed at the sim prompt (but quit); return what to tell the person,
    "" when the line went to the board's console (the board answers on the serial output)."""
    words = line.split()
    if not words:
        return ""
    cmd, rest = words[0].lower(), words[1:]
    if cmd == "?" or [w.lower() for w in words] == ["sim", "help"]:
        return HELP
    if cmd in ("power", "cut", "restore"):
        want = not bench.powered if cmd == "power" else cmd == "restore"
        if want == bench.powered:
            return "the power is already %s" % ("on" if want else "cut")
        if want:
            bench.power_on()
            return "power restored: the board boots"
        bench.power_cut()
        return "power cut: the board is dead; its flash and the RTC chip (on its battery) keep their state"
    if cmd == "reset":
        if not bench.powered:
            return "the board has no power: type restore"
        bench.reset(HARD_RESET)
        return "reset: the board restarts" + (" with the FLASH button held: safe mode" if bench.button else "")
    if cmd == "wifi":
        if rest not in (["up"], ["down"]):
            return "usage: wifi up|down"
        bench.set_wifi(rest[0] == "up")
        return "Wi-Fi access point %s is %s" % (bench.ap["ssid"], rest[0])
    if cmd == "button":
        bench.hold_button(not bench.button)
        if bench.button:
            return ("FLASH button held: reset now starts safe mode; held 5 s, a running app opens its Wi-Fi setup"
                    " (where no relay shares its pin); button again releases it")
        return "FLASH button released"
    if cmd == "world":
        when = parse_when(rest)
        if when is None:
            return "usage: world YYYY-MM-DD HH:MM[:SS] (UTC), e.g. world 2030-01-02 03:04"
        with bench.lock:
            bench.clock.set(when)
        return world_moved(bench)
    if cmd == "jump":
        step = parse_seconds(rest)
        if step is None:
            return "usage: jump +/-N[s|m|h|d], e.g. jump +2h or jump -30m"
        with bench.lock:
            bench.clock.jump(step)
        return world_moved(bench)
    if cmd == "chip":
        if not bench.rtc:
            return "this board has no RTC chip"
        when, step = parse_when(rest), parse_seconds(rest)
        with bench.lock:
            if rest == ["lost"]:
                bench.rtc.lose()
            elif when is not None or step is not None:
                bench.rtc.set(when if when is not None else bench.rtc.unix() + step)
            else:
                return "usage: chip YYYY-MM-DD HH:MM[:SS] | chip +/-N[s|m|h|d] | chip lost"
        return clocks(bench) + ("; its time is lost" if rest == ["lost"] else "")
    if cmd == "ntp":
        step = parse_seconds(rest)
        with bench.lock:
            if len(rest) == 1 and rest[0] in MODES:
                bench.ntp.mode = rest[0]
            elif step is not None:
                bench.ntp.offset = step
            elif rest:
                return "usage: ntp on|off|garbage|kod, ntp +/-N[s|m|h|d] (its error), or ntp alone"
        return "%s, at 127.0.0.1:%d" % (ntp_state(bench), bench.ntp.port)
    if cmd in ("tap", "untap"):
        return tap(bench, rest if cmd == "tap" else None)
    if cmd == "load":
        return load(bench, rest)
    if not bench.powered:
        return "the board has no power: type restore"
    bench.serial.write(line + "\r")
    return ""


NUMBER = r"(\d*\.?\d+)"
LOAD_OPTION = re.compile(r"noise=%s(%%?)|kettle=%ss?|inrush=%sx%s(?:ms)?" % (NUMBER, NUMBER, NUMBER, NUMBER))


def load(bench, words):
    """load N WATTS [PF] [noise=R] [kettle=S] [inrush=KxMS]: what outlet N draws while it is on."""
    try:
        cut = next((k for k, w in enumerate(words) if "=" in w), len(words))
        plain = words[:cut]
        i, watts, pf = int(plain[0]) - 1, float(plain[1]), float(plain[2]) if len(plain) == 3 else 1.0
        if not 0 <= i < len(bench.relay_wires) or len(plain) > 3:
            raise ValueError
        options = {}
        for w in words[cut:]:
            m = LOAD_OPTION.fullmatch(w.lower())
            if not m:
                raise ValueError
            if m[1]:
                options["noise"] = float(m[1]) / (100 if m[2] else 1)
            elif m[3]:
                options["off_after"] = float(m[3])
            else:
                options["inrush"], options["inrush_ms"] = float(m[4]), float(m[5])
        bench.mains.set_load(i, watts, pf, **options)
    except (ValueError, IndexError):
        return ("usage: load N WATTS [PF], N from 1 to %d, WATTS >= 0, 0 < PF <= 1; options after them: noise=R "
                "(under 1, or a %%), kettle=S (seconds), inrush=KxMS (K times WATTS for MS ms)"
                % len(bench.relay_wires))
    said = "outlet %d draws %g W at power factor %.2f while it is on" % (i + 1, watts, pf)
    if "noise" in options:
        said += ", its power wandering within %g %% of that" % (options["noise"] * 100)
    if "off_after" in options:
        said += "; its thermostat switches it off after %g s on, until the outlet is switched off and on" % (
            options["off_after"])
    if "inrush" in options:
        said += "; %g times that for %g ms after the relay closes" % (options["inrush"], options["inrush_ms"])
    return said


def world_moved(bench):
    """The world's clock moved: the demo server follows it (its --clock-file), and the board, whose own clock does
    not know, is asked to sync with NTP now (which follows the world too)."""
    path = getattr(bench, "clock_file", None)
    if path:
        tmp = str(path) + ".tmp"
        with open(tmp, "w") as f:
            f.write("%.3f" % (bench.clock.now() - time.time()))
        os.replace(tmp, path)
    said = clocks(bench)
    if bench.powered:
        bench.serial.write("time sync\r")
        said += "; the board asked to sync (time sync)"
    return said


def tap(bench, words):
    """tap UID (words: its hex, spaces allowed) puts a badge on the reader, in place of any; untap (None) takes
    it off."""
    if not bench.reader:
        return "this board has no RFID reader"
    if words is None:
        was = bench.field.uids()
        bench.field.remove()
        return "badge %s taken off the reader" % ", ".join(u.hex() for u in was) if was else "no badge on the reader"
    try:
        uid = bytes.fromhex("".join(words))
    except ValueError:
        uid = b""
    if len(uid) not in (4, 7):
        return "usage: tap UID, its 4 or 7 bytes in hex, e.g. tap 04a1b2c3d4e5f6"
    try:
        with bench.lock:
            bench.field.place(uid)
            for other in bench.field.uids()[:-1]:  # one badge at a time
                bench.field.remove(other)
    except ValueError as e:  # a UID no card can have (the cascade tag 0x88 where it would mislead a reader)
        return "no card has that UID: %s" % e
    return "badge %s on the %s reader" % (uid.hex(), bench.reader_kind)


class Scrollback:
    """The board's serial output as lines: UTF-8 with replacement, \\r and escapes dropped, backspaces applied.
    Keeps the last `keep` lines (with the person's own notes), and the line being printed."""

    def __init__(self, keep=1000, echo=None):
        self.lines = deque(maxlen=keep)  # (text, style)
        self.partial = ""
        self.echo = echo  # called with each completed line
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._lock = threading.Lock()

    def feed(self, data):
        with self._lock:
            for piece in re.split(r"([\n\b])", CONTROL.sub("", self._decode(data)).expandtabs(4)):
                if piece == "\n":
                    self._add(self.partial, "")
                    self.partial = ""
                elif piece == "\b":
                    self.partial = self.partial[:-1]
                else:
                    self.partial += piece

    def note(self, message, style="sim"):
        """A message of the console's own (plain-mode output goes through here too)."""
        with self._lock:
            for line in message.splitlines():
                self._add(line, style)

    def _add(self, line, style):
        self.lines.append((line, style))
        if self.echo:
            self.echo(line)

    def view(self):
        with self._lock:
            return list(self.lines) + ([(self.partial, "")] if self.partial else [])


def _put(scr, y, segments, width, attrs):
    x = 0
    for t, style in segments:
        t = t[:max(width - 1 - x, 0)].encode(scr.encoding, "replace").decode(scr.encoding)
        if t:
            scr.addstr(y, x, t, attrs.get(style, 0))
            x += len(t)


def _draw(scr, status, log, prompt, attrs):
    h, w = scr.getmaxyx()
    scr.erase()
    rows = status + [[("-- serial output " + "-" * w, "title")]]
    pane = max(h - len(rows) - 1, 0)
    wrapped = []
    for t, style in reversed(log):
        if len(wrapped) >= pane:
            break
        chunks = [t[i:i + w - 1] for i in range(0, max(len(t), 1), w - 1)]
        wrapped[:0] = [[(c, style)] for c in chunks]
    rows += wrapped[-pane:] if pane else []
    for y, segments in enumerate(rows[:h - 1]):
        _put(scr, y, segments, w, attrs)
    shown = prompt[-(w - 1):]
    _put(scr, h - 1, [(shown, "")], w, attrs)
    scr.move(h - 1, min(len(shown), w - 1))
    scr.refresh()


def live(bench, log, names):
    """The curses console: status refreshed five times a second, serial output, a command line."""

    def ui(scr):
        attrs = {"title": curses.A_BOLD, "on": curses.A_BOLD, "bad": curses.A_BOLD | curses.A_REVERSE,
                 "sim": curses.A_BOLD}
        if curses.has_colors():
            curses.use_default_colors()
            for n, (style, colour) in enumerate((("on", curses.COLOR_GREEN), ("bad", curses.COLOR_RED),
                                                 ("sim", curses.COLOR_CYAN)), 1):
                curses.init_pair(n, colour, -1)
                attrs[style] = curses.color_pair(n) | curses.A_BOLD
        scr.timeout(200)
        line, history, back = "", [], 0
        while True:
            _draw(scr, status_lines(snapshot(bench, names)), log.view(), "sim> " + line, attrs)
            try:
                ch = scr.get_wch()
            except curses.error:  # no key within the refresh period
                continue
            if ch in ("\n", "\r", curses.KEY_ENTER):
                if line.strip().lower() == "quit":
                    return
                if line.strip():
                    history.append(line)
                message = run(bench, line)
                if message:
                    log.note("sim> %s\n%s" % (line, message))
                line, back = "", 0
            elif ch in (curses.KEY_BACKSPACE, "\x7f", "\b"):
                line = line[:-1]
            elif ch == "\x15":  # Ctrl-U
                line = ""
            elif ch in (curses.KEY_UP, curses.KEY_DOWN) and history:
                back = min(back + 1, len(history)) if ch == curses.KEY_UP else max(back - 1, 0)
                line = history[-back] if back else ""
            elif isinstance(ch, str) and ch.isprintable():
                line += ch

    locale.setlocale(locale.LC_ALL, "")
    curses.wrapper(ui)


def run(bench, line):
    try:
        return handle(bench, line)
    except Exception as e:  # a bench failure is shown, it does not end the session
        return "%s failed: %r" % (line.strip(), e)


def plain(bench, log, names):
    """Without a terminal: the status once, then commands from stdin, line by line, until quit or end of input."""
    log.note("\n".join(text(segments) for segments in status_lines(snapshot(bench, names))), "")
    for line in sys.stdin:
        if line.strip().lower() == "quit":
            return
        log.note(run(bench, line.rstrip("\r\n")))


def server_notes(url, log_path):
    from tools.server import demo

    badges = ["tap %s (%s: %s)" % (b.uid, b.owner, ("outlets %s" % ",".join(map(str, b.outlets)) if b.outlets
                                                      else "every outlet") + (", %d min" % (b.seconds // 60)
                                                                              if b.seconds else "")
                                     if b.allowed else "enrolled, no rule") for b in demo.BADGES]
    return ["central server %s with the demo site (its log: %s; admin API token %s)" % (url, log_path,
                                                                                          demo.ADMIN_TOKEN),
            "badges: " + "; ".join(badges) + "; tap 0A0B0C0D (not enrolled)"]


def main(args):
    """Run the console; with the demo server (unless --no-server) beside the board, on the world's clock."""
    from contextlib import ExitStack

    from tools.server import demo
    from tools.server.process import server_process

    board = Path(args.board)
    with ExitStack() as stack:
        url = clock_file = None
        if not getattr(args, "no_server", False):
            log_path = board.parent / (board.name + "-server.log")
            board.parent.mkdir(parents=True, exist_ok=True)
            try:
                out = stack.enter_context(open(log_path, "a"))
                clock_file = board.parent / (board.name + "-world.clock")
                clock_file.write_text("0")  # the world starts on the host's time
                port, _ = stack.enter_context(server_process(
                    "--demo", "--access-log", "--db", str(board.parent / (board.name + "-server.db")), "--admin-token",
                    demo.ADMIN_TOKEN, "--clock-file", str(clock_file), port=getattr(args, "server_port", 0) or None,
                    output=out))
            except (OSError, RuntimeError) as e:
                print("multiprise sim: the central server did not start (%s); see %s, or use --no-server"
                      % (str(e).strip().splitlines()[0] if str(e).strip() else e, log_path), file=sys.stderr)
                return 1
            url = "http://127.0.0.1:%d" % port
        return _run(args, board, url, [] if url is None else server_notes(url, log_path), clock_file)


def _run(args, board, server, more_notes, clock_file=None):
    lib = getattr(args, "lib", False)
    flash = "host" if getattr(args, "flash", "littlefs") == "folder" else "littlefs"
    bench = Bench(board, wiring=args.wiring, rtc=args.rtc, heap=args.heap or ("64k" if lib else None),
                  serial_port=args.port, romfs=None if lib else args.romfs, meter="ade7953", flash=flash)
    bench.clock_file = clock_file  # the demo server's clock follows the world's (world_moved)
    terminal = sys.stdout.isatty() and sys.stdin.isatty()
    log = Scrollback(echo=None if terminal else lambda line: print(line, flush=True))
    bench.serial.listeners.append(log.feed)
    try:
        from_flash(bench, board)
        names, notes = prepare(board, args.wiring, bench.ap, args.config, server)
        notes += more_notes
        plug_loads(bench, board)
        if bench.romfs:
            from tools.deploy import romfs_board

            romfs_board(bench)  # as deploy --romfs leaves a board: the firmware in the ROMFS partition
            notes.append("firmware in the ROMFS partition (%d bytes, %s); --lib puts it in /lib"
                         % (bench.romfs, bench.romfs_file))
        onto_flash(bench, board)
        if flash == "littlefs":
            notes.append("the board's flash: LittleFS in %s, kept between runs (%s); change its files with mpremote, "
                         "the board's page or --config; --flash folder runs on the folder instead"
                         % (bench.flash_file, "as the last run left it" if bench.flash_file.exists()
                                              else "made now from %s" % board))
        log.note("\n".join(notes + ["type ? for the virtual board's commands, help for the board's, quit to stop"]))
        bench.start()
    except (OSError, RuntimeError) as e:  # no mpy-cross or micropython, a firmware syntax error, a port in use
        bench.stop()
        print("multiprise sim: %s" % e, file=sys.stderr)
        return 1
    try:
        if terminal:
            live(bench, log, names)
        else:
            plain(bench, log, names)
    except KeyboardInterrupt:
        pass
    finally:
        bench.stop()
    return 0
