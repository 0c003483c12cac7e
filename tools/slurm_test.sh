#!/usr/bin/env bash
# The README's Slurm recipe on a real batch system: a one-node Slurm cluster on localhost (Debian's
# slurm-wlm + munge, started here with a private configuration), `sbatch --array=0-3` running
# `gigtrace trace --shard I/4`, a merge job that depends on the array (afterok), and a check that
# the merged trace equals one unsharded run of the same command (every edge sum, class-edge sum
# and node count to rounding).
#
# Usage (as root, from the repository root, after `swift build`):
#     bash tools/slurm_test.sh [GIGTRACE_BINARY]   # default .build/release/gigtrace, else .build/debug/gigtrace
# Installs slurm-wlm and munge with apt-get when missing. Everything else (configuration, state,
# logs, traces) lives in a temporary folder that is removed at the end; the Slurm daemons it
# started are stopped (by pid). Prints the wall time of each phase; exit 0 only if all matched.
set -euo pipefail
cd "$(dirname "$0")/.."
default=.build/release/gigtrace
[ -x "$default" ] || default=.build/debug/gigtrace
GIGTRACE=$(realpath "${1:-$default}")
[ -x "$GIGTRACE" ] || { echo "slurm_test: $GIGTRACE is not an executable (run swift build)" >&2; exit 2; }
DATA=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
[ -f "$DATA" ] || { echo "slurm_test: $DATA missing (apt-get install dataset-fashion-mnist)" >&2; exit 2; }
start=$(date +%s)

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

WORK=$(mktemp -d /tmp/gigtrace-slurm.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

# munge: the daemon Slurm authenticates with. Reuse a running one, else start our own.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
    [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chmod 400 /etc/munge/munge.key; }
    chown -R munge:munge /etc/munge 2>/dev/null || true
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged --force
    for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
    PIDS+=("$(cat /run/munge/munged.pid)")
fi

# A private cluster: non-default ports, state and spool under $WORK, no cgroups or accounting.
CPUS=$(nproc)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/log" "$WORK/shards"
cat > "$WORK/slurm.conf" <<EOF
ClusterName=gigtrace-test
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
SlurmdTimeout=60
NodeName=gignode NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=gignode Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$WORK/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N gignode
for _ in $(seq 100); do [ -f "$WORK/slurmctld.pid" ] && [ -f "$WORK/slurmd.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/slurmctld.pid")" "$(cat "$WORK/slurmd.pid")")
for _ in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break; sleep 0.2; done
sinfo -h -o '%P %T %c' | grep -q idle || { echo "slurm_test: the node did not come up:" >&2; tail -20 "$WORK/log/"*.log >&2; exit 1; }
up=$(date +%s)
echo "slurm_test: cluster up in $((up - start)) s ($(sinfo -h -o '%D node, %c CPUs, %T'))"

# The trace: demo model, 16 Fashion-MNIST images, 3 layers, K = 4, 8 steps, one thread per task.
TRACE=("$GIGTRACE" trace --data "$DATA" --mean 0.2860 --std 0.3530 --limit 16 --concept-images 16
       --k 4 --steps 8 --threads 1 --quiet)
cat > "$WORK/trace.sh" <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=gigtrace-shard
#SBATCH --cpus-per-task=1
#SBATCH --output=$WORK/log/shard-%a.out
set -e
cd "$PWD"
exec ${TRACE[*]} --shard \${SLURM_ARRAY_TASK_ID}/4 --out $WORK/shards/s\${SLURM_ARRAY_TASK_ID}.sqlite
EOF
cat > "$WORK/merge.sh" <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=gigtrace-merge
#SBATCH --output=$WORK/log/merge.out
set -e
exec "$GIGTRACE" merge --quiet $WORK/merged.sqlite $WORK/shards/s0.sqlite $WORK/shards/s1.sqlite $WORK/shards/s2.sqlite $WORK/shards/s3.sqlite
EOF
array=$(sbatch --parsable --array=0-3 "$WORK/trace.sh")
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes "$WORK/merge.sh")
echo "slurm_test: submitted array job $array (4 shards) and merge job $merge (afterok:$array)"
# The single run goes on while Slurm works (both are small).
"${TRACE[@]}" --out "$WORK/single.sqlite"
single=$(date +%s)
for _ in $(seq 1800); do
    state=$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
    sleep 1
done
done_at=$(date +%s)
scontrol show job "$array" | grep -E 'ArrayTaskId|JobState|ExitCode' | paste - - - | sed 's/^ */  /'
echo "  merge: JobState=$state"
if [ "$state" != COMPLETED ]; then
    echo "slurm_test: merge job $merge ended $state" >&2
    tail -n 20 "$WORK/log/"*.out "$WORK/log/slurmd.log" >&2 || true
    exit 1
fi
echo "slurm_test: sharded run done $((done_at - up)) s after submission (single run: $((single - up)) s)"

# The merged trace against the single run.
python3 - "$WORK/merged.sqlite" "$WORK/single.sqlite" <<'EOF'
import sqlite3, sys
merged, single = (sqlite3.connect(p) for p in sys.argv[1:3])
def rows(db, sql):
    return {tuple(r[:-3]): r[-3:] for r in db.execute(sql)}
checks = {
    "edges": "SELECT src_level, src, dst, grouping, group_class, n_active, sum, sum_sq, sum_abs FROM edges",
    "class_edges": "SELECT src_level, src, class, grouping, group_class, n_active, sum, sum_sq, sum_abs FROM class_edges",
}
worst, count = 0.0, 0
for table, sql in checks.items():
    a, b = rows(merged, sql), rows(single, sql)
    if a.keys() != b.keys():
        sys.exit(f"slurm_test: {table}: {len(a.keys() ^ b.keys())} rows differ in key or n_active")
    scale = max((abs(v[0]) for v in b.values()), default=1.0) or 1.0
    for k in a:
        for x, y in zip(a[k], b[k]):
            worst = max(worst, abs(x - y) / max(abs(y), 1e-3 * scale))
        count += 1
for table in ("nodes", "images"):
    q = f"SELECT * FROM {table} ORDER BY 1, 2"
    ka = [r[:3] for r in merged.execute(q)]
    kb = [r[:3] for r in single.execute(q)]
    if ka != kb:
        sys.exit(f"slurm_test: {table} differ between the merged and the single run")
images = merged.execute("SELECT COUNT(*) FROM images").fetchone()[0]
print(f"slurm_test: merged == single run: {count} edge rows, {images} images, worst relative difference {worst:.2e}")
if worst > 1e-5:
    sys.exit("slurm_test: edge sums differ by more than rounding (1e-5)")
EOF
echo "slurm_test: passed in $(( $(date +%s) - start )) s"
