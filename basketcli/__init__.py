"""basket: next-basket recommendation toolkit."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while idle slow torch and XGBoost badly when the cores are shared
# (several jobs on a laptop or CI runner: two XGBoost threads on a busy 2-core machine took 62 s
# to fit the sample instead of 17-20 s, bench/xgboost_fit.py); sleeping threads cost little
# when they are not. libgomp reads this once, when torch or xgboost loads it, and every model
# imports basketcli before either, so it is set here, once.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
