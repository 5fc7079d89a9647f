"""The configuration's `mqtt` section checked (config.validate loads it only when there is one): the broker, the
client's id, the account, the topics' prefix, the keepalive, Home Assistant's discovery, the telemetry's period
(docs/configuration.md, docs/mqtt.md)."""
from firmware.config import _bad, _obj, _range


def check(e, cfg):
    """cfg["mqtt"] normalized, each mistake added to e (the password is never shown: config._bad)."""
    cfg['mqtt'] = v = _obj(e, 'mqtt', cfg['mqtt'], ('host', 'port', 'client_id', 'user', 'password', 'prefix',
                                                    'keepalive', 'discovery', 'discovery_prefix', 'telemetry_s'),
                           {'host': '', 'port': 1883, 'client_id': '', 'user': '', 'password': '', 'prefix': '',
                            'keepalive': 60, 'discovery': True, 'discovery_prefix': 'homeassistant',
                            'telemetry_s': 60})
    h = v['host']
    if type(h) is not str or not 1 <= len(h) <= 64 or [c for c in h if not (c.isalpha() or c.isdigit() or c in '.-')
                                                         or ord(c) > 127]:
        _bad(e, 'mqtt.host', h, "the broker's name or IP address (letters, digits, dots and dashes, up to 64)")
    _range(e, 'mqtt.port', v['port'], 1, 65535)
    c = v['client_id']
    if c != '' and (type(c) is not str or not 1 <= len(c) <= 23 or
                    [x for x in c if not (x.isalpha() or x.isdigit() or x in '-_') or ord(x) > 127]):
        _bad(e, 'mqtt.client_id', c, '"" (multiprise- and the end of the MAC) or 1 to 23 ASCII letters, digits,'
                                     ' - or _')
    if v['user'] != '':
        _range(e, 'mqtt.user', v['user'], 1, 64, str)
    if v['password'] != '':
        _range(e, 'mqtt.password', v['password'], 1, 64, str)
        if v['user'] == '':
            _bad(e, 'mqtt.password', v['password'], 'mqtt.user set too (MQTT sends no password without a user)')
    if v['prefix'] != '':
        _topic(e, 'mqtt.prefix', v['prefix'], '"" (multiprise/ and the client id) or ')
    _topic(e, 'mqtt.discovery_prefix', v['discovery_prefix'], '')
    _range(e, 'mqtt.keepalive', v['keepalive'], 10, 3600)
    if type(v['discovery']) is not bool:
        _bad(e, 'mqtt.discovery', v['discovery'], 'true or false')
    t = v['telemetry_s']
    if t != 0:
        _range(e, 'mqtt.telemetry_s', t, 10, 3600)


def _topic(e, key, p, what):
    if type(p) is not str or not 1 <= len(p) <= 64 or [x for x in p if x in '+#' or ord(x) < 32] or p[0] == '/' or \
            p[-1] == '/':
        _bad(e, key, p, what + 'a topic of 1 to 64 characters, without + or #, neither starting nor ending with /')
