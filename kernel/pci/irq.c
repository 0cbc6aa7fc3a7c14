/*
 * irq.c — the PCI interrupt API: one allocation with the fallback chain MSI-X ->
 * MSI -> INTx -> polling, each failed step undone before the next (no vector,
 * table entry or enable bit left behind), INTx through the I/O APIC pin of the
 * firmware's interrupt line (PCI Local Bus 3.0 §6.2.4; MADT overrides, ACPI 6.5
 * §5.2.12.5), shared by every function on that GSI (§2.2.6), masking, pending bits
 * and affinity. MSI/MSI-X details: msi.c.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/fault.h>
#include <kernel/heap.h>
#include <kernel/irq.h>
#include <kernel/log.h>
#include <kernel/pci.h>
#include <kernel/percpu.h>
#include <kernel/printf.h>
#include <kernel/smp.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include "msi_priv.h"

const char *pci_irq_mode_name(enum pci_irq_mode m)
{
	switch (m) {
	case PCI_IRQ_MSIX: return "msix";
	case PCI_IRQ_MSI: return "msi";
	case PCI_IRQ_INTX: return "intx";
	case PCI_IRQ_POLL: return "poll";
	default: return "none";
	}
}

/* ---- waiting for handlers ------------------------------------------------------------ */

static void sync_nop(uint64_t unused)
{
	(void)unused;
}

/* The other online CPUs owning one of the first n vectors (taken before teardown
 * clears them). */
static void owners(const struct pci_irq *pi, unsigned n, struct cpumask *m)
{
	cpumask_clear(m);
	unsigned me = hal_cpu_index();
	for (unsigned i = 0; i < n; i++)
		if (pi->vec[i].count && pi->vec[i].cpu != me && cpu_online(pi->vec[i].cpu))
			cpumask_set(m, pi->vec[i].cpu);
}

/* Wait until no handler of this allocation can still be running: the handlers
 * run with interrupts off, so once every CPU that owned one of its vectors has
 * answered a cross-call, any handler that began before has returned. */
static void sync_handlers(const struct cpumask *m)
{
	if (!cpumask_empty(m) && smp_call(m, sync_nop, 0, SMP_CALL_TIMEOUT_US, 0) != 0)
		klog("pci", "irq free: a CPU did not answer; its handler may still be running");
}

/* ---- INTx: shared lines -------------------------------------------------------------- */

/*
 * PCI INTx is level-triggered, active low and shareable by design (PCI Local Bus 3.0
 * §2.2.6; Interrupt Line/Pin §6.2.4): several functions may drive one line, so one
 * GSI. One record per routed GSI holds the vector and the list of member
 * allocations. The first function on a GSI takes the vector (on the CPU it asked
 * for) and routes the I/O APIC pin; later functions with the same trigger and
 * polarity join the record without a vector of their own, and their pi->vec[0] is
 * a copy of the line's vector. The last member to leave unroutes the pin (masked)
 * and frees the vector on its owning CPU.
 *
 * Lock order: intx_lock, then ioapic_lock (route, unroute, affinity), the PCI
 * config lock (Status/Command reads in the handler) and
 * console_lock (klog). intx_lock is a spinlock that disables interrupts (state
 * saved); the shared handler calls the members' fns while holding it, so a member
 * unlinked under it is never called again, and nothing waits for another CPU
 * (cross-calls, handler syncs) while it is held.
 */
#define INTX_MAX_LINES 32                   /* GSIs with PCI INTx routed at once */

enum intx_state { INTX_FREE, INTX_LIVE, INTX_CLOSING };

struct intx_line {
	enum intx_state state;
	uint32_t gsi;
	uint16_t flags;                     /* MPS INTI flags the pin is programmed with */
	unsigned nmembers;
	struct irq_vec vec;                 /* the shared vector, on its owning CPU */
	struct pci_irq_priv *members;       /* linked through intx_next */
};

static struct spinlock intx_lock = SPINLOCK_INIT("pci-intx");
static struct intx_line intx_lines[INTX_MAX_LINES];

/* A member is unmasked when its Command register's INTx Disable is clear (and the
 * function still answers config reads). */
