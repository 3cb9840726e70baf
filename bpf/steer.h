/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Structs shared by steer.bpf.c and its loader (src/transport/steer.ts).
 * The loader mirrors these layouts in TypeScript; test/native/steer.test.ts
 * compiles a probe against this header and checks the mirror byte for byte,
 * so change both sides together.
 *
 * Only __u32/__u64 here: the BPF side gets them from vmlinux.h, user space
 * from <linux/types.h>, and both must agree on the layout.
 */
#ifndef SMBTS_STEER_H
#define SMBTS_STEER_H

/* Most worker listeners one reuseport group can steer to (smbts_workers). */
#define SMBTS_MAX_WORKERS 64

/*
 * The program's tunables: a `const volatile` global in .rodata, written by
 * the loader before bpf_object__load() and frozen by the kernel after it,
 * so the verifier sees nr_workers as a constant.
 */
struct smbts_steer_config {
	__u32 nr_workers; /* 1..SMBTS_MAX_WORKERS: slots 0..nr_workers-1 are used */
	__u32 hash_seed;  /* mixed into the address hash; same seed, same spread */
};

/*
 * Per-CPU counters, one element (key 0) of smbts_stats; the loader sums the
 * CPUs' copies.
 */
struct smbts_steer_stats {
	__u64 steered;  /* SYNs sent to the worker picked from the address hash */
	__u64 fallback; /* SYNs left to the kernel's hash: empty slot, unknown family, read error */
};

#endif /* SMBTS_STEER_H */
