#!/bin/sh
# Segment every /workspace/inputs/*.npz into /workspace/outputs/<same name>.npz (key segs, uint16).
exec /opt/venv/bin/python -u /workspace/infer_openvino.py --inputs /workspace/inputs --outputs /workspace/outputs
