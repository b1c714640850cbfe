/*
 * zcnet's C shim: DPDK's hot-path functions are `static inline` in its
 * headers, so they have no symbol to link against. Each function here is a
 * thin, non-inline wrapper with the same meaning and a `zc_` prefix.
 * Nothing here adds behaviour; zc_pktmbuf_prefetch_next only adds cache
 * hints.
 */
#ifndef ZCNET_SHIM_H
#define ZCNET_SHIM_H

#include <stdint.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>

int zc_errno(void);
unsigned zc_lcore_id(void);

uint16_t zc_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t zc_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *zc_pktmbuf_alloc(struct rte_mempool *mp);
void zc_pktmbuf_free(struct rte_mbuf *m);
/* Hints the CPU to fetch the mbuf that this lcore's next rte_pktmbuf_alloc
 * from mp would return if nothing is freed into or taken from the lcore's
 * cache in between (the top of its per-lcore cache): header and first data
 * lines; nothing if that cache is empty or absent. Reads the cache, the
 * pool's cache size and its pktmbuf private size (mp must be a pktmbuf
 * pool), writes nothing. Unlike the others, not a wrapper of one DPDK
 * function. */
void zc_pktmbuf_prefetch_next(struct rte_mempool *mp);
void zc_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);
char *zc_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *zc_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *zc_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int zc_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
int zc_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
uint16_t zc_pktmbuf_tailroom(const struct rte_mbuf *m);
unsigned zc_mempool_avail_count(const struct rte_mempool *mp);
unsigned zc_mempool_avail_here(struct rte_mempool *mp);
const char *zc_mempool_ops_name(const struct rte_mempool *mp);

/* Not called yet; kept for the next steps: handing mbufs between cores and
 * sharing them (pool and refcount, which the hot path reads from the mbuf
 * directly), and telemetry in TSC cycles. */
struct rte_mempool *zc_mbuf_pool(const struct rte_mbuf *m);
uint16_t zc_mbuf_refcnt_read(const struct rte_mbuf *m);
void zc_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint64_t zc_get_tsc_cycles(void);
uint64_t zc_get_tsc_hz(void);

/* Offsets of the rte_mbuf fields that zcnet reads directly (in this order:
 * buf_addr, data_off, refcnt, nb_segs, port, ol_flags, pkt_len, data_len,
 * hash.rss, buf_len, pool, next) followed by sizeof(struct rte_mbuf);
 * a test checks them against the bindgen layout. Returns the count written. */
unsigned zc_mbuf_layout(uint64_t *out, unsigned n);

/* rte_softrss for an IPv4 TCP/UDP 4-tuple (addresses and ports in host
 * order): the reference zcnet's own Toeplitz hash is tested against. */
uint32_t zc_softrss_ipv4_l4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *key);
#endif
