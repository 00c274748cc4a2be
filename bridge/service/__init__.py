"""`dicom-bridge serve`: the listener, folder watch and scheduler over one store (runner.py), the worker
functions (work.py), the scheduler (scheduler.py) and the in-process harness (harness.py)."""
