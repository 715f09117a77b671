"""`tlstudio cache [--clear] [--json]`: what the cache folder holds, and emptying it."""

from __future__ import annotations

import json

NAME = "cache"


def add_parser(sub) -> None:
    command = sub.add_parser("cache", help="what the cache folder holds (decoded images, features, ...)")
    command.add_argument("--clear", action="store_true", help="delete every cached entry (all can be made again)")
    command.add_argument("--json", action="store_true",
                         help='print {"folder": ..., "limit_bytes": ..., "kinds": {...}}')


def run(args) -> int:
    from tlstudio.base.cache_folder import (
        CACHE_KINDS,
        EVICTABLE_KINDS,
        cache_dir,
        cache_limit_bytes,
        cache_usage,
        clear_cache,
    )
    from tlstudio.base.text import format_bytes

    freed = clear_cache() if args.clear else None
    usage = cache_usage()
    if args.json:
        print(json.dumps({"folder": str(cache_dir()), "limit_bytes": cache_limit_bytes(), "freed_bytes": freed,
                          "kinds": {kind: {"bytes": size, "files": files} for kind, (size, files) in usage.items()}},
                         indent=2))
        return 0
    if freed is not None:
        print(f"Cleared {format_bytes(freed)} from {cache_dir()}.")
    total = sum(size for size, _ in usage.values())
    *rest, last = [CACHE_KINDS[kind] for kind in EVICTABLE_KINDS]
    print(f"Cache folder: {cache_dir()} ({format_bytes(total)}; {', '.join(rest)} and {last} are kept under "
          f"{format_bytes(cache_limit_bytes())}, least recently used dropped first)")
    for kind, (size, files) in usage.items():
        print(f"  {CACHE_KINDS[kind]:<40} {format_bytes(size):>10}  {files} file{'s' if files != 1 else ''}")
    return 0
