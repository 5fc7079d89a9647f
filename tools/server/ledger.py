"""The two questions every signed device request asks the database, on connections of their own in autocommit: has
a device, badge or rule changed (one SELECT of the version counter), and is this nonce new (one INSERT: the table is
shared by every worker, so a request replayed to another worker is refused too).

On SQLite they are asked on the event loop itself without waiting (they take microseconds); when another writer holds
the database they raise Busy, and the caller asks again off the loop, where a statement may wait. On PostgreSQL they
are always asked off the loop."""
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import make_url

from tools.server.models import SQLITE_WAIT_S, sqlite_file

CHECKPOINT_S = 1        # SQLite: the WAL is folded into the database this often, off the loop


class Busy(Exception):
    """Another writer holds the SQLite database: ask again off the event loop."""


class _Lane:
    """A DBAPI connection in autocommit, one user at a time; `connect()` opens it, and opens it again when it was
    lost (`lost`: the exceptions that say so, such as a database server restarted)."""

    def __init__(self, connect, mark, lost=()):
        self.connect, self.lost, self.lock = connect, lost, threading.Lock()
        self.connection = connect()
        self.sql = {name: text.replace("?", mark) for name, text in SQL.items()}

    def _execute(self, name, params):
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql[name], params)
            return cursor.fetchone() if cursor.description else None
        finally:
            cursor.close()

    def run(self, name, *params):
        with self.lock:
            try:
                return self._execute(name, params)
            except self.lost:
                if not getattr(self.connection, "closed", False):
                    raise
                self.connection = self.connect()
                return self._execute(name, params)


SQL = {"version": "SELECT n FROM versions WHERE id = 1",
       "nonce": "INSERT INTO nonces (device, nonce, seen) VALUES (?, ?, ?)",
       "purge": "DELETE FROM nonces WHERE seen < ?",
       "checkpoint": "PRAGMA wal_checkpoint(PASSIVE)"}


class Ledger:
    def __init__(self, url):
        """`url`: the SQLAlchemy URL of the database (its tables already created)."""
        self.off_loop = ThreadPoolExecutor(1, thread_name_prefix="ledger")
        path = sqlite_file(url)
        if path is None and make_url(url).get_backend_name() == "sqlite":
            raise ValueError("an in-memory SQLite database cannot serve devices: give a file")
        if path is not None:
            self.inline = True
            self.duplicate, self.locked = sqlite3.IntegrityError, sqlite3.OperationalError

            def connect(timeout, checkpoints):
                connection = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA synchronous=NORMAL")     # in WAL: no fsync at each commit
                if not checkpoints:
                    connection.execute("PRAGMA wal_autocheckpoint=0")     # checkpoints (an fsync) run off the loop
                return connection

            self.now_lane = _Lane(lambda: connect(0, False), "?")
            self.wait_lane = _Lane(lambda: connect(SQLITE_WAIT_S, True), "?")
        else:
            import psycopg

            self.inline = False
            self.duplicate, self.locked = psycopg.IntegrityError, ()
            conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self.now_lane = None
            self.wait_lane = _Lane(lambda: psycopg.connect(conninfo, autocommit=True), "%s", psycopg.OperationalError)
        self._checkpointed = 0

    def _lane(self, wait):
        if wait or self.now_lane is None:
            return self.wait_lane
        return self.now_lane

    def _run(self, wait, name, *params):
        try:
            return self._lane(wait).run(name, *params)
        except self.locked as e:
            if wait or "locked" not in str(e):
                raise
            raise Busy() from None

    def version(self, wait=True):
        """The count of changes to devices, badges and rules."""
        return self._run(wait, "version")[0]

    def new_nonce(self, device, nonce, seen, wait=True):
        """Record `nonce` for `device`; False when it was already there (a replay)."""
        try:
            self._run(wait, "nonce", device, nonce, seen)
        except self.duplicate:
            return False
        return True

    def purge(self, before, wait=True):
        """Forget the nonces seen before `before`."""
        self._run(wait, "purge", before)

    def tend(self, now):
        """SQLite: start a checkpoint off the loop when the last one is CHECKPOINT_S old."""
        if self.inline and now - self._checkpointed >= CHECKPOINT_S:
            self._checkpointed = now
            self.off_loop.submit(self.wait_lane.run, "checkpoint")

    def close(self):
        self.off_loop.shutdown()
        for lane in (self.now_lane, self.wait_lane):
            if lane is not None:
                lane.connection.close()
