"""An update uploaded on the board's page (POST /api/update): the file `multiprise bundle` builds is written into
stage/ as it comes, and the board installs it at its restart as a push's (the same trial and rollback), from /lib or
into its ROMFS partition; the outlets keep their state. An update refused (no session, no CSRF header, damaged, cut,
a file it may not write) leaves nothing staged and the app running."""
import hashlib
import http.client
import json
import socket

import pytest
from conftest import LAB, read_json, ready
from test_deploy import port
from test_push import manifest, status
from test_push_romfs import escaped
from test_push_romfs import romfs as rom_image
from test_web import call, login, set_password, until

from tools import deploy
from tools.build import next_version


def web_board(vboard, romfs):
    """A board set up over USB with the web server (so with a manifest), its web password set; (bench, bearer and CSRF
    headers). With romfs, the reference board: the firmware in its ROMFS partition, an ESP8266's heap; without, the
    firmware in /lib, on a heap with room for its bytecode and a login (96k)."""
    b = vboard({"wifi": LAB, "web": {}}, romfs=romfs or None, heap=None if romfs else "96k")
    ready(b)
    m = b.serial.mark()
    deploy.deploy(port(b), wait=10, romfs=bool(romfs))
    ready(b, since=m)
    set_password(b)
    return b, {"Authorization": "Bearer " + login(b), "X-Multiprise": "1"}


def upload(b, data, headers):
    """(status, answer) of POST /api/update with data as its body."""
    h = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=60)
    try:
        h.request("POST", "/api/update", body=data, headers=headers)
        r = h.getresponse()
        return r.status, json.loads(r.read())
    finally:
        h.close()


def upload_as_curl(b, data, headers):
    """(status, answer) of POST /api/update as curl sends it: the head with `Expect: 100-continue`, the body only once
    the board has answered `100 Continue` (curl otherwise waits a second before sending it anyway)."""
    s = socket.create_connection(("127.0.0.1", b.http_port), timeout=60)
    try:
        s.sendall(b"POST /api/update HTTP/1.1\r\nHost: board\r\n%sContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                  % (b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items()), len(data)))
        f = s.makefile("rb")
        assert f.readline() == b"HTTP/1.1 100 Continue\r\n" and f.readline() == b"\r\n"
        s.sendall(data)
        r = http.client.HTTPResponse(s)
        r.begin()
        return r.status, json.loads(r.read())
    finally:
        s.close()


def records(data):
    """The bundle's records: [kind, path, bytes]."""
    out, i = [], data.index(b"\n") + 1
    while data[i:i + 4] != b"END\n":
        j = data.index(b"\n", i)
        kind, path, n, _ = data[i:j].decode().split(" ")
        out.append([kind, path, data[j + 1:j + 1 + int(n)]])
        i = j + 1 + int(n)
    return out


def made(version, recs):
    """A bundle of those records."""
    return b"MPU1 %s\n" % version.encode() + b"".join(b"%s %s %d %s\n%s" % (
        k.encode(), p.encode(), len(d), hashlib.sha256(d).hexdigest().encode(), d) for k, p, d in recs) + b"END\n"


@pytest.mark.parametrize("romfs", [None, "320k"], ids=["lib", "romfs"])
def test_the_page_uploads_an_update_and_the_board_installs_it_as_a_push(vboard, release, romfs):
    b, auth = web_board(vboard, romfs)
    before = read_json(b.board_dir / "deploy.json")["version"]
    old = romfs and rom_image(b)
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    moves = len(b.relay_history)
    release("firmware/__init__.py", next_version()[0])
    path, version = deploy.bundle()
    m = b.serial.mark()
    status_code, answer = upload_as_curl(b, path.read_bytes(), auth)
    assert status_code == 200 and answer["version"] == version, answer
    b.serial.expect(r"app: restarting \(a soft reset", 10, since=m)
    b.serial.expect(r"update: %s installed \(was %s\)" % (escaped(version), escaped(before)), 20, since=m)
    ready(b, since=m)
    b.serial.expect(r"update: %s runs" % escaped(version), 5, since=m)
    assert b.relay_history[moves:] == []  # a soft reset: outlet 2 never went off
    assert not (b.board_dir / "stage").exists()
    assert read_json(b.board_dir / "update.json")["state"] == "ok"
    assert "multiprise %s (installed, was %s):" % (version, before) in status(b)
    if romfs:
        assert rom_image(b)["sha256"] != old["sha256"] and not (b.board_dir / "lib" / "firmware").exists()
    else:
        assert (b.board_dir / "lib.prev" / "firmware" / "app.mpy").exists()  # the previous version, kept
        assert "lib/umqtt/simple.mpy" in manifest(b)
    copied, removed = deploy.deploy(port(b), reset=False, romfs=bool(romfs))  # the manifest says what came
    assert copied == [] and removed == []


def test_an_update_refused_leaves_nothing_staged_and_the_app_running(vboard):
    b, auth = web_board(vboard, None)
    path, version = deploy.bundle()
    good = path.read_bytes()
    recs = records(good)
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    moves = len(b.relay_history)
    m = b.serial.mark()
    assert upload(b, good, {"X-Multiprise": "1"})[0] == 401  # no session
    cookie = {"Cookie": "mp=" + auth["Authorization"][7:]}
    assert upload(b, good, cookie)[0] == 403  # a page of another site: the cookie, not the CSRF header
    damaged = [list(r) for r in recs]
    damaged[3][2] = damaged[3][2][:-1] + bytes([damaged[3][2][-1] ^ 1])
    bad = made(version, damaged).replace(hashlib.sha256(damaged[3][2]).hexdigest().encode(),
                                         hashlib.sha256(recs[3][2]).hexdigest().encode())
    for body, why in [
            (bad, "damaged"),
            (made(version, recs + [["all", "../config.json", b"{}"]]), "may not write"),
            (made(version, recs + [["all", "webpass.json", b"{}"]]), "may not write"),
            (good[:len(good) // 2], "ends before its end"),
            (good + b"more", "after its end"),
            (b"GIF89a" + good[6:], "not an update"),
            (b"MPU1 x\n" + b"y" * 300, "too long"),
            (b"MPU1 x\nall boot.py 9999999 " + b"0" * 64 + b"\n", "ends before its end")]:
        code, answer = upload(b, body, auth)
        assert code == 400 and why in answer["error"], (why, code, answer)
        assert not (b.board_dir / "stage").exists()
    s = socket.create_connection(("127.0.0.1", b.http_port), timeout=30)  # a page closed half-way
    s.sendall(b"POST /api/update HTTP/1.1\r\nAuthorization: %s\r\nX-Multiprise: 1\r\nContent-Length: %d\r\n\r\n" % (
        auth["Authorization"].encode(), len(good)) + good[:len(good) // 3])
    s.close()
    until("the cut upload removed", lambda: not (b.board_dir / "stage").exists())
    assert call(b, "GET", "/api/state", headers=auth)[0] == 200  # still serving
    assert b.relay_history[moves:] == []
    said = b.serial.text(m)
    assert "restarting" not in said and "Traceback" not in said and "installed" not in said
