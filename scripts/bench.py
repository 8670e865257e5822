#!/usr/bin/env python3
"""Time infgw-postrender beside `cat`, a libyaml round trip and `kubectl kustomize`, on these streams:

  (a) one chart: the v1.0.0 chart rendered with provider gke (12 documents)
  (b) umbrella: 12,000 documents, 10 inferencepool releases, the rest ordinary Deployments/Services/ConfigMaps
  (g) 1,000 inferencepool releases rendered on the GA API (12,000 documents), every one renamed, given objectives
      and a traffic split
  (c) (g)'s releases rendered on the alpha API (inferencePool.apiVersion=inference.networking.x-k8s.io/v1alpha2):
      every pool is converted

Prints medians of several runs, the ratios the goals are stated in (each the median of pairs run back to back:
this machine's speed drifts within the hour), and peak memory (max RSS of the child). With `--compare DIR` (a
checkout of another commit, `git worktree add DIR REV`), that checkout's post-renderer runs in the same turns, so
before and after are measured on the same machine in the same minutes.
Checks that (b)'s untouched documents come out byte for byte.

And `detect --from-file` on (d): a snapshot as `kubectl get crd,inferencepools...,httproutes -A -o yaml` writes
it, 80 CRDs (the fixtures' CRDs under other names, each with the last-applied copy `kubectl apply` leaves) and
the alpha objects, about 21 MB. Targets: under 2 s and under 100 MiB.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHARTS = Path(os.environ.get("INFGW_SHARED", REPO.parent / "shared")) / "fixtures" / "charts"
VENV = Path(sys.executable).parent
HELM = REPO / ".tools" / "helm3"
KUBECTL = REPO / ".tools" / "kubectl"
RELEASE_FLAGS = [
    "--pool-name={release}-v1",
    "--alpha-pool={release}-alpha",
    "--ga-weight=50",
    "--objective={release}-chat=2",
    "--objective={release}-batch=0",
    "--route-name={release}-route",
    "--offline",
]


def render(release: str, namespace: str = "default", *extra: str) -> str:
    return subprocess.run(
        [
            str(HELM),
            "template",
            release,
            str(CHARTS / "inferencepool-v1.0.0"),
            "-n",
            namespace,
            "--set",
            "inferencePool.modelServers.matchLabels.app=vllm",
            "--set",
            "provider.name=gke",
            *extra,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def ordinary(number: int) -> str:
    """A Deployment, a Service and a ConfigMap of an ordinary application."""
    name = f"app-{number:05d}"
    return f"""---
# Source: umbrella/charts/app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      containers:
        - name: web
          image: "registry.example/web:1.{number % 7}.0"
          args: ["--port", "8080"]
          ports:
            - containerPort: 8080
---
# Source: umbrella/charts/app/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - port: 80
      targetPort: 8080
---
# Source: umbrella/charts/app/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  settings.yaml: |
    level: info   # comment kept
    workers: {number % 16}
