# Writes far more than the outputs cap into the expected file, then claims success.
for f in /workspace/inputs/*.npz; do
  head -c 200000000 /dev/zero > "/workspace/outputs/$(basename "$f")"
  echo "head exited $?" >&2
done
exit 0
