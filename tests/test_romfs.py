"""multiprise deploy --romfs against a virtual board with a ROMFS partition (as a FLASH_2M_ROMFS build has): the
real mpremote builds the image and writes it through vfs.rom_ioctl, the board mounts it at /rom at boot and runs
the firmware from there; a plain deploy moves it back to /lib."""
from conftest import read_json, ready
from test_deploy import empty_board, port, run_cli
from test_mpremote import mpremote
from test_webrepl import PASSWORD

from tools import deploy


def loaded_from(b, *modules):
    """Where the board loaded each module from (the app is stopped for the question)."""
    return b.exec("import sys\nfor n in %r:\n __import__(n)\n print(sys.modules[n].__file__)" % (modules,)).split()


def test_deploy_romfs_to_an_empty_board_runs_the_firmware_from_the_partition(vboard, tmp_path, capsys):
    b = empty_board(vboard, romfs="320k", flash="host")
    secret, config = tmp_path / "webrepl_cfg.py", tmp_path / "config.json"
    secret.write_text("PASS = %r\n" % PASSWORD)
    config.write_text("{}")
    copied, removed = deploy.deploy(port(b), str(config), [str(secret)], wait=10, romfs=True)
    out = capsys.readouterr().out
    assert "mpremote romfs -o " in out and " romfs deploy " in out  # says what it runs
    assert "app: ready" in out  # and shows the boot log
    assert {"rom/lib/firmware/app.mpy", "rom/lib/umqtt/simple.mpy", "boot.py", "main.py"} <= set(copied)
    assert not removed
    assert not (b.board_dir / "lib" / "firmware").exists()  # the filesystem keeps boot.py, main.py, the config
    manifest = read_json(b.board_dir / "deploy.json")
    assert sorted(manifest["files"]) == ["boot.py", "main.py", "updater.mpy"]
    assert "lib/firmware/app.mpy" in manifest["romfs"]["files"]
    ready(b)
    assert loaded_from(b, "firmware.app", "umqtt.simple") == ["/rom/lib/firmware/app.mpy", "/rom/lib/umqtt/simple.mpy"]

    m = b.serial.mark()
    copied, removed = deploy.deploy(port(b), wait=10, romfs=True)  # again: nothing to copy, nothing written
    assert copied == [] and removed == []
    out = capsys.readouterr().out
    assert "romfs deploy" not in out and "ROMFS image of " in out and "unchanged" in out
    ready(b, since=m)

    m = b.serial.mark()
    b.power_cycle()  # the partition is flash: the image is still there, and mounted at boot
    ready(b, since=m)
    out = mpremote(b, "romfs", "query")
    assert "ROMFS0 partition has size 327680 bytes" in out
    assert "ROMFS image size: " in out and "Not a valid ROMFS" not in out


def test_the_firmware_is_in_one_place_whichever_deploy_ran_last(vboard, capsys):
    """A board set up with the firmware in /lib moves to ROMFS, then back: each time the other copy goes, so
    what runs is what the last deploy put there."""
    b = vboard({}, romfs="320k", romfs_firmware=False)
    ready(b)
    m = b.serial.mark()
    copied, _ = deploy.deploy(port(b), wait=10, romfs=True)
    assert "rom/lib/firmware/app.mpy" in copied
    assert not (b.board_dir / "lib" / "firmware").exists() and (b.board_dir / "lib").is_dir()
    ready(b, since=m)
    assert loaded_from(b, "firmware.app") == ["/rom/lib/firmware/app.mpy"]

    capsys.readouterr()
    m = b.serial.mark()
    copied, removed = deploy.deploy(port(b), wait=10)  # plain: back to /lib, and the ROMFS is emptied
    assert "lib/firmware/app.mpy" in copied and not removed
    assert "emptied it" in capsys.readouterr().out
    assert "romfs" not in read_json(b.board_dir / "deploy.json")
    ready(b, since=m)
    assert loaded_from(b, "firmware.app") == ["/lib/firmware/app.mpy"]
    assert deploy.board_info(port(b))["rom"]["firmware"] is False

    m = b.serial.mark()
    copied, removed = deploy.deploy(port(b), wait=10, romfs=True)  # and to ROMFS again: /lib's copies go
    assert "rom/lib/firmware/app.mpy" in copied and "lib/firmware/app.mpy" in removed
    assert not (b.board_dir / "lib" / "firmware").exists()
    ready(b, since=m)


def test_deploy_romfs_to_a_board_without_a_romfs_partition_says_what_to_do(vboard):
    b = empty_board(vboard, flash="host")
    r = run_cli("deploy", "--romfs", "--port", port(b))
    assert r.returncode == 1
    assert "the board has no ROMFS partition (its firmware has no vfs.rom_ioctl)" in r.stderr
    assert "deploy without --romfs" in r.stderr and "FLASH_2M_ROMFS" in r.stderr
    assert list(b.board_dir.iterdir()) == []  # nothing was copied


BOOT_SPREAD = 512  # bytes


def test_the_partition_costs_the_firmware_no_heap(vboard):
    """The image lives in the device process with the shims, outside the firmware's budget: boot.py starts with
    the free heap a board gives it (Bench.boot_free) with a 320 KB partition mounted as without one."""
    frees = []
    for kw in ({"romfs": None}, {"romfs": "320k", "romfs_firmware": True}):  # at one cap
        b = vboard(None, start=False, heap=40960, **kw)
        (b.board_dir / "boot.py").write_text("import gc\ngc.collect()\nprint('boot.py starts with', gc.mem_free())\n")
        b.start()
        frees.append(int(b.serial.expect(r"boot.py starts with (\d+)", 10, since=0).group(1)))
    # Within the spread of the board's own start: the names boot.py interns may need a new chunk of name storage on
    # one board and not on the other (measured over 20 runs, two of them on a loaded machine: docs/heap.md).
    print("boot.py starts with %s bytes free; a board gives %d" % (frees, b.boot_free))
    assert all(abs(f - b.boot_free) <= BOOT_SPREAD for f in frees), (frees, b.boot_free)
