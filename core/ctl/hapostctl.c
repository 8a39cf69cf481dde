/*
 * hapostctl - the administration command of hapost
 *
 * Usage: hapostctl [-c FILE] COMMAND [ARGUMENT...]. The configuration
 * file is FILE, else $HAPOST_CONF, else CFG_DEFAULT_PATH. This file parses
 * the options, runs "config check", and hands the directory commands to
 * ctl_directory.c and the queue commands to ctl_queue.c.
 *
 * Exit status: 0 on success, 1 when the operation failed (the reason on
 * stderr as "hapostctl: WHAT: WHY"), 2 on a usage error or --help, with
 * the usage text.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl.h"
#include "fsutil.h"
#include "log.h"
#include "repl_write.h"
#include "xalloc.h"

static const char *const usage_lines[] = {
    "Usage: hapostctl [-c FILE] COMMAND [ARGUMENT...]",
    "",
    "Manages the domains, accounts, aliases and mail queue of hapost",
    "and shows the health of the running service.",
    "",
    "Options:",
    "  -c, --config FILE  configuration file (default: $HAPOST_CONF,",
    "                     else " CFG_DEFAULT_PATH ")",
    "  -h, --help         print this text and exit with status 2",
    "  -V, --version      print the version",
    "",
    "Commands:",
    "  domain add DOMAIN         add a local domain",
    "  domain del DOMAIN         delete a local domain; it must have no",
    "                            accounts or aliases left",
    "  domain list               list the local domains",
    "  account add ADDRESS       add an account and create its mailbox;",
    "                            the password is read from standard",
    "                            input (one line)",
    "  account del ADDRESS       delete an account; its mail stays on disk",
    "  account passwd ADDRESS    set the password of an account, read",
    "                            from standard input (one line)",
    "                            add and passwd with --legacy-auth also",
    "                            store the CRAM-MD5 secret (see",
    "                            sasl_cram_md5); without it passwd drops",
    "                            the secret",
    "  account list [DOMAIN]     list all accounts, or those of DOMAIN",
    "  account show ADDRESS      show an account's mailbox and options",
    "  account set ADDRESS SWITCH on|off",
    "                            allow or refuse imap, pop3 or",
    "                            smtp_auth for one account",
    "  alias add ALIAS TARGET    add TARGET to the recipients of ALIAS",
    "  alias del ALIAS [TARGET]  remove TARGET from ALIAS, or the whole",
    "                            alias",
    "  alias list                list the aliases and their targets",
    "  queue list                list the messages in the mail queue",
    "  queue show ID             show a queued message's envelope and",
    "                            headers",
    "  queue flush               ask the queue manager to retry every",
    "                            queued message now",
    "  queue delete ID           remove a message from the queue",
    "  config check              load the configuration and report OK or",
    "                            the first error as FILE:LINE: reason",
    "  status [--json]           show this node's health, role, queue,",
    "                            peer, cluster membership and replication,",
    "                            from the running hapostd; --json prints",
    "                            one JSON object",
    "  promote [--force]         make this node active (storage_mode =",
    "                            replicated): open the listeners and",
    "                            serve; refused unless its data is",
    "                            complete and at least as new as the",
    "                            peer's, which --force skips",
    "  demote                    make this node standby: end its sessions",
    "                            as a stop does and close the listeners",
    "",
    "Names are folded to lowercase. An account add or passwd reads the",
    "password from standard input, up to the first newline; from a",
    "terminal it prompts without echo.",
    "",
    "Exit status: 0 on success, 1 when the command failed, 2 on a usage",
    "error. status exits 0 when this node is healthy, 1 when it is not,",
    "and 3 when hapostd is not running. promote and demote exit 0 when",
    "the node took the role and 1 otherwise.",
};

static void
print_usage(FILE *out)
{
	for (size_t i = 0; i < sizeof(usage_lines) / sizeof(*usage_lines); i++)
		fprintf(out, "%s\n", usage_lines[i]);
}

const char *
ctl_printable(char *dst, size_t dstlen, const char *arg)
{
	return log_printable(dst, dstlen, arg, strlen(arg));
}

int
ctl_fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hapostctl: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_FAILED;
}

int
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("hapostctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	print_usage(stderr);
	return CTL_USAGE;
}

int
ctl_load_config(struct cfg *cfg, const char *path)
{
	char err[512];

	cfg_defaults(cfg);
	if (cfg_load(cfg, path, err, sizeof(err)) == 0) {
		/* Changes under data_dir go through the replicator first. */
		repl_init(cfg);
		return 0;
	}
	ctl_fail("cannot load the configuration", "%s", err);
	cfg_free(cfg);
	return -1;
}

