/*
 * smtp-send - sends files through the outbound SMTP client (smtp_client.h)
 *
 * usage: smtp-send [options] ADDRESS:PORT FILE...
 *
 * Opens one connection to ADDRESS:PORT ("127.0.0.1:25", "[::1]:25") and
 * sends each FILE as one transaction on it, in order, each to every --to
 * recipient. A file's bare LF line ends become CRLF before sending. Each
 * result is printed as one JSON object per line, for the protocol tests:
 *
 *   {"event": "session", "failure": "ok", "stage": "EHLO", "tls": false,
 *    "code": 250, "enhanced": "", "text": "...", "remote": "...",
 *    "max_size": 0}
 *   {"event": "txn", "n": 1, "failure": "permfail", ...same fields}
 *   {"event": "rcpt", "n": 1, "rcpt": "a@example.test", "code": 550, ...}
 *   {"event": "result", "failure": "permfail"}
 *
 * "result" carries the first failure, or "ok". The exit status is 0 when
 * every transaction succeeded, 1 otherwise, 2 for a usage error.
 *
 * Options: --tls none|may|encrypt|verify, --ca FILE (CA bundle for
 * "verify"), --servername NAME (SNI and the name checked), --host NAME
 * (the server's name in results, default the address), --helo NAME,
 * --user NAME and --password SECRET (AUTH), --from ADDRESS (default the
 * null sender), --to ADDRESS (repeatable), --8bit (BODY=8BITMIME),
 * --smtputf8, --repeat N (send each file N times), --timeout SECONDS and
 * --connect-timeout SECONDS (default 10 each).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "fsutil.h"
#include "smtp_client.h"
#include "tls.h"

struct message {
	int fd;
	size_t size;
};

struct run {
	struct ev_loop *loop;
	struct smtp_client_txn txn;
	struct message *messages;
	size_t nmessages;
	size_t next;
	const char *first_failure;
};

static const char *
failure_name(enum smtp_client_failure f)
{
	switch (f) {
	case SMTPC_OK:
		return "ok";
	case SMTPC_TEMPFAIL:
		return "tempfail";
	case SMTPC_PERMFAIL:
		return "permfail";
	case SMTPC_UNREACHABLE:
		return "unreachable";
	}
	return "unknown";
}

/* Prints s as a JSON string; the client's texts are printable ASCII. */
static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
print_reply(const struct smtp_client_reply *r)
{
	printf(", \"code\": %d, \"enhanced\": ", r->code);
	print_json_string(r->enhanced);
	printf(", \"text\": ");
	print_json_string(r->text);
}

static void
print_status(const char *event, size_t n, const struct smtp_client_status *st,
	     const struct smtp_client *c)
{
	printf("{\"event\": \"%s\"", event);
	if (n > 0)
		printf(", \"n\": %zu", n);
	printf(", \"failure\": \"%s\", \"stage\": ", failure_name(st->failure));
	print_json_string(st->stage);
	printf(", \"tls\": %s", st->tls ? "true" : "false");
	print_reply(&st->reply);
	printf(", \"remote\": ");
	print_json_string(st->remote);
	if (c != NULL)
		printf(", \"max_size\": %zu", smtp_client_max_size(c));
	printf("}\n");
}

static void
note_failure(struct run *run, enum smtp_client_failure f)
{
	if (f != SMTPC_OK && run->first_failure == NULL)
		run->first_failure = failure_name(f);
}

static void txn_done(void *arg, struct smtp_client *c,
		     const struct smtp_client_status *st,
		     const struct smtp_client_reply *rcpt);

