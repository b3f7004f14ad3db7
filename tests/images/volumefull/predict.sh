# Ships a file in a declared VOLUME (Dockerfile.extra): intake refuses it.
cat /data/model.bin
python3 /app/boxfill.py
