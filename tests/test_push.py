"""multiprise push over WebREPL: the board installs the new version at its next boot, keeps the previous one,
rolls back a version that never gets ready, and is not harmed by a transfer cut half-way."""
import json

import pytest
from conftest import read_json, ready
from test_deploy import port
from test_webrepl import PASSWORD, DroppingProxy, board

from tools import deploy
from tools.webrepl import WebReplError


def status(b):
    return b.command("status", expect=r"6 Outlet 6[^\n]*\n")


def manifest(b):
    """The board's deploy.json, checked against the files in place: it may claim nothing that is not there."""
    files = read_json(b.board_dir / "deploy.json")["files"]
    wrong = [f for f, h in files.items() if not (b.board_dir / f).is_file() or deploy.sha256(b.board_dir / f) != h]
    assert not wrong, "deploy.json claims files that are not in place: %s" % wrong
    return files


def deployed_board(vboard, romfs=None, flash="host"):
    """A board set up over USB (so with a manifest, and the copy of umqtt.simple the virtual board lacks); with
    romfs (the partition's size), the firmware in its ROMFS partition, as deploy --romfs leaves the reference board."""
    b = board(vboard, romfs=romfs, flash=flash)
    ready(b)
    m = b.serial.mark()
    deploy.deploy(port(b), wait=10, romfs=bool(romfs))
    ready(b, since=m)
    return b


@pytest.mark.parametrize("flash", ["host", "littlefs"])
def test_push_installs_the_new_version_at_the_next_boot(vboard, flash):
    b = deployed_board(vboard, flash=flash)
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    moves = len(b.relay_history)
    m = b.serial.mark()
    version = deploy.push("127.0.0.1", b.webrepl.port, PASSWORD)
    b.serial.expect(r"update: %s installed" % version.replace("+", r"\+"), 10, since=m)
    ready(b, since=m)
    assert b.relay_history[moves:] == []  # installed by a soft reset: outlet 2 never went off
    b.serial.expect(r"update: %s runs" % version.replace("+", r"\+"), 5, since=m)
    assert "multiprise %s (installed, was " % version in status(b)
    copied, removed = deploy.deploy(port(b), reset=False)  # the manifest says what push brought: nothing to copy
    assert copied == [] and removed == []
    if flash == "littlefs":  # the board's own LittleFS, as the host reads it once the power is cut
        b.power_cut()
        with b.flash_image() as im:
            assert json.loads(im.read("/update.json"))["state"] == "ok"
            assert im.exists("/lib.prev/firmware/app.mpy") and not im.exists("/stage")
            assert "lib/umqtt/simple.mpy" in json.loads(im.read("/deploy.json"))["files"]
        return
    assert json.loads((b.board_dir / "update.json").read_text())["state"] == "ok"
    assert (b.board_dir / "lib.prev" / "firmware" / "app.mpy").exists()  # the previous version, kept
    assert not (b.board_dir / "stage").exists()
    assert "lib/umqtt/simple.mpy" in manifest(b)  # the copy deploy installed went along with lib/


BAD = "raise RuntimeError('bad release')\n"  # a release whose console module fails at import: the app never starts


def test_a_version_that_never_gets_ready_is_rolled_back(vboard, release):
    b = deployed_board(vboard)
    before = manifest(b)
    release("firmware/console.py", BAD)
    good = status(b).split(":", 1)[0]
    m = b.serial.mark()
    bad = deploy.push("127.0.0.1", b.webrepl.port, PASSWORD)
    b.serial.expect(r"app: crashed .*bad release", 15, since=m)
    b.serial.expect(r"update: %s failed to start 2 times: rolled back" % bad.replace("+", r"\+"), 20, since=m)
    ready(b, since=m)
    assert "SAFE MODE" not in b.serial.text(m)
    s = status(b)
    assert "(rolled back from %s)" % bad in s and s.startswith(good.split()[0])
    assert json.loads((b.board_dir / "update.json").read_text())["state"] == "rolled back"
    after = manifest(b)  # describes the version back in place, not the bad one
    assert {f: h for f, h in after.items() if f.startswith("lib/")} == {
        f: h for f, h in before.items() if f.startswith("lib/")}


def test_a_push_cut_half_way_leaves_the_previous_version_running(vboard, capsys):
    b = board(vboard)
    ready(b)
    (b.board_dir / "deploy.json").write_text('{"files": {}}')  # found: the files go in push's first connection
    before = (b.board_dir / "lib" / "firmware" / "app.mpy").read_bytes()
    proxy = DroppingProxy(b.webrepl.port, cut=20000)  # the Wi-Fi drops in the middle of the files
    m = b.serial.mark()
    with pytest.raises(WebReplError):
        deploy.push("127.0.0.1", proxy.port, PASSWORD, retries=0)
    if "push: could not restart the app" not in capsys.readouterr().out:  # else the board still held the cut
        ready(b, since=m)  # session, and push said what to do; here it had seen the cut: the app runs again
    m = b.serial.mark()
    b.power_cycle()
    ready(b, since=m)
    assert "update:" not in b.serial.text(m)  # nothing half-sent is installed
    assert (b.board_dir / "lib" / "firmware" / "app.mpy").read_bytes() == before
