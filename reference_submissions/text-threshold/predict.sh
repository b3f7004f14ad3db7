#!/bin/sh
# Classical text baseline (text-threshold): every /workspace/inputs/*.npz -> /workspace/outputs/<same name>.npz (segs, uint16).
exec /opt/venv/bin/python -u /workspace/text_threshold.py /workspace/inputs /workspace/outputs
