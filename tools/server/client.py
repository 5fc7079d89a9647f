"""A device's side of the protocol in CPython: signs requests, checks the answers' signatures. What the tests
use, and a model for the board's client."""
import http.client
import json
import secrets
import string
import time

from tools.server.signing import answer_signature, request_signature, same

NONCE_CHARS = string.ascii_letters + string.digits


class ForgedAnswer(Exception):
    """The answer's X-Signature is missing or wrong: not from a server that knows this device's secret."""


def http_transport(host, port, timeout=10):
    """send(method, path, headers, body) -> (status, headers, body) over one HTTP/1.1 connection a request."""
    def send(method, path, headers, body):
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    return send


class DeviceClient:
    PREFIX = "/api/v1/device"

    def __init__(self, send, device_id, secret, clock=time.time):
        self.send, self.device_id, self.secret, self.clock = send, device_id, secret, clock

    def request(self, method, path, payload=None, nonce=None, stamp=None, check=True):
        """(status, decoded answer); `payload` is encoded as compact JSON unless bytes. Raises ForgedAnswer when
        `check` and the answer is not signed right."""
        path = self.PREFIX + path
        body = payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(
            payload, separators=(",", ":")).encode()
        nonce = nonce or "".join(secrets.choice(NONCE_CHARS) for _ in range(16))
        stamp = str(int(self.clock()) if stamp is None else stamp)
        headers = {"X-Device": self.device_id, "X-Time": stamp, "X-Nonce": nonce,
                   "X-Signature": request_signature(self.secret, method, path, stamp, nonce, body)}
        if body:
            headers["Content-Type"] = "application/json"
        status, answer_headers, answer = self.send(method, path, headers, body)
        if check and not same(answer_headers.get("x-signature", ""),
                              answer_signature(self.secret, nonce, status, answer)):
            raise ForgedAnswer("%s %s: %d %r" % (method, path, status, answer[:80]))
        return status, json.loads(answer)

    def authorize(self, badge):
        return self.request("POST", "/authorize", {"badge": badge})

    def session(self, key, badge, outlet, start, end, energy_wh, measured=None):
        """`measured`: None leaves the field out, as a board without a metering chip does."""
        return self.request("POST", "/sessions", {"id": key, "badge": badge, "outlet": outlet, "start": start,
                                                  "end": end, "energy_wh": energy_wh,
                                                  **({} if measured is None else {"measured": measured})})

    def commands(self):
        return self.request("GET", "/commands")

    def ack(self, command_id, ok, result=""):
        return self.request("POST", "/commands/%d/ack" % command_id, {"ok": ok, "result": result})

    def heartbeat(self, version="0.1.0", uptime=0, heap=0, outlets=(), shed=False, **metering):
        """`metering`: the optional fields of a board that measures or estimates its power (power_w, energy_wh,
        measured, volts, amps, pf)."""
        return self.request("POST", "/heartbeat", {"version": version, "uptime": uptime, "heap": heap,
                                                   "outlets": list(outlets), "shed": shed, **metering})
