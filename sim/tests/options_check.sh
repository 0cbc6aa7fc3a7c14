#!/bin/sh
# options_check.sh — every bad doppel-sim option or value must end the run with
# exit code 64 and one message that names the option and the offending value
# (docs/sim.md, "Command line"); good option forms must get past parsing; end=hold
# warns and keeps the kernel's status (docs/protocol.md).
# Usage: options_check.sh path/to/doppel-sim
set -u
SIM=${1:?usage: options_check.sh DOPPEL_SIM}
passed=0
failed=0
n=0

# bad EXPECTED-TEXT ARGS... : exit 64, stderr mentions EXPECTED-TEXT, stdout silent
bad() {
	want=$1; shift
	n=$((n + 1))
	err=$("$SIM" "$@" 2>&1 >/dev/null)
	rc=$?
	out=$("$SIM" "$@" 2>/dev/null)
	if [ "$rc" -eq 64 ] && [ -n "$err" ] && [ -z "$out" ] &&
	   [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
	   printf '%s' "$err" | grep -qF -- "$want"; then
		passed=$((passed + 1)); echo "ok $n - rejects $*"
	else
		failed=$((failed + 1)); echo "not ok $n - rejects $* (rc=$rc: $err)"
	fi
}

# replay_of OUTPUT : the command in the "sim: replay:" line
replay_of() {
	printf '%s\n' "$1" | sed -n 's/^sim: replay: //p' | head -n 1
}

# good ARGS... : --dump-acpi run (no kernel) parses and exits 0; and its replay line,
# run again, parses to the very same replay line (every option the sim took is
# written back, sim/options.c's table)
good() {
	n=$((n + 1))
	dir=$(mktemp -d)
	if out=$("$SIM" --dump-acpi "$dir" "$@" 2>&1) && [ -s "$dir/APIC.dat" ]; then
		passed=$((passed + 1)); echo "ok $n - accepts $*"
	else
		failed=$((failed + 1)); echo "not ok $n - accepts $*"
	fi
	n=$((n + 1))
	first=$(replay_of "$out")
	again=$(eval "$first" 2>&1)
	second=$(replay_of "$again")
	missing=
	for a in "$@"; do
		case $a in
		--) break ;;
		--console*|--runs*|--check-determinism|--pci-dump-config*|--help) ;;  # not replayed
		--*) o=${a%%=*}
		     case " $first " in *" $o "*) ;; *) missing="$missing $o" ;; esac ;;
		esac
	done
	if [ -n "$first" ] && [ "$first" = "$second" ] && [ -z "$missing" ]; then
		passed=$((passed + 1)); echo "ok $n - replay of $* keeps every option and is stable"
	else
		failed=$((failed + 1)); echo "not ok $n - replay of $*: '$first' reran as '$second'; missing:$missing"
	fi
	rm -rf "$dir"
}

