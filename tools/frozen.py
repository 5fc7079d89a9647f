"""The modules the stock ESP8266 firmware freezes, and copies of them for a board whose firmware lacks one.

A copy is the module's published source, fetched once (pinned by version and SHA-256) from the package index
pip is configured with, compiled with mpy-cross like the firmware, and installed by deploy under /lib (or in the
ROMFS image). micropython-lib's packages on the index are source archives without setup.py, which pip refuses to
download: the archive is read from the index's PEP 503 page instead, and checked against its pinned hash.
"""
import hashlib
import os
import re
import ssl
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

from tools.build import ROOT, compile_file

# What each frozen module gives the application; deploy names it when the board lacks the module.
FEATURES = {
    "requests": "HTTP requests",
    "umqtt.simple": "MQTT",
    "ntptime": "setting the clock over NTP",
}
# Copies deploy can install: module -> (distribution, version, sha256 of its archive, the module's file in it).
# The same pin is in constraints.txt.
SOURCES = {
    "umqtt.simple": ("micropython-umqtt.simple", "1.3.4",
                     "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f", "umqtt/simple.py"),
}
CACHE = ROOT / "build" / "frozen"  # shared by every build folder (MULTIPRISE_BUILD): fetched once


class Unavailable(Exception):
    """The module's source could not be had; the message says why."""


def board_path(module):
    """Where the compiled copy goes on the board: lib/umqtt/simple.mpy."""
    return "lib/" + module.replace(".", "/") + ".mpy"


def compiled(module):
    """The module's copy compiled with mpy-cross (fetched first if need be); returns the local .mpy."""
    dist, version, digest, member = SOURCES[module]
    rel = board_path(module)
    src = CACHE / "src" / ("%s-%s" % (dist, version)) / member
    if not src.exists():
        with tarfile.open(fileobj=_archive(dist, version, digest)) as tar:
            f = tar.extractfile("%s-%s/%s" % (dist, version, member))
            if f is None:
                raise Unavailable("%s %s has no %s" % (dist, version, member))
            src.parent.mkdir(parents=True, exist_ok=True)
            tmp = src.with_name("%s.%d" % (src.name, os.getpid()))
            tmp.write_bytes(f.read())
            os.replace(tmp, src)
    dst = CACHE / rel
    compile_file(src, dst, "/" + rel)  # the source name is the path the board imports it from, as for the firmware
    return dst


def _archive(dist, version, digest):
    """The distribution's source archive (cached under build/frozen), as an open file."""
    name = "%s-%s.tar.gz" % (dist, version)
    cached = CACHE / name
    if cached.exists() and hashlib.sha256(cached.read_bytes()).hexdigest() == digest:
        return cached.open("rb")
    errors = []
    conf = _pip_config()
    ctx = ssl.create_default_context(cafile=conf.get("cert"))
    project = re.sub(r"[-_.]+", "-", dist).lower()  # PEP 503 normalised name
    for index in conf["indexes"]:
        page = index.rstrip("/") + "/" + project + "/"
        try:
            data = _fetch_from(page, name, ctx)
        except (OSError, ValueError) as e:
            errors.append("%s: %s" % (page, e))
            continue
        if data is None:
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            errors.append("%s: %s does not have the pinned SHA-256" % (page, name))
            continue
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name("%s.%d" % (name, os.getpid()))
        tmp.write_bytes(data)
        os.replace(tmp, cached)  # whole or not at all: test workers may fetch it at once
        return cached.open("rb")
    raise Unavailable("%s not found on pip's package indexes%s" % (name, (": " + "; ".join(errors)) if errors else ""))


def _fetch_from(page, name, ctx):
    """The file `name` listed on a PEP 503 project page (a local index: the file in its folder), or None."""
    if page.startswith("file:"):
        f = Path(urllib.request.url2pathname(urllib.parse.urlparse(page).path)) / name
        return f.read_bytes() if f.is_file() else None
    with urllib.request.urlopen(page, context=ctx, timeout=60) as r:
        html = r.read().decode("utf-8", "replace")
    for href in re.findall(r'href="([^"]+)"', html):
        url = urllib.parse.urljoin(page, href.replace("&amp;", "&"))
        if urllib.parse.urlparse(url).path.rsplit("/", 1)[-1] == name:
            with urllib.request.urlopen(url.split("#")[0], context=ctx, timeout=60) as r:
                return r.read()
    return None


def _pip_config():
    """pip's indexes (the main one first) and CA file, from its configuration and environment."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():  # "global.index-url='...'", ":env:.extra-index-url='a b'"
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if scope == ":env:" or name not in found:
            found[name] = value.strip().strip("'\"")
    main = found.get("index-url")
    if not main:
        from pip._internal.models.index import PyPI  # pip's own default index

        main = PyPI.simple_url
    return {"indexes": [main] + found.get("extra-index-url", "").split(), "cert": found.get("cert")}
