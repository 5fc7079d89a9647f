"""The central server's HTTP APIs in process (Starlette's test client), on SQLite and on a real PostgreSQL: signed
device requests and answers, replay and clock checks, rules, sessions, commands, statistics, the admin token."""
import json
import re

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from serverkit import NEW_YEAR, SITE, TOKEN, database, in_process, postgres, transport_for  # noqa: F401 (fixtures)
from tools.server import models
from tools.server.app import create_app
from tools.server.cli import main as cli
from tools.server.client import DeviceClient, ForgedAnswer
from tools.server.schemas import BadgeIn, DeviceIn
from tools.server.signing import badge_hash
from tools.server.store import Conflict, Store

ALICE, BOB = "04A1B2C3", "04D5E6F7A1B2C3"


@pytest.fixture
def server(database):  # noqa: F811
    yield from in_process(database)


def enrol(server, uid, owner):
    r = server.admin("POST", "/badges", {"uid": uid, "owner": owner})
    assert r.status_code == 201, r.text
    return r.json()["hash"]


def add_rule(server, **rule):
    r = server.admin("POST", "/rules", rule)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_tap_is_answered_by_the_rules(server):
    strip = server.device()
    alice, bob = enrol(server, ALICE, "Alice"), enrol(server, BOB, "Bob")
    assert alice == badge_hash(SITE, ALICE)
    add_rule(server, badge=alice, device="all")
    add_rule(server, badge=bob, device="strip", outlets=[1, 2, 3], max_seconds=1800)
    add_rule(server, badge=bob, device="all", outlets=[6], days=[4], start="00:00", end="01:00", max_seconds=600)
    assert strip.authorize(alice) == (200, {"allow": True, "outlets": [1, 2, 3, 4, 5, 6], "seconds": None,
                                            "name": "Alice", "reason": "ok"})
    assert strip.authorize(bob)[1] == {"allow": True, "outlets": [1, 2, 3, 6], "seconds": 600, "name": "Bob",
                                       "reason": "ok"}
    server.clock.now += 3600        # 01:00: the night rule is over
    assert strip.authorize(bob)[1]["outlets"] == [1, 2, 3]
    assert strip.authorize(badge_hash(SITE, "DEADBEEF")) == (200, {
        "allow": False, "outlets": [], "seconds": None, "name": None, "reason": "unknown badge"})


def test_answers_are_compact_json_with_exactly_the_protocol_fields(server):
    strip = server.device()
    seen = {}

    def keep(method, path, headers, body):
        status, answer_headers, answer = transport_for(server.http)(method, path, headers, body)
        seen["body"] = answer
        return status, answer_headers, answer

    strip.send = keep
    strip.authorize("0" * 64)
    assert seen["body"] == b'{"allow":false,"outlets":[],"seconds":null,"name":null,"reason":"unknown badge"}'
    strip.heartbeat()
    assert seen["body"] == b'{"ok":true,"time":%d}' % NEW_YEAR


def test_requests_that_are_not_signed_right_are_refused_and_say_why(server):
    strip = server.device()
    other = server.device("other")
    stranger = DeviceClient(strip.send, "nobody", strip.secret, server.clock)
    assert stranger.request("POST", "/authorize", {"badge": "0" * 64}, check=False) == (
        401, {"error": "unknown device"})
    forger = DeviceClient(strip.send, "strip", other.secret, server.clock)
    assert forger.request("POST", "/authorize", {"badge": "0" * 64}, check=False) == (401, {"error": "bad signature"})
    status, headers, body = strip.send("POST", "/api/v1/device/authorize", {"X-Device": "strip"}, b"{}")
    assert (status, json.loads(body)) == (401, {"error": "missing or malformed X-Time"})
    assert "x-signature" not in headers     # nothing the board could trust: it was not signed right
    with pytest.raises(ForgedAnswer):
        forger.request("POST", "/authorize", {"badge": "0" * 64})


def test_a_board_can_tell_a_forged_or_replayed_answer(server):
    strip = server.device()
    honest = strip.send
    kept = []

    def keep(method, path, headers, body):
        kept.append(honest(method, path, headers, body))
        return kept[-1]

    strip.send = keep
    assert strip.authorize("0" * 64)[1]["allow"] is False
    earlier = kept[0]
    status, headers, body = earlier
    for forged in ((status, headers, body.replace(b"false", b"true ")),     # another body
                   (403, headers, body),                                    # another status
                   earlier):                                                # a true answer to an earlier request
        strip.send = lambda *request, forged=forged: forged
        with pytest.raises(ForgedAnswer):
            strip.authorize("0" * 64)


