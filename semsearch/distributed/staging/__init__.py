"""Segments prepared apart (by the Ray job's tasks, on any node) and published by their driver.

No Ray here: the Ray side (index_job.py, stages.py) drives these modules."""
