/*
 * hapost-replicator - runs the replicator process without the master,
 * for the replication tests
 *
 * usage: hapost-replicator -c CONF [-d]
 *
 * Loads CONF (storage_mode must be replicated), logs to stderr (-d adds
 * debug lines) and runs replicator_main() as the invoking user until
 * SIGTERM or SIGINT.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "replicator.h"

int
main(int argc, char **argv)
{
	const char *conf = NULL;
	struct cfg cfg;
	char err[512];
	bool debug = false;
	int opt, ret;

	while ((opt = getopt(argc, argv, "c:d")) != -1) {
		if (opt == 'c')
			conf = optarg;
		else if (opt == 'd')
			debug = true;
		else
			conf = NULL;
	}
	if (conf == NULL || optind != argc) {
		fprintf(stderr, "usage: hapost-replicator -c CONF [-d]\n");
		return 2;
	}
	log_open("hapostd-repl", true);
	cfg_defaults(&cfg);
	if (cfg_load(&cfg, conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "hapost-replicator: %s\n", err);
		return 1;
	}
	if (strcmp(cfg.storage_mode, "replicated") != 0) {
		fprintf(stderr,
			"hapost-replicator: %s: storage_mode is not "
			"replicated\n",
			conf);
		return 1;
	}
	log_set_debug(debug || cfg.log_debug);
	ret = replicator_main(&cfg);
	cfg_free(&cfg);
	return ret;
}
