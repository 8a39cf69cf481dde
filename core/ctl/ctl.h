/*
 * ctl - shared parts of the hapostctl command
 *
 * hapostctl.c parses the options and dispatches on the first word; each
 * command family lives in its own file and returns the process's exit
 * status: 0 on success, 1 when the operation failed, 2 on a usage error.
 * Failures are printed as "hapostctl: WHAT: WHY" on stderr.
 */
#ifndef HAPOST_CTL_H
#define HAPOST_CTL_H

#include <stddef.h>

#include "cfg.h"

#define CTL_OK 0
#define CTL_FAILED 1
#define CTL_USAGE 2
/* "status" only: hapostd is not running. */
#define CTL_NOT_RUNNING 3

/*
 * Runs "domain ...", "account ...", "alias ...": argv[0] is the family.
 * Loads the configuration from config_path after the arguments check out.
 */
int ctl_directory_main(const char *config_path, int argc, char **argv);
/* Runs "queue ...": argv[0] is "queue". Implemented in ctl_queue.c. */
int ctl_queue_main(struct cfg *cfg, int argc, char **argv);

/*
 * Runs "status [--json]": argv[0] is "status". Implemented in
 * ctl_status.c. Returns 0 when this node is healthy, 1 when it is not,
 * 3 when hapostd is not running.
 */
int ctl_status_main(struct cfg *cfg, int argc, char **argv);
/*
 * Runs "promote [--force]" or "demote" (argv[0]) through the control
 * socket. Implemented in ctl_status.c. Returns 0 when the node took the
 * role, 1 otherwise.
 */
int ctl_role_main(struct cfg *cfg, int argc, char **argv);

/* Loads path over the defaults; prints the error and returns -1. */
int ctl_load_config(struct cfg *cfg, const char *path);
/*
 * When running as root and cfg->user names an existing user other than
 * root, creates DATA_DIR and DATA_DIR/SUBDIR for each subdir that is
 * missing, owned by that user, then switches to that user for good, so
 * everything the command creates afterwards belongs to the daemon's user.
 * Otherwise does nothing. Returns 0 or -1 with err.
 */
int ctl_become_user(const struct cfg *cfg, const char *const *subdirs,
		    char *err, size_t errlen);
/* Prints "hapostctl: WHAT: WHY" (WHY from fmt); returns CTL_FAILED. */
int ctl_fail(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "hapostctl: WHY" and the usage text on stderr; returns CTL_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies an argument into dst with control bytes replaced, for messages. */
const char *ctl_printable(char *dst, size_t dstlen, const char *arg);

#endif
