"""The application's loop: one task per concern, each a coroutine that waits with `await sleep_ms(n)` (or
`sleep(s)`); the loop resumes the task due first and sleeps until then. No task blocks it for long.

This is asyncio's shape without asyncio: the application never needed more than tasks that sleep, and asyncio
keeps 4 KB of heap on the virtual board (about 3 KB on an ESP8266) for its classes, its I/O queue and its lazy
imports, a third of what the whole application has left (docs/heap.md). This keeps a few hundred bytes."""
import time

tasks = []  # [coroutine, when it is due (time.ticks_ms()), name]
died = None  # fn(name, exception or None): a task raised, or returned
longest = 0  # ms: the longest step a task took (the MQTT telemetry reports it, and starts it again from 0)


def sleep_ms(ms):
    """await sleep_ms(ms): this task waits ms, the others run."""
    yield ms


def sleep(s):
    yield int(s * 1000)


def spawn(name, coro):
    """A new task, due now (tasks spawned together start in that order)."""
    tasks.append([coro, time.ticks_ms(), name])


def run():
    """Run the tasks until none is left; a KeyboardInterrupt (Ctrl-C) goes through to the caller."""
    global longest
    while tasks:
        t = tasks[0]
        for u in tasks:  # the first due (no sort, no key function: nothing allocated per step)
            if time.ticks_diff(u[1], t[1]) < 0:
                t = u
        wait = time.ticks_diff(t[1], time.ticks_ms())
        if wait > 0:
            time.sleep_ms(wait)
        a = time.ticks_ms()
        try:
            w = t[0].send(None) or 0
            now = time.ticks_ms()
            t[1] = time.ticks_add(now, w)
            if time.ticks_diff(now, a) > longest:
                longest = time.ticks_diff(now, a)
        except StopIteration:
            tasks.remove(t)
            died(t[2], None)
        except Exception as e:
            tasks.remove(t)
            died(t[2], e)
