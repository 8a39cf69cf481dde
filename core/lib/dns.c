/*
 * dns - asynchronous DNS lookups with c-ares on a libev loop
 *
 * The contract is in dns.h. c-ares names the sockets it wants watched
 * through ARES_OPT_SOCK_STATE_CB, and each gets an ev_io. One ev_timer
 * follows ares_timeout(), so c-ares' retries and timeouts run without
 * polling.
 *
 * Choices:
 * - Each query waits 2 s for an answer and is tried twice per server.
 *   c-ares doubles the wait for the second round, so a lookup against a
 *   resolver that never answers ends with DNS_TEMPFAIL after about 6 s.
 * - The search list of resolv.conf is not used: MX targets and next hops
 *   are absolute names, and a search domain appended to a name that does
 *   not exist could route mail to an unrelated host.
 * - A domain's MX records are tried lowest preference first, with equal
 *   preferences shuffled (RFC 5321 section 5.1). At most
 *   DNS_MX_HOSTS_MAX distinct hosts are kept; a null MX record mixed with
 *   others is skipped.
 * - A host's addresses come from ares_getaddrinfo() (AF_UNSPEC), which
 *   also reads /etc/hosts when nsswitch.conf lists "files", and are in
 *   its RFC 6724 order. Addresses in 0.0.0.0/8 and the IPv6 unspecified
 *   address are dropped, and such an address literal gets
 *   DNS_NO_ADDRESS: no remote host has them, and a connect() to 0.0.0.0
 *   reaches this host, so an MX record pointing there would make the
 *   mail loop back to a local listener.
 * - Results reach the caller from a zero-delay ev_timer, even when
 *   c-ares answers inside the call (an /etc/hosts entry) or no query is
 *   needed (an address literal).
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>

#include "dns.h"
#include "xalloc.h"

/* c-ares options: per-try timeout and tries per server. */
#define DNS_TIMEOUT_MS 2000
#define DNS_TRIES 2
/*
 * MX hosts kept per domain, lowest preferences first. Each costs an
 * address lookup, and a domain that publishes more is either broken or
 * hostile.
 */
#define DNS_MX_HOSTS_MAX 10

struct dns_sock {
	ev_io io;
	struct dns_resolver *r;
	struct dns_sock *next;
};

struct dns_resolver {
	struct ev_loop *loop;
	ares_channel channel;
	ev_timer timer;
	struct dns_sock *socks;
	struct dns_query *queries;
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;
	dns_cb *cb;
	void *arg;
	char *name;
	struct dns_result *res;
	unsigned pending; /* c-ares requests whose callback has not run */
	bool mx;	  /* dns_lookup_mx(), not dns_lookup_host() */
	bool cancelled;
	ev_timer deliver;
};

/* The argument of one address lookup. */
struct host_request {
	struct dns_query *q;
	size_t index;
};

static unsigned library_users;

const char *
dns_status_name(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_NOT_FOUND:
		return "not found";
	case DNS_NO_ADDRESS:
		return "no address";
	case DNS_NULL_MX:
		return "null MX";
	case DNS_TEMPFAIL:
		return "temporary failure";
	}
	return "unknown";
}

void
dns_result_free(struct dns_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->nhosts; i++) {
		free(res->hosts[i].name);
		free(res->hosts[i].addrs);
	}
	free(res->hosts);
	free(res);
}

