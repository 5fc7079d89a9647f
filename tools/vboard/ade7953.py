"""Register-level model of the Analog Devices ADE7953 single-phase energy-metering chip on the bench's I2C bus.

The bus (datasheet Rev. B, "I2C Interface"): 7-bit address 0x38. A write transaction is the 16-bit register
address, then the register's bytes, all MSB first; a read is a write of the address alone, then a read of the
register's bytes (the pointer stays: a second read reads the same register again). The address gives the width:
0x000-0x0FF 8 bits, 0x100-0x1FF 16, 0x200-0x2FF 24, 0x300-0x3FF 32; VERSION (0x702) and EX_REF (0x800) are 8-bit.
A 32-bit register 0x3xx is the 24-bit register 0x2xx read or written through a wider window: one storage, its
upper byte the sign extension (signed registers) or 0 (unsigned ones: unverified, the datasheet says "sign
extended" for all); a write there keeps the low 24 bits. A read of more bytes than the register has gets 0xFF for
the rest (the chip lets SDA go: unverified); a write whose data is not the register's width is ignored (unverified:
the datasheet says so for the UART). An address the chip does not have reads as 0, and so do its registers the
model does not compute (IA, IB, V, ANGLE_A/B, the peaks, CRC); writes to read-only ones are ignored.

What the chip measures, `measure()`, is called with no argument and gives the truth now as a dict:
    volts   the mains voltage, V rms
    amps_a  the load's current on current channel A, A rms (amps_b: on channel B)
    pf_a    the power factor of that load, -1..1 (negative: power flows back to the grid; pf_b: on B)
    hz      the mains frequency
A missing key counts as 0 V, 0 A, power factor 1, 50 Hz. The current lags the voltage by acos(pf): reactive
power is V * I * sin(acos(pf)), never negative.

Scale: the model's own full-scale constants, chosen for a 230 V, 16 A strip (on a real board the ratios depend
on its shunt and voltage divider and are found by calibration):
    VRMS                       VRMS_PER_VOLT    = 20 000 counts per V      230 V: 4 600 000
    IRMSA, IRMSB               IRMS_PER_AMP     = 200 000 counts per A     16 A: 3 200 000
    AWATT, AVA, AVAR (and B)   POWER_PER_WATT   = 200 counts per W (VA, var)  3680 W: 736 000
    AENERGYA, RENERGYA, APENERGYA (and B)   ENERGY_PER_JOULE = 10 counts per J (W s): 1 Wh is 36 000
    PFA, PFB                   1.0 is 0x7FFF, one LSB 2**-15 (signed, as the datasheet)
    PERIOD                     PERIOD_CLOCK / hz - 1 (a 223.75 kHz period counter: unverified)
A signed register tops at 2**23 - 1 = 8 388 607 (41.9 kW), the rms ones at 2**24 - 1 (839 V, 83.9 A); 3680 W
accumulates 36 800 counts a second, well under the datasheet's 206.9 kHz with full-scale inputs, so an energy
register left unread at 16 A wraps after 228 s. Each gain register (0x400000 = 1.0) scales what it acts on (the
model's reading of the signal chain, unverified): AVGAIN the voltage channel (VRMS and every power and energy),
AIGAIN / BIGAIN a current channel (its IRMS, powers and energies), AWGAIN / BWGAIN active power and energy,
AVARGAIN / BVARGAIN reactive, AVAGAIN / BVAGAIN apparent. BVGAIN ("should not be modified"), the offsets and
PHCALx are kept, not applied; so are the PGA and no-load settings.

Every read of an rms, power or power-factor register draws its own noise, uniform within +-`noise` of the value
(relative; default 0.1 %) from random.Random(`seed`): the same seed and the same reads give the same values. The
energy registers integrate the noiseless power: the fraction of a count is carried, so no energy is lost to
rounding. Integration is lazy: every transaction (and sync()) adds the power times the time since the one before.
Without `pieces` it takes the truth at the end of the interval as the power over it: call sync() before changing
what measure() gives, so that the time before the change counts at the old load. With `pieces`, a function
pieces(t0, t1) giving [(seconds, truth), ...] that covers the interval (tools/vboard/mains.py's, whose loads change
by themselves at instants no one calls), it adds each piece at its own truth, as the bench's energy does. `clock` is
a monotonic time in seconds (not the bench's world clock, which can jump), the same as pieces'. The chip counts
while it has power, stopped or not.

Registers the model keeps as the datasheet says: LCYCMODE (0x40 at power-up: RSTREAD set, so a read of an energy
register returns it and clears it; line-cycle accumulation is not modelled), ACCMODE (the active-energy modes
normal, positive-only, absolute; APSIGN_x shows the sign of the active power), WRITE_PROTECT (bit 0 the 8-bit,
bit 1 the 16-bit, bit 2 the 24/32-bit registers; itself always writable), the key: register 0x120 takes a write
only right after 0xAD was written to 0xFE (another register write or a read in between loses the key; 0xFE reads
as 0), CONFIG (SWRST, bit 7, resets the chip), IRQSTATA (RESET, bit 20, set at power-up and reset; a read of
RSTIRQSTATA clears it), LAST_OP, LAST_ADD and LAST_RWDATA (the last register read or write; reading them does not
change them: unverified). VERSION gives the model's own VERSION_ID: the datasheet gives no value (ADI's own
driver tells the chip by LCYCMODE's 0x40).

Faults: stop() and the chip acknowledges nothing (a transaction raises Nack, as a device not on the bus) until
start(); power(False) loses every register (no battery), power(True) starts from the power-up values. garble()
flips a bit in what the bus carries back for the next read(s), after the chip sent it (a noisy bus: LAST_RWDATA
keeps what the chip sent). force() puts a value in a register, out of range say, as a glitch inside the chip would:
the chip sends it and LAST_RWDATA agrees.
"""

