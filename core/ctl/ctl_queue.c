/*
 * ctl_queue - "hapostctl queue list|show ID|flush|delete ID"
 *
 * list and show read the queue files directly, so they work while the
 * daemon is stopped. delete removes an entry with queue_remove(); a
 * delivery in progress for it stops when the queue manager notices the
 * removal, after at most the recipient it is delivering. flush sends
 * "flush" to the queue manager's datagram socket RUN_DIR/qmgr.sock and
 * waits up to FLUSH_REPLY_TIMEOUT_MS for its "ok".
 *
 * Output: text from the queue (addresses, HELO names, errors, headers)
 * is printed with control bytes replaced by '?', so a hostile message
 * cannot drive the terminal. list prints one line per entry, then one
 * line per pending recipient, indented by two spaces:
 *
 *   ID ARRIVAL SIZE <SENDER> PENDING-RCPTS LAST-ERROR
 *     <RCPT> route=ROUTE next=TIME|now [dsn=X.Y.Z] [relay=HOST] error=TEXT|-
 *
 * ROUTE is where the next attempt goes with the current configuration:
 * "local", "mx:DOMAIN", or "gateway:PATTERN->NEXTHOP" from the gateway
 * table (see remote.h). The error comes last because it may contain
 * spaces.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ctl.h"
#include "delivery/qmgr.h"
#include "delivery/remote.h"
#include "delivery/route.h"
#include "directory.h"
#include "log.h"
#include "queue.h"

#define FLUSH_REPLY_TIMEOUT_MS 5000
#define SHOW_HEADER_MAX (64 * 1024)

/* Appends s with control bytes (and DEL) replaced by '?'; UTF-8 stays. */
static void
put_safe(struct buf *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		buf_putc(out,
			 (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
	}
}

static const char *
safe(struct buf *scratch, const char *s)
{
	buf_reset(scratch);
	if (s != NULL)
		put_safe(scratch, s, strlen(s));
	return buf_cstr(scratch);
}

static void
format_time(char *out, size_t outlen, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

static const char *
state_name(enum queue_rcpt_state state)
{
	switch (state) {
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	case QUEUE_RCPT_FAILED:
		return "failed";
	default:
		return "pending";
	}
}

/* The directory and gateway table that recipient routes come from. */
struct route_ctx {
	struct directory *dir;
	struct route_table *routes;
	bool routes_failed; /* the gateway table did not load */
};

static void
route_ctx_open(struct route_ctx *rc, struct cfg *cfg)
{
	char err[512];

	memset(rc, 0, sizeof(*rc));
	rc->dir = directory_open_file(cfg->data_dir);
	if (cfg->gateway_table == NULL || cfg->gateway_table[0] == '\0')
		return;
	if (route_table_load(cfg->gateway_table, &rc->routes, err,
			     sizeof(err)) < 0) {
		rc->routes_failed = true;
		fprintf(stderr, "hapostctl: routes not shown: %s\n", err);
	}
}

static void
route_ctx_close(struct route_ctx *rc)
{
	directory_close(rc->dir);
	route_table_free(rc->routes);
}

/* Describes where the next attempt for address goes. */
static void
route_text(struct route_ctx *rc, const char *address, char *out,
	   size_t outlen)
{
	struct account acct;

	switch (directory_get_account(rc->dir, address, &acct)) {
	case DIR_OK:
		account_free(&acct);
		snprintf(out, outlen, "local");
		return;
	case DIR_NOT_LOCAL:
		break;
	case DIR_TEMPFAIL:
		snprintf(out, outlen, "unknown");
		return;
	default:
		snprintf(out, outlen, "local");
		return;
	}
	if (rc->routes_failed) {
		snprintf(out, outlen, "unknown");
		return;
	}
	remote_route_text(route_lookup(rc->routes, address), address, out,
			  outlen);
}

/* Appends " dsn=X.Y.Z relay=HOST" when the last result recorded them. */
static void
put_remote_details(struct buf *out, struct buf *scratch,
		   const struct queue_rcpt *r)
{
	if (r->dsn != NULL)
		buf_printf(out, " dsn=%s", safe(scratch, r->dsn));
	if (r->relay != NULL)
		buf_printf(out, " relay=%s", safe(scratch, r->relay));
}

/* Prints the indented line of one pending recipient. */
static void
print_rcpt_line(struct route_ctx *rc, const struct queue_rcpt *r)
{
	struct buf line = BUF_INIT, scratch = BUF_INIT;
	char route[600], when[32];

	route_text(rc, r->address, route, sizeof(route));
	if (r->next_attempt != 0)
		format_time(when, sizeof(when), r->next_attempt);
	else
		snprintf(when, sizeof(when), "now");
	buf_printf(&line, "  <%s>", safe(&scratch, r->address));
	buf_printf(&line, " route=%s next=%s", safe(&scratch, route), when);
	put_remote_details(&line, &scratch, r);
	buf_printf(&line, " error=%s\n",
		   r->last_error != NULL ? safe(&scratch, r->last_error)
					 : "-");
	fputs(buf_cstr(&line), stdout);
	buf_free(&line);
	buf_free(&scratch);
}

/* Prints one line: ID ARRIVAL SIZE <SENDER> PENDING-RCPTS LAST-ERROR. */
static void
print_list_line(const struct queue_envelope *env)
{
	struct buf line = BUF_INIT, scratch = BUF_INIT;
	const char *error = NULL;
	char when[32];
	size_t i, pending = 0;

	format_time(when, sizeof(when), env->arrival);
	buf_printf(&line, "%s %s %zu <%s> ", env->id, when, env->msg_size,
		   safe(&scratch, env->sender));
	for (i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		if (pending++ > 0)
			buf_putc(&line, ',');
		buf_puts(&line, safe(&scratch, r->address));
		if (r->last_error != NULL)
			error = r->last_error;
	}
	if (pending == 0)
		buf_putc(&line, '-');
	buf_printf(&line, " %s\n", error != NULL ? safe(&scratch, error) : "-");
	fputs(buf_cstr(&line), stdout);
	buf_free(&line);
	buf_free(&scratch);
}

static int
queue_list_command(struct cfg *cfg)
{
	struct queue_envelope env;
	struct route_ctx rc;
	char err[512];
	char **ids;
	size_t n, i, k;
	int status = CTL_OK;

	if (queue_list(cfg->data_dir, &ids, &n, err, sizeof(err)) < 0) {
		/* No queue directory yet: the daemon never ran. */
		if (errno == ENOENT)
			return CTL_OK;
		return ctl_fail("queue list", "%s", err);
	}
	route_ctx_open(&rc, cfg);
	for (i = 0; i < n; i++) {
		if (queue_load(cfg->data_dir, ids[i], &env, err, sizeof(err)) <
		    0) {
			/* Delivered and removed since the listing. */
			if (errno == ENOENT)
				continue;
			status = ctl_fail("queue list", "%s", err);
			continue;
		}
		print_list_line(&env);
		for (k = 0; k < env.nrcpts; k++)
			if (env.rcpts[k].state == QUEUE_RCPT_PENDING)
				print_rcpt_line(&rc, &env.rcpts[k]);
		queue_envelope_free(&env);
	}
	route_ctx_close(&rc);
	queue_list_free(ids, n);
	return status;
}

/* Prints the message header section (up to the first empty line). */
static int
print_headers(struct cfg *cfg, const struct queue_envelope *env)
{
	size_t want =
	    env->msg_size < SHOW_HEADER_MAX ? env->msg_size : SHOW_HEADER_MAX;
	struct buf out = BUF_INIT;
	char *data;
	size_t len = 0, i, start = 0;
	bool ended = false;
	int fd;

	fd = queue_open_message(cfg->data_dir, env->id);
	if (fd < 0)
		return ctl_fail("queue show", "opening message %s failed: %s",
				env->id, strerror(errno));
	data = malloc(want + 1);
	if (data == NULL) {
		close(fd);
		return ctl_fail("queue show", "out of memory");
	}
	while (len < want) {
		ssize_t n = pread(fd, data + len, want - len,
				  env->msg_offset + (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);

	/* Line by line, stopping at the empty line that ends the header. */
	for (i = 0; i <= len; i++) {
		size_t end;

		if (i < len && data[i] != '\n')
			continue;
		end = i;
		if (end > start && data[end - 1] == '\r')
			end--;
		if (end == start) {
			ended = true;
			break;
		}
		put_safe(&out, data + start, end - start);
		buf_putc(&out, '\n');
		start = i + 1;
		if (start >= len)
			break;
	}
	fputs(buf_cstr(&out), stdout);
	if (!ended && len == SHOW_HEADER_MAX)
		printf("(header truncated at %d bytes)\n", SHOW_HEADER_MAX);
	buf_free(&out);
	free(data);
	return CTL_OK;
}

static int
queue_show_command(struct cfg *cfg, const char *id)
{
	struct buf scratch = BUF_INIT;
	struct queue_envelope env;
	struct route_ctx rc;
	char err[512], when[32], route[600];
	size_t i;
	int status;

	if (queue_load(cfg->data_dir, id, &env, err, sizeof(err)) < 0)
		return ctl_fail("queue show", "%s", err);
	route_ctx_open(&rc, cfg);
	format_time(when, sizeof(when), env.arrival);
	printf("id: %s\n", env.id);
	printf("arrival: %s\n", when);
	printf("size: %zu\n", env.msg_size);
	printf("sender: <%s>\n", safe(&scratch, env.sender));
	printf("client-ip: %s\n", safe(&scratch, env.client_ip));
	printf("helo: %s\n", safe(&scratch, env.helo));
	printf("auth-user: %s\n",
	       env.auth_user != NULL ? safe(&scratch, env.auth_user) : "-");
	printf("body-8bit: %s\n", env.body_8bit ? "yes" : "no");
	printf("smtputf8: %s\n", env.smtputf8 ? "yes" : "no");
	for (i = 0; i < env.nrcpts; i++) {
		const struct queue_rcpt *r = &env.rcpts[i];

		printf("recipient: <%s>", safe(&scratch, r->address));
		printf(" orig=<%s>", safe(&scratch, r->orig));
		if (r->state == QUEUE_RCPT_PENDING) {
			route_text(&rc, r->address, route, sizeof(route));
			printf(" route=%s", safe(&scratch, route));
		}
		if (r->dsn != NULL)
			printf(" dsn=%s", safe(&scratch, r->dsn));
		if (r->relay != NULL)
			printf(" relay=%s", safe(&scratch, r->relay));
		if (r->reported)
			printf(" reported=yes");
		if (r->warned)
			printf(" warned=yes");
		printf(" state=%s attempts=%u", state_name(r->state),
		       r->attempts);
		if (r->state == QUEUE_RCPT_PENDING && r->next_attempt != 0) {
			format_time(when, sizeof(when), r->next_attempt);
			printf(" next=%s", when);
		}
		if (r->last_error != NULL)
			printf(" error=%s", safe(&scratch, r->last_error));
		putchar('\n');
	}
	putchar('\n');
	status = print_headers(cfg, &env);
	route_ctx_close(&rc);
	buf_free(&scratch);
	queue_envelope_free(&env);
	return status;
}

static int
queue_delete_command(struct cfg *cfg, const char *id)
{
	char err[512];

	if (queue_remove(cfg->data_dir, id, err, sizeof(err)) < 0)
		return ctl_fail("queue delete", "%s", err);
	log_notice("qid=%s deleted from the queue by hapostctl", id);
	return CTL_OK;
}

static int
queue_flush_command(struct cfg *cfg)
{
	struct sockaddr_un to, self;
	struct pollfd pfd;
	char reply[128];
	ssize_t n;
	int fd, ready, len;

	memset(&to, 0, sizeof(to));
	to.sun_family = AF_UNIX;
	len = snprintf(to.sun_path, sizeof(to.sun_path), "%s/%s", cfg->run_dir,
		       QMGR_SOCKET_NAME);
	if (len < 0 || (size_t)len >= sizeof(to.sun_path))
		return ctl_fail("queue flush", "socket path %s/%s is too long",
				cfg->run_dir, QMGR_SOCKET_NAME);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ctl_fail("queue flush", "socket(AF_UNIX) failed: %s",
				strerror(errno));
	/* Autobind an abstract address so the queue manager can reply. */
	memset(&self, 0, sizeof(self));
	self.sun_family = AF_UNIX;
	if (bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)) < 0) {
		close(fd);
		return ctl_fail("queue flush", "bind failed: %s",
				strerror(errno));
	}
	if (sendto(fd, QMGR_FLUSH_COMMAND, strlen(QMGR_FLUSH_COMMAND), 0,
		   (struct sockaddr *)&to, sizeof(to)) < 0) {
		int saved = errno;

		close(fd);
		if (saved == ENOENT || saved == ECONNREFUSED)
			return ctl_fail("queue flush",
					"the queue manager is not running "
					"(%s: %s); start hapostd first",
					to.sun_path, strerror(saved));
		return ctl_fail("queue flush", "sendto(%s) failed: %s",
				to.sun_path, strerror(saved));
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		ready = poll(&pfd, 1, FLUSH_REPLY_TIMEOUT_MS);
	while (ready < 0 && errno == EINTR);
	if (ready <= 0) {
		close(fd);
		return ctl_fail("queue flush",
				"no reply from the queue manager at %s within "
				"%d s",
				to.sun_path, FLUSH_REPLY_TIMEOUT_MS / 1000);
	}
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	close(fd);
	if (n < 0)
		return ctl_fail("queue flush", "recv failed: %s",
				strerror(errno));
	reply[n] = '\0';
	if (strncmp(reply, "ok", 2) != 0)
		return ctl_fail("queue flush", "the queue manager replied: %s",
				reply);
	return CTL_OK;
}

/* Checks the ID argument; prints a usage error when it is malformed. */
static bool
id_argument_ok(const char *id)
{
	char shown[64];

	if (queue_id_valid(id))
		return true;
	ctl_usage_error("invalid queue ID \"%s\" (16 upper-case hex digits "
			"expected, as \"queue list\" shows)",
			ctl_printable(shown, sizeof(shown), id));
	return false;
}

int
ctl_queue_main(struct cfg *cfg, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL)
		return ctl_usage_error("expected: queue list|show ID|flush|"
				       "delete ID");
	if (strcmp(sub, "list") == 0 && argc == 2)
		return queue_list_command(cfg);
	if (strcmp(sub, "flush") == 0 && argc == 2)
		return queue_flush_command(cfg);
	if (strcmp(sub, "show") == 0 && argc == 3)
		return id_argument_ok(argv[2])
			   ? queue_show_command(cfg, argv[2])
			   : CTL_USAGE;
	if (strcmp(sub, "delete") == 0 && argc == 3)
		return id_argument_ok(argv[2])
			   ? queue_delete_command(cfg, argv[2])
			   : CTL_USAGE;
	return ctl_usage_error("expected: queue list|show ID|flush|delete ID");
}