def test_a_changed_body_breaks_the_signature(server):
    strip = server.device()
    honest = strip.send

    def tamper(method, path, headers, body):
        return honest(method, path, headers, body.replace(b"false", b"true "))

    strip.send = tamper
    assert strip.request("POST", "/heartbeat", {"version": "1", "uptime": 1, "heap": 1, "outlets": [], "shed": False},
                         check=False) == (401, {"error": "bad signature"})


def test_clock_skew_is_refused_beyond_120_s_with_the_server_time_signed(server):
    strip = server.device()
    assert strip.request("POST", "/authorize", {"badge": "0" * 64}, stamp=NEW_YEAR - 120)[0] == 200
    assert strip.request("POST", "/authorize", {"badge": "0" * 64}, stamp=NEW_YEAR + 120)[0] == 200
    for stamp in (NEW_YEAR - 121, NEW_YEAR + 121, 0):
        # signed: a board whose clock is wrong may set it from this answer
        assert strip.request("POST", "/authorize", {"badge": "0" * 64}, stamp=stamp) == (
            401, {"error": "clock skew", "time": NEW_YEAR})


def test_a_replayed_request_is_refused_for_10_minutes(server):
    strip, other = server.device(), server.device("other")
    assert strip.request("GET", "/commands", nonce="Nonce0001")[0] == 200
    assert strip.request("GET", "/commands", nonce="Nonce0001") == (401, {"error": "replayed nonce"})
    assert other.request("GET", "/commands", nonce="Nonce0001")[0] == 200     # nonces are per device
    server.clock.now += 540
    assert strip.request("GET", "/commands", nonce="Nonce0001") == (401, {"error": "replayed nonce"})
    server.clock.now += 61
    assert strip.request("GET", "/commands", nonce="Nonce0001")[0] == 200


def test_the_exact_bytes_of_a_request_can_be_replayed_only_once(server):
    strip = server.device()
    captured = {}
    honest = strip.send

    def capture(method, path, headers, body):
        captured.update(method=method, path=path, headers=headers, body=body)
        return honest(method, path, headers, body)

    strip.send = capture
    strip.session("k1", "a" * 64, 1, NEW_YEAR - 60, NEW_YEAR, 1.5)
    status, _, body = honest(captured["method"], captured["path"], captured["headers"], captured["body"])
    assert (status, json.loads(body)) == (401, {"error": "replayed nonce"})


def test_malformed_requests_get_a_short_signed_422(server):
    strip = server.device()
    assert strip.request("POST", "/authorize", {"badge": "XYZ"}) == (
        422, {"error": "badge: String should match pattern '^[0-9a-f]{64}$'"})
    assert strip.request("POST", "/authorize", b"{not json")[0] == 422
    assert strip.request("POST", "/authorize", {"badge": "0" * 64, "more": 1})[0] == 422
    assert strip.request("POST", "/heartbeat", {"version": "1", "uptime": "5", "heap": 1, "outlets": [],
                                                "shed": False}) == (
        422, {"error": "uptime: Input should be a valid integer"})


def test_sessions_are_stored_once_and_counted_in_the_statistics(server):
    strip, hall = server.device(), server.device("hall", power=[100, 100])
    alice, bob = enrol(server, ALICE, "Alice"), enrol(server, BOB, "Bob")
    assert strip.session("s-1", alice, 1, 1000, 1600, 12.5) == (200, {"ok": True, "duplicate": False})
    assert strip.session("s-1", alice, 1, 1000, 1600, 12.5) == (200, {"ok": True, "duplicate": True})
    assert strip.session("s-1", alice, 1, 1000, 1601, 12.5) == (
        409, {"error": "session id s-1 was already used for another session"})
    assert hall.session("s-1", bob, 2, 2000, 2060, 0.25)[1] == {"ok": True, "duplicate": False}  # ids are per device
    strip.session("s-2", alice, 3, 3000, 3030, 1)
    strip.session("s-3", bob, 1, 4000, 4000, 0)
    assert strip.session("s-4", alice, 1, 5000, 4999, 0) == (422, {"error": "body: end before start"})
    assert hall.session("s-5", alice, 3, 5000, 5001, 0) == (422, {"error": "device hall has 2 outlets: no outlet 3"})

    def stats(query):
        r = server.admin("GET", "/stats?" + query)
        assert r.status_code == 200, r.text
        return [(row["badge"] and row["owner"], row["device"], row["outlet"], row["count"], row["seconds"],
                 row["energy_wh"]) for row in r.json()]

    assert sorted(stats("by=badge")) == [("Alice", None, None, 2, 630, 13.5), ("Bob", None, None, 2, 60, 0.25)]
    assert stats("by=outlet") == [(None, "hall", 2, 1, 60, 0.25), (None, "strip", 1, 2, 600, 12.5),
                                  (None, "strip", 3, 1, 30, 1.0)]
    assert stats("by=device") == [(None, "hall", None, 1, 60, 0.25), (None, "strip", None, 3, 630, 13.5)]
    assert stats("by=device&since=2000&until=4000") == [(None, "hall", None, 1, 60, 0.25),
                                                          (None, "strip", None, 1, 30, 1.0)]
    assert stats("by=badge&device=strip&badge=" + bob) == [("Bob", None, None, 1, 0, 0.0)]
    listed = server.admin("GET", "/sessions?device=strip&limit=2").json()
    assert [(s["key"], s["owner"], s["duration_s"]) for s in listed] == [("s-3", "Bob", 0), ("s-2", "Alice", 30)]


