echo "loading model"
echo "RuntimeError: model weights /app/weights.bin not found" >&2
echo "" >&2
exit 3