static bool intx_unmasked(const struct pci_dev *d)
{
	uint16_t cmd = pci_cfg_read16(&d->addr, PCI_COMMAND);
	return cmd != 0xFFFF && !(cmd & PCI_COMMAND_INTX_DISABLE);
}

/*
 * Storm guard. A level-triggered line stays asserted until the function's driver
 * quiets the device, so a handler that does not (a driver bug, or a device that
 * will not deassert) would keep its CPU taking the same interrupt for ever. After
 * each call the function's Interrupt Status is read again; still set on
 * PCI_INTX_STORM_LIMIT interrupts in a row, the function is masked with INTx Disable
 * (only it: the other functions on the line keep working) and one line is logged.
 * pci_irq_unmask lifts it. A busy device that re-asserts between its handler and
 * this read now and then only restarts the count. (Linux's note_interrupt "nobody
 * cared" plays the same role for whole lines.)
 */
static void intx_storm_check(struct pci_irq_priv *p)
{
	struct pci_dev *d = p->pi->dev;
	if (!(pci_cfg_read16(&d->addr, PCI_STATUS) & PCI_STATUS_INTX)) {
		p->intx_stuck = 0;
		return;
	}
	if (++p->intx_stuck < PCI_INTX_STORM_LIMIT)
		return;
	pci_intx_disable(d, true);
	p->intx_stuck = 0;
	atomic_fetch_add32(&p->intx_storms, 1, MO_RELAXED);
	klog("pci", "%04x:%02x:%02x.%x %04x:%04x: INTx still asserted after its handler ran %u times "
	     "in a row: masked (INTx Disable); its driver must quiet the device in the handler",
	     d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn, d->vendor, d->device, PCI_INTX_STORM_LIMIT);
}

static void intx_handler(uint8_t vector, void *arg)
{
	(void)vector;
	struct intx_line *l = arg;
	unsigned called = 0;
	spin_lock(&intx_lock);
	/* Every unmasked member whose Interrupt Status bit (§6.2.3) is set: it is one of
	 * the functions holding the line asserted. */
	for (struct pci_irq_priv *p = l->members; p; p = p->intx_next) {
		const struct pci_dev *d = p->pi->dev;
		if (!intx_unmasked(d) || !(pci_cfg_read16(&d->addr, PCI_STATUS) & PCI_STATUS_INTX))
			continue;
		p->fn(0, p->arg);
		intx_storm_check(p);
		called++;
	}
	/* No member shows the bit: a function older than PCI 2.3 has no Interrupt
	 * Status, so each unmasked member is asked (its fn checks its own device). */
	if (!called)
		for (struct pci_irq_priv *p = l->members; p; p = p->intx_next)
			if (intx_unmasked(p->pi->dev))
				p->fn(0, p->arg);
	spin_unlock(&intx_lock);
	/* Level-triggered: each fn must quiet its device before the EOI that follows,
	 * or the I/O APIC sends the interrupt again. */
}

static struct intx_line *intx_find(uint32_t gsi)
{
	for (unsigned i = 0; i < INTX_MAX_LINES; i++)
		if (intx_lines[i].state == INTX_LIVE && intx_lines[i].gsi == gsi)
			return &intx_lines[i];
	return 0;
}

static void intx_link(struct intx_line *l, struct pci_irq_priv *p)
{
	p->intx = l;
	p->intx_joined = l->nmembers;
	p->intx_next = l->members;
	l->members = p;
	l->nmembers++;
	p->pi->vec[0] = l->vec;
}

