/* host.c: the host's two tables chosen from the configuration, and the standalone host's
 * appointment source (calsync's store is the host there: nothing to keep in step). */
#include "host.h"
#include "cfg.h"
#include "cs.h"

#include <stddef.h>

const struct host_identity *host_identity_of(const struct cfg *cfg)
{
    return cfg != NULL && cfg->host == CFG_HOST_VESTA ? &host_identity_vesta
                                                      : &host_identity_standalone;
}

const struct host_appts *host_appts_of(const struct cfg *cfg)
{
    return cfg != NULL && cfg->host == CFG_HOST_VESTA ? &host_appts_vesta : &host_appts_standalone;
}

static int host_none_create(struct db *db, const struct cfg *cfg, struct appt *a, const cJSON *ev)
{
    (void)db, (void)cfg, (void)a, (void)ev;
    return CS_OK;
}

static int host_none_store(struct db *db, const struct cfg *cfg, struct appt *a, int by_api,
                           int *repush)
{
    (void)db, (void)cfg, (void)a, (void)by_api;
    *repush = 0;
    return CS_OK;
}

static int host_none_remove(struct db *db, const char *user_id, long long id)
{
    (void)db, (void)user_id, (void)id;
    return CS_OK;
}

static int host_none_link(struct db *db, long long id, const char *gid, const char *etag)
{
    (void)db, (void)id, (void)gid, (void)etag;
    return CS_OK;
}

static int host_none_user(struct db *db, const char *user_id)
{
    (void)db, (void)user_id;
    return CS_OK;
}

static int host_none_seed(struct db *db, const struct cfg *cfg, const char *user_id)
{
    (void)db, (void)cfg, (void)user_id;
    return CS_OK;
}

static int host_none_feed(struct db *db, const struct cfg *cfg, int *found)
{
    (void)db, (void)cfg;
    *found = 0;
    return CS_OK;
}

static void host_none_extra(struct db *db, const struct cfg *cfg, const struct appt *a,
                            struct host_event_extra *x)
{
    (void)db, (void)cfg, (void)a;
    x->source_url = x->source_title = NULL;
    x->n_priv = 0;
}

const struct host_appts host_appts_standalone = {
    .name = "standalone",
    .create = host_none_create,
    .store = host_none_store,
    .remove = host_none_remove,
    .link = host_none_link,
    .unlink_user = host_none_user,
    .seed = host_none_seed,
    .feed = host_none_feed,
    .event_extra = host_none_extra,
};
