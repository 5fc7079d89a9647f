"""`multiprise server`: run the central server, or manage its database directly (`multiprise server admin ...`)."""
import argparse
import json
import os
import stat
import sys
import time
from datetime import date, datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CONNECTIONS = 200
SITE_SECRET_MIN = 16    # as the boards require (firmware/config.py)


def add_arguments(p):
    """The options of `multiprise server`, and its `admin` subcommands."""
    _common(p, inherit=False)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; boards on the "
                                                       "network need 0.0.0.0)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--admin-token", default=os.environ.get("MULTIPRISE_ADMIN_TOKEN"),
                   help="bearer token of the admin API (or MULTIPRISE_ADMIN_TOKEN; none: the admin API is off)")
    p.add_argument("--admin-token-file", metavar="FILE", default=os.environ.get("MULTIPRISE_ADMIN_TOKEN_FILE"),
                   help="read the admin token from FILE (or MULTIPRISE_ADMIN_TOKEN_FILE)")
    p.add_argument("--workers", type=int, default=1, help="processes serving the same port (default 1); with "
                                                          "PostgreSQL, several use both cores and more")
    p.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS,
                   help="connections at once, per worker, past which requests get 503 (default %d)" % MAX_CONNECTIONS)
    p.add_argument("--access-log", action="store_true", help="log every request (method, path, status)")
    p.add_argument("--client-timeout", type=float, default=5, metavar="S",
                   help="a request's headers, and then its body, must come within S seconds (default 5): slow clients "
                        "are cut off")
    p.add_argument("--demo", action="store_true", help="set up the demo strip, badges and rules (tools/server/demo.py)")
    p.add_argument("--clock-file", metavar="FILE",
                   help="for the virtual board's long runs (make soak): the server's clock is this machine's plus the "
                        "seconds written in FILE, read again whenever the file changes, so that it follows the "
                        "virtual world's clock when a test moves it")
    admin = p.add_subparsers(dest="server_cmd").add_parser(
        "admin", help="manage devices, badges, rules and commands, and read statistics, in the database directly")
    _common(admin, inherit=True)
    admin.add_argument("--json", action="store_true", help="print JSON rather than tables")
    what = admin.add_subparsers(dest="what", required=True)

    device = what.add_parser("device", help="devices (power strips)").add_subparsers(dest="action", required=True)
    add = device.add_parser("add", help="create a device and print its secret (shown this once)")
    add.add_argument("id")
    add.add_argument("--name")
    add.add_argument("--power", type=_numbers, help="rated power of each outlet in watts, e.g. 60,100,2000,0,0,0")
    device.add_parser("list")
    device.add_parser("remove", help="with its rules and commands").add_argument("id")

    badge = what.add_parser("badge", help="badges (stored as keyed hashes)").add_subparsers(dest="action",
                                                                                             required=True)
    enrol = badge.add_parser("enrol", help="enrol a badge by its UID (needs the site secret)")
    enrol.add_argument("uid", help="hex, 4, 7 or 10 bytes: 04A1B2C3, 04:A1:B2:C3 or '04 a1 b2 c3'")
    enrol.add_argument("owner")
    badge.add_parser("list")
    badge.add_parser("remove", help="with its rules").add_argument("hash")
    rename = badge.add_parser("rename", help="change a badge's owner")
    rename.add_argument("hash")
    rename.add_argument("owner")
    badge.add_parser("disable", help="refuse it (its rules are kept)").add_argument("hash")
    badge.add_parser("enable").add_argument("hash")

    rule = what.add_parser("rule", help="authorization rules").add_subparsers(dest="action", required=True)
    add = rule.add_parser("add", help="who may power which outlets, when, for how long")
    add.add_argument("--badge", required=True, help='a badge hash, a UID with the site secret, or "all": every '
                                                    'enrolled badge')
    add.add_argument("--device", required=True, help='a device id, or "all": every device')
    add.add_argument("--outlets", type=_numbers, help="e.g. 1,2,3 (default: every outlet)")
    add.add_argument("--days", type=_days, help="e.g. mon-fri or sat,sun (default: every day)")
    add.add_argument("--hours", type=_hours, help="e.g. 08:00-18:00, or 22:00-06:00 past midnight (default: all day)")
    add.add_argument("--max-seconds", type=int, help="longest session (default: no limit)")
    add.add_argument("--disabled", action="store_true")
    rule.add_parser("list")
    for action in ("remove", "enable", "disable"):
        rule.add_parser(action).add_argument("id", type=int)

    command = what.add_parser("command", help="remote commands").add_subparsers(dest="action", required=True)
    send = command.add_parser("send", help="queue a command for a device")
    send.add_argument("device")
    send.add_argument("op", choices=("on", "off", "toggle", "shed", "unshed"))
    send.add_argument("--outlets", type=_numbers, help="e.g. 1,3 (shed and unshed: default every outlet)")
    send.add_argument("--class", dest="priority_class", type=int, help="shed or unshed a priority class")
    send.add_argument("--for", dest="seconds", type=int, help="shed: for this many seconds")
    listing = command.add_parser("list")
    listing.add_argument("--device")
    listing.add_argument("--pending", action="store_true")

    for name, what_help in (("stats", "count, seconds and energy of the sessions"),
                            ("sessions", "the latest sessions")):
        q = what.add_parser(name, help=what_help)
        if name == "stats":
            q.add_argument("--by", choices=("badge", "outlet", "device", "day"), default="badge")
        else:
            q.add_argument("--limit", type=int, default=20)
        q.add_argument("--device")
        q.add_argument("--since", help="YYYY-MM-DD[THH:MM] local time, or unix seconds")
        q.add_argument("--until", help="YYYY-MM-DD[THH:MM] local time, or unix seconds")

    series = what.add_parser("series", help="a device's power and energy counter at its latest heartbeats")
    series.add_argument("device")
    series.add_argument("--outlet", type=int, help="one outlet (default: the whole strip)")
    series.add_argument("--since", help="YYYY-MM-DD[THH:MM] local time, or unix seconds")
    series.add_argument("--until", help="YYYY-MM-DD[THH:MM] local time, or unix seconds")
    series.add_argument("--limit", type=int, default=60, help="the latest N points (default 60)")
    energy = what.add_parser("energy", help="a device's energy per UTC day: the whole strip (outlet -) and each "
                                            "outlet")
    energy.add_argument("device")
    energy.add_argument("--since", type=_day, help="YYYY-MM-DD, a UTC day")
    energy.add_argument("--until", type=_day, help="YYYY-MM-DD, a UTC day (included)")


