/* store.c: opening the store a configuration names, the way its host lays it out. */
#include "store.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "vesta_schema.h"

#include <stdio.h>

int store_open(const struct cfg *cfg, int migrate, struct db **out, char *errbuf, size_t errlen)
{
    struct db_opts o = {.password = cfg->db_password, .migrate = migrate};
    int rc;

    if (cfg->host == CFG_HOST_VESTA) {
        o.prefix = STORE_VESTA_PREFIX;
        o.extra = db_migrations_vesta;
        o.extra_count = db_migrations_vesta_count;
    }
    if ((rc = db_open_opts(cfg->db_path, &o, out, errbuf, errlen)) != CS_OK)
        return rc;
    if (cfg->host == CFG_HOST_VESTA && migrate &&
        (rc = vesta_schema_ensure(*out, errbuf, errlen)) != CS_OK) {
        db_close(*out);
        *out = NULL;
    }
    return rc;
}
