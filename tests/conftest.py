"""Fixtures that start virtual boards (the real firmware on the real MicroPython) and always clean them up."""
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Each pytest-xdist worker builds into a folder of its own (image, shims, ROMFS images): workers never write a file
# another one is reading. The tools it runs as commands inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["MULTIPRISE_BUILD"] = str(ROOT / "build" / "test" / os.environ["PYTEST_XDIST_WORKER"])

from tools.build import BUILD, make_board  # noqa: E402
from tools.build import release as release_module  # noqa: E402
from tools.deploy import romfs_board  # noqa: E402
from tools.vboard.bench import Bench  # noqa: E402

_durations = {}


def pytest_sessionstart(session):
    session.config._started = time.monotonic()


def pytest_runtest_logreport(report):
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report shows what each of its boards said last (the vboard fixture's benches)."""
    rep = yield
    if rep.failed:
        for i, b in enumerate(getattr(item, "benches", ())):
            rep.sections.append(("board %d's serial output, its end (boots %d, watchdog resets %d, hangs %d)" % (
                i, b.boots, b.wdt_resets, b.hangs), b.serial.text()[-4000:]))
    return rep


def pytest_sessionfinish(session):
    """The run's own figures for make bench (build/suite.json): its wall clock and its 15 slowest tests. Only a
    whole run (the controller, not an xdist worker, and not a selection of tests) writes them."""
    if hasattr(session.config, "workerinput") or session.config.args != [] and session.config.args != ["tests"]:
        return
    slowest = sorted(_durations.items(), key=lambda kv: -kv[1])[:15]
    out = BUILD / "suite.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"total_s": round(time.monotonic() - session.config._started, 1),
                               "tests": session.testscollected,
                               "slowest": [[k, round(v, 1)] for k, v in slowest]}, indent=1) + "\n")

LAB = {"ssid": "multiprise-lab", "password": "lab-password"}
# The firmware's bytecode in /lib takes heap that a ROMFS build leaves free: a board with the firmware in /lib gets
# a larger heap, as a board with more memory has (docs/heap.md); the reference board (ROMFS) gets an ESP8266's.
LIB_HEAP = "64k"


@pytest.fixture
def vboard(tmp_path, request):
    """Factory: vboard(config=dict|str|None, wiring="seed", rtc="ds3231", heap=None, start=True, romfs="320k",
    romfs_firmware=True) -> Bench. heap None: an ESP8266's (tools/vboard/heapmodel.py), or LIB_HEAP when the
    firmware is in /lib.

    The board folder is tmp_path/flash-N; config None leaves no config.json on the board. romfs gives the board a
    ROMFS partition of that size (320k on a FLASH_2M_ROMFS build), None a build without one; with romfs_firmware the
    compiled firmware is in it and not in /lib, as deploy --romfs leaves a board (the reference board: docs/heap.md,
    "Heap budget"); without, the firmware is in /lib, as a plain deploy leaves it. Other keywords go to Bench:
    flash="littlefs" puts what the folder holds at start() on a LittleFS image, the board's flash from then on
    (Bench.flash_read and its kin)."""
    benches = request.node.benches = []

    def make(config=None, wiring="seed", rtc="ds3231", heap=None, start=True, romfs="320k", romfs_firmware=True,
             **kw):
        if heap is None and not (romfs and romfs_firmware):
            heap = LIB_HEAP
        d = tmp_path / ("flash-%d" % len(benches))
        d.mkdir()
        make_board(d, config)
        b = Bench(d, wiring=wiring, rtc=rtc, heap=heap, romfs=romfs, **kw)
        benches.append(b)
        if romfs and romfs_firmware:
            romfs_board(b)
        if start:
            b.start()
        return b

    yield make
    for b in benches:
        b.stop()


@pytest.fixture
def release():
    """Returns tools.build.release (release(module, source): the built image becomes another release); the real
    modules come back after the test."""
    changed = []
    yield lambda module, source: changed.append(release_module(module, source))
    for target in changed:
        target.unlink(missing_ok=True)


@pytest.fixture
def site(tmp_path):
    """The central server with the demo site, on a free port; yields its port."""
    from serverkit import server_process

    from tools.server import demo

    with server_process("--demo", "--db", str(tmp_path / "server.db"), "--site-secret", demo.SITE_SECRET) as (port, _):
        yield port


WEBREPL_PASSWORD = "multi42"


def webrepl_board(vboard, config=None, romfs=None, flash="host"):
    """A started board whose webrepl_cfg.py holds WEBREPL_PASSWORD, on the lab's network (config None; a board is
    reached over WebREPL on one: without, it would open its setup access point); romfs None: the firmware in /lib
    (pushed files replace it), else in a ROMFS partition of that size. flash "littlefs": its flash a real LittleFS,
    where the board itself carries out WebREPL's file transfers (docs/virtual-board.md); the folder by default."""
    b = vboard(config if config is not None else {"wifi": LAB}, start=False, romfs=romfs, flash=flash)
    (b.board_dir / "webrepl_cfg.py").write_text("PASS = %r\n" % WEBREPL_PASSWORD)
    b.start()
    return b


def ready(bench, timeout=10.0, since=0):
    """Wait for the app's ready line; return the match (group 1: free heap in bytes)."""
    return bench.serial.expect(r"app: ready in \d+ ms, (\d+) bytes free", timeout, since=since)


def days_not_today(n=1):
    """n (1 to 3) days of the week, comma-separated, none of which is today in any time zone, for a rule that does not
    switch an outlet while a test runs on a board whose clock is the host's (NTP): they start 3 days from today in
    UTC, and a zone is less than a day away from UTC; in the week's order, as a rule shows them."""
    assert 1 <= n <= 3
    today = time.gmtime().tm_wday
    return ",".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in sorted((today + 3 + k) % 7
                                                                                        for k in range(n)))


def read_json(path):
    return json.loads(Path(path).read_text())


@pytest.fixture
def broker():
    """A real Mosquitto on a free loopback port with a password file (tools/broker.py); stopped after the test."""
    from tools.broker import Broker

    b = Broker().start()
    try:
        yield b
    finally:
        b.close()