static void
update_timer(struct dns_resolver *r)
{
	struct timeval tv, *next;

	ev_timer_stop(r->loop, &r->timer);
	next = ares_timeout(r->channel, NULL, &tv);
	if (next == NULL)
		return;
	ev_timer_set(&r->timer, (double)next->tv_sec + next->tv_usec / 1e6,
		     0.);
	ev_timer_start(r->loop, &r->timer);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_sock *ds = w->data;
	struct dns_resolver *r = ds->r;
	int fd = w->fd;

	/* ds may be freed inside, when c-ares closes the socket. */
	ares_process_fd(r->channel,
			(revents & EV_READ) ? fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	update_timer(r);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns_resolver *r = w->data;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	update_timer(r);
}

static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_sock **link = &r->socks, *ds;
	int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	while (*link != NULL && (*link)->io.fd != fd)
		link = &(*link)->next;
	ds = *link;
	if (events == 0) {
		if (ds != NULL) {
			ev_io_stop(r->loop, &ds->io);
			*link = ds->next;
			free(ds);
		}
		return;
	}
	if (ds == NULL) {
		ds = xcalloc(1, sizeof(*ds));
		ds->r = r;
		ev_io_init(&ds->io, io_cb, fd, events);
		ds->io.data = ds;
		ds->next = r->socks;
		r->socks = ds;
	} else {
		ev_io_stop(r->loop, &ds->io);
		ev_io_set(&ds->io, fd, events);
	}
	ev_io_start(r->loop, &ds->io);
}

struct dns_resolver *
dns_resolver_new(struct ev_loop *loop, const char *servers, char *err,
		 size_t errlen)
{
	struct dns_resolver *r;
	struct ares_options opts;
	int mask, status;

	if (servers != NULL && servers[0] == '\0') {
		snprintf(err, errlen, "empty DNS server list");
		return NULL;
	}
	if (library_users == 0) {
		status = ares_library_init(ARES_LIB_INIT_ALL);
		if (status != ARES_SUCCESS) {
			snprintf(err, errlen, "c-ares initialisation failed: %s",
				 ares_strerror(status));
			return NULL;
		}
	}
	library_users++;
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	ev_init(&r->timer, timer_cb);
	r->timer.data = r;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = r;
	opts.timeout = DNS_TIMEOUT_MS;
	opts.tries = DNS_TRIES;
	opts.domains = NULL;
	opts.ndomains = 0;
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	       ARES_OPT_DOMAINS;
	status = ares_init_options(&r->channel, &opts, mask);
	if (status != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares initialisation failed: %s",
			 ares_strerror(status));
		free(r);
		if (--library_users == 0)
			ares_library_cleanup();
		return NULL;
	}
	if (servers != NULL) {
		status = ares_set_servers_ports_csv(r->channel, servers);
		if (status != ARES_SUCCESS) {
			snprintf(err, errlen, "invalid DNS server list '%s': %s",
				 servers, ares_strerror(status));
			dns_resolver_free(r);
			return NULL;
		}
	}
	return r;
}

static void
query_unlink(struct dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void
query_free(struct dns_query *q)
{
	ev_timer_stop(q->r->loop, &q->deliver);
	query_unlink(q);
	dns_result_free(q->res);
	free(q->name);
	free(q);
}

/* Frees a cancelled query once c-ares has called back for all of it. */
static bool
query_release(struct dns_query *q)
{
	if (!q->cancelled)
		return false;
	if (q->pending == 0)
		query_free(q);
	return true;
}

void
dns_resolver_free(struct dns_resolver *r)
{
	struct dns_query *q, *next;

	if (r == NULL)
		return;
	for (q = r->queries; q != NULL; q = next) {
		next = q->next;
		q->cancelled = true;
		if (q->pending == 0)
			query_free(q);
	}
	/* Runs every pending c-ares callback with ARES_EDESTRUCTION; the
	 * cancelled queries free themselves there. */
	ares_destroy(r->channel);
	while (r->queries != NULL)
		query_free(r->queries);
	while (r->socks != NULL) {
		struct dns_sock *ds = r->socks;

		ev_io_stop(r->loop, &ds->io);
		r->socks = ds->next;
		free(ds);
	}
	ev_timer_stop(r->loop, &r->timer);
	free(r);
	if (--library_users == 0)
		ares_library_cleanup();
}

static void
deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns_query *q = w->data;
	struct dns_result *res = q->res;
	dns_cb *cb = q->cb;
	void *arg = q->arg;

	/* The callback may free the resolver: let go of q first. */
	q->res = NULL;
	query_free(q);
	cb(arg, res);
}

