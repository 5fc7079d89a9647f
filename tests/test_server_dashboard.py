"""The site's dashboard as its users meet it: the real server process, on SQLite and PostgreSQL, its pages in Debian's
headless Chromium. Logging in, a board seen online after its heartbeat, a command sent from the page and fetched by
the board, badges and rules added, renamed and disabled with plain-words errors, statistics and their CSV, escaping,
CSRF, and the API pages working with nothing loaded from outside the machine.

The screenshots of docs/img/ come from this file: MULTIPRISE_SCREENSHOTS=docs/img make test
ARGS=tests/test_server_dashboard.py writes them there (by default they go to each test's temporary folder)."""
import csv
import http.client
import io
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from serverkit import ROOT, database, postgres, server_process  # noqa: F401 (fixtures)
from tools.server.client import DeviceClient, http_transport
from tools.server.signing import badge_hash

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WAIT = 30  # seconds for anything a page waits on: the machine may be busy
TOKEN = "dashboard-admin-token-for-tests"
SITE = "dashboard-site-secret"
ALICE, BOB = "04A1B2C3", "04D5E6F7A1B2C3"
UID_HELP = "a badge UID is 4, 7 or 10 bytes in hex, e.g. 04:A1:B2:C3"
MARCH_1 = 1772323200            # 2026-03-01 00:00 UTC
SHOTS = os.environ.get("MULTIPRISE_SCREENSHOTS")