def test_commands_reach_their_device_until_acknowledged(server):
    strip, other = server.device(), server.device("other")
    sent = [server.admin("POST", "/commands", body).json()["id"] for body in (
        {"device": "strip", "op": "on", "outlets": [1, 2]},
        {"device": "strip", "op": "shed", "class": 2, "until": NEW_YEAR + 600},
        {"device": "strip", "op": "unshed"},
        {"device": "other", "op": "toggle", "outlets": [3]})]
    assert strip.commands() == (200, {"commands": [
        {"id": sent[0], "op": "on", "outlets": [1, 2], "class": None, "until": None},
        {"id": sent[1], "op": "shed", "outlets": None, "class": 2, "until": NEW_YEAR + 600},
        {"id": sent[2], "op": "unshed", "outlets": None, "class": None, "until": None}]})
    assert strip.ack(sent[0], True, "on") == (200, {"ok": True})
    assert strip.ack(sent[0], False, "again") == (200, {"ok": True})     # a repeated ack keeps the first
    assert strip.ack(sent[3], True) == (404, {"error": "no command %d for this device" % sent[3]})
    assert [c["id"] for c in strip.commands()[1]["commands"]] == sent[1:3]
    server.clock.now += 600         # the shedding is over before the board asked: not sent
    assert [c["id"] for c in strip.commands()[1]["commands"]] == [sent[2]]
    done = server.admin("GET", "/commands?device=strip&pending=false").json()
    assert [(c["id"], c["ok"], c["result"], c["acked"]) for c in done] == [(sent[0], True, "on", NEW_YEAR)]
    assert [c["id"] for c in other.commands()[1]["commands"]] == [sent[3]]


def test_a_board_gets_at_most_8_commands_at_once(server):
    strip = server.device()
    for _ in range(10):
        server.admin("POST", "/commands", {"device": "strip", "op": "toggle", "outlets": [1]})
    first = strip.commands()[1]["commands"]
    assert len(first) == 8
    for c in first:
        strip.ack(c["id"], True, "")
    assert len(strip.commands()[1]["commands"]) == 2


@pytest.mark.parametrize("command, error", [
    ({"device": "strip", "op": "on"}, "on needs outlets"),
    ({"device": "strip", "op": "shed", "outlets": [1], "class": 1}, "not both"),
    ({"device": "strip", "op": "off", "outlets": [1], "until": NEW_YEAR + 60}, "until goes with shed only"),
    ({"device": "strip", "op": "shed", "until": NEW_YEAR - 1}, "until is in the past"),
    ({"device": "strip", "op": "on", "outlets": [7]}, "no outlet 7"),
])
def test_commands_that_make_no_sense_are_refused(server, command, error):
    server.device()
    r = server.admin("POST", "/commands", command)
    assert r.status_code == 422 and error in r.text
    assert server.admin("POST", "/commands", {"device": "ghost", "op": "unshed"}).status_code == 404


