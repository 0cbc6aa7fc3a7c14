#!/bin/sh
# acpi_iasl_check.sh — checks the ACPI tables doppel-sim generates against an
# independent reader, ACPICA's disassembler (`iasl -d`, Debian acpica-tools):
# good machines must decode with no checksum or length complaint and with the
# expected MADT entries and MCFG allocation (PCI Firmware 3.0 §4.1.2), --no-mcfg
# must leave the MCFG out; the DMAR (VT-d spec §8: one DRHD at 0xFED90000 with
# INCLUDE_PCI_ALL and an I/O APIC scope) must decode, --iommu none must leave it out,
# --dmar-rmrr adds RMRRs (§8.4) with one endpoint scope each that iasl decodes;
# each --acpi-break kind must show exactly its one fault.
# Usage: acpi_iasl_check.sh path/to/doppel-sim WORKDIR   (exit 77: no iasl, skipped)
set -u

SIM=${1:?usage: acpi_iasl_check.sh DOPPEL_SIM WORKDIR}
WORK=${2:?usage: acpi_iasl_check.sh DOPPEL_SIM WORKDIR}
MEM_HEX=10000000                # --mem 256M, for the outside-RAM checks

if ! command -v iasl >/dev/null 2>&1; then
	echo "# SKIP: iasl not found (Debian package acpica-tools)"
	exit 77
fi

passed=0
failed=0
n=0

ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo " not ok $n - $1"; }
not() { ! "$@"; }
check() { # check DESCRIPTION COMMAND...
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# dump NAME SIM-OPTIONS... : tables into $WORK/NAME, each disassembled to .dsl
dump() {
	name=$1; shift
	dir=$WORK/$name
	rm -rf "$dir"
	if ! "$SIM" --mem 256M --seed 1 "$@" --dump-acpi "$dir" >"$WORK/$name.log" 2>&1; then
		echo "# doppel-sim $* --dump-acpi failed:"; sed 's/^/#   /' "$WORK/$name.log"
		return 1
	fi
	for f in "$dir"/*.dat; do
		case $f in */RSDP.dat) continue ;; esac   # this iasl cannot read an RSDP alone
		(cd "$dir" && iasl -d "$(basename "$f")" >"${f%.dat}.iasl" 2>&1)
	done
	return 0
}

# Address doppel-sim reported for a table: "dump-acpi: DIR/SIG.dat: N bytes at 0xADDR"
addr_of() { sed -n "s|.*/$2\.dat: [0-9]* bytes at 0x\([0-9a-f]*\)$|\1|p" "$WORK/$1.log"; }

# iasl itself complained about the table (checksum, truncation, bad subtable).
iasl_clean() { # iasl_clean NAME SIG
	! grep -Eqi "incorrect checksum|terminates in the middle|invalid|error|\*\*\*\*" \
		"$WORK/$1/$2.iasl" "$WORK/$1/$2.dsl"
}
iasl_says() { grep -qi "$3" "$WORK/$1/$2.iasl" "$WORK/$1/$2.dsl"; }

hexval() { printf '%d' "0x$1"; }
field() { # field NAME SIG "Field Name" -> hex value of the first such line
	sed -n "s/^\[[^]]*\] *$3 : \([0-9A-Fa-f]*\).*/\1/p" "$WORK/$1/$2.dsl" | head -n 1
}

# Every MADT subtable lies inside the table (offsets and lengths as iasl decoded them).
madt_bounds_ok() {
	awk -v tlen="$(hexval "$(field "$1" APIC "Table Length")")" '
		function hex(s,   i, v) { v = 0; s = toupper(s)
			for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1
			return v }
		/Subtable Type :/ { off = $2 + 0; want = 1; next }
		want && /Length :/ { len = hex($NF); want = 0
		                     if (len < 2 || off + len > tlen) bad = 1 }
		END { exit bad }' "$WORK/$1/APIC.dsl"
}
count() { grep -c "$3" "$WORK/$1/$2.dsl"; }

# Root table: length is 36 + entry_size * n for the n addresses iasl decoded.
root_length_ok() { # NAME SIG ENTRY_SIZE
	tlen=$(hexval "$(field "$1" "$2" "Table Length")")
	nent=$(count "$1" "$2" "ACPI Table Address")
	[ "$tlen" -eq $((36 + $3 * nent)) ]
}
root_lists() { # NAME SIG HEXADDR
	grep "ACPI Table Address" "$WORK/$1/$2.dsl" | grep -qi "0*$3\$"
}
root_inside_ram() { # every address + 36 header bytes below the end of RAM
	for a in $(sed -n 's/.*ACPI Table Address *[0-9]* : \([0-9A-Fa-f]*\)$/\1/p' "$WORK/$1/$2.dsl"); do
		[ $((0x$a + 36)) -le $((0x$MEM_HEX)) ] || return 1
	done
}

