"""The multiprise command line: build the board image, run the virtual board, measure (more to come: flash, deploy, push)."""
import argparse
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(prog="multiprise", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="compile the firmware with mpy-cross into build/board")
    sim = sub.add_parser("sim", help="the virtual board with its console: the real firmware, emulated chips")
    sim.add_argument("--wiring", choices=("seed", "expander"), default="seed", help="reference wiring (README, Wiring)")
    sim.add_argument("--rtc", choices=("ds3231", "ds1307"), default="ds3231")
    sim.add_argument("--board", default="build/sim-board", help="the virtual flash folder (kept between runs)")
    sim.add_argument("--config", help="a config.json to put on the board (default: the example for the wiring)")
    sim.add_argument("--heap", default="40k", help="MicroPython heap cap (default 40k)")
    sim.add_argument("--port", type=int, default=0, help="TCP port of the serial line (socket://127.0.0.1:PORT)")
    bench = sub.add_parser("bench", help="measure sizes, heap, boot time and flash writes; write build/bench.json")
    bench.add_argument("--quick", action="store_true", help="shorter steady-state measurement")
    a = ap.parse_args(argv)
    if a.cmd == "build":
        from tools.build import build

        for f in build():
            print(f)
        return 0
    if a.cmd == "sim":
        from tools.vboard.console import main as sim_main

        return sim_main(a)
    if a.cmd == "bench":
        from tools.benchmarks import main as bench_main

        return bench_main(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
