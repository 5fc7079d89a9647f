"""The database: tables, and opening one by URL (SQLite by default, PostgreSQL by `postgresql+psycopg://...`)."""
import os

from sqlalchemy import (JSON, ForeignKey, Index, Integer, String, UniqueConstraint, create_engine, event, false, insert,
                        inspect, make_url, text, true)
from sqlalchemy.schema import CreateColumn
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

SQLITE_WAIT_S = 10      # how long a statement off the event loop waits for another writer (the admin CLI, a worker)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Facts about the database itself, such as a check value of the site secret its badges were hashed with."""
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class Version(Base):
    """One row counting the changes to devices, badges and rules: a server keeps those tables in memory and reads
    them again when the count moves, whichever process made the change."""
    __tablename__ = "versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int]


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))      # kept in clear: the server must compute the same HMAC
    name: Mapped[str] = mapped_column(String(32))
    power: Mapped[list] = mapped_column(JSON)            # rated power of each outlet, watts; its length: the outlets
    last_seen: Mapped[int | None]                        # last heartbeat, unix seconds
    state: Mapped[dict | None] = mapped_column(JSON)     # what the last heartbeat said
    skew: Mapped[int | None]                             # its X-Time minus the server's clock, seconds


class Badge(Base):
    __tablename__ = "badges"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(server_default=true())     # disabled: refused, its rules kept


class Rule(Base):
    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    badge: Mapped[str | None] = mapped_column(ForeignKey("badges.hash", ondelete="CASCADE"))
    device: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    outlets: Mapped[list | None] = mapped_column(JSON)
    days: Mapped[list | None] = mapped_column(JSON)
    start: Mapped[str | None] = mapped_column(String(5))
    end: Mapped[str | None] = mapped_column(String(5))
    max_seconds: Mapped[int | None]
    enabled: Mapped[bool]


class Session(Base):
    """One use of an outlet, reported by the board when it ends. Kept when its device or badge is removed."""
    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("device", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(64))         # the board's idempotency key
    badge: Mapped[str] = mapped_column(String(64), index=True)
    outlet: Mapped[int]
    start: Mapped[int] = mapped_column(index=True)
    end: Mapped[int]
    duration_s: Mapped[int]
    energy_wh: Mapped[float]
    measured: Mapped[bool] = mapped_column(server_default=false())     # by the metering chip; false: estimated


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[int] = mapped_column(primary_key=True)
    device: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    op: Mapped[str] = mapped_column(String(8))
    outlets: Mapped[list | None] = mapped_column(JSON)
    priority_class: Mapped[int | None] = mapped_column("class", Integer)
    until: Mapped[int | None]
    created: Mapped[int]
    acked: Mapped[int | None]
    ok: Mapped[bool | None]
    result: Mapped[str | None] = mapped_column(String(200))


class Reading(Base):
    """A heartbeat's power and energy counter, for the whole strip (outlet 0) or one outlet; kept
    store.READINGS_KEEP_S, then deleted."""
    __tablename__ = "readings"
    __table_args__ = (Index("readings_series", "device", "outlet", "time"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device: Mapped[str] = mapped_column(String(32))
    outlet: Mapped[int]
    time: Mapped[int] = mapped_column(index=True)        # when the server had the heartbeat, unix seconds
    power_w: Mapped[float | None]
    energy_wh: Mapped[float | None]                      # the board's counter
    measured: Mapped[bool]


class EnergyDay(Base):
    """The energy a device's strip (outlet 0) or one of its outlets took in a UTC day: the sum of its counter's
    increases between heartbeats. Kept for good, and when the device is removed (as its sessions)."""
    __tablename__ = "energy_days"
    device: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)      # YYYY-MM-DD, UTC
    outlet: Mapped[int] = mapped_column(primary_key=True)
    measured_wh: Mapped[float]
    estimated_wh: Mapped[float]
    sources: Mapped[int]        # the heartbeats counted: 1 some measured, 2 some estimated, 3 both


class Nonce(Base):
    """Nonces seen in device requests, kept 10 minutes against replay."""
    __tablename__ = "nonces"
    device: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen: Mapped[int] = mapped_column(index=True)


def database_url(db):
    """A database URL, or a plain file path meaning SQLite."""
    return db if "://" in db else "sqlite:///" + db


def sqlite_file(url):
    """The file of a SQLite URL; None for another database or an in-memory one."""
    url = make_url(url)
    return url.database if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") else None


def private_file(path):
    """Create `path` readable by its owner only (0600), or make it so: SQLite gives its WAL and shared-memory files
    the database file's mode, and the database holds the device secrets."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def _add_new_columns(engine):
    """Give a database made by an earlier version the columns added since (each has a default or may be NULL)."""
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                try:
                    with engine.begin() as conn:
                        conn.execute(text("ALTER TABLE %s ADD COLUMN %s" % (
                            table.name, CreateColumn(column).compile(dialect=engine.dialect))))
                except DBAPIError:
                    if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                        raise
                    # another process added it at the same time


def open_db(db):
    """Open (and create the tables of) the database `db`; return a session factory."""
    url = database_url(db)
    path = sqlite_file(url)
    if path is not None:
        private_file(path)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_WAIT_S})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")   # in WAL: durable across a crash of the server, not of the OS
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    _add_new_columns(engine)
    try:
        with engine.begin() as conn:
            if conn.execute(Version.__table__.select()).first() is None:
                conn.execute(insert(Version).values(id=1, n=0))
    except IntegrityError:
        pass    # another process created it at the same time
    return sessionmaker(engine, expire_on_commit=False)
