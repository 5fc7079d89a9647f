"""Load and check config.json: a normalized config with the board profile
resolved, or every mistake in it, each named by its key path."""
import json

_BOARD = ('relays', 'expander', 'active_low', 'i2c', 'spi', 'rtc', 'reader', 'button', 'led')


def _profile(name):
    # values in _BOARD order; an empty i2c or spi object is filled with the bus defaults
    if name == 'custom':
        v = (None, None, True) + (None,) * 6
    elif name == 'expander':
        v = ([0, 1, 2, 3, 4, 5], 0x20, True, {}, {'rst': 16}, 'ds3231', 'mfrc522', 0, 2)
    else:
        v = ([16, 14, 12, 13, 0, 2], None, True, {}, None, 'ds3231', 'pn532', 0, None)
    return dict(zip(_BOARD, v))


def _bad(e, path, v, want):
    if path in ('wifi', 'wifi.password', 'server', 'server.secret', 'server.site_secret', 'mqtt', 'mqtt.password'):
        s = '***'
    else:
        try:
            s = json.dumps(v)
        except Exception:  # absurdly deep nesting
            s = '...'
        if len(s) > 40:
            s = s[:37] + '...'
    e.append('%s = %s: expected %s' % (path, s, want))


def _obj(e, path, v, keys, defaults=None):
    # a new dict: defaults updated with v, whose unknown keys are reported
    d = dict(defaults or {})
    if type(v) is not dict:
        _bad(e, path, v, 'an object')
        return d
    for k in sorted(v):
        if k not in keys:
            e.append('%s%s: unknown key (expected one of %s)' % (path and path + '.', k, ', '.join(keys)))
    d.update(v)
    return d


def _range(e, path, v, lo, hi, t=int):
    # an integer from lo to hi, or a string of lo to hi characters when t is str
    if type(v) is not t or not lo <= (v if t is int else len(v)) <= hi:
        want = 'an integer from %d to %d' if t is int else 'a string of %d to %d characters'
        _bad(e, path, v, want % (lo, hi))
    return v


def _one(e, path, v, choices):
    if v not in choices:
        _bad(e, path, v, 'one of ' + ', '.join([c or 'null' for c in choices]))
    return v


def _gpio(e, path, v, none_ok=False):
    # True when v is a GPIO the application may use; otherwise says why not
    if v is None and none_ok:
        return False
    if type(v) is int and v in (0, 2, 4, 5, 12, 13, 14, 15, 16):  # the GPIOs a NodeMCU gives
        return True
    why = ''
    if type(v) is int:
        why = (": GPIO%d is the REPL's UART, keep it free" if v in (1, 3) else
               ': GPIO%d is wired to the flash chip' if 6 <= v <= 11 else ': there is no GPIO%d') % v
    _bad(e, path, v, ('null or ' if none_ok else '') + 'a usable GPIO (0, 2, 4, 5, 12 to 16)' + why)
    return False


def _use(e, used, path, pin):
    if pin in used:
        _bad(e, path, pin, 'each pin used once, but %s uses it too' % used[pin])
    else:
        used[pin] = path


