"""An emulated ESP8266 serial bootloader on a pseudo-terminal: esptool flashes it as it would a NodeMCU.

    with RomLoader() as chip:            # opens a pty pair and serves the master end in a thread
        run(["esptool", "--chip", "esp8266", "--port", chip.port, "erase-flash"])
        chip.flash                       # bytes: the 4 MB flash as the chip now holds it

What it speaks (the bytes as esptool 5.6 sends and expects them; see esptool/loader.py, targets/esp8266.py and
esp-flasher-stub's command_handler.c, whose v1.4.1 build esptool uploads):

- SLIP framing both ways; commands (direction 0x00, op, size, checksum, data), responses (direction 0x01, op, size,
  value, data + status). Status is two bytes (failure flag, ROM error code) from the ESP8266 ROM, four from an ESP32's.
- ROM loader: SYNC (eight answers, value 0x20120707 as the ESP8266 ROM sends), READ_REG/WRITE_REG on a register file
  (chip magic 0x40001000, efuses/MAC 0x3FF00050..5C, UART_CLKDIV for the crystal estimate, and the SPI user-command
  registers, so esptool's JEDEC id and SFDP reads reach an emulated Winbond W25Q32 flash chip), MEM_BEGIN/DATA/END
  (esptool uploads its flasher stub; MEM_END jumping into the uploaded code starts the stub, which says OHAI),
  FLASH_BEGIN/DATA/END (erasing up front with the ESP8266 ROM's erase-size bug, that esptool works around), and the
  ROM's "invalid message" (0x05) answer to anything else (GET_SECURITY_INFO, CHANGE_BAUDRATE, SPI_SET_PARAMS...).
- Flasher stub: SYNC (eight answers, value 0: "stub already running"), READ_REG/WRITE_REG, SPI_ATTACH,
  SPI_SET_PARAMS, CHANGE_BAUDRATE (acknowledged: a pty has no baud rate), FLASH_BEGIN/DATA/END,
  FLASH_DEFL_BEGIN/DATA/END (inflated with zlib), SPI_FLASH_MD5, ERASE_FLASH, ERASE_REGION, READ_FLASH (acknowledged
  packets, then the MD5), MEM_*, RUN_USER_CODE; error codes 0xC000-0xFF00 as the stub sends them.
- The flash is NOR: erasing sets 4 KB sectors to 0xFF, programming can only clear bits (new = old & data).

A pty has no DTR/RTS lines, so esptool cannot reset the chip (it warns and goes on). The emulator stands in for a
NodeMCU's auto-reset circuit: each time the host opens the port again after everyone closed it, the chip is back in
its ROM bootloader (reset_on_reopen=False keeps it in whatever state the last session left, e.g. the stub running).
`chip="esp32"` answers as an ESP32's ROM would (its SYNC, magic value and four status bytes), as far as esptool's
wrong-chip check: "This chip is ESP32, not ESP8266". Beyond that it is no ESP32 (no ESP32 stub, efuses, SPI registers).
"""

import errno
import hashlib
import os
import select
import struct
import threading
import time
import tty
import zlib

SECTOR = 0x1000
MAGIC = {"esp8266": 0xFFF0C101, "esp32": 0x00F01D83}  # READ_REG 0x40001000, as esptool tells the chips apart
SYNC_VALUE = {"esp8266": 0x20120707, "esp32": 0x55201207}  # what each ROM puts in its SYNC answers' value field
SYNC_DATA = b"\x07\x07\x12\x20" + b"\x55" * 32
OHAI = b"OHAI"

