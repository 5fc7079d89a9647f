"""What MQTT over TLS would cost an ESP8266 running this firmware: the heap and the time of axTLS's handshake with a
real Mosquitto's TLS listener, measured on a 32-bit MicroPython whose `ssl` is axTLS built as the ESP8266 port builds
it, at the chip's heap (docs/mqtt.md, "TLS", says how to build it). Not part of `make test`: CI has no such build.

    MICROPYTHON=/path/to/that/micropython python -m tools.tlscost [--keys 1024,2048,4096] [--rounds 10] [--json F]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.broker import Broker
from tools.vboard import heapmodel

MHZ = 80  # the ESP8266's clock as MicroPython starts it (machine.freq())
# The reference board's least free heap with every feature running and MQTT connected over TCP (docs/mqtt.md, "Heap":
# 32-bit at 38,912). TLS's figures are what it takes beyond that TCP socket.
FIRMWARE_LEAST_FREE = 14256
BUDGET = 6144  # docs/heap.md: what the reference board keeps free at least

# Runs on the axTLS build: one JSON line per measurement. argv: port, user, password, rounds, the broker's
# certificate, and "once" for a single blocking handshake (the instruction count) or "all"
CLIENT = r"""
import gc, json, socket, ssl, sys, time, tlsheap
port, user, password, rounds, cert = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]

def short(s):
    return bytes((len(s) >> 8, len(s) & 255)) + s.encode()

body = b"\0\4MQTT\4\xc2\0\x3c" + short("tlscost") + short(user) + short(password)
CONNECT = bytes((0x10, len(body))) + body

def free():
    gc.collect()
    return gc.mem_free()

def exactly(s, n, end):
    b = b""
    while len(b) < n:
        r = s.read(n - len(b))
        if r == b"":
            raise OSError("the broker closed the connection")
        if r:
            b += r
        elif time.ticks_diff(end, time.ticks_ms()) < 0:
            raise OSError("no answer from the broker")
    return b

def session(s):
    # MQTT over the TLS socket: CONNECT with the password, its CONNACK, a ping and its answer
    s.write(CONNECT)
    end = time.ticks_add(time.ticks_ms(), 10000)
    ack = exactly(s, 4, end)
    if ack != b" \2\0\0":
        raise OSError("CONNACK %r" % ack)
    s.write(b"\xc0\0")
    if exactly(s, 2, end) != b"\xd0\0":
        raise OSError("no ping answer")

def blocking(hostname=None):
    # what ssl.wrap_socket does on the board: the whole handshake in one call
    base = free()
    s = socket.socket()
    s.connect(addr)
    plain = free()
    tlsheap.reset()
    t = time.ticks_us()
    s = ssl.wrap_socket(s, server_hostname=hostname)
    took = time.ticks_diff(time.ticks_us(), t)
    least, block, held, peak, largest, allocs = tlsheap.stats()
    session(s)
    steady = free()
    s.close()
    return {"socket": base - plain, "handshake_peak": plain - least, "block_at_peak": block,
            "connected": plain - steady, "axtls_peak": peak,
            "axtls_largest": largest, "axtls_allocs": allocs, "handshake_us": took, "kept_after_close": base - free()}

def in_parts():
    # do_handshake=False on a non-blocking socket: the handshake goes on inside each read that finds the broker's
    # records; no call says when it is done, so reads go on for a second before MQTT's CONNECT is sent
    s = socket.socket()
    s.connect(addr)
    s.setblocking(False)
    t = time.ticks_us()
    s = ssl.wrap_socket(s, do_handshake=False)
    steps = [time.ticks_diff(time.ticks_us(), t)]
    end = time.ticks_add(time.ticks_ms(), 1000)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        t = time.ticks_us()
        r = s.read(4)
        steps.append(time.ticks_diff(time.ticks_us(), t))
        if r is not None:
            raise OSError("data before CONNECT: %r" % r)
        time.sleep_ms(1)
    session(s)
    s.close()
    steps.sort()
    return {"longest_step_us": steps[-1], "next_step_us": steps[-2], "calls": len(steps)}

