/*
 * heartbeat - encoding and strict decoding of the health message
 *
 * The format and its rules are in heartbeat.h. The decoder works on a
 * bounded copy of the input and checks every byte: NUL and control bytes,
 * overlong lines, missing or repeated keys, numbers out of range and a
 * missing "end" line all fail, with a reason that never quotes the input,
 * so a caller can log it as it is.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heartbeat.h"

static const char *const role_names[] = {
    [ROLE_STANDALONE] = "standalone",
    [ROLE_ACTIVE] = "active",
    [ROLE_STANDBY] = "standby",
};

const char *
node_role_name(enum node_role role)
{
	if ((size_t)role < sizeof(role_names) / sizeof(role_names[0]))
		return role_names[role];
	return "unknown";
}

int
node_role_parse(const char *text, enum node_role *out)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]);
	     i++) {
		if (strcmp(text, role_names[i]) == 0) {
			*out = (enum node_role)i;
			return 0;
		}
	}
	return -1;
}

static const char *const repl_state_names[] = {
    [REPL_UNKNOWN] = "unknown",		  [REPL_IN_SYNC] = "in-sync",
    [REPL_CATCHING_UP] = "catching-up",	  [REPL_DEGRADED] = "degraded",
    [REPL_DISCONNECTED] = "disconnected",
};

const char *
repl_state_name(enum repl_state state)
{
	if ((size_t)state <
	    sizeof(repl_state_names) / sizeof(repl_state_names[0]))
		return repl_state_names[state];
	return "unknown";
}

int
repl_state_parse(const char *text, enum repl_state *out)
{
	for (size_t i = 0;
	     i < sizeof(repl_state_names) / sizeof(repl_state_names[0]); i++) {
		if (strcmp(text, repl_state_names[i]) == 0) {
			*out = (enum repl_state)i;
			return 0;
		}
	}
	return -1;
}

enum node_role
node_role_decide(bool cluster_available, bool replicated, bool serving)
{
	if (!cluster_available && !replicated)
		return ROLE_STANDALONE;
	return serving ? ROLE_ACTIVE : ROLE_STANDBY;
}

enum health_state
node_health_state(const struct node_health *h)
{
	bool unchecked = false;

	if (!h->data_dir_writable)
		return HEALTH_FAILED;
	if (h->replicated && h->repl_unchecked)
		unchecked = true;
	else if (h->replicated && !h->repl_alive)
		return HEALTH_FAILED;
	/* A replicated standby serves nothing: no queue manager, no
	 * listeners to check. */
	if (h->replicated && h->role == ROLE_STANDBY)
		return unchecked ? HEALTH_UNCHECKED : HEALTH_OK;
	if (!h->qmgr_alive)
		return HEALTH_FAILED;
	for (size_t i = 0; i < h->nlisteners; i++) {
		if (h->listeners[i].unchecked)
			unchecked = true;
		else if (!h->listeners[i].healthy)
			return HEALTH_FAILED;
	}
	return unchecked ? HEALTH_UNCHECKED : HEALTH_OK;
}

bool
node_health_ok(const struct node_health *h)
{
	return node_health_state(h) == HEALTH_OK;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool
node_name_valid(const char *text)
{
	size_t len = strlen(text);

	if (len == 0 || len > HEARTBEAT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(text[i]))
			return false;
	return true;
}

void
heartbeat_encode(const struct node_health *h, struct buf *out)
{
	size_t n = h->nlisteners;

	if (n > HEARTBEAT_LISTENERS_MAX)
		n = HEARTBEAT_LISTENERS_MAX;
	buf_reset(out);
	buf_printf(out, "%s %d\n", HEARTBEAT_MAGIC, HEARTBEAT_VERSION);
	buf_printf(out, "node=%s\n", h->name);
	buf_printf(out, "role=%s\n", node_role_name(h->role));
	buf_printf(out, "time_ms=%" PRId64 "\n", h->time_ms);
	buf_printf(out, "generation=%" PRIu64 "\n", h->generation);
	buf_printf(out, "data_dir_writable=%d\n", h->data_dir_writable);
	buf_printf(out, "qmgr_alive=%d\n", h->qmgr_alive);
	buf_printf(out, "queue_size=%" PRIu64 "\n", h->queue_size);
	buf_printf(out, "queue_oldest_age=%" PRId64 "\n", h->queue_oldest_age);
	/* An unchecked listener goes out as failed (see heartbeat.h). */
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "listener=%s %s %d\n", h->listeners[i].service,
			   h->listeners[i].address,
			   h->listeners[i].healthy &&
			       !h->listeners[i].unchecked);
	if (h->seq > 0)
		buf_printf(out, "seq=%" PRIu64 "\n", h->seq);
	if (h->replicated) {
		buf_puts(out, "storage=replicated\n");
		/* Unchecked goes out as not alive, like a listener. */
		buf_printf(out, "repl_alive=%d\n",
			   h->repl_alive && !h->repl_unchecked);
		buf_printf(out, "repl_state=%s\n",
			   repl_state_name(h->repl_state));
		buf_printf(out, "complete=%d\n", h->complete);
	}
	buf_puts(out, "end\n");
}

