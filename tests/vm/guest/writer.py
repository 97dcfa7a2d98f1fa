#!/usr/bin/python3
"""4 KiB O_DIRECT write loop for failover measurements (runs in the guest).

Every completed write appends "<CLOCK_BOOTTIME seconds> ok" to the log (the same
clock as /proc/uptime); a failed write appends "<t> err <errno>" and the loop
goes on. Stops after --seconds or on SIGTERM and then writes "<t> done <n_ok> <n_err>".
"""

from __future__ import annotations

import argparse
import mmap
import os
import signal
import time

BLOCK = 4096


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("device")
    parser.add_argument("log")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--span-mb", type=int, default=16, help="rotate over this many MiB")
    parser.add_argument("--offset-mb", type=int, default=64)
    args = parser.parse_args()

    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    buf = mmap.mmap(-1, BLOCK)  # page aligned, as O_DIRECT needs
    fd = os.open(args.device, os.O_RDWR | os.O_DIRECT)
    blocks = args.span_mb * 1024 * 1024 // BLOCK
    base = args.offset_mb * 1024 * 1024
    n_ok = n_err = 0
    end = now() + args.seconds
    with open(args.log, "a", buffering=1) as log:
        log.write(f"{now():.6f} start\n")
        i = 0
        while not stop and now() < end:
            buf[:8] = i.to_bytes(8, "little")
            try:
                os.pwrite(fd, buf, base + (i % blocks) * BLOCK)
                n_ok += 1
                log.write(f"{now():.6f} ok\n")
            except OSError as exc:
                n_err += 1
                log.write(f"{now():.6f} err {exc.errno}\n")
                time.sleep(0.05)
            i += 1
        log.write(f"{now():.6f} done {n_ok} {n_err}\n")
    os.close(fd)


if __name__ == "__main__":
    main()
