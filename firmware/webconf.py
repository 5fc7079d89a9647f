"""The configuration's `web` section checked (config.validate loads it only when there is one): how long a login
lasts (docs/web.md, docs/configuration.md). The password is not in the configuration: it is set at the console."""
from firmware.config import _obj, _range


def check(e, cfg):
    """cfg["web"] normalized, each mistake added to e."""
    cfg['web'] = v = _obj(e, 'web', cfg['web'], ('session_h',), {'session_h': 12})
    _range(e, 'web.session_h', v['session_h'], 1, 72)  # time.ticks_ms() spans 6 days on an ESP8266
