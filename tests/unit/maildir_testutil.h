/*
 * Helpers for the maildir unit tests: a scratch Maildir root per test and
 * message files written straight into it, as another MDA would.
 */
#ifndef HAPOST_MAILDIR_TESTUTIL_H
#define HAPOST_MAILDIR_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static int
testutil_rm_entry(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void
testutil_rm_tree(const char *path)
{
	nftw(path, testutil_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates an empty Maildir root under /tmp; returns a malloc'd path. */
static inline char *
testutil_root(void)
{
	char tmpl[] = "/tmp/hapost-maildir-test.XXXXXX";
	char err[256];
	char *dir = mkdtemp(tmpl);
	char *root;

	if (dir == NULL)
		return NULL;
	root = malloc(strlen(dir) + 8);
	sprintf(root, "%s/mail", dir);
	if (maildir_create(root, false, err, sizeof(err)) < 0)
		return NULL;
	return root;
}

static inline void
testutil_root_free(char *root)
{
	char *slash = strrchr(root, '/');

	*slash = '\0';
	testutil_rm_tree(root);
	free(root);
}

/* Writes dir/sub/name with body and sets its mtime (0 = leave). */
static inline int
testutil_put(const char *dir, const char *sub, const char *name,
	     const char *body, time_t mtime)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(body, f);
	if (fclose(f) != 0)
		return -1;
	if (mtime != 0) {
		struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};

		if (utimes(path, tv) < 0)
			return -1;
	}
	return 0;
}

static inline bool
testutil_exists(const char *dir, const char *rel)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) == 0;
}

static inline void
testutil_free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

#endif
