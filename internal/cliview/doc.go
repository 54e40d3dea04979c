// Package cliview draws a plan for a terminal, for both command-line
// tools; the domain packages render nothing.
package cliview
