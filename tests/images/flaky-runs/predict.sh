# Interactive-protocol test image: behaves on most runs, misbehaves on the run its case name asks.
python3 /app/flaky.py
