// Package gatewayrouter is the traffic.Router of the embedded gateway.
package gatewayrouter
