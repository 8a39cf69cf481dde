/*
 * maildir_name - message file names, folder names and Maildir creation
 *
 * A message file is BASE, or BASE:2,FLAGS in cur/. BASE ends the name or
 * is cut at the first ':'. New BASEs follow the usual Maildir pattern
 * SECONDS.MMICROSECONDSPPIDQCOUNTER.HOST,S=SIZE; '/' and ':' in the host
 * name are written as \057 and \072 as the Maildir convention requires.
 *
 * Folder names are IMAP names in modified UTF-7 (RFC 3501 section 5.1.3)
 * with "." as the only hierarchy separator. A name is rejected when it is
 * empty, has an empty part (leading, trailing or doubled "."), holds '/',
 * a control byte, an 8-bit byte, a LIST wildcard ('*', '%') or invalid
 * modified UTF-7, or starts with an "INBOX" part (INBOX is the Maildir
 * root, so it cannot have children in this layout). Because the folder
 * directory is ROOT/."NAME" and the name holds no '/', no accepted name
 * can reach outside the root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fsutil.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "mutf7.h"
#include "xalloc.h"

/* Keeps "." NAME within NAME_MAX (255) with room to spare. */
#define FOLDER_NAME_MAX 240

void
maildir_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

size_t
maildir_base_len(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon ? (size_t)(colon - name) : strlen(name);
}

bool
maildir_flags_normalize(const char *in, char out[48])
{
	bool seen[128] = {false};
	bool clean = true;
	size_t n = 0;
	int ch;

	for (const char *p = in; *p != '\0'; p++) {
		unsigned char u = (unsigned char)*p;

		if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z'))
			seen[u] = true;
		else
			clean = false;
	}
	for (ch = 'A'; ch <= 'z'; ch++) {
		if (seen[ch] && n < 47)
			out[n++] = (char)ch;
	}
	out[n] = '\0';
	return clean;
}

void
maildir_name_flags(const char *name, char out[48])
{
	const char *info = strstr(name, ":2,");

	if (info == NULL) {
		out[0] = '\0';
		return;
	}
	maildir_flags_normalize(info + 3, out);
}

void
maildir_msg_set_name(struct maildir_msg *m, const char *base, size_t baselen,
		     const char *suffix)
{
	size_t slen = strlen(suffix);
	const char *letters = "";
	char norm[48];
	char *p;

	/* The letters in the suffix serve as m->flags when they already are
	 * in normal form; otherwise a normalized copy follows the suffix. */
	if (strncmp(suffix, ":2,", 3) == 0)
		letters = suffix + 3;
	maildir_flags_normalize(letters, norm);
	p = xmalloc(baselen + 1 + slen + 1 +
		    (strcmp(norm, letters) != 0 ? strlen(norm) + 1 : 0));
	memcpy(p, base, baselen);
	p[baselen] = '\0';
	memcpy(p + baselen + 1, suffix, slen + 1);
	if (strcmp(norm, letters) == 0) {
		m->flags = p + baselen + 1 + (letters == suffix + 3 ? 3 : slen);
	} else {
		strcpy(p + baselen + 1 + slen + 1, norm);
		m->flags = p + baselen + 1 + slen + 1;
	}
	free(m->base);
	m->base = p;
}

bool
maildir_base_size(const char *base, size_t len, uint64_t *size)
{
	const char *p = base;
	const char *end = base + len;

	while (p + 3 <= end) {
		const char *s = memmem(p, (size_t)(end - p), ",S=", 3);
		uint64_t v = 0;
		const char *d;

		if (s == NULL)
			return false;
		d = s + 3;
		if (d < end && *d >= '0' && *d <= '9') {
			while (d < end && *d >= '0' && *d <= '9') {
				if (v > (UINT64_MAX - 9) / 10)
					return false;
				v = v * 10 + (uint64_t)(*d - '0');
				d++;
			}
			if (d == end || *d == ',') {
				*size = v;
				return true;
			}
		}
		p = s + 3;
	}
	return false;
}

bool
maildir_name_usable(const char *name)
{
	if (name[0] == '.' || name[0] == '\0' || name[0] == ':')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char u = (unsigned char)*p;

		if (u <= ' ' || u == 0x7f)
			return false;
	}
	return true;
}

