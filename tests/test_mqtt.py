"""MQTT and Home Assistant, end to end: the real firmware on the virtual board, a real Mosquitto (tools/broker.py) with
a password file, and paho-mqtt standing where Home Assistant would; a hostile broker is a plain TCP server here."""
import json
import random
import re
import socket
import threading
import time

import pytest
from conftest import LAB, days_not_today, ready

from tools.server import demo
from tools.server.signing import badge_hash

CLIENT = "test-strip"
PREFIX = "multiprise/" + CLIENT
NAMES = ["Lamp", "Desk", "Heater", None, "Router", None]  # None: left "Outlet N", no Home Assistant entity
WATTS = [60, 40, 2000, 0, 10, 0]

# Home Assistant's abbreviations of discovery keys (its MQTT integration, abbreviations.py), those a board could send
ABBREVIATIONS = {"~": "~", "name": "name", "uniq_id": "unique_id", "avty_t": "availability_topic",
                 "stat_t": "state_topic", "cmd_t": "command_topic", "val_tpl": "value_template",
                 "unit_of_meas": "unit_of_measurement", "dev_cla": "device_class", "stat_cla": "state_class",
                 "ent_cat": "entity_category", "ic": "icon", "dev": "device", "pl_on": "payload_on",
                 "pl_off": "payload_off", "pl_avail": "payload_available", "pl_not_avail": "payload_not_available"}
DEVICE_ABBREVIATIONS = {"ids": "identifiers", "name": "name", "mf": "manufacturer", "mdl": "model",
                        "sw": "sw_version"}
REQUIRED = {"switch": ("command_topic",), "sensor": ("state_topic",), "binary_sensor": ("state_topic",)}
# The units Home Assistant's sensor accepts for a device class (sensor/const.py, DEVICE_CLASS_UNITS)
UNITS = {"power": {"W", "kW"}, "energy": {"Wh", "kWh", "MWh"}, "signal_strength": {"dB", "dBm"},
         "data_size": {"B", "kB", "KiB", "MB", "MiB"}}


def board_config(broker, **mqtt):
    outlets = [dict({"watts": w}, **({"name": n} if n else {})) for n, w in zip(NAMES, WATTS, strict=True)]
    return {"name": "workshop", "wifi": LAB, "outlets": outlets,
            "mqtt": broker.board_config(**dict({"client_id": CLIENT}, **mqtt))}


def connected(vboard, broker, config=None, **mqtt):
    """A board started with MQTT (config, or board_config's), ready, connected to the broker and subscribed to its
    commands: its first outlet's state is published after its subscription."""
    b = vboard(config or board_config(broker, **mqtt))
    since = ready(b, 20).start()
    b.serial.expect(r"mqtt: connected to 127\.0\.0\.1:%d" % broker.port, 20, since=since)
    subscribed(broker)
    return b


def subscribed(broker):
    w = broker.client(topics=(PREFIX + "/outlet/1/state",))
    try:
        w.wait(PREFIX + "/outlet/1/state", timeout=30)
    finally:
        w.close()


def expand(config):
    """A discovery config with Home Assistant's abbreviations and its ~ (the base topic) expanded, as it reads it."""
    out = {}
    for k, v in config.items():
        assert k in ABBREVIATIONS, "a key Home Assistant does not know: %r" % k
        k = ABBREVIATIONS[k]
        if k == "device":
            assert set(v) <= set(DEVICE_ABBREVIATIONS), v
            v = {DEVICE_ABBREVIATIONS[d]: x for d, x in v.items()}
        out[k] = v
    base = out.pop("~", None)
    for k, v in out.items():
        if k.endswith("_topic") and base:
            out[k] = base + v[1:] if v.startswith("~") else v[:-1] + base if v.endswith("~") else v
    return out


def discovered(watcher, since=0, prefix="homeassistant"):
    """{(component, object id): expanded config, or None for an empty one}, from the retained configs seen."""
    found = {}
    with watcher.cond:
        messages = watcher.messages[since:]
    for topic, payload, _ in messages:
        m = re.fullmatch(r"%s/(\w+)/%s/(\w+)/config" % (re.escape(prefix), CLIENT), topic)
        if m:
            found[m.groups()] = expand(json.loads(payload)) if payload else None
    return found


