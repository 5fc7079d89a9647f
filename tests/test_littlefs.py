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
        "    for _ in range(20):\n"  # in small pieces: the REPL after Ctrl-C has its heap in pieces
        "        f.write(bytes(range(256)))\n")
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
        "        for _ in range(size // 500):\n"
        "            f.write(bytes([ord(n)]) * 500)\n"
        "os.rename('/b', '/a')\n"
        "print(os.stat('/a')[6], open('/a', 'rb').read(1), 'b' in os.listdir('/'))\n"
        "print(sorted((e[0], e[3]) for e in os.ilistdir('/') if e[0] in ('a', 'b')))\n")
    assert "5000 b'b' False" in out
    assert "[('a', 5000)]" in out


def test_a_full_flash_answers_enospc(vboard):
    out = running(vboard).exec(
        "import os\n"
        "buf = bytes(512)\n"
        "n = 0\n"
        "try:\n"
        "    with open('/fill.bin', 'wb') as f:\n"
        "        while True:\n"
        "            f.write(buf)\n"
        "            n += 1\n"
        "except OSError as e:\n"
        "    print('errno', e.errno, 'blocks', n // 8)\n"
        "os.remove('/fill.bin')\n"
        "print('free', os.statvfs('/')[3])\n", timeout=60)
    m = re.search(r"errno (\d+) blocks (\d+)", out)
    assert m and int(m.group(1)) == 28, out
    assert FS_BLOCKS - 100 < int(m.group(2)) < FS_BLOCKS, out
    assert int(re.search(r"free (\d+)", out).group(1)) > FS_BLOCKS - 100


# main.py for the power cuts: rewrites /data.txt without end, as the firmware writes its state (a temp file, then a
# rename over the old one), each round a number and 6000 bytes of one letter that the number gives.
REWRITE = """import os
try:
    n = int(open('/data.txt').read(8))
except (OSError, ValueError):
    n = 0
buf = bytearray(1000)
while True:
    n += 1
    for i in range(1000):
        buf[i] = 65 + n % 26
    with open('/data.tmp', 'wb') as f:
        f.write(('%08d' % n).encode())
        for _ in range(6):
            f.write(buf)
    os.rename('/data.tmp', '/data.txt')
    print('round', n)
"""


def content(n):
    return b"%08d" % n + bytes([65 + n % 26]) * 6000


def whole(b):
    """The number of the round /data.txt holds, checked whole: its letters are that round's, all 6000 of them."""
    data = b.flash_read("/data.txt")
    n = int(data[:8])
    assert data == content(n), "a torn /data.txt: %r...%r (%d bytes)" % (data[:12], data[-12:], len(data))
    return n


def rewriting_board(vboard):
    b = lfs_board(vboard, start=False)
    b.flash_write("/data.txt", content(0))
    b.flash_write("/main.py", REWRITE)
    return b


def test_power_cuts_in_a_rewrite_leave_the_file_whole(vboard):
    """Cuts at any instant of the loop (after a round the seeded random picks, and a random moment more): the file
    is the last round's or the one before it, never torn, and the next boot carries on from it."""
    import random

    rnd = random.Random(8266)
    b = rewriting_board(vboard)
    b.start()
    last = 0
    for _ in range(8):
        m = b.serial.expect(r"round (\d+)\r?\n", 20)
        b.serial.expect(r"round %d\r?\n" % (int(m.group(1)) + rnd.randint(0, 3)), 20, since=m.start())
        time.sleep(rnd.uniform(0, 0.05))
        b.power_cut()
        n = whole(b)
        assert n >= last
        last = n
        b.power_on()
    assert last >= 8  # a round done in each boot at least


def test_a_cut_in_the_middle_of_a_block_program(vboard):
    """The plug pulled while the device programs a block (its first half on the flash, cut_at_flash_write): LittleFS
    mounts again, the file is whole, and the board goes on rewriting it."""
    b = rewriting_board(vboard)
    last = 0
    for k, at in enumerate((1, 2, 5, 13, 40, 77, 150)):
        b.cut_at_flash_write = at
        if k == 0:
            b.start()
        else:
            b.power_on()
        deadline = time.monotonic() + 30
        while b.powered or b.cut_at_flash_write:  # the bench pulls the plug at that program
            assert time.monotonic() < deadline, "no cut at program %d" % at
            time.sleep(0.05)
        n = whole(b)
        assert n >= last
        last = n
    m = b.serial.mark()
    b.power_on()
    b.serial.expect(r"round %d\r?\n" % (last + 3), 20, since=m)
    b.power_cut()
    assert whole(b) >= last + 3
