#!/bin/sh
# Classical baseline (box-fill): every /workspace/inputs/*.npz -> /workspace/outputs/<same name>.npz (segs, uint16).
exec /opt/venv/bin/python -u /workspace/box_fill.py /workspace/inputs /workspace/outputs
