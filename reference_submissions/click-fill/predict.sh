#!/bin/sh
# Click-aware classical baseline (click-fill): every /workspace/inputs/*.npz -> /workspace/outputs/<same name>.npz (segs).
exec /opt/venv/bin/python -u /workspace/click_fill.py /workspace/inputs /workspace/outputs
