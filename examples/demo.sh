#!/usr/bin/env bash
# The README's first command: builds devflow, then runs the three-phase example workflow
# (plan -> implement -> review, driven by `devflow agent-sim` in real tmux) in a throwaway
# worktree on the embedded SQLite database: it stops at the plan's approval gate (exit 3),
# shows the run, approves the plan, and the run completes (exit 0).
#
# Needs: cargo, tmux. Works without a terminal (CI). DEVFLOW_DEMO_DIR chooses the worktree.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "== building devflow"
cargo build -q -p devflow
devflow="$repo/target/debug/devflow"

worktree="${DEVFLOW_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/devflow-demo.XXXXXX")}"
mkdir -p "$worktree"
run_id="demo-$(date +%s)"
echo "== worktree: $worktree"

step() { echo; echo "\$ devflow $*"; }

step run examples/feature/workflow.toml --worktree "$worktree" --run-id "$run_id"
status=0
"$devflow" run examples/feature/workflow.toml --worktree "$worktree" --run-id "$run_id" || status=$?
if [ "$status" -ne 3 ]; then
    echo "demo: expected exit 3 (waiting at the plan's approval gate), got $status" >&2
    exit 1
fi

step status "$run_id"
"$devflow" status "$run_id" --worktree "$worktree"

step approve "$run_id" --note "looks good"
"$devflow" approve "$run_id" --worktree "$worktree" --note "looks good"

echo
echo "== the run completed. Artifacts:"
for file in "$worktree"/artifacts/*.json; do
    echo "   $file: $(cat "$file")"
done
echo
echo "== its agents were stopped with it (keep_agents = true in a workflow keeps them for a look)"
echo "== the event log:                 $devflow events $run_id --worktree $worktree"
echo "== what the agents showed:        $devflow transcript $run_id --worktree $worktree"
