/* cs.h: the one error enum shared by every calsync module. */
#ifndef CS_H
#define CS_H

#include <stddef.h>

enum cs_err {
    CS_OK = 0,
    CS_ERR_NOMEM,     /* allocation failed */
    CS_ERR_INVAL,     /* bad input */
    CS_ERR_NOTFOUND,  /* no such row / resource */
    CS_ERR_CONFLICT,  /* already exists, or changed underneath */
    CS_ERR_TOOBIG,    /* over a size cap */
    CS_ERR_DB,        /* SQLite failure */
    CS_ERR_CRYPTO,    /* libsodium failure or bad ciphertext */
    CS_ERR_NET,       /* transport failure talking to Google */
    CS_ERR_GOOGLE,    /* Google answered with an error */
    CS_ERR_AUTH,      /* bad credentials / session */
    CS_ERR_REAUTH,    /* Google grant revoked: the user must reconnect */
    CS_ERR_RATELIMIT, /* Google rate limit or 5xx after retries */
    CS_ERR_BUSY,      /* someone else holds the lease */
    CS_ERR_IO,        /* file or socket I/O */
    CS_ERR_CONFIG,    /* missing or malformed configuration */
    CS_ERR__MAX
};

/* Static text for an error code; never NULL. */
const char *cs_strerror(int err);

/* Writes a formatted detail message into a caller-owned buffer (may be NULL). Returns err. */
int cs_fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CS_ERRLEN 256

/* Makes every file and directory this process creates private to its user (umask 077): the
 * database and its WAL/SHM files, logs, sockets' directories. Called first by every program
 * (through cfg_load_or_die). */
void cs_secure_umask(void);

/* SIGTERM and SIGINT call handler, without SA_RESTART so that a blocking accept() or poll()
 * returns at once (EINTR); SIGPIPE is ignored. */
void cs_on_stop_signals(void (*handler)(int));

/* The value of a hexadecimal digit (either case), or -1. */
int cs_hex_digit(char c);

/* True when s is well-formed UTF-8 without control characters other than \t \n \r. */
int cs_text_valid(const char *s);

#endif
