/* jobs_int.h: what the two files of the job queue share (jobs.c below jobs_worker.c). */
#ifndef JOBS_INT_H
#define JOBS_INT_H

#include "jobs.h"

struct db;

/* The kind named s into *out: CS_OK or CS_ERR_INVAL. */
int jobs_kind_parse(const char *s, enum job_kind *out);
/* Opens a transaction unless the caller has one; *own says whether to close it. */
int jobs_tx_begin(struct db *db, int *own);
/* Closes what jobs_tx_begin opened: commit on CS_OK, else roll back; returns rc or the
 * commit's failure. */
int jobs_tx_end(struct db *db, int own, int rc);

#endif
