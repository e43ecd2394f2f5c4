"""The shared torch training engine.

``batches`` (numpy) turns the CSR arrays of a BasketData into padded model inputs, ``trainer``
(torch) runs the loop every torch model shares (AdamW, scheduler, clipping, early stopping,
checkpoints, resume), ``checkpoints`` keeps training state on disk, ``ranks`` and
``distributed`` run it on several processes, ``autoencoder`` is `basket embed`'s network.
Importing this package imports no torch.
"""
