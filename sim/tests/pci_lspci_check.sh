#!/bin/sh
# pci_lspci_check.sh — checks the simulated PCIe fabric against an independent
# reader, pciutils' `lspci -F DUMP -vv` (Debian pciutils), on the config spaces
# doppel-sim writes with --pci-dump-config: the docs/pci.md device set with its
# capabilities and firmware setup, each --pci-hostile kind, --no-mcfg, --pci none.
# Usage: pci_lspci_check.sh path/to/doppel-sim WORKDIR   (exit 77: no lspci, skipped)
set -u

SIM=${1:?usage: pci_lspci_check.sh DOPPEL_SIM WORKDIR}
WORK=${2:?usage: pci_lspci_check.sh DOPPEL_SIM WORKDIR}

if ! command -v lspci >/dev/null 2>&1; then
	echo "# SKIP: lspci not found (Debian package pciutils)"
	exit 77
fi

passed=0
failed=0
n=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else not_ok "$desc"; fi; }
not() { ! "$@"; }

# run NAME SIM-OPTIONS... : boot a short kernel run, dump config, decode with lspci
run() {
	name=$1; shift
	rm -f "$WORK/$name.dump"
	if ! "$SIM" --cpus 1 --seed 1 "$@" --pci-dump-config "$WORK/$name.dump" -- ktest=acpi \
	     >"$WORK/$name.log" 2>&1; then
		echo "# doppel-sim $* failed:"; tail -n 20 "$WORK/$name.log" | sed 's/^/#   /'
		return 1
	fi
	lspci -F "$WORK/$name.dump" -vv >"$WORK/$name.lspci" 2>/dev/null
}

# The block lspci printed for one function (header line to the blank line).
dev() { awk -v a="$2" '$1 == a { on = 1 } on && /^$/ { exit } on' "$WORK/$1.lspci"; }
has() { dev "$1" "$2" | grep -qF -- "$3"; }
devices() { grep -c '^[0-9a-f][0-9a-f]:' "$WORK/$1.lspci"; }
# Byte at OFF (hex, < 0x10) of function ADDR in the raw dump.
byte() {
	awk -v a="0000:$2" -v o="$3" '
		$1 == a { on = 1; next }
		on && $1 == "00:" { print $(o + 2); exit }' "$WORK/$1.dump"
}

bar0_ones() { grep -A2 "^0000:$2" "$WORK/$1.dump" | grep -q '^10: ff ff ff ff'; }

mkdir -p "$WORK" || exit 1
echo "TAP version 13"

# ---- the default device set ---------------------------------------------------------
if run default; then
	check "default: eight functions (with the ICH9 LPC and AHCI at 00:1f)" [ "$(devices default)" -eq 8 ]
	check "default: AHCI at 00:1f.2, class 0106" has default 00:1f.2 "SATA controller"
	check "default: host bridge 8086:29c0" has default 00:00.0 "Host bridge: Intel Corporation 82G33"
	check "default: edu at 00:02.0" has default 00:02.0 "Device 1234:11e8"
	check "default: edu MSI 1 vector, 64-bit" has default 00:02.0 "MSI: Enable- Count=1/1 Maskable- 64bit+"
	check "default: edu BAR0 assigned in the hole" has default 00:02.0 "Region 0: Memory at c"
	check "default: edu INTA on IRQ 18" has default 00:02.0 "pin A routed to IRQ 18"
	check "default: NVMe class" has default 00:03.0 "Non-Volatile memory controller"
	check "default: NVMe MSI-X 65 vectors" has default 00:03.0 "MSI-X: Enable- Count=65 Masked-"
	check "default: NVMe table in BAR0" has default 00:03.0 "Vector table: BAR=0"
	check "default: NVMe PCIe endpoint" has default 00:03.0 "Express (v2) Endpoint"
	check "default: NVMe AER" has default 00:03.0 "Advanced Error Reporting"
	check "default: root port bus numbers" has default 00:04.0 "primary=00, secondary=01, subordinate=01"
	check "default: root port is a PCIe root port" has default 00:04.0 "Express (v2) Root Port"
	check "default: root port memory window" has default 00:04.0 "Memory behind bridge: c"
	check "default: root port forwards" has default 00:04.0 "I/O+ Mem+ BusMaster-"
	check "default: testdev fn 0 MSI 32 vectors, maskable, 64-bit" \
		has default 01:00.0 "MSI: Enable- Count=1/32 Maskable+ 64bit+"
	check "default: testdev fn 1 MSI-X 2048 vectors" has default 01:00.1 "MSI-X: Enable- Count=2048 Masked-"
	check "default: testdev fn 1 table in BAR2" has default 01:00.1 "Vector table: BAR=2"
	check "default: testdev fn 0 header says multi-function" [ "$(byte default 01:00.0 14)" = "80" ]
	check "default: edu header is single-function" [ "$(byte default 00:02.0 14)" = "00" ]
	check "default: no function is bus master (firmware leaves it off)" \
		not grep -q "BusMaster+" "$WORK/default.lspci"
else not_ok "default: run"; fi

# ---- hostile endpoints --------------------------------------------------------------
if run hostile --pci-hostile cap-loop,cap-in-header,bar-ones,msix-no-bar,vanish; then
	check "hostile: cap-loop at 00:10.0 loops" has hostile 00:10.0 "<chain looped>"
	check "hostile: cap-in-header at 00:11.0 points at 0x10" has hostile 00:11.0 "Capabilities: [10]"
	check "hostile: bar-ones at 00:12.0 has no usable region" not has hostile 00:12.0 "Region 0"
	check "hostile: bar-ones BAR0 reads all ones" bar0_ones hostile 00:12.0
	check "hostile: msix-no-bar table in BAR3" has hostile 00:13.0 "Vector table: BAR=3"
	check "hostile: msix-no-bar has no BAR3" not has hostile 00:13.0 "Region 3"
	check "hostile: the vanished device is gone" [ -z "$(dev hostile 00:14.0)" ]
	check "hostile: the vanish was logged" grep -q "hostile-vanish.*vanishes after" "$WORK/hostile.log"
	check "hostile: the rest is still there" has hostile 01:00.1 "Count=2048"
else not_ok "hostile: run"; fi

# ---- legacy only, and no devices ------------------------------------------------------
if run nomcfg --no-mcfg; then
	check "no-mcfg: eight functions" [ "$(devices nomcfg)" -eq 8 ]
	check "no-mcfg: the kernel used 0xCF8/0xCFC" grep -q "pci.mechanism=legacy" "$WORK/nomcfg.log"
else not_ok "no-mcfg: run"; fi
if run none --pci none; then
	check "none: host bridge only" [ "$(devices none)" -eq 1 ]
else not_ok "none: run"; fi

echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
