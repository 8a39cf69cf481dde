/*
 * Unit tests for SEARCH keys: parsing into a tree (imap_search_parse)
 * and matching messages (imap_search), content keys included.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap_search.h"
#include "mime/mime.h"

static struct search_key *
parse_ok(struct imap_parser *p, const char *in)
{
	struct search_key *k = NULL;

	imap_parser_init(p, in, strlen(in));
	assert_int_equal(imap_parse_search(p, &k), 0);
	assert_non_null(k);
	return k;
}

static void
search_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"FOO",
		"ALL ",
		" ALL",
		"ALL  SEEN",
		"OR SEEN",
		"NOT",
		"(SEEN",
		"()",
		"SEEN)",
		"FROM",
		"HEADER Subject",
		"HEADER \"\" x",
		"LARGER x",
		"LARGER 4294967296",
		"SINCE 32-Jan-2020",
		"BEFORE yesterday",
		"UID",
		"UID 0",
		"1:",
		"KEYWORD",
		"KEYWORD (x)",
		"BODY {5}\r\nab",
		"TEXT \"a\0b\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_parser p;
		struct search_key *k;
		size_t len = strlen(bad[i]);

		if (strcmp(bad[i], "TEXT \"a") == 0)
			len = 10;
		imap_parser_init(&p, bad[i], len);
		assert_int_equal(imap_parse_search(&p, &k), -1);
		assert_non_null(p.error);
		imap_parser_free(&p);
	}
}

static void
search_parse_tree_shape(void **state)
{
	struct imap_parser p;
	struct search_key *k, *c;

	k = parse_ok(&p, "OR SEEN (FLAGGED NOT FROM \"a b\") 1:3,* UID 5:*");
	assert_int_equal(k->op, SEARCH_AND);
	c = k->child;
	assert_int_equal(c->op, SEARCH_OR);
	assert_int_equal(c->child->op, SEARCH_FLAG);
	assert_int_equal(c->child->flag, 'S');
	assert_int_equal(c->child->next->op, SEARCH_AND);
	assert_int_equal(c->child->next->child->op, SEARCH_FLAG);
	assert_int_equal(c->child->next->child->flag, 'F');
	assert_int_equal(c->child->next->child->next->op, SEARCH_NOT);
	assert_int_equal(c->child->next->child->next->child->op,
			 SEARCH_HEADER);
	assert_string_equal(c->child->next->child->next->child->field, "FROM");
	assert_string_equal(c->child->next->child->next->child->str, "a b");
	c = c->next;
	assert_int_equal(c->op, SEARCH_SEQSET);
	assert_int_equal(c->set.n, 2);
	c = c->next;
	assert_int_equal(c->op, SEARCH_UIDSET);
	assert_null(c->next);
	imap_parser_free(&p);
}

static void
search_parse_all_keys(void **state)
{
	static const struct {
		const char *in;
		enum search_op op;
	} cases[] = {
		{"ALL", SEARCH_ALL},
		{"answered", SEARCH_FLAG},
		{"BCC x", SEARCH_HEADER},
		{"BEFORE 1-Jan-2020", SEARCH_BEFORE},
		{"BODY x", SEARCH_BODY},
		{"CC x", SEARCH_HEADER},
		{"DELETED", SEARCH_FLAG},
		{"DRAFT", SEARCH_FLAG},
		{"FLAGGED", SEARCH_FLAG},
		{"FROM x", SEARCH_HEADER},
		{"HEADER X-Spam yes", SEARCH_HEADER},
		{"KEYWORD $Junk", SEARCH_KEYWORD},
		{"LARGER 10", SEARCH_LARGER},
		{"NEW", SEARCH_AND},
		{"NOT SEEN", SEARCH_NOT},
		{"OLD", SEARCH_RECENT},
		{"ON \"2-Mar-2021\"", SEARCH_ON},
		{"OR SEEN DRAFT", SEARCH_OR},
		{"RECENT", SEARCH_RECENT},
		{"SEEN", SEARCH_FLAG},
		{"SENTBEFORE 1-Jan-2020", SEARCH_SENTBEFORE},
		{"SENTON 1-Jan-2020", SEARCH_SENTON},
		{"SENTSINCE 1-Jan-2020", SEARCH_SENTSINCE},
		{"SINCE 1-Jan-2020", SEARCH_SINCE},
		{"SMALLER 10", SEARCH_SMALLER},
		{"SUBJECT {3}\r\nabc", SEARCH_HEADER},
		{"TEXT x", SEARCH_TEXT},
		{"TO x", SEARCH_HEADER},
		{"UID 1", SEARCH_UIDSET},
		{"UNANSWERED", SEARCH_FLAG},
		{"UNDELETED", SEARCH_FLAG},
		{"UNDRAFT", SEARCH_FLAG},
		{"UNFLAGGED", SEARCH_FLAG},
		{"UNKEYWORD x", SEARCH_KEYWORD},
		{"UNSEEN", SEARCH_FLAG},
		{"4294967295", SEARCH_SEQSET},
		{"(ALL)", SEARCH_AND},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		struct search_key *k = parse_ok(&p, cases[i].in);

		assert_int_equal(k->child->op, cases[i].op);
		imap_parser_free(&p);
	}
}

static void
search_parse_depth_limit(void **state)
{
	char deep[400] = "", shallow[400] = "";
	struct imap_parser p;
	struct search_key *k;
	int i;

	for (i = 0; i < IMAP_SEARCH_MAX_DEPTH + 5; i++)
		strcat(deep, "NOT ");
	strcat(deep, "SEEN");
	imap_parser_init(&p, deep, strlen(deep));
	assert_int_equal(imap_parse_search(&p, &k), -1);
	imap_parser_free(&p);
	for (i = 0; i < IMAP_SEARCH_MAX_DEPTH - 2; i++)
		strcat(shallow, "NOT ");
	strcat(shallow, "SEEN");
	imap_parser_init(&p, shallow, strlen(shallow));
	assert_int_equal(imap_parse_search(&p, &k), 0);
	imap_parser_free(&p);
	memset(deep, '(', 300);
	deep[300] = '\0';
	imap_parser_init(&p, deep, strlen(deep));
	assert_int_equal(imap_parse_search(&p, &k), -1);
	imap_parser_free(&p);
}

static const char message[] =
	"From: Alice <alice@example.test>\r\n"
	"To: bob@example.test\r\n"
	"Subject: Quarterly report\r\n"
	"Date: Tue, 02 Mar 2021 10:00:00 +0000\r\n"
	"X-Spam: no\r\n"
	"\r\n"
	"The numbers look fine.\r\n";

static int loads;

static int
load(struct search_msg *m)
{
	loads++;
	m->data = message;
	m->len = sizeof(message) - 1;
	m->mime = mime_parse(m->data, m->len);
	return 0;
}

static char
keyword_letter(void *ctx, const char *name)
{
	return strcmp(name, "$Junk") == 0 ? 'a' : 0;
}

static void
fill_msg(struct search_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = 3;
	m->uid = 30;
	m->max_seq = 5;
	m->max_uid = 50;
	m->size = 200;
	m->flags = "FSa";
	m->internal_date = 1614679200; /* 2-Mar-2021 10:00 UTC */
	m->recent = true;
	m->keyword_letter = keyword_letter;
	m->load = load;
}

