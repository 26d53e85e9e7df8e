/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * USDT probes (provider "greenhub") at the points where a carrier starts and stops executing
 * green code, for `scx_greenhub --record` (docs/observability.md, recording a timeline).
 *
 * The kernel sides see every sleep of a hub's owner (the block records) but no green switch:
 * a switch is a register swap in user space. These probes are where the runtime tells. Each is
 * one nop in the code while nothing is attached (the arguments stay where the compiler already
 * has them: registers or stack slots named in the ELF note .note.stapsdt), and an uprobe's trap
 * only while a recorder has attached a program to it. No semaphore: testing one would cost a
 * load at every switch even with nothing attached.
 *
 *   greenhub:run(hub, id, name)   carrier (the current thread) starts executing green thread
 *                                 id, named by the NUL-terminated name, for the hub in slot
 *                                 hub; it stops executing the previous one, if any
 *   greenhub:stop(hub)            the carrier goes back to its hub loop: no green code runs on
 *                                 it until its next run
 *   greenhub:hand_back(hub, tid)  the owner gives the hub back to displaced carrier tid
 *                                 (docs/design.md, transition 4); it stops executing green code
 *   greenhub:resume(hub, id)      a blocked carrier got its hub back in runtime code (trace
 *                                 mode's gate, a marked region's end) and goes on with green
 *                                 thread id, without a switch point
 *
 * hub is the slot index (GH__NO_SLOT in mode none), as the block records and --stats name it.
 * A probe's arguments are the recorder's to read; nothing in the runtime depends on them.
 *
 * Builds without <sys/sdt.h> (Debian's systemtap-sdt-dev; a cross build's sysroot may lack
 * it) have no probes: --record then finds none in the binary and says so.
 */
#ifndef GH_PROBES_H
#define GH_PROBES_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define GH__HAVE_PROBES 1
#endif
#endif

#ifdef GH__HAVE_PROBES
#define GH__PROBE_RUN(hub, id, name) DTRACE_PROBE3(greenhub, run, hub, id, name)
#define GH__PROBE_STOP(hub) DTRACE_PROBE1(greenhub, stop, hub)
#define GH__PROBE_HAND_BACK(hub, tid) DTRACE_PROBE2(greenhub, hand_back, hub, tid)
#define GH__PROBE_RESUME(hub, id) DTRACE_PROBE2(greenhub, resume, hub, id)
#else
#define GH__PROBE_RUN(hub, id, name) ((void)(hub), (void)(id), (void)(name))
#define GH__PROBE_STOP(hub) ((void)(hub))
#define GH__PROBE_HAND_BACK(hub, tid) ((void)(hub), (void)(tid))
#define GH__PROBE_RESUME(hub, id) ((void)(hub), (void)(id))
#endif

#endif /* GH_PROBES_H */
