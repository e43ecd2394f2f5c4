"""DataSpec: which data a command reads, as given by --data and its companion options."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SAMPLE = "sample"
COMPLETE_JOURNEY = "completejourney"
BUNDLED = (SAMPLE, COMPLETE_JOURNEY)  # data sets shipped inside installed packages
FRAME = "dataframe"  # data handed over as a pandas DataFrame (the Python API), not a file


class DataSpec(BaseModel):
    """Everything needed to rebuild the same prepared data set (recorded in run directories)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(
        SAMPLE, description="'sample' (Instacart slice), 'completejourney' (Dunnhumby), an "
        "Instacart folder, or a .csv/.parquet file"
    )
    catalog: str | None = Field(None, description="products.csv giving product names")
    min_item_count: int = Field(1, ge=1, description="drop products in fewer baskets than this")
    top_items: int | None = Field(None, ge=1, description="keep only the N most frequent products")
    min_orders: int = Field(
        4, ge=1, description="drop customers with fewer orders (the field's convention: with 3, "
        "one basket of history is left beside the validation and test targets; the split "
        "itself needs 3)")
    user_col: str = "user_id"
    item_col: str = "product_id"
    order_col: str | None = None
    time_col: str | None = None
    strict: bool = Field(
        False, exclude=True, description="refuse data that must be changed to be read "
        "(duplicated order numbers, repeated lines, empty orders, blank ids, short customers)")
    # A resource limit of this machine, not part of the data's identity: never recorded.
    max_memory: int | None = Field(
        None, ge=1, exclude=True, description="bytes loading may use (estimated before "
        "reading; default: $BASKET_MAX_MEMORY, else the memory available)",
    )

    def source_path(self) -> Path | None:
        return None if self.source in (*BUNDLED, FRAME) else Path(self.source)

    def describe(self) -> str:
        parts = [self.source]
        if self.top_items:
            parts.append(f"top {self.top_items} products")
        if self.min_item_count > 1:
            parts.append(f"products in >= {self.min_item_count} baskets")
        if self.min_orders != 4:
            parts.append(f"customers with >= {self.min_orders} orders")
        return ", ".join(parts)