import math
import random
import time

from .chips import I2CDevice, Nack

VRMS_PER_VOLT = 20_000
IRMS_PER_AMP = 200_000
POWER_PER_WATT = 200
ENERGY_PER_JOULE = 10
PF_ONE = 0x7FFF
PERIOD_CLOCK = 223_750.0
UNITY = 0x400000  # a gain register's 1.0
VERSION_ID = 0x01  # the model's own: the datasheet's VERSION has no stated value

# register addresses (datasheet Tables 13, 14, 15: the 24-bit ones, 0x3xx being their 32-bit windows)
LCYCMODE, WRITE_PROTECT, LAST_OP, UNLOCK, LAST_RWDATA8, VERSION = 0x004, 0x040, 0x0FD, 0x0FE, 0x0FF, 0x702
CONFIG, PFA, PFB, PERIOD, RESERVED_120, LAST_ADD, LAST_RWDATA16 = 0x102, 0x10A, 0x10B, 0x10E, 0x120, 0x1FE, 0x1FF
ACCMODE, AVA, BVA, AWATT, BWATT, AVAR, BVAR = 0x201, 0x210, 0x211, 0x212, 0x213, 0x214, 0x215
IRMSA, IRMSB, VRMS = 0x21A, 0x21B, 0x21C
AENERGYA, AENERGYB, RENERGYA, RENERGYB, APENERGYA, APENERGYB = 0x21E, 0x21F, 0x220, 0x221, 0x222, 0x223
IRQSTATA, RSTIRQSTATA, IRQSTATB, RSTIRQSTATB = 0x22D, 0x22E, 0x230, 0x231
AIGAIN, AVGAIN, AWGAIN, AVARGAIN, AVAGAIN = 0x280, 0x281, 0x282, 0x283, 0x284
BIGAIN, BVGAIN, BWGAIN, BVARGAIN, BVAGAIN = 0x28C, 0x28D, 0x28E, 0x28F, 0x290
LAST_RWDATA24 = 0x2FF
LAST_RWDATA32 = 0x3FF  # not a window on 0x2FF: the data of the last 32-bit transaction, whole

