/*
 * ctl_directory - the domain, account and alias commands of hapostctl
 *
 * Each command checks its argument count first (a usage error, exit 2),
 * then loads the configuration, switches to the daemon's user when run as
 * root (see ctl_become_user), opens the file backend under data_dir and
 * runs one directory function. List commands print one entry per line;
 * edits print nothing on success.
 *
 * Passwords come from standard input: one line, the trailing newline (and
 * a CR before it) removed. account add and passwd take --legacy-auth after
 * the address to store the CRAM-MD5 secret of the password as well. From
 * a terminal the command prompts on stderr with echo off. The password is
 * never printed and is wiped from memory after use.
 *
 * With pop3_apop = yes, --legacy-auth also stores the APOP secret, sealed
 * with the site key in site_key_file. The key is loaded, or created with
 * mode 0600, before the command switches to the daemon's user, so it can
 * stay readable by root alone.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "ctl.h"
#include "directory.h"
#include "sasl/site_key.h"
#include "xalloc.h"

/* The site key for "--legacy-auth" with pop3_apop = yes, else NULL. */
static struct site_key *legacy_site_key;

struct dir_command {
	const char *family;
	const char *verb;
	const char *args; /* for the usage error */
	int min_args;
	int max_args;
	int (*run)(struct directory *d, const char *what, char **args,
		   int nargs);
};

/* Reads one line from stdin into *out (malloc'd); returns 0 or -1. */
static int
read_password(const char *what, const char *address, char **out)
{
	struct termios saved, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	char shown[300];

	*out = NULL;
	if (tty) {
		fprintf(stderr, "Password for %s: ",
			ctl_printable(shown, sizeof(shown), address));
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	len = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (len < 0)
		len = 0;
	if (line != NULL && memchr(line, '\0', (size_t)len) != NULL) {
		explicit_bzero(line, cap);
		free(line);
		ctl_fail(what, "NUL byte in the password");
		return -1;
	}
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0) {
		free(line);
		ctl_fail(what, "empty password; write the password as one "
			       "line on standard input");
		return -1;
	}
	*out = line;
	return 0;
}

static void
free_password(char *password)
{
	if (password == NULL)
		return;
	explicit_bzero(password, strlen(password));
	free(password);
}

static int
print_list(const char *what, int ret, struct directory *d, char **list,
	   size_t n)
{
	if (ret < 0)
		return ctl_fail(what, "%s", directory_last_error(d));
	for (size_t i = 0; i < n; i++)
		printf("%s\n", list[i]);
	directory_free_list(list, n);
	return CTL_OK;
}

static int
edit_result(const char *what, int ret, const char *err)
{
	return ret < 0 ? ctl_fail(what, "%s", err) : CTL_OK;
}

static int
run_domain_add(struct directory *d, const char *what, char **args, int nargs)
{
	char err[512];

	return edit_result(
	    what, directory_domain_add(d, args[0], err, sizeof(err)), err);
}

static int
run_domain_del(struct directory *d, const char *what, char **args, int nargs)
{
	char err[512];

	return edit_result(
	    what, directory_domain_del(d, args[0], err, sizeof(err)), err);
}

static int
run_domain_list(struct directory *d, const char *what, char **args, int nargs)
{
	char **list;
	size_t n;
	int ret = directory_domain_list(d, &list, &n);

	return print_list(what, ret, d, list, n);
}

/* Returns 1 for a trailing --legacy-auth, 0 for none, -1 otherwise. */
static int
legacy_auth_flag(char **args, int nargs)
{
	if (nargs < 2)
		return 0;
	return strcmp(args[1], "--legacy-auth") == 0 ? 1 : -1;
}

