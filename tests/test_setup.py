"""A board with no Wi-Fi network set up from a phone (firmware/portal.py): its open access point, the DNS server that
answers every name with the board (a captive portal), the setup page and its API, the join, then the app again on
its network, with the page behind the web password set there. Hostile DNS queries change nothing."""
import json
import random
import re
import socket
import time

from conftest import LAB
from test_web import HEAP, PASSWORD, READY, call, until


def dns(b, query, timeout=2.0):
    """The board's DNS server's answer to a query (bytes), or None when it gives none."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(query, ("127.0.0.1", b.dns_port))
        return s.recvfrom(1024)[0]
    except TimeoutError:
        return None
    finally:
        s.close()


def question(name, qtype=1, qid=0x1234):
    return qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(
        bytes((len(x),)) + x.encode() for x in name.split(".")) + b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"


def fresh_board(vboard):
    b = vboard({"web": {}}, heap=HEAP)
    b.networks[:] = [("neighbours", -81, 3), ("cafe", -70, 0)]
    b.serial.expect(READY, 20, since=0)
    m = b.serial.expect(r"wifi: no network configured: open access point (multiprise-[0-9a-f]{4}), its setup page at "
                        r"http://192\.168\.4\.1/", 10, since=0)
    return b, m.group(1).decode()


def test_a_fresh_board_is_set_up_from_its_access_point_and_restarts_on_its_network(vboard):
    b, ap = fresh_board(vboard)
    mac = b.command("status", expect=r"6 Outlet 6[^\n]*\n")  # the app runs meanwhile
    assert "wifi not configured" in mac
    assert ap == "multiprise-" + b.uid[-2:].hex() and b.ap_if_active and b.ap_conf["authmode"] == 0

    got = dns(b, question("connectivitycheck.gstatic.com"))  # what a phone asks first
    assert got[:2] == b"\x12\x34" and got[3] & 15 == 0 and got[6:8] == b"\x00\x01" and got.endswith(
        bytes((192, 168, 4, 1)))
    got = dns(b, question("captive.apple.com", qtype=28))  # AAAA: no record, no error
    assert got and got[6:8] == b"\x00\x00" and got[3] & 15 == 0
    status, head, _ = call(b, "GET", "/generate_204", headers={"Host": "connectivitycheck.gstatic.com"})
    assert status == 302 and head["Location"] == "http://192.168.4.1/"
    status, head, page = call(b, "GET", "/")
    assert status == 200 and head["Content-Encoding"] == "gzip"
    status, _, nets = call(b, "GET", "/api/scan")
    assert status == 200 and [n[0] for n in nets] == ["multiprise-lab", "cafe", "neighbours"] and nets[1][2] is True
    assert call(b, "GET", "/api/state")[0] == 404  # nothing but the setup
    assert call(b, "GET", "/api/setup")[2]["web_password_needed"] is True

    h = {"X-Multiprise": "1"}
    for body, code in [(json.dumps({"ssid": LAB["ssid"], "password": LAB["password"], "web": PASSWORD}), 403),
                       ("{}", 400), (json.dumps({"ssid": LAB["ssid"], "password": LAB["password"]}), 400),
                       (json.dumps({"ssid": LAB["ssid"], "password": "short", "web": PASSWORD}), 400)]:
        assert call(b, "POST", "/api/setup", body, h if code != 403 else {})[0] == code, body
    m = b.serial.mark()
    status, _, body = call(b, "POST", "/api/setup", json.dumps({"ssid": LAB["ssid"], "password": "not-the-key-1",
                                                                "web": PASSWORD}), h)
    assert status == 200 and body["answer"] == "joining " + LAB["ssid"]
    until("the wrong key said", lambda: call(b, "GET", "/api/setup")[2]["state"] == "failed: wrong password")
    until("the web password stored", lambda: (b.board_dir / "webpass.json").exists())
    status, _, body = call(b, "POST", "/api/setup", json.dumps({"ssid": LAB["ssid"], "password": LAB["password"]}), h)
    assert status == 200, body
    until("joined", lambda: call(b, "GET", "/api/setup")[2]["state"] == "joined " + LAB["ssid"])
    assert call(b, "GET", "/api/setup")[2]["ip"] == "127.0.0.1"
    b.serial.expect(r"wifi: joined %s from the setup page, ip 127\.0\.0\.1; kept in config.json" % LAB["ssid"], 5,
                    since=m)
    assert json.loads((b.board_dir / "config.json").read_text())["wifi"] == LAB
    b.serial.expect(r"wifi: access point %s off; the app restarts on %s" % (ap, LAB["ssid"]), 30, since=m)
    b.serial.expect(READY, 20, since=m)
    b.serial.expect(r"wifi: connected to %s" % LAB["ssid"], 20, since=m)
    assert not b.ap_if_active
    assert dns(b, question("example.com"), timeout=1) is None  # the DNS server is gone with the access point
    status, _, body = call(b, "POST", "/api/login", json.dumps({"password": PASSWORD}))
    assert status == 200  # the page, behind the password set in the setup
    said = b.serial.text()
    assert LAB["password"] not in said and PASSWORD not in said and "not-the-key-1" not in said
    assert "Traceback" not in said and b.relays() == [False] * 6


def test_hostile_dns_queries_get_no_answer_or_a_well_formed_one(vboard):
    """3,000 queries mutated at random (bytes flipped, cut, inserted; lengths and counts wrong; answers, not
    queries): each is answered with one A record of the board, none, or no answer; the board runs on."""
    b, _ = fresh_board(vboard)
    rng = random.Random(53)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent, got = set(), []

    def take():
        while True:
            try:
                got.append(s.recvfrom(1024)[0])
            except BlockingIOError:
                return

    for n in range(3000):
        q = bytearray(question(rng.choice(["a.b", "connectivitycheck.gstatic.com", "x" * 63 + ".y"]),
                               rng.choice([1, 28, 255]), rng.randrange(65536)))
        for _ in range(rng.randrange(0, 4)):
            k, j = rng.randrange(4), rng.randrange(len(q)) if q else 0
            if k == 0 and q:
                q[j] = rng.randrange(256)
            elif k == 1:
                del q[j:]
            elif k == 2:
                q[j:j] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
            elif len(q) > 2:
                q[2] |= 0x80  # an answer, not a query
        sent.add(bytes(q[:2]))
        s.sendto(bytes(q), ("127.0.0.1", b.dns_port))
        if n % 8 == 7:  # the board takes 8 a step (50 ms)
            time.sleep(0.06)
            take()
    time.sleep(0.5)
    take()
    for a in got:  # each: the ID of a query sent, a response, one question, no record or the board's address
        assert a[:2] in sent and a[2] == 0x81 and a[4:6] == b"\x00\x01", a
        assert a[6:8] == b"\x00\x00" or a[6:8] == b"\x00\x01" and a.endswith(bytes((192, 168, 4, 1))), a
    answered = len(got)
    s.close()
    print("answered %d of 3000" % answered)
    assert answered > 300
    time.sleep(0.5)
    assert b"Traceback" not in b.serial.text().encode() and call(b, "GET", "/api/setup")[0] == 200
    assert re.search(r"wifi not configured", b.command("status", expect=r"6 Outlet 6[^\n]*\n"))


def test_the_flash_button_held_5_s_opens_the_setup_on_a_board_with_a_network(vboard):
    """The expander wiring (GPIO0 is the button alone): held 2 s it does nothing; held 5 s the board leaves its
    network and opens the setup's access point and page, with its web server (not configured), the outlets as they
    were; nothing joined in 5 minutes (the board's clock), it restarts on its network; a network joined there is kept
    and the app restarts on it. On the seed wiring GPIO0 drives outlet 5's relay: the button is not watched then."""
    b = vboard({"board": {"profile": "expander"}, "wifi": LAB}, wiring="expander", heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    b.serial.expect(r"wifi: connected to " + LAB["ssid"], 10, since=0)
    b.command("on 2", expect=r"2 Outlet[^\n]*\n")
    b.wait_relays([False, True, False, False, False, False])
    clicks = len(b.relay_history)

    b.hold_button()
    time.sleep(2)
    b.hold_button(False)
    time.sleep(1)
    assert not b.ap_if_active and b.wifi_status() == 5

    def open_setup():
        m = b.serial.mark()
        b.hold_button()
        got = b.serial.expect(r"wifi: the FLASH button held 5 s: open access point (multiprise-[0-9a-f]{4}), its setup "
                              r"page at http://192\.168\.4\.1/", 10, since=m)
        b.hold_button(False)
        assert got.group(1).decode() == "multiprise-" + b.uid[-2:].hex() and b.ap_if_active
        assert b.wifi_status() != 5 and "wifi setup" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")
        return m

    m = open_setup()
    until("the setup's page", lambda: call(b, "GET", "/")[0] == 200)
    assert call(b, "GET", "/api/setup")[2]["state"] == "waiting"
    b.clock.jump(301)
    b.serial.expect(r"wifi: access point multiprise-[0-9a-f]{4} off; the app restarts on %s \(nothing joined from "
                    r"the setup page in 5 minutes\)" % LAB["ssid"], 10, since=m)
    b.serial.expect(READY, 20, since=m)
    b.serial.expect(r"wifi: connected to " + LAB["ssid"], 10, since=m)
    assert not b.ap_if_active and "web" not in json.loads((b.board_dir / "config.json").read_text())

    m = open_setup()
    h = {"X-Multiprise": "1"}
    status, _, body = call(b, "POST", "/api/setup", json.dumps({"ssid": LAB["ssid"], "password": LAB["password"],
                                                                "web": PASSWORD}), h)
    assert status == 200, body
    b.serial.expect(r"wifi: joined %s from the setup page, ip 127\.0\.0\.1; kept in config.json" % LAB["ssid"], 10,
                    since=m)
    b.serial.expect(r"wifi: access point multiprise-[0-9a-f]{4} off; the app restarts on %s\n" % LAB["ssid"], 30,
                    since=m)
    b.serial.expect(READY, 20, since=m)
    assert json.loads((b.board_dir / "config.json").read_text())["web"] == {} and not b.ap_if_active
    until("the page behind its password", lambda: call(b, "GET", "/api/state")[0] == 401)
    assert b.relays() == [False, True, False, False, False, False] and len(b.relay_history) == clicks

    s = vboard({"wifi": LAB}, heap=HEAP)  # the seed wiring
    s.serial.expect(READY, 20, since=0)
    s.hold_button()
    time.sleep(6)
    s.hold_button(False)
    assert not s.ap_if_active and s.wifi_status() == 5 and b"FLASH" not in s.serial.buf
