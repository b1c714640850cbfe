#include "shim.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>

int zc_errno(void) { return rte_errno; }
unsigned zc_lcore_id(void) { return rte_lcore_id(); }

uint16_t zc_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t zc_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *zc_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

void zc_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void zc_pktmbuf_prefetch_next(struct rte_mempool *mp)
{
	struct rte_mempool_cache *c = rte_mempool_default_cache(mp, rte_lcore_id());
	char *m;

	if (c == NULL || c->len == 0)
		return;
	m = c->objs[c->len - 1];
	/* The header's two lines (rte_pktmbuf_reset writes both) and the first
	 * two lines of the data room after the default headroom. */
	rte_prefetch0(m);
	rte_prefetch0(m + RTE_CACHE_LINE_SIZE);
	m += sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(mp) + RTE_PKTMBUF_HEADROOM;
	rte_prefetch0(m);
	rte_prefetch0(m + RTE_CACHE_LINE_SIZE);
}
void zc_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count) { rte_pktmbuf_free_bulk(mbufs, count); }
char *zc_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *zc_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *zc_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int zc_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
int zc_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail) { return rte_pktmbuf_chain(head, tail); }
uint16_t zc_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }
void zc_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value) { rte_mbuf_refcnt_update(m, value); }
uint16_t zc_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
struct rte_mempool *zc_mbuf_pool(const struct rte_mbuf *m) { return m->pool; }
unsigned zc_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }
/* What the calling lcore can allocate: the shared store and its own cache
 * (rte_mempool_avail_count also adds every other lcore's cache, which this
 * one cannot take from, and walks all RTE_MAX_LCORE of them to do it). The
 * store's count through its ops, as rte_mempool_ops_get_count does (that
 * one is not exported by DPDK 22.11's shared library). */
unsigned zc_mempool_avail_here(struct rte_mempool *mp)
{
	struct rte_mempool_cache *c = rte_mempool_default_cache(mp, rte_lcore_id());
	unsigned store = rte_mempool_get_ops(mp->ops_index)->get_count(mp);

	return store + (c != NULL ? c->len : 0);
}
const char *zc_mempool_ops_name(const struct rte_mempool *mp) { return rte_mempool_get_ops(mp->ops_index)->name; }
uint64_t zc_get_tsc_cycles(void) { return rte_get_tsc_cycles(); }
uint64_t zc_get_tsc_hz(void) { return rte_get_tsc_hz(); }

#include <stddef.h>

unsigned zc_mbuf_layout(uint64_t *out, unsigned n)
{
	const uint64_t v[] = {
		offsetof(struct rte_mbuf, buf_addr), offsetof(struct rte_mbuf, data_off),
		offsetof(struct rte_mbuf, refcnt), offsetof(struct rte_mbuf, nb_segs),
		offsetof(struct rte_mbuf, port), offsetof(struct rte_mbuf, ol_flags),
		offsetof(struct rte_mbuf, pkt_len), offsetof(struct rte_mbuf, data_len),
		offsetof(struct rte_mbuf, hash.rss), offsetof(struct rte_mbuf, buf_len),
		offsetof(struct rte_mbuf, pool), offsetof(struct rte_mbuf, next),
		sizeof(struct rte_mbuf),
	};
	unsigned i;
	for (i = 0; i < n && i < sizeof(v) / sizeof(v[0]); i++)
		out[i] = v[i];
	return i;
}

#include <rte_thash.h>

uint32_t zc_softrss_ipv4_l4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *key)
{
	struct rte_ipv4_tuple t = { .src_addr = src, .dst_addr = dst };
	t.sport = sport;
	t.dport = dport;
	return rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, key);
}