def fetch(port, method, path, body=None, headers=None):
    """(status, headers, text) of one request to the server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


class Site:
    """The server as a process, with the admin API and boards that sign their requests."""

    def __init__(self, port):
        self.port, self.url = port, "http://127.0.0.1:%d" % port

    def admin(self, method, path, body=None):
        status, _, text = fetch(self.port, method, "/api/v1/admin" + path, None if body is None else json.dumps(body),
                               {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        assert status < 300, (status, text)
        return json.loads(text) if text else None

    def board(self, device_id, power=(60, 100, 2000, 500, 10, 10)):
        secret = self.admin("POST", "/devices", {"id": device_id, "name": device_id.title(), "power": list(power)})
        return DeviceClient(http_transport("127.0.0.1", self.port), device_id, secret["secret"])


@pytest.fixture
def site(tmp_path):
    with server_process("--db", str(tmp_path / "server.db"), "--site-secret", SITE, "--tz", "UTC",
                        env={"MULTIPRISE_ADMIN_TOKEN": TOKEN}) as (port, proc):
        yield Site(port)
    assert TOKEN not in proc.stdout.read()


@pytest.fixture
def any_site(database):  # noqa: F811
    with server_process("--db", database, "--site-secret", SITE, "--tz", "UTC",
                        env={"MULTIPRISE_ADMIN_TOKEN": TOKEN}) as (port, _):
        yield Site(port)


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium through its chromedriver (nothing downloaded), its network requests logged, quit
    whatever the test does."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail("the dashboard test needs %s: apt-get install chromium chromium-driver" % " and ".join(missing))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--user-data-dir=%s" % (tmp_path / "chromium")):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The dashboard in the browser, used as a person uses it."""

    def __init__(self, driver, site, shots):
        self.driver, self.site, self.shots = driver, site, shots

    def open(self, path):
        self.driver.get(self.site.url + path)

    def until(self, what, condition):
        try:
            return WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(lambda d: condition())
        except TimeoutException:
            raise AssertionError("%s: not within %d s; the page shows %r" % (
                what, WAIT, self.driver.find_element(By.TAG_NAME, "body").text[:1000])) from None

    def find(self, css, within=None):
        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def all(self, css, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def text(self, css="body"):
        return self.find(css).text

    def title(self):
        return self.find("h1").text

    def submit(self, button, then):
        """Click a form's button and wait for the page that answers (a new page: the old button goes stale)."""
        old = self.find("html")
        button.click()
        self.until("the answer to %s" % then, lambda: old.id != self.find("html").id and then())

    def log_in(self, token=TOKEN):
        self.open("/dashboard/login")
        self.find("#token").send_keys(token)
        self.submit(self.find("#log-in"), lambda: self.title() in ("Devices", "Log in"))

    def type(self, css, text, within=None):
        box = self.find(css, within)
        box.clear()
        box.send_keys(text)

    def problem(self):
        shown = self.all("#problem")
        return shown[0].text if shown else None

    def shot(self, name):
        """A PNG of the whole page (the window made as tall as it)."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, max(600, min(height + 160, 3000)))     # the window's frame takes some
        self.driver.save_screenshot(str(Path(self.shots) / ("dashboard-%s.png" % name)))
        self.driver.set_window_size(1280, 1000)


@pytest.fixture
def page(browser, site, tmp_path):
    return Page(browser, site, SHOTS or tmp_path)


def test_the_dashboard_wants_the_admin_token_and_keeps_the_login_in_a_strict_cookie(page, site):
    page.open("/dashboard/badges")
    page.until("the login page", lambda: page.title() == "Log in")
    page.shot("login")
    page.log_in("not-the-token")
    assert page.problem() == "This is not the admin token."
    assert page.driver.get_cookies() == []
    page.log_in()
    assert page.title() == "Devices"
    (cookie,) = page.driver.get_cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        "multiprise_login", True, "Strict", "/dashboard")
    assert 11 * 3600 < cookie["expiry"] - time.time() <= 12 * 3600     # a login ends by itself
    assert page.driver.execute_script("return document.cookie") == ""   # no script of the page can read it
    assert TOKEN not in page.driver.page_source
    page.submit(page.find("#logout"), lambda: page.title() == "Log in")
    page.open("/dashboard")
    page.until("the login page again", lambda: page.title() == "Log in")
    # a cookie made up, or a login signed with another token, lets nobody in
    for forged in ("9999999999.00.%s" % ("0" * 64), cookie["value"].replace(cookie["value"][-4:], "0000")):
        status, headers, _ = fetch(site.port, "GET", "/dashboard", headers={"Cookie": "multiprise_login=" + forged})
        assert (status, headers["location"]) == (303, "/dashboard/login")
    status, _, text = fetch(site.port, "GET", "/dashboard", headers={"Authorization": "Bearer " + TOKEN})
    assert status == 200 and "<h1>Devices</h1>" in text                # a script may use the token itself


def test_a_board_shows_online_with_its_version_outlets_shedding_and_clock_after_its_heartbeat(page, site):
    hall = site.board("hall")
    page.log_in()
    card = page.find("#device-hall")
    assert "offline" in card.text and page.text("#device-hall .seen") == "never"
    outlets = [{"on": True, "why": "badge"}, {"on": False, "why": "held off: shed"}] + [
        {"on": False, "why": "power-on off"}] * 4
    assert hall.request("POST", "/heartbeat", {"version": "0.1.0+3f2a9c1e", "uptime": 7300, "heap": 6300,
                                               "outlets": outlets, "shed": True}, stamp=int(time.time()) - 90)[0] == 200
    page.open("/dashboard")
    card = page.find("#device-hall")
    assert "online" in page.find("#device-hall h2").text
    assert page.text("#device-hall .version") == "0.1.0+3f2a9c1e"
    assert page.text("#device-hall .shed") == "yes"
    assert re.fullmatch(r"-9[0-2] s check the board's clock", page.text("#device-hall .skew"))
    states = [cell.text.split("\n") for cell in page.all("td.outlet", card)]
    assert states[:2] == [["on", "badge"], ["off", "held off: shed"]] and len(states) == 6
    assert "2 h 1 min" in card.text and "6300 bytes" in card.text


def test_a_board_that_measures_its_power_shows_it_now_and_its_energy_per_day(page, site):
    hall = site.board("hall", power=(60, 2000))
    site.board("desk")                          # a board that gives no power: none of it shown
    for counter, kettle in ((1000.0, 400.0), (1060.5, 450.0)):
        status, answer = hall.heartbeat(outlets=[{"on": True, "why": "badge", "power_w": 31.5, "energy_wh": 7.0},
                                                 {"on": True, "why": "badge", "power_w": 1998, "energy_wh": kettle}],
                                        power_w=2029.5, energy_wh=counter, measured=True, volts=231.0)
        assert status == 200
    today = time.strftime("%Y-%m-%d", time.gmtime(answer["time"]))
    page.log_in()
    assert page.text("#device-hall .power") == "2030 W, measured"
    assert [cell.text for cell in page.all("#device-hall tr.power td")] == ["32 W", "1998 W"]
    rows = page.all("#device-hall table.energy tr")
    assert [cell.text for cell in page.all("th", rows[0])] == ["Day", "Strip", "Outlet 1", "Outlet 2", "From"]
    assert [cell.text for cell in page.all("td", rows[1])] == [today, "60.5 Wh", "0.0 Wh", "50.0 Wh", "measured"]
    assert page.all("#device-desk .power, #device-desk table.energy") == []


def test_a_command_sent_from_the_page_is_queued_for_the_board(page, site):
    hall = site.board("hall")
    site.board("desk", power=(100, 100))          # never seen
    hall.heartbeat("0.1.0+3f2a9c1e", 86400 + 3600, 6300, [{"on": True, "why": "badge"}] + [
        {"on": False, "why": "power-on off"}] * 5)
    page.log_in()
    form = page.find("#device-hall form.command")
    Select(page.find("select[name=op]", form)).select_by_visible_text("on")
    page.submit(page.find("button", form), lambda: page.title() == "Devices")
    assert "on needs outlets (and no class)" in page.text("#device-hall")
    assert hall.commands()[1] == {"commands": []}
    form = page.find("#device-hall form.command")
    Select(page.find("select[name=op]", form)).select_by_visible_text("on")
    for n in ("2", "3"):
        page.find("input[name=outlets][value='%s']" % n, form).click()
    page.submit(page.find("button", form), lambda: page.title() == "Devices" and page.problem() is None)
    (queued,) = hall.commands()[1]["commands"]
    assert (queued["op"], queued["outlets"], queued["class"], queued["until"]) == ("on", [2, 3], None, None)
    assert page.text("#device-hall table.commands td.answer") == "waiting for the device"
    form = page.find("#device-hall form.command")
    Select(page.find("select[name=op]", form)).select_by_visible_text("shed")
    page.type("input[name=class]", "2", form)
    page.type("input[name=minutes]", "15", form)
    page.submit(page.find("button", form), lambda: page.title() == "Devices" and page.problem() is None)
    shed = site.admin("GET", "/commands?device=hall")[1]
    assert (shed["op"], shed["outlets"], shed["class"]) == ("shed", None, 2)
    assert abs(shed["until"] - shed["created"] - 15 * 60) <= 1         # for 15 minutes from when it was sent
    hall.ack(queued["id"], True, "outlets 2,3 on")
    page.open("/dashboard")
    assert [cell.text for cell in page.all("#device-hall table.commands td.answer")] == [
        "waiting for the device", "done: outlets 2,3 on"]
    page.shot("devices")


def test_badges_are_enrolled_renamed_and_disabled_with_plain_words_for_a_wrong_uid(page, site):
    hall = site.board("hall")
    page.log_in()
    page.open("/dashboard/badges")
    for uid, problem in (("04:A1:B2", UID_HELP), ("04A1B2C3D4", UID_HELP), ("04 a1 b2 c3", None)):
        page.type("#uid", uid)
        page.type("#owner", "Alice")
        page.submit(page.find("#add-badge"), lambda: page.title() == "Badges")
        assert page.problem() == problem
        assert "pattern" not in page.driver.page_source
        if problem:
            assert page.find("#uid").get_attribute("value") == uid      # what was typed, to correct it
    alice = badge_hash(SITE, ALICE)
    row = page.find("tr[data-hash='%s']" % alice)
    assert (page.text("tr[data-hash='%s'] .owner" % alice), page.find(".state", row).text) == ("Alice", "enabled")
    page.type("#uid", "04:A1:B2:C3")
    page.type("#owner", "Alice again")
    page.submit(page.find("#add-badge"), lambda: page.title() == "Badges")
    assert page.problem() == "this badge is already enrolled"
    site.admin("POST", "/rules", {"badge": alice, "device": "all"})
    assert hall.authorize(alice)[1]["allow"] is True
    row = page.find("tr[data-hash='%s']" % alice)
    page.type("input[name=owner]", "Alice B.", row)
    page.submit(page.find("button[value=rename]", row), lambda: page.title() == "Badges")
    assert page.text("tr[data-hash='%s'] .owner" % alice) == "Alice B."
    page.submit(page.find("tr[data-hash='%s'] button[value=disable]" % alice), lambda: page.title() == "Badges")
    assert page.text("tr[data-hash='%s'] .state" % alice) == "disabled"
    assert hall.authorize(alice)[1] == {"allow": False, "outlets": [], "seconds": None, "name": "Alice B.",
                                        "reason": "disabled"}
    page.shot("badges")
    page.submit(page.find("tr[data-hash='%s'] button[value=enable]" % alice), lambda: page.title() == "Badges")
    assert hall.authorize(alice)[1]["allow"] is True
    row = page.find("tr[data-hash='%s']" % alice)
    page.type("input[name=owner]", "", row)
    page.submit(page.find("button[value=rename]", row), lambda: page.title() == "Badges")
    assert page.problem() == "owner: String should have at least 1 character"


def test_rules_are_added_disabled_and_removed_from_the_page(page, site):
    hall = site.board("hall")
    site.admin("POST", "/badges", {"uid": BOB, "owner": "Bob"})
    bob = badge_hash(SITE, BOB)
    page.log_in()
    page.open("/dashboard/rules")
    assert "No rule" in page.text("#rules")

    def add(uid="", outlets=(), days=(), start="", end="", minutes=""):
        form = page.find("#add-rule")
        page.type("#rule-uid", uid)
        Select(page.find("#rule-device")).select_by_visible_text("Hall")
        for n in outlets:
            page.find("input[name=outlets][value='%d']" % n, form).click()
        for n in days:
            page.find("input[name=days][value='%d']" % n, form).click()
        for name, value in (("start", start), ("end", end)):
            if value:
                page.driver.execute_script("arguments[0].value = arguments[1]", page.find("input[name=%s]" % name),
                                           value)
        page.type("input[name=minutes]", minutes, form)
        page.submit(page.find("#add-rule-button"), lambda: page.title() == "Rules")

    add(uid="04D5E6F7")
    assert page.problem() == "no badge is enrolled with the UID 04D5E6F7: enrol it first"
    add(uid="04:D5:E6")
    assert page.problem() == UID_HELP
    add(uid="04:D5:E6:F7:A1:B2:C3", start="08:00")
    assert page.problem() == "start and end go together"
    assert hall.authorize(bob)[1]["reason"] == "no rule"
    add(uid="04 d5 e6 f7 a1 b2 c3", outlets=(1, 2), minutes="30")
    assert page.problem() is None
    (rule,) = page.all("tr.rule")
    assert [cell.text for cell in page.all("td", rule)][:8] == [
        rule.get_attribute("data-id"), "Bob", "hall", "1,2", "every day", "all day", "30 min", "enabled"]
    assert hall.authorize(bob)[1] == {"allow": True, "outlets": [1, 2], "seconds": 1800, "name": "Bob",
                                      "reason": "ok"}
    page.submit(page.find("tr.rule button[value=disable]"), lambda: page.title() == "Rules")
    assert page.text("tr.rule .state") == "disabled"
    assert hall.authorize(bob)[1]["reason"] == "disabled"
    Select(page.find("#rule-badge")).select_by_visible_text("every badge")
    add(outlets=(6,), days=(6, 7), start="22:00", end="06:00")
    page.shot("rules")
    page.submit(page.find("tr.rule button[value=remove]"), lambda: page.title() == "Rules")
    assert len(page.all("tr.rule")) == 1
    assert "every badge" in page.text("tr.rule") and "Sat,Sun" in page.text("tr.rule")


def post_sessions(site):
    """Sessions on two days, from two boards: what the statistics must add up."""
    hall, desk = site.board("hall"), site.board("desk", power=(100, 100))
    site.admin("POST", "/badges", {"uid": ALICE, "owner": "Alice"})
    site.admin("POST", "/badges", {"uid": BOB, "owner": "Bob"})
    alice, bob = badge_hash(SITE, ALICE), badge_hash(SITE, BOB)
    day = 86400
    for board, key, badge, outlet, start, seconds, wh in (
            (hall, "h-1", alice, 1, MARCH_1 + 3600, 600, 12.5),
            (hall, "h-2", alice, 3, MARCH_1 + day + 7200, 30, 1.0),
            (hall, "h-3", bob, 1, MARCH_1 + day + 9000, 60, 0.25),
            (desk, "d-1", bob, 2, MARCH_1 + day + 10000, 3600, 100.0),
            (desk, "d-2", alice, 2, MARCH_1 - day, 60, 5.0)):      # the day before: out of the span below
        assert board.session(key, badge, outlet, start, start + seconds, wh)[1]["ok"] is True


def rows_of(page, section):
    return [[cell.text for cell in page.all("td", row)] for row in page.all("#by-%s table tr" % section)[1:]]


def test_statistics_per_badge_outlet_and_day_match_the_sessions_as_tables_charts_and_csv(page, site):
    post_sessions(site)
    page.log_in()
    page.open("/dashboard/stats")
    assert rows_of(page, "day")[0] == ["2026-02-28", "1", "0 h 01 min", "5.0 Wh"]
    page.driver.execute_script("document.querySelector('[name=since]').value = '2026-03-01';"
                               "document.querySelector('[name=until]').value = '2026-03-02'")
    page.submit(page.find("#span button"), lambda: page.title() == "Statistics")
    assert rows_of(page, "badge") == [["Alice", "2", "0 h 10 min", "13.5 Wh"], ["Bob", "2", "1 h 01 min", "100.2 Wh"]]
    assert rows_of(page, "outlet") == [["desk / 2", "1", "1 h 00 min", "100.0 Wh"],
                                       ["hall / 1", "2", "0 h 11 min", "12.8 Wh"],
                                       ["hall / 3", "1", "0 h 00 min", "1.0 Wh"]]
    assert rows_of(page, "day") == [["2026-03-01", "1", "0 h 10 min", "12.5 Wh"],
                                    ["2026-03-02", "3", "1 h 01 min", "101.2 Wh"]]
    bars = page.all("#by-badge svg.chart")[0].find_elements(By.TAG_NAME, "rect")
    widths = [float(bar.get_attribute("width")) for bar in bars]
    assert len(widths) == 2 and widths[1] == max(widths) and abs(widths[0] / widths[1] - 13.5 / 100.25) < 0.01
    page.shot("stats")
    # the CSV link, fetched with the browser's login as its download would be
    href = page.find("#by-outlet a.csv").get_attribute("href")
    assert urlsplit(href).path == "/dashboard/stats.csv"
    cookie = "multiprise_login=" + page.driver.get_cookie("multiprise_login")["value"]
    status, headers, text = fetch(site.port, "GET", href[len(site.url):], headers={"Cookie": cookie})
    assert status == 200 and headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="multiprise-outlet.csv"' in headers["content-disposition"]
    assert list(csv.reader(io.StringIO(text))) == [["device", "outlet", "sessions", "seconds", "energy_wh"],
                                                   ["desk", "2", "1", "3600", "100.0"],
                                                   ["hall", "1", "2", "660", "12.75"],
                                                   ["hall", "3", "1", "30", "1.0"]]


def test_the_csv_is_the_same_on_sqlite_and_postgresql_and_wants_a_login(any_site):
    post_sessions(any_site)
    query = "/dashboard/stats.csv?" + urlencode({"since": "2026-03-01", "until": "2026-03-02", "device": "hall"})
    assert fetch(any_site.port, "GET", query + "&by=badge")[0] == 303      # no login: sent to the login page
    bearer = {"Authorization": "Bearer " + TOKEN}

    def table(by):
        status, _, text = fetch(any_site.port, "GET", query + "&by=" + by, headers=bearer)
        assert status == 200, text
        return list(csv.reader(io.StringIO(text)))

    assert table("badge") == [["badge", "owner", "sessions", "seconds", "energy_wh"],
                              [badge_hash(SITE, ALICE), "Alice", "2", "630", "13.5"],
                              [badge_hash(SITE, BOB), "Bob", "1", "60", "0.25"]]
    assert table("day") == [["day", "sessions", "seconds", "energy_wh"], ["2026-03-01", "1", "600", "12.5"],
                            ["2026-03-02", "2", "90", "1.25"]]
    assert fetch(any_site.port, "GET", query.replace("2026-03-01", "March"), headers=bearer)[:3:2] == (
        422, "from: a date is written YYYY-MM-DD\n")


def test_names_are_shown_as_text_never_run_as_markup_nor_as_spreadsheet_formulas(page, site):
    hall = site.board("hall")
    evil = "<script>alert(1)</script>"
    site.admin("POST", "/badges", {"uid": ALICE, "owner": evil})
    site.admin("POST", "/badges", {"uid": BOB, "owner": "=HYPERLINK(1)"})
    alice = badge_hash(SITE, ALICE)
    site.admin("POST", "/rules", {"badge": alice, "device": "hall"})
    hall.session("s-1", alice, 1, MARCH_1, MARCH_1 + 60, 1)
    hall.session("s-2", badge_hash(SITE, BOB), 1, MARCH_1, MARCH_1 + 60, 1)
    page.log_in()
    for path, where in (("/dashboard/badges", "tr[data-hash='%s'] .owner" % alice),
                        ("/dashboard/rules", "tr.rule td:nth-child(2)"), ("/dashboard/stats", "#by-badge table")):
        page.open(path)
        assert evil in page.text(where)
        with pytest.raises(NoAlertPresentException):
            page.driver.switch_to.alert.text       # noqa: B018 (the script never ran)
        assert page.driver.execute_script("return document.querySelectorAll('main script').length") == 0
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.driver.page_source
    status, _, text = fetch(site.port, "GET", "/dashboard/stats.csv?by=badge",
                           headers={"Authorization": "Bearer " + TOKEN})
    assert [row[1] for row in csv.reader(io.StringIO(text))][1:] == [evil, "'=HYPERLINK(1)"]


def test_a_change_without_the_forms_csrf_token_is_refused_and_changes_nothing(any_site):
    port = any_site.port
    status, headers, _ = fetch(port, "POST", "/dashboard/login", "token=" + TOKEN,
                              {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    cookie = headers["set-cookie"].split(";")[0]
    page = fetch(port, "GET", "/dashboard/badges", headers={"Cookie": cookie})[2]
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    enrol = {"uid": "04:C0:FF:EE", "owner": "Carol"}
    for token in (None, "", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        body = urlencode(enrol if token is None else {**enrol, "csrf": token})
        status, _, text = fetch(port, "POST", "/dashboard/badges", body, form)
        assert status == 403 and "nothing was changed" in text
    # another login's token does not fit this login either
    other = fetch(port, "POST", "/dashboard/login", "token=" + TOKEN,
                 {"Content-Type": "application/x-www-form-urlencoded"})[1]["set-cookie"].split(";")[0]
    other_csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"',
                           fetch(port, "GET", "/dashboard/badges", headers={"Cookie": other})[2]).group(1)
    assert fetch(port, "POST", "/dashboard/badges", urlencode({**enrol, "csrf": other_csrf}), form)[0] == 403
    no_login = fetch(port, "POST", "/dashboard/badges", urlencode(enrol), {"Content-Type": form["Content-Type"]})
    assert (no_login[0], no_login[1]["location"]) == (303, "/dashboard/login")
    assert any_site.admin("GET", "/badges") == []
    assert fetch(port, "POST", "/dashboard/badges", urlencode({**enrol, "csrf": csrf}), form)[0] == 303
    assert [b["owner"] for b in any_site.admin("GET", "/badges")] == ["Carol"]


def requests_seen(driver):
    """The URLs the browser asked for, from its own network log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_api_page_renders_every_operation_with_nothing_loaded_from_outside_the_machine(browser, site):
    page = Page(browser, site, None)
    page.open("/docs")
    operations = len(json.loads(fetch(site.port, "GET", "/openapi.json")[2])["paths"])
    page.until("the API's operations drawn", lambda: len(page.all("#swagger-ui .opblock")) >= operations)
    assert "/api/v1/admin/badges/{badge}" in page.text("#swagger-ui")
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    seen = requests_seen(browser)
    assert "%s/static/docs/swagger-ui-bundle.js" % site.url in loaded and "%s/openapi.json" % site.url in seen
    # what went over the network (the browser's own chrome:// pages and data: URLs do not)
    elsewhere = [url for url in loaded + seen if urlsplit(url).scheme in ("http", "https", "ws", "wss")
                 and urlsplit(url).hostname != "127.0.0.1"]
    assert elsewhere == [], "\n".join(elsewhere)
    assert fetch(site.port, "GET", "/redoc")[0] == 404     # ReDoc is not served: its script loads its logo from afar


def test_the_dashboard_pictures_the_docs_show_are_pngs_of_each_page():
    shown = re.findall(r"\]\((img/dashboard-[a-z]+\.png)\)", (ROOT / "docs" / "server.md").read_text())
    assert sorted(shown) == ["img/dashboard-%s.png" % name for name in ("badges", "devices", "login", "rules",
                                                                         "stats")]
    for name in shown:
        assert (ROOT / "docs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
