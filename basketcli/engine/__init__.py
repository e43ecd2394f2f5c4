"""The shared torch training engine.

``batches`` (numpy) turns the CSR arrays of a BasketData into padded model inputs, ``trainer``
(torch) runs the loop every torch model shares (AdamW, scheduler, clipping, early stopping,
checkpoints, resume), ``checkpoints`` keeps training state on disk and ``curves`` writes the
training curves. Importing this package imports no torch; only ``trainer`` and the torch side
of ``checkpoints`` do.
"""

import os

# OpenMP threads that spin while idle slow torch badly when the cores are shared (several
# jobs on a laptop or CI runner); sleeping threads cost little when they are not. libgomp
# reads this once, when torch loads it, so it is set before any engine module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
