"""spark-submit entry points. Each module runs with `spark-submit jobs/<name>.py` or `python -m jobs.<name>`."""
