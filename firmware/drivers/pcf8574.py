"""PCF8574 8-bit I/O expander: a 0 drives a pin low, a 1 releases it (weak pull-up, also an input)."""


class PCF8574:
    def __init__(self, i2c, addr=0x20):
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(1)
        self.shadow = 0xFF  # the last byte written; the chip powers up with every pin high

    def write(self, byte):
        self.buf[0] = byte
        self.i2c.writeto(self.addr, self.buf)
        self.shadow = byte

    def read(self):
        self.i2c.readfrom_into(self.addr, self.buf)
        return self.buf[0]

    def pin(self, n, value=None):
        if value is None:
            return self.read() >> n & 1
        self.write(self.shadow | 1 << n if value else self.shadow & ~(1 << n))
