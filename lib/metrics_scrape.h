/* metrics_scrape.h: the Prometheus text exposition of an installation (GET /metrics). */
#ifndef METRICS_SCRAPE_H
#define METRICS_SCRAPE_H

struct buf;
struct db;

/* The exposition's content type. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends to out the text exposition (format 0.0.4) of the whole installation, whichever node
 * answers: the gauges read from the store now (one indexed query each), the worker heartbeat of
 * every node, and the counters every process and node has added to the store (lib/metrics.h).
 * CS_OK; CS_ERR_DB when the store did not answer (out then holds nothing usable); CS_ERR_NOMEM
 * or CS_ERR_TOOBIG when out cannot take it. */
int metrics_scrape(struct db *db, struct buf *out);

#endif
