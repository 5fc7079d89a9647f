"""The arbiter: every wish for an outlet comes here; it decides, drives the relays, and says why.

Precedence: a hold (safety, load shedding) keeps an outlet off whatever is wished; otherwise
the most recent wish wins, whoever made it (badge, manual command, schedule, power-on).
Wishes made during a hold are remembered, so what should be on comes back when it ends.
Switch-ons are staggered to limit inrush; switch-offs are immediate.
"""
import time
from micropython import const

SAFETY = 1  # hold bits, strongest first
SHED = 2  # the server's shedding (link.py, orders.py)
OVER = 4  # the strip's own overload protection (meter.py)
_POLL_MS = const(20)  # how soon the loop's task notices a decision


class Outlets:
    def __init__(self, relays, names, stagger_ms=100):
        n = len(names)
        self.relays = relays  # fn(i, on): drives relay i (bringup.relays)
        self.names = names
        self.want = [False] * n
        self.why = ["boot"] * n  # who made the current wish
        self.hold = [0] * n  # SAFETY | SHED | OVER bits
        self.on = [False] * n  # what the relay is driven to
        self.stagger = stagger_ms
        self.last_on = time.ticks_add(time.ticks_ms(), -stagger_ms)
        self.listeners = []  # fn(i, on, reason) after each relay change
        self.wake = None  # True while the loop's task applies changes; otherwise they apply at once
        self.fault = None  # why the relays could not be driven, if they could not

    def __len__(self):
        return len(self.want)

    def wish(self, i, on, why):
        self.want[i] = bool(on)
        self.why[i] = why
        self._changed()

    def set_hold(self, i, bit, held=True):
        self.hold[i] = self.hold[i] | bit if held else self.hold[i] & ~bit
        self._changed()

    def reason(self, i):
        """Why outlet i is in its state, in words."""
        if self.want[i] and self.hold[i]:
            return "held off: " + ", ".join(n for b, n in ((SAFETY, "safety"), (SHED, "shed"), (OVER, "overload"))
                                            if self.hold[i] & b)
        if self.want[i] != self.on[i]:
            return "%s, switching %s" % (self.why[i], "on" if self.want[i] else "off")
        return self.why[i]

    def _changed(self):
        if not self.wake:
            self.settle()

    def step(self):
        """Apply what is decided: every off now, at most one on per stagger period.

        Return the ms to wait before the next on, or None when the relays match the decision.
        """
        wait = None
        for i in range(len(self.want)):
            target = self.want[i] and not self.hold[i]
            if target == self.on[i]:
                continue
            if not target:
                self._drive(i, False)
                if self.fault:
                    wait = 1000
                continue
            left = self.stagger - time.ticks_diff(time.ticks_ms(), self.last_on)
            if left > 0:
                wait = left if wait is None else min(wait, left)
                continue
            self.last_on = time.ticks_ms()
            self._drive(i, True)
            if self.fault:
                wait = 1000
        return wait

    def _drive(self, i, on):
        try:
            self.relays(i, on)
        except OSError as e:  # an expander that stopped answering: keep trying, say so
            self.fault = "relay driver: %r" % e
            return
        self.fault = None
        self.on[i] = on
        for fn in self.listeners:
            fn(i, on, self.reason(i))

    def settle(self):
        """Apply synchronously (REPL, boot): blocks for the stagger delays."""
        while True:
            wait = self.step()
            if wait is None:
                return
            time.sleep_ms(wait)

    async def run(self):
        """The task that applies decisions inside the app's loop. It looks every _POLL_MS for work rather
        than being woken, which would cost heap for little gain."""
        from firmware.loop import sleep_ms

        self.wake = True
        while True:
            wait = self.step()
            await sleep_ms(_POLL_MS if wait is None else min(wait, _POLL_MS))


# The relay drivers (bringup.relays): made here, in a module that stays, not in the one that is dropped after boot.
def gpio(pins, low):
    return lambda i, on: pins[i].value(bool(on) != low[i])


def expander(pcf, pins, low):
    return lambda i, on: pcf.pin(pins[i], bool(on) != low[i])
