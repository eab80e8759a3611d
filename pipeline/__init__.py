"""Winnow's framework: schema, config, Spark runtime, readers and writers, and the stage runner."""

__version__ = "0.1.0"
