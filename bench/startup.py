"""Start-up time of `basket --help` and `basket models`, next to `python -c pass` (the floor).

Every command runs as a fresh process of the real console script, several times, in this one
run of the script; the runs of the commands are interleaved so that a burst of load elsewhere
on the machine hits them alike. The table shows the median and the fastest wall time, the
median CPU time (user + system, less sensitive to other load than wall time) and which of the
modules the fast start defers each command imported.

`basket --help` and `basket models` answer from a small startup cache (basketcli.cli.fastpath,
basketcli.cli.listing): the "warm" rows are the usual case (the cache was filled by an earlier
run, here the warm-up run), the "no cache" rows start every run with an empty cache folder,
as right after installing basket or a plugin. Every other command goes through Typer, with only
the module that defines it (basketcli.cli.command_map; `basket predict --help` here), or with
every command module as before when BASKET_FAST_START=0. The cache lives in a temporary
folder, not in the user's.

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
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from basketcli.render import new_table

# Modules `basket --help` and `basket models` leave for the commands that need them.
DEFERRED = ("torch", "xgboost", "pandas", "numpy", "pydantic", "typer", "plugins")
PROBE = (
    "import sys\n"
    "from basketcli.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    f"found = sorted({{m.partition('.')[0] for m in sys.modules}} & set({DEFERRED!r}))\n"
    "sys.stderr.write('DEFERRED=' + ','.join(found))\n"
)


def basket_command() -> list[str]:
    script = Path(sys.executable).parent / "basket"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'basket'\n"
            "from basketcli.cli import main; main()"]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def deferred_imports(args: list[str], env: Callable[[], dict[str, str]], probe_dir: Path) -> str:
    """The deferred modules the second of two runs imports. The probe is a script named
    basket, like the console script; the first run fills its startup cache for the warm rows."""
    script = probe_dir / "basket"
    script.write_text(PROBE)
    found = ""
    for _ in range(2):
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                                text=True, check=True, env=env())
        found = result.stderr.rpartition("DEFERRED=")[2].strip()
    return found or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per command")
    parser.add_argument("--as-is", action="store_true",
                        help="keep the environment's PYTHONDONTWRITEBYTECODE setting")
    options = parser.parse_args()
    runs = options.runs
    os.environ.setdefault("COLUMNS", "120")  # the table below and the commands' output
    basket = basket_command()
    work = Path(tempfile.mkdtemp(prefix="basket-startup-"))
    warm = {**os.environ, "BASKET_CACHE_DIR": str(work / "cache")}
    if not options.as_is:
        warm.pop("PYTHONDONTWRITEBYTECODE", None)
        warm["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    bytecode = "off" if warm.get("PYTHONDONTWRITEBYTECODE") else "on"

    def cold() -> dict[str, str]:  # a new, empty cache folder for every run
        return {**warm, "BASKET_CACHE_DIR": tempfile.mkdtemp(dir=work)}

    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"], None, lambda: warm),
        ("basket --help", [*basket, "--help"], ["--help"], lambda: warm),
        ("basket models", [*basket, "models"], ["models"], lambda: warm),
        ("basket --help (no cache)", [*basket, "--help"], ["--help"], cold),
        ("basket models (no cache)", [*basket, "models"], ["models"], cold),
        ("basket predict --help (Typer)", [*basket, "predict", "--help"], ["predict", "--help"],
         lambda: warm),
        ("  same, BASKET_FAST_START=0", [*basket, "predict", "--help"], ["predict", "--help"],
         lambda: {**warm, "BASKET_FAST_START": "0"}),
        ('python -c "import torch"', [sys.executable, "-c", "import torch"], None, lambda: warm),
    ]
    load_before = os.getloadavg()[0]
    for _label, command, _args, env in commands:
        timed(command, env())  # warm the file cache (and the startup cache of the warm rows)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in commands}
    for _ in range(runs):
        for label, command, _args, env in commands:
            times[label].append(timed(command, env()))
    load_after = os.getloadavg()[0]

    table = new_table(f"start-up time: {runs} interleaved runs each after one warm-up run")
    for column in ("command", "median s", "fastest s", "median CPU s", "deferred modules "
                   "imported"):
        table.add_column(column, justify="left" if column in ("command", "deferred modules "
                                                               "imported") else "right")
    for label, _command, args, env in commands:
        walls = [wall for wall, _ in times[label]]
        cpus = [cpu for _, cpu in times[label]]
        found = deferred_imports(args, env, work) if args is not None else "-"
        table.add_row(label, f"{statistics.median(walls):.3f}", f"{min(walls):.3f}",
                      f"{statistics.median(cpus):.3f}", found)
    console = Console()
    console.print(table)
    console.print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after, "
                  f"on {os.cpu_count()} cores; compiled-module cache {bytecode}", highlight=False)


if __name__ == "__main__":
    main()
