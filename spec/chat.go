package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Chat takes commands from a chat service.
type Chat struct {
	Slack *SlackCommands `yaml:"slack"`
}

// SlackCommands is the endpoint of a Slack slash command (`/cutover
// status|promote|abort|pause|resume|retry ROLLOUT`). Requests are
// verified with the app's signing secret; Allow says who may run what.
type SlackCommands struct {
	// Address is a listener of its own; empty, the endpoint is on the
	// admin listener at Path, without the admin token.
	Address string `yaml:"address"`
	// Path is where Slack posts the command. Default /chat/slack.
	Path              string `yaml:"path"`
	SigningSecretFile string `yaml:"signingSecretFile"`
	// Allow grants commands to Slack user IDs or channel IDs; a command
	// nobody is granted is refused.
	Allow []ChatGrant `yaml:"allow"`
}

// ChatGrant allows Commands (every command when empty) to the Users and
// to anyone in the Channels.
type ChatGrant struct {
	Commands []string `yaml:"commands"`
	Users    []string `yaml:"users"`
	Channels []string `yaml:"channels"`
}

// ChatCommands are the commands a chat user can be granted.
var ChatCommands = []string{"status", "promote", "abort", "pause", "resume", "retry"}

// DefaultSlackPath is where Slack posts commands when Path is not set.
const DefaultSlackPath = "/chat/slack"

func validateChat(p *problems, c *Chat, adminAddress string) {
	s := c.Slack
	if s == nil {
		p.add("spec.chat.slack", "required")
		return
	}
	if s.Address != "" {
		validateAddress(p, "spec.chat.slack.address", s.Address)
		if s.Address == adminAddress && !strings.HasSuffix(s.Address, ":0") {
			p.add("spec.chat.slack.address", "%q is the admin listener's; leave it empty to serve there", s.Address)
		}
	}
	if s.Path == "" {
		s.Path = DefaultSlackPath
	}
	if !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, " {}") {
		p.add("spec.chat.slack.path", "%q is not a URL path", s.Path)
	} else if s.Address == "" && (strings.HasPrefix(s.Path, "/api/") || strings.HasPrefix(s.Path, "/debug/") || strings.HasPrefix(s.Path, "/ui/") || slices.Contains([]string{"/metrics", "/healthz", "/readyz"}, s.Path)) {
		p.add("spec.chat.slack.path", "%q is an admin API path", s.Path)
	}
	validateFile(p, "spec.chat.slack.signingSecretFile", s.SigningSecretFile)
	if len(s.Allow) == 0 {
		p.add("spec.chat.slack.allow", "required: who may run which commands (nobody may, otherwise)")
	}
	for i, g := range s.Allow {
		gp := fmt.Sprintf("spec.chat.slack.allow[%d]", i)
		if len(g.Users) == 0 && len(g.Channels) == 0 {
			p.add(gp, "name users or channels")
		}
		for j, cmd := range g.Commands {
			if !slices.Contains(ChatCommands, cmd) {
				p.add(fmt.Sprintf("%s.commands[%d]", gp, j), "%q is not a command (%s)", cmd, strings.Join(ChatCommands, ", "))
			}
		}
	}
}
