"""Measured power and energy at the central server, on SQLite and on a real PostgreSQL: a board's heartbeats over
simulated days give each UTC day's energy, for the strip and each outlet; a counter the board started again counts no
negative energy; the raw points go after 48 hours and the days stay; an old board's heartbeat works as before; the
sessions' statistics split measured and estimated energy; bad values are refused."""
import json
import threading

import pytest
from sqlalchemy import func, select, text

from serverkit import NEW_YEAR, SITE, database, in_process, postgres  # noqa: F401 (fixtures)
from tools.server import models
from tools.server.cli import main as cli
from tools.server.schemas import DeviceIn, HeartbeatIn, OutletState, SessionIn
from tools.server.store import READINGS_KEEP_S, Store

HOUR, DAY = 3600, 86400


@pytest.fixture
def server(database):  # noqa: F811
    yield from in_process(database)


def beat(strip, energy_wh, outlets, measured=True, power_w=None):
    """A heartbeat with the strip's counter and each outlet's as (power_w, energy_wh)."""
    status, answer = strip.heartbeat(outlets=[{"on": bool(p), "why": "badge", "power_w": p, "energy_wh": e}
                                              for p, e in outlets], power_w=power_w, energy_wh=energy_wh,
                                     measured=measured)
    assert status == 200, answer


def energy(server, query="", device="strip"):
    """{(day, outlet): (energy_wh, source)} as the admin API gives it."""
    r = server.admin("GET", "/devices/%s/energy%s" % (device, query))
    assert r.status_code == 200, r.text
    return {(row["day"], row["outlet"]): (round(row["energy_wh"], 6), row["source"]) for row in r.json()}


def readings_kept(server):
    with server.store.tx() as tx:
        return tx.scalar(select(func.count()).select_from(models.Reading))


def test_heartbeats_over_several_days_give_each_utc_days_energy_for_the_strip_and_each_outlet(server):
    strip = server.device(power=[100, 500])
    # outlet 1 draws 100 W all the time, outlet 2 500 W from 08:00 to 18:00 UTC; a heartbeat every half hour for
    # three days, none from 12:00 to 15:00 on the second day (a gap is fine: the next one counts it)
    one = two = 0.0
    for k in range(3 * 48):
        t = NEW_YEAR + k * 1800
        hour = (t % DAY) / HOUR
        one += 50 if k else 0
        two += 250 if k and 8 < hour <= 18 else 0
        if DAY + 12 * HOUR < t - NEW_YEAR < DAY + 15 * HOUR:
            continue
        server.clock.now = t
        beat(strip, one + two, [(100, one), (500 if 8 <= hour < 18 else 0, two)], power_w=600 if 8 <= hour < 18
             else 100)
    days = energy(server)
    # the first heartbeat gives the counters' start: the first day counts 47 half hours, the others 48; the half
    # hour to midnight is counted on the day that follows, that of the heartbeat that reports it
    assert days == {
        ("2026-01-01", None): (2350 + 5000, "measured"), ("2026-01-01", 1): (2350, "measured"),
        ("2026-01-01", 2): (5000, "measured"),
        ("2026-01-02", None): (2400 + 5000, "measured"), ("2026-01-02", 1): (2400, "measured"),
        ("2026-01-02", 2): (5000, "measured"),
        ("2026-01-03", None): (2400 + 5000, "measured"), ("2026-01-03", 1): (2400, "measured"),
        ("2026-01-03", 2): (5000, "measured")}
    assert sum(wh for (_, outlet), (wh, _) in days.items() if outlet is None) == one + two     # all of it
    assert set(energy(server, "?since=2026-01-02&until=2026-01-02")) == {
        ("2026-01-02", None), ("2026-01-02", 1), ("2026-01-02", 2)}
    rows = server.admin("GET", "/devices/strip/energy?since=2026-01-03").json()
    assert rows[0] == {"day": "2026-01-03", "outlet": None, "energy_wh": 7400.0, "energy_wh_measured": 7400.0,
                       "energy_wh_estimated": 0.0, "source": "measured"}
    # the series: the latest points, oldest first, for the strip or one outlet
    series = server.admin("GET", "/devices/strip/series?limit=3").json()
    assert [(p["time"], p["outlet"], p["power_w"], p["energy_wh"], p["measured"]) for p in series] == [
        (server.clock.now - 3600, None, 100.0, one + two - 100, True),
        (server.clock.now - 1800, None, 100.0, one + two - 50, True),
        (server.clock.now, None, 100.0, one + two, True)]
    series = server.admin("GET", "/devices/strip/series?outlet=2&since=%d&until=%d" % (
        NEW_YEAR + 2 * DAY + 8 * HOUR, NEW_YEAR + 2 * DAY + 9 * HOUR)).json()
    assert [(p["time"] - NEW_YEAR - 2 * DAY, p["outlet"], p["power_w"]) for p in series] == [
        (8 * HOUR, 2, 500.0), (8 * HOUR + 1800, 2, 500.0)]


