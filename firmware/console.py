"""The serial console: lines typed on the UART while the app runs go to the command interface."""
import asyncio
import gc
import sys

MAX_LINE = 80


async def run():
    from firmware import commands

    r = asyncio.StreamReader(sys.stdin)
    line = ""
    while True:
        c = await r.read(1)
        if not c:
            await asyncio.sleep(1)
        elif c in "\r\n":
            if line.strip():
                sys.stdout.write("\n")
                gc.collect()
                try:
                    reply = commands.run(line, "serial")
                except Exception as e:  # bad input never stops the console
                    reply = "error: %r" % e
                if reply:
                    print(reply)
            line = ""
        elif c in "\x08\x7f":
            if line:
                line = line[:-1]
                sys.stdout.write("\x08 \x08")
        elif c >= " " and len(line) < MAX_LINE:
            line += c
            sys.stdout.write(c)