# address: (name, power-up value, signed, writable), every register of the three tables and the key register 0xFE
REGISTERS = {
    0x000: ("SAGCYC", 0x00, False, True),
    0x001: ("DISNOLOAD", 0x00, False, True),
    0x004: ("LCYCMODE", 0x40, False, True),
    0x007: ("PGA_V", 0x00, False, True),
    0x008: ("PGA_IA", 0x00, False, True),
    0x009: ("PGA_IB", 0x00, False, True),
    0x040: ("WRITE_PROTECT", 0x00, False, True),
    0x0FD: ("LAST_OP", 0x00, False, False),
    0x0FE: ("UNLOCK", 0x00, False, True),
    0x0FF: ("LAST_RWDATA8", 0x00, False, False),
    0x702: ("VERSION", VERSION_ID, False, False),
    0x800: ("EX_REF", 0x00, False, True),
    0x100: ("ZXTOUT", 0xFFFF, False, True),
    0x101: ("LINECYC", 0x0000, False, True),
    0x102: ("CONFIG", 0x8004, False, True),
    0x103: ("CF1DEN", 0x003F, False, True),
    0x104: ("CF2DEN", 0x003F, False, True),
    0x107: ("CFMODE", 0x0300, False, True),
    0x108: ("PHCALA", 0x0000, False, True),  # sign and magnitude: kept as written
    0x109: ("PHCALB", 0x0000, False, True),
    0x10A: ("PFA", 0x0000, True, False),
    0x10B: ("PFB", 0x0000, True, False),
    0x10C: ("ANGLE_A", 0x0000, True, False),
    0x10D: ("ANGLE_B", 0x0000, True, False),
    0x10E: ("PERIOD", 0x0000, False, False),
    0x110: ("ALT_OUTPUT", 0x0000, False, True),
    0x120: ("RESERVED_120", 0x0000, False, True),  # reserved: "set to 0x30", behind the key
    0x1FE: ("LAST_ADD", 0x0000, False, False),
    0x1FF: ("LAST_RWDATA16", 0x0000, False, False),
    0x200: ("SAGLVL", 0x000000, False, True),
    0x201: ("ACCMODE", 0x000000, False, True),
    0x203: ("AP_NOLOAD", 0x00E419, False, True),
    0x204: ("VAR_NOLOAD", 0x00E419, False, True),
    0x205: ("VA_NOLOAD", 0x000000, False, True),
    0x210: ("AVA", 0, True, False),
    0x211: ("BVA", 0, True, False),
    0x212: ("AWATT", 0, True, False),
    0x213: ("BWATT", 0, True, False),
    0x214: ("AVAR", 0, True, False),
    0x215: ("BVAR", 0, True, False),
    0x216: ("IA", 0, True, False),
    0x217: ("IB", 0, True, False),
    0x218: ("V", 0, True, False),
    0x21A: ("IRMSA", 0, False, False),
    0x21B: ("IRMSB", 0, False, False),
    0x21C: ("VRMS", 0, False, False),
    0x21E: ("AENERGYA", 0, True, False),
    0x21F: ("AENERGYB", 0, True, False),
    0x220: ("RENERGYA", 0, True, False),
    0x221: ("RENERGYB", 0, True, False),
    0x222: ("APENERGYA", 0, True, False),
    0x223: ("APENERGYB", 0, True, False),
    0x224: ("OVLVL", 0xFFFFFF, False, True),
    0x225: ("OILVL", 0xFFFFFF, False, True),
    0x226: ("VPEAK", 0, False, False),
    0x227: ("RSTVPEAK", 0, False, False),
    0x228: ("IAPEAK", 0, False, False),
    0x229: ("RSTIAPEAK", 0, False, False),
    0x22A: ("IBPEAK", 0, False, False),
    0x22B: ("RSTIBPEAK", 0, False, False),
    0x22C: ("IRQENA", 0x100000, False, True),
    0x22D: ("IRQSTATA", 0, False, False),
    0x22E: ("RSTIRQSTATA", 0, False, False),
    0x22F: ("IRQENB", 0, False, True),
    0x230: ("IRQSTATB", 0, False, False),
    0x231: ("RSTIRQSTATB", 0, False, False),
    0x280: ("AIGAIN", UNITY, False, True),
    0x281: ("AVGAIN", UNITY, False, True),
    0x282: ("AWGAIN", UNITY, False, True),
    0x283: ("AVARGAIN", UNITY, False, True),
    0x284: ("AVAGAIN", UNITY, False, True),
    0x285: ("RESERVED_285", 0, True, True),
    0x286: ("AIRMSOS", 0, True, True),
    0x287: ("RESERVED_287", 0, True, True),
    0x288: ("VRMSOS", 0, True, True),
    0x289: ("AWATTOS", 0, True, True),
    0x28A: ("AVAROS", 0, True, True),
    0x28B: ("AVAOS", 0, True, True),
    0x28C: ("BIGAIN", UNITY, False, True),
    0x28D: ("BVGAIN", UNITY, False, True),
    0x28E: ("BWGAIN", UNITY, False, True),
    0x28F: ("BVARGAIN", UNITY, False, True),
    0x290: ("BVAGAIN", UNITY, False, True),
    0x291: ("RESERVED_291", 0, True, True),
    0x292: ("BIRMSOS", 0, True, True),
    0x293: ("RESERVED_293", 0, False, True),
    0x294: ("RESERVED_294", 0, False, True),
    0x295: ("BWATTOS", 0, True, True),
    0x296: ("BVAROS", 0, True, True),
    0x297: ("BVAOS", 0, True, True),
    0x2FF: ("LAST_RWDATA24", 0, False, False),
}

