/*
 * repl_admin - one admin request to the local replicator and its reply
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "repl_admin.h"
#include "repl_local.h"
#include "repl_wire.h"

int
repl_admin(const char *run_dir, const char *request, struct buf *reply,
	   char *err, size_t errlen)
{
	double deadline = repl_local_now() + REPL_ADMIN_TIMEOUT;
	struct buf out = BUF_INIT;
	size_t len = strlen(request);
	int fd, ret = -1;

	if (len == 0 || len > REPL_LOCAL_ADMIN_MAX) {
		snprintf(err, errlen, "invalid admin request length %zu", len);
		return -1;
	}
	fd = repl_local_connect(run_dir, err, errlen);
	if (fd < 0)
		return -1;
	repl_frame_begin(&out, REPL_LOCAL_ADMIN, len);
	buf_append(&out, request, len);
	if (repl_local_send(fd, out.data, out.len, deadline, err, errlen) == 0)
		ret = repl_local_read_reply(fd, reply, deadline, err, errlen);
	buf_free(&out);
	close(fd);
	return ret;
}
