"""Winnow's operators: row-local Arrow operators and global Spark stages."""