def test_a_heartbeat_shows_in_the_device_record(server):
    strip = server.device()
    beat = {"version": "0.1.0+3f2a9c1e", "uptime": 3600, "heap": 6300, "shed": True,
            "outlets": [{"on": True, "why": "badge"}, {"on": False, "why": "held off: shed"}]}
    assert strip.request("POST", "/heartbeat", beat) == (200, {"ok": True, "time": NEW_YEAR})
    record = server.admin("GET", "/devices/strip").json()
    assert (record["last_seen"], record["state"], record["skew"]) == (NEW_YEAR, beat, 0)
    server.clock.now += 100
    strip.request("POST", "/heartbeat", beat, stamp=NEW_YEAR + 75)     # the board's clock 25 s late
    assert server.admin("GET", "/devices/strip").json()["skew"] == -25
    assert "secret" not in record and "secret" not in server.admin("GET", "/devices").text


def test_the_admin_api_needs_the_token(server):
    assert server.admin("GET", "/devices").status_code == 200
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        r = server.admin("GET", "/devices", token=token)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert server.admin("POST", "/badges", {"uid": ALICE, "owner": "Eve"}, token="wrong").status_code == 401
    assert server.admin("GET", "/badges").json() == []
    with TestClient(create_app(server.store, None)) as closed:
        r = closed.get("/api/v1/admin/devices", headers={"Authorization": "Bearer "})
        assert r.status_code == 401 and "off" in r.json()["detail"]


def test_badges_are_kept_only_as_keyed_hashes(server):
    alice = enrol(server, ALICE, "Alice")
    assert server.admin("GET", "/badges").json() == [{"hash": alice, "owner": "Alice", "enabled": True}]
    assert server.admin("POST", "/badges", {"uid": ALICE.lower(), "owner": "Alice again"}).status_code == 409
    with server.store.tx() as tx:
        for table in models.Base.metadata.sorted_tables:
            for row in tx.execute(select(table)):
                text = json.dumps([str(v) for v in row]).lower()
                assert ALICE.lower() not in text and SITE not in text
    with pytest.raises(Conflict):
        Store(server.db, "another-site-secret")


@pytest.mark.parametrize("written", ["04:D5:E6:F7:A1:B2:C3", "04 d5 e6 f7 a1 b2 c3", "04d5e6f7A1B2C3",
                                     "04D5:E6F7 A1B2C3"])
def test_a_uid_is_taken_with_or_without_colons_and_spaces(server, written):
    assert enrol(server, written, "Bob") == badge_hash(SITE, BOB)


@pytest.mark.parametrize("written", ["04A1B2", "04:A1:B2:C3:D4", "04::A1B2C3", "04A1B2C3 ", "G4A1B2C3", "04-A1-B2-C3"])
def test_a_uid_that_is_none_is_refused_in_plain_words(server, written):
    r = server.admin("POST", "/badges", {"uid": written, "owner": "Eve"})
    assert r.status_code == 422
    assert [e["msg"] for e in r.json()["detail"]] == ["a badge UID is 4, 7 or 10 bytes in hex, e.g. 04:A1:B2:C3"]


def test_a_badge_can_be_renamed_and_disabled_keeping_its_rules(server):
    strip = server.device()
    alice = enrol(server, ALICE, "Alice")
    add_rule(server, badge=alice, device="all")
    assert server.admin("PATCH", "/badges/" + alice, {"owner": "Alice B."}).json() == {
        "hash": alice, "owner": "Alice B.", "enabled": True}
    assert strip.authorize(alice)[1]["name"] == "Alice B."
    assert server.admin("PATCH", "/badges/" + alice, {"enabled": False}).json()["enabled"] is False
    assert strip.authorize(alice)[1] == {"allow": False, "outlets": [], "seconds": None, "name": "Alice B.",
                                         "reason": "disabled"}
    server.admin("PATCH", "/badges/" + alice, {"enabled": True})
    assert strip.authorize(alice)[1]["allow"] is True
    assert server.admin("PATCH", "/badges/" + "f" * 64, {"owner": "Nobody"}).status_code == 404
    assert server.admin("PATCH", "/badges/" + alice, {"owner": ""}).status_code == 422


