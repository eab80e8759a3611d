"""Winnow's LLaMA pretraining trainer (see docs/trainer.md).

Modules: ``config`` (flags), ``model`` (presets, FLOPs), ``data`` (shards -> packed windows),
``optim`` (AdamW, schedules), ``checkpoint`` (save/resume/export), ``metrics`` (JSONL, TensorBoard,
MFU), ``dist`` (torchrun/DeepSpeed setup), ``loop`` (the training loop), ``cli``.
"""
