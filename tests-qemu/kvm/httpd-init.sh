#!/bin/busybox sh
# /init of the Linux guest `cargo xtask bench` measures beside aiolos (tests-qemu/src/bench/io/):
# Debian's arm64 kernel, this initramfs (busybox-static and the virtio modules, made by
# tests-qemu/src/boot/kvm/httpd.rs) and the page aiolos served, /www/index.html.
#   default        virtio-net up at 10.0.2.15/24 (the address aiolos takes), busybox httpd on
#                  port 80 serving /www; prints `linux-httpd: serving`, serves until stopped
#   bench.blk=N    instead: N reads of 4 KiB with O_DIRECT from /dev/vda at queue depth 1
#                  (one dd) and 32 (32 dd processes on 32 regions), each pass printed as
#                  `linux-blk: qd=QD n=N ns=NS`, then `linux-blk: done` and power off
# Every line the host parses starts with `linux-httpd:` or `linux-blk:`.

/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

for m in virtio_mmio failover net_failover virtio_net virtio_blk; do
	insmod "/lib/modules/$m.ko" || echo "linux-httpd: insmod $m failed"
done

BLK=
for w in $(cat /proc/cmdline); do
	case "$w" in
	bench.blk=*) BLK="${w#bench.blk=}" ;;
	esac
done

# CLOCK_MONOTONIC in ns (busybox date has no %N).
now() { sed -n 's/^now at \([0-9]*\) nsecs$/\1/p' /proc/timer_list; }

if [ -n "$BLK" ]; then
	i=0
	while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -b /dev/vda ] || echo "linux-blk: no /dev/vda"
	for qd in 1 32; do
		per=$((BLK / qd))
		t0=$(now)
		k=0
		pids=
		while [ $k -lt $qd ]; do
			dd if=/dev/vda of=/dev/null bs=4096 count=$per skip=$((k * per)) iflag=direct 2>/tmp/dd.$k &
			pids="$pids $!"
			k=$((k + 1))
		done
		for p in $pids; do wait "$p"; done
		t1=$(now)
		k=0
		while [ $k -lt $qd ]; do
			grep -q "^$per+0 records in" /tmp/dd.$k || echo "linux-blk: dd failed: $(cat /tmp/dd.$k)"
			k=$((k + 1))
		done
		echo "linux-blk: qd=$qd n=$((per * qd)) ns=$((t1 - t0))"
	done
	echo "linux-blk: done"
	poweroff -f
fi

i=0
while ! ifconfig eth0 >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
httpd -p 80 -h /www
echo "linux-httpd: serving"
while true; do sleep 3600; done
