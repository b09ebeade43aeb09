"""`seal report RUN_DIR`: a Markdown report (report.md, plots in plots/) and an HTML one with the plots embedded
(report.html), from the files a `seal run` folder holds. Every number is read from a file in the run folder."""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError

log = logging.getLogger(__name__)

MODELS = (("eval-start", "starting model (aligned)"), ("eval-full", "fine-tuned on the full set"),
          ("eval-random", "fine-tuned on a random fraction"), ("eval-seal", "fine-tuned on SEAL's selection"),
          ("eval-seal-target", "fine-tuned on the target's own SEAL selection"))
# Selection stages: the proxy's, and with `compare: [..., seal-target]` the target's own.
SELECTORS = (("select", "proxy"), ("select-target", "target (own selector)"))


@dataclass(kw_only=True)
class ReportConfig:
    run_dir: str = field(metadata={"help": "a seal run folder"})
    samples: int = field(default=8, metadata={"help": "lowest- and highest-ranked samples to show"})


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _fmt(v, digits=3) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _short(text: str, n: int = 140) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _plots(run: Path, scores: list[dict], labels: dict | None, train_log: list[dict],
           score_name: str = "score") -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, plots = run / "plots", []
    out.mkdir(exist_ok=True)
    if scores and labels:
        import numpy as np

        fig, ax = plt.subplots(figsize=(6, 3.5))
        edges = np.histogram_bin_edges([s["score"] for s in scores], bins=40)   # the same bins for both labels
        for name, colour in (("benign", "tab:blue"), ("harmful", "tab:red")):
            values = [s["score"] for s in scores if labels.get(s["index"]) == (name == "harmful")]
            if values:
                ax.hist(values, bins=edges, alpha=0.6, color=colour, label=f"{name} ({len(values)})")
        ax.set_xlabel(f"{score_name} (higher = keep)")
        ax.set_ylabel("samples")
        ax.set_title("Score distribution by known label")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "scores.png", dpi=110)
        plt.close(fig)
        plots.append(("Score distributions of harmful and benign samples", out / "scores.png"))
    if train_log:
        steps = [r["step"] for r in train_log]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, label in (("safe_loss", "safe loss"), ("ft_loss", "weighted fine-tuning loss (theta)"),
                           ("hat_loss", "weighted fine-tuning loss (theta_hat)")):
            if key in train_log[0]:
                ax.plot(steps, [r[key] for r in train_log], label=label, linewidth=1)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax2 = ax.twinx()
        ax2.plot(steps, [r["gamma"] for r in train_log], color="black", linestyle="--", label="gamma")
        ax2.set_ylabel("gamma")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="lower left")
        ax.set_title("Selector training curves")
        fig.tight_layout()
        fig.savefig(out / "selector.png", dpi=110)
        plt.close(fig)
        plots.append(("Selector training curves", out / "selector.png"))
    return plots


def _overlap_text(a: list[dict], b: list[dict], keep: float) -> str:
    """How alike two rankings of the same samples are: Spearman correlation, and the share of one's kept
    fraction that the other keeps too."""
    from scipy.stats import spearmanr

    from .filter import n_kept

    rank_a, rank_b = {r["id"]: r["rank"] for r in a}, {r["id"]: r["rank"] for r in b}
    ids = sorted(set(rank_a) & set(rank_b))
    n_keep = n_kept(keep, len(ids))
    kept_a = set(sorted(ids, key=rank_a.get)[:n_keep])
    kept_b = set(sorted(ids, key=rank_b.get)[:n_keep])
    rho = spearmanr([rank_a[i] for i in ids], [rank_b[i] for i in ids])[0] if len(ids) > 1 else float("nan")
    return (f"{len(ids)} samples ranked by both. Spearman correlation of the two rankings {rho:.3f}; of the "
            f"{n_keep} samples each keeps, {len(kept_a & kept_b)} are kept by both "
            f"({len(kept_a & kept_b) / n_keep:.1%}).")


