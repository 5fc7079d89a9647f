"""The site's dashboard, under /dashboard: devices, badges, rules and statistics as server-rendered pages, behind the
admin token (a login that sets a signed session cookie, or the bearer header), every form checked against CSRF."""
import csv
import hashlib
import hmac
import io
import secrets
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from tools.server.schemas import (ALL, MAX_OUTLETS, BadgeIn, BadgeUpdate, CommandIn, RuleIn, RuleUpdate, badge_uid)
from tools.server.signing import badge_hash, same
from tools.server.store import Conflict, Invalid, NotFound

PREFIX = "/dashboard"
COOKIE = "multiprise_login"
LOGIN_S = 12 * 3600         # a login lasts this long
ONLINE_S = 180              # a device is online when its last heartbeat is this recent: 3 of the boards' default 60 s
ENERGY_DAYS = 7             # a device's energy per day, shown for the last days
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
OPS = ("on", "off", "toggle", "shed", "unshed")
HEADERS = {"content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                      "frame-ancestors 'none'; base-uri 'none'",
           "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-store"}
HERE = Path(__file__).parent
pages = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                    trim_blocks=True, lstrip_blocks=True)
static = StaticFiles(directory=HERE / "static")
router = APIRouter(prefix=PREFIX, include_in_schema=False)


class Problem(Exception):
    """What a person did wrong, in plain words, shown on the page they came from."""


# Logging in

def _mac(token, *parts):
    return hmac.new(token.encode(), "\n".join(("multiprise dashboard", *parts)).encode(), hashlib.sha256).hexdigest()


def new_login(token, now):
    """A session cookie's value: its expiry, a random part, and a MAC of both keyed by the admin token (a new token
    ends every login)."""
    expires, nonce = str(now + LOGIN_S), secrets.token_hex(16)
    return "%s.%s.%s" % (expires, nonce, _mac(token, "login", expires, nonce))


def valid_login(token, cookie, now):
    expires, _, rest = (cookie or "").partition(".")
    nonce, _, mac = rest.partition(".")
    return expires.isdigit() and int(expires) > now and same(mac, _mac(token, "login", expires, nonce))


def csrf_token(token, cookie):
    """The value every form of a login carries back; a page of another site cannot read it."""
    return _mac(token, "csrf", cookie)


class Visitor:
    """Who asks: through a login cookie (their forms carry `csrf`), or with the admin token in the request."""

    def __init__(self, request):
        self.request = request
        self.store = request.app.state.store
        self.token = request.app.state.admin_token
        self.cookie = request.cookies.get(COOKIE)
        authorization = request.headers.get("authorization", "")
        scheme, _, given = authorization.partition(" ")
        self.bearer = bool(self.token) and scheme.lower() == "bearer" and same(given.strip(), self.token)
        self.logged_in = bool(self.token) and valid_login(self.token, self.cookie, self.store.now())
        self.csrf = csrf_token(self.token, self.cookie) if self.logged_in else ""

    @property
    def allowed(self):
        return self.bearer or self.logged_in

    async def form(self):
        """The form's fields (each the last value given, or a list for `many`), once its CSRF token is checked."""
        fields = await _fields(self.request)
        if not self.bearer and not same(fields.get("csrf", [""])[-1], self.csrf):
            raise PermissionError
        return fields


async def _fields(request):
    """A form's fields; a form of more than 100 is none of the dashboard's, and refused (403)."""
    try:
        return parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True,
                        max_num_fields=100)
    except ValueError:
        raise PermissionError from None


def page(visitor, name, status=200, **context):
    html = pages.get_template(name).render(csrf=visitor.csrf, nav=name, member=visitor.allowed, **context)
    return HTMLResponse(html, status, headers=HEADERS)


def to_login():
    return RedirectResponse(PREFIX + "/login", 303, headers=HEADERS)


