#!/usr/bin/env bash
# Shards under real schedulers (README "Many machines"): a generated dataset
# converted as 4 shards by GNU parallel and by a Slurm job array on a
# single-node cluster started here (start_slurm.sh), merged, and compared
# byte for byte with one unsharded run. A byte that differs, or a task that
# fails, fails the script. If Slurm cannot start on this machine, the script
# says so (with the daemons' logs) and only the GNU parallel test runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="$PWD/$target/release/maskconv"
work="$PWD/$target/scheduler-test"
rm -rf "$work" && mkdir -p "$work"/{single,merged,parallel,slurm}

cargo build --release --quiet
MASKCONV_VARIED="$work/input,240" cargo test --release --quiet --test integration -- \
    --ignored --exact shards::write_a_varied_dataset_for_the_scheduler_tests >/dev/null

# same NAME FORMAT: one run of the input to FORMAT at single/NAME, compared
# with the merge at merged/NAME.
same() {
    "$bin" convert "$work/input" "$work/single/$1" --to "$2" -q
    cmp "$work/single/$1" "$work/merged/$1"
    echo "scheduler: $3: 4 shards merged into $1 ($2) = one run, byte for byte"
}

# GNU parallel, 2 shards at a time; the merge is given a quoted glob.
bash tests/scheduler/start_slurm.sh --packages-only
parallel -j 2 "$bin" convert "$work/input" "$work/parallel/part-{}.tar.gz" --to segments \
    --shard {}/4 -q ::: 0 1 2 3
"$bin" merge "$work/parallel/part-*.tar.gz" "$work/merged/segments.tar.gz" -q
same segments.tar.gz segments "GNU parallel"

if ! bash tests/scheduler/start_slurm.sh; then
    echo "scheduler: Slurm did not start on this machine (start_slurm.sh says why above); only GNU parallel ran"
    exit 0
fi
# A Slurm array of 4 tasks: each task's shard comes from SLURM_ARRAY_TASK_ID
# and SLURM_ARRAY_TASK_COUNT. `sbatch --wait` exits non-zero if a task failed.
sbatch --wait --quiet --array=0-3 --output="$work/slurm/task-%a.log" --chdir="$work" \
    --wrap "\"$bin\" convert \"$work/input\" \"$work/slurm/part-\$SLURM_ARRAY_TASK_ID.zip\" --to coco --json > \"$work/slurm/report-\$SLURM_ARRAY_TASK_ID.json\""
for k in 0 1 2 3; do
    { grep -q "\"shard\":{\"index\":$k,\"count\":4," "$work/slurm/report-$k.json" \
        && grep -q '"chosen_by":"SLURM_ARRAY_TASK_ID"' "$work/slurm/report-$k.json"; } \
        || { echo "task $k was not shard $k/4:"; cat "$work/slurm/report-$k.json" "$work/slurm/task-$k.log"; exit 1; }
done
"$bin" merge "$work"/slurm/part-*.zip "$work/merged/coco.zip" -q
same coco.zip coco "Slurm job array"
