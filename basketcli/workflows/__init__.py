"""What each command does, one module per job, each returning a pydantic result and never
printing: ``train``, ``evaluate`` (evaluate and compare), ``grid``, ``embed``, ``predict``.
They are built on the shared steps of basketcli.runs."""