echo "TAP version 13"
bad "--cpus: '0'" --cpus 0
bad "--cpus: '257'" --cpus 257
bad "--cpus: 'x'" --cpus x
bad "--cpus: '-1'" --cpus -1
bad "--cpus: missing value" --cpus
bad "--mem: '15M'" --mem 15M
bad "--mem: '65G'" --mem 65G
bad "--mem: '12X'" --mem 12X
bad "--mem: '16777217'" --mem 16777217
bad "--mem: '99999999999999999999G'" --mem 99999999999999999999G
bad "--seed: '-5'" --seed -5
bad "--seed: '0x1g'" --seed 0x1g
bad "--seed: '18446744073709551616'" --seed 18446744073709551616
bad "--apic-ids: 'foo'" --apic-ids foo
bad "--apic-ids: 'dup'" --apic-ids dup --cpus 1
bad "--acpi-break: 'bogus'" --acpi-break bogus
bad "--acpi-break: 'rsdt-only'" --acpi-break rsdt-only --acpi-rev 2
bad "--acpi-break: 'xsdt-checksum'" --acpi-break xsdt-checksum --acpi-rev 0
bad "--acpi-rev: '1'" --acpi-rev 1
bad "--rsdp: 'xyz'" --rsdp xyz
bad "--console: cannot open '/nonexistent/x'" --console /nonexistent/x
bad "'--bogus' is not an option" --bogus
bad "'--c' is ambiguous" --c 3
bad "'-x' is not an option" -x
bad "not both" --cmdline a b
bad "--cmdline: the kernel command line is 600 bytes" --cmdline "$(printf '%600s' '' | tr ' ' x)"
bad "--numa: '0'" --numa 0
bad "--numa: '65'" --numa 65
bad "--numa: 8 nodes" --numa 8 --cpus 4
bad "--cpu-features: 'no-sse'" --cpu-features no-x2apic,no-sse
bad "--fault: 'ap-sleepy=1'" --fault ap-sleepy=1
bad "--fault: 'ap-dead'" --fault ap-dead
bad "--fault: 'late-ipi=0'" --fault late-ipi=0
bad "--fault: 'spurious-storm=4'" --cpus 4 --fault spurious-storm=4
bad "--fault: 'ap-dead=9'" --cpus 4 --fault ap-dead=9
bad "--fault: 'esr-send-error=0'" --cpus 4 --fault esr-send-error=0
bad "--pci: 'some'" --pci some
bad "--pci: missing value" --pci
bad "--pci-hostile: 'loop' in 'cap-loop,loop'" --pci-hostile cap-loop,loop
bad "--pci-hostile: 'cap-loop,,vanish' has an empty item" --pci-hostile cap-loop,,vanish
bad "--pci-hostile: ''" --pci-hostile ''
bad "--pci-dump-config: ''" --pci-dump-config ''
bad "'--no-mcfg=1': --no-mcfg takes no value" --no-mcfg=1
bad "--iommu: 'amd'" --iommu amd
bad "--iommu: missing value" --iommu
bad "--vtd-caching-mode: there is no VT-d unit with --iommu none" --iommu none --vtd-caching-mode
bad "--vtd-no-qi: there is no VT-d unit with --iommu none" --vtd-no-qi --iommu none
bad "'--vtd-no-qi=1': --vtd-no-qi takes no value" --vtd-no-qi=1
bad "--dmar-rmrr: missing value" --dmar-rmrr
bad "--dmar-rmrr: '0x6000000' is not BASE:LIMIT@BB:DD.F" --dmar-rmrr 0x6000000
bad "--dmar-rmrr: '0x6000000:0x6001fff' is not BASE:LIMIT@BB:DD.F" --dmar-rmrr 0x6000000:0x6001fff
bad "--dmar-rmrr: 'zz:0x6001fff@00:02.0' is not BASE:LIMIT@BB:DD.F" --dmar-rmrr zz:0x6001fff@00:02.0
bad "--dmar-rmrr: '6000000:@00:02.0' is not BASE:LIMIT@BB:DD.F" --dmar-rmrr 6000000:@00:02.0
bad "--dmar-rmrr: '0x6000000:0x6001fff@0:2.0': '0:2.0' is not a PCI address" --dmar-rmrr 0x6000000:0x6001fff@0:2.0
bad "--dmar-rmrr: '0x6000000:0x6001fff@00:20.0': '00:20.0' is not a PCI address" --dmar-rmrr 0x6000000:0x6001fff@00:20.0
bad "--dmar-rmrr: '0x6000000:0x6001fff@00:02.8': '00:02.8' is not a PCI address" --dmar-rmrr 0x6000000:0x6001fff@00:02.8
bad "--dmar-rmrr: '0x6002000:0x6001fff@00:02.0': base above limit" --dmar-rmrr 0x6002000:0x6001fff@00:02.0
bad "--dmar-rmrr: '0x6000800:0x6001fff@00:02.0': BASE and LIMIT+1 must be 4 KiB aligned" --dmar-rmrr 0x6000800:0x6001fff@00:02.0
bad "--dmar-rmrr: '0x6000000:0x6002000@00:02.0': BASE and LIMIT+1 must be 4 KiB aligned" --dmar-rmrr 0x6000000:0x6002000@00:02.0
bad "--dmar-rmrr: '0x1000000000000:0x1000000000fff@00:02.0': beyond the DMAR's 48-bit" --dmar-rmrr 0x1000000000000:0x1000000000fff@00:02.0
bad "--dmar-rmrr: '0x6001000:0x6002fff@00:03.0' overlaps an earlier --dmar-rmrr" \
	--dmar-rmrr 0x6000000:0x6001fff@00:02.0 --dmar-rmrr 0x6001000:0x6002fff@00:03.0
