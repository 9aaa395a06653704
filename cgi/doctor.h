/* doctor.h: calsync-admin doctor (configuration, keys, database, webhook URL, clock, Google). */
#ifndef DOCTOR_H
#define DOCTOR_H

/* Runs every check, prints one OK/WARN/FAIL/SKIP line each; returns the exit code: 1 when
 * anything failed, 2 on a usage error, else 0. Loads the configuration itself. */
int doctor_run(int argc, char **argv);

#endif