static int intx_setup(struct pci_irq *pi, unsigned cpu, const char **why)
{
	struct pci_dev *d = pi->dev;
	struct pci_irq_priv *p = pi->priv;
	if (!d->irq_pin) {
		*why = "no interrupt pin";
		return -ENODEV;
	}
	if (d->irq_line == 0 || d->irq_line == 0xFF) {
		*why = "the firmware left no interrupt line";
		return -ENODEV;
	}
	if (!ioapic_pin_count()) {
		*why = "no I/O APIC";
		return -ENODEV;
	}
	/* The line is a GSI; below 16 it is an ISA IRQ that a MADT override may move.
	 * A PCI interrupt is level-triggered and active low unless an override says
	 * otherwise (flags 00 = "conforms to the bus", the PCI bus here). */
	uint32_t gsi = d->irq_line;
	uint16_t fl = 0;
	if (d->irq_line < 16 && ioapic_isa_to_gsi(d->irq_line, &gsi, &fl) != 0) {
		gsi = d->irq_line;
		fl = 0;
	}
	if ((fl & PCI_MPS_POL_MASK) == PCI_MPS_POL_CONFORMS)
		fl |= PCI_MPS_POL_LOW;
	if ((fl & PCI_MPS_TRIG_MASK) == PCI_MPS_TRIG_CONFORMS)
		fl |= PCI_MPS_TRIG_LEVEL;
	fl &= PCI_MPS_POL_MASK | PCI_MPS_TRIG_MASK;

	/* Vectors start masked: INTx Disable stays set until pci_irq_unmask. */
	bool intx_was = pci_intx_disable(d, true);
	int rc = 0;
	spin_lock(&intx_lock);
	struct intx_line *l = intx_find(gsi);
	if (l) {
		/* Sharing needs one pin programming for every member. */
		if (l->flags != fl) {
			*why = "its GSI is shared with a different trigger or polarity";
			rc = -EBUSY;
			goto out;
		}
		intx_link(l, p);
		goto out;
	}
	for (unsigned i = 0; i < INTX_MAX_LINES && !l; i++)
		if (intx_lines[i].state == INTX_FREE)
			l = &intx_lines[i];
	if (!l) {
		*why = "too many INTx lines in use";
		rc = -ENOSPC;
		goto out;
	}
	rc = irq_alloc(cpu, 1, intx_handler, l, &l->vec);
	if (rc) {
		*why = rc == -ENOSPC ? "no free vector on the CPU" : "vector allocation failed";
		goto out;
	}
	rc = ioapic_route(gsi, &l->vec, fl);
	if (rc == 0 && FAULT_SITE("pci.intx.route")) {
		ioapic_unroute(gsi);    /* fault site: exercise the undo of a routed pin */
		rc = -EIO;
	}
	if (rc) {
		/* The first member: only the route and the vector exist; the record was
		 * never live, so nobody joined it. */
		*why = rc == -EBUSY ? "its GSI is routed to a handler outside the PCI layer"
		     : rc == -ENOENT ? "no I/O APIC pin for its GSI" : "the I/O APIC refused the route";
		irq_free(&l->vec);
		goto out;
	}
	l->state = INTX_LIVE;
	l->gsi = gsi;
	l->flags = fl;
	l->nmembers = 0;
	l->members = 0;
	intx_link(l, p);
out:
	spin_unlock(&intx_lock);
	if (rc) {
		pci_intx_disable(d, intx_was);
		return rc;
	}
	pi->gsi = gsi;
	pi->nvec = 1;
	return 0;
}

/* Leave the line: INTx Disable first, unlinked under intx_lock (never called
 * again), then a cross-call to the vector's CPU so a handler that began before
 * has returned. The last member also unroutes the pin (masked) and frees the
 * vector on its owning CPU; any other member leaves the vector to the line. */
static void intx_teardown(struct pci_irq *pi)
{
	struct pci_irq_priv *p = pi->priv;
	struct intx_line *l = p->intx;
	pci_intx_disable(pi->dev, true);        /* quiet the source first */
	if (!l)
		return;
	struct cpumask m;
	cpumask_clear(&m);
	spin_lock(&intx_lock);
	for (struct pci_irq_priv **pp = &l->members; *pp; pp = &(*pp)->intx_next)
		if (*pp == p) {
			*pp = p->intx_next;
			l->nmembers--;
			break;
		}
	bool last = l->nmembers == 0;
	if (l->vec.cpu != hal_cpu_index() && cpu_online(l->vec.cpu))
		cpumask_set(&m, l->vec.cpu);
	if (last) {
		ioapic_unroute(l->gsi);         /* masked there, then forgotten */
		l->state = INTX_CLOSING;        /* nobody joins; the record is not reused yet */
	}
	spin_unlock(&intx_lock);
	p->intx = 0;
	p->intx_next = 0;
	pi->vec[0] = (struct irq_vec){ 0 };     /* a copy: the line's vector is not ours */
	sync_handlers(&m);
	if (last) {
		irq_free(&l->vec);
		spin_lock(&intx_lock);
		l->state = INTX_FREE;
		spin_unlock(&intx_lock);
	}
}

