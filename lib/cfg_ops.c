/* cfg_ops.c: the configuration of operating calsync: the token of GET /metrics, the node's name
 * in heartbeats, and what /readyz asks of the worker. */
#include "cfg.h"
#include "cfg_int.h"
#include "cs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define CFG_TOKEN_MIN 16
#define CFG_TOKEN_MAX 512

/* A token as it may arrive in an Authorization header: printable ASCII without spaces. */
static int cfg_token_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < CFG_TOKEN_MIN || n > CFG_TOKEN_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* CALSYNC_METRICS_TOKEN or the first line of CALSYNC_METRICS_TOKEN_FILE (one of them). */
static int cfg_metrics_token(struct cfg *c, const char *v, const char *file, char *errbuf,
                             size_t errlen)
{
    char line[CFG_TOKEN_MAX + 2];
    int rc = cfg_value_or_file("CALSYNC_METRICS_TOKEN", v, file, line, sizeof line, errbuf, errlen);

    if (rc != CS_OK)
        return rc;
    v = line;
    if (v == NULL || *v == '\0')
        return CS_OK; /* loopback only */
    if (!cfg_token_ok(v))
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_METRICS_TOKEN: expected %d to %d printable characters without "
                     "spaces",
                     CFG_TOKEN_MIN, CFG_TOKEN_MAX);
    else if ((c->metrics_token = strdup(v)) == NULL)
        rc = CS_ERR_NOMEM;
    sodium_memzero(line, sizeof line);
    return rc;
}

/* A node name fit for a label value and a key: letters, digits, '.', '_' and '-'. */
static int cfg_node_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= sizeof((struct cfg *)0)->node)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int cfg_ops_load(struct cfg *c, const char *(*get)(const char *, void *), void *ctx, char *errbuf,
                 size_t errlen)
{
    const char *v;
    char host[256];
    long secs = 30;
    int rc;

    if ((rc = cfg_metrics_token(c, get("CALSYNC_METRICS_TOKEN", ctx),
                                get("CALSYNC_METRICS_TOKEN_FILE", ctx), errbuf, errlen)) != CS_OK)
        return rc;
    v = get("CALSYNC_NODE", ctx);
    if (v == NULL || *v == '\0') {
        /* the host name, cut at its first dot when too long or odd */
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "node");
        host[sizeof host - 1] = '\0';
        if (!cfg_node_ok(host))
            host[strcspn(host, ".")] = '\0';
        v = cfg_node_ok(host) ? host : "node";
    } else if (!cfg_node_ok(v)) {
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                       "CALSYNC_NODE: expected 1 to %zu letters, digits, '.', '_' or '-'",
                       sizeof c->node - 1);
    }
    memcpy(c->node, v, strlen(v) + 1); /* cfg_node_ok: it fits */
    if ((v = get("CALSYNC_READY_HEARTBEAT_S", ctx)) != NULL && *v != '\0') {
        char *end;
        errno = 0;
        secs = strtol(v, &end, 10);
        if (errno != 0 || *end != '\0' || secs < 0 || secs > 86400)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_READY_HEARTBEAT_S: expected seconds from 0 (not checked) to "
                           "86400");
    }
    c->ready_heartbeat_s = (int)secs;
    return CS_OK;
}

void cfg_ops_free(struct cfg *c)
{
    if (c->metrics_token != NULL) {
        sodium_memzero(c->metrics_token, strlen(c->metrics_token));
        free(c->metrics_token);
    }
    c->metrics_token = NULL;
}
