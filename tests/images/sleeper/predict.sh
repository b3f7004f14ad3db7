echo "thinking..." >&2
sleep 600
