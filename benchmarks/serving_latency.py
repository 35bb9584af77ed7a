"""Latency of the served champion: `mlflow models serve` on this machine, a 16-image request.

Run after `make demo` (it uses the demo's registry), from the repository root:

    .venv/bin/python benchmarks/serving_latency.py [--model models:/gig-generator@champion]
        [--tracking-uri sqlite:///mlflow.db] [--requests 30] [--count 16]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/gig-generator@champion")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--count", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": args.tracking_uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            args.model,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - started > 180:
                    raise SystemExit("mlflow models serve did not start; run `make demo` first") from None
                time.sleep(0.5)
        print(
            f"server up in {time.monotonic() - started:.1f} s: {args.model} ({args.tracking_uri}), "
            f"{os.cpu_count()} CPU cores"
        )
        latencies = []
        for i in range(args.requests + 3):
            body = json.dumps(
                {
                    "dataframe_records": [
                        {"articleType": "Tshirts", "baseColour": "Blue", "seed": i, "count": args.count}
                    ]
                }
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
            )
            t = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                assert len(json.loads(response.read())["predictions"]) == args.count
            if i >= 3:  # warm-up
                latencies.append((time.perf_counter() - t) * 1000)
        latencies.sort()
        print(
            f"{args.count}-image request, {args.requests} requests: median {statistics.median(latencies):.1f} ms, "
            f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.1f} ms, max {latencies[-1]:.1f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
