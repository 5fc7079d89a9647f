"""multiprise push to the reference board, whose firmware runs from its ROMFS partition: the new image is staged in
the filesystem, written into the partition at the next boot (again after a power cut in the middle), the previous
image kept and written back when the new one never gets ready; a board without room for it is refused."""
import hashlib
import re
import time

import pytest
from conftest import ROOT, read_json, ready
from test_deploy import port
from test_push import BAD, deployed_board, status
from test_webrepl import PASSWORD

from tools import deploy
from tools.build import next_version

CHUNK = int(re.search(r"_CHUNK = const\((\d+)\)", (ROOT / "updater.py").read_text()).group(1))  # the updater's writes


def partition(b, n):
    """The SHA-256 of the first n bytes of the board's ROMFS partition (its flash, read from outside)."""
    return hashlib.sha256(b.romfs_file.read_bytes()[:n]).hexdigest()


def romfs(b):
    """The image deploy.json says is in the partition; checked: the partition holds it."""
    rom = read_json(b.board_dir / "deploy.json")["romfs"]
    assert partition(b, rom["bytes"]) == rom["sha256"], "deploy.json claims an image the partition does not hold"
    return rom


def cut_half_way(b, image_bytes):
    """Pull the plug half-way through the next write of an image of that size into the partition."""
    b.cut_at_rom_write = b.rom_writes + image_bytes // CHUNK // 2


def wait_cut(b):
    end = time.monotonic() + 60
    while b.powered:
        assert time.monotonic() < end, "the partition was never written"
        time.sleep(0.05)


def escaped(version):
    return version.replace("+", r"\+")


def test_push_writes_the_new_image_into_the_partition_and_the_app_runs_it(vboard, release):
    b = deployed_board(vboard, romfs="320k")
    old = romfs(b)
    before = read_json(b.board_dir / "deploy.json")["version"]  # the version deploy put there
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    moves = len(b.relay_history)
    release("firmware/__init__.py", next_version()[0])
    m = b.serial.mark()
    version = deploy.push("127.0.0.1", b.webrepl.port, PASSWORD)
    written = b.serial.expect(r"update: ROMFS image of (\d+) bytes written in \d+ ms", 20, since=m)
    b.serial.expect(r"update: %s installed \(was %s\)" % (escaped(version), escaped(before)), 10, since=m)
    b.serial.expect(r"multiprise %s, reset cause" % next_version()[1], 10, since=m)  # its modules, from /rom
    ready(b, since=m)
    b.serial.expect(r"update: %s runs" % escaped(version), 5, since=m)
    assert b.relay_history[moves:] == []  # installed by a soft reset: outlet 2 never went off
    new = romfs(b)
    assert new["sha256"] != old["sha256"] and new["bytes"] == int(written.group(1))
    assert hashlib.sha256((b.board_dir / "rom.prev").read_bytes()).hexdigest() == old["sha256"]  # kept
    assert not (b.board_dir / "stage").exists()
    assert read_json(b.board_dir / "update.json")["state"] == "ok"
    assert "multiprise %s (installed, was %s):" % (version, before) in status(b)
    copied, removed = deploy.deploy(port(b), reset=False, romfs=True)  # the manifest says what push brought
    assert copied == [] and removed == []


def test_a_power_cut_half_way_through_writing_the_partition_is_finished_at_the_next_boot(vboard, release):
    b = deployed_board(vboard, romfs="320k")
    old = romfs(b)
    release("firmware/__init__.py", next_version()[0])
    cut_half_way(b, old["bytes"])
    version = deploy.push("127.0.0.1", b.webrepl.port, PASSWORD)
    wait_cut(b)
    staged = read_json(b.board_dir / "stage" / "rom.json")
    assert partition(b, staged["bytes"]) != staged["sha256"] and partition(b, old["bytes"]) != old["sha256"]
    assert read_json(b.board_dir / "update.json")["state"] == "writing"
    m = b.serial.mark()
    b.power_on()
    b.serial.expect(r"update: ROMFS image of %d bytes written" % staged["bytes"], 20, since=m)
    b.serial.expect(r"update: %s installed" % escaped(version), 10, since=m)
    b.serial.expect(r"multiprise %s, reset cause" % next_version()[1], 10, since=m)
    ready(b, since=m)
    assert romfs(b)["sha256"] == staged["sha256"]
    # the copy kept for a rollback is the image from before the push, not the half-written partition
    assert hashlib.sha256((b.board_dir / "rom.prev").read_bytes()).hexdigest() == old["sha256"]


