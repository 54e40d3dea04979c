// Package tlsfiles builds TLS configurations from certificate files, for
// servers that pick up renewed certificates without a restart and for
// clients that trust a private CA.
package tlsfiles
