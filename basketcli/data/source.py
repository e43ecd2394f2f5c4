"""DataSpec: which data a command reads, as given by --data and its companion options."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SAMPLE = "sample"


class DataSpec(BaseModel):
    """Everything needed to rebuild the same prepared data set (recorded in run directories)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(
        SAMPLE, description="'sample', an Instacart folder, or a .csv/.parquet file"
    )
    catalog: str | None = Field(None, description="products.csv giving product names")
    min_item_count: int = Field(1, ge=1, description="drop products in fewer baskets than this")
    top_items: int | None = Field(None, ge=1, description="keep only the N most frequent products")
    user_col: str = "user_id"
    item_col: str = "product_id"
    order_col: str | None = None
    time_col: str | None = None
    # A resource limit of this machine, not part of the data's identity: never recorded.
    max_memory: int | None = Field(
        None, ge=1, exclude=True, description="bytes loading may use (estimated before "
        "reading; default: $BASKET_MAX_MEMORY, else the memory available)",
    )

    def source_path(self) -> Path | None:
        return None if self.source == SAMPLE else Path(self.source)

    def describe(self) -> str:
        parts = [self.source]
        if self.top_items:
            parts.append(f"top {self.top_items} products")
        if self.min_item_count > 1:
            parts.append(f"products in >= {self.min_item_count} baskets")
        return ", ".join(parts)
