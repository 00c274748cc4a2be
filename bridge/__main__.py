"""``python -m bridge`` is ``dicom-bridge``."""

from bridge.cli import main

main()
