# Writes where it is told, then answers (box fill). Runs as root.
#   sh predict.sh rootfs          -> 64 MiB to /var/tmp and to /app (must fail: read-only root)
#   sh predict.sh write DIR MIB   -> MIB MiB to DIR/blob (DIR "HOME" = $HOME); fails past a cap
set -u
write() {  # write DIR MIB
  dir=$1; [ "$dir" = HOME ] && dir=$HOME
  head -c $(($2 * 1048576)) /dev/zero > "$dir/blob"
  rc=$?
  echo "WRITE $dir $2 rc=$rc" >&2
  [ $rc -eq 0 ] || exit 3
}
case "$1" in
  rootfs) write /var/tmp 64; write /app 64 ;;
  write) write "$2" "$3" ;;
esac
python3 /app/boxfill.py