def test_a_counter_the_board_started_again_counts_from_zero_never_negative(server):
    strip = server.device(power=[100])
    for counter, outlet in ((1000, 400), (1150, 450), (20, 5), (30, 12), (0, 0), (7, 2)):
        beat(strip, counter, [(100, outlet)])
        server.clock.now += 600
    # 150 + 20 (restarted at 0, now 20) + 10 + 0 (restarted, now 0) + 7; the outlet: 50 + 5 + 7 + 0 + 2
    assert energy(server) == {("2026-01-01", None): (187, "measured"), ("2026-01-01", 1): (64, "measured")}


def test_the_same_counter_sent_by_several_requests_at_once_is_counted_once(server):
    server.device(power=[100])
    together = threading.Barrier(4)

    def board():       # as a board that sends a heartbeat again before the first is answered
        for counter in range(1, 31):
            together.wait()
            server.store.heartbeat("strip", HeartbeatIn(version="1", uptime=1, heap=1, shed=False, energy_wh=counter,
                                                        outlets=[OutletState(on=True, why="badge", energy_wh=counter)]))

    threads = [threading.Thread(target=board) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert energy(server) == {("2026-01-01", None): (29, "estimated"), ("2026-01-01", 1): (29, "estimated")}


def test_the_days_energy_says_whether_it_was_measured_estimated_or_both(server):
    strip = server.device(power=[100])
    for day, kinds in enumerate(((True, True), (False, False), (True, False))):
        server.clock.now = NEW_YEAR + day * DAY + HOUR
        for measured in kinds:
            beat(strip, 10.0 * server.clock.now / HOUR, [(100, 5.0 * server.clock.now / HOUR)], measured=measured)
            server.clock.now += HOUR
    rows = server.admin("GET", "/devices/strip/energy").json()
    assert [(r["day"], r["outlet"], r["energy_wh_measured"], r["energy_wh_estimated"], r["source"]) for r in rows] == [
        ("2026-01-01", None, 10.0, 0.0, "measured"), ("2026-01-01", 1, 5.0, 0.0, "measured"),
        ("2026-01-02", None, 0.0, 240.0, "estimated"), ("2026-01-02", 1, 0.0, 120.0, "estimated"),
        ("2026-01-03", None, 230.0, 10.0, "mixed"), ("2026-01-03", 1, 115.0, 5.0, "mixed")]


def test_points_older_than_48_hours_are_deleted_and_the_days_energy_stays(server):
    strip = server.device(power=[100])
    for k in range(73):         # hourly, three days
        server.clock.now = NEW_YEAR + k * HOUR
        beat(strip, 100.0 * k, [(100, 100.0 * k)], power_w=100)
    now = server.clock.now
    assert READINGS_KEEP_S == 48 * HOUR
    points = server.admin("GET", "/devices/strip/series?since=0&limit=10000").json()
    assert [p["time"] for p in points] == list(range(now - 48 * HOUR, now + 1, HOUR))
    assert readings_kept(server) == 2 * 49          # the strip and its outlet: the table holds no more
    days = energy(server)
    assert [days[(day, None)][0] for day in ("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04")] == [
        2300, 2400, 2400, 100]
    server.clock.now += 49 * HOUR
    beat(strip, 7300, [(100, 7300)], power_w=100)
    assert [p["time"] for p in server.admin("GET", "/devices/strip/series?since=0").json()] == [server.clock.now]
    assert energy(server)[("2026-01-06", None)] == (100, "measured")       # the increase since the last one
    assert len(energy(server)) == 10


def test_a_heartbeat_without_the_power_fields_works_as_before_and_keeps_nothing(server):
    strip = server.device()
    beat_of_old = {"version": "0.1.0", "uptime": 60, "heap": 6000, "shed": False, "outlets": [{"on": True,
                                                                                                "why": "badge"}]}
    for _ in range(2):
        server.clock.now += 60
        assert strip.request("POST", "/heartbeat", beat_of_old) == (200, {"ok": True, "time": server.clock.now})
    assert server.admin("GET", "/devices/strip").json()["state"] == beat_of_old
    assert server.admin("GET", "/devices/strip/series").json() == []
    assert server.admin("GET", "/devices/strip/energy").json() == []
    assert readings_kept(server) == 0


def test_a_board_that_gives_power_and_no_counter_has_a_series_and_no_energy(server):
    strip = server.device()
    assert strip.heartbeat(outlets=[{"on": True, "why": "badge", "power_w": 60}], power_w=61.5, volts=229.8,
                           amps=0.27, pf=0.99)[0] == 200
    state = server.admin("GET", "/devices/strip").json()["state"]     # what the board said, as it said it
    assert (state["power_w"], state["volts"], state["amps"], state["pf"], state["outlets"][0]["power_w"]) == (
        61.5, 229.8, 0.27, 0.99, 60)
    assert [(p["power_w"], p["energy_wh"], p["measured"]) for p in server.admin(
        "GET", "/devices/strip/series").json()] == [(61.5, None, False)]
    assert server.admin("GET", "/devices/strip/energy").json() == []


def test_a_removed_device_loses_its_points_and_keeps_its_days(server):
    strip = server.device()
    for counter in (10, 25):
        beat(strip, counter, [])
        server.clock.now += 60
    assert server.admin("DELETE", "/devices/strip").status_code == 204
    assert readings_kept(server) == 0
    assert server.admin("GET", "/devices/strip/series").status_code == 404
    assert energy(server) == {("2026-01-01", None): (15, "measured")}
    for path in ("/devices/ghost/energy", "/devices/ghost/series"):
        assert server.admin("GET", path).status_code == 404


@pytest.mark.parametrize("query", ["series?limit=0", "series?limit=10001", "series?outlet=9", "series?outlet=0",
                                   "series?since=-1", "energy?since=2026-02-30", "energy?until=yesterday"])
def test_a_wrong_query_is_refused(server, query):
    server.device()
    r = server.admin("GET", "/devices/strip/" + query)
    assert r.status_code == 422, r.text


def test_the_sessions_statistics_split_measured_and_estimated_energy(server):
    hall = server.device("hall", power=[100, 100])
    alice = "a" * 64
    assert hall.session("m-1", alice, 1, NEW_YEAR, NEW_YEAR + 600, 12.5, measured=True)[1]["ok"] is True
    hall.session("e-1", alice, 1, NEW_YEAR + 700, NEW_YEAR + 800, 2.0, measured=False)
    hall.session("o-1", alice, 2, NEW_YEAR + DAY, NEW_YEAR + DAY + 60, 1.0)        # a board without the chip
    assert hall.session("m-1", alice, 1, NEW_YEAR, NEW_YEAR + 600, 12.5, measured=False) == (
        409, {"error": "session id m-1 was already used for another session"})

    def stats(by):
        rows = server.admin("GET", "/stats?by=" + by).json()
        return [(r["outlet"] or r["day"], r["count"], r["energy_wh"], r["energy_wh_measured"],
                 r["energy_wh_estimated"]) for r in rows]

    assert stats("badge") == [(None, 3, 15.5, 12.5, 3.0)]
    assert stats("device") == [(None, 3, 15.5, 12.5, 3.0)]
    assert stats("outlet") == [(1, 2, 14.5, 12.5, 2.0), (2, 1, 1.0, 0.0, 1.0)]
    assert stats("day") == [("2026-01-01", 2, 14.5, 12.5, 2.0), ("2026-01-02", 1, 1.0, 0.0, 1.0)]
    listed = server.admin("GET", "/sessions?device=hall").json()
    assert [(s["key"], s["measured"]) for s in listed] == [("o-1", False), ("e-1", False), ("m-1", True)]


GOOD = {"version": "1", "uptime": 1, "heap": 1, "shed": False, "outlets": [{"on": True, "why": "badge"}]}


@pytest.mark.parametrize("change, error", [
    ({"power_w": -1}, "power_w: Input should be greater than or equal to 0"),
    ({"power_w": 100001}, "power_w: Input should be less than or equal to 100000"),
    ({"power_w": "100"}, "power_w: Input should be a valid number"),
    ({"power_w": True}, "power_w: Input should be a valid number"),
    ({"energy_wh": -0.1}, "energy_wh: Input should be greater than or equal to 0"),
    ({"energy_wh": 1e12}, "energy_wh: Input should be less than or equal to 1000000000"),
    ({"energy_wh": [1]}, "energy_wh: Input should be a valid number"),
    ({"measured": "yes"}, "measured: Input should be a valid boolean"),
    ({"measured": 1}, "measured: Input should be a valid boolean"),
    ({"pf": 1.5}, "pf: Input should be less than or equal to 1"),
    ({"pf": -1.01}, "pf: Input should be greater than or equal to -1"),
    ({"volts": -230}, "volts: Input should be greater than or equal to 0"),
    ({"amps": 1e6}, "amps: Input should be less than or equal to 1000"),
    ({"watts": 5}, "watts: Extra inputs are not permitted"),
    ({"outlets": [{"on": True, "why": "badge", "power_w": -5}]},
     "outlets.0.power_w: Input should be greater than or equal to 0"),
    ({"outlets": [{"on": True, "why": "badge", "energy_wh": "12"}]},
     "outlets.0.energy_wh: Input should be a valid number"),
    ({"outlets": [{"on": True, "why": "badge", "power_w": 60}] * 9},
     "outlets: List should have at most 8 items after validation, not 9"),
])
def test_bad_power_values_are_refused_with_a_signed_422_and_change_nothing(server, change, error):
    strip = server.device()
    assert strip.request("POST", "/heartbeat", GOOD | change) == (422, {"error": error})
    assert server.admin("GET", "/devices/strip").json()["last_seen"] is None
    assert readings_kept(server) == 0


NOT_JSON, INFINITE = "body: not JSON", "Input should be a finite number"


@pytest.mark.parametrize("number, refusal", [("NaN", NOT_JSON), ("Infinity", NOT_JSON), ("-Infinity", NOT_JSON),
                                             ("1e400", INFINITE), ("-1e400", INFINITE)])
def test_numbers_that_json_has_not_are_refused(server, number, refusal):
    strip = server.device()
    head = '{"version":"1","uptime":1,"heap":1,"shed":false,'
    for tail in ('"outlets":[],"power_w":%s}', '"outlets":[],"energy_wh":%s}', '"outlets":[],"pf":%s}',
                 '"outlets":[{"on":true,"why":"badge","energy_wh":%s}]}'):
        status, answer = strip.request("POST", "/heartbeat", (head + tail % number).encode())
        assert status == 422 and refusal in answer["error"], answer
    session = '{"id":"s","badge":"%s","outlet":1,"start":1,"end":2,"energy_wh":%s}' % ("a" * 64, number)
    assert strip.request("POST", "/sessions", session.encode())[0] == 422
    assert server.admin("GET", "/devices/strip").json()["last_seen"] is None
    assert readings_kept(server) == 0 and server.admin("GET", "/sessions").json() == []


def test_the_command_line_shows_a_devices_series_and_energy(server, capsys):
    strip = server.device(power=[100, 100])
    for counter in (100, 160):
        beat(strip, counter, [(60, counter / 2), (0, 0)], power_w=60)
        server.clock.now += 60
    db = ["--db", server.db, "--site-secret", SITE, "--tz", "UTC", "admin"]
    capsys.readouterr()
    assert cli(db + ["energy", "strip", "--since", "2026-01-01"]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        ["day", "outlet", "energy_wh", "energy_wh_measured", "energy_wh_estimated", "source"],
        ["2026-01-01", "-", "60.0", "60.0", "0.0", "measured"],
        ["2026-01-01", "1", "30.0", "30.0", "0.0", "measured"],
        ["2026-01-01", "2", "0.0", "0.0", "0.0", "measured"]]
    assert cli(db + ["series", "strip", "--outlet", "1", "--limit", "1"]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        ["time", "outlet", "power_w", "energy_wh", "measured"], ["2026-01-01", "00:01:00", "1", "60.0", "80.0", "yes"]]
    assert cli(db + ["--json", "energy", "strip", "--until", "2025-12-31"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli(db + ["energy", "ghost"]) == 1
    assert "no device 'ghost'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(db + ["energy", "strip", "--since", "January"])


def test_a_database_from_before_metering_gets_its_tables_and_columns(database):  # noqa: F811
    old = Store(database, SITE)
    old.add_device(DeviceIn(id="hall"))
    old.record_session("hall", SessionIn(id="k", badge="a" * 64, outlet=1, start=10, end=70, energy_wh=1.5))
    with old.tx.begin() as tx:
        tx.execute(text("ALTER TABLE sessions DROP COLUMN measured"))
        tx.execute(text("DROP TABLE readings"))
        tx.execute(text("DROP TABLE energy_days"))
    old.close()
    store = Store(database, SITE)
    assert [(s.key, s.energy_wh, s.measured) for s in store.sessions()] == [("k", 1.5, False)]
    assert [(r.energy_wh, r.energy_wh_measured, r.energy_wh_estimated) for r in store.stats("device")] == [
        (1.5, 0.0, 1.5)]
    assert store.series("hall") == [] and store.energy_days("hall") == []
    store.close()
