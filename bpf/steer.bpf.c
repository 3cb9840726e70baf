// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smbts connection steering: an SK_REUSEPORT program for the group of worker
 * listeners. It hashes the client's source address, nothing else, so every
 * connection of one client (multichannel channels, durable reconnects) meets
 * the same worker and that worker's session state. It runs on the first
 * packet (the SYN) only and never sees SMB.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "steer.h"

/* linux/if_ether.h values; vmlinux.h carries no macros. */
#define SMBTS_ETH_P_IP   0x0800
#define SMBTS_ETH_P_IPV6 0x86DD

/* Byte offsets of the source address from the network header. */
#define SMBTS_IPV4_SADDR_OFF 12 /* RFC 791 3.1 */
#define SMBTS_IPV6_SADDR_OFF 8  /* RFC 8200 3 */

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load (see struct smbts_steer_config). */
const volatile struct smbts_steer_config smbts_config = {
	.nr_workers = 0, /* 0: steer nothing, everything falls back */
	.hash_seed = 0,
};

/* Slot i holds worker i's listener; the loader writes the fds (as u64). */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, SMBTS_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} smbts_workers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct smbts_steer_stats);
} smbts_stats SEC(".maps");

/*
 * FNV-1a over the address bytes, then the murmur3 finalizer: FNV alone leaves
 * addresses that differ only in the last byte too close in the high bits that
 * (hash * n) >> 32 reads. src/transport/steer.ts mirrors this exactly so a
 * test (and a log line) can say which worker an address lands on.
 */
static __always_inline __u32 smbts_hash(const __u8 *addr, __u32 len, __u32 seed)
{
	__u32 h = 2166136261u ^ seed;

#pragma unroll
	for (__u32 i = 0; i < 16; i++) {
		if (i >= len)
			break;
		h ^= addr[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline void smbts_count(bool steered)
{
	__u32 zero = 0;
	struct smbts_steer_stats *st = bpf_map_lookup_elem(&smbts_stats, &zero);

	if (!st)
		return;
	/* Per-CPU value and programs do not nest per CPU: a plain add is enough. */
	if (steered)
		st->steered++;
	else
		st->fallback++;
}

SEC("sk_reuseport")
int smbts_steer(struct sk_reuseport_md *md)
{
	__u8 addr[16] = {};
	__u32 len, off, n = smbts_config.nr_workers;
	__u32 key;

	if (n == 0 || n > SMBTS_MAX_WORKERS)
		goto fallback;

	if (md->eth_protocol == bpf_htons(SMBTS_ETH_P_IP)) {
		len = 4;
		off = SMBTS_IPV4_SADDR_OFF;
	} else if (md->eth_protocol == bpf_htons(SMBTS_ETH_P_IPV6)) {
		len = 16;
		off = SMBTS_IPV6_SADDR_OFF;
	} else {
		goto fallback;
	}
	if (bpf_skb_load_bytes_relative(md, off, addr, len, BPF_HDR_START_NET))
		goto fallback;

	/* Multiply-shift, not modulo: % n of a weak hash put 127.0.0.1-.5 on one worker. */
	key = (__u32)(((__u64)smbts_hash(addr, len, smbts_config.hash_seed) * n) >> 32);

	/* Empty slot (worker gone or not yet registered) or a socket outside this
	 * group: leave the choice to the kernel's own hash rather than drop the SYN. */
	if (bpf_sk_select_reuseport(md, &smbts_workers, &key, 0))
		goto fallback;

	smbts_count(true);
	return SK_PASS;

fallback:
	smbts_count(false);
	return SK_PASS;
}
