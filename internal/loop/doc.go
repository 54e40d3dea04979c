// Package loop runs background loops: on a ticker until a context ends, each iteration guarded, so that one panic is reported and
// the loop goes on while traffic keeps flowing.
package loop
