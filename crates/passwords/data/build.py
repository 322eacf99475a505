#!/usr/bin/env python3
"""Builds breached.bin from the SecLists "10 million password list, top 1,000,000".

Usage: python3 build.py SOURCE.txt [OUTPUT.bin]

Which passwords are kept (see README.md for why):
  * the TOP_ANY most common distinct passwords of any length, and
  * every distinct password of MIN_POLICY_LENGTH characters or more in the file,
both compared after lower-casing.

Each kept password becomes a key: the first 8 bytes of SHA-256 of its lower-cased
UTF-8 text, read as a big-endian unsigned 64-bit integer. The keys are sorted
ascending, deduplicated, and written one after another as 8 little-endian bytes
each. The Rust side (src/breached.rs) computes the same key and binary-searches.
"""

import hashlib
import struct
import sys

TOP_ANY = 75_000
MIN_POLICY_LENGTH = 12
EXPECTED_SOURCE_SHA256 = "eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be"


def key(password: str) -> int:
    digest = hashlib.sha256(password.lower().encode("utf-8")).digest()
    return struct.unpack(">Q", digest[:8])[0]


def main() -> None:
    source = sys.argv[1]
    output = sys.argv[2] if len(sys.argv) > 2 else "breached.bin"
    raw = open(source, "rb").read()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != EXPECTED_SOURCE_SHA256:
        print(f"warning: source sha256 is {actual}, README names {EXPECTED_SOURCE_SHA256}", file=sys.stderr)

    kept: set[str] = set()
    seen: set[str] = set()
    for line in raw.decode("utf-8").split("\n"):
        password = line.rstrip("\r")
        if not password:
            continue
        lowered = password.lower()
        if lowered in seen:
            continue
        seen.add(lowered)
        if len(seen) <= TOP_ANY or len(lowered) >= MIN_POLICY_LENGTH:
            kept.add(lowered)

    keys = sorted({key(p) for p in kept})
    if len(keys) != len(kept):
        sys.exit("64-bit key collision; widen the key")
    with open(output, "wb") as out:
        for k in keys:
            out.write(struct.pack("<Q", k))
    long_count = sum(1 for p in kept if len(p) >= MIN_POLICY_LENGTH)
    print(f"{len(keys)} entries ({long_count} of {MIN_POLICY_LENGTH}+ characters), {8 * len(keys)} bytes -> {output}")


if __name__ == "__main__":
    main()
