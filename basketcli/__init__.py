"""basket: next-basket recommendation toolkit."""

__version__ = "0.1.0"