/* Parses a decimal number up to max with no sign, space or suffix. */
static int
parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*text < '0' || *text > '9')
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (*p < '0' || *p > '9' || v > (UINT64_MAX - digit) / 10)
			return -1;
		v = v * 10 + digit;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_bool01(const char *text, bool *out)
{
	if (strcmp(text, "0") == 0 || strcmp(text, "1") == 0) {
		*out = text[0] == '1';
		return 0;
	}
	return -1;
}

/* Copies a word of printable, non-space ASCII of at most max bytes. */
static int
copy_word(const char *text, size_t len, char *dst, size_t max)
{
	if (len == 0 || len > max)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (text[i] <= ' ' || text[i] > '~')
			return -1;
	memcpy(dst, text, len);
	dst[len] = '\0';
	return 0;
}

static int
parse_listener(const char *value, struct listener_health *l)
{
	const char *sp1 = strchr(value, ' '), *sp2;

	if (sp1 == NULL)
		return -1;
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL)
		return -1;
	if (copy_word(value, (size_t)(sp1 - value), l->service,
		      HEARTBEAT_SERVICE_MAX) < 0)
		return -1;
	for (const char *p = l->service; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return -1;
	if (copy_word(sp1 + 1, (size_t)(sp2 - sp1 - 1), l->address,
		      HEARTBEAT_ADDRESS_MAX) < 0)
		return -1;
	return parse_bool01(sp2 + 1, &l->healthy);
}

enum hb_key {
	K_NODE,
	K_ROLE,
	K_TIME,
	K_GENERATION,
	K_DATA_DIR,
	K_QMGR,
	K_QUEUE_SIZE,
	K_QUEUE_AGE,
	K_REQUIRED, /* keys before this one must appear exactly once */
	K_LISTENER = K_REQUIRED, /* any number of times */
	K_SEQ,			 /* optional keys: at most once */
	K_STORAGE,
	K_REPL_ALIVE,
	K_REPL_STATE,
	K_COMPLETE,
	K_UNKNOWN,
};

static const char *const key_names[] = {
    [K_NODE] = "node",
    [K_ROLE] = "role",
    [K_TIME] = "time_ms",
    [K_GENERATION] = "generation",
    [K_DATA_DIR] = "data_dir_writable",
    [K_QMGR] = "qmgr_alive",
    [K_QUEUE_SIZE] = "queue_size",
    [K_QUEUE_AGE] = "queue_oldest_age",
    [K_LISTENER] = "listener",
    [K_SEQ] = "seq",
    [K_STORAGE] = "storage",
    [K_REPL_ALIVE] = "repl_alive",
    [K_REPL_STATE] = "repl_state",
    [K_COMPLETE] = "complete",
};

static enum hb_key
key_lookup(const char *key)
{
	for (int k = 0; k < K_UNKNOWN; k++)
		if (strcmp(key, key_names[k]) == 0)
			return (enum hb_key)k;
	return K_UNKNOWN;
}

