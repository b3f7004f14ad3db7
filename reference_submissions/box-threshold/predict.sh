#!/bin/sh
# Classical baseline (box-threshold): every /workspace/inputs/*.npz -> /workspace/outputs/<same name>.npz (segs, uint16).
exec /opt/venv/bin/python -u /workspace/box_threshold.py /workspace/inputs /workspace/outputs
