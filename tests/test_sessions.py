"""Badge sessions a reset interrupted (firmware/bringup.recover): finished at the boot, once, their outlets left
off, on the reference board; no server needed."""
import json

from conftest import ready

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
