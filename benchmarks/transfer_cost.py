"""The selection cost of the transfer run, proxy vs target, each `seal select` alone in its own process, repeated.

    python benchmarks/transfer_cost.py [--run runs/transfer/run] [--repeats 2] [--out RUN/../cost] [--more]

The two selections of a finished `seal run configs/transfer.yaml` (benchmarks/transfer.py) are rerun with the
settings in their manifests (select: the proxy; select-target: the target selecting for itself), alternating
proxy and target so that a slow spell of the machine falls on both, each in a fresh process so that its peak RSS
is its own; benchmarks/transfer.py reads the runs in RUN/../cost into docs/transfer.md. Prints each run's wall
time and peak RSS, whether its ranking equals the run's, and the ratio proxy / target of each pair and of the
medians. Wall times on a shared machine vary between identical runs; the repeats show by how much."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from seal.filter import n_kept

STAGES = ("select", "select-target")  # the proxy's selection, the target's own


def cost_dir(run: Path) -> Path:
    """Where the alone runs of the transfer run folder `run` go, and where benchmarks/transfer.py reads them."""
    return run.parent / "cost"


def alone_runs(out: Path) -> dict[str, list[dict]]:
    """{stage: [{"wall", "rss"} of each finished run STAGE-N in `out`, by N]}."""
    runs = {}
    for stage in STAGES:
        found = sorted((f for f in out.glob(f"{stage}-[0-9]*") if (f / "manifest.json").exists()),
                       key=lambda f: int(f.name.rsplit("-", 1)[1]))
        runs[stage] = []
        for f in found:
            m = json.loads((f / "manifest.json").read_text())
            runs[stage].append({"wall": m["wall_time_s"], "rss": m["peak_rss_mib"], "folder": f})
    return runs


def pair_ratios(runs: dict[str, list[dict]]) -> list[float]:
    """Proxy / target wall time of each pair (run N of each stage)."""
    return [p["wall"] / t["wall"] for p, t in zip(runs["select"], runs["select-target"], strict=False)]


def same_kept(reference: list[str], ranking: list[str], keep) -> bool:
    """Whether `ranking` keeps the same rows as `reference` at the run's `keep` (a near tie may swap two neighbours
    in the ranking; what is kept is what counts)."""
    k = n_kept(keep, len(ranking))
    return set(ranking[:k]) == set(reference[:k])


def _keep(run: Path, config: str = "configs/transfer.yaml"):
    """The run's kept fraction: from its run.json, or, for a run stopped after its selections (no run.json yet),
    from the config it was started with."""
    if (run / "run.json").exists():
        return json.loads((run / "run.json").read_text())["config"]["keep"]
    return yaml.safe_load(Path(config).read_text())["keep"]


def kept_as_run(run: Path, stage: str, folder: Path) -> bool:
    """same_kept for the alone run in `folder` and the transfer run's `stage`."""
    keep = _keep(run)
    return same_kept(_ranking(run / stage), _ranking(folder), keep)


def medians(runs: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """{stage: {"wall", "rss"}: the medians over its runs}."""
    return {s: {k: statistics.median(r[k] for r in v) for k in ("wall", "rss")} for s, v in runs.items()}


def _ranking(folder: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (folder / "scores.jsonl").read_text().splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/transfer/run")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", help="where the runs go (default: the run folder's sibling `cost`, where "
                                  "benchmarks/transfer.py looks for them)")
    ap.add_argument("--config", default="configs/transfer.yaml", help="the run's config, read for its `keep` when "
                    "the run stopped after its selections (`seal run` interrupted once select-target was done)")
    ap.add_argument("--more", action="store_true", help="keep the pairs already in --out and add --repeats more "
                    "(the table and medians cover them all)")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    run = Path(args.run)
    out = Path(args.out) if args.out else cost_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    if not args.more:  # a new measurement: earlier runs here would be read with it (alone_runs)
        for old in [f for s in STAGES for f in out.glob(f"{s}-[0-9]*")]:
            print(f"removing the earlier run {old}")
            shutil.rmtree(old)
    results: dict[str, list[dict]] = alone_runs(out) if args.more else {s: [] for s in STAGES}
    done = min(len(v) for v in results.values())
    results = {s: v[:done] for s, v in results.items()}  # whole pairs only; an unpaired run is made again
    settings = {s: json.loads((run / s / "manifest.json").read_text())["config"] for s in results}
    reference = {s: _ranking(run / s) for s in results}
    keep = _keep(run, args.config)
    for i in range(done, done + args.repeats):
        for stage in results:
            folder = out / f"{stage}-{i}"
            cfg = {**settings[stage], "out": str(folder), "overwrite": True, "resume": False, "progress": False}
            config = out / f"{stage}.yaml"
            config.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if v is not None}))  # None: unset
            subprocess.run([sys.executable, "-m", "seal", "select", "-q", "--config", str(config)], check=True)
            m = json.loads((folder / "manifest.json").read_text())
            ranking = _ranking(folder)
            same = ranking == reference[stage]
            k = n_kept(keep, len(ranking))
            kept_same = same_kept(reference[stage], ranking, keep)
            results[stage].append({"wall": m["wall_time_s"], "rss": m["peak_rss_mib"], "folder": folder})
            print(f"{stage} #{i}: wall {m['wall_time_s']:.1f} s, peak RSS {m['peak_rss_mib']:.0f} MiB, "
                  f"ranking {'equal to' if same else 'DIFFERENT from'} the run's, kept {k} "
                  f"{'the same as' if kept_same else 'DIFFERENT from'} the run's", flush=True)
    print("\n| pair | proxy wall s | target wall s | wall ratio | proxy RSS MiB | target RSS MiB | RSS ratio |")
    print("|---|---|---|---|---|---|---|")
    for i, (p, t) in enumerate(zip(results["select"], results["select-target"], strict=True)):
        print(f"| {i} | {p['wall']:.0f} | {t['wall']:.0f} | {p['wall'] / t['wall']:.2f} | {p['rss']:.0f} | "
              f"{t['rss']:.0f} | {p['rss'] / t['rss']:.2f} |")
    med = medians(results)
    p, t = med["select"], med["select-target"]
    print(f"| median | {p['wall']:.0f} | {t['wall']:.0f} | {p['wall'] / t['wall']:.2f} | {p['rss']:.0f} | "
          f"{t['rss']:.0f} | {p['rss'] / t['rss']:.2f} |")
    print(f"median of the pair wall ratios {statistics.median(pair_ratios(results)):.3f}, ratio of the medians "
          f"{p['wall'] / t['wall']:.3f}")


if __name__ == "__main__":
    main()
