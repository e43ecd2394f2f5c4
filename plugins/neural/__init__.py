"""The neural next-basket models (CNNGRU, AttnGRU) and their shared parts. Importing this
package imports nothing (`basket models` finds the models' files through it); ``modules``, the
torch networks, is imported only inside fit, score and load."""
