"""basket from Python: the nightly job of docs/api.md, end to end, on the bundled sample.

    python examples/api.py [OUT_FOLDER]

Loads orders from a pandas DataFrame (text ids, as a retailer's export has them), compares
two models, trains the better one, and writes every customer's next basket to Parquet.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

from basketcli import api
from basketcli.data.readers import sample_path


def orders_with_text_ids() -> pd.DataFrame:
    """The bundled Instacart slice as an export with text ids: "U00001", "P0000196"."""
    frame = pd.read_csv(sample_path(), usecols=["user_id", "order_number", "product_id"])
    frame = frame[frame["user_id"] != frame["user_id"].iloc[-1]]  # the slice's cut customer
    return pd.DataFrame({
        "customer": "U" + frame["user_id"].astype(str).str.zfill(5),
        "order_number": frame["order_number"],
        "sku": "P" + frame["product_id"].astype(str).str.zfill(7),
    })


def main(out: Path) -> pd.DataFrame:
    orders = orders_with_text_ids()
    data = api.load_data(orders, user_col="customer", item_col="sku")
    table = api.compare(["ptopfreq", "tifuknn"], data, reference=False).to_pandas()
    print(table[["model", "recall@10", "recall@10 low", "recall@10 high", "ndcg@10"]])
    best = table.sort_values("ndcg@10").iloc[-1]["model"]
    run = api.train(best, data, out=out / f"runs/{best}", force=True)
    print(f"trained {best}: validation ndcg@10 {run.validation['ndcg@10']:.4f}")
    recs = api.recommend(run.run_dir, orders, user_col="customer", item_col="sku")
    recs.to_parquet(out / "next_baskets.parquet", index=False)
    print(recs.head(3).to_string(index=False))
    return recs


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
