/* calsync-worker: runs the durable sync jobs (placeholder while the job runner lands). */
#include <stdio.h>

#include "cfg.h"
#include "log.h"

int main(int argc, char **argv)
{
    struct cfg cfg;

    (void)argc;
    (void)argv;
    log_init("worker");
    cfg_load_or_die(&cfg);
    cfg_free(&cfg);
    return 0;
}
