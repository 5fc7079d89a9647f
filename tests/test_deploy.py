"""multiprise deploy, logs and flash, against the virtual board's serial port (the real mpremote underneath). The
boards' flash is a real LittleFS (flash="littlefs"): what deploy leaves there is read through mpremote, or by the
host once the power is cut."""
import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, ready
from test_mpremote import mpremote

from tools import deploy, frozen
from tools.build import IMAGE, compile_file


def empty_board(vboard, **kw):
    """A board with stock MicroPython just flashed: nothing on its filesystem (nor in its ROMFS partition, if any);
    its flash LittleFS unless flash="host" (a test that reads the board folder while the board runs)."""
    kw.setdefault("romfs", None)
    kw.setdefault("flash", "littlefs")
    b = vboard(None, start=False, romfs_firmware=False, **kw)
    for p in list(b.board_dir.iterdir()):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    b.start()
    b.serial.expect(r">>> $", 10, since=0)
    return b


def port(b):
    return "socket://127.0.0.1:%d" % b.serial.port


def test_deploy_copies_only_what_changed(vboard, tmp_path, capsys):
    b = empty_board(vboard)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"name": "bench-strip"}))
    copied, removed = deploy.deploy(port(b), config=str(cfg), wait=10)
    assert "lib/firmware/app.mpy" in copied and "boot.py" in copied and "main.py" in copied and not removed
    assert mpremote(b, "fs", "cat", ":config.json") == cfg.read_text()
    out = capsys.readouterr().out
    assert "$ mpremote connect socket://127.0.0.1:%d" % b.serial.port in out and " fs cp " in out  # what it runs
    assert "app: ready" in out  # and shows the boot log
    steps = out.split("restart: ")[0].splitlines()
    assert len(steps) <= 8 and "import os" not in out and "<script>" in out, steps  # a line a step, by default
    ready(b)

    deploy.VERBOSE = True  # -v: the scripts too
    try:
        copied, removed = deploy.deploy(port(b), wait=10)  # again: nothing to copy
    finally:
        deploy.VERBOSE = False
    assert copied == [] and removed == []
    out = capsys.readouterr().out
    assert "deploy: 0 file(s) copied, 0 removed" in out and "import os" in out

    src = ROOT / "firmware" / "log.py"  # one module changes (as after an edit): only it is copied
    changed = tmp_path / "log.py"
    changed.write_text(src.read_text().replace("_KEEP = const(10)", "_KEEP = const(9)"))
    (IMAGE / "lib" / "firmware" / "log.mpy").unlink()  # compile_file keeps a target newer than its source
    compile_file(changed, IMAGE / "lib" / "firmware" / "log.mpy", "firmware/log.py")
    try:
        edited = tmp_path / "edited.json"
        edited.write_text('{"name": "edited on the board"}')
        mpremote(b, "fs", "cp", str(edited), ":config.json")
        copied, _ = deploy.deploy(port(b), wait=10, reset=False)
        assert copied == ["lib/firmware/log.mpy"]
        assert "edited on the board" in mpremote(b, "fs", "cat", ":config.json")  # config only when asked
    finally:
        (IMAGE / "lib" / "firmware" / "log.mpy").unlink()  # the next build compiles the real one again


def test_deploy_refuses_a_board_that_cannot_load_our_bytecode(vboard, monkeypatch):
    b = empty_board(vboard)
    monkeypatch.setattr(deploy, "MPY_VERSION", (6, 1))  # as if our compiler were older than the board
    with pytest.raises(deploy.Failed, match=r"the board loads \.mpy v6\.3, our mpy-cross .* emits v6\.1"):
        deploy.deploy(port(b))


def test_deploy_installs_the_frozen_modules_the_board_lacks(vboard, monkeypatch, capsys):
    """The virtual board's firmware, like a 1M ESP8266 build, has no umqtt.simple: deploy installs the project's
    pinned copy, compiled, and warns about a module it has no copy of."""
    b = empty_board(vboard)
    monkeypatch.setattr(frozen, "SOURCES", {})  # as if the project had no copy of umqtt.simple
    copied, _ = deploy.deploy(port(b), reset=False)
    out = capsys.readouterr().out
    assert "warning: the board's firmware lacks umqtt.simple" in out and "MQTT will not work" in out
    assert "lib/umqtt/simple.mpy" not in copied and "lib/firmware/app.mpy" in copied
    monkeypatch.undo()
    copied, removed = deploy.deploy(port(b), reset=False)
    assert copied == ["lib/umqtt/simple.mpy"] and removed == []
    assert "lacks umqtt.simple: it gets micropython-umqtt.simple 1.3.4, compiled" in capsys.readouterr().out
    assert b.exec("import umqtt.simple\nprint(umqtt.simple.MQTTClient.__name__)").strip() == "MQTTClient"
    copied, removed = deploy.deploy(port(b), reset=False)  # again: nothing to copy, the copy is kept
    assert copied == [] and removed == []