def test_rules_can_be_changed_disabled_and_removed(server):
    strip = server.device()
    alice = enrol(server, ALICE, "Alice")
    rule = add_rule(server, badge=alice, device="all", outlets=[2])
    assert server.admin("PATCH", "/rules/%d" % rule, {"enabled": False}).json()["enabled"] is False
    assert strip.authorize(alice)[1]["reason"] == "disabled"
    r = server.admin("PATCH", "/rules/%d" % rule, {"enabled": True, "start": "08:00"})
    assert r.status_code == 422 and "start and end go together" in r.text
    changed = server.admin("PATCH", "/rules/%d" % rule, {"enabled": True, "outlets": [2, 4], "max_seconds": 60})
    assert changed.json() | {"id": 0} == {"id": 0, "badge": alice, "device": "all", "outlets": [2, 4], "days": None,
                                          "start": None, "end": None, "max_seconds": 60, "enabled": True}
    assert strip.authorize(alice)[1]["outlets"] == [2, 4]
    # a field a rule cannot have null cannot be set to null (the description says so too): left out, it is kept
    r = server.admin("PATCH", "/rules/%d" % rule, {"enabled": None})
    assert r.status_code == 422 and "Input should be a valid boolean" in r.text
    schema = server.http.get("/openapi.json").json()["components"]["schemas"]["RuleUpdate"]["properties"]
    assert schema["enabled"]["type"] == "boolean" and "anyOf" not in schema["enabled"]
    assert server.admin("DELETE", "/rules/%d" % rule).status_code == 204
    assert strip.authorize(alice)[1]["reason"] == "no rule"
    assert server.admin("POST", "/rules", {"badge": "f" * 64, "device": "all"}).status_code == 404
    assert server.admin("POST", "/rules", {"badge": "all", "device": "ghost"}).status_code == 404


def test_an_empty_rule_grants_nothing_a_rule_for_everyone_says_so(server):
    strip = server.device()
    alice = enrol(server, ALICE, "Alice")
    for empty in ({}, {"badge": alice}, {"device": "strip"}, {"badge": None, "device": None}):
        assert server.admin("POST", "/rules", empty).status_code == 422
    assert server.admin("GET", "/rules").json() == []
    assert strip.authorize(alice)[1]["reason"] == "no rule"
    assert server.admin("POST", "/devices", {"id": "all"}).status_code == 422     # "all" names every device
    add_rule(server, badge="all", device="all", outlets=[5])
    assert strip.authorize(alice)[1]["outlets"] == [5]


def test_removing_a_device_or_badge_keeps_its_sessions(server):
    strip = server.device()
    alice = enrol(server, ALICE, "Alice")
    add_rule(server, badge=alice, device="strip")
    strip.session("s-1", alice, 1, 1000, 1060, 2)
    assert server.admin("DELETE", "/badges/" + alice).status_code == 204
    assert server.admin("GET", "/rules").json() == []
    assert server.admin("DELETE", "/devices/strip").status_code == 204
    assert server.admin("DELETE", "/devices/strip").status_code == 404
    assert strip.request("GET", "/commands", check=False) == (401, {"error": "unknown device"})
    assert [(r["device"], r["count"]) for r in server.admin("GET", "/stats?by=device").json()] == [("strip", 1)]


