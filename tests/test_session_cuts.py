"""Power cuts around session reports, end to end: the real firmware on the reference board, the real server process
(demo site) behind a relay that sees each report go by. Finished sessions wait in done.log, interrupted ones in
open.json; the power is cut at random instants, most of them just as a report is on its way (before the server has
it, once it has stored it but before the board knows, while the board rewrites done.log), the others anywhere in the
boot. In the end the server has every session exactly once. make soak's storm (tools/soak.py, 1000 cuts), short."""
import os
import random
import socket
import threading
import time

from tools import soak
from tools.server.relay import Relay

CUTS = 30


def test_random_power_cuts_around_session_reports_lose_and_duplicate_nothing(vboard, tmp_path):
    seed = int(os.environ.get("CUT_SEED", random.randrange(1 << 30)))
    fig = soak.session_report_cuts(vboard, CUTS, seed, tmp_path)  # raises on a loss or a duplicate, with the seed
    assert fig["cuts"] == CUTS and fig["sessions_expected"] >= CUTS // 2, (seed, fig)  # a boot in two, at least
    assert fig["sessions_lost"] == 0 and fig["sessions_unknown"] == 0 and fig["dropped"] == 0, (seed, "lost", fig)
    assert fig["sessions_duplicated"] == 0, (seed, "duplicates", fig)
    assert fig["sessions_stored"] == fig["sessions_expected"], (seed, fig)


def test_the_relay_sees_a_report_sent_in_pieces():
    """The board sends a request in pieces ("POST", " ", the path...): under load they reach the relay one by one."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        c, _ = server.accept()
        while c.recv(4096):
            pass

    threading.Thread(target=serve, daemon=True).start()
    relay = Relay(server.getsockname()[1])
    try:
        with socket.create_connection(("127.0.0.1", relay.port)) as c:
            for piece in (b"POST", b" ", b"/api/v1/device/sessions", b" HTTP/1.1\r\n"):
                c.sendall(piece)
                time.sleep(0.05)
            assert relay.report.wait(2)
    finally:
        relay.close()
        server.close()