/* Affinity of a shared line moves it for every member: one new vector on the
 * target CPU, the pin rewritten, the old vector freed, each member's vec[0]
 * updated. */
static int intx_set_affinity(struct pci_irq *pi, unsigned cpu)
{
	struct pci_irq_priv *p = pi->priv;
	struct intx_line *l = p->intx;
	if (!l)
		return -EINVAL;
	spin_lock(&intx_lock);
	int rc = ioapic_set_affinity(l->gsi, &l->vec, cpu);
	if (rc == 0)
		for (struct pci_irq_priv *q = l->members; q; q = q->intx_next)
			q->pi->vec[0] = l->vec;
	spin_unlock(&intx_lock);
	return rc;
}

/* ---- the chain ------------------------------------------------------------------- */

static const enum pci_irq_mode chain[4] = { PCI_IRQ_MSIX, PCI_IRQ_MSI, PCI_IRQ_INTX, PCI_IRQ_POLL };
static const unsigned chain_allow[4] = { PCI_IRQ_ALLOW_MSIX, PCI_IRQ_ALLOW_MSI, PCI_IRQ_ALLOW_INTX,
					 PCI_IRQ_ALLOW_POLL };

/* pci.irq=<mode>: the first step of the chain allowed (docs/pci.md). */
static unsigned cmdline_allow(const char **word)
{
	const char *v = cmdline_get("pci.irq");
	*word = v;
	if (!v)
		return PCI_IRQ_ALLOW_ALL;
	for (unsigned i = 0; i < 4; i++)
		if (!kstrcmp(v, pci_irq_mode_name(chain[i]))) {
			unsigned m = 0;
			for (unsigned j = i; j < 4; j++)
				m |= chain_allow[j];
			return m;
		}
	static bool warned;
	if (!warned) {
		warned = true;
		klog("pci", "pci.irq=%s is not one of msix, msi, intx, poll: ignored", v);
	}
	*word = 0;
	return PCI_IRQ_ALLOW_ALL;
}

static void log_choice(const struct pci_irq *pi, unsigned cpu)
{
	const struct pci_dev *d = pi->dev;
	char buf[320];
	size_t n = (size_t)ksnprintf(buf, sizeof buf, "%04x:%02x:%02x.%x %04x:%04x: irq %s",
				     d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn, d->vendor,
				     d->device, pci_irq_mode_name(pi->mode));
	if (pi->mode == PCI_IRQ_INTX && n < sizeof buf) {
		const struct pci_irq_priv *p = pi->priv;
		n += (size_t)ksnprintf(buf + n, sizeof buf - n, " (GSI %u, vector 0x%x on CPU %u",
				       pi->gsi, pi->vec[0].vector, pi->vec[0].cpu);
		if (p->intx_joined && n < sizeof buf)
			n += (size_t)ksnprintf(buf + n, sizeof buf - n, ", shared with %u more function%s",
					       p->intx_joined, p->intx_joined == 1 ? "" : "s");
		if (n < sizeof buf)
			n += (size_t)ksnprintf(buf + n, sizeof buf - n, ")");
	}
	else if ((pi->mode == PCI_IRQ_MSI || pi->mode == PCI_IRQ_MSIX) && n < sizeof buf) {
		n += (size_t)ksnprintf(buf + n, sizeof buf - n, " (%u vector%s from 0x%x on CPU %u",
				       pi->nvec, pi->nvec == 1 ? "" : "s", pi->vec[0].vector, cpu);
		unsigned on_cpu = 0;
		struct cpumask others;
		cpumask_clear(&others);
		for (unsigned i = 0; pi->mode == PCI_IRQ_MSIX && i < pi->nvec; i++) {
			if (pi->vec[i].cpu == cpu)
				on_cpu++;
			else
				cpumask_set(&others, pi->vec[i].cpu);
		}
		if (!cpumask_empty(&others) && n < sizeof buf)
			n += (size_t)ksnprintf(buf + n, sizeof buf - n, ", %u there, %u spread over %u more CPUs",
					       on_cpu, pi->nvec - on_cpu, cpumask_weight(&others));
		if (n < sizeof buf)
			n += (size_t)ksnprintf(buf + n, sizeof buf - n, ")");
	}
	for (unsigned i = 0; i < 4 && n < sizeof buf; i++)
		if (pi->fallback_why[i])
			n += (size_t)ksnprintf(buf + n, sizeof buf - n, "; not %s: %s",
					       pci_irq_mode_name(chain[i]), pi->fallback_why[i]);
	klog("pci", "%s", buf);
}