static void
search_match_cases(void **state)
{
	static const struct {
		const char *in;
		bool match;
	} cases[] = {
		{"ALL", true},
		{"SEEN", true},
		{"UNSEEN", false},
		{"FLAGGED", true},
		{"DELETED", false},
		{"UNDELETED", true},
		{"ANSWERED", false},
		{"DRAFT", false},
		{"KEYWORD $Junk", true},
		{"UNKEYWORD $Junk", false},
		{"KEYWORD $Other", false},
		{"RECENT", true},
		{"OLD", false},
		{"NEW", false},
		{"3", true},
		{"1:2,4:*", false},
		{"*", false},
		{"5:3", true},
		{"UID 30", true},
		{"UID 31:*", false},
		{"UID 60:*", false},
		{"LARGER 199", true},
		{"LARGER 200", false},
		{"SMALLER 201", true},
		{"SMALLER 200", false},
		{"ON 2-Mar-2021", true},
		{"SINCE 2-Mar-2021", true},
		{"SINCE 3-Mar-2021", false},
		{"BEFORE 2-Mar-2021", false},
		{"BEFORE 3-Mar-2021", true},
		{"OR DELETED SEEN", true},
		{"OR DELETED DRAFT", false},
		{"NOT (SEEN FLAGGED)", false},
		{"(SEEN UNFLAGGED)", false},
		{"FROM alice", true},
		{"FROM ALICE", true},
		{"FROM carol", false},
		{"TO bob", true},
		{"CC bob", false},
		{"SUBJECT \"quarterly rep\"", true},
		{"HEADER X-Spam no", true},
		{"HEADER X-Spam yes", false},
		{"HEADER X-Missing \"\"", false},
		{"BODY numbers", true},
		{"BODY Quarterly", false},
		{"TEXT Quarterly", true},
		{"TEXT numbers", true},
		{"SENTON 2-Mar-2021", true},
		{"SENTBEFORE 2-Mar-2021", false},
		{"SENTSINCE 1-Mar-2021", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		struct search_key *k = parse_ok(&p, cases[i].in);
		struct search_msg m;
		bool r;

		fill_msg(&m);
		r = imap_search_match(k, &m);
		if (r != cases[i].match)
			fail_msg("SEARCH %s: expected %d", cases[i].in,
				 cases[i].match);
		if (m.mime != NULL)
			mime_free(m.mime);
		imap_parser_free(&p);
	}
}

static void
search_cheap_keys_first(void **state)
{
	struct imap_parser p;
	struct search_key *k = parse_ok(&p, "BODY numbers DELETED");
	struct search_msg m;

	fill_msg(&m);
	loads = 0;
	assert_false(imap_search_match(k, &m));
	/* DELETED fails first, so the message is never read. */
	assert_int_equal(loads, 0);
	assert_true(imap_search_needs_content(k));
	imap_parser_free(&p);
	k = parse_ok(&p, "OR SEEN UID 1:*");
	assert_false(imap_search_needs_content(k));
	imap_parser_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(search_parse_errors),
		cmocka_unit_test(search_parse_tree_shape),
		cmocka_unit_test(search_parse_all_keys),
		cmocka_unit_test(search_parse_depth_limit),
		cmocka_unit_test(search_match_cases),
		cmocka_unit_test(search_cheap_keys_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
