echo "allocating 1 GiB" >&2
python3 -c "x = b'\x01' * (1 << 30); print(len(x))"
