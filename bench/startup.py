"""Start-up time of `basket --help` and `basket models`, next to `python -c "import torch"`.

Every command runs as a fresh process, several times, in this one run of the script; the table
shows the median and the fastest run, and which heavy modules each basket command imported
(none of torch, xgboost, pandas is the goal: they belong to fit/score, not to listing).

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from basketcli.render import new_table

HEAVY = ("torch", "xgboost", "pandas")
PROBE = (
    "import sys\n"
    "from basketcli.cli import main\n"
    "sys.argv = ['basket', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    f"sys.stderr.write('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def basket_command() -> list[str]:
    script = Path(sys.executable).parent / "basket"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from basketcli.cli import main; main()"]


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def heavy_imports(args: list[str]) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, check=True)
    found = result.stderr.rpartition("HEAVY=")[2].strip()
    return found or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    runs = parser.parse_args().runs
    os.environ.setdefault("COLUMNS", "120")
    basket = basket_command()
    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"], None),
        ("basket --help", [*basket, "--help"], ["--help"]),
        ("basket models", [*basket, "models"], ["models"]),
        ('python -c "import torch"', [sys.executable, "-c", "import torch"], None),
    ]
    table = new_table(f"start-up time ({runs} runs each, one warm-up run not counted)")
    for column in ("command", "median s", "fastest s", "heavy modules imported"):
        table.add_column(column, justify="left" if column in ("command",
                                                              "heavy modules imported")
                         else "right")
    for label, command, probe_args in commands:
        seconds(command)  # warm the file cache
        times = [seconds(command) for _ in range(runs)]
        heavy = heavy_imports(probe_args) if probe_args is not None else "-"
        table.add_row(label, f"{statistics.median(times):.3f}", f"{min(times):.3f}", heavy)
    Console().print(table)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    Console().print(f"load average (1 min) while measuring: {load:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