/* Runs add or passwd, then stores the CRAM-MD5 secret when asked to. */
static int
set_password(struct directory *d, const char *what, char **args, int nargs,
	     int (*edit)(struct directory *, const char *, const char *,
			 char *, size_t))
{
	int legacy = legacy_auth_flag(args, nargs);
	char err[512], shown[300];
	char *password;
	int ret;

	if (legacy < 0)
		return ctl_usage_error(
		    "unknown option %s; expected --legacy-auth",
		    ctl_printable(shown, sizeof(shown), args[1]));
	if (read_password(what, args[0], &password) < 0)
		return CTL_FAILED;
	ret = edit(d, args[0], password, err, sizeof(err));
	if (ret == 0 && legacy)
		ret = directory_account_legacy_auth(d, args[0], password,
						    legacy_site_key, err,
						    sizeof(err));
	free_password(password);
	return edit_result(what, ret, err);
}

static int
run_account_add(struct directory *d, const char *what, char **args, int nargs)
{
	return set_password(d, what, args, nargs, directory_account_add);
}

static int
run_account_passwd(struct directory *d, const char *what, char **args,
		   int nargs)
{
	return set_password(d, what, args, nargs, directory_account_passwd);
}

/* Returns the aliases naming address, from "account show", or NULL. */
static char *
aliases_naming(struct directory *d, const char *address)
{
	static const char key[] = "\naliases: ";
	struct buf show = BUF_INIT;
	const char *start, *end;
	char *names = NULL;
	char err[512];

	if (directory_account_show(d, address, &show, err, sizeof(err)) == 0) {
		start = strstr(buf_cstr(&show), key);
		if (start != NULL) {
			start += strlen(key);
			end = strchr(start, '\n');
			names = xstrndup(start, end ? (size_t)(end - start)
						    : strlen(start));
		}
	}
	buf_free(&show);
	return names;
}

static int
run_account_del(struct directory *d, const char *what, char **args, int nargs)
{
	struct account acct;
	char err[512];
	bool found = directory_get_account(d, args[0], &acct) == DIR_OK;
	char *aliases = found ? aliases_naming(d, args[0]) : NULL;

	if (directory_account_del(d, args[0], err, sizeof(err)) < 0) {
		account_free(&acct);
		free(aliases);
		return ctl_fail(what, "%s", err);
	}
	if (found)
		fprintf(stderr, "hapostctl: %s: the mail stays in %s\n", what,
			acct.maildir);
	if (aliases != NULL)
		fprintf(stderr,
			"hapostctl: %s: the address is still a target of %s; "
			"remove it with hapostctl alias del ALIAS %s\n",
			what, aliases, acct.address);
	account_free(&acct);
	free(aliases);
	return CTL_OK;
}

static int
run_account_list(struct directory *d, const char *what, char **args, int nargs)
{
	char **list;
	size_t n;
	int ret = directory_account_list(d, nargs ? args[0] : NULL, &list, &n);

	return print_list(what, ret, d, list, n);
}

static int
run_account_show(struct directory *d, const char *what, char **args, int nargs)
{
	struct buf out = BUF_INIT;
	char err[512];

	if (directory_account_show(d, args[0], &out, err, sizeof(err)) < 0) {
		buf_free(&out);
		return ctl_fail(what, "%s", err);
	}
	fputs(buf_cstr(&out), stdout);
	buf_free(&out);
	return CTL_OK;
}

static int
run_account_set(struct directory *d, const char *what, char **args, int nargs)
{
	char err[512], shown[64];
	bool on;

	if (strcmp(args[2], "on") == 0 || strcmp(args[2], "yes") == 0)
		on = true;
	else if (strcmp(args[2], "off") == 0 || strcmp(args[2], "no") == 0)
		on = false;
	else
		return ctl_usage_error(
		    "%s: expected on or off, not '%s'", what,
		    ctl_printable(shown, sizeof(shown), args[2]));
	return edit_result(what,
			   directory_account_set(d, args[0], args[1], on, err,
						 sizeof(err)),
			   err);
}

static int
run_alias_add(struct directory *d, const char *what, char **args, int nargs)
{
	char err[512];

	return edit_result(
	    what, directory_alias_add(d, args[0], args[1], err, sizeof(err)),
	    err);
}

