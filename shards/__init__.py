"""The shard contract between the data side and any trainer: Megatron-compatible indexed datasets
(``indexed_dataset``) and their ``manifest.json`` (``manifest``). Imports nothing of Winnow's."""
