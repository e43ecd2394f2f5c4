"""The `basket` command line: one thin module per command group (parse, call a workflow,
render); ``app`` registers them all and renders every error."""

from basketcli.cli.app import app, main

__all__ = ["app", "main"]
