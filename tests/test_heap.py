"""The heap is the budget, stated for the chip: the firmware with every feature configured and running (MQTT
connected too) keeps at least 6 KB free on an ESP8266 (38,912 bytes of heap). If the firmware grows past it, these
fail."""
import json
import re

import pytest

from tools.benchmarks import METER_LOADS, every_feature_config, every_feature_run, every_feature_with_page
from tools.vboard.bench import BOOT_ONLY, firmware_names

# Free heap the running app must leave, in bytes: the least the app saw itself (status, "min"), between its tasks'
# steps, after a collection. Stated for the chip (the reference board on a 32-bit build at 38,912 bytes); the CI
# board's cap (tools/vboard/heapmodel.py, CAP_64) is calibrated so that this same figure is the chip's there too
# (make bench with a 32-bit MICROPYTHON prints how far apart they are: docs/heap.md).
MIN_STEADY_FREE = 6144


@pytest.mark.parametrize("where", ["romfs", "lib"])
def test_the_firmware_with_every_feature_keeps_its_budget_and_every_command_runs(vboard, site, broker, where):
    """Both ways the firmware can be on a board: one image in the ROMFS partition, at an ESP8266's heap (the
    reference board), or .mpy files in /lib, whose bytecode takes heap: at LIB_HEAP. Every feature runs: the reader
    and a badge session, rounds with the server, schedules in a time zone with DST, NTP, the RTC, and every console
    command; on the reference board MQTT too, connected, with Home Assistant's discovery and telemetry (in /lib its
    bytecode alone takes 10 KB of a 64-bit heap: a board that runs MQTT from /lib needs more than LIB_HEAP)."""
    b = vboard(None, romfs="320k" if where == "romfs" else None, start=False)
    mqtt = broker.board_config() if where == "romfs" else None
    (b.board_dir / "config.json").write_text(json.dumps(every_feature_config(site, b.ap, mqtt)))
    b.start()
    least, out = every_feature_run(b)
    print("%s: least free heap seen by the app %d bytes (floor %d)" % (where, least, MIN_STEADY_FREE))
    assert least >= MIN_STEADY_FREE, "least free heap %d bytes, under the floor of %d:\n%s" % (
        least, MIN_STEADY_FREE, out)
    assert "MemoryError" not in b.serial.text()
    now, least_said = map(int, re.search(r"heap (\d+) free \(min (\d+)\)", out).groups())
    assert least_said <= now  # the least ever seen is never above the figure beside it


@pytest.mark.parametrize("chip", [None, "ade7953"])
def test_every_feature_with_the_page_open_and_mqtt_connected_keeps_the_budget(vboard, site, broker, chip):
    """The reference board with everything a user can turn on: every_feature_config with MQTT connected (discovery,
    telemetry) and the web server, its password set at the console and the page open in a browser (its WebSocket
    bringing the state at each change and every second, as the page has it) while a badge session runs, rounds go to
    the server and every console command runs; and the same with the metering chip measuring six loads and guarding
    `max_watts` (the 64-bit board's cap: heapmodel.METER_64)."""
    b = vboard(None, romfs="320k", start=False, meter=chip)
    c = every_feature_config(site, b.ap, broker.board_config(), True)
    if chip:
        c["meter"] = {"max_watts": 3500}
        for i, (w, pf, noise) in enumerate(METER_LOADS):
            b.mains.set_load(i, w, pf, noise=noise)
    (b.board_dir / "config.json").write_text(json.dumps(c))
    b.start()
    least, out, page = every_feature_with_page(b)
    print("page: %d states, %d pushed (%d refused or dropped); least free heap seen by the app %d bytes (floor %d)" % (
        len(page.seen), page.pushed, len(page.refused), least, MIN_STEADY_FREE))
    assert least >= MIN_STEADY_FREE, "least free heap %d bytes, under the floor of %d:\n%s" % (
        least, MIN_STEADY_FREE, out)
    assert "MemoryError" not in b.serial.text()
    # The page stays live and saw the last "off all"; at most one in ten of its tries is refused or dropped (a 503,
    # its socket dropped: the page polls, and opens it again). Its socket was never refused nor dropped in 6 runs on
    # each board (24 to 28 states pushed); when it polled, on the 64-bit board, up to a few of about 31 polls were
    # refused.
    answered, refused = len(page.seen), len(page.refused)
    assert refused <= answered // 10 and answered >= 10 and page.seen[-1]["outlets"][0]["on"] is False, (
        "%d states, %d refused or dropped" % (answered, refused))
    # Every module's place the board interned (the path it was loaded from, its dotted name) is among the names the
    # heap model counts (docs/heap.md, "Names"): with all of the firmware's features loaded, not one is missed.
    dump = b.exec("import micropython; micropython.qstr_info(1)", timeout=30)
    places = {ln[2:-1] for ln in dump.splitlines() if ln.startswith(("Q(/rom/", "Q(/lib/", "Q(firmware."))}
    counted = {n[4:] if n.startswith("/rom/lib/") else n for n in places}  # the ROMFS image's source names: one for
    # one with the /lib paths the count takes (tools/deploy.py, romfs_image); never both paths of one module
    known = firmware_names(every=True)  # of the alternative drivers (RTC, reader, metering chip) the one it has
    assert len(counted) == len(places) > 40 and counted <= known, sorted(counted - known)
    # and the validator's modules, which the count leaves out, are not among them: their boot was reset
    assert not {m for m in BOOT_ONLY if {m, "/lib/%s.mpy" % m.replace(".", "/")} & counted}, sorted(counted)


def test_a_smaller_heap_is_refused_loudly_not_silently(vboard):
    """Below the budget the board must fail visibly (and reset), never run half-broken."""
    b = vboard({}, heap="24k")
    b.serial.expect(r"MemoryError|SAFE MODE", 20, since=0)