def _board(e, w, v):
    name = _one(e, 'board.profile', (v if type(v) is dict else {}).get('profile', 'seed'),
                ('seed', 'expander', 'custom'))
    prof = _profile(name)
    r = _obj(e, 'board', v, ('profile',) + _BOARD, prof)
    r['profile'] = name
    used = {}  # GPIO -> key path of its first use

    i2c = r['i2c']
    if i2c is not None:
        r['i2c'] = i2c = _obj(e, 'board.i2c', i2c, ('scl', 'sda', 'freq'),
                              {'scl': 5, 'sda': 4, 'freq': 100000})
        _range(e, 'board.i2c.freq', i2c['freq'], 10000, 400000)
    on_i2c = 'board.i2c set: the %s is on I2C'

    ex = r['expander']
    if ex is not None:
        if type(ex) is not int or not (0x20 <= ex <= 0x27 or 0x38 <= ex <= 0x3F):
            _bad(e, 'board.expander', ex,
                 'null or a PCF8574(A) address: 32 to 39 or 56 to 63 (0x20-0x27, 0x38-0x3F)')
        elif not i2c:
            _bad(e, 'board.expander', ex, on_i2c % 'PCF8574')
        elif ex == 0x24 and r['reader'] == 'pn532':
            _bad(e, 'board.expander', ex, 'another address: the PN532 is at 36 (0x24)')

    rel = r['relays']
    n = 0
    if rel is None and name == 'custom':
        e.append('board.relays: required by profile custom')
    elif type(rel) is not list or not 1 <= len(rel) <= 8:
        _bad(e, 'board.relays', rel, 'a list of 1 to 8 pins')
    else:
        n = len(rel)
        r['relays'] = rel[:]

    low = r['active_low']
    if type(low) is bool:
        low = [low] * n
    elif type(low) is not list or n and len(low) != n or [x for x in low if type(x) is not bool]:
        _bad(e, 'board.active_low', low, 'true, false or one boolean per relay')
        low = [True] * n
    r['active_low'] = low = low[:]

    for i in range(n):
        pin = rel[i]
        path = 'board.relays[%d]' % i
        if ex is not None:
            if type(pin) is not int or not 0 <= pin <= 7:
                _bad(e, path, pin, 'an expander pin from 0 to 7')
                continue
        elif not _gpio(e, path, pin):
            continue
        elif pin in (0, 2, 15) and low[i] == (pin == 15):
            # GPIO15 must be low at boot, GPIO0 and GPIO2 high (GPIO0 low = download mode)
            a, b = ('low', 'high') if pin == 15 else ('high', 'low')
            _bad(e, path, pin, 'no active-%s relay on GPIO%d: it must be %s at boot and the relay input'
                 ' pulls it %s' % (a, pin, a, b))
        elif pin in (0, 2):
            w.append('%s = %d: outlet %d may click briefly at boot' % (path, pin, i + 1))
        _use(e, used, path, pin)

    if ex is not None:
        used = {}  # those were expander pins
    if i2c:
        for k in ('scl', 'sda'):
            pin = i2c[k]
            path = 'board.i2c.' + k
            if _gpio(e, path, pin):
                if pin > 14:
                    why = ('it has no open drain' if pin == 16 else
                           'it must be low at boot, the pull-ups hold it high')
                    _bad(e, path, pin, 'no I2C on GPIO%d: %s' % (pin, why))
                _use(e, used, path, pin)

    spi = r['spi']
    if spi is not None:
        rst = (prof['spi'] or {}).get('rst')  # a user's spi object keeps the profile's RST
        r['spi'] = spi = _obj(e, 'board.spi', spi, ('sck', 'miso', 'mosi', 'cs', 'rst'),
                              {'sck': 14, 'miso': 12, 'mosi': 13, 'cs': 15, 'rst': rst})
        for k, fixed in (('sck', 14), ('miso', 12), ('mosi', 13), ('cs', 0), ('rst', 0)):
            pin = spi[k]
            path = 'board.spi.' + k
            if fixed and (type(pin) is not int or pin != fixed):
                _bad(e, path, pin, '%d: SPI(1) is fixed on SCK 14, MISO 12, MOSI 13' % fixed)
            elif _gpio(e, path, pin, k == 'rst'):
                _use(e, used, path, pin)

    rtc = _one(e, 'board.rtc', r['rtc'], ('ds3231', 'ds1307', None))
    if rtc and not i2c:
        _bad(e, 'board.rtc', rtc, on_i2c % 'RTC')
    reader = _one(e, 'board.reader', r['reader'], ('mfrc522', 'pn532', None))
    if reader == 'pn532' and not i2c:
        _bad(e, 'board.reader', reader, on_i2c % 'PN532')
    if reader == 'mfrc522' and not (spi or i2c):
        _bad(e, 'board.reader', reader, 'board.spi or board.i2c set')

    if _gpio(e, 'board.led', r['led'], True):
        _use(e, used, 'board.led', r['led'])

    pin = r['button']
    if _gpio(e, 'board.button', pin, True):
        if pin > 14:
            _bad(e, 'board.button', pin, 'not GPIO%d: it has %s, so the button cannot be read' % (
                pin, 'no pull-up' if pin == 16 else 'a pull-down'))
        # read once at boot, before the relays are driven: it may share a relay's pin
        elif used.get(pin, 'board.relays[')[:13] != 'board.relays[':
            _use(e, used, 'board.button', pin)
    return r, n


