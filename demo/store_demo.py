"""The README's first command: a whole simulated store, and a customer's journey through it.

Everything is started from the public commands (`posagent`, `posagent-sim`) as a technician would;
the journey talks to the agent only through its ECR socket. Files stay in var/demo/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.lifecycle import children_stopped_on_exit
from demo.narration import say, step
from demo.store import ROOT, Child, DemoError, build_store, journey


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the agent in a simulated store and play a customer journey.")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "demo")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the store up afterwards, for `posagent ecr ...` (Ctrl-C or SIGTERM stops "
                        "it)")  # fmt: skip
    parser.add_argument("--cert-mode", action="store_true",
                        help="the app signs in public-key certificate mode: a CSR, the console's three certificate "
                        "files, and Alipay rotating its certificate during the journey")  # fmt: skip
    args = parser.parse_args()
    started = time.monotonic()
    mode = "\nCertificate mode: the app signs with public-key certificates (公钥证书)." if args.cert_mode else ""
    print(f"POS Agent: a simulated store (gateway, printer, scanner, camera) and the agent as a daemon.\n"
          f"Everything it makes goes to {args.workdir}{mode}")  # fmt: skip
    step("Set up the merchant's side and start the store")
    children: list[Child] = []
    code = 0
    with children_stopped_on_exit(children):
        try:
            store = build_store(args.workdir, say, children=children, cert_mode=args.cert_mode)
            result = journey(store, say, step)
            print(f"\nDone in {time.monotonic() - started:.1f} s. Slips: {store.slips}  Agent log: "
                  f"{args.workdir / 'logs' / 'agent.log'}")  # fmt: skip
            print(f"The customer's card {result.card_no} has {result.points} points at Alipay.")
            if args.keep_running:
                print(f"\nThe store keeps running. Try:\n  POSAGENT_CONFIG={args.workdir / 'agent.toml'} "
                      f".venv/bin/posagent ecr status.get\n  http://127.0.0.1:{store.status_port}/ in a browser "
                      f"(token: {args.workdir / 'keys' / 'ecr_token'})\nCtrl-C stops it.", flush=True)  # fmt: skip
                while True:
                    time.sleep(3600)
        except DemoError as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
            code = 1
        except KeyboardInterrupt:
            pass
    print(f"stopped the {len(children)} processes the demo started", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
