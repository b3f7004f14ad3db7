"""evalkit: evaluation and ranking harness for promptable medical image segmentation challenges.

Data flows one way through the stages:
``contract`` (cases, safe loading) -> ``runner`` (participant containers) ->
``metrics`` (DSC/NSD) -> ``ranking`` (challengeR semantics) -> ``report``.
``config`` (the challenge file) and ``demodata`` (synthetic test sets) sit beside
the contract. ``workflows`` and ``cli`` are the thin layer on top.
No stage imports a later one.
"""

__version__ = "0.1.0"