def build_sections(run: Path, n_samples: int = 8) -> tuple[list, list[tuple[str, Path]]]:
    """The report as a list of ("h"|"p"|"table", content) blocks, and the plots."""
    from .metrics import detection_metrics, read_labels

    blocks: list = []
    run_info = _read_json(run / "run.json") or {}
    cfg = run_info.get("config", {})
    blocks.append(("h", "SEAL run report"))
    blocks.append(("p", f"Run folder `{run}`. Proxy/base model `{cfg.get('model', '?')}`"
                        f"{' (aligned first)' if cfg.get('align') else ''}; kept fraction {cfg.get('keep', '?')}; "
                        f"seed {cfg.get('seed', '?')}."))

    evals = [(name, label, _read_json(run / name / "metrics.json")) for name, label in MODELS]
    evals = [(n, lab, m) for n, lab, m in evals if m]
    if evals:
        primary = evals[0][2]["primary_judge"]
        judges = list(evals[0][2].get("harmful", {}).get("refusal_rate", {}))
        header = ["model"] + [f"refusal ({j})" for j in judges] + [f"over-refusal ({primary})", "task accuracy",
                                                                  "held-out loss", "fine-tune wall s"]
        rows = []
        for name, label, m in evals:
            ft = _read_json(run / name.replace("eval-", "ft-") / "manifest.json") or {}
            rows.append([label] + [_fmt(m.get("harmful", {}).get("refusal_rate", {}).get(j)) for j in judges]
                        + [_fmt(m.get("benign", {}).get("over_refusal_rate", {}).get(primary)),
                           _fmt(m.get("tasks", {}).get("accuracy")), _fmt(m.get("heldout", {}).get("mean_loss")),
                           _fmt(ft.get("wall_time_s"), 0)])
        blocks.append(("h2", "Safety and utility"))
        n = evals[0][2]
        blocks.append(("p", f"Refusal on {n.get('harmful', {}).get('n', 0)} held-out harmful prompts, over-refusal "
                            f"on {n.get('benign', {}).get('n', 0)} benign prompts, exact-match accuracy on "
                            f"{n.get('tasks', {}).get('n', 0)} task prompts (from each eval-*/metrics.json)."))
        blocks.append(("table", (header, rows)))

    labels_path = run_info.get("labels")
    labels = read_labels(labels_path) if labels_path and Path(labels_path).exists() else None
    keep = cfg.get("keep", 0.8)
    selections = [(stage, who, _read_jsonl(run / stage / "scores.jsonl"), _read_json(run / stage / "manifest.json"))
                  for stage, who in SELECTORS]
    scores, select_manifest = selections[0][2], selections[0][3] or {}   # the proxy's ("select")
    selections = [x for x in selections if x[2]]
    if selections:
        from .filter import n_kept

        rows = []
        dets = [detection_metrics(sc, labels, drop_fraction=1 - keep) if labels else {} for _, _, sc, _ in selections]
        for (_, who, sc, man), det in zip(selections, dets):
            man = man or {}
            rows.append([who, f"`{man.get('model', {}).get('name', '?')}`", len(sc), det.get("harmful", "-"),
                         _fmt(det.get("auroc")), _fmt(det.get("average_precision")), det.get("harmful_in_dropped", "-"),
                         _fmt(det.get("harmful_recall_in_dropped")), _fmt(man.get("wall_time_s"), 0),
                         _fmt(man.get("peak_rss_mib"), 0), _fmt(man.get("peak_cuda_mib"), 0)])
        n_drop = dets[0]["dropped"] if labels else len(selections[0][2]) - n_kept(keep, len(selections[0][2]))
        blocks.append(("h2", "How well the scores find the harmful samples" if labels else "Selection"))
        blocks.append(("table", (["selector", "model", "samples", "harmful", "AUROC", "average precision",
                                  f"harmful among the dropped {n_drop}", "harmful recall in dropped",
                                  "selection wall s", "peak RSS MiB", "peak CUDA MiB"], rows)))
    if len(selections) == 2:
        blocks.append(("h2", "Proxy and target rankings"))
        blocks.append(("p", _overlap_text(selections[0][2], selections[1][2], keep)))
    if scores:
        data_rows = {}
        data_path = cfg.get("data") or str(run / "mix" / "mix.jsonl")
        if Path(data_path).exists():
            from .data import load_samples
            samples, _, _ = load_samples(data_path)
            data_rows = {s.index: s for s in samples}
        for title, chunk in (("Lowest-ranked samples (dropped first)", scores[::-1][:n_samples]),
                             ("Highest-ranked samples (kept first)", scores[:n_samples])):
            rows = []
            for s in chunk:
                sample = data_rows.get(s["index"])
                rows.append([s["rank"], _fmt(s["score"]), "-" if labels is None else
                             ("harmful" if labels.get(s["index"]) else "benign"),
                             _short(sample.prompt[-1]["content"], 80) if sample else "?",
                             _short(sample.response, 100) if sample else "?"])
            blocks.append(("h2", title))
            blocks.append(("table", (["rank", "score", "label", "prompt", "response"], rows)))

    train_log = _read_jsonl(run / "select" / "train_log.jsonl")
    REFUSAL_AXIS = "score: minus visit gap + refusal signals (z)"
    score_kind = (select_manifest.get("config") or {}).get("score")
    plots = _plots(run, scores, labels, train_log, {"visit-gap": "score: minus the visit loss gap",
                                                   "visit-gap+refusal": REFUSAL_AXIS,
                                                   "visit-gap+propensity": REFUSAL_AXIS,
                                                   "visit-gap+refusal+propensity": REFUSAL_AXIS,
                                                   "visit-gap+refusal+relay": REFUSAL_AXIS,
                                                   "visit-gap+refusal+relay+direction": REFUSAL_AXIS,
                                                   "visit-gap+refusal+relay+anchored": REFUSAL_AXIS,
                                                   "weights": "score: learned logit"}.get(score_kind, "score"))
    if evals:
        blocks.append(("h2", "Judges"))
        for name, agreement in evals[0][2].get("judges", {}).items():
            shown = {k: v for k, v in agreement.items() if isinstance(v, (int, float, str)) and k != "name"}
            blocks.append(("p", f"`{name}`: " + ", ".join(f"{k} {v}" for k, v in list(shown.items())[:8])))
    return blocks, plots