def wait_discovery(watcher, since=0, timeout=30):
    watcher.wait("homeassistant/binary_sensor/%s/shed/config" % CLIENT, timeout=timeout, since=since)
    return discovered(watcher, since)


def test_discovery_gives_home_assistant_what_each_entity_requires_and_the_topics_work(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    found = wait_discovery(w)
    switches = {k[1]: v for k, v in found.items() if k[0] == "switch"}
    assert sorted(k for k, v in switches.items() if v) == ["outlet1", "outlet2", "outlet3", "outlet5"]
    assert [switches["outlet%d" % i] for i in (4, 6, 7, 8)] == [None] * 4  # unnamed or absent: removed
    entities = {k: v for k, v in found.items() if v}
    assert set(k[0] for k in entities) == {"switch", "sensor", "binary_sensor"}
    assert {k[1] for k in entities if k[0] == "sensor"} == {"power", "energy", "rssi", "heap"}
    ids = [v["unique_id"] for v in entities.values()]
    assert len(set(ids)) == len(ids)
    for (component, obj), c in entities.items():
        for key in REQUIRED[component]:
            assert c.get(key), "%s %s has no %s" % (component, obj, key)
        assert c["availability_topic"] == PREFIX + "/status"
        assert c["device"]["identifiers"] == [CLIENT] and c["device"]["name"] == "workshop"
        assert c["device"]["sw_version"] and c["device"]["manufacturer"]
        dc = c.get("device_class")
        if component == "sensor" and dc in UNITS:
            assert c["unit_of_measurement"] in UNITS[dc], c
    energy = entities[("sensor", "energy")]
    assert energy["device_class"] == "energy" and energy["state_class"] == "total_increasing"
    for i, name in enumerate(NAMES):
        if name:
            c = entities[("switch", "outlet%d" % (i + 1))]
            assert c["name"] == name
            assert w.wait(c["state_topic"], "OFF") == b"OFF"  # what the board publishes there
    # the switch's command topic is the one the board takes
    heater = entities[("switch", "outlet3")]
    m0 = w.mark()
    w.publish(heater["command_topic"], "ON")
    b.wait_relays([False, False, True, False, False, False])
    w.wait(heater["state_topic"], "ON", since=m0)
    # the sensors' values are in their state topic, where their templates look
    telemetry = json.loads(w.wait(entities[("sensor", "power")]["state_topic"], timeout=70, since=m0))
    for (component, _), c in entities.items():
        if component == "sensor":
            key = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", c["value_template"]).group(1)
            assert isinstance(telemetry[key], (int, float)), (key, telemetry)
    assert telemetry["estimate"] is True and len(telemetry["power_w"]) == 6
    assert w.wait(entities[("binary_sensor", "shed")]["state_topic"]) in (b"ON", b"OFF")


def test_discovery_off_removes_every_entity(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    assert len([v for v in wait_discovery(w).values() if v]) == 9
    b.power_cut()
    w2 = broker.client()
    m0 = w2.mark()  # after the retained configs of before
    connected(vboard, broker, discovery=False)
    w2.wait("homeassistant/binary_sensor/%s/shed/config" % CLIENT, b"", timeout=30, since=m0)
    found = discovered(w2, m0)
    assert len(found) == 13 and all(v is None for v in found.values())
    w3 = broker.client()  # what a Home Assistant that starts now finds: nothing left
    assert not [t for t, p, _ in w3.messages if t.startswith("homeassistant/") and p]


def test_discovery_goes_under_the_prefix_home_assistant_listens_to(vboard, broker):
    w = broker.client()
    connected(vboard, broker, discovery_prefix="home/ha")
    w.wait("home/ha/binary_sensor/%s/shed/config" % CLIENT, timeout=30)
    found = discovered(w, prefix="home/ha")
    assert len([v for v in found.values() if v]) == 9 and found[("switch", "outlet3")]["name"] == "Heater"
    assert not discovered(w)  # nothing under Home Assistant's default


def test_a_command_switches_its_relay_and_the_state_and_its_reason_are_published(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    m0 = w.mark()
    w.publish(PREFIX + "/outlet/2/set", "ON")
    b.wait_relays([False, True, False, False, False, False])
    w.wait(PREFIX + "/outlet/2/state", "ON", since=m0)
    w.wait(PREFIX + "/outlet/2/reason", "mqtt", since=m0)
    b.serial.expect(r"outlet 2 on \(mqtt\)", since=0)
    w.publish(PREFIX + "/outlet/2/set", "TOGGLE")
    w.publish(PREFIX + "/outlet/5/set", "TOGGLE")
    b.wait_relays([False, False, False, False, True, False])
    w.publish(PREFIX + "/outlet/5/set", "OFF")
    b.wait_relays([False] * 6)


def test_a_change_at_the_console_is_published(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    w.wait(PREFIX + "/outlet/3/state", "OFF")
    m0 = w.mark()
    b.command("on 3")
    b.wait_relays([False, False, True, False, False, False])
    w.wait(PREFIX + "/outlet/3/state", "ON", since=m0)
    w.wait(PREFIX + "/outlet/3/reason", "serial", since=m0)


def test_command_lines_set_timers_and_shed_with_the_consoles_words(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    m0 = w.mark()
    w.publish(PREFIX + "/command", "timer 2 for 1h")
    b.wait_relays([False, True, False, False, False, False])
    assert b"2 off at " in w.wait(PREFIX + "/reply", since=m0)
    w.wait(PREFIX + "/outlet/2/reason", "mqtt", since=m0)
    m0 = w.mark()
    w.publish(PREFIX + "/command", "shed 2")
    b.wait_relays([False] * 6)
    assert w.wait(PREFIX + "/reply", since=m0) == b"shed 2"
    w.wait(PREFIX + "/shed", "ON", since=m0)
    w.wait(PREFIX + "/outlet/2/reason", "held off: shed", since=m0)
    w.publish(PREFIX + "/outlet/2/set", "ON")  # remembered, not switched, while shed
    m0 = w.mark()
    w.publish(PREFIX + "/command", "unshed all")
    b.wait_relays([False, True, False, False, False, False])
    w.wait(PREFIX + "/shed", "OFF", since=m0)
    m0 = w.mark()
    w.publish(PREFIX + "/command", "shed 9 for soon")
    assert w.wait(PREFIX + "/reply", since=m0).startswith(b"error: ")
    assert b.relays() == [False, True, False, False, False, False]


def test_availability_online_then_offline_as_the_last_will_after_a_power_cut(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    w.wait(PREFIX + "/status", "online")
    m0 = w.mark()
    b.power_cut()
    w.wait(PREFIX + "/status", "offline", since=m0)
    late = broker.client()  # retained: what a Home Assistant that starts now sees
    late.wait(PREFIX + "/status", "offline", retained=True)


def test_the_broker_restarted_relays_and_schedules_carry_on_and_the_board_publishes_again(vboard, broker):
    b = connected(vboard, broker)
    m0 = b.serial.mark()
    broker.stop()
    b.serial.expect(r"mqtt: (the broker closed the connection|connection lost \(errno \d+\)); trying again in 5 s", 20,
                    since=m0)
    b.command("on 4")  # the arbiter, the console and the timers do not wait for the broker
    b.wait_relays([False, False, False, True, False, False])
    b.command("timer 4 for 2s")
    b.wait_relays([False, False, False, False, False, False], timeout=10)
    b.command("on 1")
    b.wait_relays([True, False, False, False, False, False])
    b.serial.expect(r"mqtt: cannot connect to 127\.0\.0\.1:%d; trying again in 10 s" % broker.port, 30, since=m0)
    broker.start()  # empty: it kept nothing of before
    w = broker.client()
    b.serial.expect(r"mqtt: connected to 127\.0\.0\.1", 60, since=m0)
    w.wait(PREFIX + "/status", "online", timeout=30)
    w.wait(PREFIX + "/outlet/1/state", "ON")
    w.wait(PREFIX + "/outlet/1/reason", "serial")
    w.wait(PREFIX + "/outlet/4/state", "OFF")
    w.wait(PREFIX + "/outlet/4/reason", "timer")
    wait_discovery(w)
    assert b.relays() == [True, False, False, False, False, False]


def test_wifi_lost_while_publishing_the_relays_carry_on_the_will_is_seen_and_the_state_is_right_after(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker, keepalive=10)  # the broker gives the board up after 15 s of silence
    w.wait(PREFIX + "/status", "online")
    w.wait(PREFIX + "/outlet/6/reason", timeout=30)  # the last of the states published at the connection: none
    m0 = w.mark()  # of them is still on its way when the network goes
    b.set_wifi(False)  # the access point goes: the board's connection stays open, and carries nothing
    b.command("on 1")  # published into a connection that carries nothing
    b.wait_relays([True, False, False, False, False, False])
    b.command("timer 1 for 3s")
    w.wait(PREFIX + "/status", "offline", timeout=60, since=m0)  # the broker's last will for the board
    b.wait_relays([False] * 6, timeout=10)  # the timer ran out without the network
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    assert not [t for t, _, _ in w.messages[m0:] if "/outlet/" in t]  # nothing went through while it was down
    m1 = w.mark()
    b.set_wifi(True)
    w.wait(PREFIX + "/status", "online", timeout=90, since=m1)
    w.wait(PREFIX + "/outlet/2/state", "ON", since=m1)
    w.wait(PREFIX + "/outlet/1/state", "OFF", since=m1)
    w.wait(PREFIX + "/outlet/1/reason", "timer", since=m1)
    late = broker.client()  # what a Home Assistant that starts now sees, retained
    late.wait(PREFIX + "/status", "online", retained=True)
    late.wait(PREFIX + "/outlet/2/state", "ON", retained=True)
    late.wait(PREFIX + "/outlet/1/state", "OFF", retained=True)
    assert b.relays() == [False, True, False, False, False, False]


def test_a_refused_password_is_said_clearly_never_shown_and_tried_again_later(vboard, broker):
    wrong = "not-the-password-9"
    b = vboard(board_config(broker, password=wrong))
    since = ready(b, 20).start()
    refused = r"mqtt: the broker refused the connection: (bad user name or password|not authorized); trying again in "
    b.serial.expect(refused + "5 s", 20, since=since)
    b.serial.expect(refused + "10 s", 30, since=since)
    assert b.command("on 2")  # the board carries on
    b.wait_relays([False, True, False, False, False, False])
    assert wrong not in b.serial.text() and wrong not in b.command("status", expect=r"\n6 [^\n]*\n")


def test_a_retained_command_is_not_carried_out_again_at_a_connection(vboard, broker):
    w = broker.client()
    b = connected(vboard, broker)
    w.publish(PREFIX + "/outlet/1/set", "ON", retain=True).wait_for_publish(10)
    b.wait_relays([True, False, False, False, False, False])  # live, it is a command like any other
    b.command("off 1")
    b.wait_relays([False] * 6)
    m0 = b.serial.mark()
    b.power_cut()  # the broker keeps the retained ON; at the next connection it comes again, retained
    b.power_on()
    b.serial.expect(r"mqtt: a retained command on %s/outlet/1/set ignored" % PREFIX, 30, since=m0)
    subscribed(broker)
    w.publish(PREFIX + "/outlet/6/set", "ON")  # after it: the board has read the retained one
    b.wait_relays([False, False, False, False, False, True])


def fuzz_payloads(rng, n):
    words = ["on", "On", "oN", "off", "Off", "toggle", "Toggle", "TOGGLE ", " ON", "ON\n", "ON\x00", "OFF!", "0", "1",
             "true", "ONN", "O N", "\u00d6N", "{\"state\": \"ON\"}"]
    out = []
    for k in range(n):
        kind = k % 6
        if kind == 0:
            p = rng.choice(words).encode()
        elif kind == 1:
            p = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        elif kind == 2:
            p = b""
        elif kind == 3:
            p = rng.choice([b"O", b"N", b"\xff"]) * rng.choice([200, 1000, 5000, 70000])
        elif kind == 4:
            p = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzONF ") for _ in range(rng.randrange(1, 12))).encode()
        else:
            p = rng.choice(["ON 1", "timer", "timer 1 for", "shed", "Shed 1", "unshed x", "reboot",
                            "status", "\x00", "off 9", "toggle 0", "shed class 10", "timer 7 for 1h"]).encode()
        out.append(p)
    return out


def test_ten_thousand_fuzzed_commands_change_no_relay_and_the_board_still_answers(vboard, broker):
    b = connected(vboard, broker)
    w = broker.client(topics=(PREFIX + "/#",))
    w.wait(PREFIX + "/outlet/1/state")
    history = len(b.relay_history)
    m0 = b.serial.mark()
    rng = random.Random(20261203)
    topics = [PREFIX + "/outlet/%d/set" % n for n in (1, 2, 3, 4, 5, 6)] + [
        PREFIX + "/command", PREFIX + "/outlet/7/set", PREFIX + "/outlet/0/set", PREFIX + "/outlet/x/set",
        PREFIX + "/outlet//set", PREFIX + "/Outlet/1/set"]
    payloads = fuzz_payloads(rng, 10000)
    t0 = time.monotonic()
    for k, p in enumerate(payloads):
        topic = topics[k % len(topics)] if k % 6 != 5 else PREFIX + "/command"
        info = w.publish(topic, p, qos=k % 2)
    info.wait_for_publish(60)
    w.publish(PREFIX + "/outlet/6/set", "ON").wait_for_publish(60)
    b.wait_relays([False] * 5 + [True], timeout=240)  # the good command after them all: they were all read
    elapsed = time.monotonic() - t0
    changed = [h for h in b.relay_history[history:] if h[1] != 5]
    assert not changed, changed
    out = b.serial.text(m0)
    said = re.findall(r"mqtt: command refused: ", out)
    assert 1 <= len(said) <= elapsed / 10 + 2, "%d lines about refused commands in %.0f s" % (len(said), elapsed)
    assert not re.search(r"died|Traceback|crash|reset cause|mqtt: connected", out), out[-2000:]
    assert "6 Outlet 6: on (mqtt)" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")


# ---- a hostile broker: a plain TCP server that answers the CONNECT with what each case sends ----

CONNACK = b"\x20\x02\x00\x00"
SUBACK = b"\x90\x04\x00\x01\x01\x01"
HOSTILE = {
    "bad remaining length": CONNACK + b"\x30\xff\xff\xff\xff\x7f",
    "oversize packet": CONNACK + b"\x90\xff\xff\x7f" + b"\x00" * 300,
    "truncated then silent": CONNACK + SUBACK + b"\x30\x40\x00\x20" + b"multiprise/test-strip",
    "garbage": bytes(random.Random(7).randrange(256) for _ in range(400)),
    "topic longer than its packet": CONNACK + b"\x30\x05\x01\x00abc",
    "QoS 2 and reserved types": CONNACK + SUBACK + b"\x34\x06\x00\x01a\x00\x01x" + b"\xf0\x00",
    "a CONNACK that is not one": b"\x20\x07" + b"\x00" * 7,
    "a huge message, slowly": CONNACK + SUBACK + b"\x31\x80\x80\x80\x01\x00\x28" + (PREFIX + "/outlet/1/set").encode(),
}
SAID = {
    "bad remaining length": "malformed packet (its length)",
    "oversize packet": "a packet it never sends, or of a wrong length",
    "truncated then silent": "stopped in the middle of a packet",
    "garbage": "the broker",
    "topic longer than its packet": "malformed PUBLISH",
    "QoS 2 and reserved types": "malformed PUBLISH",
    "a CONNACK that is not one": "a packet it never sends, or of a wrong length",
    "a huge message, slowly": "stopped in the middle of a packet",
}


class Hostile:
    """Accepts the board's connections; reads its CONNECT, sends `data`, then holds the connection, silent."""

    def __init__(self, data, trickle=None):
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.data, self.trickle = data, trickle
        self.connects = 0
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)
            self.connects += 1
            try:
                c.settimeout(10)
                c.recv(1024)  # the CONNECT
                c.sendall(self.data)
                for _ in range(self.trickle or 0):  # a byte a second: never a whole packet
                    time.sleep(1)
                    c.sendall(b"x")
            except OSError:
                pass

    def close(self):
        self.srv.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_broker_never_stops_the_board_nor_moves_a_relay(vboard, case):
    h = Hostile(HOSTILE[case], trickle=8 if case == "a huge message, slowly" else None)
    try:
        config = {"wifi": LAB, "outlets": [{"power_on": "on" if i % 2 else "off"} for i in range(6)],
                  "mqtt": {"host": "127.0.0.1", "port": h.port, "client_id": CLIENT, "telemetry_s": 0}}
        b = vboard(config)
        since = ready(b, 20).start()
        on = [False, True, False, True, False, True]
        b.wait_relays(on)
        history = len(b.relay_history)
        m = b.serial.expect(r"mqtt: ([^\n]*); trying again in 5 s", 40, since=since)
        assert SAID[case] in m.group(1).decode(), m.group(0)
        assert h.connects >= 1
        assert "6 Outlet 6: on" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")  # the board carries on
        b.command("on 1")
        b.wait_relays([True] + on[1:])
        assert [x[1] for x in b.relay_history[history:]] == [0]  # outlet 1, by the console; nothing else moved
        assert not re.search(r"died|Traceback|reset cause", b.serial.text(since))
    finally:
        h.close()


def test_a_badge_tap_is_published_with_its_hash_never_its_uid(vboard, broker, site):
    bob = bytes.fromhex(demo.BADGES[1].uid)
    config = board_config(broker)
    config["server"] = {"url": "http://127.0.0.1:%d" % site, "device": demo.DEVICE_ID,
                        "secret": demo.DEVICE_SECRET, "site_secret": demo.SITE_SECRET}
    for o in config["outlets"]:
        o["power_on"] = "off"
    w = broker.client()
    b = connected(vboard, broker, config)
    b.serial.expect("clock: time from ntp", 15, since=0)
    m0 = w.mark()
    b.field.place(bob)
    event = json.loads(w.wait(PREFIX + "/event", since=m0))
    assert event["event"] == "allowed" and event["badge"] == badge_hash(demo.SITE_SECRET, demo.BADGES[1].uid)
    assert "outlet 1,2,3 on" in event["text"]
    b.field.remove()
    time.sleep(2)
    m0 = w.mark()
    b.field.place(bob)  # the second tap ends the session
    assert json.loads(w.wait(PREFIX + "/event", since=m0))["event"] == "ended"
    ended = json.loads(w.wait(PREFIX + "/event", since=w.mark() - 1, timeout=20))
    assert ended["event"] in ("ended", "session")
    uid = demo.BADGES[1].uid.lower()
    with w.cond:
        assert not [m for m in w.messages if uid.encode() in m[1].lower()]


def test_schedule_and_log_lines_are_answered_on_the_reply_topic_and_the_board_carries_on(vboard, broker):
    """The console's sched, poweron, name and log lines on the command topic: a rule added (the console's checks), the
    outlet's settings, the log's last lines published whole on prefix/reply (a kilobyte at most), no relay moved, no
    reset."""
    w = broker.client()
    b = connected(vboard, broker)
    rule = days_not_today() + " 07:30-22:00"  # never now: the board has the host's time
    m0 = w.mark()
    w.publish(PREFIX + "/command", "sched 4 add " + rule)
    assert ("1) " + rule).encode() in w.wait(PREFIX + "/reply", since=m0)
    assert "1) " + rule in b.command("sched 4", expect=r"1\) [^\n]*\n")
    m0 = w.mark()
    w.publish(PREFIX + "/command", "poweron 4 schedule")  # an outlet's settings, as at the console
    assert w.wait(PREFIX + "/reply", since=m0) == b"4 at power-on: schedule"
    m0 = w.mark()
    w.publish(PREFIX + "/command", "name 4 Boiler")
    assert w.wait(PREFIX + "/reply", since=m0).startswith(b"4 Boiler: off")
    for _ in range(3):
        m0 = w.mark()
        w.publish(PREFIX + "/command", "log")
        assert b"mqtt: connected to" in w.wait(PREFIX + "/reply", since=m0)
    assert b.relays() == [False] * 6
    assert "MemoryError" not in b.serial.text() and "task mqtt died" not in b.serial.text()
