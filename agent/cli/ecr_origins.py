"""`posagent ecr pair --origin URL` and `posagent ecr origins list|revoke`: which web POS pages may
drive the till over WebSocket ([ecr] websocket_port). See docs/ecr-protocol.md, "Browsers".

The book is `<state_dir>/ecr_origins.json` (hashes only); the CLI writes it, the running agent follows
it within a second (a revoked origin's open pages are closed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime

from agent.cli.common import EXIT_BUSINESS, EXIT_OK, EXIT_USAGE
from agent.config import ConfigError, load_config
from agent.ecr.origin_store import OriginStore, OriginStoreError, store_path
from agent.ecr.origins import CODE_VALID_SECONDS, OriginError, normalise_origin, show_code

ORIGIN_COMMANDS = ("pair", "origins")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (ConfigError, OriginError, OriginStoreError, UsageProblem) as exc:
        return _failed(args, str(exc))


class UsageProblem(Exception):
    pass


def _run(args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    config = load_config(args.config)
    store = OriginStore(store_path(config.paths.state_dir))
    if args.op == "pair":
        if words or not args.origin:
            raise UsageProblem("usage: posagent ecr pair --origin https://pos.example.com")
        origin = normalise_origin(args.origin)
        now = time.time()
        code = show_code(store.update(lambda book: book.start_pairing(origin, now, os.urandom)))
        port = config.ecr.websocket_port
        url = f"ws://127.0.0.1:{port}/ecr" if port else None
        if args.json:
            print(json.dumps({"origin": origin, "code": code, "expires_at": _iso(now + CODE_VALID_SECONDS),
                              "url": url}))  # fmt: skip
            return EXIT_OK
        print(f"Pairing code for {origin}: {code}")
        print(f"Valid {CODE_VALID_SECONDS / 60:.0f} minutes, once. Enter it in the web POS"
              + (f" (it connects to {url})." if url else "."))  # fmt: skip
        if url is None:
            print("note: [ecr] websocket_port is not set: the page cannot connect until it is (and the agent "
                  "restarted).")  # fmt: skip
        return EXIT_OK
    if words[:1] == ["list"] and len(words) == 1:
        book = store.current()
        book.expire(time.time())
        rows = [{"origin": p.origin, "paired_at": _iso(p.paired_at),
                 "last_used": _iso(p.last_used) if p.last_used is not None else None}
                for p in sorted(book.paired.values(), key=lambda p: p.origin)]  # fmt: skip
        pending = [{"origin": p.origin, "code_expires_at": _iso(p.expires_at)} for p in book.pending.values()]
        if args.json:
            print(json.dumps({"paired": rows, "pending": pending}))
            return EXIT_OK
        if not rows and not pending:
            print("No web POS origin is paired (posagent ecr pair --origin URL).")
        for row in rows:
            print(f"{row['origin']}  paired {row['paired_at']}  last used {row['last_used'] or 'never'}")
        for item in pending:
            print(f"{item['origin']}  pairing code pending until {item['code_expires_at']}")
        return EXIT_OK
    if words[:1] == ["revoke"] and len(words) == 2:
        origin = normalise_origin(words[1])
        if not store.update(lambda book: book.revoke(origin)):
            return _failed(args, f"{origin} is not paired (posagent ecr origins list)", EXIT_BUSINESS)
        if args.json:
            print(json.dumps({"revoked": origin}))
        else:
            print(f"Revoked {origin}: its token no longer works; its open pages are closed within a second.")
        return EXIT_OK
    raise UsageProblem("usage: posagent ecr origins list | posagent ecr origins revoke ORIGIN")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _failed(args: argparse.Namespace, message: str, exit_code: int = EXIT_USAGE) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": {"code": "USAGE" if exit_code == EXIT_USAGE else "NOT_FOUND",
                                                 "message": message}}))  # fmt: skip
    else:
        print(f"error: {message}", file=sys.stderr)
    return exit_code
