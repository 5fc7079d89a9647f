"""The board's page in a real browser: Debian's headless Chromium driven by selenium, against the virtual board's
web server (the page: firmware/web/index.html, gzip-compressed in the firmware's image).

The pages' screenshots in docs/img/ come from here: MULTIPRISE_SCREENSHOTS=docs/img make test
ARGS=tests/test_web_browser.py writes it there (by default it goes to the test's temporary folder)."""
import os
import re
import time
from pathlib import Path

from conftest import LAB, days_not_today
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from test_web import HEAP, PASSWORD, READY, call, set_password
from test_webrepl_browser import browser  # noqa: F401 (the fixture: Chromium, quit whatever the test does)

WAIT = 30  # seconds for what the page waits on: the machine may be busy


def until(driver, what, cond, timeout=WAIT):
    """Wait for cond(); an element the page redrew while it was read (rows are made again at each poll) is read
    again."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: cond())
    except TimeoutException:
        raise AssertionError("%s: not within %d s; the page says %r" % (
            what, timeout, driver.find_element(By.TAG_NAME, "body").text)) from None


def outlet_3(driver):
    """Outlet 3's row as it reads; "" while the page is redrawing it (it is made again at each poll)."""
    try:
        return driver.find_element(By.ID, "o3").text
    except StaleElementReferenceException:
        return ""


def click(driver, id):
    """Click the button; False when the page redrew it just then."""
    try:
        driver.find_element(By.ID, id).click()
        return True
    except StaleElementReferenceException:
        return False


def log_in(driver, b):
    """Open the board's page and log in with the password set at the console."""
    driver.get("http://127.0.0.1:%d/" % b.http_port)
    until(driver, "the login form", lambda: driver.find_element(By.ID, "login").is_displayed())
    driver.find_element(By.ID, "pw").send_keys(PASSWORD)
    driver.find_element(By.ID, "go").click()
    until(driver, "the outlets", lambda: driver.find_element(By.ID, "main").is_displayed())


