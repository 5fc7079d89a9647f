"""What the server does with its database, shared by the HTTP APIs and the admin command line."""
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import ValidationError
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from tools.server import models, rules
from tools.server.ledger import Ledger
from tools.server.schemas import (ALL, BadgeOut, CommandOut, DeviceOut, EnergyDayOut, PendingCommand, ReadingOut,
                                  RuleIn, RuleOut, SessionRecord, StatRow)
from tools.server.signing import badge_hash

NONCE_KEEP_S = 600
PENDING_MAX = 8          # commands handed to a board at once: its heap is small
READINGS_KEEP_S = 48 * 3600     # the heartbeats' power and energy points are kept this long; the days' energy for good
PRUNE_EVERY_S = 60              # older points are deleted this often (each process), with a heartbeat
MEASURED, ESTIMATED = 1, 2      # models.EnergyDay.sources
SOURCES = {MEASURED: "measured", ESTIMATED: "estimated", MEASURED | ESTIMATED: "mixed"}


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class Invalid(Exception):
    pass


def _device_out(d):
    return DeviceOut(id=d.id, name=d.name, power=d.power, last_seen=d.last_seen, state=d.state, skew=d.skew)


def _rule_out(r):
    return RuleOut(id=r.id, badge=ALL if r.badge is None else r.badge, device=ALL if r.device is None else r.device,
                   outlets=r.outlets, days=r.days, start=r.start, end=r.end, max_seconds=r.max_seconds,
                   enabled=r.enabled)


def _rule_row(rule):
    """A RuleIn's fields as the table keeps them: NULL for "all"."""
    return {k: None if k in ("badge", "device") and v == ALL else v for k, v in rule.model_dump().items()}


def _command_out(c):
    return CommandOut(id=c.id, device=c.device, op=c.op, outlets=c.outlets, priority_class=c.priority_class,
                      until=c.until, created=c.created, acked=c.acked, ok=c.ok, result=c.result)


class Tables(NamedTuple):
    """Devices, badges and rules as of a version of the database, held in memory for the device requests."""
    version: int
    devices: dict       # id: (secret, number of outlets)
    badges: dict        # hash: (owner, enabled)
    rules: dict         # badge hash, or None for the rules of every badge: [rules.Rule]


SCRYPT = dict(n=2**14, r=8, p=1)     # some 16 MB and 50 ms a try


def site_check(site_secret, like=None):
    """The check value kept for `site_secret`: scrypt$SALT$HASH, with the salt of `like` (a value kept before) when
    given. A `like` of the first kind (a bare HMAC, before scrypt) gives that kind back, to compare with."""
    if like is not None and not like.startswith("scrypt$"):
        return hmac.new(site_secret.encode(), b"multiprise site secret check", "sha256").hexdigest()
    salt = bytes.fromhex(like.split("$")[1]) if like else secrets.token_bytes(16)
    return "scrypt$%s$%s" % (salt.hex(), hashlib.scrypt(site_secret.encode(), salt=salt, dklen=32, **SCRYPT).hex())


def _bump(tx):
    """Count a change to devices, badges or rules, in the transaction that makes it: every server reads them again."""
    tx.execute(update(models.Version).values(n=models.Version.n + 1))


