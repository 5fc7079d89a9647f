"""The serial console: lines typed on the UART while the app runs go to the command interface.
Bytes, not text: line noise must never stop it; only printable ASCII makes up a command.
Polled with select.poll: a stream the loop waited on would cost more heap than a look every 50 ms."""
import gc
import select
import sys
import time

from firmware.loop import sleep_ms
from micropython import const

_MAX_LINE = const(80)
_WAIT_MS = const(2000)  # a line whose command finds no room to load is tried again this long
hide = False  # the line being typed is the web password: not echoed, handed to the web server (webpass)
waiting = None  # that line, and when it was first tried: [line, time.ticks_ms()]
held = None  # when a line began to wait for a web answer being sent (time.ticks_ms())


async def run():
    global waiting
    src = getattr(sys.stdin, "buffer", sys.stdin)
    poll = select.poll()
    poll.register(src, select.POLLIN)
    line = ""
    link = sys.modules.get("firmware.link")
    while True:
        if waiting:  # another job (a web answer being sent, a telemetry) holds the heap for a moment: the line is
            await sleep_ms(100)  # tried again while the keys typed after it wait in the UART's buffer (not while
            if _held(link):  # a tap, a round or a web answer holds the heap)
                continue
            w, waiting = waiting, None
            try:
                _run(*w)
                late = waiting and time.ticks_diff(time.ticks_ms(), w[1]) > _WAIT_MS
            except MemoryError:
                late = True
            if late:
                waiting = None
                _free()
                print("error: not enough memory for that just now (%d bytes free): it did not run" % gc.mem_free())
            continue
        if not poll.poll(0) or _held(link):  # a tap, a round or a web answer holds the heap: a line waits for it
            await sleep_ms(50)
            continue
        try:
            line = _key(src, line)
        except MemoryError:  # no room for this line just now: say so, keep listening
            line = ""
            _free()
            print("\nerror: not enough memory for that just now (%d bytes free): it did not run" % gc.mem_free())


def _held(link):
    """A tap or a round (link.busy) holds the heap it loaded; a web answer being sent holds its parts and a password
    being derived its code (web.holding), for 1 s at most as far as a line is concerned (a client slow to take an
    answer holds none back)."""
    global held
    if link and link.busy:
        return True
    web = sys.modules.get("firmware.web")
    if web and web.holding():
        if held is None:
            held = time.ticks_ms()
        if time.ticks_diff(time.ticks_ms(), held) < 1000:
            return True
    held = None
    return False


def _free():
    import firmware

    firmware.drop("commands", "timecmd", "schedcmd", "timesync", "rules", "sched")
    gc.collect()


def _key(src, line):
    """One byte typed: the line so far, or "" once a line is run."""
    c = src.read(1)
    c = c[0] if isinstance(c, bytes) else ord(c)
    if c in (10, 13):
        if hide and line:  # (an empty line: the end of the line before it, CR LF)
            _password(line)
        elif line.strip():
            sys.stdout.write("\n")
            _run(line)
        return ""
    if c in (8, 127):
        if line and not hide:
            sys.stdout.write("\b \b")
        return line[:-1]
    if 32 <= c < 127 and len(line) < _MAX_LINE:
        if not hide:
            sys.stdout.write(chr(c))
        return line + chr(c)
    return line


def _password(line):
    """The hidden line after webpass: the new web password (never shown nor logged)."""
    global hide
    hide = False
    print("\n" + sys.modules["firmware.web"].password(line))


def _run(line, since=None):
    """Run a line; one whose command has no room to load (nothing ran) is left `waiting`, since when it was typed."""
    import firmware

    global hide, waiting
    w = line.split()
    if w == ["webpass"]:
        hide = "firmware.web" in sys.modules
        print("type the web password (8 to 64 characters, not shown), then Enter; a shorter one changes nothing" if hide
              else "error: no web server: add a web section to config.json (docs/web.md)")
        return
    name = "schedcmd" if w[0] in ("sched", "pulse") else "timecmd" if w[0] == "timer" or w[0] == "time" and w[1:] \
        else "commands"
    try:  # one module at a time on the heap, loaded for the line only
        try:
            mod = __import__("firmware." + name, None, None, ["run"])
        except MemoryError:  # nothing ran yet: once more, on a heap collected with the module gone
            _free()
            try:
                mod = __import__("firmware." + name, None, None, ["run"])
            except MemoryError:  # the line did not run: it waits
                waiting = [line, time.ticks_ms() if since is None else since]
                return
        try:
            reply = mod.run(line, "serial") if name == "commands" else mod.run(w[0], w[1:])
            for text in (reply,) if isinstance(reply, str) else reply:
                if text:
                    print(text)
        except MemoryError:  # it ran, or ran in part: never to be typed again blindly
            _free()
            print("error: not enough memory to finish that (it may have run: see status)")
    except MemoryError:
        raise
    except Exception as e:  # bad input never stops the console
        print("error: %r" % e)
    finally:
        reply = mod = None
        firmware.drop(name, "sched")
