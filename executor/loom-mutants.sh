#!/usr/bin/env bash
# Negative controls for the loom models: build the executor with each fence-removal mutant
# (`--cfg aiolos_mutant="…"`) and require loom to find the lost wakeup in every one
# (tests/loom.rs: `mutant_loses_wakeup` passes only if the model panicked).
#
#   no_owner_fence     drop the owner's fence(SeqCst) between raising notify_me and re-checking
#   no_notifier_fence  drop notify()'s fence(SeqCst) between publishing and reading notify_me
#   rmw_relaxed        owner raises notify_me with a SeqCst RMW and no fence (QEMU's 2019 bug)
#   no_sleep_fence     WakeGate: drop the owner's fence between announcing sleep and the latch load
#   no_latch_fence     WakeGate: drop the notifier's fence between the latch and the state load
#
# Exits 0 only if every mutant was caught.
set -u
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
# LTO adds a minute per mutant build and changes nothing for the model.
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-false}"
fail=0
for m in no_owner_fence no_notifier_fence rmw_relaxed no_sleep_fence no_latch_fence; do
    case "$m" in
        no_sleep_fence | no_latch_fence) test=mutant_gate_loses_wakeup ;;
        *) test=mutant_loses_wakeup ;;
    esac
    log="$(mktemp)"
    if RUSTFLAGS="--cfg loom --cfg aiolos_mutant=\"$m\"" \
        cargo test -q -p aiolos-executor --features std --target x86_64-unknown-linux-gnu --release \
        --test loom -- --nocapture "$test" >"$log" 2>&1 &&
        grep -q "mutant caught" "$log"; then
        echo "mutant $m: caught -- $(grep -o 'loom found.*' "$log" | head -1)"
    else
        echo "mutant $m: NOT caught"
        tail -20 "$log"
        fail=1
    fi
    rm -f "$log"
done
[ "$fail" = 0 ] && echo "loom mutants: all caught" || echo "loom mutants: FAILED"
exit "$fail"