int pci_irq_alloc(struct pci_dev *d, unsigned want, unsigned cpu, unsigned allow,
		  void (*fn)(unsigned idx, void *arg), void *arg, struct pci_irq *out)
{
	if (!d || !fn || !out || !(allow & PCI_IRQ_ALLOW_ALL))
		return -EINVAL;
	/* With no LAPIC the kernel runs on one CPU that never went "online": vectors
	 * cannot be delivered there, but polling still works. */
	bool no_apic = smp_online_count() == 0;
	if (cpu >= HAL_MAX_CPUS || (!cpu_online(cpu) && !no_apic)) {
		klog("pci", "irq for %02x:%02x.%x: CPU %u is not online", d->addr.bus, d->addr.dev,
		     d->addr.fn, cpu);
		return -EINVAL;
	}
	if (d->irq_mode != PCI_IRQ_NONE) {
		klog("pci", "irq for %02x:%02x.%x: already allocated (%s)", d->addr.bus, d->addr.dev,
		     d->addr.fn, pci_irq_mode_name(d->irq_mode));
		return -EBUSY;
	}
	if (want == 0)
		want = 1;
	if (want > PCI_IRQ_MAX_VEC)
		want = PCI_IRQ_MAX_VEC;
	memset(out, 0, sizeof *out);
	out->dev = d;
	/* One heap block sized to want: the state, a handler slot per vector, and the
	 * irq_vec array the caller sees as out->vec (MSI-X may fill all of it). */
	size_t slots = (size_t)want * sizeof(struct pci_irq_slot);
	struct pci_irq_priv *p = kzalloc(sizeof *p + slots + (size_t)want * sizeof(struct irq_vec));
	if (!p)
		return -ENOMEM;
	p->pi = out;
	p->fn = fn;
	p->arg = arg;
	p->nslot = want;
	out->priv = p;
	out->vec = (struct irq_vec *)((uint8_t *)p->slot + slots);

	const char *word;
	unsigned cmd_allow = cmdline_allow(&word);
	/* Whatever firmware or an earlier user left enabled goes first: the chain
	 * starts from a function with MSI and MSI-X off. */
	pci_msi_disable_all(d);

	int rc = -ENOSPC;
	for (unsigned i = 0; i < 4; i++) {
		const char *why = 0;
		if (!(allow & chain_allow[i])) {
			out->fallback_why[i] = "not allowed by the caller";
			continue;
		}
		if (!(cmd_allow & chain_allow[i])) {
			out->fallback_why[i] = "excluded by pci.irq=";
			continue;
		}
		if (no_apic && chain[i] != PCI_IRQ_POLL) {
			out->fallback_why[i] = "no local APIC: interrupts cannot be delivered";
			continue;
		}
		switch (chain[i]) {
		case PCI_IRQ_MSIX:
			rc = pci_msix_setup(out, want, cpu, &why);
			break;
		case PCI_IRQ_MSI:
			rc = pci_msi_setup(out, want, cpu, &why);
			break;
		case PCI_IRQ_INTX:
			rc = intx_setup(out, cpu, &why);
			break;
		default:
			/* No vector at all: the driver calls pci_irq_poll; the function
			 * raises nothing (INTx Disable set, MSI and MSI-X off). */
			pci_intx_disable(d, true);
			out->nvec = want;
			rc = 0;
			break;
		}
		if (rc == 0) {
			out->mode = chain[i];
			d->irq_mode = chain[i];
			log_choice(out, cpu);
			return 0;
		}
		out->fallback_why[i] = why ? why : "failed";
	}
	klog("pci", "%04x:%02x:%02x.%x: no interrupt mode could be set up (last error %d)",
	     d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn, rc);
	log_choice(out, cpu);
	out->priv = 0;
	out->vec = 0;
	kfree(p);
	return rc < 0 ? rc : -ENOSPC;
}

