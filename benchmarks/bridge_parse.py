"""What RESP parsing costs the multiplexing bridge, per command and per reply.

    python3 benchmarks/bridge_parse.py

Prints µs per item for: splitting a pipeline of 16 commands (redis-benchmark's SET and GET at
-P 16) with hiredis (what redis/resp.CommandReader uses), with hiredis plus re-packing each command,
and with a framer written in Python (the alternative hiredis replaced); and framing 16
replies with resp.ReplyScanner. Compare with the bridge's whole CPU cost per pipelined
request (~1.7 µs, docs/redis-bridge.md). Best of 5 runs of 20,000 rounds each.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable

from appwrite_heroku.dyno.redis.resp import CommandReader, ReplyScanner, encode_command

PIPELINE = 16
SET = encode_command(b"SET", b"key:__rand_int__", b"xxx") * PIPELINE
GET = encode_command(b"GET", b"key:__rand_int__") * PIPELINE
REPLIES_OK = b"+OK\r\n" * PIPELINE
REPLIES_BULK = b"$3\r\nxxx\r\n" * PIPELINE


def python_framer(data: bytes) -> list[tuple[bytes, int]]:
    """Command names and ends, in Python: what the bridge would do without hiredis."""
    out = []
    pos, size, find = 0, len(data), data.find
    while pos < size:
        end = find(b"\r\n", pos)
        count = int(data[pos + 1:end])
        pos = end + 2
        name = b""
        for i in range(count):
            end = find(b"\r\n", pos)
            length = int(data[pos + 1:end])
            start = end + 2
            if i == 0:
                name = data[start:start + length]
            pos = start + length + 2
        out.append((name.upper(), pos))
    return out


READER, SCANNER = CommandReader(), ReplyScanner()


def hiredis_reader(data: bytes) -> object:
    return READER.feed(data)


def hiredis_and_pack(data: bytes) -> object:
    return [encode_command(*c) for c in READER.feed(data)]


def scanner(data: bytes) -> object:
    return SCANNER.feed(data)


def per_item(function: Callable[[bytes], object], data: bytes) -> float:
    rounds = 20_000
    best = min(timeit.repeat(lambda: function(data), number=rounds, repeat=5))
    return best / rounds / PIPELINE * 1e6


def main() -> int:
    print("| what | SET µs/item | GET µs/item |")
    print("|---|---:|---:|")
    for label, function in (("commands: hiredis (resp.CommandReader)", hiredis_reader),
                            ("commands: hiredis + re-pack", hiredis_and_pack),
                            ("commands: framer in Python", python_framer)):
        print(f"| {label} | {per_item(function, SET):.2f} | {per_item(function, GET):.2f} |")
    print(f"| replies: resp.ReplyScanner (+OK / $3 bulk) | {per_item(scanner, REPLIES_OK):.2f} "
          f"| {per_item(scanner, REPLIES_BULK):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
