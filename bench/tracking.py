"""Benchmark: the open pixel and the click endpoint under gunicorn, against a trivial view.

Run from the project root, with DATABASE_URL pointing at a PostgreSQL server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/tracking.py

It creates (and finally drops) its own database, mm_bench_tracking by default, migrates it, makes
a campaign with ITEMS sent queue items and a tracking URL, and starts gunicorn (two workers of
four threads each, gthread, DEBUG off, plain http) with bench/tracking_settings.py, which adds a
trivial view to the product's URLs; opens and clicks are buffered in Redis (--buffer-url: db 12,
flushed at start; "" records them in the request). wrk then loads, at 32 connections, the trivial
view (the floor), the pixel (every item's open URL in turn) and the click URL (every item's
click URL in turn), in ROUNDS interleaved rounds so that a change in the machine's load hits all
three. It prints requests/s per round and its ratio to the trivial view of the same round, p99
latency and errors, records what is left in the buffer (manage.py record_tracking_hits), counts
the rows written (one Opened per item hit, one hit per request, one Clicked per item and link)
and, with --statistics-rows, times the campaign statistics over a campaign with that many log
records. Exit status 1 if a goal is missed.
"""

import sys
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and this file would shadow the tracking app.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

from bench.scratch import drop_database, recreate_database, setup_django  # noqa: E402

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"
GOAL_RATIO, GOAL_P99_MS = 0.5, 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="mm_bench_tracking", help="scratch database name")
    parser.add_argument("--items", type=int, default=4000, help="sent queue items to hit")
    parser.add_argument("--duration", type=int, default=5, help="seconds of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each endpoint, interleaved")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per worker (gthread); 1: sync"
    )
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--statistics-rows", type=int, default=0, help="e.g. 1000000; 0: skip")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--buffer-url",
        default="redis://127.0.0.1:6379/12",
        help="TRACKING_BUFFER_URL, a Redis db flushed at start; '' records in the request",
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL server (any database on it).", file=sys.stderr)
        return 2
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    bench_url = recreate_database(base_url, args.database)
    try:
        return run(bench_url, args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(base_url, args.database)


def server_environment(bench_url: str, var_dir: str, buffer_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": bench_url,
        "DJANGO_SETTINGS_MODULE": "bench.tracking_settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        # Due drains run as Celery tasks in a worker of their own, as in production.
        "CELERY_BROKER_URL": buffer_url or "memory://",
        "TRACKING_BUFFER_URL": buffer_url,
    }


def run(bench_url: str, args) -> int:
    var_dir = tempfile.mkdtemp(prefix="mm-bench-tracking-")
    os.environ.update(server_environment(bench_url, var_dir, args.buffer_url))
    if args.buffer_url:
        import redis

        redis.Redis.from_url(args.buffer_url).flushdb()
    setup_django(bench_url)  # with the bench's settings module, set in the environment above
    from bench.tracking_data import count_rows, seed_campaign, seed_statistics_campaign

    seeded = seed_campaign(args.items)
    targets = {"trivial": None}
    for name in ("open", "click"):
        targets[name] = Path(var_dir) / f"{name}.txt"
        targets[name].write_text("\n".join(seeded[name]) + "\n")
    port = args.port or free_port()
    server = start_gunicorn(port, args, dict(os.environ))
    worker = start_worker(dict(os.environ)) if args.buffer_url else None
    results: dict[str, list[dict]] = {name: [] for name in targets}
    rows = {}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/bench/trivial/")
        wrk(base, 3, args.connections)  # warm-up
        # Rounds interleave the endpoints, so a change in the machine's load hits all of them.
        for round_number in range(args.rounds):
            for name, paths in targets.items():
                results[name].append(wrk(base, args.duration, args.connections, paths))
                if paths and args.buffer_url:
                    results[name][-1] |= catch_up()
                if name == "open" and round_number == 0:
                    rows["after the first pixel run"] = settled(count_rows, seeded["campaign"])
        rows["at the end"] = settled(count_rows, seeded["campaign"])
    finally:
        for process in (server, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    failures = report(results, rows, args.items)
    if args.statistics_rows:
        failures += report_statistics(seed_statistics_campaign(args.statistics_rows))
    shutil.rmtree(var_dir, ignore_errors=True)
    return 1 if failures else 0


def recorded_rows(count_rows, campaign_id: int) -> dict[str, int]:
    """The row counts once what is left in the buffer is recorded (as beat or cron would)."""
    from django.core.management import call_command

    call_command("record_tracking_hits", stdout=open(os.devnull, "w"))  # noqa: SIM115
    return count_rows(campaign_id)


def catch_up() -> dict:
    """Record what a run left buffered, at once (waiting for the worker's drain if it is on
    it), so that no run's recording spills into the next run; its time counts against the run:
    the hits it recorded were part of that run's work."""
    from tracking import buffer

    time.sleep(0.2)  # gunicorn's outbox threads flush within TRACKING_BUFFER_FLUSH_MS (50 ms)
    left = buffer.pending()
    started = time.perf_counter()
    buffer.drain_all()
    return {"left": left, "catch_up_s": time.perf_counter() - started}


def settled(count_rows, campaign_id: int) -> dict[str, int]:
    """The row counts once requests still queued in gunicorn's backlog have been served."""
    previous = recorded_rows(count_rows, campaign_id)
    while True:
        time.sleep(0.5)
        current = recorded_rows(count_rows, campaign_id)
        if current == previous:
            return current
        previous = current


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, args, env: dict[str, str]) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "crm.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        "--log-level=warning",
        f"--chdir={ROOT}",
        "--backlog=2048",
    ]
    if args.threads > 1:
        command += ["--worker-class=gthread", f"--threads={args.threads}"]
    return subprocess.Popen(command, env=env)


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """One Celery worker process that records the buffered hits (the task record_tracking_hits)."""
    # At low CPU priority, as the README recommends: serving recipients comes before recording.
    command = [
        "nice",
        "-n",
        "10",
        str(ROOT / ".venv" / "bin" / "celery"),
        "-A",
        "crm",
        "worker",
        "--pool=solo",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return subprocess.Popen(command, env=env, cwd=ROOT)


def wait_until_up(url: str) -> None:
    for _attempt in range(100):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer {url}")


def wrk(base: str, duration: int, connections: int, paths_file: Path | None = None) -> dict:
    """Load the trivial view (no paths file) or each path of `paths_file` in turn."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout=5s"]
    command += ["-H", f"User-Agent: {USER_AGENT}"]
    if paths_file:
        script = str(ROOT / "bench" / "tracking_paths.lua")
        command += ["-s", script, base, "--", str(paths_file), "2"]
    else:
        command.append(base + "/bench/trivial/")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict:
    def number(pattern: str, default: float = 0.0) -> float:
        found = re.search(pattern, output)
        return float(found.group(1)) if found else default

    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": int(number(r"(\d+) requests in")),
        "seconds": number(r"requests in ([\d.]+)s"),
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "bad_status": int(number(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def sustained(run: dict) -> float:
    """Requests/s counting the time to record what the run left buffered (catch_up)."""
    if "catch_up_s" not in run:
        return run["rps"]
    return run["requests"] / (run["seconds"] + run["catch_up_s"])


def report(results: dict[str, list[dict]], rows: dict, items: int) -> int:
    floors = [run["rps"] for run in results["trivial"]]
    failures = 0
    print(
        "endpoint   req/s per round (x trivial of that round)       median x   max p99 ms  errors"
    )
    for name, runs in results.items():
        ratios = [sustained(run) / floor for run, floor in zip(runs, floors, strict=True)]
        rounds = "  ".join(
            f"{sustained(run):6.0f} ({ratio:4.2f})" for run, ratio in zip(runs, ratios, strict=True)
        )
        p99s = [run["p99_ms"] for run in runs]
        p99 = max(p99s)
        errors = sum(run["bad_status"] + run["socket_errors"] for run in runs)
        print(f"{name:9} {rounds:48} {statistics.median(ratios):8.2f} {p99:12.1f} {errors:7d}")
        print(f"{'':9} p99 ms per round: {', '.join(f'{ms:.1f}' for ms in p99s)}")
        if "catch_up_s" in runs[0]:
            served = ", ".join(f"{run['rps']:.0f}" for run in runs)
            left = ", ".join(str(run["left"]) for run in runs)
            catch_up = ", ".join(f"{run['catch_up_s']:.2f}" for run in runs)
            print(
                f"{'':9} served req/s: {served}; left buffered after the run: {left},"
                f" recorded in {catch_up} s"
            )
        if name != "trivial":
            ratio = statistics.median(ratios)
            failures += check(f"{name}: median ≥ {GOAL_RATIO}× trivial", ratio >= GOAL_RATIO)
            failures += check(f"{name}: p99 < {GOAL_P99_MS} ms in every round", p99 < GOAL_P99_MS)
            failures += check(f"{name}: no errors", errors == 0)
    for when, counted in rows.items():
        print(f"rows {when}: {counted}")
    first, end = rows["after the first pixel run"], rows["at the end"]
    opens = results["open"][0]["requests"]
    failures += check("every open request left a hit", first["open_hits"] >= opens)
    # wrk's two threads walk alternate items, so which items were hit is known only server-side.
    failures += check(
        "one Opened per item hit (every unique open recorded)",
        first["opened"] == first["items_opened"] > 0,
    )
    clicks = sum(run["requests"] for run in results["click"])
    failures += check("every click left a hit", end["click_hits"] >= clicks)
    failures += check("one Clicked per item clicked", end["clicked"] == end["items_clicked"])
    return failures


def report_statistics(timing: dict) -> int:
    print(
        f"statistics over {timing['log_rows']} log records: campaign_statistics()"
        f" median {statistics.median(timing['seconds']) * 1000:.0f} ms"
        f" (runs: {', '.join(f'{s * 1000:.0f}' for s in timing['seconds'])} ms);"
        f" before VACUUM ANALYZE: {timing['before_vacuum'] * 1000:.0f} ms;"
        f" figures {timing['figures']}"
    )
    return check("statistics well under a second", statistics.median(timing["seconds"]) < 0.5)


def check(goal: str, ok: bool) -> int:
    print(f"  {'PASS' if ok else 'FAIL'}  {goal}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