# RSDP: checksum over 20 bytes, and for revision 2 over all 36.
rsdp_sum() { # NAME COUNT -> byte sum mod 256
	od -An -tu1 -v -N "$2" "$WORK/$1/RSDP.dat" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s % 256 }'
}
rsdp_rev() { od -An -tu1 -j 15 -N 1 "$WORK/$1/RSDP.dat" | tr -d ' '; }
rsdp_sig_ok() { [ "$(head -c 8 "$WORK/$1/RSDP.dat")" = "RSD PTR " ]; }

# Full set of checks for tables that must be good.
good_madt() { # NAME CPUS X2APIC_COUNT
	check "$1: iasl decodes APIC without complaint" iasl_clean "$1" APIC
	check "$1: MADT subtables stay inside the table" madt_bounds_ok "$1"
	check "$1: $2 processor entries" \
		[ $(( $(count "$1" APIC "\[Processor Local APIC\]") + $(count "$1" APIC "\[Processor Local x2APIC\]") )) -eq "$2" ]
	check "$1: $3 x2APIC entries" [ "$(count "$1" APIC "\[Processor Local x2APIC\]")" -eq "$3" ]
	check "$1: one I/O APIC at FEC00000" \
		[ "$(count "$1" APIC "\[I/O APIC\]")" -eq 1 -a "$(field "$1" APIC "Address")" = "FEC00000" ]
	check "$1: two interrupt source overrides" [ "$(count "$1" APIC "\[Interrupt Source Override\]")" -eq 2 ]
	check "$1: LINT1 NMI for all processors" [ "$(count "$1" APIC "\[Local APIC NMI\]")" -eq 1 ]
	if [ "$3" -gt 0 ]; then
		check "$1: x2APIC NMI present" [ "$(count "$1" APIC "\[Local x2APIC NMI\]")" -eq 1 ]
	fi
}
good_common() { # NAME REV
	for sig in FACP DSDT FACS RSDT; do
		check "$1: iasl decodes $sig without complaint" iasl_clean "$1" $sig
	done
	check "$1: RSDT length is 36 + 4n" root_length_ok "$1" RSDT 4
	check "$1: RSDT lists the FADT" root_lists "$1" RSDT "$(addr_of "$1" FACP)"
	check "$1: RSDP signature" rsdp_sig_ok "$1"
	check "$1: RSDP checksum (20 bytes)" [ "$(rsdp_sum "$1" 20)" -eq 0 ]
	check "$1: RSDP revision $2" [ "$(rsdp_rev "$1")" -eq "$2" ]
	if [ "$2" -eq 2 ]; then
		check "$1: iasl decodes XSDT without complaint" iasl_clean "$1" XSDT
		check "$1: XSDT length is 36 + 8n" root_length_ok "$1" XSDT 8
		check "$1: XSDT lists the FADT" root_lists "$1" XSDT "$(addr_of "$1" FACP)"
		check "$1: RSDP extended checksum (36 bytes)" [ "$(rsdp_sum "$1" 36)" -eq 0 ]
	else
		check "$1: no XSDT in an ACPI 1.0 layout" [ ! -e "$WORK/$1/XSDT.dat" ]
	fi
}

# MCFG: one allocation, ECAM at 0xB0000000 for segment 0 buses 0..255, listed in
# both root tables; its length is the 44-byte header plus 16 per allocation.
good_mcfg() { # NAME REV
	check "$1: iasl decodes MCFG without complaint" iasl_clean "$1" MCFG
	check "$1: MCFG base 0xB0000000" [ "$(field "$1" MCFG "Base Address")" = "00000000B0000000" ]
	check "$1: MCFG segment 0" [ "$(field "$1" MCFG "Segment Group Number")" = "0000" ]
	check "$1: MCFG buses 00-FF" \
		[ "$(field "$1" MCFG "Start Bus Number")" = "00" -a "$(field "$1" MCFG "End Bus Number")" = "FF" ]
	check "$1: MCFG one allocation (length 44 + 16)" \
		[ "$(hexval "$(field "$1" MCFG "Table Length")")" -eq 60 -a "$(count "$1" MCFG "Base Address")" -eq 1 ]
	check "$1: RSDT lists the MCFG" root_lists "$1" RSDT "$(addr_of "$1" MCFG)"
	if [ "$2" -eq 2 ]; then
		check "$1: XSDT lists the MCFG" root_lists "$1" XSDT "$(addr_of "$1" MCFG)"
	fi
}

