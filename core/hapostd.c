/*
 * hapostd - the hapost mail service
 *
 * Usage: hapostd [-c FILE] [-f] [-d] [-t]
 *   -c FILE  configuration file (default SYSCONFDIR/hapost/hapost.conf)
 *   -f       stay in the foreground and log to stderr
 *   -d       log debug lines
 *   -t       check the configuration and exit
 *
 * Exit codes: 0 after a clean stop or a good -t check, 1 when startup
 * fails (bad configuration, a listener that cannot be bound), 2 on a
 * usage error.
 *
 * Signals to the running master: SIGTERM or SIGINT stop it, SIGHUP
 * reloads the configuration, and SIGUSR1 (storage_mode = replicated)
 * rereads the role requested in RUN_DIR/role; "hapostctl promote" and
 * "demote" are the usual way to change it. master.c has the details.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "master.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: hapostd [-c FILE] [-f] [-d] [-t]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -f       run in the foreground, log to stderr\n"
		"  -d       log debug lines\n"
		"  -t       check the configuration and exit\n",
		CFG_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
	const char *path = getenv("HAPOST_CONF");
	bool foreground = false, debug = false, test_only = false;
	struct cfg *cfg;
	char err[512];
	int opt;

	if (path == NULL)
		path = CFG_DEFAULT_PATH;
	while ((opt = getopt(argc, argv, "c:fdth")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'd':
			debug = true;
			break;
		case 't':
			test_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_open("hapostd", foreground || test_only);
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		log_fatal("out of memory");
	cfg_defaults(cfg);
	if (cfg_load(cfg, path, err, sizeof(err)) < 0) {
		/* Say it on stderr too: syslog may not be read at startup. */
		if (!foreground && !test_only)
			fprintf(stderr, "hapostd: %s\n", err);
		log_error("%s", err);
		cfg_free(cfg);
		free(cfg);
		return 1;
	}
	if (test_only && tls_check(cfg, err, sizeof(err)) < 0) {
		log_error("%s: %s", path, err);
		cfg_free(cfg);
		free(cfg);
		return 1;
	}
	if (test_only) {
		printf("%s: configuration OK\n", path);
		cfg_free(cfg);
		free(cfg);
		return 0;
	}
	log_set_debug(debug || cfg->log_debug);
	return master_run(cfg, foreground);
}
