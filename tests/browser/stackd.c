/* stackd: starts the whole stack for the browser tests, prints where it is as one JSON line,
 * and stops everything when its standard input closes (its parent went away) or on SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

int main(void)
{
    static const struct stack_opts o = {.webhooks = 1};
    struct stack s;
    struct sigaction sa;
    char buf[64];

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (stack_start(&s, &o) != 0 ||
        stack_user(&s, "agente@vesta.test", "password-123", "Europe/Madrid") != 0) {
        fprintf(stderr, "stackd: the stack did not start (see %s/logs)\n", s.dir);
        stack_stop(&s);
        return 1;
    }
    printf("{\"base\":\"%s\",\"emu\":\"%s\",\"dir\":\"%s\"}\n", s.base, s.emu, s.dir);
    fflush(stdout);
    while (!quit && read(0, buf, sizeof buf) > 0)
        ;
    return stack_stop(&s) == 0 ? 0 : 1;
}
