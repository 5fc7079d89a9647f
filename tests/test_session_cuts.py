"""Power cuts around session reports, end to end: the real firmware on the reference board, the real server process
(demo site) behind a relay that sees each report go by. Finished sessions wait in done.log, interrupted ones in
open.json; the power is cut at random instants, most of them just as a report is on its way (before the server has
it, once it has stored it but before the board knows, while the board rewrites done.log), the others anywhere in the
boot. In the end the server has every session exactly once."""
import json
import os
import random
import time

from conftest import ready
from serverkit import Relay, server_process
from test_badge import admin, config

from tools.server import demo
from tools.server.signing import badge_hash

CUTS = 100
HASH = badge_hash(demo.SITE_SECRET, demo.BADGES[0].uid)


def open_session(path):
    return path.exists() and "[" in path.read_text()[1:]


def line(key, outlet, start):
    return '{"id":"%s","badge":"%s","outlet":%d,"start":%d,"end":%d,"energy_wh":%d.00}\n' % (
        key, HASH, outlet, start, start + 60, outlet)


def test_random_power_cuts_around_session_reports_lose_and_duplicate_nothing(vboard, tmp_path):
    seed = int(os.environ.get("CUT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with server_process("--demo", "--db", str(tmp_path / "server.db")) as (port, _):
        relay = Relay(port)
        b = vboard(config(relay.port), start=False)
        b.join_s = 0.05  # the access point lets the board in at once: the cuts come sooner
        b.start()
        try:
            since = ready(b).start()
            b.serial.expect("clock: time from ntp", 10, since=since)  # the RTC chip has the time from now on
            done, opened = b.board_dir / "done.log", b.board_dir / "open.json"
            expected = set()
            t0 = int(time.time()) - 86400
            for cut in range(CUTS):
                b.power_cut()
                waiting = len([s for s in done.read_text().splitlines() if s.strip()]) if done.exists() else 0
                # new sessions while few wait (beyond 64 the oldest would be dropped, as they should)
                new = ["%d-%d-%06x" % (t0 + cut, k + 1, rng.randrange(1 << 24))
                       for k in range(rng.randint(1, 3) if waiting < 12 else 0)]
                with open(done, "a") as f:  # finished sessions waiting for the server, as the firmware writes them
                    f.write("".join("\n" + line(key, k + 1, t0 + cut) for k, key in enumerate(new)))
                expected.update(new)
                if cut % 4 == 0 and not open_session(opened):  # and a session a power cut interrupted: the
                    # boot finishes it
                    key = "%d-6-%06x" % (t0 + cut, rng.randrange(1 << 24))
                    opened.write_text(json.dumps([None] * 5 + [[key, HASH, t0 + cut, 10]]))
                    expected.add(key)
                relay.report.clear()
                b.power_on()
                if cut % 4 == 3:  # anywhere in the boot
                    time.sleep(rng.uniform(0.0, 0.6))
                else:  # as a report goes by: before, while and after the server stores it
                    assert relay.report.wait(10), (seed, cut, b.serial.text()[-2000:])
                    time.sleep(rng.uniform(0.0, 0.06))
                b.power_cut()
            b.power_on()
            end = time.monotonic() + 60
            while [s for s in done.read_text().splitlines() if s.strip()] or open_session(opened):
                assert time.monotonic() < end, (seed, done.read_text()[:500], b.serial.text()[-2000:])
                time.sleep(0.5)
            got = [s["key"] for s in admin(port, "GET", "/sessions?limit=1000&device=%s" % demo.DEVICE_ID)[1]]
            assert "dropped" not in b.serial.text(), seed
            assert len(got) == len(set(got)), (seed, "duplicates", sorted(k for k in got if got.count(k) > 1))
            assert set(got) == expected, (seed, "lost", sorted(expected - set(got)), "unknown",
                                          sorted(set(got) - expected))
        finally:
            relay.close()
