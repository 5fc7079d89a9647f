"""`multiprise server` as a user starts it: a real process on a real port, on SQLite and on PostgreSQL, the demo
site the virtual board uses, the admin command line, and no secret in its output."""
import http.client
import json
import subprocess
import sys
import time

from serverkit import ROOT, database, postgres, server_process  # noqa: F401 (fixtures)
from tools.server import demo
from tools.server.client import DeviceClient, http_transport
from tools.server.signing import badge_hash


def admin(port, method, path, token, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, "/api/v1/admin" + path, body=None if body is None else json.dumps(body),
                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def test_the_demo_site_answers_a_board(database):  # noqa: F811
    with server_process("--db", database, "--demo") as (port, proc):
        strip = DeviceClient(http_transport("127.0.0.1", port), demo.DEVICE_ID, demo.DEVICE_SECRET)
        for badge in demo.BADGES:
            status, answer = strip.authorize(badge_hash(demo.SITE_SECRET, badge.uid))
            assert status == 200 and answer["allow"] is badge.allowed and answer["name"] == badge.owner
            if badge.allowed:
                assert answer["outlets"] == (badge.outlets or [1, 2, 3, 4, 5, 6])
                assert answer["seconds"] == badge.seconds
        now = int(time.time())
        status, answer = strip.heartbeat(uptime=5, outlets=[{"on": False, "why": "power-on off"}] * 6)
        assert status == 200 and abs(answer["time"] - now) <= 2
        alice = badge_hash(demo.SITE_SECRET, demo.BADGES[0].uid)
        assert strip.session("demo-1", alice, 2, now - 90, now, 2.5)[1] == {"ok": True, "duplicate": False}
        assert admin(port, "GET", "/stats?by=badge", demo.ADMIN_TOKEN) == (200, [{
            "device": None, "outlet": None, "badge": alice, "owner": "Alice", "day": None, "count": 1, "seconds": 90,
            "energy_wh": 2.5, "energy_wh_measured": 0.0, "energy_wh_estimated": 2.5}])
    out = proc.stdout.read()
    assert "demo: device demo-strip, device secret %s, site secret %s" % (demo.DEVICE_SECRET, demo.SITE_SECRET) in out
    # A second start on the same database sets the demo up again without doubling anything.
    with server_process("--db", database, "--demo") as (port, proc):
        assert len(admin(port, "GET", "/rules", demo.ADMIN_TOKEN)[1]) == 2
        assert len(admin(port, "GET", "/badges", demo.ADMIN_TOKEN)[1]) == 3


def test_secrets_stay_out_of_the_output(tmp_path):
    db, token, site = str(tmp_path / "site.db"), "token-not-to-be-seen", "site-secret-not-to-be-seen"
    with server_process("--db", db, "--site-secret", site, "--access-log",
                        env={"MULTIPRISE_ADMIN_TOKEN": token}) as (port, proc):
        status, created = admin(port, "POST", "/devices", token, {"id": "hall"})
        assert status == 201
        assert admin(port, "POST", "/badges", token, {"uid": "04C0FFEE", "owner": "Carol"})[0] == 201
        assert admin(port, "GET", "/devices", "wrong")[0] == 401
        hall = DeviceClient(http_transport("127.0.0.1", port), "hall", created["secret"])
        assert hall.authorize(badge_hash(site, "04C0FFEE"))[1]["reason"] == "no rule"
    out = proc.stdout.read()
    assert "POST /api/v1/device/authorize" in out
    for secret in (token, site, created["secret"], "04C0FFEE"):
        assert secret not in out
    listing = subprocess.run([sys.executable, "-m", "tools.server", "--db", db, "admin", "badge", "list"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert listing.split() == ["hash", "owner", "enabled", badge_hash(site, "04C0FFEE")[:12], "Carol", "yes"]
