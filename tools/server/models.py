"""The database: tables, and opening one by URL (SQLite by default, PostgreSQL by `postgresql+psycopg://...`)."""
from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Facts about the database itself, such as a check value of the site secret its badges were hashed with."""
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))      # kept in clear: the server must compute the same HMAC
    name: Mapped[str] = mapped_column(String(32))
    power: Mapped[list] = mapped_column(JSON)            # rated power of each outlet, watts; its length: the outlets
    last_seen: Mapped[int | None]                        # last heartbeat, unix seconds
    state: Mapped[dict | None] = mapped_column(JSON)     # what the last heartbeat said


class Badge(Base):
    __tablename__ = "badges"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(32))


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


class Nonce(Base):
    """Nonces seen in device requests, kept 10 minutes against replay."""
    __tablename__ = "nonces"
    device: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen: Mapped[int] = mapped_column(index=True)


def database_url(db):
    """A database URL, or a plain file path meaning SQLite."""
    return db if "://" in db else "sqlite:///" + db


def open_db(db):
    """Open (and create the tables of) the database `db`; return a session factory."""
    url = database_url(db)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_mode=WAL")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)
