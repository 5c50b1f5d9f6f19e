#!/usr/bin/env bash
# Negative controls for the loom models: build the executor with each mutant
# (`--cfg aiolos_mutant="…"`) and require loom to catch every one. tests/loom.rs:
# `mutant_caught` runs the model that `CATCHER` names for the mutant and passes only if that
# model fails the way it states (a deadlock: the owner asleep forever; or the end-state check:
# the event left set, a busy loop). Prints, per mutant, the catching model and the executions
# loom explored until the failure.
#
#   no_owner_fence        drop the owner's fence(SeqCst) between raising notify_me and re-checking
#   no_notifier_fence     drop notify()'s fence(SeqCst) between publishing and reading notify_me
#   rmw_relaxed           owner raises notify_me with a SeqCst RMW and no fence (QEMU's 2019 bug)
#   no_sleep_fence        WakeGate: drop the owner's fence between announcing sleep and the latch load
#   no_latch_fence        WakeGate: drop the notifier's fence between the latch and the state load
#   bh_skip_notify        Bh::schedule does not notify the context
#   notified_before_set   notify stores `notified` before setting the event (the seed's BUG1)
#   skip_set_if_notified  notify skips the set while `notified` is true (the seed's BUG2)
#   accept_load_store     notify_accept as a load and a separate store instead of one RMW
#   no_accept             poll never calls notify_accept
#   signal_no_recheck     Signal::wait does not re-check the flag after registering its waker
#   wait_keeps_latch      HostNotifier::wait leaves a latch it finds set (the seed's wait: the
#                         owner spins through a notifier's window)
#   wait_not_parked       HostNotifier::wait parks without recording it, so set never signals
#   deferred_wake_dropped a wake during the task's poll is dropped instead of queued after it
#   deferred_mark_kept    a wake during the completing poll keeps the task's slot taken
#
# Usage: executor/loom-mutants.sh [MUTANT...]   (default: all of the above)
# Exits 0 only if every mutant was caught.
set -u
all="no_owner_fence no_notifier_fence rmw_relaxed no_sleep_fence no_latch_fence bh_skip_notify
notified_before_set skip_set_if_notified accept_load_store no_accept signal_no_recheck
wait_keeps_latch wait_not_parked deferred_wake_dropped deferred_mark_kept"
case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac
mutants="${*:-$all}"
for m in $mutants; do
    case " $(echo $all) " in
        *" $m "*) ;;
        *) echo "unknown mutant: $m (known: $(echo $all))" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
# LTO adds a minute per mutant build and changes nothing for the model.
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-false}"
fail=0
for m in $mutants; do
    log="$(mktemp)"
    start=$(date +%s)
    if RUSTFLAGS="--cfg loom --cfg aiolos_mutant=\"$m\"" \
        cargo test -q -p aiolos-executor --features std --target host-tuple --release \
        --test loom -- --nocapture --exact mutant_caught >"$log" 2>&1 &&
        grep -q "mutant caught by" "$log"; then
        printf '%-22s caught by %s (%ss with the build)\n' "$m" \
            "$(grep -o 'loom model .* executions' "$log" | tail -1)" "$(($(date +%s) - start))"
    else
        echo "$m: NOT caught"
        grep -v '^ *[0-9]*: \|^ *at ' "$log" | tail -20
        fail=1
    fi
    rm -f "$log"
done
[ "$fail" = 0 ] && echo "loom mutants: all caught" || echo "loom mutants: FAILED"
exit "$fail"