bad "--dmar-rmrr: '0x5000:0x5fff@00:02.0': at most 4" --dmar-rmrr 0x1000:0x1fff@00:02.0 \
	--dmar-rmrr 0x2000:0x2fff@00:02.0 --dmar-rmrr 0x3000:0x3fff@00:02.0 \
	--dmar-rmrr 0x4000:0x4fff@00:02.0 --dmar-rmrr 0x5000:0x5fff@00:02.0
bad "--dmar-rmrr: there is no DMAR with --iommu none" --iommu none --dmar-rmrr 0x6000000:0x6001fff@00:02.0
good --cpus 1 --mem 16M
good --cpus 256 --mem=64G --apic-ids sparse
good --seed 0xFFFFFFFFFFFFFFFF --acpi-rev 0 --rsdp scan
good --acpi-break rsdt-only
good --cpus 8 --numa 2 --cpu-features no-x2apic,no-tsc-deadline
good --cpus 4 --fault ap-dead=1 --fault ap-ignore-first-sipi=2 --fault esr-send-error=3 \
	--fault spurious-storm=0 --fault late-ipi=100
bad "size 'x'" --nvme mem,size=x
bad "unknown key 'foo'" --nvme mem,foo=1
bad "ns '17'" --nvme mem,ns=17
bad "queues '0'" --nvme mem,queues=0
bad "lbads '10'" --nvme mem,lbads=10
bad "not KEY=VALUE" --nvme mem,ns
bad "'none' with other" --nvme mem --nvme none
bad "at most 4" --nvme mem --nvme mem --nvme mem --nvme mem --nvme mem
good --mem 1048576K -- ktest=acpi expect.cpus=4
good --pci none --no-mcfg
good --nvme mem,size=1G,ns=4,queues=8,lbads=12 --nvme mem
good --nvme none
good --iommu none
good --iommu vtd --vtd-caching-mode --vtd-no-qi
good --dmar-rmrr 0x6000000:0x6001fff@00:02.0 --dmar-rmrr 7000000:7000FFF@01:00.0 \
	--dmar-rmrr=0xfee00000:0xfee00fff@ff:1f.7 --dmar-rmrr 0x4000:0x4fff@00:02.0
good --mode det --sched pct:5 --pct-k 1000 --max-steps 99999 --replay --seed 7 \
	--fault-sites 'pci.*=0.25' --fail-nth 3 --cmdline 'ktest=acpi  two  spaces'
good --pci shared-intx --numa 2 --cpu-features no-tsc-deadline
good --pci default --pci-hostile cap-loop,cap-in-header,bar-ones,msix-no-bar,vanish \
	--pci-hostile vanish --pci-dump-config /dev/null

# end=hold (docs/protocol.md): the sim has no monitor, so it warns and ends with the
# kernel's own status (1 here: one CPU where two are expected); a panic never holds.
# hold WANT-RC WANT-HOLD(yes|no) WORDS...
hold() {
	want_rc=$1; want_hold=$2; shift 2
	n=$((n + 1))
	out=$("$SIM" --cpus 1 -- "$@" 2>&1)
	rc=$?
	warned=no
	printf '%s\n' "$out" | grep -qxF "doppel: holding (end=hold)" &&
	printf '%s\n' "$out" | grep -qF "sim: warning: end=hold: the simulator has no monitor to hold for; ending with status $want_rc" &&
		warned=yes
	if [ "$rc" -eq "$want_rc" ] && [ "$warned" = "$want_hold" ]; then
		passed=$((passed + 1)); echo "ok $n - end=hold with $*: exit $rc, hold warning $warned"
	else
		failed=$((failed + 1)); echo "not ok $n - end=hold with $*: exit $rc (want $want_rc), hold warning $warned (want $want_hold)"
	fi
}
hold 1 yes ktest=smp expect.cpus=2 end=hold
hold 2 no ktest=selftest selftest.panic end=hold
echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
