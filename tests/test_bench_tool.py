"""tools/benchmarks.py: `make bench --quick` on a fresh build measures everything and writes its JSON."""
import argparse
import json

import pytest

from tools import benchmarks
from tools.vboard import heapmodel

PREFIXES = ("mpy_bytes.", "heap_kept.", "qstr.", "heap.", "boot_ms.", "flash_writes_per_hour.")
POSITIVE = ["mpy_bytes.firmware/app.py", "mpy_bytes.total", "heap_kept.firmware.app", "heap_kept.firmware.loop",
            "heap_kept.total", "qstr.n_qstr", "qstr.n_total_bytes", "heap.free_at_start", "heap.free_at_ready",
            "heap.steady_free", "heap.min_seen", "heap.used", "boot_ms.first", "boot_ms.median", "boot_ms.max",
            "flash_writes.toggling", "flash_writes_per_hour.toggling", "romfs.image_bytes", "lib.free_at_ready",
            "lib.steady_free", "lib.used", "lib.boot_ms_median", "sched.tick_us_median", "sched.heap_peak",
            "heap_kept.firmware.clock", "heap_kept.firmware.sched", "badge.tap_to_on_ms_p50", "badge.tap_to_on_ms_p95",
            "badge.tap_to_off_ms_p95", "server.authorize_per_s_1_client", "server.authorize_per_s_4_clients",
            "heap_kept.firmware.client", "heap_kept.firmware.drivers.pn532", "heap_kept.firmware.drivers.mfrc522",
            "heap.every_feature_min", "board.names", "board.charge", "board.heap",
            "mqtt.command_to_relay_ms_p50", "mqtt.change_to_message_ms_p95", "mqtt.steady_free", "mqtt.heap_cost",
            "heap_kept.firmware.mqtt", "web.steady_free_0_clients", "web.steady_free_1_clients",
            "web.page_load_ms_p50", "web.switch_to_relay_ms_p50", "web.loop_longest_ms", "meter.cpu_ms_per_s",
            "meter.heap_kept", "meter.error_pct_strip", "meter.error_pct_outlet_3", "meter.flash_writes_per_hour",
            "meter.cut_lost_mwh_max", "meter.cut_kept_mwh_max"]


@pytest.mark.slow  # about 175 s: two 10 s windows of flash writes, a few taps, every feature running, the meter's
@pytest.mark.timeout(480)  # short day (144 s in a CI run beside two CPU hogs before the meter's step)
def test_quick_bench(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = benchmarks.main(argparse.Namespace(quick=True, out=str(out)))
    printed = capsys.readouterr().out
    assert rc == 0, printed
    res = json.loads(out.read_text())
    for key in POSITIVE:
        assert key in res, (key, printed)
    numbers = {k: v for k, v in res.items() if k not in ("_units", "board.micropython") and k[:6] != "suite."}
    assert all(isinstance(v, (int, float)) for v in numbers.values())
    for key in [k for k in numbers if k.startswith(PREFIXES[:5]) and not k.startswith("heap_kept_qstr.")]:
        assert numbers[key] > 0, (key, numbers[key])
    # every module of the firmware has its size and its heap cost
    for name in ("app", "early", "bringup", "config", "commands", "console", "link", "outlets", "clock", "sched",
                 "timesync", "tz", "rules", "timecmd", "schedcmd"):
        assert "mpy_bytes.firmware/%s.py" % name in res
        assert "heap_kept.firmware.%s" % name in res
    # the units explain every prefix used
    assert set(res["_units"]) == {k.split(".", 1)[0] for k in res if k != "_units"}
    # flash: nothing written while nothing changes, about one write per save interval while an outlet toggles
    assert res["flash_writes.steady"] == 0
    assert res["flash_writes_per_hour.steady"] == 0
    assert res["flash_writes.toggling"] > 0
    assert res["flash_writes.toggling"] <= res["window_s.toggling"] // benchmarks.SAVE_INTERVAL_S + 1
    assert res["flash_writes.app_counter"] == res["flash_writes.seen_since_ready"]
    # the running app leaves some heap, and uses less than the whole
    assert 0 < res["heap.steady_free"] < res["heap.free_at_start"]
    assert res["heap.used"] == res["heap.free_at_start"] - res["heap.steady_free"]
    # the firmware run from a ROMFS image takes less of the heap than the same .mpy files loaded from /lib
    assert 0 < res["heap.used"] < res["lib.used"]
    assert "the firmware as a ROMFS image (heap %d), and as .mpy files in /lib" % heapmodel.reference_heap() in printed
    # the heap budget's figure, and what the board is charged for the firmware's names
    assert res["heap.every_feature_min"] >= 6144
    assert res["board.charge"] >= heapmodel.pools_bytes(res["board.names"]) > 0
    # the metering chip: it costs heap; the strip's energy over the short day is the truth's; a power cut just after
    # a write of energy.json lost what came after it, and the counters came back exactly from it
    assert res["meter.heap_kept"] > 0 and abs(res["meter.error_pct_strip"]) <= 0.5
    assert res["meter.cut_lost_mwh_max"] > 0 and res["meter.cut_kept_mwh_max"] <= 1
    # a badge switches its outlets on the reference board, with the server on loopback
    assert res["badge.taps"] >= 6 and res["badge.taps_missed"] <= 1
