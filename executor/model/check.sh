#!/usr/bin/env bash
# Model-check the notify_me/notified handshake with spin: the good model must report
# `errors: 0` under both properties (and its assertions: WINDOW, INVARIANT, END), and every
# mutant (WAIT_KEEPS_LATCH, BUG1, BUG2, ACCEPT_LOAD_STORE, NO_ACCEPT, SKIP_NOTIFY: see
# notify.pml) must report errors. The seed's protocol (-DSEED: its wait leaves a latch it
# finds set) must pass its own properties, and fail with its BUG1 (the busy loop).
# Builds in a temporary directory; leaves nothing in the repository.
set -u
case "${1:-}" in
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--help]  (no arguments)" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
model="$here/notify.pml"
command -v spin >/dev/null || { echo "spin not installed (apt-get install -y spin)"; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0

# run NAME EXPECT DEFINES...   (EXPECT: pass | fail | fail:TEXT, TEXT in pan's first error)
run() {
    local name="$1" expect="$2" why=""; shift 2
    case "$expect" in fail:*) why="${expect#fail:}"; expect=fail ;; esac
    local dir="$work/$name"
    mkdir -p "$dir"
    cp "$model" "$dir/model.pml"
    ( cd "$dir" && spin -a "$@" model.pml >spin.log 2>&1 && gcc -O2 -o pan pan.c >gcc.log 2>&1 ) || {
        echo "$name: build failed"; cat "$dir"/*.log; fail=1; return; }
    ( cd "$dir" && ./pan -a -f -m100000 >pan.log 2>&1 )
    local errors states
    errors="$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | head -1)"
    states="$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' "$dir/pan.log" | head -1)"
    local verdict=ok first
    first="$(grep -m1 '^pan:1:' "$dir/pan.log" | sed 's/^pan:1: //; s/ (at depth [0-9]*)//')"
    if [ -z "$errors" ]; then verdict="NO RESULT"; fail=1
    elif [ -n "$why" ] && [ "${first#*"$why"}" = "$first" ]; then
        verdict="FAIL (expected \"$why\", got \"$first\")"; fail=1
    elif [ "$expect" = pass ] && [ "$errors" != 0 ]; then verdict="FAIL (expected errors: 0)"; fail=1
    elif [ "$expect" = fail ] && [ "$errors" = 0 ]; then verdict="FAIL (mutant not caught)"; fail=1
    fi
    printf '%-22s %-24s states stored: %-8s errors: %-3s %s%s\n' "$name" "($*)" "${states:-?}" \
        "${errors:-?}" "$verdict" "${first:+ ($first)}"
}

run good            pass
run good-req        pass -DCHECK_REQ
run wait-keeps-latch 'fail:early<=1' -DWAIT_KEEPS_LATCH
run seed            pass -DSEED
run seed-bug1       fail -DSEED -DBUG1
run bug1            fail -DBUG1
run bug2            fail -DBUG2
run bug2-req        fail -DBUG2 -DCHECK_REQ
run accept-load-store fail -DACCEPT_LOAD_STORE
run no-accept       fail -DNO_ACCEPT
run skip-notify     fail -DSKIP_NOTIFY
run skip-notify-req fail -DSKIP_NOTIFY -DCHECK_REQ

if [ "$fail" = 0 ]; then echo "spin: all checks passed"; else echo "spin: CHECK FAILED"; fi
exit "$fail"