def _common(p, inherit):
    """Options that both the server and `admin` take; under `admin` they default to the server's."""
    def default(value):
        return argparse.SUPPRESS if inherit else value

    p.add_argument("--db", default=default(os.environ.get("MULTIPRISE_DB")),
                   help="database: a SQLite file or a URL, e.g. postgresql+psycopg://u@h/db (or MULTIPRISE_DB; "
                        "default: server.db in the current folder)")
    p.add_argument("--db-file", metavar="FILE", default=default(os.environ.get("MULTIPRISE_DB_FILE")),
                   help="read the database URL from FILE, e.g. one with a password (or MULTIPRISE_DB_FILE)")
    p.add_argument("--site-secret", default=default(os.environ.get("MULTIPRISE_SITE_SECRET")),
                   help="key of the badge hashes, %d-64 characters, the same as the boards' (or "
                        "MULTIPRISE_SITE_SECRET)" % SITE_SECRET_MIN)
    p.add_argument("--site-secret-file", metavar="FILE", default=default(os.environ.get("MULTIPRISE_SITE_SECRET_FILE")),
                   help="read the site secret from FILE (or MULTIPRISE_SITE_SECRET_FILE)")
    p.add_argument("--tz", default=default(os.environ.get("MULTIPRISE_TZ")),
                   help="time zone of the rules' days and hours, e.g. Europe/Paris (or MULTIPRISE_TZ; default: "
                        "this machine's)")