OPS = {0x02: "FLASH_BEGIN", 0x03: "FLASH_DATA", 0x04: "FLASH_END", 0x05: "MEM_BEGIN", 0x06: "MEM_END",
       0x07: "MEM_DATA", 0x08: "SYNC", 0x09: "WRITE_REG", 0x0A: "READ_REG", 0x0B: "SPI_SET_PARAMS",
       0x0D: "SPI_ATTACH", 0x0E: "READ_FLASH_SLOW", 0x0F: "CHANGE_BAUDRATE", 0x10: "FLASH_DEFL_BEGIN",
       0x11: "FLASH_DEFL_DATA", 0x12: "FLASH_DEFL_END", 0x13: "SPI_FLASH_MD5", 0x14: "GET_SECURITY_INFO",
       0xD0: "ERASE_FLASH", 0xD1: "ERASE_REGION", 0xD2: "READ_FLASH", 0xD3: "RUN_USER_CODE"}

# ROM error codes (second status byte)
ROM_INVALID_MSG, ROM_BAD_CRC, ROM_FLASH_WRITE_ERR = 0x05, 0x07, 0x08
# Stub response codes (sent big-endian in the two status bytes)
BAD_DATA_LEN, BAD_DATA_CHECKSUM, INVALID_COMMAND, FAILED_SPI_OP = 0xC000, 0xC100, 0xC300, 0xC400
NOT_IN_FLASH_MODE, INFLATE_ERROR, NOT_ENOUGH_DATA, TOO_MUCH_DATA = 0xC600, 0xC700, 0xC800, 0xC900
NOT_IMPLEMENTED = 0xFF00

# ESP8266 registers esptool touches
UART_CLKDIV = 0x60000014
SPI_BASE = 0x60000200
SPI_CMD, SPI_ADDR, SPI_USR, SPI_USR1, SPI_USR2, SPI_W0 = (SPI_BASE + o for o in (0x00, 0x04, 0x1C, 0x20, 0x24, 0x40))
SPI_CMD_USR = 1 << 18
SPI_USR_ADDR, SPI_USR_MISO = 1 << 30, 1 << 28
# efuses: an ESP8266EX (no ESP8285 bits) whose MAC reads 2c:f4:32:6e:3c:a5
EFUSES = {0x3FF00050: 0xA5000000, 0x3FF00054: 0x02006E3C, 0x3FF00058: 0xB300B000, 0x3FF0005C: 0x002CF432}
CLKDIV_26MHZ = 0x1C4  # 115200 baud from the 52 MHz APB: esptool reads "Crystal frequency: 26MHz"
IRAM = (0x40100000, 0x40110000)  # 32 KB IRAM + 32 KB that the SDK maps as cache; esptool's stub loads at 0x4010C500


class Fail(Exception):
    """A command the chip refuses: code is the ROM error byte or the stub's 16-bit response code."""

    def __init__(self, code):
        super().__init__(hex(code))
        self.code = code


def slip(packet):
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def checksum(data):
    c = 0xEF
    for b in data:
        c ^= b
    return c


