"""Badge sessions a reset interrupted (firmware/bringup.recover): finished at the boot, once, their outlets left
off; and the queue of finished sessions kept bounded while the server cannot take them. On the reference board;
no server needed."""
import json
import time

from conftest import ready
from serverkit import free_port
from test_badge import config

HASH = "ab" * 32
ID = "1795000000-2-a1b2c3"
LINE = '{"id":"%s","badge":"%s","outlet":2,"start":1795000000,"end":1795000060,"energy_wh":1.66}\n' % (ID, HASH)


def board(vboard, done=None):
    b = vboard({"outlets": [{"power_on": "last", "watts": 100}] * 6}, start=False)
    (b.board_dir / "state.json").write_text(json.dumps({"want": [0, 1, 0, 0, 0, 0]}))
    (b.board_dir / "open.json").write_text(json.dumps([None, [ID, HASH, 1795000000, 100], None, None, None, None]))
    if done is not None:
        (b.board_dir / "done.log").write_text(done)
    b.start()
    ready(b)
    return b


def sessions(b):
    return [json.loads(line) for line in (b.board_dir / "done.log").read_text().splitlines() if line.strip()]


def test_a_session_open_at_a_power_cut_is_finished_at_the_boot_and_its_outlet_stays_off(vboard):
    b = board(vboard)
    b.serial.expect("badge: session on outlet 2 ended by the restart", 5, since=0)
    assert b.relays() == [False] * 6  # power_on "last" said on: the session's end wins
    assert "2 Outlet 2: off (badge session ended by a restart)" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    got = sessions(b)
    assert [(s["id"], s["badge"], s["outlet"], s["start"]) for s in got] == [(ID, HASH, 2, 1795000000)]
    assert got[0]["end"] >= got[0]["start"]
    assert json.loads((b.board_dir / "open.json").read_text()) == [None] * 6


def test_an_interrupted_session_keeps_its_start_when_the_boot_sets_the_clock_from_the_chip(vboard):
    """The boot moves the ESP8266's clock from 2000 to the chip's time: a session of before the reset was timed by
    that clock, not this one, and keeps its start."""
    b = vboard({"outlets": [{"power_on": "last", "watts": 100}] * 6}, start=False)
    b.rtc.set(b.clock.now())
    (b.board_dir / "open.json").write_text(json.dumps([None, [ID, HASH, 1795000000, 100], None, None, None, None]))
    b.start()
    b.serial.expect("clock: time from ds3231", 10, since=0)
    b.serial.expect("badge: session on outlet 2 ended by the restart", 5, since=0)
    (got,) = sessions(b)
    assert got["start"] == 1795000000 and abs(got["end"] - b.clock.now()) < 5


def test_a_session_already_in_done_log_is_not_finished_twice(vboard):
    """A power cut between the two writes (done.log appended, open.json not yet rewritten)."""
    b = board(vboard, done=LINE)
    b.serial.expect("badge: session on outlet 2 ended by the restart", 5, since=0)
    assert sessions(b) == [json.loads(LINE)]


def test_a_line_cut_by_a_power_cut_does_not_count_as_done(vboard):
    b = board(vboard, done=LINE[:60])  # the append was cut: the session is finished again, whole
    b.serial.expect("badge: session on outlet 2 ended by the restart", 5, since=0)
    whole = [s for s in (b.board_dir / "done.log").read_text().splitlines() if s.endswith("}")]
    assert len(whole) == 1 and json.loads(whole[0])["id"] == ID


def test_beyond_64_sessions_waiting_the_oldest_are_dropped_and_counted(vboard):
    ids = ["%d-1-%06x" % (1795000000 + k, k) for k in range(70)]
    b = vboard(config(free_port(), timeout_ms=500), start=False)  # nobody listens: every round fails
    (b.board_dir / "done.log").write_text("".join("\n" + LINE.replace(ID, key) for key in ids))
    b.start()
    b.serial.expect(r"badge: 6 finished session\(s\) dropped: more than 64 waiting for the server", 20, since=0)
    assert [s["id"] for s in sessions(b)] == ids[6:]  # the newest 64, in order
    m = b.serial.mark()
    b.power_cycle()  # they stay, and nothing more is dropped at the next rounds
    ready(b, since=m)
    end = time.monotonic() + 15
    while "cannot connect" not in b.command("status", expect=r"6 Outlet 6[^\n]*\n"):
        assert time.monotonic() < end, b.serial.text()[-2000:]
        time.sleep(0.5)
    assert b.serial.text().count("finished session(s) dropped") == 1
    assert [s["id"] for s in sessions(b)] == ids[6:]


def test_without_a_link_the_queue_is_bounded_as_sessions_finish(vboard):
    """No Wi-Fi, so no round: a session finished (here, the one a restart interrupted) trims done.log once it holds
    more than about 80."""
    ids = ["%d-1-%06x" % (1795000000 + k, k) for k in range(85)]
    b = board(vboard, done="".join("\n" + LINE.replace(ID, key) for key in ids))
    b.serial.expect(r"badge: 22 finished session\(s\) dropped: more than 64 waiting for the server", 10, since=0)
    assert [s["id"] for s in sessions(b)] == ids[22:] + [ID]  # the newest, the one just finished last


def test_the_timer_of_a_session_a_reset_interrupted_ends_with_it(vboard):
    """Bob's 30 minutes were a timer on his outlet: once his session is ended by the restart, the timer is gone, and
    the outlet, switched on by hand later, stays on when that time comes."""
    b = vboard({"outlets": [{"power_on": "last", "watts": 100}] * 6, "stagger_ms": 0}, start=False)
    b.rtc.set(b.clock.now())
    board_now = int(b.clock.now()) - 946684800  # the board counts from 2000
    timers = [None, [board_now + 4, 0, 1], None, None, None, None]  # outlet 2 off in 4 s: the session's end
    (b.board_dir / "state.json").write_text(json.dumps({"want": [0, 1, 0, 0, 0, 0], "timers": timers}))
    (b.board_dir / "open.json").write_text(json.dumps([None, [ID, HASH, 1795000000, 100], None, None, None, None]))
    b.start()
    b.serial.expect("badge: session on outlet 2 ended by the restart", 10, since=0)
    assert b.command("timer", expect=r"\n[^\n]*timers?[^\n]*\n|no timers\n").strip().endswith("no timers")
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    time.sleep(5)  # past the session's old end
    assert b.relays() == [False, True, False, False, False, False]
