# Points the output at a file of the *host* (the runner must never read it).
for f in /workspace/inputs/*.npz; do
  ln -s /var/tmp/evalkit-runner-secret.npz "/workspace/outputs/$(basename "$f")"
done
