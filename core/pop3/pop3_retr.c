/*
 * pop3_retr - streaming RETR and TOP responses
 *
 * A message is read in 64 KiB chunks and dot-stuffed into the output
 * buffer until that contains POP3_OUT_HIGH bytes; the rest follows each time
 * the buffer drains (proto_ops.drained), so a session never keeps more
 * than about one window of a message in memory. Reading from the client
 * is paused while a response streams, so pipelined commands wait their
 * turn. A read error in the middle of a message cannot be reported inside
 * the response, so the connection is closed instead.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "pop3_session.h"

#define POP3_READ_CHUNK 65536
#define POP3_OUT_HIGH (256 * 1024)

static void
send_finish(struct pop3_session *s)
{
	buf_reset(&s->chunk);
	pop3_stuff_end(&s->stuffer, &s->chunk);
	conn_write(s->c, s->chunk.data, s->chunk.len);
	buf_free(&s->chunk);
	close(s->msg_fd);
	s->msg_fd = -1;
	s->sending = false;
	conn_resume_read(s->c);
}

void
pop3_send_more(struct pop3_session *s)
{
	char data[POP3_READ_CHUNK];

	if (!s->sending)
		return;
	/* A slow reader is not idle: restart the idle timer. */
	conn_set_idle_timeout(s->c, s->c->idle_timeout);
	while (s->c->out.len < POP3_OUT_HIGH) {
		ssize_t n = read(s->msg_fd, data, sizeof(data));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("conn=%lu pop3 read of %s failed: %m",
				  s->c->id, s->acct.address);
			pop3_send_abort(s);
			conn_close(s->c, "message read error");
			return;
		}
		if (n == 0) {
			send_finish(s);
			return;
		}
		buf_reset(&s->chunk);
		pop3_stuff(&s->stuffer, data, (size_t)n, &s->chunk);
		conn_write(s->c, s->chunk.data, s->chunk.len);
		if (s->stuffer.done) {
			send_finish(s);
			return;
		}
	}
}

void
pop3_send_message(struct pop3_session *s, size_t i, bool limited,
		  uint64_t body_lines)
{
	struct maildir_msg *m = &s->mb->msgs[i];
	char err[512];
	int fd = mailbox_open_msg(s->mb, i, err, sizeof(err));

	if (fd < 0) {
		log_warning("conn=%lu pop3 user=%s: %s", s->c->id,
			    s->acct.address, err);
		conn_printf(s->c, "-ERR message %zu is no longer available\r\n",
			    i + 1);
		return;
	}
	if (limited)
		conn_puts(s->c, "+OK top of message follows\r\n");
	else
		conn_printf(s->c, "+OK %llu octets\r\n",
			    (unsigned long long)m->size);
	s->msg_fd = fd;
	s->sending = true;
	pop3_stuffer_init(&s->stuffer, limited, body_lines);
	conn_pause_read(s->c);
	pop3_send_more(s);
}

void
pop3_send_abort(struct pop3_session *s)
{
	if (!s->sending)
		return;
	close(s->msg_fd);
	s->msg_fd = -1;
	s->sending = false;
	buf_free(&s->chunk);
}
