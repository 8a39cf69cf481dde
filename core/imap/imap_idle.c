/*
 * imap_idle - IDLE (RFC 2177)
 *
 * While IDLE runs, changes to the selected folder are pushed as soon as
 * the process-wide inotify watcher reports them (after its debounce).
 * Entering IDLE restarts the idle timer, so a client that re-issues IDLE
 * within imap_idle_timeout stays connected. Any line other than DONE
 * ends IDLE with BAD.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_session.h"
#include "worker.h"
#include "xalloc.h"

int
imap_cmd_idle(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	s->idle_tag = xstrdup(s->tag);
	conn_puts(s->c, "+ idling\r\n");
	imap_send_updates(s);
	conn_set_idle_timeout(s->c, s->c->worker->cfg->imap_idle_timeout);
	return 0;
}

void
imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	free(s->tag);
	s->tag = s->idle_tag;
	s->idle_tag = NULL;
	s->updates = IMAP_UPDATES_ALL;
	s->uid = false;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		imap_ok(s, "IDLE terminated");
	else
		imap_bad(s, "Expected DONE to end IDLE");
	free(s->tag);
	s->tag = NULL;
}

void
imap_folder_changed(void *arg)
{
	struct imap_session *s = arg;

	if (s->idle_tag != NULL && !s->busy && !s->c->closing)
		imap_send_updates(s);
}