def _numbers(text):
    try:
        return [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected numbers separated by commas: %r" % text) from None


def _days(text):
    """mon-fri, sat,sun, 1-5: ISO weekdays."""
    def day(name):
        name = name.strip().lower()[:3]
        if name.isdigit() and 1 <= int(name) <= 7:
            return int(name)
        if name in DAYS:
            return DAYS.index(name) + 1
        raise argparse.ArgumentTypeError("not a day: %r (mon..sun or 1..7)" % name)

    out = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        a, b = day(first), day(last or first)
        out += range(a, b + 1) if a <= b else [*range(a, 8), *range(1, b + 1)]
    return sorted(set(out))


def _day(text):
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a day, YYYY-MM-DD: %r" % text) from None


def _hours(text):
    start, sep, end = text.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError("expected HH:MM-HH:MM: %r" % text)
    return start.strip(), end.strip()


def _when(text, tz):
    if text is None or text.isdigit():
        return None if text is None else int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit("multiprise server: not a date: %r (YYYY-MM-DD[THH:MM] or unix seconds)" % text) from None
    if moment.tzinfo is None and tz is not None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp())


TIMES = {"last_seen", "start", "end", "created", "acked", "until", "time"}     # unix times, shown in local time


HASH_SHOWN = 12  # hex digits of a badge hash a person sees (--json has them whole)


