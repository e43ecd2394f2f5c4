"""Shared parts of the neural next-basket models (CNNGRU, AttnGRU).

``config`` and ``model`` import no torch at module level, so listing models and ``--help`` stay
light; ``modules`` (the torch networks) is imported only inside fit/score/load.
"""

from plugins.neural.config import NeuralConfig
from plugins.neural.model import NeuralBasketModel

__all__ = ["NeuralBasketModel", "NeuralConfig"]