static void
query_finish(struct dns_query *q, enum dns_status status, const char *fmt,
	     ...) __attribute__((format(printf, 3, 4)));

/* Sets the result and schedules the callback on the loop. */
static void
query_finish(struct dns_query *q, enum dns_status status, const char *fmt,
	     ...)
{
	va_list ap;

	q->res->status = status;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(q->res->error, sizeof(q->res->error), fmt, ap);
		va_end(ap);
	}
	ev_timer_set(&q->deliver, 0., 0.);
	ev_timer_start(q->r->loop, &q->deliver);
}

static struct dns_query *
query_new(struct dns_resolver *r, const char *name, dns_cb *cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->name = xstrdup(name);
	q->res = xcalloc(1, sizeof(*q->res));
	ev_init(&q->deliver, deliver_cb);
	q->deliver.data = q;
	q->next = r->queries;
	if (r->queries != NULL)
		r->queries->prev = q;
	r->queries = q;
	return q;
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	q->cancelled = true;
	query_release(q);
}

static struct dns_host *
add_host(struct dns_result *res, const char *name, unsigned preference)
{
	struct dns_host *h;

	res->hosts = xrealloc(res->hosts,
			      (res->nhosts + 1) * sizeof(*res->hosts));
	h = &res->hosts[res->nhosts++];
	memset(h, 0, sizeof(*h));
	h->name = xstrdup(name);
	h->preference = preference;
	h->status = DNS_TEMPFAIL;
	return h;
}

/*
 * Parses an address literal: "192.0.2.1", "2001:db8::1", optionally in
 * brackets, the IPv6 form optionally with the "IPv6:" tag of RFC 5321.
 * Returns 1 for an address, 0 for a name, -1 for a bracketed text that
 * is no address.
 */