def early_write():
    # MQTT's client speaks first: CONNECT written before the handshake is over
    s = socket.socket()
    s.connect(addr)
    s.setblocking(False)
    s = ssl.wrap_socket(s, do_handshake=False)
    try:
        s.write(CONNECT)
        end = time.ticks_add(time.ticks_ms(), 5000)
        r = None
        while time.ticks_diff(end, time.ticks_ms()) > 0 and r is None:
            r = s.read(4)
            time.sleep_ms(1)
        return "the broker closed the connection" if r == b"" else "read %r" % r
    except OSError as e:
        return repr(e)
    finally:
        s.close()

def checking():
    # what the board's ssl offers to check the broker's certificate
    out = {"CERT_REQUIRED": hasattr(ssl, "CERT_REQUIRED")}
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.verify_mode = 2
    out["verify_mode_after_setting_2"] = c.verify_mode
    with open(cert, "rb") as f:
        data = f.read()
    try:
        c.load_verify_locations(cadata=data)
        out["cadata"] = "taken"
    except Exception as e:
        out["cadata"] = repr(e)
    try:
        blocking(hostname="not-the-broker.example")
        out["wrong_name_untrusted_certificate"] = "handshake done"
    except OSError as e:
        out["wrong_name_untrusted_certificate"] = repr(e)
    return out

if sys.argv[6] == "once":
    blocking()
else:
    print(json.dumps({"checking": checking()}))
    print(json.dumps({"early_write": early_write()}))
    for _ in range(rounds):
        print(json.dumps({"blocking": blocking()}))
    print(json.dumps({"in_parts": in_parts()}))
"""


def certificate(folder, bits):
    """A self-signed RSA certificate for 127.0.0.1 and its key (PEM)."""
    key, cert = folder / ("key%d.pem" % bits), folder / ("cert%d.pem" % bits)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:%d" % bits, "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    return key, cert


def tls_broker(key, cert, bits):
    """Mosquitto with its password file (tools/broker.py), its one listener speaking TLS, and what it had to allow
    beyond its defaults. axTLS's ciphers (RSA key exchange, AES-CBC, TLS 1.2) are in them; OpenSSL's default security
    level refuses a 1024-bit key, so that broker is allowed level 1."""
    b = Broker()
    allowed = ["ciphers DEFAULT:@SECLEVEL=1"] if bits < 2048 else []
    with open(b.folder / "mosquitto.conf", "a") as f:
        f.write("".join(line + "\n" for line in ["certfile %s" % cert, "keyfile %s" % key] + allowed))
    return b.start(), allowed


def chosen_cipher(broker):
    """The cipher Mosquitto picks from what axTLS offers (its ESP8266 configuration, CONFIG_SSL_PROT_LOW: lib/axtls
    ssl/tls1.c), asked with OpenSSL's client offering the same list in the same order."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % broker.port, "-tls1_2", "-cipher",
                        "AES128-SHA:AES128-SHA256:AES256-SHA:AES256-SHA256"], input="", capture_output=True,
                       text=True, timeout=30)
    m = re.search(r"Cipher is (\S+)", r.stdout)
    return m.group(1) if m else "none: " + r.stderr.strip()[-200:]


def run_client(micropython, script, broker, rounds, cert, mode="all", wrapper=()):
    r = subprocess.run([*wrapper, micropython, "-X", "heapsize=%d" % heapmodel.CHIP_HEAP, str(script), str(broker.port),
                        "board", broker.users["board"], str(rounds), str(cert), mode],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise RuntimeError("the client failed:\n" + r.stdout + r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")], r.stderr


def instructions(micropython, script, broker, cert, folder):
    """The x86 instructions the client runs in ssl_client_new (the whole handshake of a blocking wrap_socket), and in
    its two longest parts, each done inside one call when the handshake goes in parts: the certificate's parsing
    (x509_new) and the key exchange (send_client_key_xchg: the RSA encryption). Counted by valgrind's callgrind;
    None without valgrind or without the build's symbols."""
    if not shutil.which("valgrind"):
        return None
    out = folder / "callgrind.out"
    _, err = run_client(micropython, script, broker, 1, cert, "once",
                        ("valgrind", "--tool=callgrind", "--toggle-collect=ssl_client_new",
                         "--callgrind-out-file=%s" % out))
    m = re.search(r"Collected : (\d+)", err)
    if not m or not int(m.group(1)):
        return None
    counts = {"handshake": int(m.group(1))}
    table = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)], capture_output=True,
                           text=True).stdout
    for name in ("x509_new", "send_client_key_xchg"):
        m = re.search(r"^\s*([\d,]+) .*:%s " % name, table, re.M)
        counts[name] = int(m.group(1).replace(",", "")) if m else None
    return counts


