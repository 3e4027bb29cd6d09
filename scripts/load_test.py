"""Bounded load test of the public app on loopback: `explorer app` (serve_app) on a results folder, N concurrent
viewers in headless Chromium (Playwright, /usr/bin/chromium; every request off 127.0.0.1 aborted), each holding
its page for a fixed time. Reports first-paint times (median / max), how many got the busy page, the kernels
alive while the viewers hold their pages with their memory (RSS and USS, total and per kernel), and the kernels
left once the pages closed. A hard deadline kills everything this script started (Voila, kernels, Chromium).

    .venv/bin/python scripts/load_test.py                      # 20 viewers, cap 8, data/demo_cpu
    .venv/bin/python scripts/load_test.py --viewers 4 --max-kernels 2 --hold-s 10 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from explorer.ui.app import DEFAULT_MAX_KERNELS, free_port, serve_app, stop_process_tree  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
POINTS = "g.mark-symbol.role-mark path"  # the frontier chart's points: the page has painted
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
MIB = 2**20


def kill_everything_started(code: int) -> None:
    """The hard deadline: SIGKILL every descendant of this process, then exit."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()
    print(f"load test: hard deadline reached, killed everything it started (exit {code})", file=sys.stderr)
    os._exit(code)


def kernels(voila_pid: int) -> list:
    """The kernel processes under Voila."""
    import psutil

    out = []
    for proc in psutil.Process(voila_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "ipykernel" in " ".join(proc.cmdline()):
                out.append(proc)
    return out


def memory(voila_pid: int) -> dict:
    """Kernel count and RSS / USS (MiB) of the kernels under Voila, and Voila's own RSS."""
    import psutil

    rss, uss = [], []
    for proc in kernels(voila_pid):
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss.append(info.rss / MIB)
            uss.append(info.uss / MIB)
    return {
        "kernels": len(rss),
        "kernel_rss_total_mib": round(sum(rss), 1),
        "kernel_rss_per_kernel_mib": round(statistics.median(rss), 1) if rss else None,
        "kernel_uss_per_kernel_mib": round(statistics.median(uss), 1) if uss else None,
        "voila_rss_mib": round(psutil.Process(voila_pid).memory_info().rss / MIB, 1),
    }


async def viewer(browser, url: str, hold_s: float, paint_timeout_s: float, ready: asyncio.Future) -> dict:
    """One viewer: open the page, wait for the chart (or the busy page), hold it `hold_s`, close it."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await context.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).hostname == "127.0.0.1"
                        else r.abort())  # fmt: skip
    page = await context.new_page()
    t0 = time.monotonic()
    out: dict = {"status": None, "first_paint_s": None}
    try:
        response = await page.goto(url, wait_until="commit", timeout=paint_timeout_s * 1000)
        out["status"] = response.status if response else None
        if out["status"] == 200:
            await page.wait_for_selector(POINTS, state="visible", timeout=paint_timeout_s * 1000)
            out["first_paint_s"] = round(time.monotonic() - t0, 2)
        else:
            out["busy_page"] = "retry in a minute" in await page.content()
    except Exception as exc:  # a viewer that never painted is a result, not a crash
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    ready.set_result(out)
    if out["first_paint_s"] is not None:
        await asyncio.sleep(hold_s)
    await page.close(run_before_unload=True)  # Voila's page shuts its kernel down when it unloads (a beacon)
    await asyncio.sleep(1.0)  # the beacon leaves before the context goes
    await context.close()
    return out


async def drive(url: str, voila_pid: int, args: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        loop = asyncio.get_running_loop()
        readies = [loop.create_future() for _ in range(args.viewers)]
        tasks = [asyncio.create_task(viewer(browser, url, args.hold_s, args.paint_timeout_s, r)) for r in readies]
        await asyncio.gather(*readies)  # every viewer painted, got the busy page or gave up: all hold now
        held = memory(voila_pid)
        results = await asyncio.gather(*tasks)
        await browser.close()
    await asyncio.sleep(args.settle_s)  # closed pages: their kernels shut down
    return {"results": results, "held": held, "after_close": memory(voila_pid)}


def summary(run: dict, args: argparse.Namespace, idle: dict) -> dict:
    results = run["results"]
    paints = [r["first_paint_s"] for r in results if r["first_paint_s"] is not None]
    return {
        "viewers": args.viewers,
        "max_kernels": args.max_kernels,
        "hold_s": args.hold_s,
        "painted": len(paints),
        "busy_page": sum(1 for r in results if r["status"] == 503 and r.get("busy_page")),
        "failed": [r for r in results if r["first_paint_s"] is None and r["status"] != 503],
        "first_paint_median_s": round(statistics.median(paints), 2) if paints else None,
        "first_paint_max_s": max(paints) if paints else None,
        "idle": idle,
        "while_held": run["held"],
        "after_close": run["after_close"],
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(REPO / "data" / "demo_cpu"), help="results folder served")
    p.add_argument("--viewers", type=int, default=20, help="concurrent viewers (default 20)")
    p.add_argument("--max-kernels", type=int, default=DEFAULT_MAX_KERNELS, help="the app's cap on viewers")
    p.add_argument("--hold-s", type=float, default=20.0, help="seconds each viewer keeps its painted page")
    p.add_argument("--paint-timeout-s", type=float, default=150.0, help="a viewer gives up after this")
    p.add_argument("--settle-s", type=float, default=8.0, help="wait after the pages closed, then count kernels")
    p.add_argument("--deadline-s", type=float, default=420.0, help="hard deadline: kill everything, exit 3")
    p.add_argument("--json", help="also write the summary here")
    args = p.parse_args(argv)
    if args.viewers < 1 or args.max_kernels < 1:
        p.error("--viewers and --max-kernels: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: no {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 2
    watchdog = threading.Timer(args.deadline_s, kill_everything_started, args=(3,))
    watchdog.daemon = True
    watchdog.start()
    port, log = free_port(), Path(os.environ.get("TMPDIR", "/tmp")) / f"load_test_voila_{os.getpid()}.log"
    proc = serve_app(args.results, port=port, log_file=log, max_kernels=args.max_kernels)
    try:
        deadline = time.monotonic() + 60
        while "is filled with 1 kernel" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)  # let the preheated kernel run the notebook (what a first viewer gets)
        idle = memory(proc.pid)
        run = asyncio.run(drive(f"http://127.0.0.1:{port}/", proc.pid, args))
    finally:
        stop_process_tree(proc)
        watchdog.cancel()
    out = summary(run, args, idle)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"voila log: {log}", file=sys.stderr)
    return 0 if not out["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
