"""Printing figures in one bounded run (a few seconds): the activation slip, native QR vs image QR.

    .venv/bin/python bench/bench_printing.py [--runs 10]

For 58 and 80 mm paper and both QR paths, prints: slip size in bytes; time to build the bytes;
the bare TCP write; one whole job (status check, write, status after: the simulator answers the
last query only after rendering the slip, so this includes its rendering), median and worst of the
runs; time until the rendered job is recorded; and the wire time the same bytes need on a
9600-baud serial printer (the slowest link in the field), computed from the size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.printer import ActivationSlip, Printer, PrinterProfile, activation_slip, make_transport
from hardware_sim.printer import PrinterSimulator

URL = ("https://memberprod.alipay.com/account/openform/activecard.htm?app_id=2021000000000000"
       "&template_id=20240101000000000000000000000000"
       "&__webview_options=canPullDown%3dNO%26transparentTitle%3dauto")  # fmt: skip
SERIAL_9600_BYTES_PER_SECOND = 960  # 10 bits per byte on the wire


def measure(paper_mm: int, native: bool, runs: int) -> dict[str, float]:
    profile = PrinterProfile(paper_mm=paper_mm, native_qr=native)  # type: ignore[arg-type]
    slip = ActivationSlip("Cafe du Coin", URL)
    started = time.perf_counter()
    for _ in range(runs):
        data = activation_slip(slip, profile)
    build_ms = (time.perf_counter() - started) * 1000 / runs
    job_ms: list[float] = []
    rendered_ms: list[float] = []
    with tempfile.TemporaryDirectory() as out, PrinterSimulator(out_dir=out, paper_mm=paper_mm) as sim:
        printer = Printer(make_transport(f"tcp://127.0.0.1:{sim.port}"), profile)
        for run in range(1, runs + 1):
            started = time.perf_counter()
            outcome = printer.run(data)
            job_ms.append((time.perf_counter() - started) * 1000)
            if not outcome.printed:
                raise SystemExit(f"job failed: {outcome.error}")
            sim.wait_for_jobs(run, timeout=10)
            rendered_ms.append((time.perf_counter() - started) * 1000)
        # The bare write, no status checks: what the link costs.
        write_ms: list[float] = []
        transport = printer.transport
        for run in range(runs + 1, 2 * runs + 1):
            transport.open()
            started = time.perf_counter()
            transport.write(data, timeout=10)
            write_ms.append((time.perf_counter() - started) * 1000)
            transport.close()
            sim.wait_for_jobs(run, timeout=10)
    return {
        "bytes": len(data), "build_ms": build_ms, "job_ms": statistics.median(job_ms), "job_max_ms": max(job_ms),
        "rendered_ms": statistics.median(rendered_ms),
        "write_ms": statistics.median(write_ms), "serial_s": len(data) / SERIAL_9600_BYTES_PER_SECOND,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="jobs per case (default 10)")
    args = parser.parse_args()
    print(f"activation slip, {len(URL)}-character URL, {args.runs} jobs per case, TCP to the printer simulator")
    header = f"{'paper':>5} {'QR':>6} {'bytes':>7} {'build ms':>9} {'write ms':>9} {'job ms':>7} {'max ms':>7}"
    print(header + f" {'rendered ms':>12} {'9600 baud s':>12}")
    results = {}
    for paper_mm in (58, 80):
        for native in (True, False):
            r = measure(paper_mm, native, args.runs)
            results[(paper_mm, native)] = r
            print(f"{paper_mm:>3}mm {'native' if native else 'image':>6} {r['bytes']:>7} {r['build_ms']:>9.2f} "
                  f"{r['write_ms']:>9.2f} {r['job_ms']:>7.1f} {r['job_max_ms']:>7.1f} {r['rendered_ms']:>12.1f} "
                  f"{r['serial_s']:>12.2f}")  # fmt: skip
    for paper_mm in (58, 80):
        native_r, image_r = results[(paper_mm, True)], results[(paper_mm, False)]
        print(f"{paper_mm} mm: image QR is {image_r['bytes'] / native_r['bytes']:.0f}x the bytes of native QR, "
              f"{image_r['build_ms'] / native_r['build_ms']:.1f}x the build time")  # fmt: skip


if __name__ == "__main__":
    main()
