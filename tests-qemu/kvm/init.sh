#!/bin/busybox sh
# /init of the outer arm64 Linux VM used by `cargo xtask kvm` (see tests-qemu/src/boot/kvm/).
#
# The outer VM boots under TCG with virtualization=on, so its kernel runs at EL2 and brings up
# KVM. This script checks that /dev/kvm exists, runs the aiolos guest (/guest.elf, from the
# small per-run cpio) in the arm64 qemu-system-aarch64 (from the big cached cpio) with
# `-accel kvm` -- never a TCG fallback -- and powers the outer VM off. Parameters come from the
# outer kernel command line so that neither cpio has to change for them:
#   aiolos.smp=N  aiolos.mem=SIZE  aiolos.timeout=SECS  aiolos.append=PERCENT-ENCODED
#   aiolos.reboot=1  (the soak: no -no-reboot, a guest's PSCI SYSTEM_RESET boots it again;
#                     the host stops the outer VM once it has counted its rounds)
#   aiolos.blk=DEVICE  (a fresh zeroed 8 MiB /disk.img as QEMU device DEVICE, e.g.
#                     virtio-blk-pci: the block test under KVM)
# Every line the host parses starts with `aiolos-kvm:` or is one of the `===` markers.

/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

say() { echo "aiolos-kvm: $*"; }
off() { sync; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger; }

say "outer up at $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus"

SMP=1; MEM=256M; TIMEOUT=240; APPEND=; NOREBOOT=-no-reboot; BLK=
for w in $(cat /proc/cmdline); do
	case "$w" in
	aiolos.smp=*) SMP="${w#aiolos.smp=}" ;;
	aiolos.mem=*) MEM="${w#aiolos.mem=}" ;;
	aiolos.timeout=*) TIMEOUT="${w#aiolos.timeout=}" ;;
	aiolos.reboot=1) NOREBOOT= ;;
	aiolos.blk=*) BLK="${w#aiolos.blk=}" ;;
	aiolos.append=*) APPEND="$(printf '%b' "$(echo "${w#aiolos.append=}" | sed 's/%/\\x/g')")" ;;
	esac
done

# Evidence that KVM is real: the outer kernel's own KVM init line, and the device node.
dmesg | grep -E 'kvm \[[0-9]+\]: .*(initialized|mode)' | sed 's/^/aiolos-kvm: dmesg: /'
if [ ! -c /dev/kvm ]; then
	say "accel: none: /dev/kvm is missing, refusing to fall back to TCG"
	dmesg | grep -i kvm | sed 's/^/aiolos-kvm: dmesg: /'
	echo "=== guest end rc=125 ==="
	off
fi
say "accel: kvm ($(ls -l /dev/kvm | sed 's/  */ /g'))"

set -- -M virt,gic-version=3 -accel kvm -cpu host -smp "$SMP" -m "$MEM" \
	-nographic -nic none $NOREBOOT -kernel /guest.elf
[ -n "$APPEND" ] && set -- "$@" -append "$APPEND"
if [ -n "$BLK" ]; then
	dd if=/dev/zero of=/disk.img bs=1M count=8 2>/dev/null || { say "cannot make /disk.img"; echo "=== guest end rc=124 ==="; off; }
	set -- "$@" -drive if=none,file=/disk.img,format=raw,id=d0 -device "$BLK,drive=d0"
fi
say "inner: qemu-system-aarch64 $*"
say "inner timeout: ${TIMEOUT} s"

T0=$(cut -d' ' -f1 /proc/uptime)
echo "=== guest start ==="
# stdin from /dev/null: -nographic multiplexes the monitor onto stdio; nothing to type here.
timeout -s KILL "$TIMEOUT" /lib/ld-linux-aarch64.so.1 /usr/bin/qemu-system-aarch64 "$@" </dev/null
RC=$?
T1=$(cut -d' ' -f1 /proc/uptime)
echo
echo "=== guest end rc=$RC ==="
say "inner run: $T0 s -> $T1 s (outer uptime)"
off
