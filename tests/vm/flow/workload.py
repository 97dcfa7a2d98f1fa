#!/usr/bin/python3
"""Checksummed 4 KiB O_DIRECT write/verify workload (runs in the consumer guest).

``workload.py DEVICE DIR [--seconds S] [--span-mb M] [--offset-mb O]``

Writes block after block, round-robin over ``--span-mb`` MiB starting at ``--offset-mb``.
Each 4 KiB block carries a magic, this run's id, its sequence number, its block index, a
payload derived from (run id, sequence) and a CRC32 of all that. The log ``DIR/log`` uses
the format of ``tests/vm/guest/writer.py`` (so ``tests.vm.storage.analyse_writer_log``
reads it): ``<CLOCK_BOOTTIME s> ok`` per completed write, ``<t> err <errno>`` per failed
one, ``<t> done <n_ok> <n_err>`` at the end.

On SIGTERM (or after ``--seconds``) the writer stops, reads the whole span back with
O_DIRECT and checks every block it wrote: a block must hold a valid checksum and exactly
the last sequence number written to it (a write that failed may have left either the old
or the new content). The result goes to ``DIR/summary.json``: writes, errors, blocks
verified, mismatches (with the first few described).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import signal
import struct
import time
import zlib

BLOCK = 4096
MAGIC = b"NPFLOW01"
HEADER = struct.Struct("<8s8sQQ")  # magic, run id, sequence, block index
CRC_AT = BLOCK - 4
READ_CHUNK = 1 << 20


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def payload(run: bytes, seq: int) -> bytes:
    digest = hashlib.blake2b(run + seq.to_bytes(8, "little"), digest_size=64).digest()
    return (digest * (BLOCK // 64))[: CRC_AT - HEADER.size]


def make_block(run: bytes, seq: int, index: int) -> bytes:
    body = HEADER.pack(MAGIC, run, seq, index) + payload(run, seq)
    return body + zlib.crc32(body).to_bytes(4, "little")


def check_block(data: bytes, run: bytes, index: int, allowed: set[int]) -> str:
    """'' when the block is intact and holds one of the allowed sequence numbers, else why not."""
    if zlib.crc32(data[:CRC_AT]).to_bytes(4, "little") != data[CRC_AT:]:
        return "bad checksum"
    magic, got_run, seq, got_index = HEADER.unpack_from(data)
    if magic != MAGIC or got_run != run:
        return "not written by this run"
    if got_index != index:
        return f"holds block {got_index}"
    if seq not in allowed:
        return f"holds sequence {seq}, expected {sorted(allowed)}"
    if data[HEADER.size : CRC_AT] != payload(run, seq):
        return "payload differs"
    return ""


def verify(
    fd: int, base: int, blocks: int, run: bytes, last_ok: list[int], uncertain: dict[int, set[int]]
) -> dict[str, object]:
    buf = mmap.mmap(-1, READ_CHUNK)
    checked = 0
    mismatches: list[str] = []
    per_chunk = READ_CHUNK // BLOCK
    for first in range(0, blocks, per_chunk):
        count = min(per_chunk, blocks - first)
        view = memoryview(buf)[: count * BLOCK]
        got = os.preadv(fd, [view], base + first * BLOCK)
        if got != count * BLOCK:
            mismatches.append(f"short read at block {first}: {got} bytes")
            break
        for k in range(count):
            index = first + k
            allowed = set(uncertain.get(index, set()))
            if last_ok[index] >= 0:
                allowed.add(last_ok[index])
            if not allowed:
                continue
            checked += 1
            why = check_block(bytes(view[k * BLOCK : (k + 1) * BLOCK]), run, index, allowed)
            if why:
                mismatches.append(f"block {index}: {why}")
    return {"verified_blocks": checked, "mismatches": len(mismatches), "mismatch_examples": mismatches[:10]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("device")
    parser.add_argument("dir")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--span-mb", type=int, default=16)
    parser.add_argument("--offset-mb", type=int, default=0)
    args = parser.parse_args()

    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    os.makedirs(args.dir, exist_ok=True)
    run = os.urandom(8)
    blocks = args.span_mb * 1024 * 1024 // BLOCK
    base = args.offset_mb * 1024 * 1024
    last_ok = [-1] * blocks
    uncertain: dict[int, set[int]] = {}
    buf = mmap.mmap(-1, BLOCK)  # page aligned, as O_DIRECT needs
    fd = os.open(args.device, os.O_RDWR | os.O_DIRECT)
    n_ok = n_err = 0
    end = now() + args.seconds
    with open(os.path.join(args.dir, "log"), "a", buffering=1) as log:
        log.write(f"{now():.6f} start\n")
        seq = 0
        while not stop and now() < end:
            index = seq % blocks
            buf[:] = make_block(run, seq, index)
            try:
                written = os.pwrite(fd, buf, base + index * BLOCK)
                if written != BLOCK:
                    raise OSError(0, f"short write {written}")
                n_ok += 1
                last_ok[index] = seq
                log.write(f"{now():.6f} ok\n")
            except OSError as exc:
                n_err += 1
                uncertain.setdefault(index, set()).add(seq)
                log.write(f"{now():.6f} err {exc.errno}\n")
                time.sleep(0.05)
            seq += 1
        log.write(f"{now():.6f} done {n_ok} {n_err}\n")
        result = verify(fd, base, blocks, run, last_ok, uncertain)
        log.write(f"{now():.6f} verified {result['verified_blocks']} {result['mismatches']}\n")
    os.close(fd)
    summary = {"writes": n_ok, "errors": n_err, **result}
    tmp = os.path.join(args.dir, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f)
    os.replace(tmp, os.path.join(args.dir, "summary.json"))


if __name__ == "__main__":
    main()
