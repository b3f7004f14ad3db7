# Spins for 3 s of wall time on two threads' worth of work, then answers.
python3 - <<'PY'
import threading, time
end = time.monotonic() + 3.0
def spin():
    while time.monotonic() < end:
        pass
ts = [threading.Thread(target=spin) for _ in range(2)]
[t.start() for t in ts]
spin()
PY
python3 /app/boxfill.py
