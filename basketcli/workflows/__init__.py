"""What each command does, one module per job (``train``, ``evaluate``, ``tune``, ``grid``,
``embed``, ``predict``, ``data``), each returning a result and never printing, on the shared
``steps`` and ``run_dirs``."""
