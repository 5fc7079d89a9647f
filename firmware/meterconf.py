"""The configuration's `meter` section checked (config.validate loads it only when there is one): the metering chip
on the I2C bus, its scale, the overload protection (docs/metering.md, docs/configuration.md)."""
from firmware.config import _bad, _obj, _one, _range


def check(e, cfg):
    """cfg["meter"] normalized, each mistake added to e. The scale (counts per V, A, W and Wh) is what `calibrate`
    finds."""
    n = len(cfg['outlets'])
    cfg['meter'] = v = _obj(e, 'meter', cfg['meter'], ('chip', 'scale', 'max_watts', 'outlet_max_watts', 'over_s',
                                                       'restore_s'),
                            {'chip': 'ade7953', 'scale': [20000, 200000, 200, 36000], 'max_watts': 0,
                             'outlet_max_watts': [0] * n, 'over_s': 5, 'restore_s': 60})
    _one(e, 'meter.chip', v['chip'], ('ade7953',))
    if not cfg['board'].get('i2c'):
        _bad(e, 'meter.chip', v['chip'], 'board.i2c set: the metering chip is on I2C')
    s = v['scale']
    if type(s) is not list or len(s) != 4 or [x for x in s if type(x) not in (int, float) or not 0 < x < 1e9]:
        _bad(e, 'meter.scale', s, '4 numbers above 0: counts per volt, ampere, watt and watt-hour (calibrate)')
    _range(e, 'meter.max_watts', v['max_watts'], 0, 4600)  # 0: no overload protection; 20 A at 230 V
    m = v['outlet_max_watts']
    if type(m) is not list or len(m) != n or [x for x in m if type(x) is not int or not 0 <= x <= 4600]:
        _bad(e, 'meter.outlet_max_watts', m, '%d integers from 0 to 4600: each outlet\'s own limit, W (0: none)' % n)
    _range(e, 'meter.over_s', v['over_s'], 1, 600)
    _range(e, 'meter.restore_s', v['restore_s'], 5, 3600)
