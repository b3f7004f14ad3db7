# Answers correctly (box fill), as a non-root user (see Dockerfile.extra).
python3 /app/boxfill.py