static int
parse_literal(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char text[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(s);
	bool bracketed = len >= 2 && s[0] == '[' && s[len - 1] == ']';
	const char *p = s;

	if (bracketed) {
		p++;
		len -= 2;
	}
	if (len >= sizeof(text))
		return bracketed ? -1 : 0;
	memcpy(text, p, len);
	text[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (strncasecmp(text, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, text + 5, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		return 1;
	}
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 1;
	}
	return bracketed ? -1 : 0;
}

/* True for 0.0.0.0/8, ::, and ::ffff:0.0.0.0/104: never a remote host. */
static bool
unspecified_address(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_UNSPECIFIED(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 0;
	}
	return false;
}

/* Completes the lookup of an address literal without a query. */
static bool
answer_literal(struct dns_query *q, const char *name)
{
	struct sockaddr_storage ss;
	struct dns_host *h;
	int kind = parse_literal(name, &ss);

	if (kind == 0)
		return false;
	if (kind < 0) {
		query_finish(q, DNS_NOT_FOUND, "invalid address literal %s",
			     name);
		return true;
	}
	if (unspecified_address((const struct sockaddr *)&ss)) {
		query_finish(q, DNS_NO_ADDRESS,
			     "address literal %s is no remote host's address",
			     name);
		return true;
	}
	h = add_host(q->res, name, 0);
	h->addrs = xmalloc(sizeof(*h->addrs));
	h->addrs[0] = ss;
	h->naddrs = 1;
	h->status = DNS_OK;
	q->res->implicit_mx = q->mx;
	query_finish(q, DNS_OK, NULL);
	return true;
}

/* Sets the overall result once every address lookup has ended. */
static void
finish_addresses(struct dns_query *q)
{
	struct dns_result *res = q->res;
	const struct dns_host *temp = NULL, *perm = NULL;

	for (size_t i = 0; i < res->nhosts; i++) {
		const struct dns_host *h = &res->hosts[i];

		if (h->naddrs > 0) {
			query_finish(q, DNS_OK, NULL);
			return;
		}
		if (h->status == DNS_TEMPFAIL && temp == NULL)
			temp = h;
		else if (perm == NULL)
			perm = h;
	}
	if (perm == NULL && temp == NULL) {
		query_finish(q, DNS_NO_ADDRESS, "no host to look up for %s",
			     q->name);
	} else if (temp != NULL) {
		query_finish(q, DNS_TEMPFAIL,
			     "address lookup for %s failed temporarily",
			     temp->name);
	} else if (res->implicit_mx && perm->status == DNS_NOT_FOUND) {
		query_finish(q, DNS_NOT_FOUND, "domain %s not found", q->name);
	} else if (res->implicit_mx) {
		query_finish(q, DNS_NO_ADDRESS,
			     "%s has no MX, A or AAAA records", q->name);
	} else if (q->mx) {
		query_finish(q, DNS_NO_ADDRESS,
			     "no MX host of %s has an address", q->name);
	} else if (perm->status == DNS_NOT_FOUND) {
		query_finish(q, DNS_NOT_FOUND, "host %s not found", q->name);
	} else {
		query_finish(q, DNS_NO_ADDRESS,
			     "host %s has no A or AAAA records", q->name);
	}
}

static void
addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct host_request *hr = arg;
	struct dns_query *q = hr->q;
	struct dns_host *h;
	size_t index = hr->index;

	free(hr);
	q->pending--;
	if (query_release(q)) {
		if (ai != NULL)
			ares_freeaddrinfo(ai);
		return;
	}
	h = &q->res->hosts[index];
	switch (status) {
	case ARES_SUCCESS:
		for (struct ares_addrinfo_node *n = ai->nodes; n != NULL;
		     n = n->ai_next) {
			struct sockaddr_storage *ss;

			if ((n->ai_family != AF_INET &&
			     n->ai_family != AF_INET6) ||
			    n->ai_addrlen > sizeof(*ss) ||
			    unspecified_address(n->ai_addr))
				continue;
			h->addrs = xrealloc(h->addrs,
					    (h->naddrs + 1) * sizeof(*h->addrs));
			ss = &h->addrs[h->naddrs++];
			memset(ss, 0, sizeof(*ss));
			memcpy(ss, n->ai_addr, n->ai_addrlen);
			if (n->ai_family == AF_INET)
				((struct sockaddr_in *)ss)->sin_port = 0;
			else
				((struct sockaddr_in6 *)ss)->sin6_port = 0;
		}
		h->status = h->naddrs > 0 ? DNS_OK : DNS_NO_ADDRESS;
		break;
	case ARES_ENOTFOUND:
		h->status = DNS_NOT_FOUND;
		break;
	case ARES_ENODATA:
		/*
		 * NOTE: c-ares 1.18 reports the status of whichever of the A
		 * and AAAA queries ended last, so "no data" may hide a
		 * timeout of the other one. A lookup that saw timeouts is
		 * therefore retried later rather than bounced.
		 */
		h->status = timeouts > 0 ? DNS_TEMPFAIL : DNS_NO_ADDRESS;
		break;
	default:
		h->status = DNS_TEMPFAIL;
		break;
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (q->pending == 0)
		finish_addresses(q);
}

/* Starts the address lookup of every host in q's result. */
static void
lookup_addresses(struct dns_query *q)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* c-ares may call back inside ares_getaddrinfo(): hold q open
	 * until every lookup has started. */
	q->pending++;
	for (size_t i = 0; i < q->res->nhosts; i++) {
		struct host_request *hr = xmalloc(sizeof(*hr));

		hr->q = q;
		hr->index = i;
		q->pending++;
		ares_getaddrinfo(q->r->channel, q->res->hosts[i].name, NULL,
				 &hints, addr_cb, hr);
	}
	q->pending--;
	if (query_release(q))
		return;
	if (q->pending == 0)
		finish_addresses(q);
}

struct mx_entry {
	const char *host;
	unsigned preference;
	uint32_t tiebreak;
};

static int
mx_compare(const void *a, const void *b)
{
	const struct mx_entry *x = a, *y = b;

	if (x->preference != y->preference)
		return x->preference < y->preference ? -1 : 1;
	if (x->tiebreak != y->tiebreak)
		return x->tiebreak < y->tiebreak ? -1 : 1;
	return 0;
}

static bool
is_root(const char *host)
{
	return host[0] == '\0' || strcmp(host, ".") == 0;
}

/* Fills q's hosts from an MX response; false when it has no MX. */
static bool
take_mx_records(struct dns_query *q, struct ares_mx_reply *mx)
{
	struct mx_entry *v;
	size_t n = 0, count = 0;

	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next)
		count++;
	if (count == 0)
		return false;
	if (count == 1 && is_root(mx->host)) {
		query_finish(q, DNS_NULL_MX,
			     "%s accepts no mail (null MX record)", q->name);
		return true;
	}
	v = xcalloc(count, sizeof(*v));
	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next) {
		if (is_root(m->host))
			continue;
		v[n].host = m->host;
		v[n].preference = m->priority;
		v[n].tiebreak = arc4random();
		n++;
	}
	if (n == 0) {
		free(v);
		query_finish(q, DNS_NULL_MX,
			     "%s accepts no mail (null MX records)", q->name);
		return true;
	}
	qsort(v, n, sizeof(*v), mx_compare);
	for (size_t i = 0; i < n && q->res->nhosts < DNS_MX_HOSTS_MAX; i++) {
		bool seen = false;

		for (size_t j = 0; j < q->res->nhosts && !seen; j++)
			seen = strcasecmp(q->res->hosts[j].name, v[i].host) ==
			       0;
		if (!seen)
			add_host(q->res, v[i].host, v[i].preference);
	}
	free(v);
	lookup_addresses(q);
	return true;
}