/* Starts the next transaction, or closes c when none is left. */
static void
send_next(struct run *run, struct smtp_client *c)
{
	if (run->next == run->nmessages) {
		smtp_client_close(c);
		return;
	}
	if (!smtp_client_reusable(c)) {
		printf("{\"event\": \"closed\", \"pending\": %zu}\n",
		       run->nmessages - run->next);
		note_failure(run, SMTPC_UNREACHABLE);
		smtp_client_close(c);
		return;
	}
	run->txn.msg_fd = run->messages[run->next].fd;
	run->txn.msg_offset = 0;
	run->txn.msg_size = run->messages[run->next].size;
	run->next++;
	if (smtp_client_send(c, &run->txn, txn_done, run) < 0) {
		printf("{\"event\": \"error\", \"text\": \"smtp_client_send "
		       "refused the transaction\"}\n");
		note_failure(run, SMTPC_TEMPFAIL);
		smtp_client_close(c);
	}
}

static void
txn_done(void *arg, struct smtp_client *c, const struct smtp_client_status *st,
	 const struct smtp_client_reply *rcpt)
{
	struct run *run = arg;

	print_status("txn", run->next, st,
		     st->failure == SMTPC_UNREACHABLE ? NULL : c);
	for (size_t i = 0; i < run->txn.nrcpts; i++) {
		printf("{\"event\": \"rcpt\", \"n\": %zu, \"rcpt\": ",
		       run->next);
		print_json_string(run->txn.rcpts[i]);
		print_reply(&rcpt[i]);
		printf("}\n");
	}
	note_failure(run, st->failure);
	if (st->failure == SMTPC_UNREACHABLE)
		return;
	send_next(run, c);
}

static void
ready(void *arg, struct smtp_client *c, const struct smtp_client_status *st)
{
	struct run *run = arg;

	print_status("session", 0, st, st->failure == SMTPC_OK ? c : NULL);
	note_failure(run, st->failure);
	if (st->failure != SMTPC_OK)
		return;
	send_next(run, c);
}

/* Loads path into an anonymous file with CRLF line ends. */
static int
load_message(const char *path, struct message *m)
{
	struct buf raw = BUF_INIT, crlf = BUF_INIT;
	int fd;

	if (read_file(path, &raw, 1 << 30) < 0) {
		perror(path);
		return -1;
	}
	for (size_t i = 0; i < raw.len; i++) {
		if (raw.data[i] == '\n' && (i == 0 || raw.data[i - 1] != '\r'))
			buf_putc(&crlf, '\r');
		buf_putc(&crlf, raw.data[i]);
	}
	fd = memfd_create("smtp-send", MFD_CLOEXEC);
	if (fd < 0 ||
	    (crlf.len > 0 && write(fd, crlf.data, crlf.len) != (ssize_t)crlf.len)) {
		perror("memfd");
		return -1;
	}
	m->fd = fd;
	m->size = crlf.len;
	buf_free(&raw);
	buf_free(&crlf);
	return 0;
}

/* Parses ADDRESS:PORT into ss, and the address alone into host. */
static int
parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *len,
	      char *host_out, size_t host_len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[128];
	const char *colon = strrchr(text, ':');
	size_t hlen;
	long port;

	if (colon == NULL)
		return -1;
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	hlen = (size_t)(colon - text);
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	snprintf(host_out, host_len, "%s", host);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*len = sizeof(*sin);
	return 0;
}

