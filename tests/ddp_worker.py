"""Run by tests/test_distributed.py under torchrun (not a test module itself).

Every rank runs the real `basket train` command line for each planned run, in one process, then
writes what it saw to OUT_DIR/rank{RANK}.json: the exit code and a digest of the weights its
model ended with, so the test can check that the ranks end alike. A plan entry may interrupt
its run (Ctrl-C on every rank) after a given epoch, to test --resume.

    python tests/ddp_worker.py OUT_DIR PLAN_JSON  # [[label, [args...], stop, port], ...]

Each run gets a fresh rendezvous store on its own port (rank 0 serves it): a process group
re-created in the same processes on torchrun's store can meet keys the previous group left.
A real `basket train` makes one group per process and needs none of this.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def digest(module) -> str:
    sha = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        sha.update(name.encode())
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def main() -> None:
    out_dir, plan = Path(sys.argv[1]), json.loads(sys.argv[2])
    import basketcli.engine.trainer as trainer
    from basketcli.cli import app
    from basketcli.workflows import train as workflows

    fitted = []
    real_fit, real_line = workflows.fit_model, trainer._epoch_line
    stop_after: list[int | None] = [None]

    def recording_fit(model, *args, **kwargs):
        fitted.append(model)
        return real_fit(model, *args, **kwargs)

    def epoch_line(row, settings, best):
        if stop_after[0] is not None and int(row["epoch"]) == stop_after[0]:
            raise KeyboardInterrupt  # after rank 0 checkpointed the epoch, as a Ctrl-C would
        return real_line(row, settings, best)

    workflows.fit_model, trainer._epoch_line = recording_fit, epoch_line
    seen = {}
    for label, args, stop, port in plan:
        os.environ.update(TORCHELASTIC_USE_AGENT_STORE="False", MASTER_PORT=str(port))
        stop_after[0] = stop
        fitted.clear()
        try:
            app(args, prog_name="basket")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        seen[label] = {"exit": code, "digest": digest(fitted[-1].net) if fitted else None}
    (out_dir / f"rank{os.environ['RANK']}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