# DMAR: HAW 47, one DRHD (INCLUDE_PCI_ALL, segment 0, base 0xFED90000) with one
# I/O APIC device scope (enumeration id 0, path 00:1f.0), listed in both root tables.
good_dmar() { # NAME REV
	check "$1: iasl decodes DMAR without complaint" iasl_clean "$1" DMAR
	check "$1: DMAR host address width 47 (48 bits)" [ "$(field "$1" DMAR "Host Address Width")" = "2F" ]
	check "$1: DMAR one hardware unit at FED90000" \
		[ "$(count "$1" DMAR "Hardware Unit Definition")" -eq 1 -a \
		  "$(field "$1" DMAR "Register Base Address")" = "00000000FED90000" ]
	check "$1: DRHD flags INCLUDE_PCI_ALL, segment 0" \
		[ "$(sed -n '/Hardware Unit Definition/,$p' "$WORK/$1/DMAR.dsl" | sed -n 's/^\[[^]]*\] *Flags : \([0-9A-F]*\).*/\1/p' | head -n 1)" = "01" -a \
		  "$(field "$1" DMAR "PCI Segment Number")" = "0000" ]
	check "$1: DMAR I/O APIC scope 0 at 00:1f.0" \
		[ "$(count "$1" DMAR "IOAPIC Device")" -eq 1 -a "$(field "$1" DMAR "Enumeration ID")" = "00" -a \
		  "$(sed -n 's/.*PCI Path : \(.*\)$/\1/p' "$WORK/$1/DMAR.dsl")" = "1F,00" ]
	check "$1: DMAR length 48 + 16 + 8" [ "$(hexval "$(field "$1" DMAR "Table Length")")" -eq 72 ]
	check "$1: RSDT lists the DMAR" root_lists "$1" RSDT "$(addr_of "$1" DMAR)"
	if [ "$2" -eq 2 ]; then
		check "$1: XSDT lists the DMAR" root_lists "$1" XSDT "$(addr_of "$1" DMAR)"
	fi
}

mkdir -p "$WORK" || exit 1
echo "TAP version 13"

# ---- good machines ----------------------------------------------------------------
for spec in "cpu1:1:dense:2:0" "cpu4:4:dense:2:0" "dense256:256:dense:2:1" \
            "sparse256:256:sparse:2:128" "sparse8:8:sparse:2:0" "dup8:8:dup:2:0" "rev0:4:dense:0:0"; do
	IFS=: read -r name cpus layout rev x2 <<EOF
$spec
EOF
	if dump "$name" --cpus "$cpus" --apic-ids "$layout" --acpi-rev "$rev"; then
		good_madt "$name" "$cpus" "$x2"
		good_common "$name" "$rev"
		good_mcfg "$name" "$rev"
		good_dmar "$name" "$rev"
		if [ "$rev" -eq 2 ]; then
			check "$name: XSDT lists the MADT" root_lists "$name" XSDT "$(addr_of "$name" APIC)"
		fi
	else
		not_ok "$name: dump"
	fi
done

# ---- one fault each: the fault shows, everything else stays good ------------------
if dump b-madt-checksum --cpus 4 --acpi-break madt-checksum; then
	check "madt-checksum: iasl flags the MADT checksum" iasl_says b-madt-checksum APIC "incorrect checksum"
	good_common b-madt-checksum 2
else not_ok "madt-checksum: dump"; fi

if dump b-xsdt-checksum --cpus 4 --acpi-break xsdt-checksum; then
	check "xsdt-checksum: iasl flags the XSDT checksum" iasl_says b-xsdt-checksum XSDT "incorrect checksum"
	good_madt b-xsdt-checksum 4 0
	check "xsdt-checksum: RSDT still good" iasl_clean b-xsdt-checksum RSDT
else not_ok "xsdt-checksum: dump"; fi

if dump b-madt-truncated --cpus 4 --acpi-break madt-truncated; then
	check "madt-truncated: iasl sees the table end inside an entry" \
		iasl_says b-madt-truncated APIC "terminates in the middle"
	check "madt-truncated: checksum still right" not iasl_says b-madt-truncated APIC "incorrect checksum"
	good_common b-madt-truncated 2
else not_ok "madt-truncated: dump"; fi

