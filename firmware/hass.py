"""Home Assistant's MQTT discovery and the telemetry, written for the moment (loaded by mqtt.py, then dropped).

Discovery (docs/mqtt.md): a switch per named outlet, sensors for the power, the energy (measured by the metering
chip, or estimated from each outlet's rated watts), the Wi-Fi signal and the free heap, a binary sensor for load
shedding (by the server or the overload protection); one device groups them. Each entity's config is retained at
<discovery prefix, homeassistant by default>/<component>/<client id>/<object>/config; an empty one removes the
entity (discovery off, an outlet without a name of its own: "Outlet N"). Keys are Home Assistant's abbreviations."""
import gc
import json
import sys
import time

from firmware import app, mqtt
from micropython import const

# A sensor a line: object, name, the telemetry's key, unit, device class, state class, entity category
_SENSORS = const(("power|Power (estimate)|power_total_w|W|power|measurement|\n"
            "energy|Energy (estimate)|energy_wh|Wh|energy|total_increasing|\n"
            "rssi|Wi-Fi signal|rssi|dBm|signal_strength|measurement|diagnostic\n"
            "heap|Free heap|heap|B|data_size|measurement|diagnostic"))


def discovery(conf, k):
    """Publish the config of entity k: 0-7 the outlets' switches, 8-11 the sensors, 12 the shedding."""
    cid = conf["client_id"]
    o = app.outlets
    if k < 8:
        obj = "outlet%d" % (k + 1)
        kind, on = "switch", k < len(o) and o.names[k] != "Outlet %d" % (k + 1)  # named: not the default name
    elif k < 12:
        s = _SENSORS.split("\n")[k - 8].split("|")
        kind, obj, on = "sensor", s[0], 1
    else:
        kind, obj, on = "binary_sensor", "shed", 1
    topic = "%s/%s/%s/%s/config" % (conf["discovery_prefix"], kind, cid, obj)
    if not (conf["discovery"] and on):
        return mqtt.publish(topic, "", 1, True)  # no entity: an empty config removes it
    if k < 8:
        more = '"stat_t":"~/outlet/%d/state","cmd_t":"~/outlet/%d/set","ic":"mdi:power-socket-eu"' % (k + 1, k + 1)
        name = o.names[k]
    elif k < 12:
        more = '"stat_t":"~/telemetry","val_tpl":"{{ value_json.%s }}","unit_of_meas":"%s","dev_cla":"%s",' \
               '"stat_cla":"%s"%s' % (s[2], s[3], s[4], s[5], ',"ent_cat":"%s"' % s[6] if s[6] else "")
        name = s[1] if k > 9 or "firmware.meter" not in sys.modules else s[1][:-11]  # less " (estimate)"
    else:
        more = '"stat_t":"~/shed","ic":"mdi:transmission-tower-off"'
        name = "Load shedding"
    from firmware import VERSION

    mqtt.publish(topic, '{"~":%s,"name":%s,"uniq_id":"%s_%s","avty_t":"~/status",%s,"dev":{"ids":[%s],"name":%s,'
                        '"mf":"multiprise","mdl":"%d-outlet power strip","sw":"%s"}}' % (
                            json.dumps(conf["prefix"]), json.dumps(name), cid, obj, more, json.dumps(cid),
                            json.dumps(app.cfg["name"]), len(o), VERSION), 1, True)


def telemetry():
    """The telemetry's JSON: each outlet's power and their total, and the energy (Wh): measured by the metering chip
    (meter.py: its counter overall, the voltage, current and power factor), or estimated (each outlet's rated watts
    while it is on, the energy since boot; null for the rest); the Wi-Fi signal (dBm), the free heap (bytes), the
    uptime (s), whether an outlet is shed, whether the time is trusted, and the longest step of the loop since the
    last telemetry (ms)."""
    import network

    from firmware import loop

    o = app.outlets
    m = sys.modules.get("firmware.meter")
    w = m.watts if m else [app.cfg["watts"][i] if o.on[i] else 0 for i in range(len(o))]
    try:
        rssi = network.WLAN(0).status("rssi")
    except (OSError, ValueError):
        rssi = None
    clock = sys.modules.get("firmware.clock")
    gc.collect()
    e = m.mwh(len(w)) if m else mqtt.energy[0] * 1000 + mqtt.energy[1] // 3600
    s = '{"power_w":%s,"power_total_w":%d,"estimate":%s,"energy_wh":%d.%03d,%s,"rssi":%s,' \
        '"heap":%d,"uptime":%d,"shed":%s,"time_trusted":%s,"loop_ms":%d}' % (
            json.dumps(w), m.total if m else sum(w), json.dumps(not m), e // 1000, e % 1000,
            m.rms() if m else '"volts":null,"amps":null,"pf":null', json.dumps(rssi), gc.mem_free(),
            time.ticks_diff(time.ticks_ms(), app.stats["t0"]) // 1000, json.dumps(bool([1 for h in o.hold if h & 6])),
            json.dumps(bool(clock and clock.trust)), loop.longest)
    loop.longest = 0
    return s