/* Creates dir if missing and gives it to uid:gid; leaves an existing one. */
static int
make_owned_dir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;
	struct stat st;

	if (lstat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, errlen, "%s exists and is not a directory", dir);
		return -1;
	}
	repl_write_add_mkdirs(&b, dir, NULL, 0750);
	if (repl_write_commit(b, err, errlen) < 0)
		return -1;
	if (mkdir_p(dir, 0750) < 0 || lchown(dir, uid, gid) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int
ctl_become_user(const struct cfg *cfg, const char *const *subdirs, char *err,
		size_t errlen)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0 || cfg->user == NULL)
		return 0;
	errno = 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL || pw->pw_uid == 0)
		return 0;
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (make_owned_dir(cfg->data_dir, uid, gid, err, errlen) < 0)
		return -1;
	for (size_t i = 0; subdirs[i] != NULL; i++) {
		char *dir = xasprintf("%s/%s", cfg->data_dir, subdirs[i]);
		int ret = make_owned_dir(dir, uid, gid, err, errlen);

		free(dir);
		if (ret < 0)
			return -1;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "cannot switch to user %s: %s", cfg->user,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int
config_main(const char *path, int argc, char **argv)
{
	struct cfg cfg;

	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return ctl_usage_error("expected: config check");
	if (ctl_load_config(&cfg, path) < 0)
		return CTL_FAILED;
	printf("%s: OK\n", path);
	cfg_free(&cfg);
	return CTL_OK;
}

static int
status_main(const char *path, int argc, char **argv)
{
	struct cfg cfg;
	int status;

	if (ctl_load_config(&cfg, path) < 0)
		return CTL_FAILED;
	status = ctl_status_main(&cfg, argc, argv);
	cfg_free(&cfg);
	return status;
}

static int
role_main(const char *path, int argc, char **argv)
{
	struct cfg cfg;
	int status;

	if (ctl_load_config(&cfg, path) < 0)
		return CTL_FAILED;
	status = ctl_role_main(&cfg, argc, argv);
	cfg_free(&cfg);
	return status;
}

static int
queue_main(const char *path, int argc, char **argv)
{
	struct cfg cfg;
	int status;

	if (ctl_load_config(&cfg, path) < 0)
		return CTL_FAILED;
	status = ctl_queue_main(&cfg, argc, argv);
	cfg_free(&cfg);
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	const char *command;
	char shown[128];
	int opt;

	log_open("hapostctl", true);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			print_usage(stdout);
			return CTL_USAGE;
		case 'V':
			printf("hapostctl (%s) %s\n", PACKAGE_NAME,
			       PACKAGE_VERSION);
			return CTL_OK;
		default:
			if (optopt == 'c')
				return ctl_usage_error("option -c needs a "
						       "FILE");
			return ctl_usage_error("unknown option %s",
					       ctl_printable(shown,
							     sizeof(shown),
							     argv[optind - 1]));
		}
	}
	if (path == NULL)
		path = getenv("HAPOST_CONF");
	if (path == NULL || path[0] == '\0')
		path = CFG_DEFAULT_PATH;
	if (optind >= argc)
		return ctl_usage_error("missing COMMAND");
	argc -= optind;
	argv += optind;
	command = argv[0];
	if (strcmp(command, "help") == 0) {
		print_usage(stdout);
		return CTL_USAGE;
	}
	if (strcmp(command, "config") == 0)
		return config_main(path, argc, argv);
	if (strcmp(command, "queue") == 0)
		return queue_main(path, argc, argv);
	if (strcmp(command, "status") == 0)
		return status_main(path, argc, argv);
	if (strcmp(command, "promote") == 0 || strcmp(command, "demote") == 0)
		return role_main(path, argc, argv);
	if (strcmp(command, "domain") == 0 || strcmp(command, "account") == 0 ||
	    strcmp(command, "alias") == 0)
		return ctl_directory_main(path, argc, argv);
	return ctl_usage_error("unknown command %s",
			       ctl_printable(shown, sizeof(shown), command));
}
