"""The contract leaf: what every stage and the framework agree on, importing nothing of Winnow's.

``schema`` (document columns), ``errors`` (one-line user errors), ``operator`` (Operator /
GlobalStage / StageContext / StageOutput and Arrow batch helpers), ``textstats`` and ``langs``
(vectorised text statistics and script helpers, language codes).
"""
