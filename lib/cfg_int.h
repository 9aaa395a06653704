/* cfg_int.h: what the two files of the configuration share (cfg.c below cfg_file.c). */
#ifndef CFG_INT_H
#define CFG_INT_H

#include <stddef.h>

/* Cuts the blanks (and a line end) around s in place; returns where the text starts. */
char *cfg_trim(char *s);

struct cfg;
/* The host (CALSYNC_HOST) and what it needs: BETTER_AUTH_SECRET(_FILE), a mysql:// store,
 * CALSYNC_FEED_MS. CS_OK or CS_ERR_CONFIG with errbuf saying why. */
int cfg_host_load(struct cfg *c, const char *(*get)(const char *, void *), void *ctx, char *errbuf,
                  size_t errlen);
/* A secret given as NAME or as the first line of NAME_FILE (one of them, not both) into out
 * ("" when neither). CS_OK or CS_ERR_CONFIG (errbuf names the variable, never the value). */
int cfg_value_or_file(const char *name, const char *v, const char *file, char *out, size_t outlen,
                      char *errbuf, size_t errlen);
/* Wipes and frees what cfg_host_load kept. */
void cfg_host_free(struct cfg *c);
/* What operating calsync needs (cfg_ops.c): the metrics token, the node's name, readiness. CS_OK
 * or CS_ERR_CONFIG with errbuf saying why. */
int cfg_ops_load(struct cfg *c, const char *(*get)(const char *, void *), void *ctx, char *errbuf,
                 size_t errlen);
/* Wipes and frees what cfg_ops_load kept. */
void cfg_ops_free(struct cfg *c);

#endif
