python3 - <<'PY'
import os, sys
sys.path.insert(0, "/app")
import npzio
for name in os.listdir("/workspace/inputs"):
    npzio.write_npz("/workspace/outputs/" + name, "segs", "<u2", (2, 2), bytes(8))
PY
