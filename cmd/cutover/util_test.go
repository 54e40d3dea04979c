package main_test

import "regexp"

func regexpMatch(expr, s string) bool { return regexp.MustCompile(expr).MatchString(s) }
