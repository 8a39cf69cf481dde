/*
 * control - the local control socket RUN_DIR/control.sock
 *
 * Protocol: a client connects to the unix stream socket and sends one
 * line, "status" or "status json" (LF or CRLF ends it; case and spaces
 * around the words do not matter). The server responds with one header
 * line, then the body, then closes the connection:
 *
 *     +OK healthy          the report follows; this node is healthy
 *     +OK unhealthy        the report follows; a check failed
 *     +OK unchecked        the report follows; no check failed, but one
 *                          has not finished yet (just after start)
 *     -ERR reason          nothing follows
 *
 * The server serves clients on the caller's libev loop without ever
 * blocking: a request longer than CONTROL_REQUEST_MAX bytes gets an
 * error, a client that takes longer than CONTROL_TIMEOUT seconds to send
 * its request or read the answer is dropped, and at most
 * CONTROL_CLIENTS_MAX clients are served at once (the next get
 * "-ERR busy"). The socket file has mode 0660 and belongs to the user
 * the process runs as.
 */
#ifndef HAPOST_CLUSTER_CONTROL_H
#define HAPOST_CLUSTER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "buf.h"
#include "heartbeat.h"

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_REQUEST_MAX 256
#define CONTROL_TIMEOUT 5.0
#define CONTROL_CLIENTS_MAX 16
#define CONTROL_HEALTHY "+OK healthy"
#define CONTROL_UNHEALTHY "+OK unhealthy"
#define CONTROL_UNCHECKED "+OK unchecked"

enum control_command {
	CONTROL_STATUS_TEXT,
	CONTROL_STATUS_JSON,
};

/*
 * Parses one request line of len bytes (the LF removed; a final CR is
 * allowed). Returns 0, or -1 with a reason fit to send back in err.
 */
int control_parse_request(const char *line, size_t len,
			  enum control_command *cmd, char *err, size_t errlen);
/*
 * Parses a response header line (no LF). Returns 0 with *health set for
 * one of the three "+OK ..." lines, or -1 with the server's reason (or
 * "invalid response") in err.
 */
int control_parse_response(const char *line, enum health_state *health,
			   char *err, size_t errlen);

/* Fills body with the report for cmd and returns this node's health. */
typedef enum health_state (*control_render_fn)(enum control_command cmd,
					       struct buf *body, void *arg);

struct control_server;

/*
 * Binds path (replacing a stale socket, never another kind of file) and
 * serves it on loop. Returns NULL with the reason in err.
 */
struct control_server *control_server_open(struct ev_loop *loop,
					   const char *path,
					   control_render_fn render, void *arg,
					   char *err, size_t errlen);
/*
 * Closes every client and the socket, removes the socket file if it is
 * still the one this server made, and sets *sp to NULL.
 */
void control_server_close(struct control_server **sp);

#endif
