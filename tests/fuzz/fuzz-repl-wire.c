/*
 * fuzz-repl-wire - replication frames and change records on arbitrary
 * bytes
 *
 * The input is decoded twice: as one record body, and as a stream of
 * frames whose bodies hold records. Every record the decoder accepts
 * must have a well-formed path and data inside the body, and encoding
 * it again must give back exactly the bytes it was decoded from. A
 * rejected record must come with a reason and leave the position alone.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "repl_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_records(const uint8_t *body, size_t len)
{
	size_t pos = 0;

	for (;;) {
		struct repl_op op;
		struct buf again = BUF_INIT;
		char err[256] = "";
		size_t before = pos;
		const uint8_t *p;
		int ret = repl_op_decode(body, len, &pos, &op, err,
					 sizeof(err));

		if (ret == 0)
			return;
		if (ret < 0) {
			if (pos != before || err[0] == '\0')
				abort();
			return;
		}
		if (pos <= before || pos > len)
			abort();
		if (op.path != NULL && !repl_path_valid(op.path))
			abort();
		if (op.path2 != NULL && !repl_path_valid(op.path2))
			abort();
		p = op.data;
		if (op.len > 0 && (p < body || p + op.len > body + len))
			abort();
		repl_op_encode(&again, &op);
		if (again.len != pos - before ||
		    memcmp(again.data, body + before, again.len) != 0)
			abort();
		buf_free(&again);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	check_records(data, size);
	while (pos < size) {
		const void *body;
		size_t body_len;
		uint8_t type;
		ssize_t used = repl_frame_next(data + pos, size - pos, &type,
					       &body, &body_len);

		if (used <= 0)
			break;
		if ((size_t)used > size - pos ||
		    (size_t)used != body_len + REPL_FRAME_HEADER)
			abort();
		check_records(body, body_len);
		pos += (size_t)used;
	}
	return 0;
}
