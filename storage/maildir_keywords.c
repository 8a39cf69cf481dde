/*
 * maildir_keywords - IMAP keywords mapped to the file name letters a-z
 *
 * DIR/hapost-keywords has one "LETTER NAME" line per keyword. A folder
 * holds at most 26 keywords; past that mailbox_keyword_letter() returns
 * 0 and the caller reports that no more keywords can be added. Names are
 * matched case-insensitively and must be IMAP atoms (RFC 3501 flag-keyword)
 * of at most 100 bytes. The file is rewritten atomically under the
 * folder's uidlist lock, so two sessions never give one letter two names.
 * In replicated mode the new file is committed to the replicator before
 * the rename; a refused commit leaves the keyword unassigned.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "xalloc.h"

#define KEYWORD_MAX_LEN 100

static bool
keyword_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > KEYWORD_MAX_LEN)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char u = (unsigned char)*p;

		if (u <= ' ' || u >= 0x7f || strchr("(){%*\"\\]", u) != NULL)
			return false;
	}
	return true;
}

void
mailbox_load_keywords(struct mailbox *mb)
{
	struct buf b = BUF_INIT;
	char path[4096];
	char *line, *save = NULL;

	for (size_t i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		free(mb->keywords[i]);
		mb->keywords[i] = NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", mb->dir, KEYWORDS_FILE);
	if (read_file(path, &b, 65536) < 0) {
		if (errno != ENOENT)
			log_warning("maildir: read(%s) failed: %m", path);
		buf_free(&b);
		return;
	}
	buf_cstr(&b);
	for (line = strtok_r(b.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] < 'a' || line[0] > 'z' || line[1] != ' ' ||
		    !keyword_valid(line + 2))
			continue;
		if (mb->keywords[line[0] - 'a'] == NULL)
			mb->keywords[line[0] - 'a'] = xstrdup(line + 2);
	}
	buf_free(&b);
}

static char
keyword_find(const struct mailbox *mb, const char *name)
{
	for (size_t i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if (mb->keywords[i] != NULL &&
		    strcasecmp(mb->keywords[i], name) == 0)
			return (char)('a' + i);
	}
	return 0;
}

static int
keywords_write(const struct mailbox *mb)
{
	struct buf b = BUF_INIT;
	char path[4096], err[4400];
	int ret;

	for (size_t i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if (mb->keywords[i] != NULL)
			buf_printf(&b, "%c %s\n", (char)('a' + i),
				   mb->keywords[i]);
	}
	snprintf(path, sizeof(path), "%s/%s", mb->dir, KEYWORDS_FILE);
	ret = repl_write_file_atomic(path, b.data ? b.data : "", b.len, 0600,
				     err, sizeof(err));
	if (ret < 0)
		log_error("maildir: %s", err);
	buf_free(&b);
	return ret;
}

char
mailbox_keyword_letter(struct mailbox *mb, const char *name, bool create)
{
	char path[4096];
	char letter;
	int lock_fd;

	if (!keyword_valid(name))
		return 0;
	letter = keyword_find(mb, name);
	if (letter != 0 || !create || mb->readonly)
		return letter;

	snprintf(path, sizeof(path), "%s/%s", mb->dir, UIDLIST_LOCK_FILE);
	lock_fd = maildir_lock_file(path, true);
	if (lock_fd < 0) {
		log_error("maildir: lock(%s) failed: %m", path);
		return 0;
	}
	mailbox_load_keywords(mb);
	letter = keyword_find(mb, name);
	for (size_t i = 0; letter == 0 && i < MAILDIR_MAX_KEYWORDS; i++) {
		if (mb->keywords[i] != NULL)
			continue;
		mb->keywords[i] = xstrdup(name);
		if (keywords_write(mb) < 0) {
			free(mb->keywords[i]);
			mb->keywords[i] = NULL;
			break;
		}
		letter = (char)('a' + i);
	}
	close(lock_fd);
	return letter;
}
