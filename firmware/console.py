"""The serial console: lines typed on the UART while the app runs go to the command interface.
Bytes, not text: line noise must never stop it; only printable ASCII makes up a command.
Polled with select.poll rather than an asyncio stream, which would cost 2 KB of heap."""
import asyncio
import gc
import select
import sys

MAX_LINE = 80


async def run():
    from firmware import commands

    src = getattr(sys.stdin, "buffer", sys.stdin)
    poll = select.poll()
    poll.register(src, select.POLLIN)
    line = ""
    while True:
        if not poll.poll(0):
            await asyncio.sleep_ms(50)
            continue
        c = src.read(1)
        c = c[0] if isinstance(c, bytes) else ord(c)
        if c in (10, 13):
            if line.strip():
                sys.stdout.write("\n")
                gc.collect()
                try:
                    reply = commands.run(line, "serial")
                    for text in (reply,) if isinstance(reply, str) else reply:
                        if text:
                            print(text)
                except Exception as e:  # bad input never stops the console
                    print("error: %r" % e)
            line = ""
        elif c in (8, 127):
            if line:
                line = line[:-1]
                sys.stdout.write("\b \b")
        elif 32 <= c < 127 and len(line) < MAX_LINE:
            line += chr(c)
            sys.stdout.write(chr(c))
