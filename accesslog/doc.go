// Package accesslog writes access-log lines to sinks without ever blocking
// the request path: each sink has a bounded buffer and a writer of its own;
// a line that does not fit is dropped and counted.
package accesslog
