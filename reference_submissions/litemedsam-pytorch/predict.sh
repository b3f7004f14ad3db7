#!/bin/sh
# PyTorch LiteMedSAM baseline: every /workspace/inputs/*.npz -> /workspace/outputs/<same name>.npz (segs, uint16).
exec /opt/venv/bin/python -u /workspace/infer_torch.py --inputs /workspace/inputs --outputs /workspace/outputs