"""


def one_release(template: str, release: str) -> str:
    return template.replace("bench-pool", release)


def build_streams(workdir: Path) -> dict[str, Path]:
    template = render("bench-pool")
    streams = {"a": template}
    pools = [one_release(template, f"pool-{n:02d}") for n in range(10)]
    apps = [ordinary(n) for n in range((12_000 - 10 * 12) // 3)]
    step = len(apps) // 10
    umbrella = []
    for n, pool in enumerate(pools):
        umbrella.extend(apps[n * step : (n + 1) * step])
        umbrella.append(pool)
    umbrella.extend(apps[10 * step :])
    streams["b"] = "".join(part if part.endswith("\n") else part + "\n" for part in umbrella)
    streams["g"] = "".join(one_release(template, f"pool-{n:04d}") + "\n" for n in range(1000))
    streams["g1200"] = "".join(one_release(template, f"pool-{n:04d}") + "\n" for n in range(100))
    streams["g3600"] = "".join(one_release(template, f"pool-{n:04d}") + "\n" for n in range(300))
    # (c): the same 1,000 releases rendered for the alpha API, so that every pool is converted (issue 12)
    alpha = render("bench-pool", "default", "--set", "inferencePool.apiVersion=inference.networking.x-k8s.io/v1alpha2")
    streams["c"] = "".join(one_release(alpha, f"pool-{n:04d}") + "\n" for n in range(1000))
    paths = {}
    for key, text in streams.items():
        paths[key] = workdir / f"{key}.yaml"
        paths[key].write_text(text)
    return paths


def run(command: list[str], stdin: Path) -> tuple[float, int, bytes]:
    """Wall time, the command's own peak RSS (KiB) and its stdout.

    Memory comes from GNU time (/usr/bin/time -f %M), a small launcher: measured from this process, a child
    would count the benchmark's own memory (inherited at fork, recorded at exec) as its peak.
    """
    with open(stdin, "rb") as source, tempfile.NamedTemporaryFile() as peak_file:
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", peak_file.name, *command], stdin=source, capture_output=True
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{command[0]} failed: {done.stderr.decode()[-2000:]}")
        return elapsed, int(Path(peak_file.name).read_text().split()[-1]), done.stdout


def median_of(runs: int, command: list[str], stdin: Path) -> tuple[float, int, bytes]:
    results = [run(command, stdin) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results), results[-1][2]


def paired(
    runs: int, ours: list[str], baseline: list[str], stdin: Path, other: list[str] | None = None
) -> tuple[float, float, float, int, bytes, float | None]:
    """Ours and the baseline run by turns: (median of ours, of the baseline, of the pairs' ratios, ours' peak RSS,
    ours' output, and the median ratio of `other` to the same baseline when given, run in the same turn). On a
    shared machine whose speed drifts from second to second, a ratio of two medians taken apart moves by a third;
    a pair run back to back sees the same machine."""
    turns = [(run(ours, stdin), run(baseline, stdin), run(other, stdin) if other else None) for _ in range(runs)]
    return (
        statistics.median(t[0][0] for t in turns),
        statistics.median(t[1][0] for t in turns),
        statistics.median(t[0][0] / t[1][0] for t in turns),
        max(t[0][1] for t in turns),
        turns[-1][0][2],
        statistics.median(t[2][0] / t[1][0] for t in turns) if other else None,
    )


def kustomize(stream: Path, workdir: Path, runs: int) -> float:
    folder = workdir / f"kustomize-{stream.stem}"
    folder.mkdir(exist_ok=True)
    (folder / "all.yaml").write_text(stream.read_text())
    (folder / "kustomization.yaml").write_text("resources: [all.yaml]\nnamePrefix: ga-\n")
    return median_of(runs, [str(KUBECTL), "kustomize", str(folder)], Path(os.devnull))[0]


LIBYAML = (
    "import sys, yaml; docs = list(yaml.load_all(sys.stdin, Loader=yaml.CSafeLoader)); "
    "sys.stdout.write(yaml.dump_all(docs, Dumper=yaml.CSafeDumper))"
)


def build_snapshot(workdir: Path) -> Path:
    """(d): 80 CRDs, the alpha pool, its models and route, as one `kind: List` in kubectl's YAML layout."""
    import json

    import yaml

    fixtures = CHARTS.parent
    crds = [
        doc
        for path in sorted((fixtures / "crds").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    inference = list(
        {crd["metadata"]["name"]: crd for crd in crds if crd["spec"]["group"].startswith("inference.")}.values()
    )
    # the rest: Gateway API's CRDs under other names, so that 80 CRDs weigh what they do in a real cluster (~21 MB)
    large = [crd for crd in crds if crd["spec"]["group"] == "gateway.networking.k8s.io"]
    items = []
    for number in range(80):
        crd = json.loads(json.dumps(inference[number] if number < len(inference) else large[number % len(large)]))
        if number >= len(inference) + len(large):
            crd["metadata"]["name"] = f"copy{number}.{crd['metadata']['name']}"
        crd["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(
            crd
        )
        crd["status"] = {"conditions": [{"type": "Established", "status": "True"}], "storedVersions": ["v1"]}
        items.append(crd)
    for name in ("v0.3.0-inferencemodels.yaml", "v0.3.0-gke-httproute.yaml"):
        items += [doc for doc in yaml.safe_load_all((fixtures / "objects" / name).read_text()) if doc]
    items.append(
        {
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
            "kind": "InferencePool",
            "metadata": {"name": "vllm-llama3-8b-instruct", "namespace": "default"},
            "spec": {
                "selector": {"app": "vllm-llama3-8b-instruct"},
                "targetPortNumber": 8000,
                "extensionRef": {"name": "vllm-llama3-8b-instruct-epp"},
            },
        }
    )
    path = workdir / "snapshot.yaml"
    path.write_text(
        yaml.dump(
            {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
            Dumper=yaml.CSafeDumper,
            default_flow_style=False,
            width=1 << 30,
        )
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--kustomize-all", action="store_true", help="also run kustomize on 12,000 documents (minutes)")
    parser.add_argument("--compare", metavar="DIR", help="another checkout whose post-renderer runs in the same turns")
    args = parser.parse_args()
    # pip compiles what it installs, but not an editable install, and PYTHONDONTWRITEBYTECODE keeps imports from
    # doing it: without this, (a) would time the compiler
    import compileall

    compileall.compile_dir(REPO / "infgw_postrender", quiet=1)
    post = [str(VENV / "infgw-postrender"), "-q"]
    python = str(VENV / "python")
    other = None
    if args.compare:  # the other checkout's package first on the path; the same interpreter and dependencies
        compileall.compile_dir(Path(args.compare) / "infgw_postrender", quiet=1)
        entry = "from infgw_postrender.cli.postrender import main; main()"  # as the console script does
        # -P: not the working directory (this checkout) first on the path
        other = ["env", f"PYTHONPATH={Path(args.compare).resolve()}", python, "-P", "-c", entry, "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        streams = build_streams(workdir)
        rows = []
        figures: dict[str, float] = {}
        for key, flags in (("a", []), ("b", []), ("g", RELEASE_FLAGS), ("g1200", RELEASE_FLAGS), ("c", RELEASE_FLAGS)):
            stream = streams[key]
            cat = median_of(args.runs, ["cat"], stream)[0]
            ours, libyaml, ratio, peak, output, theirs = paired(
                args.runs, post + flags, [python, "-c", LIBYAML], stream, other + flags if other else None
            )
            figures[key], figures[f"{key}-ratio"], figures[f"{key}-compared"] = ours, ratio, theirs
            size = stream.stat().st_size
            rows.append(
                (
                    key,
                    stream.read_text().count("\nkind:") + stream.read_text().startswith("kind:"),
                    size,
                    cat,
                    libyaml,
                    ours,
                    peak,
                )
            )
            if key == "b":
                check_untouched(stream.read_text(), output.decode())
        start_floor = paired(args.runs, post, [python, "-c", "import click, ruamel.yaml"], streams["a"])
        kustomize_1200 = kustomize(streams["g1200"], workdir, 1)
        kustomize_3600 = kustomize(streams["g3600"], workdir, 1)
        kustomize_12000 = kustomize(streams["g"], workdir, 1) if args.kustomize_all else None
        snapshot = build_snapshot(workdir)
        detect = [str(VENV / "infgw-migrate"), "detect", "--from-file", str(snapshot), "-o", "json"]
        detect_time, detect_peak, detect_out = median_of(args.runs, detect, Path(os.devnull))
        if b'"vllm-llama3-8b-instruct"' not in detect_out:
            raise SystemExit("detect --from-file did not find the alpha pool in (d)")
        snapshot_size = snapshot.stat().st_size

    print(
        f"{'stream':<7}{'docs':>7}{'MB':>7}{'cat s':>9}{'libyaml s':>11}{'ours s':>9}{'ours/libyaml':>14}{'peak MiB':>10}"
    )
    for key, count, size, cat, libyaml, ours, peak in rows:
        print(
            f"{key:<7}{count:>7}{size / 1e6:>7.2f}{cat:>9.3f}{libyaml:>11.3f}{ours:>9.3f}{figures[key + '-ratio']:>14.3f}"
            f"{peak / 1024:>10.1f}"
        )
    # kustomize grows faster than linearly; its exponent is the one it showed between 1,200 and 3,600 documents
    exponent = math.log(kustomize_3600 / kustomize_1200) / math.log(3)
    extrapolated = kustomize_3600 * (12_000 / 3_600) ** exponent
    measured = f"{kustomize_12000:.1f} s measured" if kustomize_12000 else f"{extrapolated:.0f} s extrapolated"
    g_size = next(r[2] for r in rows if r[0] == "g")
    g_peak = next(r[6] for r in rows if r[0] == "g")
    own = run(post, Path(os.devnull))[1]
    print()

    def verdict(figure: float, goal: float) -> str:
        return f"goal <= {goal} {'met' if figure <= goal else 'NOT met'}"  # three decimals: 0.254 is not 0.25

    def ratio_line(key: str, what: str, goal: float) -> None:
        compared = figures.get(f"{key}-compared")
        then = f"   ({args.compare}: {compared:.3f}x)" if compared is not None else ""
        ratio = figures[key + "-ratio"]
        print(f"{key}: {what}, vs a libyaml round trip: {ratio:.3f}x   {verdict(ratio, goal)}{then}")

    ratio_line("c", "rendered on the alpha API (every pool converted)", 0.25)
    ratio_line("g", "rendered on the GA API", 0.2)
    ratio_line("b", "10 alpha releases among 11,880 ordinary documents", 0.08)
    print(
        f"a: one chart, whole process vs `python -c 'import click, ruamel.yaml'` ({start_floor[1]:.3f} s): "
        f"{start_floor[2]:.3f}x   {verdict(start_floor[2], 1.2)}"
    )
    linearity = figures["g"] / figures["g1200"]
    print(f"g: linearity, time(12,000 docs) / time(1,200 docs): {linearity:.2f}   {verdict(linearity, 10.5)}")
    memory = (g_peak - own) / (g_size / 1024)
    print(
        f"g: peak memory {g_peak / 1024:.0f} MiB for {g_size / 2**20:.1f} MiB of input; the interpreter's own "
        f"(infgw-postrender on empty input) {own / 1024:.0f} MiB; (peak - own) / input = "
        f"{memory:.2f}   {verdict(memory, 3)}"
    )
    print(
        f"g vs kustomize on 12,000 documents ({measured}; 1,200 took {kustomize_1200:.1f} s, "
        f"3,600 took {kustomize_3600:.1f} s, growth n^{exponent:.2f}): "
        f"{(kustomize_12000 or extrapolated) / figures['g']:.0f}x faster"
    )
    print(
        f"d: detect --from-file, {snapshot_size / 1e6:.1f} MB snapshot of 80 CRDs: {detect_time:.2f} s, "
        f"peak {detect_peak / 1024:.0f} MiB   goals < 2 s, < 100 MiB"
    )


def check_untouched(before: str, after: str) -> None:
    """Every ordinary document of (b) comes out byte for byte."""
    missing = [chunk for chunk in before.split("---\n") if "umbrella/charts/app" in chunk and chunk not in after]
    if missing:
        raise SystemExit(f"(b): {len(missing)} untouched documents changed, e.g.:\n{missing[0][:400]}")


if __name__ == "__main__":
    main()
