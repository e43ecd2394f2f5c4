"""Start-up time of `basket --help`, `basket models` and `basket predict --help`, next to
`python -c pass` (the floor) and `python -c "import torch"` (what the commands must not pay).

Every command runs as a fresh process of the real console script, several times, in this one
run of the script; the runs are interleaved so that a burst of load elsewhere on the machine hits
them alike. The table shows the median and the fastest wall time, the median CPU time (user +
system, less sensitive to other load), the median's ratio to `import torch` (target: under 0.3
for `basket --help`, which should also stay under 0.35 s) and which heavy modules each command
imported.

Python caches compiled modules (``__pycache__``) unless PYTHONDONTWRITEBYTECODE is set, as it
is in some sandboxes; then every start compiles basket's own modules again (installed packages
ship compiled). By default the commands run as for a user, with compiled modules cached (in a
temporary PYTHONPYCACHEPREFIX, so the source tree is not touched); --as-is keeps the
environment's setting.

    python bench/startup.py [--runs 9] [--as-is]
"""

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

from rich.console import Console

from basketcli.render import new_table

HEAVY = ("torch", "xgboost", "pandas", "numpy", "scipy", "pydantic")
PROBE = (
    "import sys\n"
    f"HEAVY = {HEAVY!r}\n"
    "from basketcli.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "found = sorted({m.partition('.')[0] for m in sys.modules} & set(HEAVY))\n"
    "found += sorted({m for m in sys.modules if m.startswith('basketcli_models.')})\n"
    "sys.stderr.write('HEAVY=' + ','.join(found))\n"
)
TORCH = 'python -c "import torch"'


def basket_command() -> list[str]:
    script = Path(sys.executable).parent / "basket"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from basketcli.cli import main; main()"]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str], env: dict[str, str]) -> str:
    """The heavy modules (and model modules) that `basket ARGS` imports."""
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, check=True, env=env)
    return result.stderr.rpartition("HEAVY=")[2].strip() or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per command")
    parser.add_argument("--as-is", action="store_true",
                        help="keep the environment's PYTHONDONTWRITEBYTECODE setting")
    options = parser.parse_args()
    os.environ.setdefault("COLUMNS", "120")  # the table below and the commands' output
    basket = basket_command()
    env = dict(os.environ)
    if not options.as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="basket-startup-")
    bytecode = "off" if env.get("PYTHONDONTWRITEBYTECODE") else "on"

    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"], None),
        ("basket --help", [*basket, "--help"], ["--help"]),
        ("basket models", [*basket, "models"], ["models"]),
        ("basket predict --help", [*basket, "predict", "--help"], ["predict", "--help"]),
        (TORCH, [sys.executable, "-c", "import torch"], None),
    ]
    load_before = os.getloadavg()[0]
    for _label, command, _args in commands:
        timed(command, env)  # warm the file cache and the compiled-module cache
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in commands}
    for _ in range(options.runs):
        for label, command, _args in commands:
            times[label].append(timed(command, env))
    load_after = os.getloadavg()[0]

    medians = {label: statistics.median(w for w, _ in runs) for label, runs in times.items()}
    table = new_table(f"start-up time: {options.runs} interleaved runs each after one warm-up")
    for column in ("command", "median s", "fastest s", "median CPU s", "x import torch",
                   "heavy modules imported"):
        table.add_column(column, justify="left" if column[0] in "ch" else "right")
    for label, _command, args in commands:
        walls = [wall for wall, _ in times[label]]
        cpus = [cpu for _, cpu in times[label]]
        found = heavy_imports(args, env) if args is not None else "-"
        table.add_row(label, f"{medians[label]:.3f}", f"{min(walls):.3f}",
                      f"{statistics.median(cpus):.3f}", f"{medians[label] / medians[TORCH]:.2f}",
                      found)
    console = Console()
    console.print(table)
    console.print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after, "
                  f"on {os.cpu_count()} cores; compiled-module cache {bytecode}", highlight=False)


if __name__ == "__main__":
    main()
