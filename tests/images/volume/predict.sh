# The image declares VOLUME /data (Dockerfile.extra); writes MIB MiB there, then answers.
#   sh predict.sh MIB
head -c $(($1 * 1048576)) /dev/zero > /data/blob || exit 3
echo "WRITE /data $1 ok" >&2
python3 /app/boxfill.py