static int
parse_value(enum hb_key key, const char *value, struct node_health *out)
{
	uint64_t u;

	switch (key) {
	case K_NODE:
		if (!node_name_valid(value))
			return -1;
		strcpy(out->name, value);
		return 0;
	case K_ROLE:
		return node_role_parse(value, &out->role);
	case K_TIME:
		if (parse_uint(value, INT64_MAX, &u) < 0)
			return -1;
		out->time_ms = (int64_t)u;
		return 0;
	case K_GENERATION:
		return parse_uint(value, UINT64_MAX, &out->generation);
	case K_DATA_DIR:
		return parse_bool01(value, &out->data_dir_writable);
	case K_QMGR:
		return parse_bool01(value, &out->qmgr_alive);
	case K_QUEUE_SIZE:
		return parse_uint(value, UINT64_MAX, &out->queue_size);
	case K_QUEUE_AGE:
		if (strcmp(value, "-1") == 0) {
			out->queue_oldest_age = -1;
			return 0;
		}
		if (parse_uint(value, INT64_MAX, &u) < 0)
			return -1;
		out->queue_oldest_age = (int64_t)u;
		return 0;
	case K_LISTENER:
		if (out->nlisteners == HEARTBEAT_LISTENERS_MAX)
			return -1;
		if (parse_listener(value, &out->listeners[out->nlisteners]) < 0)
			return -1;
		out->nlisteners++;
		return 0;
	case K_SEQ:
		return parse_uint(value, UINT64_MAX, &out->seq);
	case K_STORAGE:
		if (strcmp(value, "shared") != 0 &&
		    strcmp(value, "replicated") != 0)
			return -1;
		out->replicated = value[0] == 'r';
		return 0;
	case K_REPL_ALIVE:
		return parse_bool01(value, &out->repl_alive);
	case K_REPL_STATE:
		return repl_state_parse(value, &out->repl_state);
	case K_COMPLETE:
		return parse_bool01(value, &out->complete);
	default:
		return 0;
	}
}

/* Checks the "hapost-heartbeat N" line. */
static int
check_magic(const char *line, char *err, size_t errlen)
{
	size_t mlen = strlen(HEARTBEAT_MAGIC);
	uint64_t version;

	if (strncmp(line, HEARTBEAT_MAGIC, mlen) != 0 || line[mlen] != ' ') {
		snprintf(err, errlen, "not a heartbeat message");
		return -1;
	}
	if (parse_uint(line + mlen + 1, 1000000, &version) < 0) {
		snprintf(err, errlen, "invalid version number");
		return -1;
	}
	if (version != HEARTBEAT_VERSION) {
		snprintf(err, errlen,
			 "unsupported version %" PRIu64 " (expected %d)",
			 version, HEARTBEAT_VERSION);
		return -1;
	}
	return 0;
}

int
heartbeat_decode(const void *data, size_t len, struct node_health *out,
		 char *err, size_t errlen)
{
	char copy[HEARTBEAT_MAX_SIZE + 1];
	unsigned seen[K_UNKNOWN] = {0};
	char *line, *next;
	unsigned lineno = 0;
	bool ended = false;

	memset(out, 0, sizeof(*out));
	if (len > HEARTBEAT_MAX_SIZE) {
		snprintf(err, errlen, "message of %zu bytes is longer than %d",
			 len, HEARTBEAT_MAX_SIZE);
		return -1;
	}
	if (len == 0 || ((const char *)data)[len - 1] != '\n') {
		snprintf(err, errlen, "truncated message: no final newline");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = ((const unsigned char *)data)[i];

		if ((c < ' ' && c != '\n') || c > '~') {
			snprintf(err, errlen,
				 "control or non-ASCII byte at offset %zu", i);
			return -1;
		}
	}
	memcpy(copy, data, len);
	copy[len] = '\0';

	for (line = copy; *line != '\0'; line = next) {
		char *eq;
		enum hb_key key;

		next = strchr(line, '\n');
		*next++ = '\0';
		lineno++;
		if (ended) {
			snprintf(err, errlen, "line %u: data after end",
				 lineno);
			return -1;
		}
		if (lineno == 1) {
			if (check_magic(line, err, errlen) < 0)
				return -1;
			continue;
		}
		if (strcmp(line, "end") == 0) {
			ended = true;
			continue;
		}
		eq = strchr(line, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "line %u: expected key=value",
				 lineno);
			return -1;
		}
		*eq = '\0';
		key = key_lookup(line);
		if (key != K_LISTENER && key != K_UNKNOWN && seen[key]++ > 0) {
			snprintf(err, errlen, "line %u: key %s repeated",
				 lineno, key_names[key]);
			return -1;
		}
		if (parse_value(key, eq + 1, out) < 0) {
			snprintf(err, errlen, "line %u: invalid value for %s",
				 lineno,
				 key == K_UNKNOWN ? "?" : key_names[key]);
			return -1;
		}
	}
	if (!ended) {
		snprintf(err, errlen, "truncated message: no end line");
		return -1;
	}
	for (int k = 0; k < K_REQUIRED; k++) {
		if (!seen[k]) {
			snprintf(err, errlen, "key %s missing", key_names[k]);
			return -1;
		}
	}
	return 0;
}