class SlipDecoder:
    """Bytes in, whole packets out; bytes between frames are line noise the ROM ignores."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.buf, self.inside, self.esc = bytearray(), False, False

    def feed(self, data):
        out = []
        for b in data:
            if b == 0xC0:  # ends a frame, or opens one (a closing 0xC0 may open the next, too)
                if self.inside and self.buf:
                    out.append(bytes(self.buf))
                self.inside, self.buf, self.esc = True, bytearray(), False
            elif not self.inside:
                continue
            elif self.esc:
                self.esc = False
                if b == 0xDC:
                    self.buf.append(0xC0)
                elif b == 0xDD:
                    self.buf.append(0xDB)
                else:  # invalid escape: drop the frame
                    self.inside, self.buf = False, bytearray()
            elif b == 0xDB:
                self.esc = True
            else:
                self.buf.append(b)
        return out


class RomLoader:
    """The bootloader of one ESP8266 (or, with chip="esp32", the wrong chip) behind a pseudo-terminal."""

    def __init__(self, chip="esp8266", flash_size=4 << 20, contents=b"", reset_on_reopen=True, start=True):
        """contents: what the flash holds from offset 0 before the host comes (0xFF after it, as erased)."""
        if chip not in MAGIC:
            raise ValueError("chip: esp8266 or esp32")
        if flash_size & (flash_size - 1) or not (1 << 18) <= flash_size <= (1 << 24):
            raise ValueError("flash_size: a power of two, 256 KB to 16 MB")
        self.chip, self.flash_size, self.reset_on_reopen = chip, flash_size, reset_on_reopen
        if len(contents) > flash_size:
            raise ValueError("contents larger than the flash")
        self._flash = bytearray(contents) + b"\xff" * (flash_size - len(contents))
        self.jedec = (0xEF, 0x40, flash_size.bit_length() - 1)  # Winbond W25Qxx: manufacturer, type, capacity
        self.baud = 115200
        self.set_params = None  # what esptool last sent with SPI_SET_PARAMS
        self.log = []  # (state, command name) of every command served, in order
        self.errors = []  # exceptions raised while serving (a bug here, not a refusal to the host)
        self.resets = 0
        self._lock = threading.Lock()
        self._master, slave = os.openpty()
        self.port = os.ttyname(slave)
        tty.setraw(slave)  # pyserial sets raw mode too when esptool opens the port
        os.close(slave)  # the host holds the only slave fd: its close is seen here as a hang-up
        os.set_blocking(self._master, False)
        self._hung_up = True
        self._decoder = SlipDecoder()
        self._stop = threading.Event()
        self._thread = None
        self._reset()
        if start:
            self.start()

    # ---- the host's view --------------------------------------------------------------------------------------

    @property
    def flash(self):
        with self._lock:
            return bytes(self._flash)

    @property
    def state(self):
        """rom (the serial bootloader), stub (esptool's flasher stub running) or app (the loader is gone)."""
        return self._state

    def commands(self, state=None):
        return [name for st, name in self.log if state in (None, st)]

    def reset(self):
        """Press RST with GPIO0 held low: back in the ROM bootloader."""
        with self._lock:
            self._reset()

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="romloader " + self.port, daemon=True)
            self._thread.start()
        return self

    def close(self, timeout=2.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- the serial line ----------------------------------------------------------------------------------------

    def _serve(self):
        poll = select.poll()
        poll.register(self._master, select.POLLIN)
        while not self._stop.is_set():
            try:
                if not poll.poll(50):
                    continue
                data = os.read(self._master, 65536)
            except BlockingIOError:
                continue
            except OSError as e:
                if e.errno != errno.EIO:
                    self.errors.append(e)
                    return
                self._hung_up = True  # nobody has the port open (the host closed it, or has yet to open it)
                self._stop.wait(0.01)
                continue
            with self._lock:
                if self._hung_up:
                    self._hung_up = False
                    if self.reset_on_reopen:
                        self._reset()
                packets = self._decoder.feed(data)
            for packet in packets:
                try:
                    with self._lock:
                        self._packet(packet)
                except Exception as e:  # keep serving: the test sees it in .errors
                    self.errors.append(e)

    def _send(self, packet, frame=True):
        data = slip(packet) if frame else packet
        end = time.monotonic() + 2.0
        while data and self._master is not None:
            try:
                n = os.write(self._master, data)
                data = data[n:]
            except BlockingIOError:
                if time.monotonic() > end:
                    return  # the host stopped reading: as a UART, drop the rest
                select.select([], [self._master], [], 0.05)
            except OSError:
                return  # hung up

    def _respond(self, op, value=0, data=b"", code=0):
        if self._state == "stub":
            status = struct.pack(">H", code)
        else:
            status = bytes([1 if code else 0, code]) + (b"\0\0" if self.chip == "esp32" else b"")
        body = data + status
        self._send(struct.pack("<BBHI", 1, op, len(body), value) + body)

    # ---- the chip ---------------------------------------------------------------------------------------------

    def _reset(self):
        self._state = "rom"
        self.resets += 1
        self._regs = {0x40001000: MAGIC[self.chip], UART_CLKDIV: CLKDIV_26MHZ}
        if self.chip == "esp8266":
            self._regs.update(EFUSES)
        self._ram = []  # (address, bytes) uploaded with MEM_DATA
        self._mem = None  # MEM_BEGIN state
        self._fl = None  # FLASH_BEGIN / FLASH_DEFL_BEGIN state
        self._reading = None  # READ_FLASH in progress
        self._decoder.reset()

    def _packet(self, p):
        if self._state == "app":
            return  # running the application (or crashed): the loader no longer listens
        if self._reading is not None:
            return self._read_ack(p)
        if len(p) < 8:
            return
        direction, op, size, chk = struct.unpack_from("<BBHI", p)
        data = p[8:]
        name = OPS.get(op, "0x%02X" % op)
        self.log.append((self._state, name))
        stub = self._state == "stub"
        if direction != 0:
            if stub:
                self._respond(op, code=INVALID_COMMAND)
            return
        if size != len(data):
            self._respond(op, code=BAD_DATA_LEN if stub else ROM_INVALID_MSG)
            return
        handler = getattr(self, ("_stub_" if stub else "_rom_") + name.lower(), None)
        if handler is None:
            self._respond(op, code=INVALID_COMMAND if stub else ROM_INVALID_MSG)
            return
        try:
            result = handler(data, chk)
        except Fail as f:
            self._respond(op, code=f.code)
            return
        if result is None:
            return  # the handler answered itself, or must not answer
        value, payload, after = ((result if isinstance(result, tuple) else (result,)) + (b"", None))[:3]
        self._respond(op, value, payload)
        if after:
            after()  # what the chip does once its answer is out (jump to the stub, leave the loader...)

    # registers, and the SPI controller's user commands that reach the flash chip

    def _read_reg(self, addr):
        return self._regs.get(addr, 0)

    def _write_regs(self, data):
        for i in range(0, len(data) - 15, 16):
            addr, value, mask, _delay = struct.unpack_from("<IIII", data, i)
            if addr == 0x40001000:
                continue  # ROM
            self._regs[addr] = (value & mask) | (self._regs.get(addr, 0) & ~mask & 0xFFFFFFFF)
            if addr == SPI_CMD and self._regs[addr] & SPI_CMD_USR:
                self._spi_user_command()

    def _spi_user_command(self):
        usr, usr1, usr2 = self._read_reg(SPI_USR), self._read_reg(SPI_USR1), self._read_reg(SPI_USR2)
        command = usr2 & 0xFF
        read_bits = ((usr1 >> 8) & 0x1FF) + 1 if usr & SPI_USR_MISO else 0
        addr = self._read_reg(SPI_ADDR) >> 8 if usr & SPI_USR_ADDR else 0  # 24-bit address, MSB-aligned
        n = (read_bits + 7) // 8
        if command == 0x9F:  # RDID
            out = bytes(self.jedec)
        elif command == 0x5A:  # read SFDP
            out = self._sfdp()[addr:addr + n]
        elif command in (0x05, 0x35, 0x15):  # status registers: nothing in progress, no protection
            out = b"\0"
        elif command == 0xAB:  # release power-down: the old electronic signature
            out = bytes([self.jedec[2] - 1])
        else:
            out = b""
        out = (out + b"\xff" * n)[:n]  # MISO idles high
        if read_bits:
            self._regs[SPI_W0] = int.from_bytes(out.ljust(4, b"\0")[:4], "little") & ((1 << min(read_bits, 32)) - 1)
        self._regs[SPI_CMD] &= ~SPI_CMD_USR  # done at once

    def _sfdp(self):
        head = b"SFDP" + bytes([0x06, 0x01, 0x00, 0xFF]) + bytes([0x00, 0x06, 0x01, 0x09, 0x80, 0x00, 0x00, 0xFF])
        table = struct.pack("<II", 0xFFF920E5, self.flash_size * 8 - 1)
        return head.ljust(0x80, b"\xff") + table.ljust(0x80, b"\xff")

    # the flash chip

    def _erase(self, start, end):
        start, end = start // SECTOR * SECTOR, min(-(-end // SECTOR) * SECTOR, self.flash_size)
        self._flash[start:end] = b"\xff" * max(0, end - start)

    def _program(self, addr, data):
        if addr + len(data) > self.flash_size:
            return False
        old = self._flash[addr:addr + len(data)]
        self._flash[addr:addr + len(data)] = (int.from_bytes(old, "little") & int.from_bytes(data, "little")).to_bytes(
            len(data), "little")
        return True

    # ---- the ROM loader ---------------------------------------------------------------------------------------

    def _rom_sync(self, data, chk):
        if data != SYNC_DATA:
            return None  # not a sync pattern: the ROM does not answer
        for _ in range(8):
            self._respond(0x08, SYNC_VALUE[self.chip])
        return None

    def _rom_read_reg(self, data, chk):
        if len(data) != 4:
            raise Fail(ROM_INVALID_MSG)
        return self._read_reg(struct.unpack("<I", data)[0])

    def _rom_write_reg(self, data, chk):
        if not data or len(data) % 16:
            raise Fail(ROM_INVALID_MSG)
        self._write_regs(data)
        return 0

    def _rom_mem_begin(self, data, chk):
        if len(data) < 16:
            raise Fail(ROM_INVALID_MSG)
        size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        self._mem = {"size": size, "blocks": blocks, "block_size": block_size, "offset": offset, "seq": 0}
        return 0

    def _rom_mem_data(self, data, chk):
        if self._mem is None or len(data) < 16:
            raise Fail(ROM_INVALID_MSG)
        length, seq = struct.unpack_from("<II", data)
        block = data[16:]
        if length != len(block) or seq != self._mem["seq"]:
            raise Fail(ROM_INVALID_MSG)
        if checksum(block) != chk & 0xFF:
            raise Fail(ROM_BAD_CRC)
        self._ram.append((self._mem["offset"] + seq * self._mem["block_size"], bytes(block)))
        self._mem["seq"] += 1
        return 0

    def _rom_mem_end(self, data, chk):
        if len(data) < 8:
            raise Fail(ROM_INVALID_MSG)
        no_exec, entry = struct.unpack_from("<II", data)
        self._mem = None
        if no_exec:
            return 0
        return 0, b"", lambda: self._jump(entry)

    def _jump(self, entry):
        """Run uploaded RAM code: esptool's stub if the entry is in code it uploaded to IRAM; else, it crashes."""
        ok = IRAM[0] <= entry < IRAM[1] and any(a <= entry < a + len(b) for a, b in self._ram)
        self._ram = []
        if not ok:  # the ESP8266 prints its exception (esptool reports it), then hangs
            self._state = "app"
            self._send(b"\r\nFatal exception (0): \r\nepc1=0x%08x, epc2=0x00000000, epc3=0x00000000, excvaddr=0x%08x, "
                       b"depc=0x00000000\r\n" % (entry, entry), frame=False)
            return
        self._state = "stub"
        self._fl = self._mem = None
        self._send(OHAI)

    def _rom_flash_begin(self, data, chk):
        if len(data) < 16:
            raise Fail(ROM_INVALID_MSG)
        erase_size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        if erase_size:
            # the ESP8266 ROM erases more than asked: the sectors up to the next 64 KB block boundary count twice
            # (esptool's ESP8266ROM.get_erase_size() sends the size that makes this come out right)
            n = -(-erase_size // SECTOR)
            head = 16 - (offset // SECTOR) % 16
            self._erase(offset, offset + (n + min(n, head)) * SECTOR)
        self._fl = {"offset": offset, "blocks": blocks, "block_size": block_size, "seq": 0}
        return 0

    def _rom_flash_data(self, data, chk):
        if self._fl is None or len(data) < 16:
            raise Fail(ROM_INVALID_MSG)
        length, seq = struct.unpack_from("<II", data)
        block = data[16:]
        if length != len(block) or length != self._fl["block_size"] or seq != self._fl["seq"]:
            raise Fail(ROM_INVALID_MSG)
        if checksum(block) != chk & 0xFF:
            raise Fail(ROM_BAD_CRC)
        if not self._program(self._fl["offset"] + seq * length, block):
            raise Fail(ROM_FLASH_WRITE_ERR)
        self._fl["seq"] += 1
        return 0

    def _rom_flash_end(self, data, chk):
        if len(data) < 4:
            raise Fail(ROM_INVALID_MSG)
        self._fl = None
        # 0: reboot, 1: run the user code; either way the loader is gone (GPIO0 is high again on a NodeMCU)
        return 0, b"", lambda: setattr(self, "_state", "app")

    # ---- esptool's flasher stub (esp-flasher-stub) --------------------------------------------------------------

    def _stub_sync(self, data, chk):
        if len(data) != 36:
            raise Fail(BAD_DATA_LEN)
        for _ in range(7):
            self._respond(0x08)
        return 0

    def _stub_read_reg(self, data, chk):
        if len(data) != 4:
            raise Fail(BAD_DATA_LEN)
        return self._read_reg(struct.unpack("<I", data)[0])

    def _stub_write_reg(self, data, chk):
        if not data or len(data) % 16:
            raise Fail(NOT_ENOUGH_DATA)
        self._write_regs(data)
        return 0

    def _stub_spi_attach(self, data, chk):
        if len(data) != 4:
            raise Fail(BAD_DATA_LEN)
        return 0

    def _stub_spi_set_params(self, data, chk):
        if len(data) != 24:
            raise Fail(BAD_DATA_LEN)
        self.set_params = struct.unpack("<6I", data)  # id, total size, block, sector, page, status mask
        return 0

    def _stub_change_baudrate(self, data, chk):
        if len(data) != 8:
            raise Fail(BAD_DATA_LEN)
        new, _old = struct.unpack("<II", data)
        return 0, b"", lambda: setattr(self, "baud", new)  # a pty ignores baud rates

    def _stub_flash_begin(self, data, chk, compressed=False):
        if len(data) not in (16, 20):
            raise Fail(BAD_DATA_LEN)
        size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        if offset + size > self.flash_size:
            raise Fail(FAILED_SPI_OP)
        self._erase(offset, offset + size)  # the stub erases just ahead of its writes: the same sectors
        self._fl = {"remaining": size, "offset": offset, "compressed": compressed,
                    "inflate": zlib.decompressobj() if compressed else None}
        return 0

    def _stub_flash_data(self, data, chk):
        if len(data) < 16:
            raise Fail(NOT_ENOUGH_DATA)
        if self._fl is None:
            raise Fail(NOT_IN_FLASH_MODE)
        length = struct.unpack_from("<I", data)[0]
        block = data[16:]
        if length != len(block):
            raise Fail(TOO_MUCH_DATA)
        if checksum(block) != chk & 0xFF:
            raise Fail(BAD_DATA_CHECKSUM)
        self._write(block[:self._fl["remaining"]])
        return 0

    def _write(self, data):
        if not self._program(self._fl["offset"], data):
            raise Fail(FAILED_SPI_OP)
        self._fl["offset"] += len(data)
        self._fl["remaining"] -= len(data)

    def _stub_flash_end(self, data, chk):
        if len(data) != 4:
            raise Fail(BAD_DATA_LEN)
        if self._fl is None:
            raise Fail(NOT_IN_FLASH_MODE)
        if self._fl["remaining"]:
            raise Fail(BAD_DATA_LEN)
        self._fl = None
        return 0  # the stub stays (its reboot flag is not implemented either)

    def _stub_flash_defl_begin(self, data, chk):
        return self._stub_flash_begin(data, chk, compressed=True)

    def _stub_flash_defl_data(self, data, chk):
        if len(data) < 16:
            raise Fail(BAD_DATA_LEN)
        if self._fl is None or not self._fl["compressed"]:
            raise Fail(NOT_IN_FLASH_MODE)
        length = struct.unpack_from("<I", data)[0]
        block = data[16:16 + length]
        if checksum(block) != chk & 0xFF:
            raise Fail(BAD_DATA_CHECKSUM)
        try:
            out = self._fl["inflate"].decompress(block)
        except zlib.error as e:
            raise Fail(INFLATE_ERROR) from e
        if len(out) > self._fl["remaining"]:
            raise Fail(TOO_MUCH_DATA)
        self._write(out)
        return 0

    _stub_flash_defl_end = _stub_flash_end

    def _stub_spi_flash_md5(self, data, chk):
        if len(data) != 16:
            raise Fail(BAD_DATA_LEN)
        addr, size = struct.unpack_from("<II", data)
        if addr + size > self.flash_size:
            raise Fail(FAILED_SPI_OP)
        return 0, hashlib.md5(self._flash[addr:addr + size]).digest()

    def _stub_erase_flash(self, data, chk):
        self._erase(0, self.flash_size)
        return 0

    def _stub_erase_region(self, data, chk):
        if len(data) != 8:
            raise Fail(BAD_DATA_LEN)
        addr, size = struct.unpack("<II", data)
        if addr % SECTOR or size % SECTOR or addr + size > self.flash_size:
            raise Fail(BAD_DATA_LEN)
        self._erase(addr, addr + size)
        return 0

    def _stub_read_flash(self, data, chk):
        if len(data) != 16:
            raise Fail(BAD_DATA_LEN)
        offset, length, packet, _inflight = struct.unpack("<IIII", data)
        if packet > 4096 or offset + length > self.flash_size:
            raise Fail(BAD_DATA_LEN)
        return 0, b"", lambda: self._read_start(offset, length, packet)

    def _read_start(self, offset, length, packet):
        self._reading = {"offset": offset, "end": offset + length, "length": length, "packet": packet,
                         "md5": hashlib.md5()}
        self._read_next()

    def _read_next(self):
        r = self._reading
        chunk = bytes(self._flash[r["offset"]:min(r["offset"] + r["packet"], r["end"])])
        r["offset"] += len(chunk)
        r["md5"].update(chunk)
        self._send(chunk)

    def _read_ack(self, p):
        """READ_FLASH: one packet in flight (as the stub does); each 4-byte ack says how much arrived."""
        r = self._reading
        if len(p) != 4:  # not an ack: the stub gives up the read
            self._reading = None
            return
        if struct.unpack("<I", p)[0] >= r["length"]:
            self._reading = None
            self._send(r["md5"].digest())
        elif r["offset"] < r["end"]:
            self._read_next()

    def _stub_mem_begin(self, data, chk):
        if len(data) != 16:
            raise Fail(BAD_DATA_LEN)
        self._rom_mem_begin(data, chk)
        return 0

    def _stub_mem_data(self, data, chk):
        if self._mem is None:
            raise Fail(NOT_IN_FLASH_MODE)
        if len(data) < 16 or struct.unpack_from("<I", data)[0] != len(data) - 16:
            raise Fail(TOO_MUCH_DATA)
        self._ram.append((self._mem["offset"] + self._mem["seq"] * self._mem["block_size"], bytes(data[16:])))
        self._mem["seq"] += 1
        return 0

    def _stub_mem_end(self, data, chk):
        if len(data) != 8:
            raise Fail(BAD_DATA_LEN)
        if self._mem is None:
            raise Fail(NOT_IN_FLASH_MODE)
        no_exec, _entry = struct.unpack("<II", data)
        self._mem = None
        return 0, b"", (None if no_exec else (lambda: setattr(self, "_state", "app")))

    def _stub_get_security_info(self, data, chk):
        raise Fail(NOT_IMPLEMENTED)  # not on the ESP8266

    def _stub_run_user_code(self, data, chk):
        self._state = "app"  # no answer: the stub jumps to the application
        return None
