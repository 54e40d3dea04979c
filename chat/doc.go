// Package chat takes plan commands from a chat service: Slack's slash
// command, verified by its signing secret and allowed per user or channel.
package chat