static int
run_alias_del(struct directory *d, const char *what, char **args, int nargs)
{
	char err[512];

	return edit_result(what,
			   directory_alias_del(d, args[0],
					       nargs > 1 ? args[1] : NULL, err,
					       sizeof(err)),
			   err);
}

static int
run_alias_list(struct directory *d, const char *what, char **args, int nargs)
{
	char **list;
	size_t n;
	int ret = directory_alias_list(d, &list, &n);

	return print_list(what, ret, d, list, n);
}

static const struct dir_command commands[] = {
    {"domain", "add", "DOMAIN", 1, 1, run_domain_add},
    {"domain", "del", "DOMAIN", 1, 1, run_domain_del},
    {"domain", "list", "", 0, 0, run_domain_list},
    {"account", "add", "ADDRESS [--legacy-auth]", 1, 2, run_account_add},
    {"account", "del", "ADDRESS", 1, 1, run_account_del},
    {"account", "passwd", "ADDRESS [--legacy-auth]", 1, 2,
     run_account_passwd},
    {"account", "list", "[DOMAIN]", 0, 1, run_account_list},
    {"account", "show", "ADDRESS", 1, 1, run_account_show},
    {"account", "set", "ADDRESS imap|pop3|smtp_auth on|off", 3, 3,
     run_account_set},
    {"alias", "add", "ALIAS TARGET", 2, 2, run_alias_add},
    {"alias", "del", "ALIAS [TARGET]", 1, 2, run_alias_del},
    {"alias", "list", "", 0, 0, run_alias_list},
};

static const struct dir_command *
find_command(const char *family, const char *verb)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
		if (strcmp(commands[i].family, family) == 0 &&
		    strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
	}
	return NULL;
}

/* Builds "FAMILY VERB ARG..." with control bytes replaced, for messages. */
static char *
describe(int argc, char **argv)
{
	struct buf b = BUF_INIT;
	char shown[300];
	char *s;

	for (int i = 0; i < argc; i++)
		buf_printf(&b, "%s%s", i ? " " : "",
			   ctl_printable(shown, sizeof(shown), argv[i]));
	s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

int
ctl_directory_main(const char *config_path, int argc, char **argv)
{
	static const char *const subdirs[] = {"directory", "mail", NULL};
	const struct dir_command *cmd;
	struct directory *d;
	struct cfg cfg;
	char err[512];
	char *what;
	int nargs, status;

	if (argc < 2)
		return ctl_usage_error("missing %s command", argv[0]);
	cmd = find_command(argv[0], argv[1]);
	what = describe(argc < 2 ? argc : 2, argv);
	if (cmd == NULL) {
		status = ctl_usage_error("unknown command %s", what);
		free(what);
		return status;
	}
	nargs = argc - 2;
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		status = ctl_usage_error("expected: %s %s %s", cmd->family,
					 cmd->verb, cmd->args);
		free(what);
		return status;
	}
	free(what);
	what = describe(argc, argv);
	if (ctl_load_config(&cfg, config_path) < 0) {
		free(what);
		return CTL_FAILED;
	}
	if (cfg.pop3_apop && legacy_auth_flag(argv + 2, nargs) == 1 &&
	    (cmd->run == run_account_add || cmd->run == run_account_passwd)) {
		legacy_site_key = site_key_load_or_create(cfg.site_key_file,
							  err, sizeof(err));
		if (legacy_site_key == NULL) {
			status = ctl_fail(what, "%s; the APOP secret needs it "
						"(pop3_apop = yes)",
					  err);
			goto done;
		}
	}
	if (ctl_become_user(&cfg, subdirs, err, sizeof(err)) < 0) {
		status = ctl_fail(what, "%s", err);
	} else {
		d = directory_open_file(cfg.data_dir);
		status = cmd->run(d, what, argv + 2, nargs);
		directory_close(d);
	}
done:
	site_key_free(legacy_site_key);
	legacy_site_key = NULL;
	cfg_free(&cfg);
	free(what);
	return status;
}