def guarded(handler):
    """A page or action for a logged-in visitor (or one with the token): others are sent to the login page, a form
    without its CSRF token is refused with 403 and changes nothing, a Problem is shown on the page with 422."""
    async def serve(request: Request):
        visitor = Visitor(request)
        if not visitor.allowed:
            return to_login()
        try:
            return await handler(visitor, **request.path_params)
        except PermissionError:
            return page(visitor, "refused.html", 403)
    serve.__name__ = handler.__name__
    return serve


def _plain(e):
    """A validation error in a person's words: which field, what is wrong."""
    said = []
    for err in e.errors():
        where = ".".join(str(part) for part in err["loc"] if not isinstance(part, int))
        msg = err["msg"].removeprefix("Value error, ")
        said.append(msg if err["type"] == "badge_uid" or not where else "%s: %s" % (where, msg))
    return "; ".join(said)


def _one(fields, name):
    return fields.get(name, [""])[-1].strip()


def _numbers(fields, name):
    return sorted({int(n) for n in fields.get(name, []) if n.isdigit()}) or None


def _since_until(tz, since, until):
    """Unix times of local midnight at `since`, and after the day `until` (dates YYYY-MM-DD; empty: unbounded)."""
    def midnight(day, what):
        try:
            moment = datetime.combine(date.fromisoformat(day), time(), tz)
        except ValueError:
            raise Problem("%s: a date is written YYYY-MM-DD" % what) from None
        return int(moment.timestamp() if tz else moment.astimezone().timestamp())

    return (midnight(since, "from") if since else None,
            midnight(until, "to") + 86400 if until else None)


# Pages

@router.get("/login")
async def login_page(request: Request):
    visitor = Visitor(request)
    if visitor.logged_in:
        return RedirectResponse(PREFIX, 303, headers=HEADERS)
    return page(visitor, "login.html", off=visitor.token is None)


@router.post("/login")
async def log_in(request: Request):
    visitor = Visitor(request)
    try:
        given = (await _fields(request)).get("token", [""])[-1]
    except PermissionError:
        given = ""
    if visitor.token is None or not same(given, visitor.token):
        return page(visitor, "login.html", 401, off=visitor.token is None, problem="This is not the admin token.")
    out = RedirectResponse(PREFIX, 303, headers=HEADERS)
    out.set_cookie(COOKIE, new_login(visitor.token, visitor.store.now()), max_age=LOGIN_S, path=PREFIX,
                   secure=request.url.scheme == "https", httponly=True, samesite="strict")
    return out


async def _log_out(visitor):
    await visitor.form()
    out = to_login()
    out.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return out


router.add_api_route("/logout", guarded(_log_out), methods=["POST"])


def _device_view(d, commands, energy, now):
    state = d.state or {}
    outlets = []
    for i, watts in enumerate(d.power):
        reported = state.get("outlets", [])
        known = reported[i] if i < len(reported) else None
        outlets.append({"n": i + 1, "watts": watts, "on": known and known["on"], "why": known and known["why"],
                        "known": known is not None, "power": known and known.get("power_w")})
    return {"id": d.id, "name": d.name, "online": d.last_seen is not None and now - d.last_seen <= ONLINE_S,
            "seen": d.last_seen, "ago": None if d.last_seen is None else now - d.last_seen, "state": d.state,
            "skew": d.skew, "outlets": outlets, "commands": commands[-5:][::-1], "power": state.get("power_w"),
            "measured": state.get("measured"), "metered": any(o["power"] is not None for o in outlets),
            "days": _energy_days(energy)}


def _energy_days(rows):
    """A device's energy rows as one line a day, latest first: the strip's, each outlet's, and where they came
    from (the chip, estimates, or both)."""
    days = {}
    for row in rows:
        day = days.setdefault(row.day, {"day": row.day, "strip": None, "outlets": {}, "sources": set()})
        if row.outlet is None:
            day["strip"] = row.energy_wh
        else:
            day["outlets"][row.outlet] = row.energy_wh
        day["sources"].add(row.source)
    for day in days.values():
        day["source"] = day.pop("sources").pop() if len(day["sources"]) == 1 else "mixed"
    return sorted(days.values(), key=lambda day: day["day"], reverse=True)