def test_the_admin_command_line_works_on_the_database(server, capsys):
    db = ["--db", server.db, "--site-secret", SITE, "--tz", "UTC", "admin"]
    assert cli(db + ["device", "add", "desk", "--name", "Desk strip", "--power", "60,100,2000"]) == 0
    secret = capsys.readouterr().out.split()[-1]
    assert server.store.device_secret("desk") == secret
    assert cli(db + ["badge", "enrol", ALICE, "Alice"]) == 0
    assert capsys.readouterr().out.strip() == badge_hash(SITE, ALICE)
    assert cli(db + ["rule", "add", "--badge", ALICE, "--device", "desk", "--outlets", "1,3", "--days", "wed-fri",
                     "--hours", "22:00-06:00", "--max-seconds", "900"]) == 0
    (rule,) = server.store.rules()
    assert (rule.badge, rule.outlets, rule.days, rule.start, rule.end, rule.max_seconds) == (
        badge_hash(SITE, ALICE), [1, 3], [3, 4, 5], "22:00", "06:00", 900)
    desk = DeviceClient(transport_for(server.http), "desk", secret, server.clock)
    assert desk.authorize(badge_hash(SITE, ALICE))[1]["outlets"] == [1, 3]      # Thursday 00:00: Wednesday's night
    assert cli(db + ["rule", "disable", str(rule.id)]) == 0
    assert desk.authorize(badge_hash(SITE, ALICE))[1]["reason"] == "disabled"
    assert cli(db + ["command", "send", "desk", "shed", "--class", "2", "--for", "600"]) == 0
    assert [(c["op"], c["class"]) for c in desk.commands()[1]["commands"]] == [("shed", 2)]
    desk.session("x", badge_hash(SITE, ALICE), 3, 100, 400, 7.5)
    capsys.readouterr()
    assert cli(db + ["stats", "--by", "outlet"]) == 0
    assert capsys.readouterr().out.split("\n")[1].split() == ["desk", "3", "-", "-", "-", "1", "300", "7.5", "0.0",
                                                              "7.5"]
    assert cli(db + ["stats", "--since", "1970-01-01T00:05", "--until", "1970-01-01T00:10"]) == 0
    assert capsys.readouterr().out == "(none)\n"      # the session started at 00:01:40
    assert cli(db + ["sessions", "--device", "desk"]) == 0
    assert capsys.readouterr().out.split("\n")[1].split()[:4] == ["x", "desk", badge_hash(SITE, ALICE)[:12], "Alice"]
    assert cli(db + ["command", "send", "desk", "on", "--outlets", "4"]) == 1
    assert "device desk has 3 outlets: no outlet 4" in capsys.readouterr().err
    assert cli(db + ["badge", "enrol", "XYZ", "Bob"]) == 2
    assert "uid: a badge UID is 4, 7 or 10 bytes in hex, e.g. 04:A1:B2:C3" in capsys.readouterr().err
    assert cli(db + ["badge", "enrol", "04:d5:e6:f7:a1:b2:c3", "Bob"]) == 0
    assert capsys.readouterr().out.strip() == badge_hash(SITE, BOB)
    assert cli(db + ["badge", "rename", badge_hash(SITE, BOB), "Robert"]) == 0
    assert cli(db + ["badge", "disable", badge_hash(SITE, BOB)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[1:] == ["Robert", "no"]
    assert cli(db + ["rule", "add", "--badge", "04 D5 E6 F7 A1 B2 C3", "--device", "desk"]) == 0
    assert desk.authorize(badge_hash(SITE, BOB))[1]["reason"] == "disabled"
    assert cli(db + ["device", "remove", "ghost"]) == 1
    assert cli(db + ["rule", "add", "--badge", "alice", "--device", "desk", "--outlets", "2"]) == 0  # by its owner
    assert server.store.rules()[-1].badge == badge_hash(SITE, ALICE)
    with pytest.raises(SystemExit, match="--badge Carol: no such owner"):
        cli(db + ["rule", "add", "--badge", "Carol", "--device", "desk"])
    with pytest.raises(SystemExit, match="needs the site secret: give it with --site-secret"):
        cli(["--db", server.db, "--tz", "UTC", "admin", "badge", "enrol", "04:11:22:33", "Dan"])


def test_the_admin_command_line_names_its_database_and_speaks_json(server, capsys, monkeypatch):
    monkeypatch.setenv("MULTIPRISE_DB", server.db)          # the database from the variable, as a script sets it
    common = ["--site-secret", SITE, "--tz", "UTC", "admin"]
    assert cli(common + ["--json", "device", "add", "desk", "--power", "60,100"]) == 0
    out, err = capsys.readouterr()
    created = json.loads(out)[0]
    assert created["id"] == "desk" and server.store.device_secret("desk") == created["secret"]
    assert err == "multiprise server admin: database %s\n" % server.db
    assert cli(common + ["--json", "badge", "enrol", ALICE, "Alice"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"hash": badge_hash(SITE, ALICE), "owner": "Alice",
                                                    "enabled": True}]
    assert cli(common + ["rule", "add", "--badge", ALICE, "--device", "all", "--days", "sat,sun"]) == 0
    capsys.readouterr()
    assert cli(common + ["--json", "rule", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == server.admin("GET", "/rules").json()
    assert cli(common + ["command", "send", "desk", "shed", "--for", "600"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:6] == ["id", "device", "op", "outlets", "class", "until"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", table[1].split()[5])      # for a person: times as dates
    assert cli(common + ["rule", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1:6] == [badge_hash(SITE, ALICE)[:12], "Alice", "all", "-",
                                                                     "sat,sun"]  # a short hash, its owner


def test_a_database_from_before_badges_could_be_disabled_gets_the_new_columns(database):  # noqa: F811
    old = Store(database, SITE)
    old.enrol(BadgeIn(uid=ALICE, owner="Alice"))
    with old.tx.begin() as tx:
        tx.execute(text("ALTER TABLE badges DROP COLUMN enabled"))
        tx.execute(text("ALTER TABLE devices DROP COLUMN skew"))
    old.close()
    store = Store(database, SITE)
    assert [(b.owner, b.enabled) for b in store.badges()] == [("Alice", True)]
    store.add_device(DeviceIn(id="hall"))
    assert store.device("hall").skew is None
    store.close()