@pytest.mark.parametrize("cut", [False, True], ids=["", "with-a-power-cut-while-writing-it-back"])
def test_a_release_that_never_gets_ready_is_rolled_back_to_the_previous_image(vboard, release, cut):
    b = deployed_board(vboard, romfs="320k")
    old = romfs(b)
    good = read_json(b.board_dir / "deploy.json")["version"]
    release("firmware/console.py", BAD)
    m = b.serial.mark()
    bad = deploy.push("127.0.0.1", b.webrepl.port, PASSWORD)
    b.serial.expect(r"update: %s installed" % escaped(bad), 20, since=m)
    if cut:
        cut_half_way(b, old["bytes"])
    b.serial.expect(r"app: crashed .*bad release", 15, since=m)
    if cut:
        wait_cut(b)
        assert partition(b, old["bytes"]) != old["sha256"]
        assert read_json(b.board_dir / "update.json")["state"] == "rolling back"
        b.power_on()
    b.serial.expect(r"update: ROMFS image of %d bytes written" % old["bytes"], 30, since=m)
    b.serial.expect(r"update: %s failed to start 2 times: rolled back to %s" % (escaped(bad), escaped(good)), 10,
                    since=m)
    ready(b, since=m)
    assert "SAFE MODE" not in b.serial.text(m)
    assert romfs(b) == old  # the manifest and the partition: the image from before the push
    assert "multiprise %s (rolled back from %s):" % (good, bad) in status(b)
    assert read_json(b.board_dir / "update.json")["state"] == "rolled back"


def test_a_push_to_a_board_whose_flash_is_nearly_full_is_refused_and_the_app_runs_on(vboard, release):
    b = deployed_board(vboard, romfs="320k")
    old = romfs(b)
    b.command("on 3")
    b.wait_relays([False, False, True, False, False, False])
    moves = len(b.relay_history)
    # a file takes the flash but for about one image: room for the new image, none for the copy of the running one
    free = int(b.exec("import os\ns=os.statvfs('/')\nprint(s[0]*s[3])"))
    b.exec("f=open('recordings.bin','wb')\nz=bytearray(512)\nfor i in range(%d):\n f.write(z)\nf.close()"
           % ((free - old["bytes"]) // 512))  # 512 bytes at a time: the REPL's heap is in pieces
    b.friendly()
    m = b.serial.mark()
    b.serial.write(b"\x04")  # a soft reset: the app runs again, as the push finds it
    ready(b, since=m)
    release("firmware/__init__.py", next_version()[0])
    m = b.serial.mark()
    with pytest.raises(deploy.Failed) as refused:
        deploy.push("127.0.0.1", b.webrepl.port, PASSWORD)
    said = str(refused.value)
    print(said)
    have, need = (int(x) for x in re.search(r"flash has (\d+) KB free.*this push needs (\d+) KB", said).groups())
    assert have < need and "a copy of the running one kept for a rollback" in said
    ready(b, since=m)  # the push stopped the app to look: it runs again
    assert b.relay_history[moves:] == [] and b.relays() == [False, False, True, False, False, False]
    assert "update:" not in b.serial.text(m)
    assert not (b.board_dir / "stage").exists() and not (b.board_dir / "update.json").exists()
    assert romfs(b) == old
