#!/usr/bin/env bash
# Cargo runner for aarch64-unknown-none (see .cargo/config.toml). `cargo run [-- ARGS]` at the
# workspace root builds the kernel, then cargo calls `runner.sh path/to/kernel ARGS...`; we boot
# it in QEMU through the host harness: `cargo xtask boot KERNEL ARGS...` (same options and
# defaults as `cargo xtask run`).
#
# Checked with cargo 1.95: the outer `cargo run` has released the build-directory lock by the
# time it execs the runner, so the nested cargo (same target/) does not block.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 KERNEL_ELF [boot options]" >&2
    exit 2
fi
kernel="$(realpath "$1")"
shift
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo xtask boot "$kernel" "$@"
