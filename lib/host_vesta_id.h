/* host_vesta_id.h: what the vesta host's identity source shares with calsync-admin vesta-adopt:
 * an agent's zone, and calsync's own row of the agent. */
#ifndef HOST_VESTA_ID_H
#define HOST_VESTA_ID_H

struct db;

/* The zone calsync uses for an agent whose users.timezone is vesta_tz (may be NULL): that zone
 * when it names a real one other than the column's default 'UTC' (which mostly means "never
 * set"), else def. */
const char *vesta_user_zone(const char *vesta_tz, const char *def);
/* Makes (or refreshes the zone and email of) calsync's row of the agent: its settings, the job
 * lock. CS_OK or CS_ERR_DB. */
int vesta_user_row(struct db *db, const char *id, const char *email, const char *tz);

#endif
