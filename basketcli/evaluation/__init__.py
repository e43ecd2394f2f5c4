"""Evaluation: ``metrics`` (every metric, one definition each), ``selection`` (a predicted basket
from scores and a sizing rule), ``scoring`` (a model scored on targets), ``bootstrap`` (intervals
over customers) and ``comparison`` (paired differences with Holm's levels)."""