RSTREAD = 0x40  # LCYCMODE: a read of an energy register clears it
SWRST = 0x0080  # CONFIG: software reset
RESET = 1 << 20  # IRQSTATA: the chip (re)started
ACCMODE_WRITABLE = 0x0003FF  # bits 10 up are status
APSIGN_A, APSIGN_B = 1 << 10, 1 << 11  # ACCMODE: active power negative
UNLOCK_KEY, READ_OP, WRITE_OP = 0xAD, 0x35, 0xCA

_POWERS = (AWATT, BWATT, AVA, BVA, AVAR, BVAR, IRMSA, IRMSB, VRMS, PFA, PFB, PERIOD)
_ENERGIES = (AENERGYA, AENERGYB, RENERGYA, RENERGYB, APENERGYA, APENERGYB)
_CHANNELS = (  # current channel: its key in measure(), registers, gain registers, ACCMODE shift of its mode
    ("a", (IRMSA, AWATT, AVA, AVAR, PFA, AENERGYA, APENERGYA, RENERGYA), (AIGAIN, AWGAIN, AVAGAIN, AVARGAIN), 0),
    ("b", (IRMSB, BWATT, BVA, BVAR, PFB, AENERGYB, APENERGYB, RENERGYB), (BIGAIN, BWGAIN, BVAGAIN, BVARGAIN), 2),
)
_LAST = (LAST_OP, LAST_ADD, LAST_RWDATA8, LAST_RWDATA16, LAST_RWDATA24, LAST_RWDATA32)


def width(addr):
    """Bytes in the register at `addr` as the chip sends it (None: no register can be there)."""
    if addr in (0x702, 0x800):
        return 1
    return {0: 1, 1: 2, 2: 3, 3: 4}.get(addr >> 8)


def _clamp(value, bits, signed):
    low, high = (-(1 << bits - 1), (1 << bits - 1) - 1) if signed else (0, (1 << bits) - 1)
    return min(max(value, low), high)


def _wrap24(value):
    return (value + (1 << 23)) % (1 << 24) - (1 << 23)


