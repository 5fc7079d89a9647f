"""Badge to power, end to end: the real firmware on the virtual board (the seed wiring's PN532 on I2C, the expander
wiring's MFRC522 on SPI), the real server process with the demo site (tools/server/demo.py), cards placed in the
reader's field by the bench."""
import datetime
import http.client
import itertools
import json
import re
import socket
import threading
import time

import pytest
from conftest import LAB, ready
from serverkit import free_port, server_process

from tools.server import demo
from tools.server.relay import Relay
from tools.server.signing import badge_hash

ALICE, BOB, MALLORY = (bytes.fromhex(b.uid) for b in demo.BADGES)  # Bob: outlets 1-3, 1800 s; Mallory: no rule
STRANGER = bytes.fromhex("0A0B0C0D")  # not enrolled


def admin(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, "/api/v1/admin" + path, body=None if body is None else json.dumps(body),
                     headers={"Authorization": "Bearer " + demo.ADMIN_TOKEN, "Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def config(port, **server):
    return {"wifi": LAB, "outlets": [{"watts": w} for w in demo.POWER],
            "server": dict(url="http://127.0.0.1:%d" % port, device=demo.DEVICE_ID, secret=demo.DEVICE_SECRET,
                           site_secret=demo.SITE_SECRET, poll_s=2, **server)}


def online(b):
    """Ready, on Wi-Fi, the time from NTP, the reader set up."""
    since = ready(b).start()
    b.serial.expect("rfid: reader ready", 10, since=since)
    b.serial.expect("clock: time from ntp", 10, since=since)


def tap(b, uid, expect, timeout=6):
    """A card placed on the reader; the log line the firmware says about it (matching expect)."""
    m0 = b.serial.mark()
    b.field.place(uid)
    return b.serial.expect(expect, timeout, since=m0).group(0).decode()


def untap(b):
    b.field.remove()
    time.sleep(2.0)  # more than two polls, after a round with the server that may be under way: the card has left


def sessions(port, n, timeout=20):
    """The device's sessions on the server, once there are n."""
    end = time.monotonic() + timeout
    while True:
        got = admin(port, "GET", "/sessions?device=%s" % demo.DEVICE_ID)[1]
        if len(got) >= n or time.monotonic() > end:
            return sorted(got, key=lambda s: s["outlet"])
        time.sleep(0.3)


def test_a_badge_powers_what_the_server_grants_and_its_second_tap_ends_the_session(vboard, site):
    b = vboard(config(site))
    online(b)
    line = tap(b, BOB, r"badge \w+ \(Bob\): [^\n]*\n")
    assert "outlet 1,2,3 on for 1800 s (server)" in line
    b.wait_relays([True, True, True, False, False, False])
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert "1 Outlet 1: on (badge)" in out and "last badge: badge" in out
    assert BOB.hex() not in out.lower() and BOB.hex() not in b.serial.text().lower()  # the UID never shows
    time.sleep(1.5)
    untap(b)
    t0 = time.time()
    assert "session ended on outlet 1,2,3" in tap(b, BOB, r"badge \w+: session ended[^\n]*\n")
    b.wait_relays([False] * 6)
    got = sessions(site, 3)
    assert len(got) == 3, b.command("status", expect=r"6 Outlet 6[^\n]*\n") + b.serial.text()[-1500:]
    assert got, b.command("status", expect=r"6 Outlet 6[^\n]*\n") + b.serial.text()[-1000:]
    assert [s["outlet"] for s in got] == [1, 2, 3]
    for s in got:
        assert s["badge"] == badge_hash(demo.SITE_SECRET, BOB.hex()) and s["owner"] == "Bob"
        assert 1 <= s["duration_s"] <= 6 and abs(s["end"] - t0) < 5
        assert s["energy_wh"] == pytest.approx(demo.POWER[s["outlet"] - 1] * s["duration_s"] / 3600, abs=0.01)
    untap(b)
    time.sleep(3)  # a round later: delivered once, nothing left on the board
    assert len(sessions(site, 3)) == 3
    done = b.board_dir / "done.log"
    assert not done.exists() or not done.read_text().strip()


def test_a_session_takes_only_the_outlets_it_switches_on(vboard, site):
    """Bob may power outlets 1-3. Outlet 3 is already on (the router: power_on "on") and outlet 2 is kept out of
    badge sessions (badge: false): his session takes outlet 1 only, and its end leaves the other two as they were."""
    cfg = config(site)
    cfg["outlets"][1]["badge"] = False
    cfg["outlets"][2]["power_on"] = "on"
    b = vboard(dict(cfg, stagger_ms=0))
    online(b)
    b.wait_relays([False, False, True, False, False, False])
    line = tap(b, BOB, r"badge \w+ \(Bob\): [^\n]*\n")
    assert "outlet 1 on for 1800 s (server); outlet 2 not for badges, 3 already on" in line
    b.wait_relays([True, False, True, False, False, False])
    untap(b)
    assert "session ended on outlet 1" in tap(b, BOB, r"badge \w+: session ended[^\n]*\n")
    b.wait_relays([False, False, True, False, False, False])
    assert [s["outlet"] for s in sessions(site, 1)] == [1]


def test_refused_badges_leave_the_outlets_off(vboard, site):
    b = vboard(config(site))
    online(b)
    assert "refused by the server: no rule" in tap(b, MALLORY, r"badge \w+ \(Mallory\): [^\n]*\n")
    untap(b)
    assert "refused by the server: unknown badge" in tap(b, STRANGER, r"badge \w+: refused[^\n]*\n")
    untap(b)
    assert b.relays() == [False] * 6
    assert "refused" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")


def test_the_granted_time_ends_the_session_on_the_mfrc522(vboard, site):
    """The expander wiring: relays on the PCF8574, the MFRC522 on SPI; a rule granting 3 s."""
    carol = bytes.fromhex("04C0FFEE112233")
    assert admin(site, "POST", "/badges", {"uid": carol.hex(), "owner": "Carol"})[0] == 201
    rule = {"badge": badge_hash(demo.SITE_SECRET, carol.hex()), "device": demo.DEVICE_ID, "outlets": [4],
            "max_seconds": 3}
    assert admin(site, "POST", "/rules", rule)[0] == 201
    cfg = config(site)
    cfg["board"] = {"profile": "expander"}
    b = vboard(cfg, wiring="expander")
    online(b)
    assert "outlet 4 on for 3 s (server)" in tap(b, carol, r"badge \w+ \(Carol\): [^\n]*\n")
    b.wait_relays([False, False, False, True, False, False])
    t0 = time.monotonic()
    b.wait_relays([False] * 6, timeout=6)
    assert 2 <= time.monotonic() - t0 <= 4.5
    got = sessions(site, 1)
    assert got[0]["outlet"] == 4 and 2 <= got[0]["duration_s"] <= 4, (got, b.serial.text()[-2000:])


def test_a_clock_correction_during_a_session_does_not_change_its_length(vboard, site):
    b = vboard(config(site))
    online(b)
    assert "outlet 1,2,3 on" in tap(b, BOB, r"badge \w+ \(Bob\): [^\n]*\n")
    t0 = time.monotonic()
    untap(b)
    local = re.search(r"time (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", b.command("time")).group(1)
    ahead = datetime.datetime.strptime(local, "%Y-%m-%d %H:%M:%S") + datetime.timedelta(seconds=60)
    m = b.serial.mark()
    b.command("time set " + ahead.strftime("%Y-%m-%d %H:%M:%S"))
    b.serial.expect(r"clock: set \+\d+ s", 5, since=m)  # by hand: the clock runs 60 s ahead from now on
    tap(b, BOB, r"badge \w+: session ended[^\n]*\n")
    ran = time.monotonic() - t0
    got = sessions(site, 3)
    assert len(got) == 3 and all(0 <= s["duration_s"] <= ran + 2 for s in got), (ran, got)


def test_server_unreachable_denies_by_default(vboard):
    b = vboard(config(free_port(), timeout_ms=1000))  # nothing listens there
    online(b)
    t0 = time.monotonic()
    line = tap(b, BOB, r"badge \w+: refused[^\n]*\n")
    assert "cannot connect; offline policy deny" in line and time.monotonic() - t0 < 5  # timeout_ms 1000, not more
    assert b.relays() == [False] * 6
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert re.search(r"server http://127\.0\.0\.1:\d+: (unreachable: )?cannot connect", out), out


def test_offline_the_cached_policy_allows_badges_granted_lately(vboard, tmp_path):
    port = free_port()
    b = vboard(config(port, offline="cached", offline_hours=2))
    with server_process("--demo", "--db", str(tmp_path / "s.db"), "--site-secret", demo.SITE_SECRET, port=port):
        online(b)
        assert "(server)" in tap(b, BOB, r"badge \w+ \(Bob\): outlet[^\n]*\n")
        untap(b)
        tap(b, BOB, r"session ended[^\n]*\n")
        untap(b)
    line = tap(b, BOB, r"badge \w+: outlet[^\n]*\n")  # the server is gone
    assert "outlet 1,2,3 on for 1800 s (offline: granted 0 min ago)" in line
    b.wait_relays([True, True, True, False, False, False])
    untap(b)
    tap(b, BOB, r"session ended[^\n]*\n")
    untap(b)
    assert "not granted in the last 2 h" in tap(b, ALICE, r"badge \w+: refused[^\n]*\n")
    assert b.relays() == [False] * 6


class FakeServer:
    """Answers every request 200 with an "allow" signed with the wrong key; records the requests."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += c.recv(4096)
                self.requests.append(data)
                body = b'{"allow":true,"outlets":[1,2,3,4,5,6],"seconds":null,"name":"Eve","reason":"ok"}'
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Signature: %s\r\n\r\n%s" % (
                    len(body), b"ab" * 32, body))


def test_a_forged_allow_is_refused(vboard):
    fake = FakeServer()
    b = vboard(config(fake.port))
    online(b)
    line = tap(b, ALICE, r"badge \w+: refused[^\n]*\n")
    assert "bad answer signature; offline policy deny" in line
    assert b.relays() == [False] * 6
    assert any(b"POST /api/v1/device/authorize" in r for r in fake.requests)
    assert not any(ALICE.hex().encode() in r.lower() for r in fake.requests)  # a hash, never the UID


def test_a_request_replayed_to_the_server_is_refused(vboard, site):
    """A man in the middle records the board's authorize request and sends it again himself."""
    relay = Relay(site)
    b = vboard(config(relay.port))
    online(b)
    assert "(server)" in tap(b, BOB, r"badge \w+ \(Bob\): outlet[^\n]*\n")
    end = time.monotonic() + 2  # recorded once the board closes the connection
    while not [r for r in relay.requests if r.startswith(b"POST /api/v1/device/authorize")]:
        assert time.monotonic() < end, relay.requests
        time.sleep(0.05)
    request = [r for r in relay.requests if r.startswith(b"POST /api/v1/device/authorize")][-1]
    relay.close()
    with socket.create_connection(("127.0.0.1", site)) as s:
        s.sendall(request)
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 401") and b"replayed nonce" in answer


def test_shedding_holds_outlets_off_across_a_reboot_and_restores_them(vboard, site):
    cfg = config(site)
    for o in cfg["outlets"]:
        o["power_on"] = "last"
    cfg["outlets"][4]["never_shed"] = True
    b = vboard(cfg)
    online(b)
    b.command("on all", expect=r"6 Outlet 6[^\n]*\n")
    b.wait_relays([True] * 6)
    m = b.serial.mark()
    assert admin(site, "POST", "/commands", {"device": demo.DEVICE_ID, "op": "shed"})[0] == 201
    b.serial.expect(r"server: command \d+ shed: shed 1,2,3,4,6; never shed: 5", 20, since=m)
    b.wait_relays([False, False, False, False, True, False])
    assert "held off: shed" in b.command("on 2", expect=r"2 Outlet 2[^\n]*\n")  # nobody turns it on meanwhile
    m_boot = b.serial.mark()
    b.power_cycle()
    ready(b, since=m_boot)
    time.sleep(1)
    assert b.relays() == [False, False, False, False, True, False]
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert len(re.findall(r"Outlet \d: off \(held off: shed\)", out)) == 5, out
    b.serial.expect("wifi: connected", 10, since=m_boot)
    m0 = b.serial.mark()
    assert admin(site, "POST", "/commands", {"device": demo.DEVICE_ID, "op": "unshed"})[0] == 201
    b.serial.expect(r"server: command \d+ unshed: done", 20, since=m0)
    b.wait_relays([True] * 6)
    ons = [t for t, i, on in b.relay_history if on and t > 0][-5:]
    assert min(y - x for x, y in itertools.pairwise(ons)) >= 0.08  # back on one by one (stagger_ms 100)
    acked = admin(site, "GET", "/commands?device=%s" % demo.DEVICE_ID)[1]
    assert len(acked) == 2 and all(c["acked"] and c["ok"] for c in acked)


def test_remote_commands_switch_outlets_and_are_acknowledged(vboard, site):
    b = vboard(config(site))
    online(b)
    for body in ({"op": "on", "outlets": [2, 5]}, {"op": "toggle", "outlets": [5, 6]}):
        assert admin(site, "POST", "/commands", dict(body, device=demo.DEVICE_ID))[0] == 201
    b.wait_relays([False, True, False, False, False, True], timeout=20)  # a round may find no room: the next
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert "2 Outlet 2: on (server)" in out
    end = time.monotonic() + 20
    while [c for c in admin(site, "GET", "/commands?device=%s" % demo.DEVICE_ID)[1] if not c["acked"]]:
        assert time.monotonic() < end, "commands not acknowledged"
        time.sleep(0.3)


def test_a_board_without_a_trusted_time_takes_the_servers_and_says_so(vboard, site):
    """The RTC chip lost its time and no NTP is configured: the server's signed clock skew answer sets the clock."""
    cfg = config(site)
    cfg["time"] = {"ntp": ""}
    b = vboard(cfg)
    ready(b)
    b.serial.expect("clock: time from server", 20, since=0)
    assert "from server" in b.command("time", expect=r"time [^\n]*\n")


@pytest.mark.parametrize("when", [0, 2 ** 40])
def test_a_signed_clock_skew_answer_with_no_possible_time_is_not_taken(vboard, when):
    from test_client import Fake, signed

    f = Fake(lambda conn, rq: conn.sendall(signed(rq, 401, json.dumps({"error": "clock skew", "time": when}).encode())))
    try:
        cfg = config(int(f.url.rsplit(":", 1)[1]))
        cfg["time"] = {"ntp": ""}
        b = vboard(cfg)
        ready(b)
        b.serial.expect("wifi: connected", 10, since=0)
        end = time.monotonic() + 15
        while "with a time not taken (%d)" % when not in b.command("status", expect=r"6 Outlet 6[^\n]*\n"):
            assert time.monotonic() < end, b.serial.text()[-1500:]
            time.sleep(0.5)
        assert "time from server" not in b.serial.text()
        assert "NOT TRUSTED" in b.command("time", expect=r"time [^\n]*\n")
    finally:
        f.close()