async def _devices(visitor, problem=None, status=200, where=None):
    s = visitor.store
    now = s.now()
    commands = {}
    for c in s.commands():
        commands.setdefault(c.device, []).append(c)
    week = datetime.fromtimestamp(now, UTC).date() - timedelta(days=ENERGY_DAYS - 1)
    devices = [_device_view(d, commands.get(d.id, []), s.energy_days(d.id, since=week), now) for d in s.devices()]
    return page(visitor, "devices.html", status, devices=devices, ops=OPS, problem=problem, where=where,
                when=lambda t: _local(s.tz, t))


router.add_api_route("", guarded(_devices), methods=["GET"])


async def _act(visitor, change, shown, done, **context):
    """Make a change (`change()`), then send the browser to `done`; when it is refused, show the page again (`shown`)
    saying why, with 422."""
    try:
        change()
    except ValidationError as e:
        return await shown(visitor, _plain(e), 422, **context)
    except (Problem, NotFound, Conflict, Invalid) as e:
        return await shown(visitor, str(e), 422, **context)
    return RedirectResponse(done, 303, headers=HEADERS)


async def _send_command(visitor, device):
    fields = await visitor.form()

    def send():
        klass, minutes = _one(fields, "class"), _one(fields, "minutes")
        if klass and not klass.isdigit() or minutes and not minutes.isdigit():
            raise Problem("the class and the minutes are whole numbers")
        until = visitor.store.now() + int(minutes) * 60 if minutes else None
        visitor.store.send_command(CommandIn(device=device, op=_one(fields, "op"), outlets=_numbers(fields, "outlets"),
                                             priority_class=int(klass) if klass else None, until=until))

    return await _act(visitor, send, _devices, "%s#device-%s" % (PREFIX, quote(device)), where=device)


router.add_api_route("/devices/{device}/commands", guarded(_send_command), methods=["POST"])


async def _badges(visitor, problem=None, status=200, typed=None):
    return page(visitor, "badges.html", status, badges=visitor.store.badges(), problem=problem, typed=typed or {})


router.add_api_route("/badges", guarded(_badges), methods=["GET"])


async def _enrol(visitor):
    fields = await visitor.form()
    typed = {"uid": _one(fields, "uid"), "owner": _one(fields, "owner")}
    return await _act(visitor, lambda: visitor.store.enrol(BadgeIn(**typed)), _badges, PREFIX + "/badges",
                      typed=typed)


router.add_api_route("/badges", guarded(_enrol), methods=["POST"])


async def _change_badge(visitor, badge):
    fields = await visitor.form()
    action = _one(fields, "action")

    def change():
        if action == "rename":
            visitor.store.update_badge(badge, BadgeUpdate(owner=_one(fields, "owner")))
        elif action in ("enable", "disable"):
            visitor.store.update_badge(badge, BadgeUpdate(enabled=action == "enable"))
        elif action == "remove":
            visitor.store.remove_badge(badge)
        else:
            raise Problem("no such action: %s" % action)

    return await _act(visitor, change, _badges, PREFIX + "/badges")


router.add_api_route("/badges/{badge}", guarded(_change_badge), methods=["POST"])


async def _rules(visitor, problem=None, status=200):
    s = visitor.store
    owners = {b.hash: b.owner for b in s.badges()}
    return page(visitor, "rules.html", status, rules=s.rules(), owners=owners, badges=s.badges(),
                devices=s.devices(), days=DAYS, outlets=range(1, MAX_OUTLETS + 1), problem=problem)


router.add_api_route("/rules", guarded(_rules), methods=["GET"])


async def _add_rule(visitor):
    fields = await visitor.form()
    s = visitor.store

    def add():
        badge, uid = _one(fields, "badge") or ALL, _one(fields, "uid")
        if uid:
            if s.site_secret is None:
                raise Problem("a UID needs the site secret: start the server with --site-secret")
            try:
                badge = badge_hash(s.site_secret, badge_uid(uid))
            except ValueError as e:
                raise Problem(str(e)) from None
            if badge not in {b.hash for b in s.badges()}:
                raise Problem("no badge is enrolled with the UID %s: enrol it first" % uid)
        minutes = _one(fields, "minutes")
        if minutes and not minutes.isdigit():
            raise Problem("the longest session is a whole number of minutes")
        s.add_rule(RuleIn(badge=badge, device=_one(fields, "device") or ALL, outlets=_numbers(fields, "outlets"),
                          days=_numbers(fields, "days"), start=_one(fields, "start") or None,
                          end=_one(fields, "end") or None, max_seconds=int(minutes) * 60 if minutes else None))

    return await _act(visitor, add, _rules, PREFIX + "/rules")


