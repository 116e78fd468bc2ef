"""`./run demo --chain`: a chain of two stores on this machine (a broker, the relay, two tills), and a customer of
store B whose card opens at store B's till.

Everything is started from the public commands (`posagent fleet ...`, `posagent relay run`, `posagent run`,
`posagent-sim`, `mosquitto`), as headquarters and the technicians would. Files stay in var/demo-chain/.
Everything it started is stopped when it ends, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.chain import build_chain, chain_journey, short
from demo.lifecycle import children_stopped_on_exit
from demo.narration import say, step
from demo.store import ROOT, Child, DemoError


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a chain of two stores (broker, relay, two tills) and show a "
                                     "customer of store B getting the card opened at store B's till.")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "demo-chain")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the chain up afterwards, for `posagent fleet status` etc. (Ctrl-C stops it)")
    args = parser.parse_args()
    started = time.monotonic()
    work = args.workdir.resolve()
    print(f"POS Agent: a chain of two stores on this machine (Mosquitto, the relay, two tills).\n"
          f"Everything it makes goes to {short(work)}")  # fmt: skip
    children: list[Child] = []
    code, finished = 0, False
    with children_stopped_on_exit(children):
        try:
            chain = build_chain(work, children, say, step)
            result = chain_journey(chain, say, step)
            healthy = sum(1 for till in result.fleet.get("tills", []) if till["healthy"])
            print(f"\nDone in {time.monotonic() - started:.1f} s: card {result.card_no} opened at store B's till, "
                  f"nothing at store A; {healthy} of {len(chain.tills)} tills healthy.\n"
                  f"Everything is in {short(work)}: headquarters in hq/, the stores in store-A/ and store-B/ "
                  f"(slips, agent.toml), logs in logs/.")  # fmt: skip
            finished = True
            if args.keep_running:
                print(f"\nThe chain keeps running. Try:\n  .venv/bin/posagent fleet status --config "
                      f"{short(chain.viewer_config)}\n  curl {chain.metrics_url}\nCtrl-C stops it.",
                      flush=True)  # fmt: skip
                while True:
                    time.sleep(3600)
        except DemoError as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
            code = 1
        except KeyboardInterrupt:
            if not finished:
                print("\ninterrupted", flush=True)
                code = 130
    print(f"stopped the {len(children)} processes the demo started "
          f"({', '.join(sorted({c.name for c in children}))})", flush=True)  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main())
