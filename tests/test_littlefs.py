"""The virtual board on a real LittleFS flash (Bench(..., flash="littlefs"): vfs.VfsLfs2 on an image of a 4 MB
NodeMCU's partition): the firmware boots and keeps its state there, the host reads the board's files and the board the
host's, statvfs, rename and ENOSPC are LittleFS's own, and a power cut in a rewrite leaves a whole file."""
import json
import re
import time

import pytest
from conftest import ready

from tools.vboard.bench import FS_BLOCK, FS_BLOCKS


def lfs_board(vboard, config=None, **kw):
    """A board whose flash is a LittleFS image (config None: a valid config.json of its own, the app runs)."""
    return vboard({"stagger_ms": 0} if config is None else config, flash="littlefs", **kw)


def running(vboard):
    """A board on LittleFS whose app is ready."""
    b = lfs_board(vboard)
    ready(b)
    return b


def state_writes(b):
    return int(re.search(r"(\d+) state writes", b.command("status", r"state writes[^\n]*\n")).group(1))


def test_the_firmware_boots_on_littlefs_and_the_host_reads_its_state(vboard):
    outlets = [{"power_on": "last"} for _ in range(6)]
    b = lfs_board(vboard, {"outlets": outlets, "save_interval_s": 1, "stagger_ms": 0})
    ready(b)
    written = state_writes(b)
    assert "2 Outlet 2: off (serial, switching on)" in b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    deadline = time.monotonic() + 10
    while state_writes(b) == written:  # the coalesced write lands on LittleFS
        assert time.monotonic() < deadline, "state.json never written"
        time.sleep(0.2)
    m = b.serial.mark()
    b.power_cut()
    assert json.loads(b.flash_read("/state.json"))["want"][1] == 1
    assert "state.json" in b.flash_listdir("/") and "main.py" in b.flash_listdir("/")
    assert not (b.board_dir / "state.json").exists()  # the folder only gave the image its first files
    b.power_on()
    ready(b, since=m)
    b.wait_relays([False, True, False, False, False, False])  # the board read its state back from LittleFS


def test_the_host_and_the_board_read_each_others_files(vboard):
    b = lfs_board(vboard, start=False)
    b.flash_write("/data/host.txt", b"from the host\n" * 300)
    b.start()
    ready(b)
    out = b.exec(
        "import os\n"
        "print(sorted(e[0] for e in os.ilistdir('/data')), os.stat('/data/host.txt')[6])\n"
        "f = open('/data/host.txt')\n"  # line by line: the REPL after Ctrl-C has its heap in pieces
        "print(all(f.readline() == 'from the host\\n' for _ in range(300)) and f.read() == '')\n"
        "os.mkdir('/made')\n"
        "with open('/made/board.bin', 'wb') as f:\n"
        "    f.write(bytes(range(256)) * 20)\n")
    assert "['host.txt'] 4200" in out and "True" in out
    b.power_cut()
    assert b.flash_listdir("/made") == ["board.bin"]
    assert b.flash_read("/made/board.bin") == bytes(range(256)) * 20


def test_the_host_refuses_the_flash_of_a_running_board(vboard):
    b = running(vboard)
    with pytest.raises(RuntimeError):
        b.flash_read("/state.json")
    b.interrupt()  # at the REPL the interpreter still runs, its LittleFS mounted
    with pytest.raises(RuntimeError):
        b.flash_listdir()


def test_statvfs_is_littlefs_own(vboard):
    b = running(vboard)
    run = "import os\nprint(os.statvfs('/'))\n"
    before = eval(b.exec(run))
    assert before[0] == FS_BLOCK and before[1] == FS_BLOCK and before[2] == FS_BLOCKS
    b.exec("with open('/big.bin', 'wb') as f:\n"
           "    for i in range(40):\n"
           "        f.write(bytes(1024))\n")
    during = eval(b.exec(run))
    assert before[3] - during[3] >= 10  # 40 KB: ten blocks at least, and their metadata
    b.exec("import os\nos.remove('/big.bin')")
    after = eval(b.exec(run))
    assert after[3] == before[3]


def test_rename_replaces_and_sizes_match(vboard):
    out = running(vboard).exec(
        "import os\n"
        "for n, size in (('a', 1000), ('b', 5000)):\n"
        "    with open('/' + n, 'wb') as f:\n"
        "        f.write(bytes([ord(n)]) * size)\n"
        "os.rename('/b', '/a')\n"
        "print(os.stat('/a')[6], open('/a', 'rb').read(1), 'b' in os.listdir('/'))\n"
        "print(sorted((e[0], e[3]) for e in os.ilistdir('/') if e[0] in ('a', 'b')))\n")
    assert "5000 b'b' False" in out
    assert "[('a', 5000)]" in out


def test_a_full_flash_answers_enospc(vboard):
    out = running(vboard).exec(
        "import os\n"
        "buf = bytes(4096)\n"
        "n = 0\n"
        "try:\n"
        "    with open('/fill.bin', 'wb') as f:\n"
        "        while True:\n"
        "            f.write(buf)\n"
        "            n += 1\n"
        "except OSError as e:\n"
        "    print('errno', e.errno, 'blocks', n)\n"
        "os.remove('/fill.bin')\n"
        "print('free', os.statvfs('/')[3])\n", timeout=60)
    m = re.search(r"errno (\d+) blocks (\d+)", out)
    assert m and int(m.group(1)) == 28, out
    assert FS_BLOCKS - 100 < int(m.group(2)) < FS_BLOCKS, out
    assert int(re.search(r"free (\d+)", out).group(1)) > FS_BLOCKS - 100
