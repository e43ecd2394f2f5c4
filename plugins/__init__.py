"""Built-in models of basket, registered through the same entry points as third-party plugins."""