def _markdown(blocks, plots, run: Path) -> str:
    lines = []
    for kind, content in blocks:
        if kind == "h":
            lines += [f"# {content}", ""]
        elif kind == "h2":
            lines += [f"## {content}", ""]
        elif kind == "p":
            lines += [content, ""]
        else:
            header, rows = content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    for title, path in plots:
        lines += [f"## {title}", "", f"![{title}]({path.relative_to(run)})", ""]
    return "\n".join(lines)


def _html(blocks, plots) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>SEAL run report</title><style>"
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;} table{border-collapse:collapse;"
             "font-size:13px} td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}</style></head><body>"]
    for kind, content in blocks:
        if kind in ("h", "h2"):
            tag = "h1" if kind == "h" else "h2"
            parts.append(f"<{tag}>{html.escape(content)}</{tag}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(content)}</p>")
        else:
            header, rows = content
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
    for title, path in plots:
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<h2>{html.escape(title)}</h2>"
                     f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir, n_samples: int = 8) -> Path:
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"{run}: not a run folder (seal run writes one)")
    blocks, plots = build_sections(run, n_samples)
    (run / "report.md").write_text(_markdown(blocks, plots, run))
    (run / "report.html").write_text(_html(blocks, plots))
    return run / "report.md"


def run_report(cfg: ReportConfig) -> dict:
    path = write_report(cfg.run_dir, cfg.samples)
    return {"report": str(path), "html": str(path.with_suffix(".html"))}
