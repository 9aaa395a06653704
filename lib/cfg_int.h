/* cfg_int.h: what the two files of the configuration share (cfg.c below cfg_file.c). */
#ifndef CFG_INT_H
#define CFG_INT_H

/* Cuts the blanks (and a line end) around s in place; returns where the text starts. */
char *cfg_trim(char *s);

#endif
