"""Performance tracking: run the asv suite for a commit, then print every tracked figure
against its target and its change since the previous stored result.

    python benchmarks/track.py --quick          # this checkout, before a change lands
    python benchmarks/track.py                  # the full mode (4 Kodak images, 2,000 MNIST)
    python benchmarks/track.py --history        # stored figures, commit by commit
    python benchmarks/track.py --commit SHA --lvc /tmp/wt-SHA --groups entropy

Figures and targets: ``benchmarks/targets.py``. The suite (``benchmarks/asv_suite``) runs
with airspeed velocity in this Python environment (``asv run --python=same``, no network)
and stores one small JSON per commit under ``benchmarks/asv_results/MACHINE/`` (quick mode:
``MACHINE-quick/``, since its smaller inputs move the absolute rates), committed with the
code so the history travels with it. ``--lvc`` measures another checkout of lvc
(a ``git worktree`` of an older commit) with today's benchmarks, recorded as ``--commit``.
Exit status 1 when a figure that met its target at the previous stored result
misses it now (targets not met yet, such as LiVeAction's, show FAIL without failing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "benchmarks" / "asv_results"
SUITE = "tracked"  # the asv module: benchmarks/asv_suite/tracked.py
sys.path.insert(0, str(HERE))

import measure  # noqa: E402  (imports nothing heavy)
import targets  # noqa: E402



def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def run_asv(commit: str, machine: str, quick: bool, lvc: Path, groups: list) -> int:
    """``asv run`` in this environment, results recorded under ``commit``."""
    known = Path.home() / ".asv-machine.json"
    if not known.is_file() or machine not in json.loads(known.read_text()):
        subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--machine", machine],
                       cwd=ROOT, check=True, capture_output=True)
    cmd = [sys.executable, "-m", "asv", "run", "--python=same", "--set-commit-hash", commit,
           "--machine", machine, "--show-stderr", "-b", f"^{SUITE}\\."]
    env = dict(os.environ, ASV_PYTHONPATH=os.pathsep.join([str(lvc), str(HERE)]),
               LVC_TRACK_QUICK="1" if quick else "0", LVC_TRACK_GROUPS=",".join(groups))
    env.setdefault("OMP_NUM_THREADS", "1")  # a busy machine is the usual case here
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def load(results: Path, machine: str) -> dict:
    """``{commit: (date, {figure: value or None})}`` from asv's result files."""
    out = {}
    for path in sorted((results / machine).glob("*.json")):
        data = json.loads(path.read_text())
        if path.name == "machine.json" or data.get("version") != 2:
            continue
        figures = out.setdefault(data["commit_hash"], (data["date"], {}))[1]
        for name, row in data["results"].items():
            if not name.startswith(f"{SUITE}."):
                continue
            values, (params,) = row[0], row[1]  # one parameter: the figure's name
            for param, value in zip(params, values if isinstance(values, list) else []):
                ok = isinstance(value, (int, float)) and value == value  # asv: NaN = skipped
                figures[param.strip("'\"")] = value if ok else None
    return out


def previous(history: dict, commit: str, figure: str):
    """The stored value of ``figure`` at the latest commit dated before ``commit``."""
    date = history[commit][0]
    older = [(d, figs[figure]) for c, (d, figs) in history.items()
             if c != commit and d <= date and figs.get(figure) is not None]
    return max(older, key=lambda x: x[0])[1] if older else None


def rows(history: dict, commit: str) -> list:
    """(target, value, met, previous value) for every tracked figure."""
    figures = history.get(commit, (0, {}))[1]
    return [(t, figures.get(t.name), t.met(figures.get(t.name)),
             previous(history, commit, t.name) if commit in history else None)
            for t in targets.TARGETS]


def _num(v) -> str:
    return "-" if v is None else f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def render(table: list) -> str:
    lines = [f"{'figure':<40}{'value':>9}  {'target':<14}{'':<6}{'previous':>9}{'change':>9}",
             "-" * 87]
    for t, value, met, prev in table:
        verdict = {True: "pass", False: "FAIL", None: "-" if value is not None else "n/a"}[met]
        change = f"{100 * (value / prev - 1):+.1f}%" if value is not None and prev else "-"
        lines.append(f"{t.name:<40}{_num(value):>9}  {targets.describe(t):<14}{verdict:<6}"
                     f"{_num(prev):>9}{change:>9}")
    return "\n".join(lines)


def render_history(history: dict) -> str:
    """Every figure (rows) at every stored commit (columns, oldest first)."""
    commits = sorted(history, key=lambda c: history[c][0])
    lines = [f"{'figure':<40}" + "".join(f"{c[:8]:>10}" for c in commits)]
    for t in targets.TARGETS:
        lines.append(f"{t.name:<40}" +
                     "".join(f"{_num(history[c][1].get(t.name)):>10}" for c in commits))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 Kodak image, 300 MNIST images")
    ap.add_argument("--commit", default="HEAD", help="the commit to record (default HEAD)")
    ap.add_argument("--lvc", type=Path, default=ROOT, help="the lvc checkout to measure")
    ap.add_argument("--groups", default=",".join(measure.GROUPS),
                    help="comma-separated groups (the others are stored as skipped)")
    ap.add_argument("--machine", default=platform.node(),
                    help="asv machine name (quick mode: NAME-quick, a history of its own)")
    ap.add_argument("--no-run", action="store_true", help="only print the stored results")
    ap.add_argument("--history", action="store_true", help="print the stored history")
    args = ap.parse_args(argv)
    commit = git("rev-parse", args.commit)
    machine = args.machine + ("-quick" if args.quick else "")  # each mode its own history
    if args.history:
        print(render_history(load(RESULTS, machine)))
        return 0
    if not args.no_run:
        groups = [g for g in args.groups.split(",") if g]
        unknown = sorted(set(groups) - set(measure.GROUPS))
        if unknown:
            ap.error(f"unknown groups {unknown}; known: {', '.join(measure.GROUPS)}")
        if not (args.lvc / "lvc" / "__init__.py").is_file():
            ap.error(f"{args.lvc}: not an lvc checkout (no lvc/__init__.py)")
        dirty = git("-C", str(args.lvc.resolve()), "status", "--porcelain", "--", "lvc")
        print(f"measuring the lvc at {args.lvc.resolve()} as commit {commit[:8]}"
              + (" (with its uncommitted changes under lvc/)" if dirty else ""))
        run_asv(commit, machine, args.quick, args.lvc.resolve(), groups)
    table = rows(load(RESULTS, machine), commit)
    print(f"\ncommit {commit[:8]}, machine {machine}, "
          f"{'quick' if args.quick else 'full'} mode; targets in benchmarks/targets.py")
    print(render(table))
    lost = [t.name for t, _, met, prev in table if met is False and t.met(prev)]
    if lost:
        print(f"regressed below target since the previous result: {', '.join(lost)}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