class Store:
    def __init__(self, db, site_secret=None, tz=None, clock=time.time):
        """`db`: a database URL or SQLite file; `site_secret`: the key of badge hashes (needed to enrol by UID);
        `tz`: a tzinfo for the rules' days and hours (None: this machine's local time)."""
        self.url = models.database_url(db)
        self.tx = models.open_db(db)
        self.site_secret = site_secret
        self.tz = tz
        self.clock = clock
        self._purged = 0
        self._pruned = 0
        self._ledger = None
        self._tables = None
        if site_secret is not None:
            self._check_site_secret()

    def now(self):
        return int(self.clock())

    def _check_site_secret(self):
        """Refuse a site secret other than the one this database's badges were hashed with. The database keeps a
        check value made slow to compute (scrypt): a stolen database does not give the secret away by a fast search."""
        with self.tx.begin() as tx:
            row = tx.get(models.Meta, "site_check")
            if row is None:
                tx.add(models.Meta(key="site_check", value=site_check(self.site_secret)))
            elif not hmac.compare_digest(row.value, site_check(self.site_secret, row.value)):
                raise Conflict("this site secret is not the one this database's badges were enrolled with")
            elif not row.value.startswith("scrypt$"):
                row.value = site_check(self.site_secret)   # a database made before the slow check: upgraded

    @property
    def ledger(self):
        """The version counter and the nonces on connections of their own (opened at first use: a server's)."""
        if self._ledger is None:
            self._ledger = Ledger(self.url)
        return self._ledger

    def close(self):
        if self._ledger is not None:
            self._ledger.close()
        self.tx.kw["bind"].dispose()

    def _tables_now(self, wait=True):
        """Devices, badges and rules as the database has them now: one SELECT of the version counter, and all three
        read again when it has moved (the version read first: tables newer than it are read again next time)."""
        version = self.ledger.version(wait)
        if self._tables is None or self._tables.version != version:
            with self.tx() as tx:
                devices = {d.id: (d.secret, len(d.power)) for d in tx.scalars(select(models.Device))}
                badges = {h: (owner, enabled) for h, owner, enabled in tx.execute(
                    select(models.Badge.hash, models.Badge.owner, models.Badge.enabled))}
                found = {}
                for r in tx.scalars(select(models.Rule).order_by(models.Rule.id)):
                    found.setdefault(r.badge, []).append(
                        rules.Rule(r.badge, r.device, r.outlets, r.days, r.start, r.end, r.max_seconds, r.enabled))
            self._tables = Tables(version, devices, badges, found)
        return self._tables

    def _device(self, tx, device_id):
        d = tx.get(models.Device, device_id)
        if d is None:
            raise NotFound("no device %r" % device_id)
        return d

    @staticmethod
    def _check_outlets(device, outlets):
        bad = [o for o in outlets or () if o > len(device.power)]
        if bad:
            raise Invalid("device %s has %d outlets: no outlet %s" % (device.id, len(device.power), bad[0]))

    # Devices

    def add_device(self, new):
        """Create a device; return it with its generated secret (shown this once)."""
        secret = secrets.token_hex(16)
        try:
            with self.tx.begin() as tx:
                d = models.Device(id=new.id, secret=secret, name=new.name or new.id, power=new.power)
                tx.add(d)
                _bump(tx)
        except IntegrityError:
            raise Conflict("device %r exists" % new.id) from None
        return _device_out(d), secret

    def set_device_secret(self, device_id, secret):
        with self.tx.begin() as tx:
            self._device(tx, device_id).secret = secret
            _bump(tx)

    def devices(self):
        with self.tx() as tx:
            return [_device_out(d) for d in tx.scalars(select(models.Device).order_by(models.Device.id))]

    def device(self, device_id):
        with self.tx() as tx:
            return _device_out(self._device(tx, device_id))

    def update_device(self, device_id, change):
        with self.tx.begin() as tx:
            d = self._device(tx, device_id)
            for field in change.model_fields_set:
                if getattr(change, field) is not None:
                    setattr(d, field, getattr(change, field))
            _bump(tx)
        return _device_out(d)

    def remove_device(self, device_id):
        """Remove a device, its rules, its commands and its power readings; its sessions and its days' energy stay."""
        with self.tx.begin() as tx:
            d = self._device(tx, device_id)
            for table in (models.Rule, models.Command, models.Reading):
                tx.execute(delete(table).where(table.device == device_id))
            tx.delete(d)
            _bump(tx)

    def device_secret(self, device_id, wait=True):
        """The device's secret (None: no such device), from the tables as the database has them now. `wait`: False on
        the event loop (SQLite only; raises ledger.Busy when another writer holds the database)."""
        known = self._tables_now(wait).devices.get(device_id)
        return None if known is None else known[0]

    # Badges

    def enrol(self, new):
        if self.site_secret is None:
            raise Invalid("no site secret: start the server with --site-secret (or MULTIPRISE_SITE_SECRET)")
        h = badge_hash(self.site_secret, new.uid)
        try:
            with self.tx.begin() as tx:
                tx.add(models.Badge(hash=h, owner=new.owner))
                _bump(tx)
        except IntegrityError:
            raise Conflict("this badge is already enrolled") from None
        return BadgeOut(hash=h, owner=new.owner, enabled=True)

    def badges(self):
        with self.tx() as tx:
            return [BadgeOut(hash=b.hash, owner=b.owner, enabled=b.enabled)
                    for b in tx.scalars(select(models.Badge).order_by(models.Badge.owner, models.Badge.hash))]

    def _badge(self, tx, h):
        b = tx.get(models.Badge, h)
        if b is None:
            raise NotFound("no badge %s" % h)
        return b

    def update_badge(self, h, change):
        """Rename a badge's owner, or disable or enable it (a BadgeUpdate: only the fields given change)."""
        with self.tx.begin() as tx:
            b = self._badge(tx, h)
            for field in change.model_fields_set:
                setattr(b, field, getattr(change, field))
            _bump(tx)
        return BadgeOut(hash=b.hash, owner=b.owner, enabled=b.enabled)

    def remove_badge(self, h):
        """Remove a badge and its rules; its sessions stay in the statistics."""
        with self.tx.begin() as tx:
            b = self._badge(tx, h)
            tx.execute(delete(models.Rule).where(models.Rule.badge == h))
            tx.delete(b)
            _bump(tx)

    # Rules

    def _check_refs(self, tx, rule):
        if rule.badge != ALL and tx.get(models.Badge, rule.badge) is None:
            raise NotFound("no badge %s" % rule.badge)
        if rule.device != ALL:
            self._device(tx, rule.device)

    def add_rule(self, new):
        with self.tx.begin() as tx:
            self._check_refs(tx, new)
            r = models.Rule(**_rule_row(new))
            tx.add(r)
            _bump(tx)
        return _rule_out(r)

    def rules(self):
        with self.tx() as tx:
            return [_rule_out(r) for r in tx.scalars(select(models.Rule).order_by(models.Rule.id))]

    def _rule(self, tx, rule_id):
        r = tx.get(models.Rule, rule_id)
        if r is None:
            raise NotFound("no rule %d" % rule_id)
        return r

    def rule(self, rule_id):
        with self.tx() as tx:
            return _rule_out(self._rule(tx, rule_id))

    def update_rule(self, rule_id, change):
        """Change the fields given in `change` (a RuleUpdate); the rule that results is checked whole."""
        with self.tx.begin() as tx:
            r = self._rule(tx, rule_id)
            merged = _rule_out(r).model_dump(exclude={"id"}) | change.model_dump(exclude_unset=True)
            try:
                rule = RuleIn(**merged)
            except ValidationError as e:
                raise Invalid("; ".join(err["msg"] for err in e.errors())) from None
            self._check_refs(tx, rule)
            for field, value in _rule_row(rule).items():
                setattr(r, field, value)
            _bump(tx)
        return _rule_out(r)

    def remove_rule(self, rule_id):
        with self.tx.begin() as tx:
            tx.delete(self._rule(tx, rule_id))
            _bump(tx)

    # Commands

    def send_command(self, new):
        with self.tx.begin() as tx:
            d = self._device(tx, new.device)
            self._check_outlets(d, new.outlets)
            if new.until is not None and new.until <= self.now():
                raise Invalid("until is in the past")
            c = models.Command(device=new.device, op=new.op, outlets=new.outlets, priority_class=new.priority_class,
                               until=new.until, created=self.now())
            tx.add(c)
        return _command_out(c)

    def commands(self, device=None, pending=None):
        q = select(models.Command).order_by(models.Command.id)
        if device is not None:
            q = q.where(models.Command.device == device)
        if pending is not None:
            q = q.where(models.Command.acked.is_(None) if pending else models.Command.acked.is_not(None))
        with self.tx() as tx:
            return [_command_out(c) for c in tx.scalars(q)]

    def pending_commands(self, device):
        """The oldest commands not yet acknowledged by `device`, leaving out sheddings already over."""
        now = self.now()
        q = (select(models.Command)
             .where(models.Command.device == device, models.Command.acked.is_(None))
             .where((models.Command.until.is_(None)) | (models.Command.until > now))
             .order_by(models.Command.id).limit(PENDING_MAX))
        with self.tx() as tx:
            return [PendingCommand(id=c.id, op=c.op, outlets=c.outlets, priority_class=c.priority_class,
                                   until=c.until) for c in tx.scalars(q)]

    def ack(self, device, command_id, ok, result):
        """Record a board's answer to a command; a repeated acknowledgement keeps the first."""
        with self.tx.begin() as tx:
            c = tx.get(models.Command, command_id)
            if c is None or c.device != device:
                raise NotFound("no command %d for this device" % command_id)
            if c.acked is None:
                c.acked, c.ok, c.result = self.now(), ok, result

    # What boards say

    def remember_nonce(self, device, nonce, wait=True):
        """False when `device` already used `nonce` in the last 10 minutes (a replay), in any worker. `wait` as in
        device_secret."""
        now = self.now()
        if now - self._purged >= 60:
            self.ledger.purge(now - NONCE_KEEP_S, wait)
            self._purged = now
        self.ledger.tend(now)
        return self.ledger.new_nonce(device, nonce, now, wait)

    def authorize(self, device, badge):
        """The answer to a tap, from the tables as the last device_secret() read them (that of the request)."""
        tables = self._tables if self._tables is not None else self._tables_now()
        known = tables.devices.get(device)
        if known is None:
            raise NotFound("no device %r" % device)
        owner, enabled = tables.badges.get(badge, (None, True))
        if not enabled:
            return rules.Decision(False, [], None, "disabled"), owner
        candidates = tables.rules.get(badge, []) + tables.rules.get(None, [])
        when = datetime.fromtimestamp(self.now(), self.tz)
        decision = rules.decide(candidates, badge, owner is not None, device, known[1], when)
        return decision, owner

    def record_session(self, device, s):
        """Store a finished session once; True when the same one was already stored (a repeat)."""
        row = dict(badge=s.badge, outlet=s.outlet, start=s.start, end=s.end, energy_wh=s.energy_wh,
                   measured=s.measured)
        with self.tx() as tx:
            self._check_outlets(self._device(tx, device), [s.outlet])
        for _ in range(2):
            with self.tx() as tx:
                old = tx.scalars(select(models.Session).where(models.Session.device == device,
                                                              models.Session.key == s.id)).first()
                if old is not None:
                    if {k: getattr(old, k) for k in row} != row:
                        raise Conflict("session id %s was already used for another session" % s.id)
                    return True
            try:
                with self.tx.begin() as tx:
                    tx.add(models.Session(device=device, key=s.id, duration_s=s.end - s.start, **row))
                return False
            except IntegrityError:
                continue    # stored in the meantime by a request that raced this one: compare with it
        raise Conflict("session id %s: concurrent writes" % s.id)

    def heartbeat(self, device, beat, sent=None):
        """Keep what the board says of itself, how far its clock is from the server's (`sent`: its X-Time), and its
        power and energy (readings, and the day's energy)."""
        now = self.now()
        with self.tx.begin() as tx:
            # the UPDATE first: it holds the device's row (SQLite: the database) until the commit, so that of two
            # heartbeats of a device at once the second counts its counters' increase from the first's
            if not tx.execute(update(models.Device).where(models.Device.id == device).values(last_seen=now)).rowcount:
                raise NotFound("no device %r" % device)
            d = tx.get(models.Device, device)
            before = d.state or {}
            d.state = beat.model_dump(exclude_unset=True)
            d.skew = None if sent is None else sent - now
            self._meter(tx, device, now, beat, before)
            if now - self._pruned >= PRUNE_EVERY_S:
                tx.execute(delete(models.Reading).where(models.Reading.time < now - READINGS_KEEP_S))
                self._pruned = now
        return now

    @staticmethod
    def _meter(tx, device, now, beat, before):
        """Keep the heartbeat `beat`'s power and energy counters as readings, and add each counter's increase since
        the heartbeat before (its state `before`) to the energy of the UTC day. A counter lower than before was
        started again by the board: its whole value is the increase. The first counter known counts nothing."""
        earlier = [None] + [o.get("energy_wh") for o in before.get("outlets", [])]
        meters = [(0, beat.power_w, beat.energy_wh, before.get("energy_wh"))] + [
            (n, o.power_w, o.energy_wh, earlier[n] if n < len(earlier) else None)
            for n, o in enumerate(beat.outlets, 1)]
        increases = {}
        for outlet, power, energy, last in meters:
            if power is not None or energy is not None:
                tx.add(models.Reading(device=device, outlet=outlet, time=now, power_w=power, energy_wh=energy,
                                      measured=beat.measured))
            if energy is not None and last is not None:
                increases[outlet] = energy - last if energy >= last else energy
            elif energy is not None:
                increases[outlet] = 0.0
        if not increases:
            return
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        E = models.EnergyDay
        days = {e.outlet: e for e in tx.scalars(select(E).where(E.device == device, E.day == day))}
        for outlet, wh in increases.items():
            e = days.get(outlet)
            if e is None:
                e = E(device=device, day=day, outlet=outlet, measured_wh=0.0, estimated_wh=0.0, sources=0)
                tx.add(e)
            if beat.measured:
                e.measured_wh += wh
            else:
                e.estimated_wh += wh
            e.sources |= MEASURED if beat.measured else ESTIMATED

    def series(self, device, outlet=None, since=None, until=None, limit=1000):
        """The power and energy counter of a device's strip (`outlet` None) or of one outlet at its heartbeats
        from `since` to before `until` (unix): the latest `limit` points, oldest first."""
        R = models.Reading
        q = select(R).where(R.device == device, R.outlet == (outlet or 0))
        if since is not None:
            q = q.where(R.time >= since)
        if until is not None:
            q = q.where(R.time < until)
        with self.tx() as tx:
            self._device(tx, device)
            rows = tx.scalars(q.order_by(R.time.desc(), R.id.desc()).limit(limit)).all()
        return [ReadingOut(time=r.time, outlet=r.outlet or None, power_w=r.power_w, energy_wh=r.energy_wh,
                           measured=r.measured) for r in reversed(rows)]

    def energy_days(self, device, since=None, until=None):
        """The energy of a device's strip and of each outlet per UTC day, from day `since` to `until` (dates, both
        included). A removed device's days are kept: NotFound only for an id that has neither."""
        E = models.EnergyDay
        q = select(E).where(E.device == device)
        if since is not None:
            q = q.where(E.day >= since.isoformat())
        if until is not None:
            q = q.where(E.day <= until.isoformat())
        with self.tx() as tx:
            rows = tx.scalars(q.order_by(E.day, E.outlet)).all()
            if not rows and tx.get(models.Device, device) is None and tx.scalar(
                    select(E.day).where(E.device == device).limit(1)) is None:
                raise NotFound("no device %r" % device)
        return [EnergyDayOut(day=e.day, outlet=e.outlet or None, energy_wh=e.measured_wh + e.estimated_wh,
                             energy_wh_measured=e.measured_wh, energy_wh_estimated=e.estimated_wh,
                             source=SOURCES[e.sources]) for e in rows]

    # Sessions and statistics

    @staticmethod
    def _filtered(q, device=None, badge=None, outlet=None, since=None, until=None):
        S = models.Session
        for column, value in ((S.device, device), (S.badge, badge), (S.outlet, outlet)):
            if value is not None:
                q = q.where(column == value)
        if since is not None:
            q = q.where(S.start >= since)
        if until is not None:
            q = q.where(S.start < until)
        return q

    def sessions(self, limit=100, **filters):
        S = models.Session
        q = select(S, models.Badge.owner).outerjoin(models.Badge, models.Badge.hash == S.badge)
        q = self._filtered(q, **filters).order_by(S.start.desc(), S.id.desc()).limit(limit)
        with self.tx() as tx:
            return [SessionRecord(key=s.key, device=s.device, badge=s.badge, owner=owner, outlet=s.outlet,
                                  start=s.start, end=s.end, duration_s=s.duration_s, energy_wh=s.energy_wh,
                                  measured=s.measured)
                    for s, owner in tx.execute(q)]

    def stats(self, by, **filters):
        """Count, total seconds and total energy of the sessions (and its part measured by the metering chip), per
        badge, per outlet, per device or per day."""
        S = models.Session
        if by == "day":
            return self._daily(**filters)
        keys = {"badge": [S.badge], "outlet": [S.device, S.outlet], "device": [S.device]}[by]
        q = select(*keys, func.count(S.id), func.coalesce(func.sum(S.duration_s), 0),
                   *(func.coalesce(func.sum(energy), 0.0) for energy in (
                       S.energy_wh, case((S.measured, S.energy_wh), else_=0.0),
                       case((S.measured, 0.0), else_=S.energy_wh))))
        q = self._filtered(q, **filters).group_by(*keys).order_by(*keys)
        with self.tx() as tx:
            owners = dict(tx.execute(select(models.Badge.hash, models.Badge.owner)).all()) if by == "badge" else {}
            rows = tx.execute(q).all()
        out = []
        for row in rows:
            key = dict(zip([c.key for c in keys], row[:len(keys)], strict=True))
            count, seconds, energy, measured, estimated = row[len(keys):]
            out.append(StatRow(device=key.get("device"), outlet=key.get("outlet"), badge=key.get("badge"),
                               owner=owners.get(key.get("badge")), day=None, count=count, seconds=int(seconds),
                               energy_wh=float(energy), energy_wh_measured=float(measured),
                               energy_wh_estimated=float(estimated)))
        return out

    def _daily(self, **filters):
        """Per day of the sessions' start, in the server's time zone (the rules' one)."""
        S = models.Session
        days = {}
        with self.tx() as tx:
            for start, seconds, energy, measured in tx.execute(self._filtered(
                    select(S.start, S.duration_s, S.energy_wh, S.measured), **filters)):
                day = datetime.fromtimestamp(start, self.tz).date().isoformat()
                count, total_s, total_wh, measured_wh, estimated_wh = days.get(day, (0, 0, 0.0, 0.0, 0.0))
                days[day] = (count + 1, total_s + seconds, total_wh + energy, measured_wh + (energy if measured else 0),
                             estimated_wh + (0 if measured else energy))
        return [StatRow(device=None, outlet=None, badge=None, owner=None, day=day, count=count, seconds=total_s,
                        energy_wh=total_wh, energy_wh_measured=measured_wh, energy_wh_estimated=estimated_wh)
                for day, (count, total_s, total_wh, measured_wh, estimated_wh) in sorted(days.items())]
