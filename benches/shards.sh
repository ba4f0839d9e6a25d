#!/usr/bin/env bash
# Shards against one run (BENCHMARKS.md "Shards and merge"):
#   bash benches/shards.sh INPUT FORMAT EXT RUNS
# Per run, alternating: one `convert -j 2`; then 4 shards, 2 at a time
# under GNU parallel, `-j 1` each; then `merge`. Prints per run the wall
# time and the CPU time (user + system, children included) of each (for
# the shards also the 4 maskconv processes' own, without GNU parallel's), the
# peak RSS of each process, the merged output's size and the merge's
# MB/s; checks the merge is the single run's bytes. Medians are taken by
# the reader (the table in BENCHMARKS.md). Uses the release binary.
set -euo pipefail
input=$1 format=$2 ext=$3 runs=${4:-5}
bin="$(cd "$(dirname "$0")/.." && pwd)/target/release/maskconv"
work=$(mktemp -d /tmp/maskconv-shards-XXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/one" "$work/merged"
timed() { # FILE COMMAND...: runs COMMAND, appends "wall cpu rss_kb" to FILE
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "${@:2}"
    awk '{ printf "%.2f %.2f %d\n", $1, $2 + $3, $4 }' "$work/t" >> "$1"
}
echo "run | one -j 2: wall, CPU s, RSS MB | 4 shards: wall, CPU s (with parallel's own), maskconv CPU s, max RSS MB | merge: wall, CPU s, RSS MB, MB/s"
for run in $(seq "$runs"); do
    rm -rf "$work"/one/* "$work"/merged/* "$work"/part-* "$work"/*.txt
    sync
    timed "$work/one.txt" "$bin" convert "$input" "$work/one/out$ext" --to "$format" -j 2 -q
    sync
    timed "$work/shards.txt" parallel -j 2 /usr/bin/time -f %U,%S,%M -o "$work/rss-{}.txt" \
        "$bin" convert "$input" "$work/part-{}$ext" --to "$format" --shard {}/4 -j 1 -q ::: 0 1 2 3
    sync
    timed "$work/merge.txt" "$bin" merge "$work"/part-*"$ext" "$work/merged/out$ext" -q
    cmp <(cd "$work/one" && find . -type f | sort | xargs cat) <(cd "$work/merged" && find . -type f | sort | xargs cat)
    size=$(du -sb "$work/merged/out$ext" | cut -f1)
    shard_rss=$(awk -F, '{ print $3 }' "$work"/rss-*.txt | sort -n | tail -1)
    shard_cpu=$(awk -F, '{ s += $1 + $2 } END { printf "%.2f", s }' "$work"/rss-*.txt)
    read -r w1 c1 r1 < "$work/one.txt"
    read -r w4 c4 _ < "$work/shards.txt"
    read -r wm cm rm_ < "$work/merge.txt"
    echo "$run | $w1 $c1 $((r1 / 1024)) | $w4 $c4 $shard_cpu $((shard_rss / 1024)) | $wm $cm $((rm_ / 1024)) $(awk -v s="$size" -v t="$wm" 'BEGIN { printf "%.0f", s / 1e6 / t }') (of $((size / 1000000)) MB)"
    rm -f "$work"/one.txt "$work"/shards.txt "$work"/merge.txt
done
