"""The multiprise command line: flash MicroPython, deploy the app, reach the REPL and the log, run the virtual board,
measure. PORT is a serial device (/dev/ttyUSB0) or any pyserial URL (socket://127.0.0.1:4000 for the virtual board)."""
import argparse
import sys

from tools.server.cli import add_arguments as server_arguments


def main(argv=None):
    ap = argparse.ArgumentParser(prog="multiprise", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="compile the firmware with mpy-cross into build/board")
    sim = sub.add_parser("sim", help="the virtual board with its console: the real firmware, emulated chips")
    sim.add_argument("--wiring", choices=("seed", "expander"), default="seed", help="reference wiring (README, Wiring)")
    sim.add_argument("--rtc", choices=("ds3231", "ds1307"), default="ds3231")
    sim.add_argument("--board", default="build/sim-board",
                     help="the board folder (kept between runs): its first files, and where the flash and the chips' "
                          "state are kept, beside it")
    sim.add_argument("--flash", choices=("littlefs", "folder"), default="littlefs",
                     help="the board's flash: LittleFS in an image beside the folder (default; made from the folder at "
                          "the first run, kept between runs), or the folder itself, its files edited by hand")
    sim.add_argument("--config", help="a config.json to put on the board (default: the example for the wiring)")
    sim.add_argument("--heap", help="MicroPython heap cap (default: an ESP8266's, docs/heap.md; 64k with --lib)")
    sim.add_argument("--port", type=int, default=0, help="TCP port of the serial line (socket://127.0.0.1:PORT)")
    sim.add_argument("--romfs", default="320k", metavar="SIZE",
                     help="the ROMFS partition, as a FLASH_2M_ROMFS build has (default 320k), kept beside the board "
                          "folder; the firmware runs from it")
    sim.add_argument("--no-server", action="store_true",
                     help="no central server: by default the reference server runs beside the board with the demo "
                          "site (demo strip, badges), its database and log beside the board folder")
    sim.add_argument("--server-port", type=int, default=0, help="the central server's port (default: a free one)")
    sim.add_argument("--lib", action="store_true",
                     help="a build without ROMFS: the firmware's .mpy files in /lib (its bytecode on the heap)")
    fl = sub.add_parser("flash", help="erase the board and write a MicroPython firmware image (esptool)")
    fl.add_argument("image", help="the MicroPython ESP8266_GENERIC .bin to write")
    fl.add_argument("--port", help="serial port (default: the one USB serial adapter found)")
    fl.add_argument("--baud", type=int, default=460800)
    fl.add_argument("--flash-mode", choices=("dio", "dout", "qio", "qout"), help="some NodeMCU boards need dio or dout")
    fl.add_argument("--dry-run", action="store_true", help="print the esptool commands, run nothing")
    dep = sub.add_parser("deploy", help="copy what changed of the app over USB (mpremote), restart, show the boot log")
    dep.add_argument("--port", help="serial port or URL (default: the one USB serial adapter found)")
    dep.add_argument("--config", help="also copy this file as config.json")
    dep.add_argument("--secret", action="append", default=[], help="also copy this secrets file (repeatable)")
    dep.add_argument("--no-reset", action="store_true", help="do not restart the board afterwards")
    dep.add_argument("-v", "--verbose", action="store_true", help="each command in full, its scripts too")
    dep.add_argument("--romfs", action="store_true", help="the compiled firmware as one image in the board's ROMFS "
                                                          "partition (run from flash: less heap)")
    pu = sub.add_parser("push", help="send the app over Wi-Fi (WebREPL): installed at the next boot, rolled back "
                                     "if it never gets ready")
    pu.add_argument("--host", required=True, help="the board's address")
    pu.add_argument("--port", type=int, default=8266, help="WebREPL port (default 8266)")
    pu.add_argument("--password", help="WebREPL password (default: PASS from ./webrepl_cfg.py)")
    bu = sub.add_parser("bundle", help="build the update file that the board's web page uploads (Settings, Update)")
    bu.add_argument("-o", "--output", help="where to write it (default build/update-VERSION.mpu)")
    check = sub.add_parser("check", help="check a configuration here, with the board's own messages")
    check.add_argument("config", help="the config.json to check")
    for name, what in (("repl", "the board's REPL (mpremote)"),
                       ("logs", "the board's kept log lines (the app keeps running)")):
        sub.add_parser(name, help=what).add_argument("--port", help="serial port or URL")
    bench = sub.add_parser("bench", help="measure sizes, heap, boot time and flash writes; write build/bench.json")
    bench.add_argument("--quick", action="store_true", help="shorter steady-state measurement")
    bench.add_argument("--only", choices=("server",), help="only this part (its figures replace theirs in bench.json)")
    soak = sub.add_parser("soak", help="long runs: power-cut storms around state writes and session reports, an "
                                       "accelerated week; write build/soak.json")
    soak.add_argument("--cuts", type=int, default=1000, help="power cuts in each storm (default 1000)")
    soak.add_argument("--session-cuts", type=int, help="power cuts around session reports (default: --cuts)")
    soak.add_argument("--days", type=int, default=7, help="simulated days of the accelerated run (default 7)")
    soak.add_argument("--seed", type=int, help="the random seed (default: a new one, printed): replays a run")
    soak.add_argument("--only", action="append", choices=("state", "sessions", "week"),
                      help="run this part only (repeatable): state (cuts around state writes), sessions (cuts around "
                           "session reports), week (the accelerated run)")
    soak.add_argument("--out", help="where the figures go (default build/soak.json)")
    server_arguments(sub.add_parser("server", help="the central server (badges, rules, sessions, commands); "
                                                   "`server admin ...` manages its database"))
    a = ap.parse_args(argv)
    if a.cmd == "build":
        from tools.build import build

        for f in build():
            print(f)
        return 0
    if a.cmd == "check":
        from tools.deploy import check_config, config_report

        errors, warnings = check_config(a.config)
        print(config_report(a.config, errors, warnings))
        return 1 if errors else 0
    if a.cmd == "sim":
        from tools.vboard.console import main as sim_main

        return sim_main(a)
    if a.cmd == "push":
        from tools import deploy
        from tools.webrepl import WebReplError

        password = a.password
        if password is None:
            try:
                password = open("webrepl_cfg.py").read().split("PASS", 1)[1].split("=", 1)[1].strip().strip("'\"")
            except (OSError, IndexError):
                print("multiprise push: give --password, or keep webrepl_cfg.py here", file=sys.stderr)
                return 1
        try:
            deploy.push(a.host, a.port, password)
            return 0
        except (WebReplError, OSError, deploy.Failed) as e:
            print("multiprise push: %s" % e, file=sys.stderr)
            return 1
    if a.cmd == "bundle":
        from tools import deploy

        try:
            out, version = deploy.bundle(a.output)
        except deploy.Failed as e:
            print("multiprise bundle: %s" % e, file=sys.stderr)
            return 1
        print("multiprise bundle: %s (%d KB): upload it on the board's page (Update)" % (
            out, -(-out.stat().st_size // 1024)))
        return 0
    if a.cmd in ("flash", "deploy", "repl", "logs"):
        from tools import deploy

        try:
            if a.cmd == "flash":
                deploy.flash(a.image, a.port, a.baud, a.flash_mode, a.dry_run)
                return 0
            port = a.port or deploy.detect_port()
            if a.cmd == "deploy":
                deploy.VERBOSE = a.verbose
                deploy.deploy(port, a.config, a.secret, reset=not a.no_reset, romfs=a.romfs)
            elif a.cmd == "repl":
                return deploy.repl(port)
            else:
                deploy.logs(port)
            return 0
        except deploy.Failed as e:
            print("multiprise %s: %s" % (a.cmd, e), file=sys.stderr)
            return 1
    if a.cmd == "bench":
        from tools.benchmarks import main as bench_main

        return bench_main(a)
    if a.cmd == "soak":
        from tools.soak import main as soak_main

        return soak_main(a)
    if a.cmd == "server":
        from tools.server.cli import run

        return run(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
