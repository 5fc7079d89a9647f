"""A day of the strip's life in under a minute: make soak's accelerated week (tools/soak.py), short. The world's clock
jumps a quarter of an hour at a time, the server following it; schedules switch outlets 4-6, Bob's badge opens and
ends sessions on outlets 1-3, the server has its rounds. No session is lost or stored twice, the outlets follow their
rules, the free heap holds."""
import os
import random
import time

import pytest

from tools import soak
from tools.server.cli import FileClock


def test_an_accelerated_day_loses_no_session_follows_the_schedules_and_keeps_the_heap(vboard, tmp_path):
    seed = int(os.environ.get("CUT_SEED", random.randrange(1 << 30)))
    fig = soak.accelerated_week(vboard, 1, seed, tmp_path)  # raises when a check fails, with the seed
    assert fig["steps"] == 96 and fig["bob_on"] >= 1, (seed, fig)
    assert fig["sessions_stored"] == fig["sessions_expected"] >= 3, (seed, fig)
    assert fig["sessions_lost"] == fig["sessions_duplicated"] == fig["sessions_unknown"] == 0, (seed, fig)
    assert fig["schedule_checks"] == 24 and fig["schedule_mismatches"] == 0, (seed, fig)
    assert fig["schedule_switches"] == fig["schedule_edges"] == 6, (seed, fig)  # Monday: 07:30, 22:00; 18:00,
    #                                                                             23:00; 12:00, 13:00
    assert fig["heap_trend"] == "flat" and fig["problems"] == 0, (seed, fig)


def test_the_heap_trends_down_when_every_sample_moves_not_one():
    rng = random.Random(1)
    steady = [[d / 48, rng.choice((15072, 15136, 15648)), 14016] for d in range(96)]  # a session open or not
    for d in (20, 80, 90):
        steady[d][1] = 8576  # a round held its buffers just then
    assert soak.heap_trend(steady)["heap_trend"] == "flat"
    leak = [[s[0], s[1] - 40 * d, s[2]] for d, s in enumerate(steady)]  # 1.9 KB a simulated day
    fig = soak.heap_trend(leak)
    assert fig["heap_trend"] == "down" and fig["heap_slope_per_day"] < -1000, fig


def test_the_heap_is_compared_with_the_same_sessions_open():
    # a day whose sessions all fall in its second half: an open session holds 800-1100 bytes, and that is no leak
    day = [[d / 48, 20800 if d < 24 else (19700 if d % 6 else 20500), 19900, 0 if d < 24 or not d % 6 else 1]
           for d in range(48)]
    fig = soak.heap_trend(day)
    assert fig["heap_trend"] == "flat" and abs(fig["heap_slope_per_day"]) < 700, fig
    assert soak.heap_trend([s[:3] for s in day])["heap_trend"] == "down"  # where the state is not told
    leak = [[s[0], s[1] - 40 * d, s[2], s[3]] for d, s in enumerate(day)]  # 1.9 KB a simulated day, in each state
    fig = soak.heap_trend(leak)
    assert fig["heap_trend"] == "down" and fig["heap_slope_per_day"] < -1000, fig


def test_the_schedule_model_knows_summer_time():
    assert soak.cet_offset(soak.local_unix("2026-03-29 01:59")) == 3600
    assert soak.cet_offset(soak.local_unix("2026-03-29 03:00")) == 7200
    t = soak.local_unix("2026-03-29 03:10")  # Sunday: the 02:30 edge was skipped over, the window is on
    assert soak.scheduled(["sun 02:30-05:00"], t) and not soak.scheduled(["mon-fri 12:00-13:00"], t)


def test_the_server_clock_follows_its_file(tmp_path):
    f = tmp_path / "clock"
    clock = FileClock(str(f))
    assert abs(clock() - time.time()) < 1  # no file: this machine's time
    soak.set_clock_file(f, -86400)
    assert clock() - time.time() == pytest.approx(-86400, abs=1)
