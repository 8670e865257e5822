#!/usr/bin/env python3
"""How many kubectl and helm processes one `migrate` starts, and its wall time, on the tests' API emulator on
loopback (tests/kube_api.py), whose Gateway stand-in reconciles on every write: no wait polls twice, so the time
is the tool's own (processes, reads, writes), not the cluster's.

    .venv/bin/python scripts/bench_migrate.py [--runs N] [--commands] [--go-env default|tests|both]

Each run starts a fresh emulator with the guide's alpha stack, then runs
`migrate --path zero-downtime --stages 0,50,100` and the same command again (a finished migration: it must change
nothing), and `migrate --path simple` on another fresh one. kubectl and helm are shims on PATH that count each
start, then exec the real binaries from .tools/ (scripts/test fetches them). Medians over the runs. "cpu s" is
the CPU time of the tool's process and every process it started (resource.getrusage of the children).
`--go-env tests` runs kubectl and Helm as the test suite does (tests/conftest.py: GOMAXPROCS=1, GOGC=off); `both`
alternates the two run by run, since this machine's speed drifts by a third within minutes."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

SHIM = """#!/bin/sh
echo "{name} $*" >> "{log}"
exec "{real}" "$@"
"""


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def one_run(workdir: Path, path: str, go_env: dict[str, str]) -> list[dict]:
    """The figures of `migrate` (and, zero-downtime, of the same command again) on a fresh emulator."""
    import http.server
    import threading

    from completions import Completions
    from conftest import ALPHA_RELEASE, CHARTS, GO_ENV, crd_mirror, live_alpha_stack, start_cluster

    cluster = start_cluster(workdir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Completions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        live_alpha_stack(cluster)
        bin_dir = Path(cluster.env["PATH"].split(":")[0])
        log = workdir / "commands.log"  # one line per start, in order: "kubectl ARGS" or "helm ARGS"
        for name, real in (("kubectl", REPO / ".tools" / "kubectl"), ("helm", REPO / ".tools" / "helm3")):
            (bin_dir / name).unlink()
            (bin_dir / name).write_text(SHIM.format(name=name, log=log, real=real))
            (bin_dir / name).chmod(0o755)
        env = {key: value for key, value in cluster.env.items() if key not in GO_ENV}  # conftest sets them
        env.update(go_env, HELM_BIN=str(bin_dir / "helm"), KUBECTL=str(bin_dir / "kubectl"))
        (workdir / "state").mkdir()
        args = [
            "migrate",
            "--path",
            path,
            *(["--stages", "0,50,100"] if path == "zero-downtime" else []),
            "--alpha-pool",
            ALPHA_RELEASE,
            "--chart",
            str(CHARTS / "inferencepool-v1.0.0"),
            "--crd-source",
            str(crd_mirror(workdir / "mirror")),
            "--state-dir",
            str(workdir / "state"),
            "--verify-url",
            f"http://127.0.0.1:{server.server_address[1]}/v1/completions",
        ]
        figures = []
        for label in ("migrate", "the same again") if path == "zero-downtime" else ("migrate",):
            log.write_text("")
            began, cpu = time.perf_counter(), children_cpu()
            done = subprocess.run(
                [sys.executable, "-m", "infgw_postrender.cli", *args], capture_output=True, text=True, env=env
            )
            took, cpu = time.perf_counter() - began, children_cpu() - cpu
            if done.returncode != 0:
                raise SystemExit(f"{path} {label} failed ({done.returncode}):\n{done.stderr}")
            lines = log.read_text().splitlines()
            counts = {name: sum(line.startswith(f"{name} ") for line in lines) for name in ("kubectl", "helm")}
            figures.append({"what": f"{path}: {label}", "seconds": took, "cpu": cpu, **counts, "commands": lines})
        return figures
    finally:
        server.shutdown()
        cluster.api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per path (median)")
    parser.add_argument("--commands", action="store_true", help="also list the first run's kubectl and helm commands")
    parser.add_argument("--go-env", choices=["default", "tests", "both"], default="default",
                        help="kubectl and Helm with Go's defaults, as the test suite runs them, or both")  # fmt: skip
    args = parser.parse_args()
    os.environ.pop("KUBECONFIG", None)
    from conftest import GO_ENV  # what the tests set for every Go binary they start

    envs = {"default": {}, "tests": GO_ENV}
    chosen = list(envs) if args.go_env == "both" else [args.go_env]
    rows: dict[str, list[dict]] = {}
    for path in ("zero-downtime", "simple"):
        for _ in range(args.runs):
            for name in chosen:
                with tempfile.TemporaryDirectory() as tmp:
                    for figure in one_run(Path(tmp), path, envs[name]):
                        label = f"{figure['what']} ({name})" if len(chosen) > 1 else figure["what"]
                        rows.setdefault(label, []).append(figure)
    print(f"{'':<44}{'kubectl':>9}{'helm':>6}{'wall s':>9}{'cpu s':>8}")
    for what, runs in rows.items():
        median = {key: statistics.median(run[key] for run in runs) for key in ("kubectl", "helm", "seconds", "cpu")}
        print(
            f"{what:<44}{median['kubectl']:>9.0f}{median['helm']:>6.0f}{median['seconds']:>9.2f}{median['cpu']:>8.2f}"
        )
    for what, runs in rows.items() if args.commands else ():
        print(f"\n{what}:")
        print("".join(f"  {line}\n" for line in runs[0]["commands"]), end="")


if __name__ == "__main__":
    main()
