# Prints the container's effective limits, then answers.
for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory.max memory.swap.max \
         cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu.max pids/pids.max pids.max; do
  if [ -r "/sys/fs/cgroup/$f" ]; then echo "LIMIT $f $(cat /sys/fs/cgroup/$f)"; fi
done
echo "LIMIT uid $(id -u)"
python3 /app/boxfill.py