def test_log_in_switch_outlet_3_and_see_the_console_switch_it_back(vboard, browser):  # noqa: F811
    b = vboard({"wifi": LAB, "web": {}}, heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    status, head, _ = call(b, "GET", "/")
    assert status == 200 and head["Content-Encoding"] == "gzip" and head["ETag"]
    assert call(b, "GET", "/", headers={"If-None-Match": head["ETag"]})[0] == 304
    set_password(b)
    d = browser
    d.get("http://127.0.0.1:%d/" % b.http_port)
    until(d, "the login form", lambda: d.find_element(By.ID, "login").is_displayed())
    d.find_element(By.ID, "pw").send_keys("not-the-password")
    d.find_element(By.ID, "go").click()
    until(d, "the refusal", lambda: "wrong password" in d.find_element(By.ID, "msg").text)
    time.sleep(1.1)  # the back-off after one wrong password
    d.find_element(By.ID, "pw").send_keys(PASSWORD)
    d.find_element(By.ID, "go").click()
    until(d, "the outlets", lambda: d.find_element(By.ID, "main").is_displayed())
    until(d, "outlet 3 off", lambda: " off " in outlet_3(d))
    assert not b.relays()[2]
    assert d.execute_script("return document.cookie") == ""  # HttpOnly: the page's script never sees the token

    until(d, "outlet 3's on clicked", lambda: click(d, "on3"))
    t0 = time.monotonic()
    while not b.relays()[2] and time.monotonic() - t0 < WAIT:
        time.sleep(0.02)
    assert b.relays() == [False, False, True, False, False, False]
    until(d, "outlet 3 on, by the web", lambda: " on web" in outlet_3(d))

    m = b.serial.mark()
    b.command("off 3")
    b.serial.expect(r"outlet 3 off \(serial\)", 10, since=m)
    t0 = time.monotonic()
    until(d, "outlet 3 off, by the console", lambda: " off serial" in outlet_3(d))
    print("the console's switch on the page after %.2f s" % (time.monotonic() - t0))


def test_five_wrong_passwords_on_the_page_double_the_wait_and_the_right_one_waits_too(vboard, browser):  # noqa: F811
    b = vboard({"wifi": LAB, "web": {}}, heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    set_password(b)
    d = browser
    d.get("http://127.0.0.1:%d/" % b.http_port)
    until(d, "the login form", lambda: d.find_element(By.ID, "login").is_displayed())
    said = [0]

    def wait_said():  # the wait the page says, once it is a new one
        m = re.search(r"wrong password; the next login in (\d+) s", d.find_element(By.ID, "msg").text)
        return m and int(m.group(1)) != said[-1] and int(m.group(1))

    for _ in range(5):
        time.sleep(said[-1] + 0.2)
        d.find_element(By.ID, "pw").send_keys("not-the-password")
        d.find_element(By.ID, "go").click()
        said.append(until(d, "the refusal", wait_said))
        assert d.find_element(By.ID, "pw").get_attribute("value") == ""  # the field emptied
    assert said == [0, 1, 2, 4, 8, 16]
    d.find_element(By.ID, "pw").send_keys(PASSWORD)  # the right one, before the wait is over
    d.find_element(By.ID, "go").click()
    until(d, "the wait", lambda: re.search(r"too many wrong passwords: the next login in 1?\d s",
                                           d.find_element(By.ID, "msg").text))
    assert d.find_element(By.ID, "login").is_displayed() and not d.find_element(By.ID, "main").is_displayed()
    assert len(re.findall(r"web: wrong password \(\d in a row\)", b.serial.buf.decode())) == 5


STATE_GETS = ('return performance.getEntriesByType("resource").filter(function(e){return /api.state$/.test(e.name)})'
              '.length')


def test_the_page_lives_on_its_websocket_and_polls_when_it_cannot(vboard, browser):  # noqa: F811
    """Logged in, the page opens its WebSocket and stops polling: a switch at the console comes on it. A second page
    (the socket is taken) polls, and sees the switches too. The board reset: the first page says it is reconnecting,
    then asks for a login (sessions end with a reset), and has its socket again after it."""
    b = vboard({"wifi": LAB, "web": {}}, heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    set_password(b)
    d = browser
    log_in(d, b)
    until(d, "the page's WebSocket open", lambda: d.execute_script("return W&&W.readyState") == 1)
    polls = d.execute_script(STATE_GETS)
    b.command("on 3")
    until(d, "outlet 3 on, by the console", lambda: " on serial" in outlet_3(d))
    time.sleep(2)
    assert d.execute_script(STATE_GETS) == polls  # what came, came on the socket

    first = d.current_window_handle
    d.switch_to.new_window("tab")
    d.get("http://127.0.0.1:%d/" % b.http_port)  # the same session (its cookie)
    until(d, "the second page's outlets", lambda: d.find_element(By.ID, "main").is_displayed())
    b.command("off 3")
    until(d, "outlet 3 off on the second page", lambda: " off serial" in outlet_3(d))
    assert d.execute_script(STATE_GETS) >= 2  # it polls; its socket is refused (503) each time it tries again
    until(d, "the second page without a socket", lambda: d.execute_script("return W") is None)
    d.close()
    d.switch_to.window(first)
    until(d, "outlet 3 off on the first page", lambda: " off serial" in outlet_3(d))

    b.reset()
    until(d, "the page says it reconnects", lambda: "reconnecting" in d.find_element(By.ID, "msg").text)
    b.serial.expect(READY, 30)
    until(d, "the login asked again", lambda: d.find_element(By.ID, "login").is_displayed())
    d.find_element(By.ID, "pw").send_keys(PASSWORD)
    d.find_element(By.ID, "go").click()
    until(d, "the page's WebSocket open again", lambda: d.execute_script("return W&&W.readyState") == 1)
    b.command("on 3")
    until(d, "outlet 3 on, after the reset", lambda: " on serial" in outlet_3(d))


def test_the_page_draws_the_power_graph_edits_a_schedule_names_an_outlet_and_shows_the_log(vboard, browser, tmp_path):  # noqa: F811
    b = vboard({"wifi": LAB, "web": {}, "outlets": [{"watts": 100 * (i + 1)} for i in range(6)]}, heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    set_password(b)
    b.command("on 1", expect=r"outlet 1 on")
    d = browser
    log_in(d, b)
    wifi = r"-58 dBm \(good\), 127\.0\.0\.1, channel 6, MAC ([0-9a-f]{2}:){5}[0-9a-f]{2}"
    until(d, "the Wi-Fi signal in words", lambda: re.search(wifi, d.find_element(By.ID, "info").text))
    until(d, "a point of the graph at 100 W", lambda: d.find_element(By.ID, "line").get_attribute("points").endswith(
        "590,5") and "top 100 W" in d.find_element(By.ID, "gcap").text)

    Select(d.find_element(By.ID, "so")).select_by_value("4")
    rule = days_not_today(2) + " 09:00-12:30"  # never now: the board has the host's time
    d.find_element(By.ID, "rule").send_keys(rule)
    d.find_element(By.ID, "add").click()
    until(d, "the rule listed", lambda: "1) " + rule in d.find_element(By.ID, "rules").text)
    assert "1) " + rule in b.command("sched 4", expect=r"1\) [^\n]*\n")
    d.find_element(By.ID, "rule").send_keys("someday 25:00-26:00")
    d.find_element(By.ID, "add").click()
    until(d, "the console's refusal", lambda: "usage: sched" in d.find_element(By.ID, "err").text)
    d.find_element(By.CSS_SELECTOR, "#rules button").click()
    until(d, "the rule deleted", lambda: rule not in d.find_element(By.ID, "rules").text)
    assert "no schedule" in b.command("sched 4", expect=r"4 Outlet 4[^\n]*\n")
    d.find_element(By.ID, "nm").send_keys("Heater")  # outlet 4's settings
    d.find_element(By.ID, "ren").click()
    until(d, "the new name", lambda: d.find_element(By.ID, "o4").text.startswith("4 Heater"))
    Select(d.find_element(By.ID, "po")).select_by_visible_text("schedule")
    d.find_element(By.ID, "pob").click()
    until(d, "the refusal: no schedule", lambda: "outlet 4 has no schedule" in d.find_element(By.ID, "err").text)
    Select(d.find_element(By.ID, "po")).select_by_visible_text("last")
    d.find_element(By.ID, "pob").click()
    until(d, "the power-on shown", lambda: d.find_element(By.ID, "pon").text == "now: last")
    assert "4 Heater: off" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    b.command("sched 4 add " + rule, expect=r"1\) [^\n]*\n")
    d.find_element(By.ID, "logb").click()
    until(d, "the log", lambda: "outlet 1 on (serial)" in d.find_element(By.ID, "logt").text)
    d.find_element(By.ID, "sshow").click()  # the page as in docs/img: a rule listed, the log shown, the graph drawn
    until(d, "the rule listed again", lambda: "1) " + rule in d.find_element(By.ID, "rules").text)
    d.set_window_size(900, max(600, d.execute_script("return document.documentElement.scrollHeight") + 160))
    assert d.save_screenshot(str(Path(os.environ.get("MULTIPRISE_SCREENSHOTS") or tmp_path) / "web-page.png"))


def test_a_board_with_the_metering_chip_shows_the_energy_measured(vboard, browser):  # noqa: F811
    """With the metering chip, the page says the power is measured and shows the energy today and overall, the
    strip's beside the power and outlet 3's in its row, as the board counts them (2000 W for about 10 s: 0.005 kWh
    and more)."""
    b = vboard({"wifi": LAB, "web": {}, "meter": {}, "outlets": [{"watts": 0}] * 6}, meter="ade7953", start=False)
    b.mains.set_load(2, 2000)
    b.start()
    b.serial.expect(READY, 20, since=0)
    set_password(b)
    b.command("on 3", expect=r"3 Outlet[^\n]*\n")
    d = browser
    log_in(d, b)
    info = lambda: d.find_element(By.ID, "info").text  # noqa: E731
    until(d, "the energy measured", lambda: re.search(
        r"Power 2\d\d\d W \(measured\), energy today 0\.0(0[5-9]|[1-9]\d) kWh, overall 0\.0(0[5-9]|[1-9]\d) kWh",
        info()))
    until(d, "outlet 3's energy today", lambda: re.search(r", 0\.0(0[5-9]|[1-9]\d) kWh today", outlet_3(d)))


def test_the_web_password_is_changed_on_the_page(vboard, browser):  # noqa: F811
    """Settings: the current password and a new one; the page says so and asks for a login, which the new password
    passes and the old one no longer does."""
    b = vboard({"wifi": LAB, "web": {}}, heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    set_password(b)
    d = browser
    log_in(d, b)
    new = "a-new-password-77"
    d.find_element(By.ID, "op").send_keys(PASSWORD)
    d.find_element(By.ID, "np").send_keys(new)
    d.find_element(By.ID, "pwb").click()
    until(d, "the login form again", lambda: d.find_element(By.ID, "login").is_displayed())
    assert "password changed" in d.find_element(By.ID, "msg").text
    assert call(b, "POST", "/api/login", '{"password": "%s"}' % PASSWORD)[0] == 401
    time.sleep(1.1)  # the back-off after that wrong one
    d.find_element(By.ID, "pw").send_keys(new)
    d.find_element(By.ID, "go").click()
    until(d, "the outlets", lambda: d.find_element(By.ID, "main").is_displayed())


def test_an_update_uploaded_on_the_page_runs_after_the_restart(vboard, browser, release):  # noqa: F811
    """The file multiprise bundle makes, chosen on the page and uploaded: the board restarts (outlet 2 stays on), the
    page asks for a login again and then says the new version runs."""
    from tools import deploy
    from tools.build import next_version

    b = vboard({"wifi": LAB, "web": {}}, heap=HEAP)
    b.serial.expect(READY, 20, since=0)
    set_password(b)
    b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    moves = len(b.relay_history)
    release("firmware/__init__.py", next_version()[0])
    path, version = deploy.bundle()
    d = browser
    log_in(d, b)
    m = b.serial.mark()
    d.find_element(By.ID, "upf").send_keys(str(path))
    d.find_element(By.ID, "upb").click()
    until(d, "the upload's answer", lambda: "uploaded" in d.find_element(By.ID, "upn").text)
    b.serial.expect(r"update: %s installed" % re.escape(version), 30, since=m)
    until(d, "the login asked again", lambda: d.find_element(By.ID, "login").is_displayed())
    d.find_element(By.ID, "pw").send_keys(PASSWORD)
    d.find_element(By.ID, "go").click()
    until(d, "the new version said", lambda: "now running " + version in d.find_element(By.ID, "upn").text)
    assert version in d.find_element(By.ID, "info").text
    assert b.relay_history[moves:] == [] and b.relays()[1]


def test_a_fresh_board_is_set_up_on_its_setup_page_and_its_page_comes_after(vboard, browser, tmp_path):  # noqa: F811
    """No network configured: the setup page (as a phone opens it from the board's access point) lists the networks,
    takes one, its key and the web password; says the board's address once joined; the app restarts on the network,
    and the board's own page asks for the password set there."""
    from test_setup import fresh_board

    b, ap = fresh_board(vboard)
    d = browser
    d.get("http://127.0.0.1:%d/" % b.http_port)
    until(d, "the networks", lambda: "multiprise-lab (-58 dBm)" in d.find_element(By.ID, "nets").text)
    assert "cafe (-70 dBm, open)" in d.find_element(By.ID, "nets").text
    until(d, "the web password asked", lambda: d.find_element(By.ID, "web").is_displayed())
    for li in d.find_elements(By.TAG_NAME, "li"):
        if li.text.startswith("multiprise-lab"):
            li.click()
    assert d.find_element(By.ID, "ssid").get_attribute("value") == LAB["ssid"]
    d.find_element(By.ID, "key").send_keys(LAB["password"])
    d.find_element(By.ID, "web").send_keys(PASSWORD)
    d.set_window_size(420, max(500, d.execute_script("return document.documentElement.scrollHeight") + 160))
    assert d.save_screenshot(str(Path(os.environ.get("MULTIPRISE_SCREENSHOTS") or tmp_path) / "web-setup.png"))
    m = b.serial.mark()
    d.find_element(By.ID, "go").click()
    until(d, "joined", lambda: "Joined multiprise-lab: the strip is at http://127.0.0.1/" in d.find_element(
        By.ID, "st").text)
    assert ap in d.find_element(By.ID, "st").text
    b.serial.expect(READY, 40, since=m)
    d.get("http://127.0.0.1:%d/" % b.http_port)
    until(d, "the login form", lambda: d.find_element(By.ID, "login").is_displayed())
    d.find_element(By.ID, "pw").send_keys(PASSWORD)
    d.find_element(By.ID, "go").click()
    until(d, "the outlets", lambda: d.find_element(By.ID, "main").is_displayed())
    until(d, "the network joined", lambda: "Wi-Fi multiprise-lab" in d.find_element(By.ID, "info").text)