router.add_api_route("/rules", guarded(_add_rule), methods=["POST"])


async def _change_rule(visitor, rule):
    fields = await visitor.form()
    action = _one(fields, "action")

    def change():
        if not rule.isdigit():
            raise NotFound("no rule %s" % rule)
        if action == "remove":
            visitor.store.remove_rule(int(rule))
        elif action in ("enable", "disable"):
            visitor.store.update_rule(int(rule), RuleUpdate(enabled=action == "enable"))
        else:
            raise Problem("no such action: %s" % action)

    return await _act(visitor, change, _rules, PREFIX + "/rules")


router.add_api_route("/rules/{rule}", guarded(_change_rule), methods=["POST"])


def _local(tz, t):
    return "-" if t is None else datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M:%S")


def _span(visitor):
    q = visitor.request.query_params
    chosen = {"since": q.get("since", "").strip(), "until": q.get("until", "").strip(),
              "device": q.get("device", "").strip()}
    since, until = _since_until(visitor.store.tz, chosen["since"], chosen["until"])
    return chosen, {"since": since, "until": until, "device": chosen["device"] or None}


BY = ("badge", "outlet", "day")


def _label(by, row):
    if by == "badge":
        return row.owner or row.badge[:12]
    if by == "outlet":
        return "%s / %d" % (row.device, row.outlet)
    return row.day


def _rows(store, by, span):
    """The statistics in the order a person reads them: badges by owner."""
    rows = store.stats(by, **span)
    return sorted(rows, key=lambda row: (row.owner or "", row.badge)) if by == "badge" else rows


async def _stats(visitor):
    try:
        chosen, span = _span(visitor)
        problem = None
    except Problem as e:
        chosen, span, problem = {}, {}, str(e)
    tables = {by: [(_label(by, row), row) for row in _rows(visitor.store, by, span)] for by in BY}
    return page(visitor, "stats.html", 422 if problem else 200, tables=tables, chosen=chosen, problem=problem,
                devices=visitor.store.devices(), query="&".join("%s=%s" % (k, quote(v)) for k, v in chosen.items()))


router.add_api_route("/stats", guarded(_stats), methods=["GET"])

CSV_COLUMNS = {"badge": ("badge", "owner"), "outlet": ("device", "outlet"), "day": ("day",)}


def _cell(value):
    """A value as a spreadsheet shows it, never as a formula: text that starts like one is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def _csv(visitor):
    by = visitor.request.query_params.get("by", "badge")
    if by not in BY:
        return Response("by: badge, outlet or day\n", 422, media_type="text/plain", headers=HEADERS)
    try:
        _, span = _span(visitor)
    except Problem as e:
        return Response(str(e) + "\n", 422, media_type="text/plain", headers=HEADERS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS[by] + ("sessions", "seconds", "energy_wh"))
    for row in _rows(visitor.store, by, span):
        writer.writerow([_cell(getattr(row, c)) for c in CSV_COLUMNS[by]] + [row.count, row.seconds,
                                                                             round(row.energy_wh, 3)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        **HEADERS, "content-disposition": 'attachment; filename="multiprise-%s.csv"' % by})


router.add_api_route("/stats.csv", guarded(_csv), methods=["GET"])


def install(app):
    """Add the dashboard, its style sheet, and the way from / to it, to `app`."""
    app.include_router(router)
    app.mount(PREFIX + "/static", static, name="dashboard-static")
    app.add_api_route("/", lambda: RedirectResponse(PREFIX, 303), methods=["GET"], include_in_schema=False)
