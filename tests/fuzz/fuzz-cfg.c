/*
 * fuzz-cfg - the configuration file parser on arbitrary bytes
 *
 * The input becomes a config file; cfg_load must either load it or fail
 * with a message naming the file, never crash or leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/hapost-fuzz-cfg-XXXXXX";
	char err[512];
	struct cfg cfg;
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	if (write_full(fd, data, size) < 0)
		abort();
	close(fd);
	cfg_defaults(&cfg);
	if (cfg_load(&cfg, path, err, sizeof(err)) < 0 &&
	    strncmp(err, path, strlen(path)) != 0)
		abort();
	cfg_free(&cfg);
	unlink(path);
	return 0;
}
