"""A bounded load test of `gig serve` on 127.0.0.1: fair and hostile clients at once, fixed
duration, then the server's health.

Run after `make demo` (it serves the demo's champion), from the repository root:

    .venv/bin/python benchmarks/serving_load.py [--model models:/gig-generator@champion]
        [--tracking-uri sqlite:///mlflow.db] [--seconds 60] [--clients 4]

Clients (each its own thread, in a loop for --seconds): `fair` asks for 16 images; `max` for
the most one request may (256); `rows` sends 1,000 rows of 256 images in a small body (the
probe that kept the old server busy for minutes); `body` sends a 50 MB body; `leaver` asks for
256 images and hangs up at once. Records latency per kind, status codes, and the server's RSS
(sampled every 0.2 s), then checks /ping and a fair request after the load.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

FAIR = json.dumps({"dataframe_records": [{"seed": 1, "count": 16}]}).encode()
MAX = json.dumps({"dataframe_records": [{"seed": 2, "count": 256}]}).encode()
ROWS = json.dumps({"dataframe_records": [{"count": 256}] * 1000}).encode()
BODY = b" " * 50_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(port: int, body: bytes, timeout: float = 120) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (ConnectionError, OSError):  # a server that refuses a 50 MB body may close before reading it all
        return -1
    finally:
        connection.close()


def leave(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(MAX) + MAX)
    return 0  # closed without reading the answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/gig-generator@champion")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4, help="threads per kind of client")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gig_core.cli",
            "serve",
            "--model",
            args.model,
            "--tracking-uri",
            args.tracking_uri,
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    started = time.monotonic()
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/ping")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() - started > 120:
                sys.exit(f"serving_load.py: gig serve did not start: {server.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
    idle_rss = rss_mb(server.pid)
    print(
        f"gig serve up in {time.monotonic() - started:.1f} s: {args.model}, {os.cpu_count()} CPU cores, "
        f"RSS {idle_rss:.0f} MB",
        flush=True,
    )

    kinds = {
        "fair": lambda: post(port, FAIR),
        "max": lambda: post(port, MAX),
        "rows": lambda: post(port, ROWS),
        "body": lambda: post(port, BODY),
        "leaver": lambda: leave(port),
    }
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    rss: list[float] = []
    stop = time.monotonic() + args.seconds

    def client(kind: str) -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            status = kinds[kind]()
            latencies[kind].append(time.perf_counter() - t0)
            statuses[kind][status] += 1
            if kind == "leaver":
                time.sleep(0.5)

    def sample_rss() -> None:
        while time.monotonic() < stop + 5:
            rss.append(rss_mb(server.pid))
            time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(k,)) for k in kinds for _ in range(args.clients)]
    threads.append(threading.Thread(target=sample_rss))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print(f"{args.seconds:.0f} s, {args.clients} clients of each kind:")
    for kind in kinds:
        values = sorted(latencies[kind])
        p95 = values[int(0.95 * (len(values) - 1))] if values else float("nan")
        print(
            f"  {kind:7s} {len(values):5d} requests  median {statistics.median(values) * 1000:8.1f} ms  "
            f"p95 {p95 * 1000:8.1f} ms  max {values[-1] * 1000:8.1f} ms  statuses {dict(statuses[kind])}"
        )
    print(f"server RSS: idle {idle_rss:.0f} MB, peak {max(rss):.0f} MB, after {rss[-1]:.0f} MB")
    t0 = time.perf_counter()
    ping = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ping.request("GET", "/ping")
    ping_status = ping.getresponse().status
    fair_status = post(port, FAIR)
    print(
        f"after the load: /ping {ping_status}, a 16-image request {fair_status} "
        f"({(time.perf_counter() - t0) * 1000:.0f} ms for both)"
    )
    server.terminate()
    server.wait(timeout=30)
    if ping_status != 200 or fair_status != 200:
        sys.exit("serving_load.py: the server is not healthy after the load")


if __name__ == "__main__":
    main()
