"""The ESP8266's machine, network, esp, os and time, name by name (tools/vboard/esp8266_api.py), checked on the
virtual board: every name the checklist says it has is there, every name it says is missing is missing (a call to
it fails as on a board), nothing else is there unless the checklist owns to it, and docs/esp8266-modules.md shows
the same data."""
import json

from tools.vboard import esp8266_api as api

PROBE = """
import gc, json, machine, network, esp, os, time, _wire
def have(o, cls=True):
    got = set(n for n in dir(type(o) if cls else o) if n[0] != "_")
    if isinstance(o, _wire.Hw):  # a proxy: its methods are the bench's
        got |= set(_wire.go("%d __dir__" % o._i(), (), {}))
    return got
def probe(where, make, board):
    # The names there, and of those missing the ones that fail with AttributeError: when looked up in a module,
    # when called on an object (a proxy answers for any name: the bench refuses the call).
    gc.collect()
    o = eval(make or where)
    got = have(o, make is not None)
    refused = []
    for n in board:
        if n not in got:
            try:
                a = getattr(o, n)
                if make:
                    a()
            except AttributeError:
                refused.append(n)
    print(json.dumps([sorted(got), refused]))
"""


def on_the_virtual_board(b):
    """{module or class: [names there, names refused]}, for the modules and the classes the virtual board has."""
    b.exec(PROBE)
    seen = {}
    # machine.WDT last: once made, a watchdog bites unless fed (hw.WDT), and the board resets after the probes
    for where in sorted(api.MODULES, key=lambda w: w == "machine.WDT"):
        if "." not in where or where in api.MAKE:
            out = b.exec("probe(%r, %r, %r)" % (where, api.MAKE.get(where), list(api.MODULES[where])))
            seen[where] = json.loads(out.strip().splitlines()[-1])
    return seen


def test_the_checklist_says_what_the_virtual_board_has_and_lacks(vboard):
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    seen = on_the_virtual_board(b)
    for where, names in api.MODULES.items():
        module, _, cls = where.partition(".")
        if cls and not api.provided(api.MODULES[module][cls]):
            assert where not in seen and not any(map(api.provided, names.values())), where
            continue
        got, refused = set(seen[where][0]), set(seen[where][1])
        said = {n for n, note in names.items() if api.provided(note)}
        assert said - got == set(), "%s: said to be there, missing" % where
        assert (set(names) - said) & got == set(), "%s: said to be missing, there" % where
        assert got - set(names) == set(api.OWN.get(where, {})), "%s: names a board lacks" % where
        assert refused == set(names) - said, "%s: missing, yet a call does not fail as on a board" % where
    assert set(api.MAKE) == {k for k in seen if "." in k}


def test_the_document_shows_the_checklist():
    text = api.DOC.read_text()
    assert api.BEGIN + "\n\n" + api.tables() + "\n" + api.END in text
    assert "[esp8266-modules.md](esp8266-modules.md)" in (api.DOC.parent / "virtual-board.md").read_text()


def test_the_names_the_shims_give_behave_as_the_ports(vboard):
    """Constants, and calls whose behaviour is plain from the port's C, that a driver written for a board uses."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = json.loads(b.exec("""
import json, machine, network, esp, os
from machine import Pin
r = {}
p = Pin(12, Pin.OUT, value=0)
p.toggle()
r["toggled"] = p.value()
r["cpu"] = [machine.freq()]
machine.freq(160000000)
r["cpu"].append(machine.freq())
try:
    machine.freq(100000000)
except ValueError as e:
    r["cpu"].append(str(e))
r["names"] = [network.country(), network.hostname()]
network.country("FR")
network.hostname("strip-3")
r["names"] += [network.country(), network.hostname()]
for bad in (lambda: network.country("FRA"), lambda: network.hostname("x" * 33)):
    try:
        bad()
    except ValueError:
        r["names"].append("refused")
s = machine.SPI(baudrate=100000, sck=Pin(14), mosi=Pin(13), miso=Pin(12))
r["spi"] = [isinstance(s, machine.SoftSPI), isinstance(machine.SPI(1), machine.SPI), machine.SPI.LSB]
try:
    machine.SoftI2C(scl=Pin(5), sda=Pin(4)).start()
except AttributeError as e:
    r["start"] = str(e)
w = network.WLAN(network.STA_IF)
r["wlan"] = [w is network.WLAN(), w.PM_NONE, network.WLAN.SEC_WPA2, network.AUTH_WPA2_PSK]
r["esp"] = [esp.flash_size(), esp.SLEEP_MODEM, Pin.IRQ_RISING | Pin.IRQ_FALLING, machine.RTC.ALARM0]
print(json.dumps(r))
""").strip().splitlines()[-1])
    assert out["toggled"] == 1 and b.level(12) == 1
    assert out["cpu"] == [80000000, 160000000, "frequency can only be either 80Mhz or 160MHz"]
    assert out["names"] == ["XX", "mpy-esp8266", "FR", "strip-3", "refused", "refused"]
    assert out["spi"] == [True, True, 1]
    assert out["start"] == "'SoftI2C' object has no attribute 'start'"
    assert out["wlan"] == [True, 0, 3, 3]
    assert out["esp"] == [4194304, 2, 3, 0]
