/* harness_int.h: what the files of the test harness share and the tests do not call. */
#ifndef HARNESS_INT_H
#define HARNESS_INT_H

#include <sys/types.h>

#include "harness.h"

/* A TCP port free on loopback just now, or 0. */
int harness_free_port(void);
/* fork+exec of argv, the child dying with us, its stdout and stderr appended to logname in the
 * stack's directory; counted in s->pids, so stack_stop ends it. The child's pid, or -1. */
pid_t harness_spawn(struct stack *s, const char *const *argv, const char *logname);
/* True when the path exists. */
int harness_file_exists(const char *p);
/* True when something accepts connections on the loopback port. */
int harness_port_open(int port);
/* The whole file, NUL-terminated (free it), or NULL. */
char *harness_read_file(const char *path);

/* The relay of stack_opts.db_proxy (harness_proxy.c): started toward the server of the
 * mysql:// url, whose address it then rewrites to the relay's (0 or -1); stopped. */
int stack_proxy_start(struct stack *s, char *url, size_t urlsize);
void stack_proxy_stop(struct stack *s);

struct client;
/* The vesta stack's users and logins (harness_vesta.c). */
int stack_vesta_user(struct stack *s, const char *email, const char *tz);
long stack_vesta_login(struct client *cl, const char *email);

#endif