if dump b-madt-len0 --cpus 4 --acpi-break madt-entry-len0; then
	check "madt-entry-len0: iasl finds the zero-length entry" iasl_says b-madt-len0 APIC "zero length"
	check "madt-entry-len0: checksum still right" not iasl_says b-madt-len0 APIC "incorrect checksum"
	good_common b-madt-len0 2
else not_ok "madt-entry-len0: dump"; fi

if dump b-madt-overrun --cpus 4 --acpi-break madt-entry-overrun; then
	check "madt-entry-overrun: an entry runs past the table (from iasl's decode)" \
		not madt_bounds_ok b-madt-overrun
	check "madt-entry-overrun: checksum still right" not iasl_says b-madt-overrun APIC "incorrect checksum"
	good_common b-madt-overrun 2
else not_ok "madt-entry-overrun: dump"; fi

if dump b-xsdt-len --cpus 4 --acpi-break xsdt-bad-length; then
	check "xsdt-bad-length: XSDT length is not 36 + 8n (from iasl's decode)" \
		not root_length_ok b-xsdt-len XSDT 8
	check "xsdt-bad-length: checksum still right" not iasl_says b-xsdt-len XSDT "incorrect checksum"
	good_madt b-xsdt-len 4 0
else not_ok "xsdt-bad-length: dump"; fi

for kind in outside straddle; do
	name=b-xsdt-$kind
	if dump $name --cpus 4 --acpi-break xsdt-entry-$kind; then
		check "xsdt-entry-$kind: an XSDT entry's header is not in RAM" not root_inside_ram $name XSDT
		check "xsdt-entry-$kind: XSDT itself decodes cleanly" iasl_clean $name XSDT
		check "xsdt-entry-$kind: XSDT still lists the MADT" root_lists $name XSDT "$(addr_of $name APIC)"
		check "xsdt-entry-$kind: RSDT is untouched" root_inside_ram $name RSDT
		good_madt $name 4 0
	else not_ok "xsdt-entry-$kind: dump"; fi
done

