"""A real Mosquitto broker on a free loopback port, with a password file, for the tests and `make bench`; and a
paho-mqtt client that stands where Home Assistant would, recording every message it sees."""
import getpass
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tools.server.process import free_port, wait_for_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
USERS = {"board": "board-secret-42", "home": "home-assistant-7"}  # the board's account, Home Assistant's


class Broker:
    """Mosquitto on 127.0.0.1:port, anonymous clients refused; start(), stop(), restart() (the same port)."""

    def __init__(self, users=USERS):
        if not Path(MOSQUITTO).exists():
            raise RuntimeError("Mosquitto is not installed: `make test` installs it (tools/sysdeps.sh), or "
                               "apt-get install mosquitto")
        self.folder = Path(tempfile.mkdtemp(prefix="multiprise-mqtt-"))
        self.port = free_port()
        self.users = dict(users)
        self.proc = None
        self.watchers = []  # every Watcher made by client(): closed with the broker
        passwd = self.folder / "passwd"
        for i, (user, password) in enumerate(self.users.items()):
            subprocess.run([PASSWD, "-b"] + ([] if i else ["-c"]) + [str(passwd), user, password], check=True,
                           capture_output=True)
        self.log = self.folder / "mosquitto.log"
        (self.folder / "mosquitto.conf").write_text(
            "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\n"
            "user %s\nlog_dest file %s\nlog_type error\nlog_type warning\nlog_type notice\n"
            "max_queued_messages 20000\n" % (self.port, passwd, getpass.getuser(), self.log))

    def start(self):
        end = time.monotonic() + 20
        while True:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                wait_for_port(self.port, self.proc, timeout=max(0.1, end - time.monotonic()))
                return self
            except RuntimeError:  # it ended: the port is still held a moment by the broker before (restart)
                if time.monotonic() > end:
                    raise RuntimeError("mosquitto did not start:\n" + self.log.read_text(errors="replace")) from None
                time.sleep(0.2)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        for w in self.watchers:  # a watcher left running would reconnect to the port, which another program (a
            w.close()  # bench's wire, say) may hold by then
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def board_config(self, **more):
        """The `mqtt` section of a board's config.json for this broker."""
        return {"host": "127.0.0.1", "port": self.port, "user": "board", "password": self.users["board"], **more}

    def client(self, user="home", topics=("#",)):
        """A connected Watcher (Home Assistant's stand-in)."""
        w = Watcher(self, user, topics)
        self.watchers.append(w)
        return w


class Watcher:
    """A paho-mqtt client subscribed to topics (QoS 1) that keeps every message: messages is a list of (topic,
    payload bytes, retained), in the order they came."""

    def __init__(self, broker, user="home", topics=("#",)):
        import paho.mqtt.client as mqtt

        self.messages = []
        self.cond = threading.Condition()
        self.ready = threading.Event()
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher-%s-%d" % (user, id(self)),
                                 protocol=mqtt.MQTTv311)
        c.username_pw_set(user, broker.users[user])
        c.on_message = self._message
        c.on_connect = lambda client, userdata, flags, rc, props: (
            [client.subscribe(t, qos=1) for t in topics], self.ready.set())
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(1000)
        c.connect("127.0.0.1", broker.port, keepalive=30)
        c.loop_start()
        if not self.ready.wait(20):
            raise TimeoutError("the watcher could not connect to the broker")
        time.sleep(0.2)  # its subscriptions acknowledged: retained messages come in first

    def _message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait(self, topic, payload=None, timeout=20.0, since=0, retained=None):
        """The first message on topic (and with that payload, bytes or str, and retain flag) after message number
        since; TimeoutError with what came when none does."""
        if isinstance(payload, str):
            payload = payload.encode()
        end = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.messages):
                    t, p, r = self.messages[i]
                    i += 1
                    if t == topic and (payload is None or p == payload) and (retained is None or r == retained):
                        return p
                left = end - time.monotonic()
                if left <= 0:
                    seen = [m for m in self.messages[since:] if m[0] == topic][-5:]
                    raise TimeoutError("no %r on %s in %.0f s; the last there: %r" % (payload, topic, timeout, seen))
                self.cond.wait(left)

    def last(self, topic):
        """The payload of the last message on topic, or None."""
        with self.cond:
            for t, p, _ in reversed(self.messages):
                if t == topic:
                    return p
        return None

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        return info

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
