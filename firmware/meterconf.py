"""The configuration's `meter` section checked (config.validate loads it only when there is one): the metering chip
(on the I2C bus, or on three pins), its scale, the overload protection (docs/metering.md, docs/configuration.md)."""
from firmware.config import _bad, _gpio, _obj, _one, _range

# counts per V, A, W and Wh of each chip as the virtual board's models give them (a real board's: calibrate)
_SCALES = {'ade7953': [20000, 200000, 200, 36000], 'hlw8012': [2447.2, 69039.4, 96.678, 348.041],
           'bl0937': [5377.0, 77699.5, 493.584, 1776.903]}


def check(e, cfg):
    """cfg["meter"] normalized, each mistake added to e. The scale (counts per V, A, W and Wh) is what `calibrate`
    finds."""
    n = len(cfg['outlets'])
    cfg['meter'] = v = _obj(e, 'meter', cfg['meter'], ('chip', 'pins', 'scale', 'max_watts', 'outlet_max_watts',
                                                       'over_s', 'restore_s'),
                            {'chip': 'ade7953', 'max_watts': 0, 'outlet_max_watts': [0] * n, 'over_s': 5,
                             'restore_s': 60})
    chip = _one(e, 'meter.chip', v['chip'], ('ade7953', 'hlw8012', 'bl0937'))
    v.setdefault('scale', _SCALES.get(chip, _SCALES['ade7953'])[:])
    if chip == 'ade7953':
        if not cfg['board'].get('i2c'):
            _bad(e, 'meter.chip', chip, 'board.i2c set: the ADE7953 is on I2C')
        if 'pins' in v:
            _bad(e, 'meter.pins', v['pins'], 'no pins: the ADE7953 is on I2C (pins are for hlw8012, bl0937)')
    elif chip:
        _pins(e, cfg['board'], v.setdefault('pins', [12, 13, 14]))
    s = v['scale']
    if type(s) is not list or len(s) != 4 or [x for x in s if type(x) not in (int, float) or not 0 < x < 1e9]:
        _bad(e, 'meter.scale', s, '4 numbers above 0: counts per volt, ampere, watt and watt-hour (calibrate)')
    _range(e, 'meter.max_watts', v['max_watts'], 0, 4600)  # 0: no overload protection; 20 A at 230 V
    m = v['outlet_max_watts']
    if type(m) is not list or len(m) != n or [x for x in m if type(x) is not int or not 0 <= x <= 4600]:
        _bad(e, 'meter.outlet_max_watts', m, '%d integers from 0 to 4600: each outlet\'s own limit, W (0: none)' % n)
    _range(e, 'meter.over_s', v['over_s'], 1, 600)
    _range(e, 'meter.restore_s', v['restore_s'], 5, 3600)


def _pins(e, b, pins):
    """A pulse chip's CF, CF1 and SEL: three GPIOs the board leaves free, none that sets the boot mode, and
    interrupts on CF and CF1."""
    if type(pins) is not list or len(pins) != 3:
        _bad(e, 'meter.pins', pins, 'three GPIOs: CF, CF1, SEL')
        return
    used = {}  # what the board's wiring gives each GPIO
    if b['expander'] is None:
        for i, pin in enumerate(b['relays'] or ()):
            used[pin] = 'board.relays[%d]' % i
    for bus in ('i2c', 'spi'):
        for k, pin in (b[bus] or {}).items():
            if k != 'freq':
                used[pin] = 'board.%s.%s' % (bus, k)
    for k in ('led', 'button'):
        used[b[k]] = 'board.' + k
    for i, pin in enumerate(pins):
        path = 'meter.pins[%d]' % i
        if not _gpio(e, path, pin):
            continue
        if pin in (0, 2, 15):
            _bad(e, path, pin, 'not GPIO%d: it sets the boot mode, and the chip would drive it at reset' % pin)
        elif pin == 16 and i < 2:
            _bad(e, path, pin, 'not GPIO16 for %s: GPIO16 has no interrupt' % ('CF', 'CF1')[i])
        elif pin in used:
            _bad(e, path, pin, 'a free pin, but %s uses it' % used[pin])
        used[pin] = path