def validate(raw):
    """(cfg, errors, warnings): cfg is a new normalized dict, or None when there are errors."""
    e = []
    w = []
    if type(raw) is not dict:
        _bad(e, 'config', raw, 'an object')
        return None, e, w
    cfg = _obj(e, '', raw, ('name', 'board', 'outlets', 'stagger_ms', 'save_interval_s', 'wifi', 'time', 'server',
                            'mqtt', 'web', 'meter'),
               {'name': 'multiprise', 'board': {}, 'stagger_ms': 100, 'save_interval_s': 5, 'wifi': {}, 'time': {},
                'server': {}})
    _range(e, 'name', cfg['name'], 1, 32, str)
    _range(e, 'stagger_ms', cfg['stagger_ms'], 0, 10000)
    _range(e, 'save_interval_s', cfg['save_interval_s'], 1, 3600)
    cfg['board'], n = _board(e, w, cfg['board'])

    given = cfg.get('outlets', [{}] * n)
    if type(given) is not list or n and len(given) != n:
        _bad(e, 'outlets', given, 'a list of %s objects, one per relay' % (n or 'N'))
        if type(given) is not list:
            given = []
    cfg['outlets'] = outlets = []
    for i in range(len(given)):
        path = 'outlets[%d]' % i
        o = _obj(e, path, given[i], ('name', 'power_on', 'schedule', 'pulse_s', 'watts', 'class', 'never_shed',
                                     'badge'),
                 {'name': 'Outlet %d' % (i + 1), 'schedule': [], 'pulse_s': 0, 'watts': 0, 'class': 5,
                  'never_shed': False, 'badge': True})
        outlets.append(o)
        _range(e, path + '.name', o['name'], 1, 24, str)
        o['schedule'] = _schedule(e, path + '.schedule', o['schedule'])
        o.setdefault('power_on', 'schedule' if o['schedule'] else 'off')
        if _one(e, path + '.power_on', o['power_on'], ('off', 'on', 'last', 'schedule')) == 'schedule' and \
                not o['schedule']:
            _bad(e, path + '.power_on', 'schedule', 'off, on or last: this outlet has no schedule')
        _range(e, path + '.pulse_s', o['pulse_s'], 0, 86400)
        _range(e, path + '.watts', o['watts'], 0, 3680)  # rated power, for a session's energy: 16 A at 230 V
        _range(e, path + '.class', o['class'], 0, 9)  # shedding priority: 9 goes first
        for k in ('never_shed', 'badge'):
            if type(o[k]) is not bool:
                _bad(e, path + '.' + k, o[k], 'true or false')

    cfg['wifi'] = wifi = _obj(e, 'wifi', cfg['wifi'], ('ssid', 'password'), {'ssid': '', 'password': ''})
    _range(e, 'wifi.ssid', wifi['ssid'], 0, 32, str)
    if wifi['password'] != '':
        _range(e, 'wifi.password', wifi['password'], 8, 63, str)

    cfg['time'] = t = _obj(e, 'time', cfg['time'], ('tz', 'ntp', 'ntp_interval_h'),
                           {'tz': 'CET-1CEST,M3.5.0,M10.5.0/3', 'ntp': 'pool.ntp.org', 'ntp_interval_h': 6})
    _range(e, 'time.tz', t['tz'], 3, 64, str)  # read by tz.parse once this module has left the heap (bringup)
    _range(e, 'time.ntp', t['ntp'], 0, 64, str)
    _range(e, 'time.ntp_interval_h', t['ntp_interval_h'], 1, 24)
    _server(e, cfg)
    if 'meter' in cfg:  # the same for the metering chip
        from firmware import meterconf
        meterconf.check(e, cfg)
    if 'mqtt' in cfg:  # no key, no MQTT: the board never loads it (nor its checks, in a module of their own)
        from firmware import mqttconf
        mqttconf.check(e, cfg)
    if 'web' in cfg:  # the same for the board's web server
        from firmware import webconf
        webconf.check(e, cfg)
    return (None if e else cfg), e, w


def _server(e, cfg):
    # the central server: none when url is empty; secrets are never shown (_bad)
    cfg['server'] = v = _obj(e, 'server', cfg['server'], ('url', 'device', 'secret', 'site_secret', 'timeout_ms',
                                                          'poll_s', 'heartbeat_s', 'offline', 'offline_hours'),
                             {'url': '', 'device': '', 'secret': '', 'site_secret': '', 'timeout_ms': 2000,
                              'poll_s': 10, 'heartbeat_s': 60, 'offline': 'deny', 'offline_hours': 24})
    url = v['url']
    if url != '' and (type(url) is not str or url[:7] != 'http://' or not 8 <= len(url) <= 64 or ' ' in url):
        _bad(e, 'server.url', url, '"" (no server) or http://host[:port] (up to 64 characters; the board has no TLS)')
    if url:
        _range(e, 'server.device', v['device'], 1, 32, str)
        _range(e, 'server.secret', v['secret'], 16, 64, str)
        _range(e, 'server.site_secret', v['site_secret'], 16, 64, str)
    _range(e, 'server.timeout_ms', v['timeout_ms'], 500, 5000)
    _range(e, 'server.poll_s', v['poll_s'], 2, 3600)
    _range(e, 'server.heartbeat_s', v['heartbeat_s'], 10, 3600)
    _one(e, 'server.offline', v['offline'], ('deny', 'cached'))
    _range(e, 'server.offline_hours', v['offline_hours'], 1, 720)


def _schedule(e, path, v):
    # the rules' integers (rules.py); each bad rule named
    if type(v) is not list or len(v) > 8:
        _bad(e, path, v, 'a list of at most 8 rules')
        return []
    from firmware import rules
    r = []
    for i in range(len(v)):
        try:
            r.append(rules.parse(v[i]))
        except ValueError as x:
            e.append('%s[%d]: %s' % (path, i, x))
    return r


def load(path='config.json'):
    """validate() the JSON file at path; a file that cannot be read or parsed gives one error."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError as x:
        return None, [path + (': file not found' if x.args[0] == 2 else ': cannot be read (%s)' % x)], []
    except Exception as x:  # ValueError; MemoryError or RecursionError for absurd input
        return None, ['%s: invalid JSON (%s)' % (path, x)], []
    return validate(raw)