void pci_irq_free(struct pci_irq *pi)
{
	if (!pi || !pi->priv || !pi->dev)
		return;
	struct pci_dev *d = pi->dev;
	struct pci_irq_priv *p = pi->priv;
	/* INTx syncs with the line's handler itself (intx_teardown). */
	unsigned n = pi->mode == PCI_IRQ_MSIX ? pi->nvec : pi->mode == PCI_IRQ_MSI ? 1 : 0;
	if (n > p->nslot)
		n = p->nslot;
	struct cpumask m;
	owners(pi, n, &m);
	switch (pi->mode) {
	case PCI_IRQ_MSIX:
		pci_msix_teardown(pi);
		break;
	case PCI_IRQ_MSI:
		pci_msi_teardown(pi);
		break;
	case PCI_IRQ_INTX:
		intx_teardown(pi);
		break;
	default:
		break;
	}
	pci_intx_disable(d, true);
	sync_handlers(&m);
	d->irq_mode = PCI_IRQ_NONE;
	kfree(p);
	pi->priv = 0;
	pi->vec = 0;
	pi->mode = PCI_IRQ_NONE;
	pi->nvec = 0;
	pi->gsi = 0;
}

static int check_idx(const struct pci_irq *pi, unsigned idx)
{
	if (!pi || !pi->priv || idx >= pi->nvec)
		return -EINVAL;
	return 0;
}

static int mask_op(struct pci_irq *pi, unsigned idx, bool mask)
{
	int rc = check_idx(pi, idx);
	if (rc)
		return rc;
	switch (pi->mode) {
	case PCI_IRQ_MSIX:
		return pci_msix_mask(pi, idx, mask);
	case PCI_IRQ_MSI:
		return pci_msi_mask(pi, idx, mask);
	case PCI_IRQ_INTX:
		if (!mask) {                    /* a fresh start for the storm guard */
			struct pci_irq_priv *p = pi->priv;
			spin_lock(&intx_lock);
			p->intx_stuck = 0;
			spin_unlock(&intx_lock);
		}
		pci_intx_disable(pi->dev, mask);
		return 0;
	case PCI_IRQ_POLL:
		return 0;
	default:
		return -EINVAL;
	}
}

int pci_irq_mask(struct pci_irq *pi, unsigned idx)
{
	return mask_op(pi, idx, true);
}

int pci_irq_unmask(struct pci_irq *pi, unsigned idx)
{
	return mask_op(pi, idx, false);
}

int pci_irq_pending(struct pci_irq *pi, unsigned idx)
{
	int rc = check_idx(pi, idx);
	if (rc)
		return rc;
	if (pi->mode == PCI_IRQ_MSIX)
		return pci_msix_pending(pi, idx);
	if (pi->mode == PCI_IRQ_MSI)
		return pci_msi_pending(pi, idx);
	return -EOPNOTSUPP;
}

int pci_irq_set_affinity(struct pci_irq *pi, unsigned idx, unsigned cpu)
{
	int rc = check_idx(pi, idx);
	if (rc)
		return rc;
	if (cpu >= HAL_MAX_CPUS || !cpu_online(cpu))
		return -EINVAL;
	switch (pi->mode) {
	case PCI_IRQ_MSIX:
		return pci_msix_set_affinity(pi, idx, cpu);
	case PCI_IRQ_MSI:
		return pci_msi_set_affinity(pi, cpu);
	case PCI_IRQ_INTX:
		return intx_set_affinity(pi, cpu);
	default:
		return -EOPNOTSUPP;
	}
}

void pci_irq_poll(struct pci_irq *pi)
{
	if (!pi || !pi->priv || pi->mode != PCI_IRQ_POLL)
		return;
	struct pci_irq_priv *p = pi->priv;
	for (unsigned i = 0; i < pi->nvec; i++)
		p->fn(i, p->arg);
}
