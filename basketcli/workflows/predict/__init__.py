"""`basket predict`: next baskets for customers given as JSON or JSON Lines, in three parts:
reading the customers (``inputs``), resolving product names (``names``) and the predictor
itself with the JSON it writes (``predictor``)."""

from basketcli.workflows.predict.inputs import CustomerOrders, iter_customers, read_customers
from basketcli.workflows.predict.names import ProductResolver
from basketcli.workflows.predict.predictor import (
    CustomerPrediction,
    Predictor,
    load_predictor,
    sizing_rule,
    write_json,
    write_json_file,
)

__all__ = ["CustomerOrders", "CustomerPrediction", "Predictor", "ProductResolver",
           "iter_customers", "load_predictor", "read_customers", "sizing_rule", "write_json",
           "write_json_file"]
