"""WebREPL in a real browser: headless Chromium's own WebSocket, driven as MicroPython's WebREPL page drives it (the
page: tests/webrepl_page.html), against the virtual board: the password a key at a time, the REPL, files both ways,
and the session's end seen from the page. The REPL's tests run on a real LittleFS flash, the files' on the board
folder, where the bench's WebREPL server carries them out (docs/virtual-board.md)."""
import base64
import os
from pathlib import Path

import pytest
from conftest import WEBREPL_PASSWORD, ready, webrepl_board
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tools.vboard.hw import HARD_RESET

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PAGE = Path(__file__).with_name("webrepl_page.html")
WAIT = 30  # seconds for anything the page waits on: the machine may be busy


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium through its chromedriver (no driver is downloaded), quit whatever the test does."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail("the browser test needs %s: apt-get install chromium chromium-driver" % " and ".join(missing))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--user-data-dir=%s" % (tmp_path / "chromium")):
        options.add_argument(arg)
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)  # quits what it started if it fails
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The WebREPL page, used as a person uses it: the board's address, buttons, keys typed in the terminal."""

    def __init__(self, driver, port):
        self.driver = driver
        driver.get(PAGE.as_uri())
        url = self.find("url")
        url.clear()
        url.send_keys("ws://127.0.0.1:%d/" % port)

    def find(self, id):
        return self.driver.find_element(By.ID, id)

    def terminal(self):
        return self.driver.execute_script("return document.getElementById('term').textContent")

    def state(self):
        return self.find("state").text

    def files(self):
        return self.find("files").text

    def until(self, what, condition):
        try:
            return WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(lambda d: condition())
        except TimeoutException:
            raise AssertionError("%s: not within %d s. The page says %r, its terminal: %r"
                                 % (what, WAIT, self.state(), self.terminal()[-500:])) from None

    def connect(self):
        """Click Connect until the board asks for the password: it lets a session go a moment after it ended, and
        closes a connection that comes before that."""
        def prompted():
            if "Password: " in self.terminal():
                return True
            if self.state().startswith("closed"):
                self.find("connect").click()
            return False

        self.find("connect").click()
        self.until("the password prompt", prompted)

    def type(self, *keys):
        """Keys typed in the terminal; the page sends each as a frame of its own."""
        self.find("term").send_keys(*keys)

    def answer(self, expect, *keys):
        """Keys typed in the terminal; wait for `expect` in what the board sends back after them."""
        since = len(self.terminal())
        self.type(*keys)
        self.until("%r after %r" % (expect, keys), lambda: expect in self.terminal()[since:])

    def log_in(self, password=WEBREPL_PASSWORD):
        self.connect()
        self.type(password, Keys.ENTER)
        self.until("WebREPL connected", lambda: "WebREPL connected" in self.terminal())

    def put(self, path):
        self.find("put-file").send_keys(str(path))
        self.find("put").click()
        done = "Sent %s, %d bytes" % (path.name, path.stat().st_size)
        self.until(done, lambda: self.files() == done)

    def ask_for(self, name):
        """Get from device."""
        name_box = self.find("get-name")
        name_box.clear()
        name_box.send_keys(name)
        self.find("get").click()

    def get(self, name):
        """The file's bytes, as the page holds them."""
        self.ask_for(name)
        self.until("%s got" % name, lambda: self.files().startswith("Got %s," % name))
        return base64.b64decode(self.driver.execute_script("return gotBase64()"))


def test_the_browser_logs_in_key_by_key_and_switches_an_outlet_at_the_repl(vboard, browser):
    b = webrepl_board(vboard, flash="littlefs")  # the REPL: on a real LittleFS
    ready(b)
    page = Page(browser, b.webrepl.port)
    page.log_in()
    assert page.state() == "connected"
    page.answer(">>> ", Keys.CONTROL, "c")  # Ctrl-C stops the app, as on the serial port
    page.answer("'esp8266'", "import os; os.uname().sysname", Keys.ENTER)
    assert not b.relays()[2]
    page.answer("3 Outlet 3: on (repl)", "from firmware.repl import *; on(3)", Keys.ENTER)
    assert b.relays()[2]


def test_a_wrong_password_typed_in_the_browser_is_denied_and_the_socket_closes(vboard, browser):
    b = webrepl_board(vboard, flash="littlefs")  # the REPL: on a real LittleFS
    ready(b)
    page = Page(browser, b.webrepl.port)
    page.connect()
    page.type("guess", Keys.ENTER)
    page.until("Access denied", lambda: "Access denied" in page.terminal())
    page.until("the socket closed", lambda: page.state().startswith("closed"))
    assert "WebREPL connected" not in page.terminal()
    page.log_in()  # the right password, a new session


def test_files_go_to_the_board_and_back_through_the_browser(vboard, browser, tmp_path):
    """Send to device: the 82-byte put record, then the file in binary frames; Get from device: the get record, then
    a zero byte for each chunk. The bytes are compared on the board's flash and in the page."""
    b = webrepl_board(vboard)
    ready(b)
    page = Page(browser, b.webrepl.port)
    page.log_in()
    for size in (0, 1, 5000):
        src = tmp_path / ("browser-%d.bin" % size)
        src.write_bytes(os.urandom(size))
        page.put(src)
        assert (b.board_dir / src.name).read_bytes() == src.read_bytes()
        assert page.get(src.name) == src.read_bytes()
    assert page.get("config.json") == (b.board_dir / "config.json").read_bytes()
    assert page.state() == "connected"


def test_the_page_sees_the_session_end_from_either_side(vboard, browser):
    """The page's Disconnect gets the board's close frame back (a clean close); a board that ends the session (a
    file it cannot open, a reset) closes the connection without one, as an ESP8266's modwebsocket does."""
    b = webrepl_board(vboard)
    ready(b)
    page = Page(browser, b.webrepl.port)
    page.log_in()
    page.find("disconnect").click()
    page.until("a clean close", lambda: page.state() == "closed (1005, clean)")

    page.log_in()
    page.ask_for("no-such-file.txt")
    page.until("the board ending the session", lambda: page.state() == "closed (1006, abrupt)")
    assert page.files() == "no-such-file.txt: the connection closed"

    page.log_in()
    m = b.serial.mark()
    b.reset(HARD_RESET)
    page.until("the reset ending the session", lambda: page.state() == "closed (1006, abrupt)")
    ready(b, since=m)
    page.log_in()  # WebREPL is back, on the same port
    page.answer(">>> ", Keys.CONTROL, "c")
    page.answer("True", "import machine; machine.reset_cause() == machine.HARD_RESET", Keys.ENTER)
