"""Run by tests/test_distributed.py under torchrun (not a test module itself).

Every rank fits ptopfreq on the data and scores the validation customers with
``evaluate_model(..., across_ranks=True)``, then once more with rank 1's scores broken (NaN),
and writes what it saw to OUT_DIR/rank{RANK}.json: the metrics, how many customers it scored,
and the error each rank raised for the broken scores.

    python tests/ddp_eval_worker.py OUT_DIR DATA_CSV BATCH_SIZE
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    out_dir, csv, batch_size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    import torch.distributed as dist

    from basketcli.data.source import DataSpec
    from basketcli.evaluation.scoring import evaluate_model
    from basketcli.protocol import FitContext
    from basketcli.registry import create_model
    from basketcli.workflows.steps import prepare

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    _, split = prepare(DataSpec(source=csv))
    model = create_model("ptopfreq", {})
    model.fit(split.train, split.valid, FitContext())
    real_score, scored = model.score, []

    def counting_score(histories):
        scored.append(histories.n_users)
        return real_score(histories)

    model.score = counting_score
    metrics = evaluate_model(model, split.valid, batch_size=batch_size, across_ranks=True)[0]

    def broken_score(histories):
        scores = real_score(histories)
        return np.full_like(scores, np.nan) if rank == 1 else scores

    model.score = broken_score
    try:
        evaluate_model(model, split.valid, batch_size=batch_size, across_ranks=True)
        failure = None
    except Exception as exc:  # the test checks which error each rank raised
        failure = [type(exc).__name__, str(exc)]
    dist.destroy_process_group()
    seen = {"metrics": metrics.metrics, "scored": sum(scored), "failure": failure}
    (out_dir / f"rank{os.environ['RANK']}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