static void
implicit_mx(struct dns_query *q)
{
	q->res->implicit_mx = true;
	add_host(q->res, q->name, 0);
	lookup_addresses(q);
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct ares_mx_reply *mx = NULL;

	q->pending--;
	if (query_release(q))
		return;
	switch (status) {
	case ARES_SUCCESS:
		status = ares_parse_mx_reply(abuf, alen, &mx);
		if (status == ARES_ENODATA) {
			/* Only other records, such as a CNAME chain that ends
			 * without MX. */
			implicit_mx(q);
		} else if (status != ARES_SUCCESS) {
			query_finish(q, DNS_TEMPFAIL,
				     "MX lookup for %s: bad answer: %s",
				     q->name, ares_strerror(status));
		} else if (!take_mx_records(q, mx)) {
			implicit_mx(q);
		}
		ares_free_data(mx);
		break;
	case ARES_ENODATA:
		implicit_mx(q);
		break;
	case ARES_ENOTFOUND:
		query_finish(q, DNS_NOT_FOUND, "domain %s not found", q->name);
		break;
	case ARES_EBADNAME:
		query_finish(q, DNS_NOT_FOUND, "invalid domain name %s",
			     q->name);
		break;
	default:
		query_finish(q, DNS_TEMPFAIL, "MX lookup for %s failed: %s",
			     q->name, ares_strerror(status));
		break;
	}
}

struct dns_query *
dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_cb *cb,
	      void *arg)
{
	struct dns_query *q = query_new(r, domain, cb, arg);

	q->mx = true;
	if (answer_literal(q, domain))
		return q;
	q->pending++;
	ares_query(r->channel, domain, ns_c_in, ns_t_mx, mx_cb, q);
	update_timer(r);
	return q;
}

struct dns_query *
dns_lookup_host(struct dns_resolver *r, const char *host, dns_cb *cb,
		void *arg)
{
	struct dns_query *q = query_new(r, host, cb, arg);

	if (answer_literal(q, host))
		return q;
	add_host(q->res, host, 0);
	lookup_addresses(q);
	update_timer(r);
	return q;
}
