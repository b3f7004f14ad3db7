# CVPR25 interactive test image: a threshold answer that changes with the iteration, and that
# deliberately writes nothing in two runs (see skipiter.py), to exercise the stale-output quirk.
python3 /app/skipiter.py