def _cell(name, value, tz):
    if value is None:
        return "-"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:HASH_SHOWN]
    if isinstance(value, float):  # watt-hours
        return "%.1f" % value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name in TIMES and isinstance(value, int):
        return datetime.fromtimestamp(value, tz).strftime("%Y-%m-%d %H:%M:%S")
    if name == "days":
        return ",".join(DAYS[d - 1] for d in value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _show(rows, as_json, tz=None, owners=None):
    """Print models as JSON (--json), or as aligned columns for a person: times in local time, lists joined, badge
    hashes short and their owners beside them (owners: {hash: owner}), watt-hours rounded, a device's last heartbeat
    left to --json."""
    if as_json:
        print(json.dumps([row.model_dump(mode="json", by_alias=True) for row in rows], indent=1))
        return
    if not rows:
        print("(none)")
        return
    data = []
    for row in rows:
        d = {}
        for k, v in row.model_dump(by_alias=True).items():
            if k != "state":
                d[k] = _cell(k, v, tz)
            if k == "badge" and owners is not None:
                d["owner"] = "everyone" if v == "all" else owners.get(v, "-") if v else "-"
        data.append(d)
    widths = {k: max(len(k), *(len(d[k]) for d in data)) for k in sorted(data[0], key=lambda k: k != "id")}
    print("  ".join(k.ljust(w) for k, w in widths.items()).rstrip())
    for d in data:
        print("  ".join(d[k].ljust(w) for k, w in widths.items()).rstrip())


def _zone(name):
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit("multiprise server: unknown time zone %r" % name) from None


def _badge(store, text, schemas, badge_hash):
    """--badge: "all", a badge hash, a UID (with the site secret), or the name of the owner of one enrolled badge."""
    if text == "all" or len(text) == 64:
        return text
    try:
        uid = schemas.badge_uid(text)
    except ValueError:
        uid = None
    if uid is not None:
        if store.site_secret is None:
            raise SystemExit("multiprise server: --badge %s: a UID needs the site secret (--site-secret or "
                             "--site-secret-file before `admin`, or MULTIPRISE_SITE_SECRET)" % text)
        return badge_hash(store.site_secret, uid)
    named = [b.hash for b in store.badges() if b.owner.casefold() == text.casefold()]
    if len(named) == 1:
        return named[0]
    if named:
        raise SystemExit("multiprise server: --badge %s: %d badges have that owner; give the badge's hash (badge list)"
                         % (text, len(named)))
    raise SystemExit("multiprise server: --badge %s: no such owner, and not a badge UID (4, 7 or 10 bytes in hex, "
                     "e.g. 04:A1:B2:C3) nor a hash" % text)


def _admin(a, store):
    from tools.server import schemas
    from tools.server.signing import badge_hash

    def _table(rows, owners=None):
        _show(rows, a.json, store.tz, owners)

    def _owners():
        return {b.hash: b.owner for b in store.badges()}

    if a.what == "device":
        if a.action == "add":
            device, secret = store.add_device(schemas.DeviceIn(id=a.id, name=a.name, **(
                {"power": a.power} if a.power else {})))
            if a.json:
                _table([schemas.DeviceCreated(**device.model_dump(), secret=secret)])
            else:
                print("device %s created; its secret (shown once): %s" % (device.id, secret))
        elif a.action == "list":
            _table(store.devices())
        else:
            store.remove_device(a.id)
    elif a.what == "badge":
        if a.action == "enrol":
            if store.site_secret is None:
                raise SystemExit("multiprise server: enrolling a badge by its UID needs the site secret: give it with "
                                 "--site-secret or --site-secret-file before `admin`, or MULTIPRISE_SITE_SECRET")
            badge = store.enrol(schemas.BadgeIn(uid=a.uid, owner=a.owner))
            if a.json:
                _table([badge])
            else:
                print(badge.hash)
        elif a.action == "list":
            _table(store.badges())
        elif a.action == "rename":
            _table([store.update_badge(a.hash, schemas.BadgeUpdate(owner=a.owner))])
        elif a.action in ("disable", "enable"):
            _table([store.update_badge(a.hash, schemas.BadgeUpdate(enabled=a.action == "enable"))])
        else:
            store.remove_badge(a.hash)
    elif a.what == "rule":
        if a.action == "add":
            badge = _badge(store, a.badge, schemas, badge_hash)
            start, end = a.hours or (None, None)
            _table([store.add_rule(schemas.RuleIn(badge=badge, device=a.device, outlets=a.outlets, days=a.days,
                                                  start=start, end=end, max_seconds=a.max_seconds,
                                                  enabled=not a.disabled))])
        elif a.action == "list":
            _table(store.rules(), _owners())
        elif a.action == "remove":
            store.remove_rule(a.id)
        else:
            _table([store.update_rule(a.id, schemas.RuleUpdate(enabled=a.action == "enable"))])
    elif a.what == "command":
        if a.action == "send":
            until = None if a.seconds is None else int(time.time()) + a.seconds
            _table([store.send_command(schemas.CommandIn(device=a.device, op=a.op, outlets=a.outlets,
                                                         priority_class=a.priority_class, until=until))])
        else:
            _table(store.commands(a.device, True if a.pending else None))
    elif a.what == "series":
        _table(store.series(a.device, a.outlet, _when(a.since, store.tz), _when(a.until, store.tz), a.limit))
    elif a.what == "energy":
        _table(store.energy_days(a.device, a.since, a.until))
    else:
        tz = store.tz
        span = dict(device=a.device, since=_when(a.since, tz), until=_when(a.until, tz))
        _table(store.stats(a.by, **span) if a.what == "stats" else store.sessions(a.limit, **span), _owners())


def _from_file(path, what):
    """The first line of a file holding a secret; a file others may read is named on stderr (never its content)."""
    try:
        mode = os.stat(path).st_mode
        with open(path) as f:
            value = f.readline().strip()
    except OSError as e:
        raise SystemExit("multiprise server: cannot read the %s from %s: %s" % (what, path, e.strerror)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print("multiprise server: %s can be read by others: chmod 600 it" % path, file=sys.stderr)
    if not value:
        raise SystemExit("multiprise server: %s is empty" % path)
    return value


def _secrets(a):
    """Each secret from its option, its variable, or its file (an option given on the command line first)."""
    for name, what in (("db", "database URL"), ("site_secret", "site secret"), ("admin_token", "admin token")):
        if getattr(a, name, None) is None and getattr(a, name + "_file", None):
            setattr(a, name, _from_file(getattr(a, name + "_file"), what))
    if a.db is None:
        a.db = "server.db"


def _serve(a, store, site_secret):
    from sqlalchemy.engine import make_url

    from tools.server import demo, serve
    from tools.server.app import create_app
    from tools.server.models import database_url
    from tools.server.store import Store

    token = a.admin_token
    if a.demo:
        demo.seed(store)
        token = token or demo.ADMIN_TOKEN
        print("demo: device %s, device secret %s, site secret %s%s" % (
            demo.DEVICE_ID, demo.DEVICE_SECRET, demo.SITE_SECRET,
            ", admin token %s" % demo.ADMIN_TOKEN if token == demo.ADMIN_TOKEN else ""))
        for badge in demo.BADGES:
            print("demo: badge %s (%s) %s" % (badge.uid, badge.owner, "allowed" if badge.allowed else "refused"))
    print("multiprise server on http://%s:%d (dashboard: /dashboard, OpenAPI: /docs), database %s%s%s" % (
        a.host, a.port, make_url(database_url(a.db)).render_as_string(hide_password=True),
        "" if site_secret else ", no site secret (enrolment by UID is off)",
        "" if token else ", no admin token (the admin API is off)"), flush=True)
    if a.workers == 1:
        def make_app():
            return create_app(store, token, a.client_timeout)
    else:
        store.close()   # each worker opens the database for itself

        def make_app():
            return create_app(Store(a.db, site_secret, store.tz, store.clock), token, a.client_timeout)
    return serve.run(make_app, a.host, a.port, a.workers, a.access_log, a.max_connections, a.client_timeout)


class FileClock:
    """time.time() plus the offset (seconds, a number) written in a file, read again whenever the file changes (a
    writer replaces it whole: os.replace); a file missing or unreadable keeps the last offset read (0 at first)."""

    def __init__(self, path):
        self.path, self.offset, self._seen = path, 0.0, None

    def __call__(self):
        try:
            st = os.stat(self.path)
            seen = st.st_ino, st.st_mtime_ns, st.st_size
        except OSError:
            seen = None
        if seen != self._seen and seen is not None:
            try:
                with open(self.path) as f:
                    self.offset = float(f.read())
                self._seen = seen
            except (OSError, ValueError):  # being written by another tool: the next call reads it
                pass
        return time.time() + self.offset


def run(a):
    """Run `multiprise server [admin ...]` from its parsed arguments; return the exit status."""
    from pydantic import ValidationError

    from tools.server import demo
    from tools.server.store import Conflict, Invalid, NotFound, Store

    _secrets(a)
    site_secret = a.site_secret
    if a.server_cmd is None and a.demo:
        if site_secret not in (None, demo.SITE_SECRET):
            print("multiprise server: --demo goes with the demo's site secret (tools/server/demo.py)", file=sys.stderr)
            return 2
        site_secret = demo.SITE_SECRET
    if site_secret is not None and not SITE_SECRET_MIN <= len(site_secret) <= 64:
        print("multiprise server: the site secret must have %d to 64 characters, as the boards want" % SITE_SECRET_MIN,
              file=sys.stderr)
        return 2
    if a.server_cmd is None and a.workers < 1:
        print("multiprise server: --workers must be 1 or more", file=sys.stderr)
        return 2
    try:
        clock = FileClock(a.clock_file) if a.server_cmd is None and a.clock_file else time.time
        store = Store(a.db, site_secret, _zone(a.tz), clock)
        if a.server_cmd == "admin":
            from sqlalchemy.engine import make_url

            from tools.server.models import database_url

            print("multiprise server admin: database %s" % make_url(database_url(a.db)).render_as_string(
                hide_password=True), file=sys.stderr)
            _admin(a, store)
            return 0
        return _serve(a, store, site_secret)
    except ValidationError as e:
        for err in e.errors():
            print("multiprise server: %s: %s" % (".".join(map(str, err["loc"])) or "value", err["msg"]),
                  file=sys.stderr)
        return 2
    except (NotFound, Conflict, Invalid) as e:
        print("multiprise server: %s" % e, file=sys.stderr)
        return 1


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.server", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
