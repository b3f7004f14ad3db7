# Tries the network; answers correctly only when the network is unreachable.
python3 - <<'PY' || exit 7
import socket, sys
for host, port in (("1.1.1.1", 53), ("deb.debian.org", 80), ("172.17.0.1", 2375)):
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        print(f"network attempt to {host}:{port} failed: {exc}", file=sys.stderr)
    else:
        print(f"NETWORK REACHABLE: {host}:{port}", file=sys.stderr)
        sys.exit(1)
PY
python3 /app/boxfill.py
