# The classic fork bomb, bounded only by the pids limit; then waits.
bomb() { bomb | bomb & }
bomb
sleep 600