def check_interpreter(micropython):
    r = subprocess.run([micropython, "-c", "import sys, tls, tlsheap; print(sys.maxsize)"], capture_output=True,
                       text=True)
    if r.returncode or int(r.stdout) >= 2 ** 32:
        sys.exit("%s is not a 32-bit MicroPython with axTLS and the tlsheap module: build one as docs/mqtt.md "
                 "(\"TLS\") says and give it as MICROPYTHON=" % micropython)


def measure(micropython, bits, rounds, folder):
    key, cert = certificate(folder, bits)
    script = folder / "client.py"
    script.write_text(CLIENT)
    broker, allowed = tls_broker(key, cert, bits)
    try:
        lines, _ = run_client(micropython, script, broker, rounds, cert)
        cipher = chosen_cipher(broker)
        count = instructions(micropython, script, broker, cert, folder)
    finally:
        broker.close()
    found = {"key_bits": bits, "mosquitto": allowed or ["defaults"], "cipher": cipher,
             "rounds": []}
    for line in lines:
        for k, v in line.items():
            if k == "blocking":
                found["rounds"].append(v)
            else:
                found[k] = v
    rs = found.pop("rounds")
    out = {k: found[k] for k in ("key_bits", "mosquitto", "cipher", "checking", "early_write", "in_parts")}
    for k in ("socket", "handshake_peak", "connected", "axtls_peak", "axtls_largest",
              "axtls_allocs", "kept_after_close"):
        out[k] = max(r[k] for r in rs)
    out["block_at_peak"] = min(r["block_at_peak"] for r in rs)
    times = sorted(r["handshake_us"] for r in rs)
    out["handshake_ms"] = {"median": statistics.median(times) / 1000, "max": times[-1] / 1000, "rounds": len(times)}
    out["instructions"] = count
    if count:  # one instruction a cycle, as many as on x86: the least an ESP8266 could take (docs/mqtt.md, "TLS")
        out["esp8266_floor_ms"] = {k: round(v / (MHZ * 1000)) for k, v in count.items() if v}
    return out


def report(results):
    print("MQTT over TLS (axTLS as on the ESP8266), heap in bytes at %d (32-bit); each figure beyond the plain TCP "
          "socket MQTT holds already" % heapmodel.CHIP_HEAP)
    for r in results:
        peak, conn = r["handshake_peak"], r["connected"]
        print("RSA %d (Mosquitto: %s), TLS 1.2 %s" % (r["key_bits"], "; ".join(r["mosquitto"]), r["cipher"]))
        print("  handshake: %d more at its peak (axTLS held %d, its largest allocation %d in one piece), %.1f ms"
              " median on this machine" % (peak, r["axtls_peak"], r["axtls_largest"], r["handshake_ms"]["median"]))
        print("  instructions: %s; an 80 MHz ESP8266 at the very least, ms: %s" % (r["instructions"],
                                                                              r.get("esp8266_floor_ms")))
        print("  connected: %d more, %d kept after close" % (conn, r["kept_after_close"]))
        print("  the firmware's least free (%d) would be %d during the handshake and %d connected (budget %d)"
              % (FIRMWARE_LEAST_FREE, FIRMWARE_LEAST_FREE - peak, FIRMWARE_LEAST_FREE - conn, BUDGET))
        print("  handshake in parts: longest call %d us of %d" % (r["in_parts"]["longest_step_us"],
                                                                   r["in_parts"]["calls"]))
    c = results[0]
    print("certificate checking: %s; CONNECT before the handshake's end: %s" % (c["checking"], c["early_write"]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", default="1024,2048,4096", help="RSA key sizes of the broker's certificate")
    p.add_argument("--rounds", type=int, default=10, help="handshakes per key size")
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args(argv)
    micropython = os.environ.get("MICROPYTHON") or heapmodel.MICROPYTHON
    check_interpreter(micropython)
    with tempfile.TemporaryDirectory(prefix="multiprise-tls-") as tmp:
        results = [measure(micropython, int(b), a.rounds, Path(tmp)) for b in a.keys.split(",")]
    report(results)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
