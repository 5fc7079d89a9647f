"""multiprise flash, end to end: the real esptool (as flash_commands() runs it) against an emulated ESP8266 serial
bootloader on a pseudo-terminal (tools/vboard/romloader.py): ROM loader, esptool's flasher stub, a 4 MB NOR flash."""
import os
import random
import re
import signal
import subprocess
import sys

import pytest
from conftest import ROOT

from tools.deploy import tool
from tools.vboard.romloader import RomLoader

pytestmark = [pytest.mark.timeout(60), pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")]

SIZE = 300 * 1024


def run(cmd, timeout=40):
    """Run cmd from the repository with its output captured; on overrun kill it and what it started (esptool)."""
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        pytest.fail("%s still running after %ds:\n%s\n%s" % (cmd[:4], timeout, out[-3000:], err[-3000:]))
    return p.returncode, out, err


def multiprise(*args):
    return run([sys.executable, "-m", "tools.cli", *args])


@pytest.fixture
def chip():
    """Factory: chip(**RomLoader kwargs) -> a started RomLoader, closed after the test."""
    made = []

    def make(**kw):
        made.append(RomLoader(**kw))
        return made[-1]

    yield make
    for c in made:
        c.close()


def image(tmp_path, compressible=False):
    """A 300 KB firmware-like image: 0xE9 first, then random bytes (incompressible), or random letters and zeros
    that deflate to about half (as a real MicroPython image does, so esptool sends it compressed)."""
    rnd = random.Random(8266)
    body = bytes(rnd.choices(b"esp8266 micropython\0\0\0\0", k=SIZE - 1)) if compressible else rnd.randbytes(SIZE - 1)
    path = tmp_path / "firmware.bin"
    path.write_bytes(b"\xe9" + body)
    return path


def old_flash():
    """What the board held before: an old firmware and a filesystem, over the whole 4 MB."""
    return random.Random(1).randbytes(4 << 20)


@pytest.mark.parametrize("compressible", [False, True], ids=["random", "compressible"])
def test_flash_erases_the_chip_then_writes_the_image(chip, tmp_path, compressible):
    board = chip(contents=old_flash())
    img = image(tmp_path, compressible)
    rc, out, err = multiprise("flash", str(img), "--port", board.port, "--baud", "921600", "--flash-mode", "dio")
    assert rc == 0, out + err
    assert board.errors == []

    flash = board.flash
    data = img.read_bytes()
    assert flash[:SIZE] == data  # the image at offset 0 (random data is no valid image: esptool left its header be)
    assert flash[SIZE:] == b"\xff" * (len(flash) - SIZE)  # the rest erased: erase-flash ran first

    commands = re.findall(r"^\$ (.*)$", out, re.M)  # what it ran, as printed
    assert [c.split()[-1] for c in commands] == ["erase-flash", str(img)]
    assert "--chip esp8266 --port %s --baud 921600 write-flash --flash-size detect --flash-mode dio 0 " % board.port \
        in commands[1]
    assert "Erasing flash memory" in out and "Flash memory erased successfully" in out
    assert re.search(r"Writing at 0x0004b000 .*100\.0%", out)  # esptool's progress, to the end
    assert "Wrote %d bytes" % SIZE in out and "Hash of data verified." in out
    assert "Auto-detected flash size: 4MB" in out and "Chip type:          ESP8266EX" in out

    seen = board.commands("stub")
    assert "ERASE_FLASH" in seen and "SPI_FLASH_MD5" in seen
    assert ("FLASH_DEFL_DATA" in seen) == compressible and ("FLASH_DATA" in seen) != compressible
    assert board.commands("rom").count("MEM_END") == 2  # each esptool found the ROM (reset) and uploaded its stub
    assert board.baud == 921600  # the stub was asked to change baud rate (the pty does not care)


def test_flash_refuses_the_wrong_chip(chip, tmp_path):
    before = old_flash()
    board = chip(chip="esp32", contents=before)
    rc, out, err = multiprise("flash", str(image(tmp_path)), "--port", board.port)
    assert rc != 0
    assert "This chip is ESP32, not ESP8266. Wrong chip argument?" in err  # esptool's own words
    assert "multiprise flash: esptool failed: check the port, that the chip is an ESP8266" in err
    assert len(re.findall(r"^\$ ", out, re.M)) == 1  # stopped after the failed erase: no write attempted
    assert board.flash == before and board.errors == []


def test_rom_loader_alone_writes_but_cannot_erase_the_chip(chip, tmp_path):
    """--no-stub: FLASH_BEGIN/DATA straight to the ROM (its erase-size bug, esptool's workaround), 1 KB blocks,
    no MD5 check; erase-flash needs the stub, which is why flash_commands() keeps it."""
    before = old_flash()
    board = chip(contents=before)
    data = image(tmp_path).read_bytes()[:40 * 1024]
    (tmp_path / "part.bin").write_bytes(data)
    esptool = [tool("esptool"), "--chip", "esp8266", "--port", board.port, "--no-stub"]
    rc, out, err = run(esptool + ["write-flash", "0xe000", str(tmp_path / "part.bin")])  # across a 64 KB block
    assert rc == 0, out + err
    flash = board.flash
    end = 0xE000 + len(data)  # 0x18000: sector-aligned, so the erase stops exactly there
    assert flash[0xE000:end] == data  # erased first, all of it (an erase too short would leave old bits cleared)
    assert flash[:0xE000] == before[:0xE000] and flash[end:] == before[end:]  # and nothing else erased
    assert set(board.commands()) <= {"SYNC", "GET_SECURITY_INFO", "READ_REG", "WRITE_REG", "FLASH_BEGIN",
                                     "FLASH_DATA"}  # the SPI registers: esptool reads the flash id

    rc, out, err = run(esptool + ["erase-flash"])
    assert rc != 0 and "ESP8266 ROM does not support function erase_flash" in err
    assert board.errors == []
