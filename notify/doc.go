// Package notify is where a plan's changes are sent: webhooks in Slack's
// or a plain JSON format, each with its own bounded queue and retries, so
// that a receiver that is down never holds up the plan or the traffic.
package notify