static bool
parse_policy(const char *s, enum smtp_client_tls *out)
{
	static const char *const names[] = {"none", "may", "encrypt",
					     "verify"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum smtp_client_tls)i;
			return true;
		}
	}
	return false;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: smtp-send [--tls none|may|encrypt|verify] [--ca FILE] "
		"[--servername NAME]\n"
		"       [--host NAME] [--helo NAME] [--user NAME --password "
		"SECRET]\n"
		"       [--from ADDRESS] --to ADDRESS... [--8bit] [--smtputf8] "
		"[--repeat N]\n"
		"       [--timeout SECONDS] [--connect-timeout SECONDS] "
		"ADDRESS:PORT FILE...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct smtp_client_params p = {.helo = "client.test",
				       .connect_timeout = 10,
				       .timeout = 10};
	const char *ca = NULL, *host = NULL, **rcpts;
	char address[128];
	struct run run = {.loop = ev_default_loop(0)};
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned repeat = 1;
	size_t nrcpts = 0;
	int i;

	/* As in hapostd: OpenSSL writes to a closed socket with write(). */
	signal(SIGPIPE, SIG_IGN);
	rcpts = calloc((size_t)argc, sizeof(*rcpts));
	run.txn.sender = "";
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *opt = argv[i];
		bool has_value = i + 1 < argc;

		if (strcmp(opt, "--8bit") == 0)
			run.txn.body_8bit = true;
		else if (strcmp(opt, "--smtputf8") == 0)
			run.txn.smtputf8 = true;
		else if (!has_value)
			usage();
		else if (strcmp(opt, "--tls") == 0) {
			if (!parse_policy(argv[++i], &p.tls))
				usage();
		} else if (strcmp(opt, "--ca") == 0)
			ca = argv[++i];
		else if (strcmp(opt, "--servername") == 0)
			p.tls_servername = argv[++i];
		else if (strcmp(opt, "--host") == 0)
			host = argv[++i];
		else if (strcmp(opt, "--helo") == 0)
			p.helo = argv[++i];
		else if (strcmp(opt, "--user") == 0)
			p.auth_user = argv[++i];
		else if (strcmp(opt, "--password") == 0)
			p.auth_password = argv[++i];
		else if (strcmp(opt, "--from") == 0)
			run.txn.sender = argv[++i];
		else if (strcmp(opt, "--to") == 0)
			rcpts[nrcpts++] = argv[++i];
		else if (strcmp(opt, "--repeat") == 0)
			repeat = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(opt, "--timeout") == 0)
			p.timeout = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(opt, "--connect-timeout") == 0)
			p.connect_timeout =
				(unsigned)strtoul(argv[++i], NULL, 10);
		else
			usage();
	}
	if (argc - i < 2 || nrcpts == 0 || repeat == 0 ||
	    parse_address(argv[i], &ss, &sslen, address, sizeof(address)) < 0)
		usage();
	if (host == NULL)
		host = address;
	run.txn.rcpts = rcpts;
	run.txn.nrcpts = nrcpts;
	i++;
	run.nmessages = (size_t)(argc - i) * repeat;
	run.messages = calloc(run.nmessages, sizeof(*run.messages));
	for (size_t k = 0; k < run.nmessages; k++)
		if (load_message(argv[i + (int)(k / repeat)],
				 &run.messages[k]) < 0)
			return 2;

	if (p.tls != SMTPC_TLS_NONE) {
		static const char *const names[] = {"none", "may", "encrypt",
						     "verify"};
		struct cfg cfg;
		char err[512];

		cfg_defaults(&cfg);
		if (cfg_set(&cfg, "smtp_client_tls", names[p.tls], err,
			    sizeof(err)) < 0 ||
		    (ca != NULL && cfg_set(&cfg, "smtp_client_tls_ca_file", ca,
					   err, sizeof(err)) < 0)) {
			fprintf(stderr, "smtp-send: %s\n", err);
			return 2;
		}
		p.tls_ctx = tls_client_ctx_new(&cfg, err, sizeof(err));
		if (p.tls_ctx == NULL) {
			fprintf(stderr, "smtp-send: %s\n", err);
			return 2;
		}
		cfg_free(&cfg);
	}

	smtp_client_open(run.loop, &p, (struct sockaddr *)&ss, sslen, host,
			 ready, &run);
	ev_run(run.loop, 0);
	printf("{\"event\": \"result\", \"failure\": \"%s\"}\n",
	       run.first_failure != NULL ? run.first_failure : "ok");
	for (size_t k = 0; k < run.nmessages; k++)
		close(run.messages[k].fd);
	free(run.messages);
	free(rcpts);
	SSL_CTX_free(p.tls_ctx);
	ev_loop_destroy(run.loop);
	return run.first_failure != NULL ? 1 : 0;
}