static const char *
host_for_base(void)
{
	static char host[256];
	char raw[200];
	size_t n = 0;

	if (host[0] != '\0')
		return host;
	if (gethostname(raw, sizeof(raw)) < 0)
		snprintf(raw, sizeof(raw), "localhost");
	raw[sizeof(raw) - 1] = '\0';
	for (const char *p = raw; *p != '\0' && n + 5 < sizeof(host); p++) {
		if (*p == '/') {
			memcpy(host + n, "\\057", 4);
			n += 4;
		} else if (*p == ':') {
			memcpy(host + n, "\\072", 4);
			n += 4;
		} else if ((unsigned char)*p > ' ' && *p != ',') {
			host[n++] = *p;
		}
	}
	if (n == 0)
		n = (size_t)snprintf(host, sizeof(host), "localhost");
	host[n] = '\0';
	return host;
}

void
maildir_new_base(char *buf, size_t buflen, uint64_t size)
{
	static unsigned counter;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(buf, buflen, "%lld.M%06ldP%ldQ%u.%s,S=%llu",
		 (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
		 ++counter, host_for_base(), (unsigned long long)size);
}

bool
maildir_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

bool
maildir_folder_name_valid(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	const char *dot;

	if (len == 0) {
		maildir_set_err(err, errlen, "empty folder name");
		return false;
	}
	if (len > FOLDER_NAME_MAX) {
		maildir_set_err(err, errlen,
				"folder name longer than %d bytes",
				FOLDER_NAME_MAX);
		return false;
	}
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char u = (unsigned char)*p;

		if (u < 0x20 || u >= 0x7f) {
			maildir_set_err(err, errlen,
					"folder name holds a control or 8-bit "
					"byte; send it in modified UTF-7");
			return false;
		}
		if (u == '/' || u == '*' || u == '%') {
			maildir_set_err(err, errlen,
					"folder name must not contain '%c' "
					"(the hierarchy separator is '.')",
					u);
			return false;
		}
	}
	if (name[0] == '.' || name[len - 1] == '.' ||
	    strstr(name, "..") != NULL) {
		maildir_set_err(err, errlen,
				"folder name has an empty part between '.' "
				"separators");
		return false;
	}
	dot = strchr(name, '.');
	if ((dot ? (size_t)(dot - name) : len) == 5 &&
	    strncasecmp(name, "INBOX", 5) == 0) {
		maildir_set_err(err, errlen,
				"INBOX cannot have child folders");
		return false;
	}
	if (!mutf7_valid(name, len)) {
		maildir_set_err(err, errlen,
				"folder name is not valid modified UTF-7");
		return false;
	}
	return true;
}

char *
maildir_folder_dir(const char *root, const char *name)
{
	if (maildir_is_inbox(name))
		return xstrdup(root);
	if (!maildir_folder_name_valid(name, NULL, 0))
		return NULL;
	return xasprintf("%s/.%s", root, name);
}

/* Creates the directories and files of maildir_create() locally. */
static int
create_local(const char *dir, bool is_folder, char *err, size_t errlen)
{
	static const char *const subdirs[] = {"cur", "new", "tmp"};
	char path[4096];
	size_t i;

	if (mkdir_p(dir, 0700) < 0) {
		maildir_set_err(err, errlen, "mkdir(%s) failed: %s", dir,
				strerror(errno));
		return -1;
	}
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			maildir_set_err(err, errlen, "mkdir(%s) failed: %s",
					path, strerror(errno));
			return -1;
		}
	}
	if (is_folder) {
		int fd;

		snprintf(path, sizeof(path), "%s/maildirfolder", dir);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			maildir_set_err(err, errlen, "open(%s) failed: %s",
					path, strerror(errno));
			return -1;
		}
		close(fd);
	}
	if (fsync_dir(dir) < 0 || fsync_parent(dir) < 0) {
		maildir_set_err(err, errlen, "fsync(%s) failed: %s", dir,
				strerror(errno));
		return -1;
	}
	return 0;
}

int
maildir_create(const char *dir, bool is_folder, char *err, size_t errlen)
{
	static const char *const subdirs[] = {"cur", "new", "tmp", NULL};
	struct repl_batch *b = NULL;
	char path[4096];
	const char *rel;
	int ret;

	/* Replicated first; tmp/ stays local (repl_write_rel() skips it). */
	repl_write_add_mkdirs(&b, dir, subdirs, 0700);
	snprintf(path, sizeof(path), "%s/maildirfolder", dir);
	rel = repl_write_rel(path);
	if (is_folder && rel != NULL && access(path, F_OK) < 0)
		repl_add_data(repl_write_batch(&b), rel, "", 0, 0600);
	if (repl_write_commit(b, err, errlen) < 0)
		return -1;
	ret = create_local(dir, is_folder, err, errlen);
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	return ret;
}