# ---- SRAT (--numa) ------------------------------------------------------------------
for spec in "numa2:8:dense:2:0" "numa4-256:256:sparse:4:128"; do
	name=${spec%%:*}; rest=${spec#*:}
	cpus=${rest%%:*}; rest=${rest#*:}
	layout=${rest%%:*}; rest=${rest#*:}
	nodes=${rest%%:*}; x2=${rest#*:}
	if dump "$name" --cpus "$cpus" --apic-ids "$layout" --numa "$nodes"; then
		check "$name: iasl decodes SRAT without complaint" iasl_clean "$name" SRAT
		check "$name: $cpus processor affinity entries" \
			[ $(( $(count "$name" SRAT "Processor Local APIC/SAPIC Affinity") + $(count "$name" SRAT "Processor Local x2APIC Affinity") )) -eq "$cpus" ]
		check "$name: $x2 x2APIC affinity entries" \
			[ "$(count "$name" SRAT "Processor Local x2APIC Affinity")" -eq "$x2" ]
		check "$name: memory affinity for every node" \
			[ "$(count "$name" SRAT "Memory Affinity")" -ge "$nodes" ]
		check "$name: XSDT lists the SRAT" root_lists "$name" XSDT "$(addr_of "$name" SRAT)"
		check "$name: RSDT lists the SRAT" root_lists "$name" RSDT "$(addr_of "$name" SRAT)"
		good_madt "$name" "$cpus" "$x2"
	else
		not_ok "$name: dump"
	fi
done

if dump b-rsdp-checksum --cpus 4 --acpi-break rsdp-checksum; then
	check "rsdp-checksum: 20-byte checksum wrong" [ "$(rsdp_sum b-rsdp-checksum 20)" -ne 0 ]
	check "rsdp-checksum: 36-byte checksum right" [ "$(rsdp_sum b-rsdp-checksum 36)" -eq 0 ]
	good_madt b-rsdp-checksum 4 0
else not_ok "rsdp-checksum: dump"; fi

if dump b-rsdp-ext --cpus 4 --acpi-break rsdp-ext-checksum; then
	check "rsdp-ext-checksum: 20-byte checksum right" [ "$(rsdp_sum b-rsdp-ext 20)" -eq 0 ]
	check "rsdp-ext-checksum: 36-byte checksum wrong" [ "$(rsdp_sum b-rsdp-ext 36)" -ne 0 ]
	good_madt b-rsdp-ext 4 0
else not_ok "rsdp-ext-checksum: dump"; fi

if dump b-madt-missing --cpus 4 --acpi-break madt-missing; then
	check "madt-missing: no MADT generated" [ ! -e "$WORK/b-madt-missing/APIC.dat" ]
	check "madt-missing: XSDT lists only the FADT, the MCFG and the DMAR" \
		[ "$(count b-madt-missing XSDT "ACPI Table Address")" -eq 3 ]
	good_common b-madt-missing 2
else not_ok "madt-missing: dump"; fi

if dump b-rsdt-only --cpus 4 --acpi-break rsdt-only; then
	good_madt b-rsdt-only 4 0
	good_common b-rsdt-only 0
	check "rsdt-only: RSDT lists the MADT" root_lists b-rsdt-only RSDT "$(addr_of b-rsdt-only APIC)"
else not_ok "rsdt-only: dump"; fi

# ---- --no-mcfg: no MCFG anywhere, everything else good --------------------------------
if dump no-mcfg --cpus 4 --no-mcfg; then
	check "no-mcfg: no MCFG generated" [ ! -e "$WORK/no-mcfg/MCFG.dat" ]
	check "no-mcfg: XSDT lists the FADT, the MADT and the DMAR only" \
		[ "$(count no-mcfg XSDT "ACPI Table Address")" -eq 3 ]
	good_madt no-mcfg 4 0
	good_common no-mcfg 2
else not_ok "no-mcfg: dump"; fi

# ---- --iommu none: no DMAR anywhere, everything else good -----------------------------
if dump iommu-none --cpus 4 --iommu none; then
	check "iommu-none: no DMAR generated" [ ! -e "$WORK/iommu-none/DMAR.dat" ]
	check "iommu-none: XSDT lists the FADT, the MADT and the MCFG only" \
		[ "$(count iommu-none XSDT "ACPI Table Address")" -eq 3 ]
	good_madt iommu-none 4 0
	good_common iommu-none 2
	good_mcfg iommu-none 2
else not_ok "iommu-none: dump"; fi

# ---- --dmar-rmrr: RMRRs after the DRHD, each one endpoint scope ---------------------------
rmrr_field() { # NAME N "Field" -> the field of the Nth RMRR (1-based)
	awk -v n="$2" -v f="$3" '
		/Subtable Type : 0001/ { k++ }
		k == n && index($0, f " :") { sub(/.* : /, ""); print; exit }' "$WORK/$1/DMAR.dsl"
}
if dump rmrr --cpus 2 --dmar-rmrr 0x6000000:0x6001fff@00:02.0 --dmar-rmrr 7000000:7000fff@01:00.0; then
	check "rmrr: iasl decodes DMAR without complaint" iasl_clean rmrr DMAR
	check "rmrr: two Reserved Memory Regions" [ "$(count rmrr DMAR "Reserved Memory Region")" -eq 2 ]
	check "rmrr: DMAR length 48 + 16 + 8 + 2 * (24 + 8)" \
		[ "$(hexval "$(field rmrr DMAR "Table Length")")" -eq 136 ]
	check "rmrr: first region 0x6000000-0x6001fff, segment 0, length 32" \
		[ "$(rmrr_field rmrr 1 "Base Address")" = "0000000006000000" -a \
		  "$(rmrr_field rmrr 1 "End Address (limit)")" = "0000000006001FFF" -a \
		  "$(rmrr_field rmrr 1 "PCI Segment Number")" = "0000" -a \
		  "$(rmrr_field rmrr 1 "Length")" = "0020" ]
	check "rmrr: first region's scope is endpoint 00:02.0" \
		[ "$(rmrr_field rmrr 1 "Device Scope Type")" = "01 [PCI Endpoint Device]" -a \
		  "$(rmrr_field rmrr 1 "PCI Bus Number")" = "00" -a "$(rmrr_field rmrr 1 "PCI Path")" = "02,00" ]
	check "rmrr: second region 0x7000000-0x7000fff, endpoint 01:00.0" \
		[ "$(rmrr_field rmrr 2 "Base Address")" = "0000000007000000" -a \
		  "$(rmrr_field rmrr 2 "End Address (limit)")" = "0000000007000FFF" -a \
		  "$(rmrr_field rmrr 2 "PCI Bus Number")" = "01" -a "$(rmrr_field rmrr 2 "PCI Path")" = "00,00" ]
	check "rmrr: one hardware unit still, with its I/O APIC scope" \
		[ "$(count rmrr DMAR "Hardware Unit Definition")" -eq 1 -a "$(count rmrr DMAR "IOAPIC Device")" -eq 1 ]
	check "rmrr: XSDT lists the DMAR" root_lists rmrr XSDT "$(addr_of rmrr DMAR)"
else not_ok "rmrr: dump"; fi

echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