class ADE7953(I2CDevice):
    """ADE7953 energy meter on I2C: measure() gives the truth (see the module), clock() monotonic seconds."""

    def __init__(self, measure, clock=time.monotonic, noise=0.001, seed=7953, addr=0x38, pieces=None):
        self.measure = measure
        self.pieces = pieces
        self.clock = clock
        self.noise = noise
        self.addr = addr
        self.stopped = False
        self._rng = random.Random(seed)
        self._powered = True
        self._garble = []  # the bus's faults: [register or None (any), reads left, bit or None (any)]
        self._reset()

    # the bus

    def write(self, data):
        self._check()
        self.sync()
        if len(data) < 2:
            return  # an address probe: acknowledged, nothing written
        addr = data[0] << 8 | data[1]
        self._pointer = addr
        if len(data) == 2:
            return  # the first half of a read
        key, self._key = self._key, False
        n = width(addr)
        if n is None or len(data) - 2 != n:
            return
        value = int.from_bytes(data[2:], "big")
        self._note(WRITE_OP, addr, n, value)
        self._store(addr, value, key)

    def read(self, n):
        self._check()
        self.sync()
        self._key = False
        addr = self._pointer
        size = width(addr)
        if size is None:
            return bytes(n)
        value = self._get(addr, take=True)
        if addr not in _LAST:
            self._note(READ_OP, addr, size, value)
        return self._carried(addr, size, (value.to_bytes(size, "big") + b"\xff" * n)[:n])

    def power(self, on):
        if on and not self._powered:
            self._powered = True
            self._reset()
        self._powered = on

    # faults and test helpers

    def stop(self):
        """The chip acknowledges nothing (it goes on measuring) until start()."""
        self.stopped = True

    def start(self):
        self.stopped = False

    def garble(self, reads=1, addr=None, bit=None):
        """The next `reads` reads (of the register at `addr` only, or of any) reach the host with one bit flipped:
        `bit` counted from the least significant bit of the register's value as sent, or a seeded random one."""
        self._garble.append([addr, reads, bit])

    def force(self, addr, value, reads=1):
        """The register at `addr` (its 8-, 16- or 24-bit address) holds `value` (unsigned, as sent) for its next
        `reads` reads, in place of what it measured or kept (an energy register's count so far is lost with it; a
        power cycle or a reset ends it)."""
        self._forced[addr] = [value, reads]

    def sync(self):
        """Count the energy up to now: at the present truth, or over pieces(then, now)."""
        now = self.clock()
        then, self._then = self._then, now
        if not self._powered or now <= then:
            return
        for dt, truth in (self.pieces(then, now) if self.pieces else [(now - then, None)]):
            levels = self._levels(truth)
            for reg in _ENERGIES:
                carried = self._carry[reg] + levels[reg] * dt
                whole = math.floor(carried)
                self._carry[reg] = carried - whole
                self._regs[reg] = _wrap24(self._regs[reg] + whole)

    def register(self, addr):
        """What a read of `addr` would give now as an unsigned integer, without noise and without a read's effects
        (an energy register is not cleared)."""
        self.sync()
        return self._get(addr, take=False, jitter=False)

    # inside

    def _reset(self):
        """Power-up values: every register at its default, energy and its carried fractions 0."""
        self._regs = {addr: default for addr, (_name, default, _signed, _writable) in REGISTERS.items()}
        self._regs[LAST_RWDATA32] = 0
        self._regs[IRQSTATA] |= RESET
        self._carry = dict.fromkeys(_ENERGIES, 0.0)
        self._forced = {}  # register: [value, reads left]
        self._pointer = 0
        self._key = False
        self._then = self.clock()

    def _check(self):
        if self.stopped or not self._powered:
            raise Nack(self.addr)

    def _note(self, op, addr, size, value):
        """LAST_OP, LAST_ADD, LAST_RWDATA: what the last transaction was."""
        self._regs[LAST_OP] = op
        self._regs[LAST_ADD] = addr
        self._regs[(LAST_RWDATA8, LAST_RWDATA16, LAST_RWDATA24, LAST_RWDATA32)[size - 1]] = value

    def _store(self, addr, value, key):
        """A write of `value` (the bytes as sent) to `addr`; `key`: 0xAD went to 0xFE in the transaction before."""
        size = width(addr)
        if addr != WRITE_PROTECT and self._regs[WRITE_PROTECT] & 1 << min(size, 3) - 1:
            return
        base = addr - 0x100 if size == 4 else addr
        if base == UNLOCK:
            self._key = value == UNLOCK_KEY
            return
        _name, _default, signed, writable = REGISTERS.get(base, (None, 0, False, False))
        if not writable or (base == RESERVED_120 and not key):
            return
        bits = 8 * min(size, 3)
        value &= (1 << bits) - 1
        if signed and value >> bits - 1:
            value -= 1 << bits
        if base == CONFIG and value & SWRST:
            self._reset()
            return
        if base == ACCMODE:
            value &= ACCMODE_WRITABLE
        elif base == WRITE_PROTECT:
            value &= 0x07
        self._regs[base] = value

    def _get(self, addr, take, jitter=True):
        """The register at `addr` as the chip sends it (unsigned, its width); `take`: a read's effects happen."""
        size = width(addr)
        base = addr - 0x100 if size == 4 and addr != LAST_RWDATA32 else addr
        if base in self._forced:
            value = self._forced[base][0]
            if take:
                self._forced[base][1] -= 1
                if not self._forced[base][1]:
                    del self._forced[base]
                if base in _ENERGIES:
                    self._regs[base] = 0
        elif base in _POWERS:
            value = self._measured(base, jitter)
        elif base == ACCMODE:
            levels = self._levels()
            value = self._regs[base] | (APSIGN_A if levels[AWATT] < 0 else 0) | (APSIGN_B if levels[BWATT] < 0 else 0)
        elif base in (RSTIRQSTATA, RSTIRQSTATB):
            value = self._regs[base - 1]
            if take:
                self._regs[base - 1] = 0
        elif base == UNLOCK:
            value = 0  # write-only
        else:
            value = self._regs.get(base, 0)
            if take and base in _ENERGIES and self._regs[LCYCMODE] & RSTREAD:
                self._regs[base] = 0  # the carried fraction stays: it belongs to the next count
        return value & (1 << 8 * size) - 1

    def _carried(self, addr, size, data):
        """The bytes of a read as the host gets them: a bit flipped while garble() says so."""
        if not data:
            return data
        for fault in self._garble:
            if fault[0] in (None, addr):
                fault[1] -= 1
                if not fault[1]:
                    self._garble.remove(fault)
                k = min(size, len(data))  # the register's bytes carried (a read may take fewer, or more: 0xFF)
                bit = self._rng.randrange(8 * k) if fault[2] is None else fault[2]
                flipped = bytearray(data)
                if bit < 8 * k:
                    flipped[k - 1 - bit // 8] ^= 1 << bit % 8
                return bytes(flipped)
        return data

    def _levels(self, m=None):
        """The noiseless values, from the truth m (measure() now when None) and the gains: counts for the rms,
        power, power-factor and period registers, counts a second for the energy registers."""
        if m is None:
            m = self.measure()
        volts = float(m.get("volts", 0.0))
        hz = float(m.get("hz", 50.0))
        v_gain = self._gain(AVGAIN)
        levels = {VRMS: volts * VRMS_PER_VOLT * v_gain, PERIOD: PERIOD_CLOCK / hz - 1 if hz > 0 else 0xFFFF}
        for ch, regs, gains, shift in _CHANNELS:
            irms, watt, va, var, pf_reg, energy, apenergy, renergy = regs
            amps = float(m.get("amps_" + ch, 0.0))
            pf = min(max(float(m.get("pf_" + ch, 1.0)), -1.0), 1.0)
            i_gain, w_gain, va_gain, var_gain = (self._gain(g) for g in gains)
            apparent = volts * amps * v_gain * i_gain  # as the chip counts it, before the power gains
            p = apparent * pf * w_gain
            s = apparent * va_gain
            q = apparent * math.sqrt(1.0 - pf * pf) * var_gain
            levels[irms] = amps * IRMS_PER_AMP * i_gain
            levels[watt], levels[va], levels[var] = p * POWER_PER_WATT, s * POWER_PER_WATT, q * POWER_PER_WATT
            levels[pf_reg] = p / s * (PF_ONE + 1) if s else 0.0
            mode = self._regs[ACCMODE] >> shift & 3  # 0 normal, 1 positive-only, 2 absolute
            levels[energy] = (max(p, 0.0) if mode == 1 else abs(p) if mode == 2 else p) * ENERGY_PER_JOULE
            levels[apenergy] = s * ENERGY_PER_JOULE
            levels[renergy] = q * ENERGY_PER_JOULE
        return levels

    def _gain(self, reg):
        return self._regs[reg] / UNITY

    def _measured(self, reg, jitter):
        """The signed value of an rms, power, power-factor or period register now."""
        value = self._levels()[reg]
        if jitter and self.noise and reg != PERIOD:
            value *= 1.0 + self._rng.uniform(-self.noise, self.noise)
        return _clamp(round(value), 8 * width(reg), REGISTERS[reg][2])