def test_the_copies_of_frozen_modules_are_pinned_in_constraints():
    pins = (ROOT / "constraints.txt").read_text().split()
    for dist, version, *_ in frozen.SOURCES.values():
        assert "%s==%s" % (dist, version) in pins


def test_logs_are_read_without_stopping_the_app(vboard, capsys):
    b = vboard({}, flash="littlefs")
    ready(b)
    text = deploy.logs(port(b))
    assert "app: ready in" in text and "multiprise 0.1.0" in text
    b.command("on 4")  # the app still runs
    b.wait_relays([False, False, False, True, False, False])


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_flash_runs_esptool_erase_then_write(tmp_path):
    image = tmp_path / "ESP8266_GENERIC-v1.28.0.bin"
    image.write_bytes(b"\xe9" + bytes(1000))
    r = run_cli("flash", str(image), "--port", "/dev/ttyUSB7", "--flash-mode", "dio", "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = [x[2:].split() for x in r.stdout.splitlines() if x.startswith("$ ")]
    assert [x[1:] for x in lines] == [
        ["--chip", "esp8266", "--port", "/dev/ttyUSB7", "erase-flash"],
        ["--chip", "esp8266", "--port", "/dev/ttyUSB7", "--baud", "460800", "write-flash", "--flash-size", "detect",
         "--flash-mode", "dio", "0", str(image)]]
    assert lines[0][0].endswith("esptool")


def test_flash_says_clearly_what_is_wrong(tmp_path):
    r = run_cli("flash", str(tmp_path / "missing.bin"), "--port", "/dev/ttyUSB0")
    assert r.returncode == 1 and "missing.bin: no such firmware image" in r.stderr
    junk = tmp_path / "notes.txt"
    junk.write_text("not firmware")
    r = run_cli("flash", str(junk), "--port", "/dev/ttyUSB0")
    assert r.returncode == 1 and "not an ESP8266 firmware image" in r.stderr
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    r = run_cli("flash", str(image), "--port", str(tmp_path / "no-such-tty"))
    assert r.returncode == 1 and "esptool failed" in r.stderr


def cli(*args):
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_a_configuration_is_checked_here_with_the_boards_own_messages(tmp_path):
    r = cli("check", "config.example.json")  # the example in the repository is valid
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "config.example.json: valid", r
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stagger_ms": "fast", "time": {"tz": "Mars/Olympus"}}))
    r = cli("check", str(bad))
    assert r.returncode == 1, r
    assert 'config: error: stagger_ms = "fast": expected an integer' in r.stdout
    last = r.stdout.splitlines()[-1]
    assert last.endswith(": 1 error(s): the board would keep its outlets off and not start the app"), last
    bad.write_text(json.dumps({"time": {"tz": "Mars/Olympus"}}))  # valid JSON and keys: the time zone is read too
    r = cli("check", str(bad))
    assert r.returncode == 1 and "config: error: time.tz: " in r.stdout, r


def test_deploy_refuses_a_configuration_the_board_would_refuse_and_copies_nothing(vboard, tmp_path):
    b = vboard({"name": "desk-strip"}, flash="littlefs")
    ready(b)
    before = (b.board_dir / "config.json").read_bytes()  # what the board's flash was made with
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stagger_ms": "fast"}))
    r = cli("deploy", "--port", port(b), "--config", str(bad))
    assert r.returncode == 1, r
    last = r.stderr.strip().splitlines()[-3:]
    assert 'config: error: stagger_ms = "fast": expected an integer' in last[0] and last[-1] == "nothing copied", r
    assert "desk-strip" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")  # the app ran on, untouched
    b.power_cut()
    assert b.flash_read("/config.json") == before
